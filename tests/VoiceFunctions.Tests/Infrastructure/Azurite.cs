using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// A real Azurite Table service (npm package pinned in package.json, installed by `npm ci`) on a free
/// loopback port, in memory. Shared by the whole test assembly; tests isolate by session id.
/// </summary>
public sealed class Azurite : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account; not a secret.</summary>
    private const string DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private Process? _process;

    public int Port { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevAccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    public async ValueTask InitializeAsync()
    {
        Port = FreePort();
        await StartAsync().ConfigureAwait(false);
    }

    public async Task StartAsync()
    {
        var bin = Path.Combine(Repository.Root, "node_modules", "azurite", "dist", "src", "table", "main.js");
        if (!File.Exists(bin))
        {
            throw new InvalidOperationException($"Azurite is not installed ({bin} is missing): run `npm ci` in {Repository.Root} (the test script does).");
        }

        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { bin, "--tableHost", "127.0.0.1", "--tablePort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitForPortAsync(Port, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    /// <summary>Kills Azurite (its in-memory data goes with it).</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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
