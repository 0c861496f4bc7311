using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// The pipeline's chat model (issue 12): an Azure OpenAI account with Entra ID only and one model deployment, or an
/// existing resource's endpoint; the app reaches it with its managed identity, and no key is anywhere.
/// </summary>
public class ChatModelInfraTests
{
    private const string AccountType = "Microsoft.CognitiveServices/accounts";
    private const string DeploymentType = "Microsoft.CognitiveServices/accounts/deployments";

    private static JsonObject SettingsOf(Snapshot snap) => snap.Single("Microsoft.Web/sites/config")["properties"]!.AsObject();

    [Fact]
    public void By_default_an_openai_account_without_local_auth_and_with_its_own_subdomain_is_created()
    {
        var snap = InfraArtifacts.Get().DefaultSnapshot;

        var account = snap.Single(AccountType, "oai-voice-");
        var name = (string)account["name"]!;
        Assert.Equal("OpenAI", (string?)account["kind"]);
        Assert.Equal("S0", (string?)account["sku"]!["name"]);
        Assert.True((bool)account["properties"]!["disableLocalAuth"]!);
        Assert.Equal(name, (string?)account["properties"]!["customSubDomainName"]);
        Assert.Equal("westeurope", (string?)account["location"]);
    }

    [Fact]
    public void The_model_deployment_takes_name_version_sku_and_capacity_from_the_parameters()
    {
        var snap = InfraArtifacts.Get().DefaultSnapshot;

        var deployment = snap.Single(DeploymentType);

        Assert.EndsWith("/chat", (string)deployment["name"]!, StringComparison.Ordinal);
        Assert.Equal("GlobalStandard", (string?)deployment["sku"]!["name"]);
        Assert.Equal(30, (int)deployment["sku"]!["capacity"]!);
        var model = deployment["properties"]!["model"]!;
        // GA and open to new customers on 2026-12-06 (Learn "Model retirement schedule", updated 2026-09-02: retiring
        // 2027-09-02); gpt-5.2 may take no new customers from 2026-12-12, gpt-4o-mini 2024-07-18 is retired (docs/infra.md).
        Assert.Equal(("OpenAI", "gpt-5.4", "2026-03-05"), ((string?)model["format"], (string?)model["name"], (string?)model["version"]));
    }

    [Fact]
    public void The_created_model_is_asked_as_a_reasoning_model_and_an_existing_one_is_learned()
    {
        Assert.Equal("Reasoning", (string?)SettingsOf(InfraArtifacts.Get().DefaultSnapshot)["ChatModel__Family"]);
        Assert.Equal("Auto", (string?)SettingsOf(InfraArtifacts.Get().ExistingOpenAiSnapshot)["ChatModel__Family"]);
    }

    [Fact]
    public void Without_a_chat_model_nothing_is_created_and_no_chat_model_setting_is_written()
    {
        var snap = InfraArtifacts.Get().NoChatModelSnapshot;
        Assert.True(snap.Json is not null, snap.Result.ToString());

        Assert.Empty(snap.OfType(AccountType));
        Assert.Empty(snap.OfType(DeploymentType));
        Assert.DoesNotContain(snap.OfType("Microsoft.Authorization/roleAssignments"), r => ((string)r["properties"]!["roleDefinitionId"]!).EndsWith(RoleAssignmentTests.OpenAiUser, StringComparison.Ordinal));
        var settings = SettingsOf(snap);
        Assert.DoesNotContain(settings, s => s.Key.StartsWith("ChatModel__", StringComparison.Ordinal));
        Assert.NotNull(settings["Personas__default__SystemPrompt"]); // the rest of the app is still configured
    }

    [Fact]
    public void The_app_gets_endpoint_deployment_and_its_identity_but_no_key()
    {
        var snap = InfraArtifacts.Get().DefaultSnapshot;
        var settings = SettingsOf(snap);
        var account = (string)snap.Single(AccountType, "oai-voice-")["name"]!;
        var identity = (string)snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-")["name"]!;

        var endpoint = (string)settings["ChatModel__Endpoint"]!;
        Assert.Contains($"Microsoft.CognitiveServices/accounts/{account}'", endpoint, StringComparison.Ordinal);
        Assert.EndsWith(".endpoint]", endpoint, StringComparison.Ordinal);
        Assert.Equal("chat", (string?)settings["ChatModel__Deployment"]);
        Assert.Contains($"userAssignedIdentities/{identity}'", (string)settings["ChatModel__ClientId"]!, StringComparison.Ordinal);
        Assert.DoesNotContain(settings, s => s.Key.Contains("Key", StringComparison.OrdinalIgnoreCase) && s.Key.StartsWith("ChatModel", StringComparison.Ordinal));
        foreach (var text in InfraArtifacts.Get().CompiledTexts.Values)
        {
            Assert.DoesNotContain("listKeys", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_apps_identity_is_cognitive_services_openai_user_on_the_account()
    {
        var snap = InfraArtifacts.Get().DefaultSnapshot;
        var account = (string)snap.Single(AccountType, "oai-voice-")["id"]!;
        var identity = (string)snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-")["name"]!;

        var grant = Assert.Single(snap.OfType("Microsoft.Authorization/roleAssignments"), r => ((string)r["properties"]!["roleDefinitionId"]!).EndsWith(RoleAssignmentTests.OpenAiUser, StringComparison.Ordinal));

        Assert.Equal(account, RoleAssignmentTests.ScopeOf((string)grant["id"]!));
        Assert.Contains($"userAssignedIdentities/{identity}'", (string)grant["properties"]!["principalId"]!, StringComparison.Ordinal);
        Assert.Equal("ServicePrincipal", (string?)grant["properties"]!["principalType"]);
        Assert.StartsWith("[guid(", (string)grant["name"]!, StringComparison.Ordinal);
        Assert.Contains((string)grant["name"]!, InfraArtifacts.Get().DeveloperSnapshot.OfType("Microsoft.Authorization/roleAssignments").Select(r => (string)r["name"]!));
    }

    [Fact]
    public void With_an_existing_endpoint_no_account_is_created_and_the_app_uses_it()
    {
        var snap = InfraArtifacts.Get().ExistingOpenAiSnapshot;
        Assert.True(snap.Json is not null, snap.Result.ToString());

        Assert.Empty(snap.OfType(AccountType));
        Assert.Empty(snap.OfType(DeploymentType));
        Assert.DoesNotContain(snap.OfType("Microsoft.Authorization/roleAssignments"), r => ((string)r["properties"]!["roleDefinitionId"]!).EndsWith(RoleAssignmentTests.OpenAiUser, StringComparison.Ordinal));
        var settings = SettingsOf(snap);
        Assert.Equal(InfraArtifacts.ExistingOpenAiEndpoint, (string?)settings["ChatModel__Endpoint"]);
        Assert.Equal(InfraArtifacts.ExistingOpenAiDeployment, (string?)settings["ChatModel__Deployment"]);
    }
}
