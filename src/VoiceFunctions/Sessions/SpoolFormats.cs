using System.Text.Json.Serialization;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Sessions;

/// <summary>Section <c>Spool</c>: where trace rows wait while Table Storage is unreachable.</summary>
public sealed class SpoolOptions
{
    public const string Section = "Spool";

    /// <summary>
    /// A folder on the instance's local disk, owned by the process user; created if missing (owner-only). Default
    /// (unset): <see cref="DefaultFolder"/>.
    /// </summary>
    public string Path { get; set; } = null!;

    /// <summary>
    /// A folder in the temp folder no other local user can predict or pre-create: <c>voicefunctions-spool-{random}</c>,
    /// found again after a restart as the (first) such folder owned by the process user; created when there is none.
    /// </summary>
    public static string DefaultFolder()
    {
        var temp = System.IO.Path.GetTempPath();
        if (OperatingSystem.IsWindows())
        {
            return System.IO.Path.Combine(temp, "voicefunctions-spool"); // The temp folder is per user there.
        }

        var ours = Directory.EnumerateDirectories(temp, "voicefunctions-spool-*")
            .Where(folder => FolderOwner.Problem(folder) is null)
            .Order(StringComparer.Ordinal)
            .FirstOrDefault();
        if (ours is not null)
        {
            return ours;
        }

        var created = System.IO.Path.Combine(temp, "voicefunctions-spool-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        Directory.CreateDirectory(created, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return created;
    }

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
    /// <summary>The file format; a file of another version is moved aside, never guessed at.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string SessionId { get; init; }
    public required bool BaseKnown { get; init; }
    public required SessionState Session { get; init; }

    /// <summary>
    /// The session state the step was decided on (null: decided blind, or spooled before this was kept): a replay
    /// re-based on what is stored keeps the stored values of every field the step did not change (issue 23).
    /// </summary>
    public SessionState? Base { get; init; }
    public required IReadOnlyList<TraceEntry> Trace { get; init; }
    public required IReadOnlyList<ModeChange> ModeChanges { get; init; }

    /// <summary>The event this step records (see <see cref="AnsweredEvent"/>): lets a replay skip an event already stored.</summary>
    public string? EventId { get; init; }

    /// <summary>Orders steps and marks them applied (idempotent replay): the file name, or given before the step reaches disk.</summary>
    [JsonIgnore]
    public string Id { get; init; } = string.Empty;
}

/// <summary>
/// An event answered before its step was stored or spooled (the answer went out at the response budget while
/// storage hung): kept on disk until its step is, so a process killed in between loses nothing the next start
/// cannot record.
/// </summary>
public sealed record AnsweredEvent
{
    public int Version { get; init; } = SpooledStep.CurrentVersion;
    public required string EventId { get; init; }
    public required string SessionId { get; init; }
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>The event as the platform's JSON (<see cref="AiFlowJson.Serialize(AiFlowEvent)"/>).</summary>
    public required string Event { get; init; }

    [JsonIgnore]
    public string File { get; init; } = string.Empty;
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpooledStep))]
[JsonSerializable(typeof(AnsweredEvent))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
