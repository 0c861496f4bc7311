using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VoiceFunctions.Bench;

/// <summary>
/// Issue 6's benchmark, re-based for the isolated worker (issue 9 item 7). Usage (scripts/bench.sh does the
/// publishing and passes the folders):
/// <c>VoiceFunctions.Bench --apps DIR --repo DIR --out DIR [--emulator FunctionsHost.dll] [--duration 10] [--warmup 3] [--turns 4] [--cold-runs 7 (0: none)] [--concurrency 1,16,64] [--targets direct-http-floor,http-floor,storage-floor,storage-floor-batch,app,notes] [--extra-apps name=publishfolder,…] [--worker-env KEY=VALUE;…] [--notes-calls 50] [--notes-model-ms 1500] [--notes-pacing 1000,0] [--notes-poll-ms 500] [--notes-timeout 60]</c>.
/// DIR of --apps holds the Release publish folders app, app-r2r, http-floor, http-floor-r2r, storage-floor,
/// direct-http-floor and functions-host (the emulator, unless --emulator names it).
/// </summary>
public static class Program
{
    public const string SystemPrompt = "You are the benchmark assistant of VoiceFunctions. Answer briefly and politely.";

    /// <summary>The emulator CLI's line once every function is loaded and the HTTP port is bound.</summary>
    public const string EmulatorReadyMarker = "Ready:";

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

    private static readonly Dictionary<string, string> NoSettings = [];

    private static string _emulatorDll = string.Empty;

    private static IReadOnlyDictionary<string, string> _workerEnv = new Dictionary<string, string>();

    /// <summary>Under the work folder (deleted by scripts/bench.sh), never the shared default in /tmp.</summary>
    private static string _spoolRoot = Path.GetTempPath();

    /// <summary>
    /// Starts an app the way its target says: a worker as <c>dotnet FunctionsHost.dll &lt;folder&gt; &lt;port&gt;</c>
    /// (the emulator CLI, which starts the worker and binds the port once every function is loaded; settings as
    /// environment variables, which the CLI passes on to the worker), an app started directly as the Functions host
    /// once started a custom handler (<c>dotnet App.dll</c>, port in FUNCTIONS_CUSTOMHANDLER_PORT).
    /// </summary>
    public static Child Launch(AppVariant variant, int port)
    {
        var env = new Dictionary<string, string>(variant.Settings);
        if (env.ContainsKey("Spool__Path"))
        {
            env["Spool__Path"] = Path.Combine(_spoolRoot, "spool-" + Guid.NewGuid().ToString("N")); // fresh for every start
        }

        if (variant.ViaEmulator)
        {
            env["AZURE_FUNCTIONS_ENVIRONMENT"] = "Production"; // the emulator's default is Development
            foreach (var (key, value) in _workerEnv)
            {
                env[key] = value; // experiments (--worker-env); the emulator process gets them too
            }

            return Child.Start(variant.Name, "dotnet", [_emulatorDll, variant.AppFolder, port.ToString(CultureInfo.InvariantCulture)], variant.AppFolder, env, EmulatorReadyMarker);
        }

        env["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        return Child.Start(variant.Name, "dotnet", [variant.Dll], variant.AppFolder, env);
    }

    /// <summary>The worker process of an emulator child (its child process running the app's dll); null when not (yet) there.</summary>
    public static int? WorkerPid(Child emulator, string dll)
    {
        var children = ProcStats.ChildPids(emulator.Pid);
        foreach (var pid in children)
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/cmdline").Contains(dll, StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
        }

        return children.Count > 0 ? children[0] : null;
    }

    internal static Dictionary<string, string> AppSettings(string connectionString) => new()
    {
        ["SessionStore__ConnectionString"] = connectionString,
        ["Personas__default__SystemPrompt"] = SystemPrompt,
        ["RetentionSchedule"] = "0 0 3 * * *",
        ["AiFlow__RequireApiToken"] = "false",
        ["Diagnostics__StorageRoundTripsHeader"] = "true",
        // Each start gets its own, empty spool (replaced in Launch): nothing is replayed from (or into) other runs or test runs.
        ["Spool__Path"] = "fresh",
    };

    private static async Task<BenchResults> RunAsync(BenchOptions o)
    {
        _spoolRoot = Path.Combine(Path.GetDirectoryName(o.Apps.TrimEnd('/')) ?? Path.GetTempPath(), "spools");
        _emulatorDll = o.Emulator;
        _workerEnv = o.WorkerEnv;
        if (!File.Exists(_emulatorDll))
        {
            throw new InvalidOperationException($"The Functions host emulator is not published at {_emulatorDll} (dotnet publish tools/FunctionsHost).");
        }

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
        string Folder(string name) => Path.Combine(o.Apps, name);

        // Load: each target on its own fresh Azurite (in memory), so none inherits another's data.
        (AppVariant App, bool Storage, Func<string, Dictionary<string, string>> Settings)[] targets =
        [
            (new("direct-http-floor", "context: the old HTTP floor, `dotnet new web` + a no-op POST, started directly on Kestrel (no emulator)", Folder("direct-http-floor"), "DirectHttpFloor.dll", NoSettings, ViaEmulator: false), false, _ => []),
            (new("http-floor", "bare isolated worker, one no-op HTTP function → 204, under the emulator", Folder("http-floor"), "HttpFloor.dll", NoSettings), false, _ => []),
            (new("storage-floor", "bare isolated worker, one AddEntity per request, under the emulator", Folder("storage-floor"), "StorageFloor.dll", NoSettings), true, cs => new() { ["Floor__ConnectionString"] = cs, ["Floor__Mode"] = "entity" }),
            (new("storage-floor-batch", "the same, the write as a 1-operation entity-group transaction", Folder("storage-floor"), "StorageFloor.dll", NoSettings), true, cs => new() { ["Floor__ConnectionString"] = cs, ["Floor__Mode"] = "batch" }),
            (new("app", "src/VoiceFunctions, plain Release publish, under the emulator", Folder("app"), "VoiceFunctions.dll", NoSettings), true, AppSettings),
        ];
        foreach (var (template, storage, settings) in targets.Where(t => o.Targets is null || o.Targets.Contains(t.App.Name)))
        {
            Log($"load: {template.Name}");
            using var azurite = storage ? await AzuriteProcess.StartAsync(o.Repo) : null;
            var port = Child.FreePort();
            var variant = template with { Settings = settings(azurite?.ConnectionString ?? string.Empty) };
            using var app = Launch(variant, port);
            await Child.WaitForPortAsync(app, port, TimeSpan.FromSeconds(90));
            int? workerPid = variant.ViaEmulator ? WorkerPid(app, variant.Dll) ?? throw new InvalidOperationException($"{variant.Name}: no worker process under the emulator:\n{app.Output}") : null;
            var measuredPid = workerPid ?? app.Pid;
            using var http = LoadGenerator.CreateClient(port);
            await LoadGenerator.RunAsync(http, 16, TimeSpan.FromSeconds(o.WarmupSeconds), o.Turns, record: false);
            var phases = new List<PhaseResult>();
            foreach (var concurrency in o.Concurrency)
            {
                await using var monitor = new PhaseMonitor(measuredPid, workerPid is null ? null : app.Pid, azurite?.Child.Pid);
                var phase = await LoadGenerator.RunAsync(http, concurrency, TimeSpan.FromSeconds(o.DurationSeconds), o.Turns, record: true);
                phase.Resources = await monitor.StopAsync();
                phases.Add(phase);
                Log($"  c={concurrency}: {phase.All!.Rps} req/s, p50 {phase.All.P50Ms} ms, p99 {phase.All.P99Ms} ms, errors {phase.All.Errors}{(phase.ErrorKinds.Count == 0 ? string.Empty : " (" + string.Join(", ", phase.ErrorKinds.Select(kv => $"{kv.Key}: {kv.Value}")) + ")")}, RSS max {phase.Resources.MaxRssMiB} MiB (emulator {phase.Resources.HostMaxRssMiB} MiB)");
            }

            results.Load[variant.Name] = new TargetResult
            {
                Description = variant.Description,
                ViaEmulator = variant.ViaEmulator,
                Phases = phases,
                VmHwmMiB = ProcStats.Memory(measuredPid)?.Hwm is { } h ? Math.Round(h, 1) : null,
                HostVmHwmMiB = workerPid is null ? null : ProcStats.Memory(app.Pid)?.Hwm is { } hh ? Math.Round(hh, 1) : null,
            };
            if (app.Process.HasExited || (workerPid is { } w && ProcStats.Memory(w) is null))
            {
                throw new InvalidOperationException($"{variant.Name} died under load:\n{app.Output}");
            }
        }

        // Issue 21: session_end → notes stored, and session_end's answer with notes on vs off, side by side.
        if (o.Targets is null || o.Targets.Contains(NotesPhase.Target))
        {
            Log("notes: two app instances (notes on / off), each on its own Azurite with queues, a stand-in model");
            results.Notes = await NotesPhase.RunAsync(o, Folder("app"), AppSettings);
        }

        // Cold start: one Azurite for all; variants interleaved round-robin so machine noise hits all alike.
        Log("cold start");
        if (o.ColdRuns > 0)
        {
            using var azurite = await AzuriteProcess.StartAsync(o.Repo);
            var app = AppSettings(azurite.ConnectionString);
            AppVariant[] variants =
            [
                new("bare-worker", "floor: the bare isolated worker (http-floor), plain Release publish, under the emulator", Folder("http-floor"), "HttpFloor.dll", NoSettings),
                new("bare-worker-r2r", "the bare worker published with ReadyToRun (linux-x64), under the emulator", Folder("http-floor-r2r"), "HttpFloor.dll", NoSettings),
                new("storage-floor", "context: the bare worker + Azure.Data.Tables, one AddEntity (the SDK's own start-up cost)", Folder("storage-floor"), "StorageFloor.dll", new Dictionary<string, string> { ["Floor__ConnectionString"] = azurite.ConnectionString }),
                new("app", "the app, `dotnet publish -c Release` without a runtime: no ReadyToRun", Folder("app"), "VoiceFunctions.dll", app),
                new("app-r2r", "the app, `-r linux-x64` + ReadyToRun: what deploy.sh ships", Folder("app-r2r"), "VoiceFunctions.dll", app),
                new("direct-bare-web", "context: the old floor, `dotnet new web` + a no-op POST started directly (no emulator, no worker)", Folder("direct-http-floor"), "DirectHttpFloor.dll", NoSettings, ViaEmulator: false),
            ];
            // Experiments: other app builds (e.g. a patched copy) measured the same way: --extra-apps name=folder,…
            variants = [.. variants, .. o.ExtraApps.Select(e => new AppVariant(e.Key, $"experiment: app built from {e.Value}", e.Value, "VoiceFunctions.dll", app))];
            var runs = variants.ToDictionary(v => v.Name, _ => new List<ColdStartRun>());
            foreach (var variant in variants)
            {
                await ColdStart.MeasureAsync(variant, TimeSpan.FromSeconds(60)); // unrecorded: warms the page cache
            }

            for (var i = 0; i < o.ColdRuns; i++)
            {
                foreach (var variant in variants)
                {
                    runs[variant.Name].Add(await ColdStart.MeasureAsync(variant, TimeSpan.FromSeconds(60)));
                }
            }

            foreach (var variant in variants)
            {
                results.ColdStart[variant.Name] = ColdStartResult.From(variant.Description, variant.ViaEmulator, runs[variant.Name]);
                Log($"  {variant.Name}: median {results.ColdStart[variant.Name].MedianMs} ms");
            }
        }

        results.Machine.LoadAverageAtEnd = ProcStats.LoadAverage();
        results.WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1);
        return results;
    }

    public static void Log(string message) => Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");
}

public sealed record BenchOptions
{
    [JsonIgnore] public string Apps { get; init; } = string.Empty;
    [JsonIgnore] public string Repo { get; init; } = string.Empty;
    [JsonIgnore] public string Out { get; init; } = string.Empty;
    [JsonIgnore] public string? Commit { get; init; }
    [JsonIgnore] public string Emulator { get; init; } = string.Empty;
    public double DurationSeconds { get; init; } = 10;
    public double WarmupSeconds { get; init; } = 3;
    public int Turns { get; init; } = 4;
    public int ColdRuns { get; init; } = 7;
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 16, 64];

    /// <summary>Load targets to run (null: all); for quick looks, e.g. while profiling. <c>notes</c> is issue 21's phase.</summary>
    public IReadOnlyList<string>? Targets { get; init; }

    public static readonly string[] KnownTargets = ["direct-http-floor", "http-floor", "storage-floor", "storage-floor-batch", "app", NotesPhase.Target];

    /// <summary>Notes phase: call pairs (one to each instance) per schedule.</summary>
    public int NotesCalls { get; init; } = 50;

    /// <summary>Notes phase: how long the stand-in model takes to answer.</summary>
    public int NotesModelMs { get; init; } = 1500;

    /// <summary>Notes phase: one schedule per value, a call pair every so many ms (0: back to back).</summary>
    public IReadOnlyList<int> NotesPacingMs { get; init; } = [1000, 0];

    /// <summary>Notes phase: how often a call is read back while its notes are awaited.</summary>
    public int NotesPollMs { get; init; } = 500;

    /// <summary>Notes phase: how long after session_end's answer notes are awaited before the call counts as timed out.</summary>
    public int NotesTimeoutSeconds { get; init; } = 60;

    /// <summary>Experiments: extra environment variables for every emulator-started target (the CLI passes them on to the worker).</summary>
    public IReadOnlyDictionary<string, string> WorkerEnv { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra app publish folders for the cold-start comparison (name → folder).</summary>
    public IReadOnlyDictionary<string, string> ExtraApps { get; init; } = new Dictionary<string, string>();

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
            Emulator = Path.GetFullPath(map.GetValueOrDefault("--emulator") ?? Path.Combine(map.GetValueOrDefault("--apps") ?? ".", "functions-host", "FunctionsHost.dll")),
            DurationSeconds = Number("--duration", 10),
            WarmupSeconds = Number("--warmup", 3),
            Turns = (int)Number("--turns", 4),
            ColdRuns = (int)Number("--cold-runs", 7),
            Concurrency = map.TryGetValue("--concurrency", out var c) ? [.. c.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : [1, 16, 64],
            Targets = map.TryGetValue("--targets", out var t) ? t.Split(',') : null,
            WorkerEnv = map.TryGetValue("--worker-env", out var we)
                ? we.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1])
                : new Dictionary<string, string>(),
            NotesCalls = (int)Number("--notes-calls", 50),
            NotesModelMs = (int)Number("--notes-model-ms", 1500),
            NotesPacingMs = map.TryGetValue("--notes-pacing", out var np) ? [.. np.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : [1000, 0],
            NotesPollMs = (int)Number("--notes-poll-ms", 500),
            NotesTimeoutSeconds = (int)Number("--notes-timeout", 60),
            ExtraApps = map.TryGetValue("--extra-apps", out var x)
                ? x.Split(',').Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => Path.GetFullPath(kv[1]))
                : new Dictionary<string, string>(),
        };
        if (options.DurationSeconds is <= 0 or > 120 || options.WarmupSeconds is < 0 or > 60 || options.ColdRuns is < 0 or > 50 || options.Turns is < 1 or > 50 || options.Concurrency.Any(n => n is < 1 or > 256))
        {
            throw new ArgumentException("bounds: duration 0-120 s, warmup 0-60 s, cold-runs 0-50 (0 skips cold start), turns 1-50, concurrency 1-256");
        }

        if (options.NotesCalls is < 1 or > 500 || options.NotesModelMs is < 0 or > 30_000 || options.NotesPacingMs.Count == 0 || options.NotesPacingMs.Any(p => p is < 0 or > 10_000) ||
            options.NotesPollMs is < 50 or > 5_000 || options.NotesTimeoutSeconds is < 5 or > 600)
        {
            throw new ArgumentException("bounds: notes-calls 1-500, notes-model-ms 0-30000, notes-pacing 0-10000 each, notes-poll-ms 50-5000, notes-timeout 5-600 s");
        }

        if (options.Targets?.FirstOrDefault(t => !KnownTargets.Contains(t)) is { } unknown)
        {
            throw new ArgumentException($"unknown target {unknown}; known: {string.Join(", ", KnownTargets)}");
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
    public string Description { get; init; } = string.Empty;
    public bool ViaEmulator { get; init; }
    public required List<PhaseResult> Phases { get; init; }

    /// <summary>Of the worker (or of the app started directly).</summary>
    public double? VmHwmMiB { get; init; }

    /// <summary>Of the emulator process in front of the worker.</summary>
    public double? HostVmHwmMiB { get; init; }
}

public sealed class BenchResults
{
    public string GeneratedAtUtc { get; init; } = string.Empty;
    public required MachineInfo Machine { get; init; }
    public required BenchOptions Settings { get; init; }
    public double WallSeconds { get; set; }
    public Dictionary<string, TargetResult> Load { get; } = [];
    public Dictionary<string, ColdStartResult> ColdStart { get; } = [];

    /// <summary>Issue 21's notes phase; null when it did not run.</summary>
    public NotesResult? Notes { get; set; }
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
