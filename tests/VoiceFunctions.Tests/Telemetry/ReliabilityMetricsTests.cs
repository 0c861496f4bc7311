using System.Diagnostics.Metrics;
using VoiceFunctions.Calls;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// An outage is visible as metrics: steps spooled and replayed (meter <c>VoiceFunctions.Calls</c>, which the
/// telemetry registration adds to the Application Insights meter provider). Measured with a MeterListener;
/// this collection runs alone, so every measurement comes from this test.
/// </summary>
[Collection(TelemetryRunsAlone.Name)]
public sealed class ReliabilityMetricsTests
{
    [Fact]
    public async Task Spooled_and_replayed_steps_are_counted()
    {
        var counts = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == CallMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (counts)
            {
                counts[instrument.Name] = counts.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();

        var folder = Path.Combine(Path.GetTempPath(), "voicefunctions-metrics-" + Guid.NewGuid().ToString("N"));
        var storage = new Azurite { DataFolder = Path.Combine(folder, "azurite") };
        await storage.InitializeAsync();
        try
        {
            await using var app = new WebhookApp(storage);
            using var calls = app.Calls();
            var id = CallClient.NewSessionId();
            await calls.StartAsync(id);
            await storage.StopAsync();
            await calls.SayAsync(id, "said while storage was down");
            await calls.SayAsync(id, "and again");
            await storage.StartAsync();
            await calls.WaitForSessionAsync(id, s => s.GetProperty("turn_count").GetInt32() == 2, TimeSpan.FromSeconds(30));
        }
        finally
        {
            await storage.DisposeAsync();
        }

        lock (counts)
        {
            Assert.Equal(2, counts.GetValueOrDefault("voicefunctions.spool.spooled"));
            Assert.Equal(2, counts.GetValueOrDefault("voicefunctions.spool.replayed"));
            Assert.Equal(0, counts.GetValueOrDefault("voicefunctions.steps.lost"));
        }
    }
}
