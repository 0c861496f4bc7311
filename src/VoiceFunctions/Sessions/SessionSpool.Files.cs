using System.Text.Json;

namespace VoiceFunctions.Sessions;

/// <summary>The spool's files: written durably and owner-only, read validated, moved aside when they fail.</summary>
public sealed partial class SessionSpool
{
    /// <summary>Reads a spool file, or moves it aside (too large, unreadable, not this format) and returns null.</summary>
    private T? ReadValidated<T>(string file, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            var info = new FileInfo(file);
            if (info.Length > MaxFileBytes)
            {
                Quarantine(file, "too large");
                return null;
            }

            if (JsonSerializer.Deserialize(File.ReadAllBytes(file), type) is { } value)
            {
                return value;
            }

            Quarantine(file, "empty");
        }
        catch (FileNotFoundException)
        {
            // Replayed or erased meanwhile.
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (JsonException)
        {
            // Renames are atomic, so this code never leaves a half-written file: someone else wrote it.
            Quarantine(file, "not a spool file");
        }

        return null;
    }

    /// <summary>A spooled step storage refuses for good: moved aside, never replayed again.</summary>
    public void Quarantine(SpooledStep step, string reason)
    {
        ArgumentNullException.ThrowIfNull(step);
        Quarantine(Path.Combine(_root, step.SessionId, step.Id + ".json"), reason);
        TryRemoveFolder(Path.Combine(_root, step.SessionId));
    }

    /// <summary>Moves a file aside (never replayed), with why, for an operator to look at.</summary>
    public void Quarantine(string file, string reason)
    {
        try
        {
            var target = Path.Combine(_shared, QuarantineFolder);
            CreateOwnerOnly(target);
            var name = $"{NewId()}-{Path.GetFileName(Path.GetDirectoryName(file))}-{Path.GetFileName(file)}";
            File.Move(file, Path.Combine(target, name));
            Calls.CallMetrics.SpoolQuarantined.Add(1);
            LogQuarantined(_logger, name, reason);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogQuarantineFailed(_logger, ex.GetType().Name, reason);
        }
    }

    private void WriteDurably(string path, Action<Stream> write, bool flushToDisk = true)
    {
        var temp = path + "." + NewId() + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }

        try
        {
            using (var file = new FileStream(temp, options))
            {
                write(file);
                file.Flush(flushToDisk);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Creates the folder owner-only (the spool keeps transcripts), or tightens one that exists.</summary>
    internal static void CreateOwnerOnly(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
            return;
        }

        if (!Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder, OwnerOnlyFolder);
        }
        else if ((File.GetUnixFileMode(folder) & ~OwnerOnlyFolder) != 0)
        {
            File.SetUnixFileMode(folder, OwnerOnlyFolder);
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static void TryRemoveFolder(string folder)
    {
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Spool file moved aside to quarantine as {File}: {Reason}; it is not replayed")]
    private static partial void LogQuarantined(ILogger logger, string file, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A spool file failed validation ({Reason}) and could not be moved aside ({Error}); it is skipped")]
    private static partial void LogQuarantineFailed(ILogger logger, string error, string reason);
}
