using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>The templates compile and lint offline with zero errors and zero warnings.</summary>
public class CompileAndLintTests
{
    [Fact]
    public void Every_template_builds_without_diagnostics()
    {
        var infra = InfraArtifacts.Get();
        Assert.True(infra.Build.ExitCode == 0, infra.Build.ToString());
        // Bicep prints warnings (e.g. BCP037 unknown property, BCP081 missing types) to stderr even on success.
        Assert.True(string.IsNullOrWhiteSpace(infra.Build.StdErr), infra.Build.ToString());
        foreach (var template in infra.TemplateFiles)
        {
            var json = Path.ChangeExtension(Path.GetFileName(template), ".json");
            Assert.True(infra.CompiledTexts.ContainsKey(json), $"{template} produced no {json}");
        }
    }

    [Fact]
    public void Every_template_lints_clean()
    {
        var infra = InfraArtifacts.Get();
        Assert.Contains("main.bicep", infra.TemplateFiles);
        Assert.True(infra.Lint.ExitCode == 0, infra.Lint.ToString());
        Assert.True(string.IsNullOrWhiteSpace(infra.Lint.StdErr + infra.Lint.StdOut), infra.Lint.ToString());
    }

    [Fact]
    public void Parameters_file_builds_and_lints_clean()
    {
        var infra = InfraArtifacts.Get();
        Assert.True(infra.ParamsBuild.ExitCode == 0 && string.IsNullOrWhiteSpace(infra.ParamsBuild.StdErr), infra.ParamsBuild.ToString());
        Assert.True(infra.ParamsLint.ExitCode == 0, infra.ParamsLint.ToString());
        Assert.True(string.IsNullOrWhiteSpace(infra.ParamsLint.StdErr + infra.ParamsLint.StdOut), infra.ParamsLint.ToString());
    }

    [Fact]
    public void Snapshots_evaluate_without_diagnostics()
    {
        var infra = InfraArtifacts.Get();
        foreach (var snapshot in new[] { infra.DefaultSnapshot, infra.DeveloperSnapshot, infra.HardenedSnapshot, infra.ContainerNamesSnapshot })
        {
            Assert.True(snapshot.Result.ExitCode == 0 && snapshot.Json is not null, snapshot.Result.ToString());
            Assert.Empty(snapshot.Json!["diagnostics"]?.AsArray() ?? []);
        }
    }

    [Fact]
    public void Hardened_parameters_variant_lints_clean()
    {
        var lint = InfraArtifacts.Get().HardenedParamsLint;
        Assert.True(lint.ExitCode == 0 && string.IsNullOrWhiteSpace(lint.StdErr + lint.StdOut), lint.ToString());
    }

    [Fact]
    public void Templates_use_no_registry_modules()
    {
        var infra = InfraArtifacts.Get();
        foreach (var template in infra.TemplateFiles)
        {
            var text = File.ReadAllText(Path.Combine(infra.WorkDirectory, template));
            // br:/br/public: and ts: modules need a registry restore, impossible offline.
            Assert.DoesNotContain("'br:", text, StringComparison.Ordinal);
            Assert.DoesNotContain("'br/", text, StringComparison.Ordinal);
            Assert.DoesNotContain("'ts:", text, StringComparison.Ordinal);
            Assert.DoesNotContain("'ts/", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Bicepconfig_makes_secret_rules_errors_and_disables_date_dependent_rule()
    {
        var infra = InfraArtifacts.Get();
        var text = File.ReadAllText(Path.Combine(infra.WorkDirectory, "bicepconfig.json"));
        var config = JsonNode.Parse(text, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        var rules = config["analyzers"]!["core"]!["rules"]!;
        foreach (var rule in new[] { "outputs-should-not-contain-secrets", "secure-parameter-default", "secure-secrets-in-params", "no-hardcoded-env-urls", "use-secure-value-for-secure-inputs", "no-unused-params" })
        {
            Assert.Equal("error", (string?)rules[rule]?["level"]);
        }

        Assert.Equal("off", (string?)rules["use-recent-api-versions"]?["level"]);
    }
}
