using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// Many calls at once and bursts within one call keep every trace row, in a stable gapless order, with the
/// right mode history. Loopback only, bounded in count and time.
/// </summary>
public sealed class LoadTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    private readonly CallClient _calls = app.Calls();

    [Fact]
    public async Task Forty_concurrent_calls_with_bursts_keep_every_turn_in_order()
    {
        const int calls = 40;
        const int turns = 12;
        var ids = Enumerable.Range(0, calls).Select(_ => CallClient.NewSessionId()).ToList();

        await Task.WhenAll(ids.Select(async (id, n) =>
        {
            Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(await _calls.StartAsync(id)));
            if (n % 4 == 0)
            {
                // A burst: the platform may deliver several turns of one call at once.
                await Task.WhenAll(Enumerable.Range(0, turns).Select(t => _calls.SayAsync(id, $"call {n} turn {t}")));
            }
            else
            {
                for (var t = 0; t < turns; t++)
                {
                    Assert.Empty(await _calls.SayAsync(id, $"call {n} turn {t}"));
                }
            }

            Assert.Empty(await _calls.EndAsync(id));
        }));

        foreach (var (id, n) in ids.Select((id, n) => (id, n)))
        {
            var session = await _calls.WaitForSessionAsync(id, s => s.TryGetProperty("ended_at", out _) && s.GetProperty("turn_count").GetInt32() == turns);
            var texts = session.GetProperty("trace").EnumerateArray().Where(t => t.GetProperty("kind").GetString() == "caller").Select(t => t.GetProperty("text").GetString()!).ToList();
            var expected = Enumerable.Range(0, turns).Select(t => $"call {n} turn {t}").ToList();
            if (n % 4 == 0)
            {
                Assert.Equal(expected.Order(StringComparer.Ordinal), texts.Order(StringComparer.Ordinal)); // a burst has no order of its own; all are kept once
            }
            else
            {
                Assert.Equal(expected, texts); // sequential turns keep their order
            }

            var seqs = session.GetProperty("trace").EnumerateArray().Concat(session.GetProperty("mode_history").EnumerateArray()).Select(r => r.GetProperty("seq").GetInt64()).Order().ToList();
            Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
            Assert.Single(session.GetProperty("mode_history").EnumerateArray());
            Assert.Equal("session_end", session.GetProperty("trace").EnumerateArray().Last().GetProperty("kind").GetString());
        }
    }
}

/// <summary>
/// A bounded soak: simulated calls against the published worker under the host emulator for VOICEFUNCTIONS_SOAK_SECONDS (20 s in
/// the normal test run; `scripts/soak.sh` runs 5 minutes), asserting no errors and that the worker's RSS
/// after warm-up grows by less than <see cref="RssGrowthBound"/>.
/// </summary>
public sealed class SoakTests(Azurite azurite)
{
    /// <summary>The stated bound for memory growth over a soak (the session cache is bounded to 10 000 sessions).</summary>
    private const long RssGrowthBound = 64L * 1024 * 1024;

    [Fact]
    public async Task Simulated_calls_for_a_while_bring_no_errors_and_no_memory_growth_beyond_the_bound()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("VOICEFUNCTIONS_SOAK_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 20;
        await using var handler = new WebhookApp(azurite, new Dictionary<string, string?>
        {
            ["Calls:ResponseBudget"] = "00:00:00.800",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        using var calls = handler.Calls();

        var warmUp = Stopwatch.StartNew();
        await RunCallsAsync(calls, TimeSpan.FromSeconds(Math.Max(3, seconds / 5)));
        var baseline = handler.WorkerRssBytes;
        var (count, errors) = await RunCallsAsync(calls, TimeSpan.FromSeconds(seconds));
        var end = handler.WorkerRssBytes;

        Assert.Equal(0, errors);
        Assert.True(count > 0);
        Assert.True(end - baseline < RssGrowthBound, $"RSS grew from {baseline / 1048576} MB to {end / 1048576} MB over {count} calls");
        TestContext.Current.SendDiagnosticMessage($"soak: {count} calls in {seconds} s, RSS {baseline / 1048576} -> {end / 1048576} MB");
        Assert.False(handler.Host.WorkerExited.IsCompleted);
    }

    private static async Task<(int Calls, int Errors)> RunCallsAsync(CallClient calls, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var count = 0;
        var errors = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
        {
            while (clock.Elapsed < duration)
            {
                var id = CallClient.NewSessionId();
                try
                {
                    await calls.StartAsync(id);
                    for (var t = 0; t < 5; t++)
                    {
                        await calls.SayAsync(id, $"worker {worker} turn {t}");
                    }

                    await calls.EndAsync(id);
                    Interlocked.Increment(ref count);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or Xunit.Sdk.XunitException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        return (count, errors);
    }
}
