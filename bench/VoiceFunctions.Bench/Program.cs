using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VoiceFunctions.Bench;

/// <summary>
/// Issue 6's benchmark. Usage (scripts/bench.sh does the publishing and passes the folders):
/// <c>VoiceFunctions.Bench --apps DIR --repo DIR --out DIR [--duration 10] [--warmup 3] [--turns 4] [--cold-runs 7 (0: none)] [--concurrency 1,16,64] [--targets http-floor,storage-floor,storage-floor-batch,handler,handler-gc-workstation] [--extra-handlers name=publishfolder,…]</c>.
/// DIR of --apps holds the Release publish folders handler, handler-r2r, http-floor, http-floor-r2r, storage-floor.
/// </summary>
public static class Program
{
    public const string SystemPrompt = "You are the benchmark assistant of VoiceFunctions. Answer briefly and politely.";

    public static async Task<int> Main(string[] args)
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Child.KillAll();
        Console.CancelKeyPress += (_, e) =>
        {
            Child.KillAll();
            e.Cancel = false;
        };
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Child.KillAll());

        var options = BenchOptions.Parse(args);
        try
        {
            var results = await RunAsync(options);
            Report.Write(options, results);
            return 0;
        }
        catch (Exception ex)
        {
            await Console.Error.WriteLineAsync($"benchmark failed: {ex}");
            return 1;
        }
        finally
        {
            Child.KillAll();
        }
    }

    /// <summary>The environment the Functions host gives a custom handler, plus the app settings.</summary>
    public static Dictionary<string, string> HostEnvironment(int port, IReadOnlyDictionary<string, string> settings)
    {
        var env = new Dictionary<string, string>
        {
            ["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (key, value) in settings)
        {
            env[key] = value;
        }

        if (env.ContainsKey("Spool__Path"))
        {
            env["Spool__Path"] = Path.Combine(_spoolRoot, "spool-" + Guid.NewGuid().ToString("N")); // fresh for every start
        }

        return env;
    }

    /// <summary>Under the work folder (deleted by scripts/bench.sh), never the shared default in /tmp.</summary>
    private static string _spoolRoot = Path.GetTempPath();

    private static Dictionary<string, string> HandlerSettings(string connectionString) => new()
    {
        ["SessionStore__ConnectionString"] = connectionString,
        ["Personas__default__SystemPrompt"] = SystemPrompt,
        ["Diagnostics__StorageRoundTripsHeader"] = "true",
        // Each handler start gets its own, empty spool: nothing is replayed from (or into) other runs or test runs.
        ["Spool__Path"] = Path.Combine(_spoolRoot, "spool-" + Guid.NewGuid().ToString("N")),
    };

    private static async Task<BenchResults> RunAsync(BenchOptions o)
    {
        _spoolRoot = Path.Combine(Path.GetDirectoryName(o.Apps.TrimEnd('/')) ?? Path.GetTempPath(), "spools");
        var results = new BenchResults
        {
            GeneratedAtUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture),
            Machine = new MachineInfo
            {
                Cores = Environment.ProcessorCount,
                MemoryGiB = Math.Round(ProcStats.MemTotalGiB(), 1),
                Cpu = ProcStats.CpuModel(),
                Os = RuntimeInformation.OSDescription,
                Runtime = RuntimeInformation.FrameworkDescription,
                LoadAverageAtStart = ProcStats.LoadAverage(),
                Commit = o.Commit,
            },
            Settings = o,
        };
        var clock = Stopwatch.StartNew();

        // Load: each target on its own fresh Azurite (in memory), so none inherits another's data.
        (string Name, string Folder, string Dll, bool Storage, Func<string, Dictionary<string, string>> Settings)[] targets =
        [
            ("http-floor", "http-floor", "HttpFloor.dll", false, _ => []),
            ("storage-floor", "storage-floor", "StorageFloor.dll", true, cs => new() { ["Floor__ConnectionString"] = cs, ["Floor__Mode"] = "entity" }),
            ("storage-floor-batch", "storage-floor", "StorageFloor.dll", true, cs => new() { ["Floor__ConnectionString"] = cs, ["Floor__Mode"] = "batch" }),
            ("handler", "handler", "VoiceFunctions.dll", true, HandlerSettings),
            // Context for the RSS budget: the same handler on the workstation GC (the Web SDK defaults to server GC).
            ("handler-gc-workstation", "handler", "VoiceFunctions.dll", true, cs => new(HandlerSettings(cs)) { ["DOTNET_gcServer"] = "0" }),
        ];
        foreach (var target in targets.Where(t => o.Targets is null || o.Targets.Contains(t.Name)))
        {
            Log($"load: {target.Name}");
            using var azurite = target.Storage ? await AzuriteProcess.StartAsync(o.Repo) : null;
            var port = Child.FreePort();
            var folder = Path.Combine(o.Apps, target.Folder);
            using var app = Child.Start(target.Name, "dotnet", [target.Dll], folder, HostEnvironment(port, target.Settings(azurite?.ConnectionString ?? string.Empty)));
            await WaitReadyAsync(app, port, TimeSpan.FromSeconds(60));
            using var http = LoadGenerator.CreateClient(port);
            await LoadGenerator.RunAsync(http, 16, TimeSpan.FromSeconds(o.WarmupSeconds), o.Turns, record: false);
            var phases = new List<PhaseResult>();
            foreach (var concurrency in o.Concurrency)
            {
                await using var monitor = new PhaseMonitor(app.Pid, azurite?.Child.Pid);
                var phase = await LoadGenerator.RunAsync(http, concurrency, TimeSpan.FromSeconds(o.DurationSeconds), o.Turns, record: true);
                phase.Resources = await monitor.StopAsync();
                phases.Add(phase);
                Log($"  c={concurrency}: {phase.All!.Rps} req/s, p50 {phase.All.P50Ms} ms, p99 {phase.All.P99Ms} ms, errors {phase.All.Errors}, RSS max {phase.Resources.MaxRssMiB} MiB");
            }

            results.Load[target.Name] = new TargetResult { Phases = phases, VmHwmMiB = ProcStats.Memory(app.Pid)?.Hwm is { } h ? Math.Round(h, 1) : null };
            if (app.Process.HasExited)
            {
                throw new InvalidOperationException($"{target.Name} died under load:\n{app.Output}");
            }
        }

        // Cold start: one Azurite for all; variants interleaved round-robin so machine noise hits all alike.
        Log("cold start");
        if (o.ColdRuns > 0)
        {
            using var azurite = await AzuriteProcess.StartAsync(o.Repo);
            var handler = HandlerSettings(azurite.ConnectionString);
            Dictionary<string, string> With(Dictionary<string, string> baseSettings, string key, string value) => new(baseSettings) { [key] = value };
            AppVariant[] variants =
            [
                new("bare-web", "floor (c): `dotnet new web` + a no-op POST, plain Release publish", Path.Combine(o.Apps, "http-floor"), "HttpFloor.dll", new Dictionary<string, string>()),
                new("bare-web-r2r", "floor (c) published with ReadyToRun (linux-x64)", Path.Combine(o.Apps, "http-floor-r2r"), "HttpFloor.dll", new Dictionary<string, string>()),
                new("storage-floor", "floor (b): bare web + Azure.Data.Tables, one AddEntity (context: the SDK's own start-up cost)", Path.Combine(o.Apps, "storage-floor"), "StorageFloor.dll", new Dictionary<string, string> { ["Floor__ConnectionString"] = azurite.ConnectionString }),
                new("handler", "handler, `dotnet publish -c Release` without a runtime: no ReadyToRun (what deploy.sh shipped before the PublishReadyToRun property)", Path.Combine(o.Apps, "handler"), "VoiceFunctions.dll", handler),
                new("handler-r2r", "handler, `-r linux-x64` + ReadyToRun: what deploy.sh ships with the csproj property", Path.Combine(o.Apps, "handler-r2r"), "VoiceFunctions.dll", handler),
                new("handler-r2r-pgo-off", "handler, ReadyToRun + DOTNET_TieredPGO=0", Path.Combine(o.Apps, "handler-r2r"), "VoiceFunctions.dll", With(handler, "DOTNET_TieredPGO", "0")),
                new("handler-pgo-off", "handler, plain publish + DOTNET_TieredPGO=0", Path.Combine(o.Apps, "handler"), "VoiceFunctions.dll", With(handler, "DOTNET_TieredPGO", "0")),
                new("handler-r2r-tc-off", "handler, ReadyToRun + DOTNET_TieredCompilation=0 (full JIT up front)", Path.Combine(o.Apps, "handler-r2r"), "VoiceFunctions.dll", With(handler, "DOTNET_TieredCompilation", "0")),
            ];
            // Experiments: other handler builds (e.g. a patched copy) measured the same way: --extra-handlers name=folder,…
            variants = [.. variants, .. o.ExtraHandlers.Select(e => new AppVariant(e.Key, $"experiment: handler built from {e.Value}", e.Value, "VoiceFunctions.dll", handler))];
            var runs = variants.ToDictionary(v => v.Name, _ => new List<ColdStartRun>());
            foreach (var variant in variants)
            {
                await ColdStart.MeasureAsync(variant, TimeSpan.FromSeconds(30)); // unrecorded: warms the page cache
            }

            for (var i = 0; i < o.ColdRuns; i++)
            {
                foreach (var variant in variants)
                {
                    runs[variant.Name].Add(await ColdStart.MeasureAsync(variant, TimeSpan.FromSeconds(30)));
                }
            }

            foreach (var variant in variants)
            {
                results.ColdStart[variant.Name] = ColdStartResult.From(variant.Description, runs[variant.Name]);
                Log($"  {variant.Name}: median {results.ColdStart[variant.Name].MedianMs} ms");
            }
        }

        results.Machine.LoadAverageAtEnd = ProcStats.LoadAverage();
        results.WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1);
        return results;
    }

    private static async Task WaitReadyAsync(Child app, int port, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (app.Process.HasExited)
            {
                throw new InvalidOperationException($"{app.Name} exited with {app.Process.ExitCode}:\n{app.Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("/", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{app.Name} was not ready after {timeout}:\n{app.Output}");
    }

    public static void Log(string message) => Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");
}

public sealed record BenchOptions
{
    [JsonIgnore] public string Apps { get; init; } = string.Empty;
    [JsonIgnore] public string Repo { get; init; } = string.Empty;
    [JsonIgnore] public string Out { get; init; } = string.Empty;
    [JsonIgnore] public string? Commit { get; init; }
    public double DurationSeconds { get; init; } = 10;
    public double WarmupSeconds { get; init; } = 3;
    public int Turns { get; init; } = 4;
    public int ColdRuns { get; init; } = 7;
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 16, 64];

    /// <summary>Load targets to run (null: all); for quick looks, e.g. while profiling.</summary>
    public IReadOnlyList<string>? Targets { get; init; }

    /// <summary>Extra handler publish folders for the cold-start comparison (name → folder).</summary>
    public IReadOnlyDictionary<string, string> ExtraHandlers { get; init; } = new Dictionary<string, string>();

    public static BenchOptions Parse(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i]] = args[i + 1];
        }

        string Required(string key) => map.TryGetValue(key, out var v) ? Path.GetFullPath(v) : throw new ArgumentException($"{key} is required");
        double Number(string key, double fallback) => map.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var options = new BenchOptions
        {
            Apps = Required("--apps"),
            Repo = Required("--repo"),
            Out = Required("--out"),
            Commit = map.GetValueOrDefault("--commit"),
            DurationSeconds = Number("--duration", 10),
            WarmupSeconds = Number("--warmup", 3),
            Turns = (int)Number("--turns", 4),
            ColdRuns = (int)Number("--cold-runs", 7),
            Concurrency = map.TryGetValue("--concurrency", out var c) ? [.. c.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : [1, 16, 64],
            Targets = map.TryGetValue("--targets", out var t) ? t.Split(',') : null,
            ExtraHandlers = map.TryGetValue("--extra-handlers", out var x)
                ? x.Split(',').Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => Path.GetFullPath(kv[1]))
                : new Dictionary<string, string>(),
        };
        if (options.DurationSeconds is <= 0 or > 120 || options.WarmupSeconds is < 0 or > 60 || options.ColdRuns is < 0 or > 50 || options.Turns is < 1 or > 50 || options.Concurrency.Any(n => n is < 1 or > 256))
        {
            throw new ArgumentException("bounds: duration 0-120 s, warmup 0-60 s, cold-runs 0-50 (0 skips cold start), turns 1-50, concurrency 1-256");
        }

        return options;
    }
}

public sealed record MachineInfo
{
    public int Cores { get; init; }
    public double MemoryGiB { get; init; }
    public string Cpu { get; init; } = string.Empty;
    public string Os { get; init; } = string.Empty;
    public string Runtime { get; init; } = string.Empty;
    public string LoadAverageAtStart { get; init; } = string.Empty;
    public string? LoadAverageAtEnd { get; set; }
    public string? Commit { get; init; }
}

public sealed record TargetResult
{
    public required List<PhaseResult> Phases { get; init; }
    public double? VmHwmMiB { get; init; }
}

public sealed class BenchResults
{
    public string GeneratedAtUtc { get; init; } = string.Empty;
    public required MachineInfo Machine { get; init; }
    public required BenchOptions Settings { get; init; }
    public double WallSeconds { get; set; }
    public Dictionary<string, TargetResult> Load { get; } = [];
    public Dictionary<string, ColdStartResult> ColdStart { get; } = [];
    public Dictionary<string, double> Ratios { get; } = [];
    public List<BudgetResult> Budgets { get; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

public sealed record BudgetResult(string Budget, string Limit, string Measured, bool Met, string Note);
