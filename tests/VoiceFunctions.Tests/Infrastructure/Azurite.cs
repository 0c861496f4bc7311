using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// A real Azurite Table service and Queue service (npm package pinned in package.json, installed by `npm ci`), each its
/// own node process (table/main.js, queue/main.js) on a free loopback port, in memory. Stopped, paused and resumed
/// together: an outage of the storage account. Shared by the whole test assembly; tests isolate by session id.
/// </summary>
public sealed class Azurite : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account; not a secret.</summary>
    private const string DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private Process? _process;
    private Process? _queueProcess;

    /// <summary>Null: in memory (the shared fixture). A folder: a killed and restarted Azurite keeps what was written (fault tests).</summary>
    public string? DataFolder { get; init; }

    public int Port { get; private set; }

    /// <summary>The Queue service's port (the notes queue, issue 21).</summary>
    public int QueuePort { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevAccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;";

    public async ValueTask InitializeAsync()
    {
        Port = FreePort();
        QueuePort = FreePort();
        await StartAsync().ConfigureAwait(false);
    }

    public async Task StartAsync()
    {
        _process = Start("table", Port);
        _queueProcess = Start("queue", QueuePort);
        await WaitForPortAsync(Port, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        await WaitForPortAsync(QueuePort, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    private Process Start(string service, int port)
    {
        var bin = Path.Combine(Repository.Root, "node_modules", "azurite", "dist", "src", service, "main.js");
        if (!File.Exists(bin))
        {
            throw new InvalidOperationException($"Azurite is not installed ({bin} is missing): run `npm ci` in {Repository.Root} (the test script does).");
        }

        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { bin, $"--{service}Host", "127.0.0.1", $"--{service}Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (DataFolder is null)
        {
            start.ArgumentList.Add("--inMemoryPersistence");
        }
        else
        {
            Directory.CreateDirectory(DataFolder);
            start.ArgumentList.Add("--location");
            start.ArgumentList.Add(DataFolder);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Stops Azurite: an outage for the app. With a data folder it is asked to stop (SIGINT) so it saves its
    /// database first — Azurite, unlike Table Storage, only saves every few seconds; without a folder it is killed.
    /// </summary>
    public async Task StopAsync()
    {
        await Task.WhenAll(StopAsync(_process), StopAsync(_queueProcess)).ConfigureAwait(false);
        _process = null;
        _queueProcess = null;
    }

    private async Task StopAsync(Process? process)
    {
        if (process is { HasExited: false })
        {
            if (DataFolder is not null)
            {
                using var interrupt = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await interrupt.WaitForExitAsync().ConfigureAwait(false);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync().ConfigureAwait(false);
        }

        process?.Dispose();
    }

    /// <summary>Freezes Azurite (SIGSTOP): connections are accepted by the kernel but never answered — storage hangs, as a blackholed network does.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    /// <summary>Lets a paused Azurite go on (SIGCONT).</summary>
    public Task ResumeAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        var process = _process ?? throw new InvalidOperationException("Azurite is not running.");
        var ids = new List<string> { process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (_queueProcess is { } queue)
        {
            ids.Add(queue.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        using var kill = Process.Start("kill", [signal, .. ids]);
        await kill.WaitForExitAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            await ResumeAsync().ConfigureAwait(false); // a stopped process ignores SIGINT until continued
        }

        await StopAsync().ConfigureAwait(false);
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A free loopback port, never the same twice in this test run (parallel tests must not collide).</summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
    }

    public static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < timeout)
            {
                await Task.Delay(100).ConfigureAwait(false);
            }
        }
    }
}
