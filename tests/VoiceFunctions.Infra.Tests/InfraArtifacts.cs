using System.Text.Json.Nodes;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// Compiles infra/ once per test run in a scratch copy (so nothing is written into the repo) and keeps
/// the compiled ARM JSON plus two `bicep snapshot` results: the predicted resources with parameters,
/// variables, names and guid()s evaluated, as ARM would before deployment.
/// </summary>
internal sealed class InfraArtifacts
{
    public const string SubscriptionId = "00000000-0000-0000-0000-0000000000aa";
    public const string ResourceGroup = "rg-voicefunctions-test";
    public const string DeveloperPrincipalId = "11111111-2222-3333-4444-555555555555";

    private static readonly Lazy<InfraArtifacts> Instance = new(() => new InfraArtifacts(), LazyThreadSafetyMode.ExecutionAndPublication);

    private InfraArtifacts()
    {
        WorkDirectory = Path.Combine(Path.GetTempPath(), "voicefunctions-infra-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(BicepCli.InfraDirectory, WorkDirectory);
        // Scratch copy only; remove it when the test process ends.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(WorkDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        TemplateFiles = Directory.GetFiles(WorkDirectory, "*.bicep", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(WorkDirectory, f))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToArray();

        var outDir = Path.Combine(WorkDirectory, "_out");
        Build = BicepCli.Run(WorkDirectory, "build", "--pattern", "**/*.bicep", "--outdir", outDir);
        Lint = BicepCli.Run(WorkDirectory, "lint", "--pattern", "**/*.bicep");
        ParamsBuild = BicepCli.Run(WorkDirectory, "build-params", "main.bicepparam", "--stdout");
        ParamsLint = BicepCli.Run(WorkDirectory, "lint", "main.bicepparam");
        CompiledMain = File.Exists(Path.Combine(outDir, "main.json"))
            ? JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "main.json")))!.AsObject()
            : null;
        CompiledTexts = Directory.Exists(outDir)
            ? Directory.GetFiles(outDir, "*.json", SearchOption.AllDirectories).ToDictionary(f => Path.GetFileName(f), File.ReadAllText)
            : [];

        DefaultSnapshot = TakeSnapshot("main.bicepparam");

        // Same parameters plus a developer principal, to prove the optional role grants.
        var withDeveloper = File.ReadAllText(Path.Combine(WorkDirectory, "main.bicepparam"))
            + $"\nparam developerPrincipalId = '{DeveloperPrincipalId}'\n";
        File.WriteAllText(Path.Combine(WorkDirectory, "developer.bicepparam"), withDeveloper);
        DeveloperSnapshot = TakeSnapshot("developer.bicepparam");
    }

    public static InfraArtifacts Get()
    {
        BicepCli.SkipUnlessRunnable();
        return Instance.Value;
    }

    public string WorkDirectory { get; }

    public IReadOnlyList<string> TemplateFiles { get; }

    public BicepResult Build { get; }

    public BicepResult Lint { get; }

    public BicepResult ParamsBuild { get; }

    public BicepResult ParamsLint { get; }

    public JsonObject? CompiledMain { get; }

    /// <summary>File name => compiled ARM JSON text of every template.</summary>
    public IReadOnlyDictionary<string, string> CompiledTexts { get; }

    public Snapshot DefaultSnapshot { get; }

    public Snapshot DeveloperSnapshot { get; }

    private Snapshot TakeSnapshot(string paramsFile)
    {
        var result = BicepCli.Run(
            WorkDirectory,
            "snapshot", paramsFile,
            "--mode", "overwrite",
            "--tenant-id", "00000000-0000-0000-0000-0000000000bb",
            "--subscription-id", SubscriptionId,
            "--resource-group", ResourceGroup,
            "--location", "westeurope",
            "--deployment-name", "infra-tests");
        var path = Path.Combine(WorkDirectory, Path.ChangeExtension(paramsFile, ".snapshot.json"));
        var text = File.Exists(path) ? File.ReadAllText(path) : null;
        return new Snapshot(result, text, text is null ? null : JsonNode.Parse(text)!.AsObject());
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            // Skip stale snapshots or build output someone left in infra/.
            if (relative.EndsWith(".snapshot.json", StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

internal sealed record Snapshot(BicepResult Result, string? Text, JsonObject? Json)
{
    public IEnumerable<JsonObject> Resources =>
        Json?["predictedResources"]?.AsArray().Select(r => r!.AsObject()) ?? [];

    public IEnumerable<JsonObject> OfType(string type) =>
        Resources.Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase));

    public JsonObject Single(string type)
    {
        var matches = OfType(type).ToList();
        Assert.True(matches.Count == 1, $"expected exactly one {type}, found {matches.Count}");
        return matches[0];
    }
}

internal static class JsonText
{
    private static readonly System.Text.Json.JsonSerializerOptions Unescaped = new()
    {
        // Keep ARM expressions readable ('…' instead of \u0027) so substring checks see what ARM sees.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Raw(this JsonNode? node) => node?.ToJsonString(Unescaped) ?? "";
}
