using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Sessions;

/// <summary>
/// A durable local spool: one file per step under <c>{Path}/_process-{random}/{sessionId}/</c> (one folder per
/// process: <c>SessionSpool.Processes.cs</c>), written to a temporary name,
/// flushed to disk and renamed, so a crash leaves either the whole step or nothing. File names sort in
/// spool order. Survives process restarts (the next process adopts the folder); lost only with the instance's disk.
/// Beside the session folders: <c>_answered/</c> (events answered before their step was durable); shared by all
/// processes under <c>{Path}</c>: <c>_erased/</c> (erasures still to be done in storage) and <c>_quarantine/</c>
/// (files that failed validation: kept for inspection, never replayed).
/// Everything is created owner-only: the files hold transcripts.
/// </summary>
public sealed partial class SessionSpool
{
    /// <summary>A step is at most one entity-group transaction (≤ 4 MiB); anything much larger was not written by this code.</summary>
    public const long MaxFileBytes = 8 * 1024 * 1024;

    private const string AnsweredFolder = "_answered";
    private const string ErasedFolder = "_erased";
    private const string QuarantineFolder = "_quarantine";
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>This process's folder: its steps and answered events.</summary>
    private readonly string _root;

    /// <summary>The configured folder: every process's folder, tombstones, quarantine.</summary>
    private readonly string _shared;
    private readonly FileStream? _lock;
    private readonly ILogger<SessionSpool> _logger;
    private readonly ConcurrentDictionary<string, byte> _erased = new(StringComparer.Ordinal);
    private long _counter;

    public SessionSpool(IOptions<SpoolOptions> options, ILogger<SessionSpool> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _shared = options.Value.Path;
        _logger = logger;
        try
        {
            CreateOwnerOnly(_shared);
            (_root, _lock) = ClaimProcessFolder(_shared);
            AdoptLeftBehind();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not a start-up error (SpoolValidation): storage may work. Steps of an outage wait in memory meanwhile, as
            // when the disk fails while running; the spool is used again once the folder can be written (unlocked:
            // a process starting meanwhile may adopt what this one writes there, which stays replayed exactly once).
            _root = Path.Combine(_shared, ProcessPrefix + Guid.NewGuid().ToString("N"));
            _lock = null;
            LogNotWritable(_logger, _shared, ex.GetType().Name);
        }

        foreach (var name in Directory.Exists(Path.Combine(_shared, ErasedFolder)) ? Directory.EnumerateFiles(Path.Combine(_shared, ErasedFolder)) : [])
        {
            if (Path.GetFileName(name) is var id && IsSessionId(id))
            {
                _erased[id] = 0;
            }
        }
    }

    /// <summary>Spool order: time, then a per-process counter. Given to a step when it is decided, so it keeps its place wherever it waits.</summary>
    public string NewId() =>
        string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow.Ticks:D19}-{Interlocked.Increment(ref _counter) % 1_000_000:D6}");

    /// <summary>Writes the step (under its <see cref="SpooledStep.Id"/>, or a new one) durably; returns it with its id.</summary>
    public SpooledStep Append(SpooledStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var id = step.Id.Length > 0 ? step.Id : NewId();
        var folder = Path.Combine(_root, step.SessionId);
        CreateOwnerOnly(folder);
        WriteDurably(Path.Combine(folder, id + ".json"), stream => JsonSerializer.Serialize(stream, step, SpoolJsonContext.Default.SpooledStep));
        return step with { Id = id };
    }

    public IReadOnlyList<string> PendingSessions()
    {
        var sessions = new List<string>();
        foreach (var folder in Directory.Exists(_root) ? Directory.EnumerateDirectories(_root) : [])
        {
            var name = Path.GetFileName(folder);
            if (name.StartsWith('_'))
            {
                continue;
            }

            if (!IsSessionId(name))
            {
                // Not a folder this code makes: nothing in it may be replayed into any call.
                foreach (var file in Directory.EnumerateFiles(folder))
                {
                    Quarantine(file, "folder is not a session id");
                }

                continue;
            }

            if (Directory.EnumerateFiles(folder, "*.json").Any())
            {
                sessions.Add(name);
            }
        }

        sessions.Sort(StringComparer.Ordinal);
        return sessions;
    }

    /// <summary>The session's spooled steps, oldest first (files that fail validation are moved aside).</summary>
    public IReadOnlyList<SpooledStep> Pending(string sessionId) =>
        [.. Files(sessionId).Order(StringComparer.Ordinal).Select(file => Read(sessionId, file)).OfType<SpooledStep>()];

    /// <summary>The session as the newest spooled step left it: the state to continue from. Reads only that step.</summary>
    public SpooledStep? Latest(string sessionId) =>
        Files(sessionId).OrderDescending(StringComparer.Ordinal).Select(file => Read(sessionId, file)).FirstOrDefault(step => step is not null);

    private IEnumerable<string> Files(string sessionId)
    {
        var folder = Path.Combine(_root, sessionId);
        return Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.json") : [];
    }

    private SpooledStep? Read(string sessionId, string file)
    {
        var id = Path.GetFileNameWithoutExtension(file);
        if (ReadValidated(file, SpoolJsonContext.Default.SpooledStep) is not { } step)
        {
            return null;
        }

        var problem = step.Version != SpooledStep.CurrentVersion ? "unknown version"
            : step.SessionId != sessionId || step.Session is null || step.Session.SessionId != sessionId ? "session id of folder and content differ"
            : step.Trace is null || step.ModeChanges is null || step.Trace.Count + step.ModeChanges.Count > 99 ? "rows missing or too many"
            : step.Trace.Any(t => t is null || t.Seq < 1) || step.ModeChanges.Any(m => m is null || m.Seq < 1) ? "invalid sequence numbers"
            : !IsSpoolId(id) ? "file name is not a spool id"
            : null;
        if (problem is not null)
        {
            Quarantine(file, problem);
            return null;
        }

        return step with { Id = id };
    }

    /// <summary>A name this code gives a session's folder or tombstone: a session id in its canonical form.</summary>
    private static bool IsSessionId(string name) => SessionIds.IsValid(name) && SessionIds.Canonical(name) == name;

    private static bool IsSpoolId(string id) =>
        id.Length == 26 && id[19] == '-' && id.AsSpan(0, 19).ContainsAnyExceptInRange('0', '9') is false && id.AsSpan(20).ContainsAnyExceptInRange('0', '9') is false;

    public void Remove(SpooledStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        File.Delete(Path.Combine(_root, step.SessionId, step.Id + ".json"));
        TryRemoveFolder(Path.Combine(_root, step.SessionId));
    }

    /// <summary>Erasure: every spooled step of a session, unreplayed, its answered events and its quarantined files.</summary>
    public void Erase(string sessionId)
    {
        // Every process's folder: what another worker spooled of the call goes too.
        foreach (var process in Directory.EnumerateDirectories(_shared, ProcessPrefix + "*").Prepend(_root).Distinct(StringComparer.Ordinal))
        {
            foreach (var folder in new[] { Path.Combine(process, sessionId), Path.Combine(process, AnsweredFolder, sessionId) })
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (DirectoryNotFoundException)
                {
                }
            }
        }

        // Quarantined files of the call (named "{id}-{session}-{file}", see Quarantine) hold its transcript too.
        var quarantine = Path.Combine(_shared, QuarantineFolder);
        if (Directory.Exists(quarantine))
        {
            foreach (var file in Directory.EnumerateFiles(quarantine, $"*-{sessionId}-*"))
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>Keeps an answered event until its step is durable; returns the file to remove then.</summary>
    public string Keep(AnsweredEvent answered)
    {
        ArgumentNullException.ThrowIfNull(answered);
        var folder = Path.Combine(_root, AnsweredFolder, answered.SessionId);
        CreateOwnerOnly(Path.Combine(_root, AnsweredFolder));
        CreateOwnerOnly(folder);
        var file = Path.Combine(folder, NewId() + ".json");
        // Written and renamed, not fsynced: it guards against the process being killed after the answer, and a killed
        // process's writes are in the page cache already. Written from halfway to the deadline, off the answer's path
        // (CallHandler.KeepWhenSlowAsync); fsync there waited on the disk, tens of ms under load (issue 23, item 7).
        WriteDurably(file, stream => JsonSerializer.Serialize(stream, answered, SpoolJsonContext.Default.AnsweredEvent), flushToDisk: false);
        return file;
    }

    /// <summary>The answered event's step is durable now (stored or spooled).</summary>
    public void Release(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (!Path.GetFullPath(file).StartsWith(Path.GetFullPath(Path.Combine(_root, AnsweredFolder)) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ArgumentException("Not an answered event of this spool.", nameof(file));
        }

        File.Delete(file);
        TryRemoveFolder(Path.GetDirectoryName(file)!);
    }

    /// <summary>Events a previous process answered but did not live to record, oldest first per session.</summary>
    public IReadOnlyList<AnsweredEvent> Answered()
    {
        var root = Path.Combine(_root, AnsweredFolder);
        var events = new List<AnsweredEvent>();
        foreach (var folder in Directory.Exists(root) ? Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
        {
            var sessionId = Path.GetFileName(folder);
            foreach (var file in Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal))
            {
                if (ReadValidated(file, SpoolJsonContext.Default.AnsweredEvent) is not { } answered)
                {
                    continue;
                }

                if (answered.Version != SpooledStep.CurrentVersion || answered.SessionId != sessionId || !IsSessionId(sessionId) ||
                    !IsSpoolId(Path.GetFileNameWithoutExtension(file)))
                {
                    Quarantine(file, "session id of folder and content differ, or unknown version");
                    continue;
                }

                events.Add(answered with { File = file });
            }
        }

        return events;
    }

    /// <summary>An erasure accepted while storage was away: kept until storage has done it.</summary>
    public void AddTombstone(string sessionId)
    {
        CreateOwnerOnly(Path.Combine(_shared, ErasedFolder));
        WriteDurably(Path.Combine(_shared, ErasedFolder, sessionId), _ => { });
        _erased[sessionId] = 0;
    }

    public void RemoveTombstone(string sessionId)
    {
        File.Delete(Path.Combine(_shared, ErasedFolder, sessionId));
        _erased.TryRemove(sessionId, out _);
    }

    /// <summary>True while an accepted erasure of the session waits for storage: nothing of it is recorded or replayed, and it reads as gone.</summary>
    public bool IsErased(string sessionId) => _erased.ContainsKey(sessionId);

    public IReadOnlyList<string> Tombstones() => [.. _erased.Keys.Order(StringComparer.Ordinal)];

    [LoggerMessage(Level = LogLevel.Error, Message = "Spool:Path ({Path}) cannot be written ({Error}): the webhook runs, but steps of a storage outage are held in memory only until it can")]
    private static partial void LogNotWritable(ILogger logger, string path, string error);
}
