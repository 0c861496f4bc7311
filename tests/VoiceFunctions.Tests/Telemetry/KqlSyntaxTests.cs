using System.Diagnostics;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// Every query in docs/kql parses with Microsoft's Kusto.Language parser (its JavaScript build, npm
/// @kusto/language-service-next, pinned in tests/kql/package-lock.json; no NuGet build of it is served here).
/// Syntax only here; tests/VoiceFunctions.Infra.Tests/MonitoringTests.cs analyses the same files (and the workbook and
/// alert queries as deployed) against a schema of the Application Insights tables (tests/kql/appinsights-schema.json),
/// so misspelt table and column names fail there.
/// </summary>
public sealed class KqlSyntaxTests
{
    private static readonly string KqlTools = Path.Combine(Repository.Root, "tests", "kql");

    /// <summary>One node run (loading the parser takes seconds): the documented queries and a broken control query.</summary>
    [Fact]
    public async Task Every_documented_query_parses_and_a_broken_one_does_not()
    {
        var queries = Directory.GetFiles(Path.Combine(Repository.Root, "docs", "kql"), "*.kql");
        Assert.True(queries.Length >= 5, "docs/kql should hold the timeline, calls per hour, escalation rate, latency and failure queries");
        await EnsureInstalledAsync();
        var broken = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.kql");
        await File.WriteAllTextAsync(broken, "requests | where duration > | project name");
        try
        {
            var (exit, output) = await RunAsync("node", ["check.js", .. queries, broken]);

            Assert.Equal(1, exit);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.All(queries, q => Assert.Contains($"{Path.GetFileName(q)}: ok", lines));
            Assert.Contains(lines, l => l.StartsWith(Path.GetFileName(broken) + ": ", StringComparison.Ordinal) && !l.EndsWith(": ok", StringComparison.Ordinal));
            Assert.Equal(queries.Length, lines.Count(l => l.EndsWith(": ok", StringComparison.Ordinal)));
        }
        finally
        {
            File.Delete(broken);
        }
    }

    /// <summary>
    /// The Azure smoke checklist's queries (docs/deploy.md, issue 19) are analysed against the Application Insights
    /// schema: an operator pastes them after a deployment, so a misspelt column must fail here, not there.
    /// </summary>
    [Fact]
    public async Task The_smoke_checklist_queries_are_valid_against_the_application_insights_schema()
    {
        var deploy = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "docs", "deploy.md"), TestContext.Current.CancellationToken);
        var start = deploy.IndexOf("## Azure smoke checklist", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/deploy.md has the Azure smoke checklist");
        var end = deploy.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = deploy[start..(end < 0 ? deploy.Length : end)];
        var blocks = System.Text.RegularExpressions.Regex.Matches(section, "```kusto\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value.Replace("\n   ", "\n", StringComparison.Ordinal).Replace("<id>", "00000000-0000-0000-0000-000000000000", StringComparison.Ordinal))
            .ToList();
        Assert.True(blocks.Count >= 4, "placeholder start, Key Vault reference, rows per call, trace parentage");
        await EnsureInstalledAsync();
        var files = new List<string>();
        try
        {
            foreach (var block in blocks)
            {
                var file = Path.Combine(Path.GetTempPath(), $"smoke-{Guid.NewGuid():N}.kql");
                await File.WriteAllTextAsync(file, block, TestContext.Current.CancellationToken);
                files.Add(file);
            }

            var (exit, output) = await RunAsync("node", ["check.js", "--schema", "appinsights-schema.json", .. files]);

            Assert.True(exit == 0, output);
            Assert.Equal(files.Count, output.Split('\n').Count(l => l.TrimEnd().EndsWith(": ok", StringComparison.Ordinal)));
        }
        finally
        {
            files.ForEach(File.Delete);
        }
    }

    private static async Task EnsureInstalledAsync()
    {
        if (!Directory.Exists(Path.Combine(KqlTools, "node_modules", "@kusto", "language-service-next")))
        {
            var (exit, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
            Assert.True(exit == 0, $"npm ci in tests/kql failed:\n{output}");
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = KqlTools, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
