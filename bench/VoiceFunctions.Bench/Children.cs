using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace VoiceFunctions.Bench;

/// <summary>
/// A process the benchmark started. Every one is registered so that it is killed (with its tree) when the
/// benchmark ends, fails or is interrupted; none outlives the run.
/// </summary>
public sealed class Child : IDisposable
{
    private static readonly List<Child> Live = [];
    private readonly StringBuilder _output = new();
    private readonly string _readyMarker;
    private long _startedLineTicks;

    private Child(Process process, string name, string readyMarker)
    {
        Process = process;
        Name = name;
        _readyMarker = readyMarker;
    }

    public Process Process { get; }

    public string Name { get; }

    public int Pid => Process.Id;

    /// <summary>Stopwatch timestamp of the first output line holding the ready marker (0 when none yet): "Application
    /// started" for an app started directly, the emulator CLI's "Ready:" line (every function loaded, port bound) for a worker.</summary>
    public long HostStartedTimestamp => Interlocked.Read(ref _startedLineTicks);

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static Child Start(string name, string executable, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, string readyMarker = "Application started")
    {
        var start = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Nothing from the caller's environment may configure the apps under test (as in the tests' HandlerProcess).
        foreach (var key in start.Environment.Keys.Where(IsControlled).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var child = new Child(process, name, readyMarker);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        lock (Live)
        {
            if (!process.Start())
            {
                throw new InvalidOperationException($"{name}: {executable} did not start");
            }

            Live.Add(child);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private static bool IsControlled(string key) =>
        key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) ||
        key.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal) ||
        key.StartsWith("DOTNET_Tiered", StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith("DOTNET_TC_", StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith("DOTNET_ReadyToRun", StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith("DOTNET_gc", StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith("COMPlus_", StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith("FUNCTIONS_", StringComparison.Ordinal) ||
        key.Contains("__", StringComparison.Ordinal);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (_startedLineTicks == 0 && line.Contains(_readyMarker, StringComparison.Ordinal))
        {
            Interlocked.CompareExchange(ref _startedLineTicks, Stopwatch.GetTimestamp(), 0);
        }

        lock (_output)
        {
            if (_output.Length < 200_000)
            {
                _output.AppendLine(line);
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // never started or already gone
        }

        lock (Live)
        {
            Live.Remove(this);
        }

        Process.Dispose();
    }

    /// <summary>Kills every process still running (exit, failure, Ctrl+C).</summary>
    public static void KillAll()
    {
        List<Child> all;
        lock (Live)
        {
            all = [.. Live];
        }

        foreach (var child in all)
        {
            child.Dispose();
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task WaitForPortAsync(Child child, int port, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (child.Process.HasExited)
            {
                throw new InvalidOperationException($"{child.Name} exited with {child.Process.ExitCode}:\n{child.Output}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (clock.Elapsed < timeout)
            {
                await Task.Delay(50);
            }
        }
    }
}

/// <summary>
/// A local Azurite, in memory, exactly as the integration tests start it: the Table service, and for the notes
/// phase also the Queue service (Azurite's <c>queue/main.js</c>, its own process as the table service is; the
/// connection string then names both endpoints, as an account with both services does).
/// </summary>
public sealed class AzuriteProcess : IDisposable
{
    /// <summary>Azurite's well-known development account; not a secret.</summary>
    private const string DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private AzuriteProcess(Child child, int port, Child? queue, int? queuePort)
    {
        Child = child;
        Port = port;
        Queue = queue;
        QueuePort = queuePort;
    }

    public Child Child { get; }

    public int Port { get; }

    /// <summary>The Queue service's process; null when only tables were asked for.</summary>
    public Child? Queue { get; }

    public int? QueuePort { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevAccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;" +
        (QueuePort is { } q ? $"QueueEndpoint=http://127.0.0.1:{q}/devstoreaccount1;" : string.Empty);

    public static async Task<AzuriteProcess> StartAsync(string repositoryRoot, bool queues = false)
    {
        var table = await StartServiceAsync(repositoryRoot, "table");
        if (!queues)
        {
            return new AzuriteProcess(table.Child, table.Port, null, null);
        }

        try
        {
            var queue = await StartServiceAsync(repositoryRoot, "queue");
            return new AzuriteProcess(table.Child, table.Port, queue.Child, queue.Port);
        }
        catch
        {
            table.Child.Dispose();
            throw;
        }
    }

    private static async Task<(Child Child, int Port)> StartServiceAsync(string repositoryRoot, string service)
    {
        var main = Path.Combine(repositoryRoot, "node_modules", "azurite", "dist", "src", service, "main.js");
        if (!File.Exists(main))
        {
            throw new InvalidOperationException($"Azurite is not installed ({main} is missing): run `npm ci` in {repositoryRoot}.");
        }

        var port = Child.FreePort();
        var child = Child.Start(service == "table" ? "azurite" : "azurite-" + service, "node",
            [main, $"--{service}Host", "127.0.0.1", $"--{service}Port", port.ToString(CultureInfo.InvariantCulture), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose"],
            repositoryRoot, new Dictionary<string, string>());
        try
        {
            await Child.WaitForPortAsync(child, port, TimeSpan.FromSeconds(30));
        }
        catch
        {
            child.Dispose();
            throw;
        }

        return (child, port);
    }

    public void Dispose()
    {
        Queue?.Dispose();
        Child.Dispose();
    }
}
