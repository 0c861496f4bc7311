using VoiceFunctions.FunctionsHost;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// Configuration is validated at start-up: the published worker, started by the host emulator with a bad setting,
/// exits with 1 before it loads a function and names the setting; it never serves calls with a broken persona.
/// </summary>
public sealed class StartupTests(Azurite azurite)
{
    private const string NotAConnectionString = "this-is-not-a-connection-string-but-could-be-a-secret";

    public static TheoryData<string, string?, string> BadSettings => new()
    {
        { "Personas:default:SystemPrompt", "", "Personas:default:SystemPrompt is required" },
        { "Personas:default:Temperature", "2.5", "Personas:default:Temperature must be between 0 and 2" },
        { "Personas:default:Language", "not a language", "Personas:default:Language" },
        { "Personas:default:Pipeline:Provider", "GOOGLE", "Personas:default:Pipeline: provider" },
        { "Personas:german:PhoneNumbers:0", TestPersonas.GatedNumber, "also listed by persona" },
        { "Personas:default:Escalation:DtmfDigits", "0x", "DtmfDigits" },
        { "Personas:default:Escalation:TransferTimeoutSeconds", "3", "TransferTimeoutSeconds must be between 5 and 120" },
        { "Personas:gated:Greeting", "", "Greeting is required when VoiceToVoice is false" },
        { "SessionStore:TableName", "no-dashes", "SessionStore:TableName" },
        { "SessionStore:ConnectionString", NotAConnectionString, "SessionStore:ConnectionString is not a valid" },
        { "AiFlow:MaxBodyBytes", "10", "AiFlow:MaxBodyBytes" },
        { "RetentionSchedule", "", "RetentionSchedule is required" },
        { "ChatModel:Endpoint", "", "ChatModel:Endpoint is required: persona 'gated' runs on the pipeline" },
        { "ChatModel:Deployment", "", "ChatModel:Deployment is required (or Personas:gated:Chat:Deployment)" },
        { "ChatModel:ReasoningEffort", "maximal", "ChatModel:ReasoningEffort must be one of none, minimal, low, medium, high, xhigh" },
        { "Personas:gated:Chat:MaxFailures", "0", "Personas:gated:Chat:MaxFailures must be between 1 and 10" },
        { "Spool:ReplayInterval", "01:00:00", "Spool:ReplayInterval must be between" },
    };

    /// <summary>What App Service hands the app when it cannot resolve a Key Vault reference.</summary>
    private const string UnresolvedReference = "@Microsoft.KeyVault(SecretUri=https://kv-voicefunctions-abc.vault.azure.net/secrets/aiflow-api-token/)";

    [Theory]
    [InlineData("AiFlow:ApiToken")]
    [InlineData("SessionStore:ConnectionString")]
    public async Task A_setting_holding_an_unresolved_key_vault_reference_stops_the_app(string key)
    {
        var settings = Settings();
        settings[key] = UnresolvedReference;

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains($"{key} holds an unresolved Key Vault reference", output, StringComparison.Ordinal);
        Assert.DoesNotContain("kv-voicefunctions-abc", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task Outside_development_an_empty_api_token_stops_the_app_unless_allowed(string? token)
    {
        var settings = Settings();
        settings["AiFlow:ApiToken"] = token;
        settings.Remove("AiFlow:RequireApiToken");

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("AiFlow:ApiToken is empty", output, StringComparison.Ordinal);
        Assert.Contains("AiFlow:RequireApiToken=false", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Production", "false")]
    [InlineData("Development", null)]
    public async Task An_empty_api_token_is_accepted_when_allowed_or_in_development(string environment, string? requireToken)
    {
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?>
        {
            ["AZURE_FUNCTIONS_ENVIRONMENT"] = environment,
            ["AiFlow:ApiToken"] = null,
            ["AiFlow:RequireApiToken"] = requireToken,
        });
        using var calls = app.Calls();

        Assert.Single(await calls.StartAsync(CallClient.NewSessionId()));
    }

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task An_invalid_setting_stops_the_app_with_a_message_naming_it(string key, string? value, string message)
    {
        var settings = Settings();
        settings[key] = value;

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("configuration is invalid", output, StringComparison.Ordinal);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain(NotAConnectionString, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    /// <summary>Issue 15, item 10: these crashed start-up with a stack trace (the spool created its folder in its constructor).</summary>
    [Theory]
    [InlineData("{file}", "is a file")]
    [InlineData("{file}/spool", "cannot be created or written")]
    [InlineData("/proc/voicefunctions-spool", "kernel file system")]
    [InlineData("/sys/voicefunctions-spool", "kernel file system")]
    public async Task An_unusable_spool_path_stops_the_app_with_a_message_naming_it(string path, string message)
    {
        var file = Path.GetTempFileName();
        try
        {
            var settings = Settings();
            settings["Spool:Path"] = path.Replace("{file}", file, StringComparison.Ordinal);

            var (exitCode, output) = await RunUntilExitAsync(settings);

            Assert.Equal(1, exitCode);
            Assert.Contains("configuration is invalid", output, StringComparison.Ordinal);
            Assert.Contains("Spool:Path", output, StringComparison.Ordinal);
            Assert.Contains(message, output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// Issue 23, item 9: a spool folder that exists but cannot be written (a read-only disk) does not stop the webhook
    /// while storage works: it starts, says so in an error line naming the setting, and stores calls as usual.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_spool_folder_that_cannot_be_written_at_start_does_not_stop_the_webhook()
    {
        var spool = Path.Combine(Path.GetTempPath(), "readonly-spool-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(spool);
        File.SetUnixFileMode(spool, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var immutable = Environment.UserName == "root" && RunChattr("+i", spool); // root writes past file modes: as a read-only mount does
        try
        {
            try
            {
                File.WriteAllText(Path.Combine(spool, "probe"), "x");
                Assert.Skip("This machine cannot make a folder unwritable for the test's user.");
            }
            catch (UnauthorizedAccessException)
            {
            }

            var settings = new Dictionary<string, string?> { ["Spool:Path"] = spool };
            await using var app = new WebhookApp(azurite, settings);
            using var calls = app.Calls();
            var id = CallClient.NewSessionId();
            await calls.StartAsync(id);
            await calls.SayAsync(id, "stored although the spool disk is read-only");

            var session = await calls.GetSessionAsync(id);
            Assert.Equal(1, session.GetProperty("turn_count").GetInt32());
            Assert.Contains($"Spool:Path ({spool}) cannot be written", app.Output, StringComparison.Ordinal);
        }
        finally
        {
            if (immutable)
            {
                RunChattr("-i", spool);
            }

            File.SetUnixFileMode(spool, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(spool, recursive: true);
        }
    }

    private static bool RunChattr(string flag, string path)
    {
        try
        {
            using var chattr = System.Diagnostics.Process.Start("chattr", [flag, path]);
            chattr.WaitForExit();
            return chattr.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no chattr here
        }
    }

    [Fact]
    public async Task Without_any_persona_the_app_asks_for_a_default_one()
    {
        var settings = Settings();
        foreach (var key in settings.Keys.Where(k => k.StartsWith("Personas:", StringComparison.Ordinal)).ToList())
        {
            settings.Remove(key);
        }

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("a persona named 'default' is required", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_store_setting_the_app_names_the_settings_it_accepts()
    {
        var settings = Settings();
        settings.Remove("SessionStore:ConnectionString");

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("AzureWebJobsStorage", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AzureWebJobsStorage_is_the_fallback_store()
    {
        await using var app = new WebhookApp(azurite, new Dictionary<string, string?>
        {
            ["SessionStore:ConnectionString"] = null,
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
        });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();

        await calls.StartAsync(id);

        Assert.Equal("voice_to_voice", (await calls.GetSessionAsync(id)).GetProperty("mode").GetString());
    }

    private Dictionary<string, string?> Settings() => WebhookApp.BaseSettings(azurite);

    private static async Task<(int ExitCode, string Output)> RunUntilExitAsync(Dictionary<string, string?> settings)
    {
        var options = new FunctionsHostOptions
        {
            AppFolder = await PublishedWorker.FolderAsync(),
            Settings = settings,
            StartTimeout = TimeSpan.FromSeconds(60),
            // The emulator starts a failing worker 3 times, as the host does; not the host's 10 s apart.
            WorkerRestartInterval = TimeSpan.FromMilliseconds(100),
        };
        var failure = await Assert.ThrowsAsync<FunctionsHostStartException>(async () =>
        {
            await using var host = await FunctionsHostEmulator.StartAsync(options);
        });
        return (failure.WorkerExitCode ?? -1, failure.Message + "\n" + failure.WorkerOutput);
    }
}
