using Microsoft.Extensions.Options;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Section <c>Spool</c> checked at start-up like every other setting: a spool that cannot take a step is found
/// before the first call needs it (during a storage outage), and reported as a setting to fix, not a stack trace.
/// A path that can never be a folder (blank, invalid, a kernel file system, a file, under a file) is an error; a folder
/// that cannot be written now is not (see <see cref="SessionSpool"/>: it logs that at start and steps wait in memory).
/// </summary>
public sealed class SpoolValidation : IValidateOptions<SpoolOptions>
{
    /// <summary>Kernel file systems: writable-looking on Linux, but nothing written there is kept on disk.</summary>
    private static readonly string[] VirtualFileSystems = ["/proc", "/sys", "/dev"];

    /// <summary>The longest replay interval: spooled steps wait at most this long once storage is back.</summary>
    public static readonly TimeSpan MaxReplayInterval = TimeSpan.FromMinutes(5);

    /// <summary>The shortest replay interval: below it the replayer would spin while storage is away.</summary>
    public static readonly TimeSpan MinReplayInterval = TimeSpan.FromMilliseconds(50);

    public ValidateOptionsResult Validate(string? name, SpoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.ReplayInterval < MinReplayInterval || options.ReplayInterval > MaxReplayInterval)
        {
            failures.Add("Spool:ReplayInterval must be between 00:00:00.050 and 00:05:00.");
        }

        if (FolderProblem(options.Path) is { } problem)
        {
            failures.Add(problem);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static string? FolderProblem(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return "Spool:Path must name a folder on the instance's local disk.";
        }

        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return "Spool:Path is not a valid folder path.";
        }

        if (!OperatingSystem.IsWindows() && VirtualFileSystems.Any(root => full == root || full.StartsWith(root + "/", StringComparison.Ordinal)))
        {
            return $"Spool:Path ({full}) is under {string.Join(", ", VirtualFileSystems)}: a kernel file system, not a folder on disk.";
        }

        if (File.Exists(full))
        {
            return $"Spool:Path ({full}) is a file; it must name a folder.";
        }

        // Checked before anything is tightened or written: as root, chmod would succeed on anyone's folder.
        if (!OperatingSystem.IsWindows() && Directory.Exists(full) && FolderOwner.Problem(full) is { } owner)
        {
            return $"Spool:Path ({full}) cannot be used: {owner}. The spool keeps transcripts; use a folder the process user created.";
        }

        if (UnderAFile(full))
        {
            // A path that cannot resolve to a folder ever (a file where a folder must be): a setting to fix.
            return $"Spool:Path ({full}) cannot be created or written: a file stands where a folder of the path must be.";
        }

        // A folder that merely cannot be written now (read-only disk, no permission, full) is no start-up error: storage may
        // work, and the spool is only the fallback of an outage. The spool logs it at start and holds steps in memory, as
        // when the disk fails while running (docs/reliability.md, issue 23 item 9).
        return null;
    }

    /// <summary>Whether the nearest existing ancestor of <paramref name="full"/> (or itself) is a file.</summary>
    private static bool UnderAFile(string full)
    {
        for (var current = full; !string.IsNullOrEmpty(current); current = Path.GetDirectoryName(current))
        {
            if (Directory.Exists(current))
            {
                return false;
            }

            if (File.Exists(current))
            {
                return true;
            }
        }

        return false;
    }
}
