using System.Diagnostics;
using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// Issue 10 (infra part): the operations workbook and the log search alerts, on the compiled and evaluated
/// template, and every query they run analysed by Kusto.Language against the Application Insights tables.
/// </summary>
public class MonitoringTests
{
    private static InfraArtifacts Infra => InfraArtifacts.Get();

    private static string RepoRoot => Path.GetFullPath(Path.Combine(BicepCli.InfraDirectory, ".."));

    private static string KqlTools => Path.Combine(RepoRoot, "tests", "kql");

    private static string InsightsId(Snapshot s) => (string)s.Single("Microsoft.Insights/components")["id"]!;

    private static JsonObject Workbook(Snapshot s) => JsonNode.Parse((string)s.Single("Microsoft.Insights/workbooks")["properties"]!["serializedData"]!)!.AsObject();

    private static IEnumerable<JsonObject> Rules(Snapshot s) => s.OfType("Microsoft.Insights/scheduledQueryRules");

    [Fact]
    public void Workbook_is_shared_and_bound_to_the_application_insights_component()
    {
        var snap = Infra.DefaultSnapshot;
        var workbook = snap.Single("Microsoft.Insights/workbooks");
        Assert.Equal("shared", (string?)workbook["kind"]);
        Assert.True(Guid.TryParse((string)workbook["name"]!, out _), "workbook names are GUIDs");
        Assert.Equal(InsightsId(snap), (string?)workbook["properties"]!["sourceId"]);
        Assert.Equal("workbook", (string?)workbook["properties"]!["category"]);
        var data = Workbook(snap);
        Assert.Equal("Notebook/1.0", (string?)data["version"]);
        Assert.Equal([InsightsId(snap)], data["fallbackResourceIds"]!.AsArray().Select(i => (string)i!));
        var queries = data["items"]!.AsArray().Where(i => (int)i!["type"]! == 3).Select(i => i!["content"]!).ToList();
        Assert.All(queries, q => Assert.Equal("microsoft.insights/components", (string?)q["resourceType"]));
        Assert.Equal(9, queries.Count);
    }

    [Fact]
    public void Workbook_and_alert_queries_are_the_files_in_docs_kql()
    {
        var docs = Directory.GetFiles(Path.Combine(RepoRoot, "docs", "kql"), "*.kql").ToDictionary(f => Path.GetFileNameWithoutExtension(f)!, File.ReadAllText);
        var snap = Infra.DefaultSnapshot;
        var items = Workbook(snap)["items"]!.AsArray().Where(i => (int)i!["type"]! == 3).ToDictionary(i => (string)i!["name"]!, i => (string)i!["content"]!["query"]!);
        foreach (var (item, file) in new[] { ("calls-per-hour", "calls-per-hour"), ("calls-by-persona", "calls-by-persona"), ("mode-split", "mode-split"), ("answer-latency", "webhook-latency"), ("storage-health", "storage-health"), ("failures", "failures"), ("notes-why-people-called", "notes-why-people-called"), ("notes-callbacks-open", "notes-callbacks-open") })
        {
            Assert.Equal(docs[file], items[item]);
        }

        // The timeline is the documented query with the workbook's SessionId parameter in place of the sample id.
        var timeline = items["call-timeline"];
        Assert.Contains("let sessionId = tolower(\"{SessionId}\");", timeline, StringComparison.Ordinal);
        Assert.DoesNotContain("00000000-0000-0000-0000-000000000000", timeline, StringComparison.Ordinal);
        Assert.Equal(docs["call-timeline"], timeline.Replace("let sessionId = tolower(\"{SessionId}\");", "let sessionId = \"00000000-0000-0000-0000-000000000000\";", StringComparison.Ordinal));

        var rules = Rules(snap).ToDictionary(r => ((string)r["name"]!).Split('-', 3)[^1], r => (string)r["properties"]!["criteria"]!["allOf"]![0]!["query"]!);
        Assert.Equal(["answer-p95", "late-answers", "lost-steps", "no-calls-business-hours", "notes-poisoned", "storage-failures", "webhook-5xx"], rules.Keys.Order());
        foreach (var (name, query) in rules)
        {
            Assert.Equal(docs[$"alert-{name}"], query);
        }
    }

    [Fact]
    public void Every_workbook_and_alert_query_is_valid_against_the_application_insights_schema_and_a_misspelt_one_is_not()
    {
        var dir = Path.Combine(Infra.WorkDirectory, "_kql");
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        void Write(string name, string query)
        {
            var path = Path.Combine(dir, name + ".kql");
            File.WriteAllText(path, query);
            files.Add(path);
        }

        // The queries exactly as deployed (evaluated template), the workbook's parameter filled in as the workbook would.
        foreach (var item in Workbook(Infra.DefaultSnapshot)["items"]!.AsArray().Where(i => (int)i!["type"]! == 3))
        {
            Write("workbook-" + (string)item!["name"]!, ((string)item["content"]!["query"]!).Replace("{SessionId}", "0f5e1c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b", StringComparison.Ordinal));
        }

        foreach (var rule in Rules(Infra.DefaultSnapshot))
        {
            Write("alert-" + (string)rule["name"]!, (string)rule["properties"]!["criteria"]!["allOf"]![0]!["query"]!);
        }

        // Every documented query too, and a control query with a misspelt column that must fail.
        files.AddRange(Directory.GetFiles(Path.Combine(RepoRoot, "docs", "kql"), "*.kql"));
        Write("control-misspelt-column", "requests | where sucess == false | summarize count() by resultCode");
        Write("control-misspelt-dimension-table", "customEvent | where name == \"SessionStarted\" | count");

        EnsureInstalled();
        var (exit, output) = Run("node", ["check.js", "--schema", "appinsights-schema.json", .. files]);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(1, exit);
        foreach (var file in files.Select(Path.GetFileName))
        {
            if (file!.StartsWith("control-", StringComparison.Ordinal))
            {
                Assert.Contains(lines, l => l.StartsWith(file + ": ", StringComparison.Ordinal) && !l.EndsWith(": ok", StringComparison.Ordinal));
            }
            else
            {
                Assert.True(lines.Contains($"{file}: ok"), $"{file} failed:\n{output}");
            }
        }

        Assert.Contains(lines, l => l.Contains("'sucess'", StringComparison.Ordinal));
    }

    [Fact]
    public void Alerts_are_scoped_to_app_insights_with_a_severity_a_runbook_and_a_managed_identity()
    {
        var snap = Infra.DefaultSnapshot;
        var alertIdentity = (string)snap.Single("Microsoft.ManagedIdentity/userAssignedIdentities", "id-alerts-")["id"]!;
        var rules = Rules(snap).ToList();
        Assert.Equal(7, rules.Count);
        var runbook = File.ReadAllText(Path.Combine(RepoRoot, "docs", "observability.md"));
        foreach (var rule in rules)
        {
            var p = rule["properties"]!;
            Assert.Equal("LogAlert", (string?)rule["kind"]);
            Assert.Equal([InsightsId(snap)], p["scopes"]!.AsArray().Select(s => (string)s!));
            Assert.InRange((int)p["severity"]!, 0, 4);
            Assert.True((bool?)p["skipQueryValidation"], "a first deployment must not fail on query validation");
            Assert.Contains("docs/observability.md#alerts", (string)p["description"]!, StringComparison.Ordinal);
            // App Insights has local auth off: the rules query with the alert identity, no keys.
            Assert.Equal("UserAssigned", (string?)rule["identity"]!["type"]);
            Assert.True(rule["identity"]!["userAssignedIdentities"]!.AsObject().ContainsKey(alertIdentity));
            // The runbook has a line for every rule.
            var name = ((string)rule["name"]!).Split('-', 3)[^1];
            Assert.Contains($"`{name}`", runbook[runbook.IndexOf("## Alerts", StringComparison.Ordinal)..], StringComparison.Ordinal);
        }

        var thresholds = rules.ToDictionary(r => ((string)r["name"]!).Split('-', 3)[^1], r => r["properties"]!["criteria"]!["allOf"]![0]!);
        Assert.Equal(800, (int)thresholds["answer-p95"]["threshold"]!);
        Assert.Equal("p95", (string?)thresholds["answer-p95"]["metricMeasureColumn"]);
        Assert.Equal(5, (int)thresholds["storage-failures"]["threshold"]!);
        Assert.Equal(0, (int)thresholds["lost-steps"]["threshold"]!);
        // Any notes given up on (issue 21).
        Assert.Equal(0, (int)thresholds["notes-poisoned"]["threshold"]!);
        Assert.Equal("poisoned", (string?)thresholds["notes-poisoned"]["metricMeasureColumn"]);
        // The optional business-hours rule is off unless asked for.
        var noCalls = rules.Single(r => ((string)r["name"]!).EndsWith("no-calls-business-hours", StringComparison.Ordinal));
        Assert.False((bool?)noCalls["properties"]!["enabled"]);
        Assert.True((bool?)Rules(Infra.HardenedSnapshot).Single(r => ((string)r["name"]!).EndsWith("no-calls-business-hours", StringComparison.Ordinal))["properties"]!["enabled"]);
    }

    [Fact]
    public void Without_a_receiver_there_is_no_action_group_and_the_alerts_are_silent()
    {
        var snap = Infra.DefaultSnapshot;
        Assert.Equal("", (string?)Infra.CompiledMain!["parameters"]!["alertEmail"]!["defaultValue"]);
        Assert.Empty(snap.OfType("Microsoft.Insights/actionGroups"));
        Assert.All(Rules(snap), r => Assert.Empty(r["properties"]!["actions"]!["actionGroups"]!.AsArray()));

        // With one, every rule notifies the one e-mail action group.
        var hardened = Infra.HardenedSnapshot;
        var group = hardened.Single("Microsoft.Insights/actionGroups");
        var receiver = Assert.Single(group["properties"]!["emailReceivers"]!.AsArray());
        Assert.Equal(InfraArtifacts.AlertEmail, (string?)receiver!["emailAddress"]);
        Assert.All(Rules(hardened), r => Assert.Equal([(string)group["id"]!], r["properties"]!["actions"]!["actionGroups"]!.AsArray().Select(a => (string)a!)));
    }

    [Fact]
    public void Monitoring_resources_hold_no_secrets_and_need_no_local_auth()
    {
        var snap = Infra.DefaultSnapshot;
        var monitoring = snap.Resources.Where(r => ((string)r["type"]!).StartsWith("Microsoft.Insights/", StringComparison.Ordinal)
            && (string?)r["type"] != "Microsoft.Insights/components").ToList();
        Assert.NotEmpty(monitoring);
        foreach (var text in monitoring.Select(r => r.Raw()))
        {
            foreach (var forbidden in new[] { "InstrumentationKey", "ConnectionString", "apiKey", "listKeys", "AccountKey", BicepCli.FakeApiToken, "@Microsoft.KeyVault" })
            {
                Assert.DoesNotContain(forbidden, text, StringComparison.OrdinalIgnoreCase);
            }
        }

        // Local auth stays off on the component the workbook and alerts read.
        Assert.True((bool?)snap.Single("Microsoft.Insights/components")["properties"]!["DisableLocalAuth"]);
        // The alerts wait for their identity's role (compiled ARM).
        Assert.Contains("rbac", Infra.CompiledMain!["resources"]!["alerts"]!["dependsOn"]!.AsArray().Select(d => (string?)d));
    }

    private static void EnsureInstalled()
    {
        if (!Directory.Exists(Path.Combine(KqlTools, "node_modules", "@kusto", "language-service-next")))
        {
            var (exit, output) = Run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
            Assert.True(exit == 0, $"npm ci in tests/kql failed:\n{output}");
        }
    }

    private static (int Exit, string Output) Run(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = KqlTools, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} took over 120 s");
        }

        return (process.ExitCode, stdout.GetAwaiter().GetResult() + stderr.GetAwaiter().GetResult());
    }
}
