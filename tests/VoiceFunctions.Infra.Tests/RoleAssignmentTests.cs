using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>Role assignments: which roles, on which scope, for whom, with deterministic names.</summary>
public class RoleAssignmentTests
{
    private const string BlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string TableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    public const string QueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string MetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
    private const string SecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    private const string Reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    public const string OpenAiUser = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

    private static (string Role, string Scope, string Principal, string Name)[] Assignments(Snapshot snapshot) =>
        snapshot.OfType("Microsoft.Authorization/roleAssignments")
            .Select(r => (
                Role: ((string)r["properties"]!["roleDefinitionId"]!).Split('/')[^1],
                Scope: ScopeOf((string)r["id"]!),
                Principal: (string)r["properties"]!["principalId"]!,
                Name: (string)r["name"]!))
            .ToArray();

    /// <summary>
    /// The assignment's scope: from its id, or, when the name depends on a principal id only known at deployment, from
    /// the <c>extensionResourceId('scope', …)</c> expression the snapshot leaves unevaluated.
    /// </summary>
    public static string ScopeOf(string id)
    {
        const string expression = "[extensionResourceId('";
        return id.StartsWith(expression, StringComparison.Ordinal)
            ? id[expression.Length..id.IndexOf('\'', expression.Length)]
            : id.Split("/providers/Microsoft.Authorization/")[0];
    }

    private static string IdOf(Snapshot s, string type) => (string)s.Single(type)["id"]!;

    [Fact]
    public void App_identity_gets_exactly_the_roles_the_host_and_app_need_on_the_right_scopes()
    {
        var snap = InfraArtifacts.Get().DefaultSnapshot;
        var identity = (string)snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-voice-")["name"]!;
        var assignments = Assignments(snap).Where(a => a.Principal.Contains($"userAssignedIdentities/{identity}'", StringComparison.Ordinal)).ToArray();
        var storage = IdOf(snap, "Microsoft.Storage/storageAccounts");
        var insights = IdOf(snap, "Microsoft.Insights/components");
        var vault = IdOf(snap, "Microsoft.KeyVault/vaults");
        var openAi = IdOf(snap, "Microsoft.CognitiveServices/accounts");
        var expected = new[]
        {
            (BlobDataOwner, storage),
            (TableDataContributor, storage),
            // The call-notes queue (issue 21): the app enqueues, the host's CallNotes trigger reads and moves poison.
            (QueueDataContributor, storage),
            (MetricsPublisher, insights),
            (SecretsUser, vault),
            (OpenAiUser, openAi),
        };
        Assert.Equal(expected.Order(), assignments.Select(a => (a.Role, a.Scope)).Order());

        // All for managed identities (service principals): the app's six above and the alert rules' Reader on App Insights.
        Assert.All(snap.OfType("Microsoft.Authorization/roleAssignments"),
            r => Assert.Equal("ServicePrincipal", (string?)r["properties"]!["principalType"]));
        var alertIdentity = (string)snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-alerts-")["name"]!;
        var others = Assignments(snap).Except(assignments).ToArray();
        var alert = Assert.Single(others);
        Assert.Equal((Reader, insights), (alert.Role, alert.Scope));
        Assert.Contains($"userAssignedIdentities/{alertIdentity}'", alert.Principal, StringComparison.Ordinal);
    }

    [Fact]
    public void Role_assignment_names_are_seeded_by_scope_principal_id_and_role()
    {
        var infra = InfraArtifacts.Get();
        var assignments = infra.DefaultSnapshot.OfType("Microsoft.Authorization/roleAssignments").ToArray();
        Assert.Equal(assignments.Length, assignments.Select(a => (string)a["name"]!).Distinct().Count());
        foreach (var assignment in assignments)
        {
            // guid(scope, principal id, role), as the quickstart's rbac.bicep: an identity created again gets a new
            // principal id and so new assignment names (no RoleAssignmentUpdateNotPermitted on the old ones).
            var principal = (string)assignment["properties"]!["principalId"]!;
            var role = ((string)assignment["properties"]!["roleDefinitionId"]!).Split('/')[^1];
            Assert.StartsWith("[reference(", principal, StringComparison.Ordinal);
            Assert.EndsWith(".principalId]", principal, StringComparison.Ordinal);
            Assert.Equal($"[guid('{ScopeOf((string)assignment["id"]!)}', {principal[1..^1]}, '{role}')]", (string?)assignment["name"]);
        }

        // A principal known before deployment (the developer) gives plain guids, the same in every evaluation.
        var developer = infra.DeveloperSnapshot.OfType("Microsoft.Authorization/roleAssignments")
            .Where(r => (string?)r["properties"]!["principalId"] == InfraArtifacts.DeveloperPrincipalId)
            .Select(r => (string)r["name"]!)
            .ToArray();
        Assert.NotEmpty(developer);
        Assert.All(developer, n => Assert.True(Guid.TryParse(n, out _), n));

        // And they come from guid(), not from newGuid() or utcNow().
        foreach (var text in infra.CompiledTexts.Values)
        {
            Assert.DoesNotContain("newGuid(", text, StringComparison.Ordinal);
            Assert.DoesNotContain("utcNow(", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Optional_developer_principal_gets_the_data_roles_and_telemetry_publishing_only_when_given()
    {
        var infra = InfraArtifacts.Get();
        Assert.DoesNotContain(Assignments(infra.DefaultSnapshot), a => a.Principal == InfraArtifacts.DeveloperPrincipalId);

        var storage = IdOf(infra.DeveloperSnapshot, "Microsoft.Storage/storageAccounts");
        var openAi = IdOf(infra.DeveloperSnapshot, "Microsoft.CognitiveServices/accounts");
        var insights = IdOf(infra.DeveloperSnapshot, "Microsoft.Insights/components");
        var developer = Assignments(infra.DeveloperSnapshot).Where(a => a.Principal == InfraArtifacts.DeveloperPrincipalId).ToArray();
        // Monitoring Metrics Publisher: a local run with Entra auth sends telemetry to App Insights (local auth off).
        Assert.Equal(new[] { (BlobDataOwner, storage), (TableDataContributor, storage), (QueueDataContributor, storage), (OpenAiUser, openAi), (MetricsPublisher, insights) }.Order(), developer.Select(a => (a.Role, a.Scope)).Order());
        var developerTypes = infra.DeveloperSnapshot.OfType("Microsoft.Authorization/roleAssignments")
            .Where(r => (string?)r["properties"]!["principalId"] == InfraArtifacts.DeveloperPrincipalId)
            .Select(r => (string?)r["properties"]!["principalType"]);
        Assert.All(developerTypes, t => Assert.Equal("User", t));
    }
}
