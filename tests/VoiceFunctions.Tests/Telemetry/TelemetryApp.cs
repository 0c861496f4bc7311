using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// The app on Kestrel with its settings given as host settings (<c>UseSetting</c>): unlike
/// <c>ConfigureAppConfiguration</c> in a factory, they are visible while Program.cs registers services, which is
/// where the connection string decides whether Application Insights is wired at all.
/// </summary>
public sealed class TelemetryApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings = new(StringComparer.OrdinalIgnoreCase);

    public TelemetryApp(Azurite azurite, IReadOnlyDictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        ArgumentNullException.ThrowIfNull(settings);
        _settings["SessionStore:ConnectionString"] = azurite.ConnectionString;
        _settings["Spool:Path"] = Path.Combine(Path.GetTempPath(), "voicefunctions-test-spool-" + Guid.NewGuid().ToString("N"));

        // These tests look at what is exported, not at the deadline: a loaded machine must not turn an
        // answer into a late one, whose recording (and its events) finishes after the request.
        _settings["Calls:ResponseBudget"] = "00:00:05";
        foreach (var (key, value) in TestPersonas.Settings.Concat(settings))
        {
            _settings[key] = value;
        }

        UseKestrel(0);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }

    public CallClient Calls()
    {
        StartServer();
        return new CallClient(CreateClient());
    }
}
