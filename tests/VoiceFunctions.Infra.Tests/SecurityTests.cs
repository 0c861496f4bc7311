using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>Security properties of the predicted resources (bicep snapshot) and the compiled ARM JSON.</summary>
public class SecurityTests
{
    private static Snapshot Snap => InfraArtifacts.Get().DefaultSnapshot;

    [Fact]
    public void Storage_account_is_locked_down()
    {
        var storage = Snap.Single("Microsoft.Storage/storageAccounts");
        var p = storage["properties"]!;
        Assert.Equal("StorageV2", (string?)storage["kind"]);
        Assert.Equal("TLS1_2", (string?)p["minimumTlsVersion"]);
        Assert.True((bool?)p["supportsHttpsTrafficOnly"]);
        Assert.False((bool?)p["allowBlobPublicAccess"]);
        Assert.False((bool?)p["allowSharedKeyAccess"]);
        Assert.True((bool?)p["defaultToOAuthAuthentication"]);
        Assert.All(Snap.OfType("Microsoft.Storage/storageAccounts/blobServices/containers"),
            c => Assert.Equal("None", (string?)c["properties"]!["publicAccess"]));
    }

    [Fact]
    public void Function_app_is_https_only_with_tls12_and_no_ftp()
    {
        var site = Snap.Single("Microsoft.Web/sites");
        var p = site["properties"]!;
        Assert.True((bool?)p["httpsOnly"]);
        Assert.Equal("1.2", (string?)p["siteConfig"]!["minTlsVersion"]);
        Assert.Equal("1.2", (string?)p["siteConfig"]!["scmMinTlsVersion"]);
    }

    [Fact]
    public void No_ftps_state_anywhere_because_flex_rejects_it()
    {
        // siteConfig.ftpsState fails validation on Flex Consumption in some regions (error 51021, West Europe).
        foreach (var (file, text) in InfraArtifacts.Get().CompiledTexts)
        {
            Assert.DoesNotContain("ftpsState", text, StringComparison.OrdinalIgnoreCase);
        }

        Assert.DoesNotContain("ftpsState", Snap.Text!, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Scm_basic_publishing_credentials_are_off_and_no_ftp_policy_is_sent()
    {
        var policies = Snap.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
            .ToDictionary(r => ((string)r["name"]!).Split('/')[^1], r => (bool?)r["properties"]!["allow"]);
        // Flex has no FTP endpoint; Kudu basic auth stays off (deployments use Entra tokens). docs/infra.md.
        Assert.Equal(["scm"], policies.Keys.Order());
        Assert.All(policies.Values, allow => Assert.False(allow));
    }

    [Fact]
    public void Application_insights_is_workspace_based_with_local_auth_disabled()
    {
        var ai = Snap.Single("Microsoft.Insights/components");
        Assert.True((bool?)ai["properties"]!["DisableLocalAuth"]);
        var workspace = Snap.Single("Microsoft.OperationalInsights/workspaces");
        Assert.Equal((string?)workspace["id"], (string?)ai["properties"]!["WorkspaceResourceId"]);
    }

    [Fact]
    public void Key_vault_uses_rbac_and_the_app_resolves_references_with_its_identity()
    {
        var vault = Snap.Single("Microsoft.KeyVault/vaults");
        Assert.True((bool?)vault["properties"]!["enableRbacAuthorization"]);
        var identity = Snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-");
        var site = Snap.Single("Microsoft.Web/sites");
        Assert.Equal((string?)identity["id"], (string?)site["properties"]!["keyVaultReferenceIdentity"]);
    }

    [Fact]
    public void No_account_keys_or_connection_strings_anywhere()
    {
        var infra = InfraArtifacts.Get();
        var texts = infra.CompiledTexts.Values.Append(infra.DefaultSnapshot.Text!).Append(infra.DeveloperSnapshot.Text!);
        foreach (var text in texts)
        {
            foreach (var forbidden in new[] { "listKeys", "listConnectionStrings", "AccountKey=", "DefaultEndpointsProtocol", "SharedAccessSignature", "InstrumentationKey=", "\"connectionStrings\"" })
            {
                Assert.DoesNotContain(forbidden, text, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    [Fact]
    public void Api_token_is_a_secure_parameter_that_no_output_references()
    {
        var main = InfraArtifacts.Get().CompiledMain!;
        Assert.Equal("securestring", (string?)main["parameters"]!["apiToken"]!["type"], ignoreCase: true);
        Assert.Null(main["parameters"]!["apiToken"]!["defaultValue"]);
        var outputs = main["outputs"]!.Raw();
        Assert.DoesNotContain("apiToken", outputs, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secureString", outputs, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Api_token_flows_only_into_the_key_vault_secret()
    {
        var snap = Snap;
        // bicep snapshot keeps secure values symbolic; the real value must not show up anywhere.
        Assert.DoesNotContain(BicepCli.FakeApiToken, snap.Text!, StringComparison.Ordinal);
        var holders = snap.Resources.Where(r => r.Raw().Contains("parameters('apiToken')", StringComparison.Ordinal)).ToList();
        var holder = Assert.Single(holders);
        Assert.Equal("Microsoft.KeyVault/vaults/secrets", (string?)holder["type"]);
        Assert.Equal("[parameters('apiToken')]", (string?)holder["properties"]!["value"]);

        // In the compiled template, only the keyvault module is handed the token, and it takes it as securestring.
        var main = InfraArtifacts.Get().CompiledMain!;
        var receivers = main["resources"]!.AsObject()
            .Where(r => r.Value!.Raw().Contains("parameters('apiToken')", StringComparison.Ordinal))
            .Select(r => r.Key)
            .ToArray();
        Assert.Equal(["keyVault"], receivers);
        var keyVaultTemplate = main["resources"]!["keyVault"]!["properties"]!["template"]!;
        Assert.Equal("securestring", (string?)keyVaultTemplate["parameters"]!["apiToken"]!["type"], ignoreCase: true);
        Assert.DoesNotContain("parameters('apiToken')", keyVaultTemplate["outputs"]!.Raw(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Outputs_are_the_app_name_host_name_and_a_keyless_webhook_url()
    {
        var outputs = Snap.Json!["outputs"]!.AsObject();
        Assert.True(outputs.ContainsKey("functionAppName"));
        Assert.True(outputs.ContainsKey("defaultHostName"));
        var webhook = outputs["webhookUrl"]!.Raw();
        Assert.Contains("https://", webhook, StringComparison.Ordinal);
        Assert.Contains("/api/events", webhook, StringComparison.Ordinal);
        Assert.DoesNotContain("code=", webhook, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("listKeys", outputs.Raw(), StringComparison.OrdinalIgnoreCase);
        var siteName = (string?)Snap.Single("Microsoft.Web/sites")["name"];
        Assert.Contains(siteName!, outputs["functionAppName"]!.Raw(), StringComparison.Ordinal);
    }
}
