using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Sessions;

/// <summary>Section <c>Spool</c>: where trace rows wait while Table Storage is unreachable.</summary>
public sealed class SpoolOptions
{
    public const string Section = "Spool";

    /// <summary>A folder on the instance's local disk; created if missing. Default: the temp folder.</summary>
    public string Path { get; set; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "voicefunctions-spool");

    /// <summary>How often the replayer tries to move spooled steps into Table Storage.</summary>
    public TimeSpan ReplayInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// One step that could not be written in time, kept on local disk until storage answers again.
/// <see cref="BaseKnown"/> is false when the step was decided without the stored session (storage was
/// already away when this instance first saw the call): its sequence numbers are then provisional and are
/// re-based on the stored session at replay, so nothing already stored is overwritten.
/// </summary>
public sealed record SpooledStep
{
    public required string SessionId { get; init; }
    public required bool BaseKnown { get; init; }
    public required SessionState Session { get; init; }
    public required IReadOnlyList<TraceEntry> Trace { get; init; }
    public required IReadOnlyList<ModeChange> ModeChanges { get; init; }

    /// <summary>Set from the file name: orders steps and marks them applied (idempotent replay).</summary>
    [JsonIgnore]
    public string Id { get; init; } = string.Empty;
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpooledStep))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;

/// <summary>
/// A durable local spool: one file per step under <c>{Path}/{sessionId}/</c>, written to a temporary name,
/// flushed to disk and renamed, so a crash leaves either the whole step or nothing. File names sort in
/// spool order. Survives process restarts; lost only with the instance's disk.
/// </summary>
public sealed class SessionSpool
{
    private readonly string _root;
    private long _counter;

    public SessionSpool(IOptions<SpoolOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _root = options.Value.Path;
        Directory.CreateDirectory(_root);
    }

    public void Append(SpooledStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var folder = Path.Combine(_root, step.SessionId);
        Directory.CreateDirectory(folder);
        var id = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow.Ticks:D19}-{Interlocked.Increment(ref _counter) % 1_000_000:D6}");
        var temp = Path.Combine(folder, id + ".tmp");
        using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, step, SpoolJsonContext.Default.SpooledStep);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, Path.Combine(folder, id + ".json"));
    }

    public IReadOnlyList<string> PendingSessions() =>
        Directory.Exists(_root)
            ? [.. Directory.EnumerateDirectories(_root).Where(d => Directory.EnumerateFiles(d, "*.json").Any()).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>The session's spooled steps, oldest first.</summary>
    public IReadOnlyList<SpooledStep> Pending(string sessionId) =>
        [.. Files(sessionId).Order(StringComparer.Ordinal).Select(Read).OfType<SpooledStep>()];

    /// <summary>The session as the newest spooled step left it: the state to continue from. Reads only that step.</summary>
    public SpooledStep? Latest(string sessionId) =>
        Files(sessionId).OrderDescending(StringComparer.Ordinal).Select(Read).FirstOrDefault(step => step is not null);

    private IEnumerable<string> Files(string sessionId)
    {
        var folder = Path.Combine(_root, sessionId);
        return Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.json") : [];
    }

    private static SpooledStep? Read(string file)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(file), SpoolJsonContext.Default.SpooledStep) is { } step
                ? step with { Id = Path.GetFileNameWithoutExtension(file) }
                : null;
        }
        catch (JsonException)
        {
            // A file this code did not write completely cannot exist (atomic rename); anything else is left for inspection.
            File.Move(file, file + ".unreadable", overwrite: true);
            return null;
        }
    }

    public void Remove(SpooledStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        File.Delete(Path.Combine(_root, step.SessionId, step.Id + ".json"));
        TryRemoveFolder(step.SessionId);
    }

    /// <summary>Erasure: every spooled step of a session, unreplayed.</summary>
    public void Erase(string sessionId)
    {
        var folder = Path.Combine(_root, sessionId);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private void TryRemoveFolder(string sessionId)
    {
        var folder = Path.Combine(_root, sessionId);
        try
        {
            if (!Directory.EnumerateFileSystemEntries(folder).Any())
            {
                Directory.Delete(folder);
            }
        }
        catch (IOException)
        {
            // A new step arrived meanwhile; the folder stays.
        }
    }
}
