using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// A small measurement, not the benchmark (bench/ is separate): pipeline calls through the published worker with the
/// stand-in model answering in 300 ms and in 1,500 ms, 6 concurrent callers. Prints the answer times of the events
/// function (client-side, through the emulator), the share of turns that needed the filler, and asserts that every
/// turn got a spoken reply and no answer crossed the bound. The figures in docs/benchmarks.md come from its output.
/// </summary>
public sealed class PipelineChatMeasurement(PipelineChatApp app) : IClassFixture<PipelineChatApp>
{
    private const int Callers = 6;
    private const int TurnsPerCall = 8;
    private static readonly TimeSpan Bound = TimeSpan.FromMilliseconds(1200);

    [Theory]
    [InlineData(300)]
    [InlineData(1500)]
    public async Task Every_turn_is_answered_in_time_with_the_stand_in_model(int modelMs)
    {
        app.Model.Reset(r => ModelBehaviour.Reply("Reply to " + r.LastUserText + ".", modelMs));
        var turnAnswers = new ConcurrentBag<double>();
        var allAnswers = new ConcurrentBag<double>();
        var fillers = 0;
        var unanswered = 0;

        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async caller =>
        {
            using var calls = app.App.Calls();
            var id = CallClient.NewSessionId();
            await calls.StartAsync(id, to: TestPersonas.GatedNumber);
            for (var turn = 0; turn < TurnsPerCall; turn++)
            {
                var text = $"caller {caller} turn {turn}";
                var (actions, ms) = await TimedAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = text }));
                turnAnswers.Add(ms);
                allAnswers.Add(ms);
                var spoken = actions.OfType<SpeakAction>().Single().Text;
                if (spoken == PipelineChatApp.Filler)
                {
                    Interlocked.Increment(ref fillers);
                    await Task.Delay(900); // the filler being spoken
                    var (late, lateMs) = await TimedAsync(calls, CallClient.Event("assistant_speech_ended", id));
                    allAnswers.Add(lateMs);
                    spoken = late.OfType<SpeakAction>().SingleOrDefault()?.Text;
                }

                if (spoken != $"Reply to {text}.")
                {
                    Interlocked.Increment(ref unanswered);
                }

                // The reply being spoken, then the caller's next turn.
                var (_, speakMs) = await TimedAsync(calls, CallClient.Event("assistant_speak", id, fields: new JsonObject { ["text"] = spoken }));
                var (_, endedMs) = await TimedAsync(calls, CallClient.Event("assistant_speech_ended", id));
                allAnswers.Add(speakMs);
                allAnswers.Add(endedMs);
            }

            await calls.EndAsync(id);
        }));

        var turns = Callers * TurnsPerCall;
        TestContext.Current.SendDiagnosticMessage(string.Create(CultureInfo.InvariantCulture,
            $"pipeline with the stand-in model at {modelMs} ms: {turns} turns, user_speak answer p50 {Percentile(turnAnswers, 50):F0} ms, p99 {Percentile(turnAnswers, 99):F0} ms, max {turnAnswers.Max():F0} ms; all {allAnswers.Count} events p50 {Percentile(allAnswers, 50):F0} ms, p99 {Percentile(allAnswers, 99):F0} ms, max {allAnswers.Max():F0} ms; filler on {fillers}/{turns} turns ({100.0 * fillers / turns:F0} %); turns without their reply: {unanswered}"));
        Assert.Equal(0, unanswered);
        Assert.All(allAnswers, ms => Assert.True(ms < Bound.TotalMilliseconds, $"an answer took {ms:F0} ms"));
    }

    private static async Task<(IReadOnlyList<AiFlowAction> Actions, double Ms)> TimedAsync(CallClient calls, JsonNode evt)
    {
        var clock = Stopwatch.StartNew();
        var actions = await calls.SendAsync(evt);
        return (actions, clock.Elapsed.TotalMilliseconds);
    }

    private static double Percentile(IEnumerable<double> values, int p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
