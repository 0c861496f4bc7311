using System.Net;

namespace VoiceFunctions.FunctionsHost.Tests;

public sealed class TimerTests(TimerHost fixture) : IClassFixture<TimerHost>
{
    private readonly FunctionsHostEmulator host = fixture.Host;

    [Fact]
    public async Task The_timer_fires_on_its_schedule_from_a_setting()
    {
        // Every 2 s: two firings within 7 s, each logged with its outcome.
        Assert.True(
            await TestWorker.EventuallyAsync(() => Directory.GetFiles(fixture.MarkerFolder, "tick-*").Length >= 2, TimeSpan.FromSeconds(7)),
            host.Output);
        Assert.Contains("Reason='Timer fired at", host.Output, StringComparison.Ordinal);
        Assert.Contains("Executed 'Functions.Tick' (Succeeded", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_schedule_setting_only_in_the_apps_appsettings_json_does_not_resolve_and_puts_the_timer_in_error()
    {
        // %Setting% in a trigger resolves from the host's app settings; the worker's appsettings.json is the worker's
        // own configuration, which the host never reads. The host's indexing fails the function then.
        var folder = TestWorker.NewTempFolder();
        foreach (var file in Directory.EnumerateFiles(await TestWorker.FolderAsync()))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "appsettings.json"), """{ "TestTimerSchedule": "* * * * * *" }""");
        var markers = TestWorker.NewTempFolder();
        await using var isolated = await TestWorker.StartAsync(
            markerFolder: markers, timers: true, appFolder: folder, extraSettings: new() { ["TestTimerSchedule"] = null });

        Assert.DoesNotContain(isolated.Functions, f => f.Name == "Tick");
        Assert.Contains("The 'Tick' function is in error: '%TestTimerSchedule%' does not resolve to a value.", isolated.Output, StringComparison.Ordinal);
        using var echo = await TestWorker.Http.GetAsync(new Uri(isolated.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.OK, echo.StatusCode);
        using var manual = await TestWorker.Http.PostAsync(new Uri(isolated.BaseAddress, "admin/functions/Tick"), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, manual.StatusCode);
        Assert.Empty(Directory.GetFiles(markers, "tick-*"));
    }

    [Fact]
    public async Task An_empty_route_prefix_serves_functions_at_the_root()
    {
        Assert.Equal("", host.RoutePrefix);
        using var root = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "echo"));
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("echo", await root.Content.ReadAsStringAsync());

        using var prefixed = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "api/echo"));
        Assert.Equal(HttpStatusCode.NotFound, prefixed.StatusCode);
    }

    [Fact]
    public async Task The_admin_endpoint_runs_the_timer_function_without_keys_configured()
    {
        using var response = await TestWorker.Http.PostAsync(new Uri(host.BaseAddress, "admin/functions/Tick"), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True(
            await TestWorker.EventuallyAsync(() => host.Output.Contains("Reason='Manual'", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            host.Output);
    }

    [Fact]
    public async Task A_function_that_outlives_functionTimeout_is_a_500_and_its_worker_is_restarted()
    {
        var worker = host.WorkerProcessId;
        var starts = host.WorkerStarts;
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "slow"));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(8));
        Assert.Contains("Timeout value of 00:00:02 exceeded by function 'Functions.Slow'", host.Output, StringComparison.Ordinal);

        // The host restarts the worker that ran a timed-out invocation (WebScriptHostExceptionHandler), no error counted.
        using var next = await TestWorker.Http.GetAsync(new Uri(host.BaseAddress, "echo"));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(starts + 1, host.WorkerStarts);
        Assert.NotEqual(worker, host.WorkerProcessId);
        Assert.False(host.HostStopped.IsCompleted);
    }
}
