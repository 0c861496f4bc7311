using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// Issue 21, item 5: what call notes need in Azure: the call-notes queues, the queue role, the settings, the
/// CallNotes scaling group, the signed webhook's secret in Key Vault; on the compiled and evaluated template.
/// </summary>
public class CallNotesInfraTests
{
    private static InfraArtifacts Infra => InfraArtifacts.Get();

    private static JsonObject Settings(Snapshot s) => s.Single("Microsoft.Web/sites/config")["properties"]!.AsObject();

    private static JsonArray AlwaysReady(Snapshot s) =>
        s.Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!["alwaysReady"]!.AsArray();

    [Fact]
    public void The_call_notes_queue_and_its_poison_queue_exist_in_the_apps_storage_account()
    {
        var snap = Infra.DefaultSnapshot;
        var account = (string)snap.Single("Microsoft.Storage/storageAccounts")["name"]!;
        var queues = snap.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(q => (string)q["name"]!).Order().ToArray();
        // The host's poison rule: "<queue>-poison" (shared decision of issue 21; the trigger's queue name is call-notes).
        Assert.Equal([$"{account}/default/call-notes", $"{account}/default/call-notes-poison"], queues);
        Assert.Equal($"{account}/default", (string?)snap.Single("Microsoft.Storage/storageAccounts/queueServices")["name"]);
    }

    [Fact]
    public void The_queue_is_reached_with_the_apps_identity_at_the_accounts_own_queue_endpoint()
    {
        var snap = Infra.DefaultSnapshot;
        var settings = Settings(snap);
        var account = (string)snap.Single("Microsoft.Storage/storageAccounts")["name"]!;
        var uri = (string)settings["AzureWebJobsStorage__queueServiceUri"]!;
        Assert.Contains($"storageAccounts/{account}'", uri, StringComparison.Ordinal);
        Assert.EndsWith(".primaryEndpoints.queue]", uri, StringComparison.Ordinal);
        // Same identity as the rest of host storage; no connection string, no key.
        Assert.Equal("managedidentity", (string?)settings["AzureWebJobsStorage__credential"]);
        Assert.False(settings.ContainsKey("AzureWebJobsStorage"));
        Assert.DoesNotContain(settings, s => s.Key.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase) && s.Key != "APPLICATIONINSIGHTS_CONNECTION_STRING");
    }

    [Fact]
    public void Notes_are_on_with_a_thirty_minute_idle_time_by_default_and_nothing_persona_specific_is_written()
    {
        var settings = Settings(Infra.DefaultSnapshot);
        Assert.Equal("true", (string?)settings["Notes__Enabled"]);
        Assert.Equal("00:30:00", (string?)settings["Notes__IdleAfter"]);
        Assert.DoesNotContain(settings, s => s.Key.StartsWith("Personas__default__Notes__", StringComparison.Ordinal));
        // No webhook, so no secret is stored.
        Assert.DoesNotContain(Infra.DefaultSnapshot.OfType("Microsoft.KeyVault/vaults/secrets"), s => ((string)s["name"]!).EndsWith("Notes--WebhookSecret", StringComparison.Ordinal));
    }

    [Fact]
    public void CallNotes_has_no_always_ready_instance_by_default_and_its_own_group_when_asked()
    {
        // Default: only the http group (the webhook) is kept warm; the queue trigger scales from zero.
        var group = Assert.Single(AlwaysReady(Infra.DefaultSnapshot));
        Assert.Equal("http", (string?)group!["name"]);
        Assert.Equal(0, (int?)Infra.CompiledMain!["parameters"]!["alwaysReadyNotesInstances"]!["defaultValue"]);

        // Asked for: the per-function group is named function:<FUNCTION_NAME> (Learn, flex-consumption-how-to.md).
        var groups = AlwaysReady(Infra.NotesSnapshot).ToDictionary(g => (string)g!["name"]!, g => (int)g!["instanceCount"]!);
        Assert.Equal(new Dictionary<string, int> { ["http"] = 1, ["function:CallNotes"] = 1 }, groups);
        Assert.Equal("00:45:00", (string?)Settings(Infra.NotesSnapshot)["Notes__IdleAfter"]);
    }

    [Fact]
    public void A_persona_webhook_gets_its_url_its_reasons_and_a_key_vault_reference_never_the_secret()
    {
        var snap = Infra.NotesSnapshot;
        var settings = Settings(snap);
        Assert.Equal(InfraArtifacts.NotesWebhookUrl, (string?)settings["Personas__default__Notes__WebhookUrl"]);
        // A list in configuration: one key per index.
        Assert.Equal(["appointment", "prescription", "invoice"],
            Enumerable.Range(0, 3).Select(i => (string?)settings[$"Personas__default__Notes__Reasons__{i}"]));
        Assert.False(settings.ContainsKey("Personas__default__Notes__Reasons__3"));

        var reference = (string)settings["Personas__default__Notes__WebhookSecret"]!;
        Assert.StartsWith("[format('@Microsoft.KeyVault(SecretUri={0})'", reference, StringComparison.Ordinal);
        Assert.Contains("Personas--default--Notes--WebhookSecret", reference, StringComparison.Ordinal);

        // The secret goes into the vault from the secure parameter and appears nowhere in the evaluated deployment.
        var secret = snap.OfType("Microsoft.KeyVault/vaults/secrets").Single(s => ((string)s["name"]!).EndsWith("/Personas--default--Notes--WebhookSecret", StringComparison.Ordinal));
        Assert.Equal("[parameters('notesWebhookSecret')]", (string?)secret["properties"]!["value"]);
        Assert.DoesNotContain(InfraArtifacts.NotesWebhookSecret, snap.Text!, StringComparison.Ordinal);

        Assert.True(Infra.CompiledMain!["parameters"]!["notesWebhookSecret"]!["type"]!.GetValue<string>() == "securestring");
    }
}
