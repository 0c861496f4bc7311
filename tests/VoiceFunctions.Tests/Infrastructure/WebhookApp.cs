using VoiceFunctions.FunctionsHost;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// The published worker (`dotnet publish src/VoiceFunctions`) under the Functions host emulator, against a real
/// Azurite: started the way the Functions host starts it (worker.config.json, gRPC handshake, every function
/// loaded from the worker's own metadata), every request proxied to the worker with its invocation. The settings
/// are the worker's environment, as app settings are in Azure. Only the emulator talks to the worker's own port.
/// </summary>
public sealed class WebhookApp : IAsyncDisposable
{
    /// <summary>The keys the emulator enforces when a test turns keys on (never real secrets).</summary>
    public const string FunctionKey = "test-function-key";
    public const string MasterKey = "test-master-key";

    private readonly Dictionary<string, string?> _settings;
    private readonly SemaphoreSlim _starting = new(1, 1);
    private FunctionsHostEmulator? _host;

    public WebhookApp(Azurite azurite, IReadOnlyDictionary<string, string?>? overrides = null, bool usePersonas = true)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        _settings = BaseSettings(azurite, usePersonas);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    /// <summary>True: the emulator checks function and admin keys like the Functions host in Azure (off by default, like `func start`).</summary>
    public bool EnforceKeys { get; init; }

    /// <summary>True: timer functions fire on their schedule (off by default: tests fire them on demand).</summary>
    public bool EnableTimers { get; init; }

    /// <summary>
    /// True: queue functions (CallNotes) run on their queue's messages. Off by default: every test call's end puts a notes
    /// request on the shared Azurite's queue, and only the notes tests want them run (on an Azurite of their own).
    /// </summary>
    public bool EnableQueues { get; init; }

    public string SpoolPath => _settings["Spool:Path"]!;

    public FunctionsHostEmulator Host => _host ?? throw new InvalidOperationException("The app has not been started.");

    /// <summary>Everything the emulator and the worker wrote so far (the worker's logs arrive as rpc_log).</summary>
    public string Output => _host?.Output ?? string.Empty;

    /// <summary>The settings every test app runs with; <paramref name="usePersonas"/> false leaves the personas out.</summary>
    public static Dictionary<string, string?> BaseSettings(Azurite azurite, bool usePersonas = true)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["AZURE_FUNCTIONS_ENVIRONMENT"] = "Production",
            ["SessionStore:ConnectionString"] = azurite.ConnectionString,
            // The host's own storage: the notes queue (issue 21) lives there, read by the CallNotes trigger.
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
            ["Spool:Path"] = Path.Combine(Path.GetTempPath(), "voicefunctions-test-spool-" + Guid.NewGuid().ToString("N")),
            ["RetentionSchedule"] = "0 0 3 * * *",

            // Most tests are about calls, not the token; AuthTests and StartupTests cover the secure default.
            ["AiFlow:RequireApiToken"] = "false",

            // Behaviour tests read a call back right after its answers, so on a loaded machine an answer must not
            // go out before its recording is done. The 800 ms default is what FaultTests run with.
            ["Calls:ResponseBudget"] = "00:00:05",

            // The gated persona runs on the pipeline, which needs a chat model. Nothing listens here, so a turn gets
            // the apology; PipelineChatTests point it at the stand-in model instead. A key, so no Entra ID token is tried.
            ["ChatModel:Endpoint"] = "http://127.0.0.1:9/",
            ["ChatModel:Deployment"] = "no-model",
            ["ChatModel:ApiKey"] = "unused-test-key",
        };
        if (usePersonas)
        {
            foreach (var (key, value) in TestPersonas.Settings)
            {
                settings[key] = value;
            }
        }

        return settings;
    }

    /// <summary>Publishes (once per run), starts the emulator and the worker; returns when every function is loaded.</summary>
    public async Task StartAsync()
    {
        await _starting.WaitAsync().ConfigureAwait(false);
        try
        {
            _host ??= await FunctionsHostEmulator.StartAsync(Options(await PublishedWorker.FolderAsync().ConfigureAwait(false))).ConfigureAwait(false);
        }
        finally
        {
            _starting.Release();
        }
    }

    private FunctionsHostOptions Options(string appFolder) => new()
    {
        AppFolder = appFolder,
        Settings = _settings,
        InheritEnvironment = false,
        FunctionKey = EnforceKeys ? FunctionKey : null,
        MasterKey = EnforceKeys ? MasterKey : null,
        EnableTimers = EnableTimers,
        EnableQueues = EnableQueues,
        StartTimeout = TimeSpan.FromSeconds(90),
        // A crashed worker is restarted as the host does, without the host's 10 s between restarts.
        WorkerRestartInterval = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>A client on the emulator's HTTP front (keys added by the caller when <see cref="EnforceKeys"/> is on).</summary>
    public CallClient Calls()
    {
        // Off the test's synchronization context: the start is async all the way down.
        Task.Run(StartAsync).GetAwaiter().GetResult();
        return new CallClient(new HttpClient { BaseAddress = Host.BaseAddress, Timeout = TimeSpan.FromSeconds(30) });
    }

    /// <summary>Runs a non-HTTP function now (the host's admin invocation) and waits for its outcome.</summary>
    public async Task<InvocationOutcome> InvokeAsync(string functionName)
    {
        await StartAsync().ConfigureAwait(false);
        return await Host.InvokeAsync(functionName).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="test"/>; a failure carries the end of each app's log (the worker's errors above all): a
    /// race inside a worker under load has no other account once the test is over.
    /// </summary>
    public static async Task WithLogsOnFailureAsync(Func<Task> test, params WebhookApp[] apps)
    {
        ArgumentNullException.ThrowIfNull(test);
        try
        {
            await test().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var logs = string.Join("\n", apps.Select((app, i) => $"--- instance {i + 1} ---\n{Tail(app.Output)}"));
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n{logs}", ex);
        }

        static string Tail(string output) => output.Length <= 6000 ? output : output[^6000..];
    }

    /// <summary>Resident set size of the worker process now, from /proc (Linux).</summary>
    public long WorkerRssBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{Host.WorkerProcessId}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
        }

        _starting.Dispose();
    }
}

/// <summary>The personas every integration test runs with.</summary>
public static class TestPersonas
{
    public const string DefaultPrompt = "You are the test assistant of VoiceFunctions.";
    public const string DefaultGreeting = "Hello from the test.";
    public const string TransferTarget = "+4921100000000";
    public const string GermanNumber = "+4921155660";
    public const string GermanPrompt = "Du bist der Testassistent.";
    public const string GatedNumber = "4930123456";
    public const string GatedGreeting = "Welcome to the pipeline.";

    public static IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>
    {
        ["Personas:default:SystemPrompt"] = DefaultPrompt,
        ["Personas:default:Greeting"] = DefaultGreeting,
        ["Personas:default:Language"] = "en",
        ["Personas:default:Temperature"] = "0.5",
        ["Personas:default:Pipeline:Provider"] = "AZURE",
        ["Personas:default:Pipeline:Languages:0"] = "en-US",
        ["Personas:default:Escalation:DtmfDigits"] = "0",
        ["Personas:default:Escalation:Keywords:0"] = "human",
        ["Personas:default:Escalation:Keywords:1"] = "real person",
        ["Personas:default:Escalation:TransferTarget"] = TransferTarget,
        ["Personas:default:Escalation:CallerIdName"] = "Test Desk",
        ["Personas:default:Escalation:HandoffLine"] = "Connecting you now.",

        ["Personas:german:PhoneNumbers:0"] = GermanNumber,
        ["Personas:german:SystemPrompt"] = GermanPrompt,
        ["Personas:german:Greeting"] = "Guten Tag.",
        ["Personas:german:Language"] = "de",
        ["Personas:german:Pipeline:Provider"] = "AZURE",
        ["Personas:german:Pipeline:Languages:0"] = "de-DE",
        ["Personas:german:Escalation:Keywords:0"] = "Mitarbeiter",
        ["Personas:german:Escalation:NoAgentLine"] = "Leider ist niemand erreichbar.",

        ["Personas:gated:PhoneNumbers:0"] = GatedNumber,
        ["Personas:gated:VoiceToVoice"] = "false",
        ["Personas:gated:SystemPrompt"] = "Unused while voice-to-voice is off.",
        ["Personas:gated:Greeting"] = GatedGreeting,
        ["Personas:gated:Pipeline:Provider"] = "DEEPGRAM",
        ["Personas:gated:Pipeline:Languages:0"] = "de-DE",
        ["Personas:gated:Escalation:DtmfDigits"] = "9",
        ["Personas:gated:Escalation:TransferTarget"] = "+4930999",
    };
}
