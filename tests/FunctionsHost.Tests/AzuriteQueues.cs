using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Azure.Storage.Queues;

namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>
/// Azurite's queue service (the npm package pinned in the repository's package.json, installed by `npm ci`) on a free
/// loopback port, in memory, for the queue trigger tests: the emulator polls it as the host polls Azure Storage.
/// </summary>
public sealed class AzuriteQueues : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account key; not a secret.</summary>
    private const string DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private Process? process;

    public int Port { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevAccountKey};QueueEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    /// <summary>A client that base64-encodes, as the host's extension and the app's own client do.</summary>
    public QueueClient Queue(string name, QueueMessageEncoding encoding = QueueMessageEncoding.Base64) =>
        new(ConnectionString, name, new QueueClientOptions { MessageEncoding = encoding });

    public async ValueTask InitializeAsync()
    {
        Port = TestWorker.FreePort();
        var main = Path.Combine(RepositoryRoot(), "node_modules", "azurite", "dist", "src", "queue", "main.js");
        if (!File.Exists(main))
        {
            throw new InvalidOperationException($"Azurite is not installed ({main} is missing): run `npm ci` at the repository root (scripts/test.sh does).");
        }

        var start = new ProcessStartInfo("node")
        {
            ArgumentList =
            {
                main, "--queueHost", "127.0.0.1", "--queuePort", Port.ToString(CultureInfo.InvariantCulture),
                "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(30) && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process?.Dispose();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VoiceFunctions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("VoiceFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
