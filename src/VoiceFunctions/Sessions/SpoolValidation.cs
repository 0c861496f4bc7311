using Microsoft.Extensions.Options;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Section <c>Spool</c> checked at start-up like every other setting: a spool that cannot take a step is found
/// before the first call needs it (during a storage outage), and reported as a setting to fix, not a stack trace.
/// The folder is created (owner-only, as the spool keeps transcripts: <see cref="SessionSpool.CreateOwnerOnly"/>) and a
/// probe file written and deleted.
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

        var probe = Path.Combine(full, $".probe-{Guid.NewGuid():N}");
        try
        {
            SessionSpool.CreateOwnerOnly(full);

            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }

            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"Spool:Path ({full}) cannot be created or written: {ex.Message}";
        }
    }
}
