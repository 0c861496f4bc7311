using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// Issue 14 "It deploys the first time": ordering, values Flex accepts, names that are always valid, the optional
/// hardening parameters, azd wiring and the publish script.
/// </summary>
public class FirstDeploymentTests
{
    private static InfraArtifacts Infra => InfraArtifacts.Get();

    private static string RepoRoot => Path.GetFullPath(Path.Combine(BicepCli.InfraDirectory, ".."));

    private static JsonObject Main => Infra.CompiledMain!;

    [Fact]
    public void Role_assignments_wait_for_the_storage_account_app_insights_and_key_vault()
    {
        // rbac gets computed names (what-if can predict them), so ARM must be told to wait for the scopes.
        var dependsOn = Main["resources"]!["rbac"]!["dependsOn"]!.AsArray().Select(d => (string?)d).ToArray();
        Assert.Contains("storage", dependsOn);
        Assert.Contains("monitoring", dependsOn);
        Assert.Contains("keyVault", dependsOn);
        Assert.Contains("identity", dependsOn);
        // And the app waits for the roles (its host starts as soon as the site exists).
        var appDependsOn = Main["resources"]!["functionApp"]!["dependsOn"]!.AsArray().Select(d => (string?)d);
        Assert.Contains("rbac", appDependsOn);
    }

    [Fact]
    public void Instance_memory_allows_only_the_sizes_flex_accepts()
    {
        int[] expected = [2048, 4096];
        var allowed = Main["parameters"]!["instanceMemoryMB"]!["allowedValues"]!.AsArray().Select(v => (int)v!).ToArray();
        Assert.Equal(expected, allowed);
        Assert.Equal(2048, (int?)Main["parameters"]!["instanceMemoryMB"]!["defaultValue"]);
        var module = Main["resources"]!["functionApp"]!["properties"]!["template"]!["parameters"]!["instanceMemoryMB"]!;
        Assert.Equal(expected, module["allowedValues"]!.AsArray().Select(v => (int)v!).ToArray());
        var scale = Infra.HardenedSnapshot.Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!;
        Assert.Equal(4096, (int?)scale["instanceMemoryMB"]);
    }

    [Fact]
    public void Maximum_instance_count_may_be_as_low_as_one()
    {
        // Flex accepts 1-1000 now (issue 20's review); 40 was the old floor.
        Assert.Equal(1, (int?)Main["parameters"]!["maximumInstanceCount"]!["minValue"]);
        var module = Main["resources"]!["functionApp"]!["properties"]!["template"]!["parameters"]!["maximumInstanceCount"]!;
        Assert.Equal(1, (int?)module["minValue"]);
    }

    [Fact]
    public void Log_search_alert_rules_use_the_ga_api_version()
    {
        // Preview API versions can change or go away: scheduledQueryRules was on 2023-03-15-preview, 2023-12-01 is GA.
        // (diagnosticSettings stays on 2021-05-01-preview: the resource type has no GA version.)
        var rules = Infra.HardenedSnapshot.OfType("Microsoft.Insights/scheduledQueryRules").ToArray();
        Assert.NotEmpty(rules);
        Assert.All(rules, r => Assert.Equal("2023-12-01", (string?)r["apiVersion"]));
    }

    public static TheoryData<int> ContainerNameIndexes => new(Enumerable.Range(0, InfraArtifacts.ContainerNameInputs.Length));

    [Theory]
    [MemberData(nameof(ContainerNameIndexes))]
    public void Any_app_name_yields_a_valid_deployment_container_name(int index)
    {
        var input = InfraArtifacts.ContainerNameInputs[index];
        var names = Infra.ContainerNamesSnapshot.Json!["outputs"]!["containers"]!.AsArray();
        Assert.Equal(InfraArtifacts.ContainerNameInputs.Length, names.Count);
        AssertValidContainerName((string)names[index]!, input);
    }

    [Fact]
    public void The_templates_own_container_names_are_valid_for_default_and_user_supplied_app_names()
    {
        foreach (var snapshot in new[] { Infra.DefaultSnapshot, Infra.HardenedSnapshot })
        {
            var container = Assert.Single(snapshot.OfType("Microsoft.Storage/storageAccounts/blobServices/containers"));
            AssertValidContainerName(((string)container["name"]!).Split('/')[^1], (string)snapshot.Single("Microsoft.Web/sites")["name"]!);
        }

        Assert.Equal(InfraArtifacts.HardenedAppName, (string?)Infra.HardenedSnapshot.Single("Microsoft.Web/sites")["name"]);
        // For the default app name the sanitised name equals the one earlier versions produced (no package container churn).
        var site = (string)Infra.DefaultSnapshot.Single("Microsoft.Web/sites")["name"]!;
        var container0 = ((string)Infra.DefaultSnapshot.Single("Microsoft.Storage/storageAccounts/blobServices/containers")["name"]!).Split('/')[^1];
        Assert.StartsWith($"app-package-{site}-", container0, StringComparison.Ordinal);
    }

    private static void AssertValidContainerName(string name, string input)
    {
        // https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
        Assert.True(name.Length is >= 3 and <= 63, $"'{name}' (from '{input}') has length {name.Length}");
        Assert.Matches("^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$", name);
        Assert.DoesNotContain("--", name, StringComparison.Ordinal);
        Assert.StartsWith("app-package-", name, StringComparison.Ordinal);
    }

    [Fact]
    public void Vnet_variant_closes_storage_and_key_vault_and_integrates_the_app_through_a_delegated_subnet()
    {
        var snap = Infra.HardenedSnapshot;
        var storage = snap.Single("Microsoft.Storage/storageAccounts")["properties"]!;
        Assert.Equal("Disabled", (string?)storage["publicNetworkAccess"]);
        Assert.Equal("Deny", (string?)storage["networkAcls"]!["defaultAction"]);
        var vault = snap.Single("Microsoft.KeyVault/vaults")["properties"]!;
        Assert.Equal("Disabled", (string?)vault["publicNetworkAccess"]);
        Assert.Equal("Deny", (string?)vault["networkAcls"]!["defaultAction"]);

        var vnet = snap.Single("Microsoft.Network/virtualNetworks");
        var appSubnet = vnet["properties"]!["subnets"]!.AsArray().Single(s => (string?)s!["name"] == "app")!;
        var delegation = Assert.Single(appSubnet["properties"]!["delegations"]!.AsArray());
        Assert.Equal("Microsoft.App/environments", (string?)delegation!["properties"]!["serviceName"]);
        var site = snap.Single("Microsoft.Web/sites");
        Assert.Equal($"{vnet["id"]}/subnets/app", (string?)site["properties"]!["virtualNetworkSubnetId"]);

        // Private endpoints: blob (host + package), table (sessions) and queue (call notes) on the account, vault on Key
        // Vault, each with a DNS zone group.
        var endpoints = snap.OfType("Microsoft.Network/privateEndpoints")
            .Select(e => e["properties"]!["privateLinkServiceConnections"]![0]!["properties"]!)
            .Select(c => ((string)c["groupIds"]![0]!, (string)c["privateLinkServiceId"]!))
            .OrderBy(e => e.Item1)
            .ToArray();
        var storageId = (string)snap.Single("Microsoft.Storage/storageAccounts")["id"]!;
        var vaultId = (string)snap.Single("Microsoft.KeyVault/vaults")["id"]!;
        Assert.Equal([("blob", storageId), ("queue", storageId), ("table", storageId), ("vault", vaultId)], endpoints);
        Assert.Equal(4, snap.OfType("Microsoft.Network/privateEndpoints/privateDnsZoneGroups").Count());
        Assert.Equal(4, snap.OfType("Microsoft.Network/privateDnsZones/virtualNetworkLinks").Count());
        var zones = string.Join("\n", snap.OfType("Microsoft.Network/privateDnsZones").Select(z => (string)z["name"]!));
        Assert.Contains("privatelink.blob.", zones, StringComparison.Ordinal);
        Assert.Contains("privatelink.table.", zones, StringComparison.Ordinal);
        Assert.Contains("privatelink.queue.", zones, StringComparison.Ordinal);
        Assert.Contains("'.vaultcore.'", zones, StringComparison.Ordinal);
        Assert.All(snap.OfType("Microsoft.Network/privateDnsZones"), z => Assert.Equal("global", (string?)z["location"]));

        // The app waits for the network module (endpoints and DNS links) before it starts.
        Assert.Contains("network", Main["resources"]!["functionApp"]!["dependsOn"]!.AsArray().Select(d => (string?)d));
    }

    [Fact]
    public void Default_variant_has_no_network_resources_and_public_endpoints()
    {
        var snap = Infra.DefaultSnapshot;
        Assert.DoesNotContain(snap.Resources, r => ((string)r["type"]!).StartsWith("Microsoft.Network/", StringComparison.Ordinal));
        Assert.Equal("Enabled", (string?)snap.Single("Microsoft.Storage/storageAccounts")["properties"]!["publicNetworkAccess"]);
        Assert.Equal("Enabled", (string?)snap.Single("Microsoft.KeyVault/vaults")["properties"]!["publicNetworkAccess"]);
        Assert.False(snap.Single("Microsoft.Web/sites")["properties"]!.AsObject().TryGetPropertyValue("virtualNetworkSubnetId", out var subnet) && subnet is not null);
        Assert.False((bool)Main["parameters"]!["vnetEnabled"]!["defaultValue"]!);
    }

    [Fact]
    public void Zone_redundancy_is_off_by_default_and_makes_plan_zone_redundant_and_storage_zrs()
    {
        Assert.False((bool)Main["parameters"]!["zoneRedundant"]!["defaultValue"]!);
        Assert.False((bool?)Infra.DefaultSnapshot.Single("Microsoft.Web/serverfarms")["properties"]!["zoneRedundant"]);
        Assert.Equal("Standard_LRS", (string?)Infra.DefaultSnapshot.Single("Microsoft.Storage/storageAccounts")["sku"]!["name"]);
        Assert.True((bool?)Infra.HardenedSnapshot.Single("Microsoft.Web/serverfarms")["properties"]!["zoneRedundant"]);
        Assert.Equal("Standard_ZRS", (string?)Infra.HardenedSnapshot.Single("Microsoft.Storage/storageAccounts")["sku"]!["name"]);
    }

    [Fact]
    public void Purge_protection_is_a_parameter_off_by_default_and_never_sent_as_false()
    {
        Assert.False((bool)Main["parameters"]!["enablePurgeProtection"]!["defaultValue"]!);
        var off = Infra.DefaultSnapshot.Single("Microsoft.KeyVault/vaults")["properties"]!.AsObject();
        Assert.True(!off.TryGetPropertyValue("enablePurgeProtection", out var value) || value is null, "purge protection must be omitted, not false");
        Assert.True((bool?)Infra.HardenedSnapshot.Single("Microsoft.KeyVault/vaults")["properties"]!["enablePurgeProtection"]);
    }

    [Fact]
    public void Diagnostic_settings_send_key_vault_storage_and_function_app_logs_to_the_workspace()
    {
        foreach (var snap in new[] { Infra.DefaultSnapshot, Infra.HardenedSnapshot })
        {
            var workspace = (string)snap.Single("Microsoft.OperationalInsights/workspaces")["id"]!;
            var settings = snap.OfType("Microsoft.Insights/diagnosticSettings")
                .ToDictionary(
                    d => ((string)d["id"]!).Split("/providers/Microsoft.Insights/")[0],
                    d => (Workspace: (string?)d["properties"]!["workspaceId"], Logs: d["properties"]!["logs"]!.AsArray().Select(l => (string)l!["category"]!).ToArray()));
            var vault = (string)snap.Single("Microsoft.KeyVault/vaults")["id"]!;
            var storage = (string)snap.Single("Microsoft.Storage/storageAccounts")["id"]!;
            var site = (string)snap.Single("Microsoft.Web/sites")["id"]!;
            Assert.Equal(["AuditEvent"], settings[vault].Logs);
            Assert.Contains("StorageWrite", settings[$"{storage}/blobServices/default"].Logs);
            Assert.Contains("StorageRead", settings[$"{storage}/tableServices/default"].Logs);
            Assert.Equal(["FunctionAppLogs"], settings[site].Logs);
            Assert.All(settings.Values, s => Assert.Equal(workspace, s.Workspace));
        }
    }

    [Fact]
    public void Azure_yaml_deploys_the_project_to_the_app_tagged_with_its_service_name()
    {
        var path = Path.Combine(RepoRoot, "azure.yaml");
        Assert.True(File.Exists(path), "azure.yaml at the repo root (azd up)");
        var yaml = File.ReadAllText(path);
        // A flat reading is enough for this small file: the service block and its keys.
        var service = Regex.Match(yaml, @"^services:\s*\n  (?<name>[\w-]+):\s*\n(?<body>(?:    .*\n?)+)", RegexOptions.Multiline);
        Assert.True(service.Success, yaml);
        Assert.Equal("api", service.Groups["name"].Value);
        string Key(string text, string key) => Regex.Match(text, $@"^\s*{key}:\s*(\S+)\s*$", RegexOptions.Multiline).Groups[1].Value;
        var body = service.Groups["body"].Value;
        Assert.Equal("dotnet", Key(body, "language"));
        Assert.Equal("function", Key(body, "host"));
        var project = Path.GetFullPath(Path.Combine(RepoRoot, Key(body, "project")));
        Assert.True(File.Exists(Path.Combine(project, "VoiceFunctions.csproj")), $"azure.yaml project {project} has no VoiceFunctions.csproj");

        Assert.Equal("bicep", Key(yaml, "provider"));
        Assert.True(File.Exists(Path.Combine(RepoRoot, Key(yaml, "path"), Key(yaml, "module") + ".bicep")));

        var tags = Infra.DefaultSnapshot.Single("Microsoft.Web/sites")["tags"]!;
        Assert.Equal("api", (string?)tags["azd-service-name"]);
        Assert.NotNull(tags["azd-env-name"]);
    }

    [Fact]
    public void Every_parameter_the_docs_tell_you_to_override_is_in_main_bicepparam()
    {
        var bicepparam = File.ReadAllText(Path.Combine(BicepCli.InfraDirectory, "main.bicepparam"));
        var declared = Main["parameters"]!.AsObject().Select(p => p.Key).ToHashSet();
        var docs = File.ReadAllText(Path.Combine(RepoRoot, "docs", "deploy.md")) + File.ReadAllText(Path.Combine(RepoRoot, "docs", "infra.md"));
        // The parameter table in docs/deploy.md ("| `name` | default | ...") and any "-p name=" example.
        var table = docs[docs.IndexOf("## Parameters", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("\n## ", 3, StringComparison.Ordinal)];
        var documented = Regex.Matches(table, @"^\| `(\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value)
            .Concat(Regex.Matches(docs, @"-p (\w+)=").Select(m => m.Groups[1].Value))
            .ToHashSet();
        Assert.True(documented.Count >= 10, string.Join(", ", documented));
        foreach (var name in documented)
        {
            Assert.Contains(name, declared);
            Assert.Matches($@"(?m)^param {name} = ", bicepparam);
        }
    }

    [Fact]
    public void Deploy_scripts_are_valid_bash_and_ship_the_readytorun_linux_build_both_ways()
    {
        foreach (var name in new[] { "deploy.sh", "first-start.sh" })
        {
            var check = Process.Start(new ProcessStartInfo("bash", ["-n", Path.Combine(RepoRoot, "scripts", name)]) { RedirectStandardError = true })!;
            var stderr = check.StandardError.ReadToEnd();
            check.WaitForExit();
            Assert.True(check.ExitCode == 0, name + ": " + stderr);
        }

        var text = File.ReadAllText(Path.Combine(RepoRoot, "scripts", "deploy.sh"));
        var code = string.Join("\n", text.Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        // One publish for both paths, for the runtime the benchmark measures (the csproj turns ReadyToRun on with it).
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(code, "dotnet publish "));
        Assert.Contains("dotnet publish \"$project_dir\" -c Release -r linux-x64 --self-contained false -o \"$out\"", code, StringComparison.Ordinal);
        Assert.Contains("<PublishReadyToRun Condition=\"'$(RuntimeIdentifier)' != ''\">true</PublishReadyToRun>", File.ReadAllText(Path.Combine(RepoRoot, "src", "VoiceFunctions", "VoiceFunctions.csproj")), StringComparison.Ordinal);
        // func uploads the publish folder inside the project tree (PublishDiscoveryTests: the project is found upwards).
        Assert.Matches(@"publish ""\$project_dir/bin/publish""\s*\n\s*cd ""\$project_dir/bin/publish""\s*\n\s*func azure functionapp publish ""\$app"" --dotnet-isolated --no-build", code);
        Assert.Matches(@"publish ""\$publish_dir""[\s\S]*az functionapp deployment source config-zip", code);
        // First start after provisioning: scripts/first-start.sh, also azd's postdeploy hook.
        Assert.Contains("scripts/first-start.sh\" --resource-group \"$resource_group\" --app \"$app\"", code, StringComparison.Ordinal);
        Assert.Contains("run: ./scripts/first-start.sh", File.ReadAllText(Path.Combine(RepoRoot, "azure.yaml")), StringComparison.Ordinal);
        Assert.DoesNotContain("customHandler", code, StringComparison.Ordinal);
    }

    [Fact]
    public void First_start_polls_the_key_vault_reference_with_a_bound_then_restarts_once()
    {
        var code = string.Join("\n", File.ReadAllText(Path.Combine(RepoRoot, "scripts", "first-start.sh")).Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        // Microsoft.Web "Get App Setting Key Vault Reference": GET {site}/config/configreferences/appsettings/{name}.
        Assert.Contains("/config/configreferences/appsettings/AiFlow__ApiToken?api-version=2023-12-01", code, StringComparison.Ordinal);
        Assert.Contains("az rest --method get --url \"$url\" --query properties.status -o tsv", code, StringComparison.Ordinal);
        Assert.Contains("while [[ \"$status\" != \"Resolved\" ]]", code, StringComparison.Ordinal);
        Assert.Contains("SECONDS >= deadline", code, StringComparison.Ordinal);
        Assert.Contains("az functionapp restart -g \"$resource_group\" -n \"$app\"", code, StringComparison.Ordinal);
        Assert.Contains("az functionapp list -g \"$resource_group\" --query \"[?tags.\\\"azd-service-name\\\"=='api'].name | [0]\" -o tsv", code, StringComparison.Ordinal);
    }
}
