using System.Diagnostics;
using System.Net;
using System.Text;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>`dotnet FunctionsHost.dll &lt;folder&gt; &lt;port&gt;` as a process.</summary>
public sealed class CliTests
{
    private sealed class Cli : IDisposable
    {
        private readonly StringBuilder output = new();

        public Cli(string folder, int port, Dictionary<string, string> environment)
        {
            var start = new ProcessStartInfo(TestWorker.DotnetHost())
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "FunctionsHost.dll"));
            start.ArgumentList.Add(folder);
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }

            Process = new Process { StartInfo = start };
            Process.OutputDataReceived += (_, e) => Append(e.Data);
            Process.ErrorDataReceived += (_, e) => Append(e.Data);
            Process.Start();
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output
        {
            get
            {
                lock (output)
                {
                    return output.ToString();
                }
            }
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }

            Process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }
    }

    private static Dictionary<string, string> Environment(string? failAtStart = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["TestTimerSchedule"] = "0 0 0 1 1 *",
            ["TestMarkerFolder"] = TestWorker.NewTempFolder(),
            // The host's 10 s restart back-off, shortened for the test run.
            ["FUNCTIONS_HOST_WORKER_RESTART_SECONDS"] = "0.2",
        };
        if (failAtStart is not null)
        {
            environment["TestWorkerFailAtStart"] = failAtStart;
        }

        return environment;
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        // The CLI only (by its id), not its worker: the CLI must pass the stop on.
        using var kill = Process.Start("kill", ["-s", signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    [Fact]
    public async Task The_CLI_serves_the_app_and_exits_0_on_SIGTERM()
    {
        // local.settings.json Values are app settings, but a variable already in the environment wins.
        var folder = TestWorker.NewTempFolder();
        foreach (var file in Directory.EnumerateFiles(await TestWorker.FolderAsync()))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        await File.WriteAllTextAsync(
            Path.Combine(folder, "local.settings.json"),
            """{ "IsEncrypted": false, "Values": { "TestTimerSchedule": "0 0 12 * * *", "OnlyInLocalSettings": "x" } }""");
        var port = TestWorker.FreePort();
        using var cli = new Cli(folder, port, Environment());
        Assert.True(
            await TestWorker.EventuallyAsync(() => cli.Output.Contains("Ready:", StringComparison.Ordinal) || cli.Process.HasExited, TimeSpan.FromSeconds(45)),
            cli.Output);
        Assert.Contains($"Echo: [GET] http://127.0.0.1:{port}/api/echo", cli.Output, StringComparison.Ordinal);
        Assert.Contains("Tick: timerTrigger (%TestTimerSchedule% = 0 0 0 1 1 *)", cli.Output, StringComparison.Ordinal);
        using (var setting = await TestWorker.Http.GetAsync(new Uri($"http://127.0.0.1:{port}/api/setting/OnlyInLocalSettings")))
        {
            Assert.Equal("x", await setting.Content.ReadAsStringAsync());
        }

        using var response = await TestWorker.Http.GetAsync(new Uri($"http://127.0.0.1:{port}/api/echo"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await SignalAsync(cli.Process.Id, "TERM");
        await cli.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, cli.Process.ExitCode);
        Assert.Contains("Sending worker_terminate", cli.Output, StringComparison.Ordinal);
        Assert.Contains("exited with code 0", cli.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Timers_fire_in_UTC_whatever_the_machines_time_zone()
    {
        // Every second, but only in this UTC hour and the next: a schedule evaluated in the process's local time
        // (TZ 14 hours ahead of UTC) would not fire for hours.
        var hour = DateTime.UtcNow.Hour;
        var environment = Environment();
        environment["TestTimerSchedule"] = $"* * {hour},{(hour + 1) % 24} * * *";
        environment["TZ"] = "Pacific/Kiritimati";
        var markers = environment["TestMarkerFolder"];
        using var cli = new Cli(await TestWorker.FolderAsync(), TestWorker.FreePort(), environment);
        Assert.True(
            await TestWorker.EventuallyAsync(() => Directory.GetFiles(markers, "tick-*").Length > 0 || cli.Process.HasExited, TimeSpan.FromSeconds(45)),
            cli.Output);
        Assert.False(cli.Process.HasExited, cli.Output);
    }

    [Fact]
    public async Task The_CLI_restarts_a_dying_worker_and_exits_non_zero_when_the_host_would_recycle()
    {
        var port = TestWorker.FreePort();
        using var cli = new Cli(await TestWorker.FolderAsync(), port, Environment());
        Assert.True(
            await TestWorker.EventuallyAsync(() => cli.Output.Contains("Ready:", StringComparison.Ordinal) || cli.Process.HasExited, TimeSpan.FromSeconds(45)),
            cli.Output);

        for (var error = 1; error <= 3; error++)
        {
            using var response = await TestWorker.Http.GetAsync(new Uri($"http://127.0.0.1:{port}/api/die"));
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            Assert.False(error < 3 && cli.Process.HasExited, cli.Output);
        }

        await cli.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(3, cli.Process.ExitCode);
        Assert.Contains("exceeded the restart retry count", cli.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_CLI_exits_1_with_the_workers_output_when_the_worker_fails_at_start_up()
    {
        using var cli = new Cli(await TestWorker.FolderAsync(), TestWorker.FreePort(), Environment(failAtStart: "no config"));
        await cli.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(45));
        Assert.Equal(1, cli.Process.ExitCode);
        Assert.Contains("TestWorker refuses to start: no config", cli.Output, StringComparison.Ordinal);
    }
}
