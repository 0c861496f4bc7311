using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace VoiceFunctions.FunctionsHost.Tests;

public sealed class LifecycleTests
{
    // The host's restart policy, read from azure-functions-host (see README): a worker exit with a non-zero code is a
    // worker error; in-flight invocations fail (500); the worker is restarted, one start at a time, each start holding
    // the next back for the restart interval; 3 errors within 30 min and the host gives up (recycles itself).

    [Fact]
    public async Task A_worker_that_dies_mid_request_fails_it_with_500_and_a_restarted_worker_serves_the_next()
    {
        await using var host = await TestWorker.StartAsync();
        var first = host.WorkerProcessId;
        using var dying = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die"));
        Assert.Equal(HttpStatusCode.InternalServerError, dying.StatusCode);

        // Sent right away: it waits for the new worker instead of failing (never a 503 while restarting).
        using var later = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        Assert.Equal(3, host.WorkerExitCode);
        Assert.Equal(2, host.WorkerStarts);
        Assert.NotEqual(first, host.WorkerProcessId);
        Assert.False(host.HostStopped.IsCompleted);
        Assert.Contains($"Worker process {first} exited with code 3.", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_killed_worker_is_restarted_and_serves_HTTP_and_other_triggers()
    {
        await using var host = await TestWorker.StartAsync();
        var exited = host.WorkerExited;
        host.KillWorker();
        await exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(host.WorkerExitCode);
        Assert.NotEqual(0, host.WorkerExitCode);

        using var response = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var outcome = await host.InvokeAsync("Tick");
        Assert.True(outcome.Succeeded, outcome.ExceptionMessage);
        Assert.Equal(2, host.WorkerStarts);
    }

    [Fact]
    public async Task Three_worker_errors_within_the_window_make_the_host_give_up_with_503_Function_host_is_not_running()
    {
        await using var host = await TestWorker.StartAsync();
        for (var error = 1; error <= 3; error++)
        {
            using var dying = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die"));
            Assert.Equal(HttpStatusCode.InternalServerError, dying.StatusCode);
        }

        await host.HostStopped.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(3, host.WorkerStarts);
        Assert.Contains("exceeded the restart retry count", host.HostStopReason, StringComparison.Ordinal);
        using var later = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, later.StatusCode);
        Assert.Equal("Function host is not running.", await later.Content.ReadAsStringAsync());
        Assert.False((await host.InvokeAsync("Tick")).Succeeded);
    }

    [Fact]
    public async Task A_restart_right_after_a_restart_waits_for_the_restart_interval()
    {
        var interval = TimeSpan.FromSeconds(4);
        await using var host = await TestWorker.StartAsync(restartInterval: interval);
        using (var first = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die")))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, first.StatusCode);
        }

        // The first restart is immediate: the next request is served by the new worker.
        using (var served = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo")))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        using (var second = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die")))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, second.StatusCode);
        }

        using var waited = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
        // A lower bound only (load makes it later, never earlier): the start lock was held for the interval.
        Assert.True(clock.Elapsed >= interval - TimeSpan.FromMilliseconds(500), $"served after {clock.Elapsed}");
        Assert.Equal(3, host.WorkerStarts);
    }

    [Fact]
    public async Task A_worker_that_exits_with_200_is_restarted_without_counting_an_error()
    {
        await using var host = await TestWorker.StartAsync();
        for (var exit = 1; exit <= 3; exit++)
        {
            using var restart = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die?code=200"));
        }

        using var served = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(4, host.WorkerStarts);
        Assert.False(host.HostStopped.IsCompleted);
    }

    [Fact]
    public async Task A_worker_that_fails_at_start_up_is_started_3_times_then_StartAsync_throws_with_its_output()
    {
        var failure = await Assert.ThrowsAsync<FunctionsHostStartException>(() => TestWorker.StartAsync(
            extraSettings: new() { ["TestWorkerFailAtStart"] = "missing setting Foo" }));
        Assert.Contains("TestWorker refuses to start: missing setting Foo", failure.Message, StringComparison.Ordinal);
        Assert.Contains("exited with code 1", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, failure.WorkerExitCode);
        Assert.Equal(3, Regex.Count(failure.WorkerOutput, "Starting worker: "));
        Assert.Contains("the host would recycle itself", failure.WorkerOutput, StringComparison.Ordinal);

        // The host logs a stderr line as an error only when it says error, fail, severe or unhandled exception.
        Assert.Contains("[Information] Host.Function.Console: TestWorker refuses to start: missing setting Foo", failure.WorkerOutput, StringComparison.Ordinal);
        Assert.Contains("[Error] Host.Function.Console: TestWorker start-up failed", failure.WorkerOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_app_folder_makes_StartAsync_throw()
    {
        var failure = await Assert.ThrowsAsync<FunctionsHostStartException>(() => FunctionsHostEmulator.StartAsync(
            new FunctionsHostOptions { AppFolder = Path.Combine(TestWorker.NewTempFolder(), "nothing") }));
        Assert.Contains("worker.config.json", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_right_after_StartAsync_lets_the_worker_exit_cleanly()
    {
        // StartAsync waits for the worker's own Kestrel: a terminate before it listens makes the worker abort (134).
        var host = await TestWorker.StartAsync();
        await host.StopAsync();
        Assert.True(host.WorkerExitCode == 0, host.Output);
    }

    [Fact]
    public async Task StopAsync_sends_worker_terminate_and_the_worker_exits_by_itself()
    {
        var logged = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var host = await TestWorker.StartAsync(log: logged.Enqueue);
        // Once it has served a request: a worker told to terminate while its own host is still starting aborts
        // (an unhandled TaskCanceledException out of RunAsync, exit code 134), whoever sends the terminate.
        using (var served = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo")))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        await host.StopAsync();

        Assert.True(host.WorkerExited.IsCompleted);
        Assert.True(host.WorkerExitCode == 0, host.Output);
        Assert.Contains("Sending worker_terminate", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("killing it", host.Output, StringComparison.Ordinal);
        await Assert.ThrowsAsync<HttpRequestException>(() => TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo")));

        // The Log callback saw every line Output kept.
        Assert.Equal(host.Output, string.Concat(logged.Select(line => line + "\n")));

        // Idempotent, and DisposeAsync after StopAsync is fine.
        await host.StopAsync();
        await host.DisposeAsync();
    }
}
