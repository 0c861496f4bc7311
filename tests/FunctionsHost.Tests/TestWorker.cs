using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>The test worker, published once per test run, and helpers to run it under the emulator.</summary>
internal static class TestWorker
{
    private static readonly Lazy<Task<string>> Published = new(PublishAsync);

    // Everything a run writes (the published worker, marker folders, app copies) goes under one folder, removed at exit.
    private static readonly string RunFolder = CreateRunFolder();

    public static HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The publish folder (host.json, functions.metadata, worker.config.json, the worker dll).</summary>
    public static Task<string> FolderAsync() => Published.Value;

    public static async Task<FunctionsHostEmulator> StartAsync(
        string? markerFolder = null,
        string schedule = "0 0 0 1 1 *",
        bool timers = false,
        string? functionKey = null,
        string? masterKey = null,
        string? appFolder = null,
        Dictionary<string, string?>? extraSettings = null,
        Action<string>? log = null,
        TimeSpan? restartInterval = null,
        TimeSpan? queueMessageLease = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["TestTimerSchedule"] = schedule,
            ["TestMarkerFolder"] = markerFolder ?? NewTempFolder(),
        };
        foreach (var (key, value) in extraSettings ?? [])
        {
            settings[key] = value;
        }

        return await FunctionsHostEmulator.StartAsync(new FunctionsHostOptions
        {
            AppFolder = appFolder ?? await FolderAsync(),
            Settings = settings,
            FunctionKey = functionKey,
            MasterKey = masterKey,
            EnableTimers = timers,
            ShutdownGracePeriod = TimeSpan.FromSeconds(3),
            // The host waits 10 s between restarts; tests that are not about the back-off need not.
            WorkerRestartInterval = restartInterval ?? TimeSpan.FromMilliseconds(200),
            Log = log,
            QueueMessageLease = queueMessageLease ?? TimeSpan.FromMinutes(10),
        });
    }

    public static string NewTempFolder()
    {
        var path = Path.Combine(RunFolder, Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    private static string CreateRunFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "FunctionsHost.Tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a file still open must not fail the run.
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
        return path;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls until the condition holds or the time is up (then one last look).</summary>
    /// <summary>
    /// Reads one answer off a raw connection: the headers, then Content-Length bytes of body (none without one). Enough
    /// for the tests' small, never chunked answers; a closed connection or 20 s without bytes fails the test.
    /// </summary>
    public static async Task<string> ReadRawAnswerAsync(NetworkStream stream)
    {
        var received = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var text = received.ToString();
            var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headerEnd >= 0)
            {
                var length = System.Text.RegularExpressions.Regex.Match(text, "(?i)content-length: *(\\d+)");
                var bodyLength = length.Success ? int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
                if (text.Length >= headerEnd + 4 + bodyLength)
                {
                    return text;
                }
            }

            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(read > 0, "The connection closed after: " + text);
            received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }
    }

    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(within.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return condition();
    }

    public static string DotnetHost()
    {
        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(hostPath) && File.Exists(hostPath) ? hostPath : "dotnet";
    }

    private static async Task<string> PublishAsync()
    {
        var project = typeof(TestWorker).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "TestWorkerProject").Value!;
        // The worker was built with this test project (same configuration): publishing without a build is a copy.
        var configuration = typeof(TestWorker).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var output = NewTempFolder();
        var (code, text) = await DotnetAsync("publish", project, "-c", configuration, "-o", output, "--no-build", "--nologo", "-v", "q");
        if (code != 0)
        {
            // E.g. the test project was built without its reference to the worker: publish with a build.
            (code, text) = await DotnetAsync("publish", project, "-c", configuration, "-o", output, "--nologo", "-v", "q", "-nodeReuse:false");
        }

        if (code != 0)
        {
            throw new InvalidOperationException($"dotnet publish of the test worker failed ({code}):\n{text}");
        }

        return output;
    }

    private static async Task<(int ExitCode, string Output)> DotnetAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
