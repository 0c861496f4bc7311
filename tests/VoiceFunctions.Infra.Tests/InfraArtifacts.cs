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
        // Scratch copy of infra/ plus docs/kql (the workbook and alerts load their queries with loadTextContent('../../docs/kql/…')).
        var root = Path.Combine(Path.GetTempPath(), "voicefunctions-infra-" + Guid.NewGuid().ToString("N"));
        WorkDirectory = Path.Combine(root, "infra");
        CopyDirectory(BicepCli.InfraDirectory, WorkDirectory);
        CopyDirectory(Path.Combine(BicepCli.InfraDirectory, "..", "docs", "kql"), Path.Combine(root, "docs", "kql"));
        // Scratch copy only; remove it when the test process ends.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
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
        DeveloperSnapshot = TakeSnapshot(WriteVariant("developer.bicepparam", ("developerPrincipalId", $"'{DeveloperPrincipalId}'")));

        // An existing Azure OpenAI resource instead of a created one.
        ExistingOpenAiSnapshot = TakeSnapshot(WriteVariant(
            "existing-openai.bicepparam",
            ("openAiEndpoint", $"'{ExistingOpenAiEndpoint}'"),
            ("openAiDeploymentName", $"'{ExistingOpenAiDeployment}'")));

        // The production-style variant: VNet, zone redundancy, purge protection and a user-supplied app name
        // that is not a valid container name as it stands.
        NoChatModelSnapshot = TakeSnapshot(WriteVariant("no-chat-model.bicepparam", ("chatModelEnabled", "false")));

        // Call notes configured (issue 21): reasons and a signed webhook for the default persona, an always-ready notes instance.
        var notes = WriteVariant(
            "notes.bicepparam",
            ("notesWebhookSecret", $"'{NotesWebhookSecret}'"),
            ("alwaysReadyNotesInstances", "1"),
            ("notesIdleAfter", "'00:45:00'"));
        var notesPath = Path.Combine(WorkDirectory, notes);
        File.WriteAllText(notesPath, File.ReadAllText(notesPath).Replace(
            "  voiceToVoice: false\n",
            $"  voiceToVoice: false\n  notesReasons: ['appointment', 'prescription', 'invoice']\n  notesWebhookUrl: '{NotesWebhookUrl}'\n",
            StringComparison.Ordinal));
        NotesSnapshot = TakeSnapshot(notes);

        var hardened = WriteVariant(
            "hardened.bicepparam",
            ("vnetEnabled", "true"),
            ("zoneRedundant", "true"),
            ("enablePurgeProtection", "true"),
            ("functionAppName", $"'{HardenedAppName}'"),
            ("instanceMemoryMB", "4096"),
            ("alertEmail", $"'{AlertEmail}'"),
            ("noCallsAlertEnabled", "true"));
        HardenedParamsLint = BicepCli.Run(WorkDirectory, "lint", hardened);
        HardenedSnapshot = TakeSnapshot(hardened);

        // naming.bicep's container-name function evaluated over many app names in one snapshot.
        File.WriteAllText(
            Path.Combine(WorkDirectory, "names.test.bicep"),
            "import { deploymentContainerName } from 'naming.bicep'\nparam names array\noutput containers array = [for n in names: deploymentContainerName(n, 'seed')]\n");
        var names = string.Join(", ", ContainerNameInputs.Select(n => "'" + n.Replace("\\", "\\\\").Replace("'", "\\'") + "'"));
        File.WriteAllText(Path.Combine(WorkDirectory, "names.test.bicepparam"), $"using 'names.test.bicep'\nparam names = [{names}]\n");
        ContainerNamesSnapshot = TakeSnapshot("names.test.bicepparam");
    }

    /// <summary>Function app names that are awkward as storage container names (case, runs of hyphens, symbols, length).</summary>
    public static readonly string[] ContainerNameInputs =
    [
        "func-voice-abc123",
        "VoiceFunctions",
        "My--App",
        "a---b----c",
        "-leading-and-trailing-",
        "x",
        "12",
        "under_score.dot",
        "Ünïcödé-Äpp",
        "ends-with-hyphen-at-thirty-two--x",
        "UPPER-CASE-NAME-THAT-IS-VERY-LONG-AND-KEEPS-GOING-ON-AND-ON-1234",
        new string('-', 60),
        "a-" + new string('b', 29) + "-------c",
    ];

    public const string HardenedAppName = "Voice--Functions_PROD";

    public const string ExistingOpenAiEndpoint = "https://oai-shared-existing.openai.azure.com/";

    public const string ExistingOpenAiDeployment = "prod-chat";

    public const string AlertEmail = "oncall@example.com";

    public const string NotesWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwNotesInfraTest0";

    public const string NotesWebhookUrl = "https://prod-00.westeurope.logic.azure.com/workflows/notes/triggers/manual/paths/invoke";

    /// <summary>main.bicepparam with the given parameters replaced (or appended when absent).</summary>
    private string WriteVariant(string fileName, params (string Name, string Value)[] overrides)
    {
        var text = File.ReadAllText(Path.Combine(WorkDirectory, "main.bicepparam"));
        foreach (var (name, value) in overrides)
        {
            var pattern = new System.Text.RegularExpressions.Regex($@"^param {name} = .*$", System.Text.RegularExpressions.RegexOptions.Multiline);
            text = pattern.IsMatch(text) ? pattern.Replace(text, $"param {name} = {value}") : text + $"\nparam {name} = {value}\n";
        }

        File.WriteAllText(Path.Combine(WorkDirectory, fileName), text);
        return fileName;
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

    /// <summary>openAiEndpoint and openAiDeploymentName set: an existing Azure OpenAI resource, none created.</summary>
    public Snapshot ExistingOpenAiSnapshot { get; }

    /// <summary>vnetEnabled, zoneRedundant, enablePurgeProtection, 4096 MB, <see cref="HardenedAppName"/>, an alert receiver and the no-calls alert.</summary>
    public Snapshot HardenedSnapshot { get; }

    /// <summary>chatModelEnabled = false: voice-to-voice personas only.</summary>
    public Snapshot NoChatModelSnapshot { get; }

    /// <summary>main.bicepparam with call notes configured: reasons, a signed webhook, an always-ready notes instance.</summary>
    public Snapshot NotesSnapshot { get; }

    public BicepResult HardenedParamsLint { get; }

    /// <summary>Outputs "containers": the container name for each of <see cref="ContainerNameInputs"/>.</summary>
    public Snapshot ContainerNamesSnapshot { get; }

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

    /// <summary>The one resource of the type whose name starts with the prefix (e.g. the app's identity among two).</summary>
    public JsonObject Single(string type, string namePrefix)
    {
        var matches = OfType(type).Where(r => ((string)r["name"]!).StartsWith(namePrefix, StringComparison.Ordinal)).ToList();
        Assert.True(matches.Count == 1, $"expected exactly one {type} named {namePrefix}*, found {matches.Count}");
        return matches[0];
    }

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
