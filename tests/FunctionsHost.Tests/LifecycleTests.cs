using System.Net;

namespace VoiceFunctions.FunctionsHost.Tests;

public sealed class LifecycleTests
{
    [Fact]
    public async Task A_worker_that_dies_mid_request_gives_503_and_completes_WorkerExited()
    {
        await using var host = await TestWorker.StartAsync();
        using var dying = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/die"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, dying.StatusCode);

        await host.WorkerExited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, host.WorkerExitCode);

        using var later = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, later.StatusCode);
        Assert.Equal("text/plain", later.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task KillWorker_kills_it_and_later_requests_get_503()
    {
        await using var host = await TestWorker.StartAsync();
        host.KillWorker();
        await host.WorkerExited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(host.WorkerExitCode);
        Assert.NotEqual(0, host.WorkerExitCode);

        using var response = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var outcome = await host.InvokeAsync("Tick");
        Assert.False(outcome.Succeeded);
        Assert.Equal("WorkerExited", outcome.Status);
    }

    [Fact]
    public async Task A_worker_that_fails_at_start_up_makes_StartAsync_throw_with_its_output()
    {
        var failure = await Assert.ThrowsAsync<FunctionsHostStartException>(() => TestWorker.StartAsync(
            extraSettings: new() { ["TestWorkerFailAtStart"] = "missing setting Foo" }));
        Assert.Contains("TestWorker refuses to start: missing setting Foo", failure.Message, StringComparison.Ordinal);
        Assert.Contains("exited with code 1", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, failure.WorkerExitCode);
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
