using System.Globalization;
using System.Text.Json;

namespace VoiceFunctions.FunctionsHost;

/// <summary>What the emulator reads from the published app folder: host.json and worker.config.json.</summary>
internal sealed record AppConfig(
    string AppFolder,
    string RoutePrefix,
    TimeSpan FunctionTimeout,
    string Executable,
    IReadOnlyList<string> ExecutableArguments,
    string WorkerPath,
    IReadOnlyList<string> WorkerArguments)
{
    /// <summary>host.json's extensions.queues, the host's defaults for anything absent.</summary>
    public QueuesOptions Queues { get; init; } = QueuesOptions.Default;

    // The host's default for a dedicated plan; host.json's functionTimeout overrides it.
    private static readonly TimeSpan DefaultFunctionTimeout = TimeSpan.FromMinutes(5);

    private static readonly JsonDocumentOptions Lenient = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static AppConfig Load(string appFolder)
    {
        var folder = Path.GetFullPath(appFolder);
        var workerConfigPath = Path.Combine(folder, "worker.config.json");
        if (!File.Exists(workerConfigPath))
        {
            throw new FunctionsHostStartException(
                $"'{workerConfigPath}' does not exist: AppFolder must be the publish folder of an isolated-worker app.");
        }

        using var workerConfig = JsonDocument.Parse(File.ReadAllText(workerConfigPath), Lenient);
        if (!workerConfig.RootElement.TryGetProperty("description", out var description))
        {
            throw new FunctionsHostStartException($"'{workerConfigPath}' has no \"description\".");
        }

        var executable = GetString(description, "defaultExecutablePath") ?? "dotnet";
        var workerPath = GetString(description, "defaultWorkerPath")
            ?? throw new FunctionsHostStartException($"'{workerConfigPath}' has no description.defaultWorkerPath.");

        var routePrefix = "api";
        var timeout = DefaultFunctionTimeout;
        var queues = QueuesOptions.Default;
        var hostJsonPath = Path.Combine(folder, "host.json");
        if (File.Exists(hostJsonPath))
        {
            using var hostJson = JsonDocument.Parse(File.ReadAllText(hostJsonPath), Lenient);
            var root = hostJson.RootElement;
            if (root.TryGetProperty("extensions", out var extensions)
                && extensions.TryGetProperty("http", out var http)
                && http.TryGetProperty("routePrefix", out var prefix)
                && prefix.ValueKind == JsonValueKind.String)
            {
                routePrefix = prefix.GetString()!.Trim('/');
            }

            queues = QueuesOptions.Read(root);
            if (GetString(root, "functionTimeout") is { } rawTimeout)
            {
                // "-1" is the host's "no limit".
                timeout = rawTimeout.Trim() == "-1"
                    ? Timeout.InfiniteTimeSpan
                    : TimeSpan.Parse(rawTimeout, CultureInfo.InvariantCulture);
            }
        }

        return new AppConfig(
            folder,
            routePrefix,
            timeout,
            executable,
            GetStrings(description, "arguments"),
            Path.IsPathRooted(workerPath) ? workerPath : Path.Combine(folder, workerPath),
            GetStrings(description, "workerArguments"))
        {
            Queues = queues,
        };
    }

    private static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string[] GetStrings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            ? [.. value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)]
            : [];
}
