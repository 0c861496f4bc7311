namespace VoiceFunctions.Sessions;

/// <summary>
/// One spool folder per process: worker processes sharing <see cref="SpoolOptions.Path"/>
/// (FUNCTIONS_WORKER_PROCESS_COUNT &gt; 1, or an old and a new worker overlapping during a restart) each replay only
/// the steps they spooled themselves, from their own cached state, so one never overwrites the session rows the other
/// updated. Each process holds an exclusive lock on <c>_process-{random}/.lock</c> while it lives (.NET takes flock(2)
/// for <see cref="FileShare.None"/> on Unix; the kernel drops it when the process dies, kill -9 included). At start-up a
/// process adopts the folders whose lock it can take: what a killed or stopped worker left (and what an older version
/// left directly under the spool folder) is replayed by the next one to start.
/// </summary>
public sealed partial class SessionSpool : IDisposable
{
    private const string ProcessPrefix = "_process-";
    private const string ClaimingPrefix = "_claiming-";
    private const string LockFile = ".lock";

    /// <summary>Creates this process's folder, locked before it gets the name others look for (so none adopts it meanwhile).</summary>
    private static (string Folder, FileStream Lock) ClaimProcessFolder(string shared)
    {
        var name = Guid.NewGuid().ToString("N");
        var claiming = Path.Combine(shared, ClaimingPrefix + name);
        CreateOwnerOnly(claiming);
        var lockStream = new FileStream(Path.Combine(claiming, LockFile), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        var folder = Path.Combine(shared, ProcessPrefix + name);
        Directory.Move(claiming, folder);
        return (folder, lockStream);
    }

    /// <summary>Moves into this process's folder everything a process that is gone left behind; returns how many files.</summary>
    public int AdoptLeftBehind()
    {
        var adopted = 0;
        foreach (var folder in Directory.EnumerateDirectories(_shared))
        {
            var name = Path.GetFileName(folder);
            if (folder == _root || !(name.StartsWith(ProcessPrefix, StringComparison.Ordinal) || name.StartsWith(ClaimingPrefix, StringComparison.Ordinal)))
            {
                continue;
            }

            FileStream? held;
            try
            {
                held = new FileStream(Path.Combine(folder, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                continue; // Its process still lives (or another one is adopting it right now).
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            using (held)
            {
                adopted += MoveSteps(folder);
                File.Delete(Path.Combine(folder, LockFile));
            }

            TryDeleteTree(folder);
        }

        // The layout before per-process folders: session folders and _answered directly under the spool folder.
        adopted += MoveSteps(_shared);
        return adopted;
    }

    /// <summary>Moves session folders and kept answered events from <paramref name="from"/> into this process's folder.</summary>
    private int MoveSteps(string from)
    {
        var moved = 0;
        foreach (var folder in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(folder);
            if (name == AnsweredFolder)
            {
                foreach (var session in Directory.EnumerateDirectories(folder))
                {
                    moved += MoveFiles(session, Path.Combine(_root, AnsweredFolder, Path.GetFileName(session)));
                }

                TryDeleteTree(folder);
            }
            else if (!name.StartsWith('_'))
            {
                // Validated when read, like every spool file: a folder that is no session id is quarantined then.
                moved += MoveFiles(folder, Path.Combine(_root, name));
            }
        }

        return moved;
    }

    private static int MoveFiles(string from, string to)
    {
        var moved = 0;
        foreach (var file in Directory.EnumerateFiles(from))
        {
            if (file.EndsWith(".tmp", StringComparison.Ordinal))
            {
                TryDelete(file); // Never renamed into place: the step was not durable, and its event was not answered from it.
                continue;
            }

            CreateOwnerOnly(Path.GetDirectoryName(to)!);
            CreateOwnerOnly(to);
            try
            {
                File.Move(file, Path.Combine(to, Path.GetFileName(file)), overwrite: false);
                moved++;
            }
            catch (IOException)
            {
                // Same name already here (or moved by another adopter): left where it is, found again next start.
            }
        }

        TryRemoveFolder(from);
        return moved;
    }

    private static void TryDeleteTree(string folder)
    {
        try
        {
            if (!Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any())
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Releases this process's lock; the folder goes if nothing waits in it, else the next process adopts it.</summary>
    public void Dispose()
    {
        _lock?.Dispose();
        TryDelete(Path.Combine(_root, LockFile));
        TryDeleteTree(_root);
    }
}
