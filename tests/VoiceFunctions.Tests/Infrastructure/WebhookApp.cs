using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>The real app on real Kestrel (loopback, free port) against a real Azurite.</summary>
public sealed class WebhookApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    /// <summary>Replaces services for one test (only what cannot run for real, e.g. the clock).</summary>
    public Action<IServiceCollection>? TestServices { get; init; }

    /// <param name="kestrel">False runs on the in-memory TestServer: only for start-up checks, whose
    /// exceptions the Kestrel mode of WebApplicationFactory hides behind an ObjectDisposedException.</param>
    public WebhookApp(Azurite azurite, IReadOnlyDictionary<string, string?>? overrides = null, bool usePersonas = true, bool kestrel = true)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        _settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["SessionStore:ConnectionString"] = azurite.ConnectionString,
            ["Spool:Path"] = Path.Combine(Path.GetTempPath(), "voicefunctions-test-spool-" + Guid.NewGuid().ToString("N")),

            // Behaviour tests read a call back right after its answers, so on a loaded machine an answer must not
            // go out before its recording is done. The 800 ms default is what FaultTests (and the published
            // handler) run with.
            ["Calls:ResponseBudget"] = "00:00:05",
        };
        if (usePersonas)
        {
            foreach (var (key, value) in TestPersonas.Settings)
            {
                _settings[key] = value;
            }
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }

        if (kestrel)
        {
            UseKestrel(0);
        }
    }

    /// <summary>Builds and starts the host; configuration errors surface here.</summary>
    public void Start() => _ = Server;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseEnvironment("Testing");
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(_settings));
        if (TestServices is { } configure)
        {
            builder.ConfigureTestServices(configure);
        }
    }

    public string SpoolPath => _settings["Spool:Path"]!;

    public CallClient Calls()
    {
        StartServer();
        return new CallClient(CreateClient());
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
