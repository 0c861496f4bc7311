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

        // Issue 23, item 4: a value the binder cannot read, or reads into nonsense, is an error naming the setting.
        { "Calls:ResponseBudget", "fast", "Calls:ResponseBudget is not a valid time span" },
        { "AiFlow:MaxBodyBytes", "big", "AiFlow:MaxBodyBytes is not a valid whole number" },
        { "Retention:Days", "thirty", "Retention:Days is not a valid whole number" },
        { "AiFlow:RequireApiToken", "maybe", "AiFlow:RequireApiToken is not a valid boolean" },
        { "Personas:german:Temperature", "hot", "Personas:german:Temperature is not a valid number" },
        { "SessionStore:TableServiceUri", "not a uri", "SessionStore:TableServiceUri must be an absolute URI" },
        { "RetentionSchedule", "every day", "RetentionSchedule is not a schedule the Functions host accepts" },
        { "Retention:Days", "99999999", "Retention:Days must be between 1 and 3650" },
        { "AiFlow:ApiToken", "   ", "AiFlow:ApiToken is blank or has white space around it" },
        { "AiFlow:ApiToken", " token-pasted-with-a-space", "AiFlow:ApiToken is blank or has white space around it" },
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
    /// Issue 19, item 1: two or more failures crashed start-up with an unhandled AggregateException (exit 134, a stack
    /// trace). Now every failure is a line of standard error that the real host logs as an error, and the exit code is 1.
    /// The worker is started directly (as the host starts it, without a host to connect to: the check runs first) so
    /// that its standard error is read apart from its standard output, as the host reads it.
    /// </summary>
    [Fact]
    public async Task Several_invalid_settings_are_each_a_line_the_host_logs_as_an_error_and_the_exit_code_is_1()
    {
        var settings = Settings();
        settings["AiFlow:ApiToken"] = "";
        settings.Remove("AiFlow:RequireApiToken");
        settings.Remove("RetentionSchedule");
        settings["Calls:ResponseBudget"] = "fast";
        settings["Personas:german:Temperature"] = "hot";
        settings["AiFlow:MaxBodyBytes"] = "10";

        var (exitCode, standardOutput, standardError) = await RunWorkerAloneAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("AiFlow:ApiToken is empty", standardError, StringComparison.Ordinal);
        Assert.Contains("RetentionSchedule is required", standardError, StringComparison.Ordinal);
        Assert.Contains("Calls:ResponseBudget is not a valid time span", standardError, StringComparison.Ordinal);
        Assert.Contains("Personas:german:Temperature is not a valid number", standardError, StringComparison.Ordinal);
        Assert.Contains("AiFlow:MaxBodyBytes must be between", standardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", standardOutput + standardError, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", standardOutput + standardError, StringComparison.Ordinal);
        var lines = standardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length >= 6, standardError);
        Assert.All(lines, line => Assert.True(HostLogsAsError(line), $"The host would not log this line as an error: {line}"));
    }

    /// <summary>
    /// How the Functions host classifies a line of a worker's standard error (Azure/azure-functions-host,
    /// src/WebJobs.Script/Workers/ProcessManagement/WorkerProcess.cs, ParseErrorMessageAndLog, commit 89dc438d):
    /// "warn" makes it a warning; otherwise "error", "fail", "severe" or "unhandled exception" an error; else information.
    /// </summary>
    private static bool HostLogsAsError(string line) =>
        !line.Contains("warn", StringComparison.OrdinalIgnoreCase)
        && (line.Contains("error", StringComparison.OrdinalIgnoreCase)
            || line.Contains("fail", StringComparison.OrdinalIgnoreCase)
            || line.Contains("severe", StringComparison.OrdinalIgnoreCase)
            || line.Contains("unhandled exception", StringComparison.OrdinalIgnoreCase));

    /// <summary>Issue 23, item 6: such a folder was tightened to 0700 but stayed its creator's, and a file planted there was replayed into a call.</summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_spool_folder_another_local_user_created_stops_the_app_with_a_message_naming_it()
    {
        var folder = Path.Combine(Path.GetTempPath(), "voicefunctions-foreign-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            File.SetUnixFileMode(folder, (UnixFileMode)0b111_111_111);
            Calls.SessionSpoolTests.Chown(folder, 54321);
            var settings = Settings();
            settings["Spool:Path"] = folder;

            var (exitCode, output) = await RunUntilExitAsync(settings);

            Assert.Equal(1, exitCode);
            Assert.Contains("configuration is invalid", output, StringComparison.Ordinal);
            Assert.Contains($"Spool:Path ({folder}) cannot be used: it is owned by another user (uid 54321", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.Equal((UnixFileMode)0b111_111_111, File.GetUnixFileMode(folder)); // not taken over, not written to
            Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
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
        settings.Remove("AzureWebJobsStorage"); // the fallback (and, since issue 21, the notes queue's storage)

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("AzureWebJobsStorage", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_notes_on_the_host_storage_is_required_and_a_notes_webhook_needs_its_secret()
    {
        var settings = Settings();
        settings.Remove("AzureWebJobsStorage");
        settings["Personas:default:Notes:WebhookUrl"] = "https://crm.example/notes";
        settings["Personas:default:Notes:Reasons:0"] = "Not A Reason";

        var (exitCode, output) = await RunUntilExitAsync(settings);

        Assert.Equal(1, exitCode);
        Assert.Contains("Notes: set AzureWebJobsStorage", output, StringComparison.Ordinal);
        Assert.Contains("Personas:default:Notes:WebhookSecret is required when WebhookUrl is set", output, StringComparison.Ordinal);
        Assert.Contains("Personas:default:Notes:Reasons entries must be", output, StringComparison.Ordinal);
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

    /// <summary>
    /// `dotnet VoiceFunctions.dll` with the host's arguments and the settings as environment variables (as the host
    /// passes app settings), nothing listening on the gRPC port: for a worker that must end before it connects.
    /// </summary>
    private static async Task<(int ExitCode, string StandardOutput, string StandardError)> RunWorkerAloneAsync(Dictionary<string, string?> settings)
    {
        var folder = await PublishedWorker.FolderAsync();
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(folder, "VoiceFunctions.dll"));
        foreach (var argument in new[] { "--functions-uri", "http://127.0.0.1:9/", "--functions-worker-id", Guid.NewGuid().ToString(), "--functions-request-id", Guid.NewGuid().ToString(), "--functions-grpc-max-message-length", "2147483647" })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || k.StartsWith("DOTNET_ENVIRONMENT", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        start.Environment["FUNCTIONS_WORKER_DIRECTORY"] = folder;
        start.Environment["FUNCTIONS_APPLICATION_DIRECTORY"] = folder;
        foreach (var (key, value) in settings)
        {
            var name = key.Replace(":", "__", StringComparison.Ordinal);
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await errors);
    }

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
