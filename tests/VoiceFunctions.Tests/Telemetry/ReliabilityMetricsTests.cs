using System.Globalization;
using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// An outage is visible in Application Insights as metrics: steps spooled and replayed (meter
/// <c>VoiceFunctions.Calls</c>), exported by the worker and captured on the loopback ingestion endpoint; what is
/// still buffered when the host stops the worker is sent on the way out.
/// </summary>
[Collection(TelemetryRunsAlone.Name)]
public sealed class ReliabilityMetricsTests
{
    [Fact]
    public async Task Spooled_and_replayed_steps_are_counted()
    {
        await using var capture = new IngestionCapture();
        var folder = Path.Combine(Path.GetTempPath(), "voicefunctions-metrics-" + Guid.NewGuid().ToString("N"));
        var storage = new Azurite { DataFolder = Path.Combine(folder, "azurite") };
        await storage.InitializeAsync();
        try
        {
            var app = new WebhookApp(storage, capture.Settings);
            try
            {
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
                await app.DisposeAsync();
            }
        }
        finally
        {
            await storage.DisposeAsync();
        }

        await capture.WaitForAsync(all => Total(all, "voicefunctions.spool.replayed") >= 2, TimeSpan.FromSeconds(10));
        Assert.Equal(2, Total(capture.Envelopes, "voicefunctions.spool.spooled"));
        Assert.Equal(2, Total(capture.Envelopes, "voicefunctions.spool.replayed"));
        Assert.Equal(0, Total(capture.Envelopes, "voicefunctions.steps.lost"));

        // Issue 19, item 2: what docs/kql/alert-storage-failures.kql, failures.kql and storage-health.kql count as a
        // Table operation is the record the worker really exports for one: type "InProc | Microsoft.Tables", failed
        // while storage was down. Its HTTP tries are "Http" records and are not counted a second time.
        var dependencies = capture.OfType("RemoteDependencyData").Select(d => d["data"]!["baseData"]!).ToList();
        var tableOperations = dependencies.Where(d => (string?)d["type"] == TableOperationType).ToList();
        Assert.Contains(tableOperations, d => (bool?)d["success"] == false);
        Assert.All(tableOperations, d => Assert.StartsWith("TableClient.", (string?)d["name"], StringComparison.Ordinal));
        Assert.Contains(dependencies, d => (string?)d["type"] == "Http" && ((string?)d["target"] ?? "").EndsWith($":{storage.Port}", StringComparison.Ordinal));
        foreach (var query in new[] { "alert-storage-failures.kql", "failures.kql", "storage-health.kql" })
        {
            Assert.Contains($"type == \"{TableOperationType}\"", File.ReadAllText(Path.Combine(Repository.Root, "docs", "kql", query)), StringComparison.Ordinal);
        }
    }

    /// <summary>The Azure Monitor exporter's dependency type for an Azure SDK Table operation (an internal span with az.namespace Microsoft.Tables).</summary>
    private const string TableOperationType = "InProc | Microsoft.Tables";

    /// <summary>The counter's value as exported (delta per export: summed).</summary>
    private static double Total(IEnumerable<JsonObject> envelopes, string metric) =>
        envelopes.Where(e => (string?)e["data"]?["baseType"] == "MetricData")
            .SelectMany(e => e["data"]!["baseData"]!["metrics"]!.AsArray())
            .Where(m => (string?)m!["name"] == metric)
            .Sum(m => double.Parse(m!["value"]!.ToString(), CultureInfo.InvariantCulture));
}
