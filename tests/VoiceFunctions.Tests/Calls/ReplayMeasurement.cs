using System.Diagnostics;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>
/// A measurement, not a test of the suite (skipped unless VOICEFUNCTIONS_MEASURE_REPLAY=1): a call's backlog of 1,500
/// spooled steps replayed into Azurite one step at a time (what <see cref="VoiceFunctions.Calls.SpoolReplay"/> did before
/// issue 23 item 7: <see cref="SessionStore.ApplySpooledAsync"/> per step — read the call, ask for the writer id, write)
/// and in transactions (<see cref="VoiceFunctions.Calls.SpoolReplay.RunAsync"/> now), alternately, on the same Azurite in
/// the same run. The figures in docs/benchmarks.md come from its output; both must store the same rows.
/// </summary>
public sealed class ReplayMeasurement(Azurite azurite)
{
    private const int Backlog = 1500;
    private const int Rounds = 3;

    [Fact]
    public async Task A_backlog_of_1500_steps_one_by_one_and_in_transactions()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable("VOICEFUNCTIONS_MEASURE_REPLAY") == "1", "a measurement: set VOICEFUNCTIONS_MEASURE_REPLAY=1");
        var oneByOne = new List<TimeSpan>();
        var chunked = new List<TimeSpan>();
        for (var round = 0; round < Rounds; round++)
        {
            oneByOne.Add(await ReplayAsync(chunk: false));
            chunked.Add(await ReplayAsync(chunk: true));
        }

        var before = oneByOne.Order().ElementAt(Rounds / 2);
        var after = chunked.Order().ElementAt(Rounds / 2);
        TestContext.Current.SendDiagnosticMessage(
            $"replay of {Backlog} steps, median of {Rounds}: one by one {before.TotalSeconds:F1} s ({string.Join(", ", oneByOne.Select(t => t.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))}), " +
            $"in transactions {after.TotalSeconds:F2} s ({string.Join(", ", chunked.Select(t => t.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}); ratio {before / after:F1}x");
    }

    private async Task<TimeSpan> ReplayAsync(bool chunk)
    {
        using var parts = new CallParts(azurite);
        var id = CallClient.NewSessionId();
        SessionState? state = null;
        for (var i = 0; i < Backlog; i++)
        {
            var step = parts.Spooled(state, id, $"waiting {i}", eventId: Guid.NewGuid().ToString("N"));
            parts.Spool.Append(step with { Base = state });
            state = step.Session;
        }

        var clock = Stopwatch.StartNew();
        if (chunk)
        {
            await parts.Replay!.RunAsync(TestContext.Current.CancellationToken);
        }
        else
        {
            foreach (var waiting in parts.Buffer.Waiting(id))
            {
                await parts.Store!.ApplySpooledAsync(waiting.Step, TestContext.Current.CancellationToken);
                parts.Buffer.Stored(waiting);
            }
        }

        var elapsed = clock.Elapsed;
        var trace = await parts.TraceAsync(id);
        Assert.Equal(Enumerable.Range(0, Backlog).Select(i => $"waiting {i}"), trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        Assert.Empty(parts.Buffer.Waiting(id));
        return elapsed;
    }
}
