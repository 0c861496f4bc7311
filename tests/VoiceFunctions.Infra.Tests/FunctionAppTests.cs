using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>Flex Consumption plan/site shape and the app settings contract the handler reads at start-up.</summary>
public class FunctionAppTests
{
    private static Snapshot Snap => InfraArtifacts.Get().DefaultSnapshot;

    private static JsonObject Settings => Snap.Single("Microsoft.Web/sites/config")["properties"]!.AsObject();

    /// <summary>Every key src/VoiceFunctions needs (docs/infra.md "App settings contract").</summary>
    public static TheoryData<string> RequiredSettings =>
    [
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__queueServiceUri",
        "Notes__Enabled",
        "Notes__IdleAfter",
        "SessionStore__TableServiceUri",
        "SessionStore__ClientId",
        "SessionStore__TableName",
        "RetentionSchedule",
        "AiFlow__ApiToken",
        "Personas__default__SystemPrompt",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "ChatModel__Endpoint",
        "ChatModel__Deployment",
        "ChatModel__ClientId",
    ];

    [Theory]
    [MemberData(nameof(RequiredSettings))]
    public void Required_app_setting_is_provided_and_not_empty(string key)
    {
        Assert.True(Settings.ContainsKey(key), $"app setting {key} missing; got {string.Join(", ", Settings.Select(s => s.Key))}");
        Assert.False(string.IsNullOrWhiteSpace(Settings[key]?.ToString()), key);
    }

    [Fact]
    public void Storage_settings_are_identity_based_and_point_at_the_templates_account_and_identity()
    {
        var s = Settings;
        var storage = (string)Snap.Single("Microsoft.Storage/storageAccounts")["name"]!;
        var identity = (string)Snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-")["name"]!;
        Assert.Equal(storage, (string?)s["AzureWebJobsStorage__accountName"]);
        Assert.Equal("managedidentity", (string?)s["AzureWebJobsStorage__credential"]);
        Assert.False(s.ContainsKey("AzureWebJobsStorage"), "no connection-string host storage");
        Assert.False(s.ContainsKey("SessionStore__ConnectionString"), "no connection-string session store");
        foreach (var key in new[] { "AzureWebJobsStorage__clientId", "SessionStore__ClientId" })
        {
            var value = (string)s[key]!;
            Assert.Contains($"userAssignedIdentities/{identity}'", value, StringComparison.Ordinal);
            Assert.EndsWith(".clientId]", value, StringComparison.Ordinal);
        }

        var table = (string)s["SessionStore__TableServiceUri"]!;
        Assert.Contains($"storageAccounts/{storage}'", table, StringComparison.Ordinal);
        Assert.EndsWith(".primaryEndpoints.table]", table, StringComparison.Ordinal);
        Assert.Equal("VoiceSessions", (string?)s["SessionStore__TableName"]);
        Assert.Contains(Snap.OfType("Microsoft.Storage/storageAccounts/tableServices/tables"), t => ((string)t["name"]!).EndsWith("/VoiceSessions", StringComparison.Ordinal));
    }

    [Fact]
    public void Telemetry_settings_use_entra_auth_with_the_apps_identity()
    {
        var auth = (string)Settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]!;
        Assert.StartsWith("[format('ClientId={0};Authorization=AAD'", auth, StringComparison.Ordinal);
        Assert.Contains(".clientId)]", auth, StringComparison.Ordinal);
        Assert.EndsWith(".ConnectionString]", (string)Settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Api_token_setting_is_a_key_vault_reference()
    {
        var value = (string)Settings["AiFlow__ApiToken"]!;
        Assert.StartsWith("[format('@Microsoft.KeyVault(SecretUri={0})'", value, StringComparison.Ordinal);
        Assert.Contains("vaultUri", value, StringComparison.Ordinal);
        Assert.DoesNotContain(BicepCli.FakeApiToken, value, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_persona_comes_from_the_parameters_file()
    {
        var s = Settings;
        Assert.StartsWith("Du bist", (string?)s["Personas__default__SystemPrompt"], StringComparison.Ordinal);
        Assert.Equal("de-DE", (string?)s["Personas__default__Language"]);
        // .NET's configuration binder reads "false"; keep the canonical spelling.
        Assert.Equal("false", (string?)s["Personas__default__VoiceToVoice"]);
    }

    [Fact]
    public void Settings_flex_forbids_are_absent()
    {
        // Flex Consumption rejects or ignores these; runtime/version live in functionAppConfig instead.
        foreach (var key in new[]
        {
            "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION",
            "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
            "WEBSITE_NODE_DEFAULT_VERSION", "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD",
            "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        })
        {
            Assert.False(Settings.ContainsKey(key), $"{key} must not be set on Flex Consumption");
        }

        var siteConfig = Snap.Single("Microsoft.Web/sites")["properties"]!["siteConfig"]!.AsObject();
        foreach (var prop in FlexForbiddenSiteConfig.Append("appSettings"))
        {
            Assert.False(siteConfig.ContainsKey(prop), $"siteConfig.{prop} is not for Flex Consumption (or is owned by sites/config)");
        }
    }

    /// <summary>siteConfig properties Flex Consumption rejects or ignores (docs/infra.md, "Forbidden on Flex").</summary>
    public static readonly string[] FlexForbiddenSiteConfig =
        ["alwaysOn", "linuxFxVersion", "netFrameworkVersion", "functionAppScaleLimit", "preWarmedInstanceCount", "ftpsState", "use32BitWorkerProcess", "javaVersion", "powerShellVersion", "nodeVersion", "pythonVersion"];

    [Fact]
    public void Forbidden_site_properties_listed_in_docs_match_the_tests()
    {
        var doc = File.ReadAllText(Path.Combine(BicepCli.InfraDirectory, "..", "docs", "infra.md"));
        var section = doc[doc.IndexOf("## Forbidden on Flex", StringComparison.Ordinal)..];
        foreach (var prop in FlexForbiddenSiteConfig)
        {
            Assert.Contains($"`{prop}`", section, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Nothing_of_the_custom_handler_remains()
    {
        foreach (var (file, text) in InfraArtifacts.Get().CompiledTexts)
        {
            Assert.DoesNotContain("customHandler", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", text, StringComparison.Ordinal);
            Assert.DoesNotContain("'custom'", text, StringComparison.Ordinal);
            Assert.DoesNotContain("\"custom\"", text, StringComparison.Ordinal);
        }

        Assert.Null(InfraArtifacts.Get().CompiledMain!["parameters"]!["runtimeName"]);
    }

    [Fact]
    public void Plan_is_flex_consumption_fc1_on_linux()
    {
        var plan = Snap.Single("Microsoft.Web/serverfarms");
        Assert.Equal("FC1", (string?)plan["sku"]!["name"]);
        Assert.Equal("FlexConsumption", (string?)plan["sku"]!["tier"]);
        Assert.True((bool?)plan["properties"]!["reserved"]);
        var site = Snap.Single("Microsoft.Web/sites");
        Assert.Equal("functionapp,linux", (string?)site["kind"]);
        Assert.Equal((string?)plan["id"], (string?)site["properties"]!["serverFarmId"]);
    }

    [Fact]
    public void Runtime_is_dotnet_isolated_10()
    {
        var runtime = Snap.Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["runtime"]!;
        Assert.Equal("dotnet-isolated", (string?)runtime["name"]);
        Assert.Equal("10.0", (string?)runtime["version"]);
    }

    [Fact]
    public void Deployment_package_storage_uses_the_user_assigned_identity()
    {
        var site = Snap.Single("Microsoft.Web/sites");
        var storage = site["properties"]!["functionAppConfig"]!["deployment"]!["storage"]!;
        var identity = Snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-");
        Assert.Equal("blobContainer", (string?)storage["type"]);
        Assert.Equal("UserAssignedIdentity", (string?)storage["authentication"]!["type"]);
        Assert.Equal((string?)identity["id"], (string?)storage["authentication"]!["userAssignedIdentityResourceId"]);
        var container = Snap.Single("Microsoft.Storage/storageAccounts/blobServices/containers");
        var containerName = ((string)container["name"]!).Split('/')[^1];
        Assert.Contains($"'{containerName}')]", (string?)storage["value"], StringComparison.Ordinal);
        Assert.True(site["identity"]!["userAssignedIdentities"]!.AsObject().ContainsKey((string)identity["id"]!));
        Assert.Equal("UserAssigned", (string?)site["identity"]!["type"]);
    }

    [Fact]
    public void One_always_ready_http_instance_by_default_and_scale_is_parameterised()
    {
        var scale = Snap.Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!;
        var alwaysReady = Assert.Single(scale["alwaysReady"]!.AsArray());
        Assert.Equal("http", (string?)alwaysReady!["name"]);
        Assert.Equal(1, (int?)alwaysReady["instanceCount"]);

        var parameters = InfraArtifacts.Get().CompiledMain!["parameters"]!;
        Assert.Equal(1, (int?)parameters["alwaysReadyHttpInstances"]!["defaultValue"]);
        Assert.NotNull(parameters["instanceMemoryMB"]);
        Assert.NotNull(parameters["maximumInstanceCount"]);
        Assert.Equal((int?)scale["instanceMemoryMB"], (int?)parameters["instanceMemoryMB"]!["defaultValue"]);
        Assert.Equal((int?)scale["maximumInstanceCount"], (int?)parameters["maximumInstanceCount"]!["defaultValue"]);
    }
}
