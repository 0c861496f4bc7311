using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>
/// Issue 23, item 6: worker processes sharing one spool folder (FUNCTIONS_WORKER_PROCESS_COUNT &gt; 1, or an old and a
/// new worker overlapping in a restart). Each <see cref="SessionSpool"/> here stands for one process: each holds its own
/// lock (flock(2) is per open file, so two in one test process exclude each other as two processes do).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SessionSpoolTests : IDisposable
{
    private readonly CallParts _parts = new();

    [Fact]
    public void A_process_never_sees_the_steps_a_live_process_spooled_and_the_next_start_adopts_them_once_it_is_gone()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        _parts.Spool.Append(_parts.Spooled(null, id, "spooled by the first worker"));

        using (var second = Open(_parts.SpoolFolder))
        {
            // Before issue 23 both replayed (and re-based) the same files, each from its own cached state.
            Assert.Empty(second.PendingSessions());
            Assert.Equal([id], _parts.Spool.PendingSessions());
        }

        _parts.Spool.Dispose(); // the first worker dies: the kernel drops its lock, its files stay
        using var next = Open(_parts.SpoolFolder);
        Assert.Equal([id], next.PendingSessions());
        Assert.Equal("spooled by the first worker", next.Pending(id).Single().Trace.Single(t => t.Kind == TraceKinds.Caller).Text);
        Assert.Single(Directory.EnumerateDirectories(_parts.SpoolFolder, "_process-*")); // the dead worker's folder is gone
    }

    [Fact]
    public void The_default_folder_is_unpredictable_owned_by_the_process_user_and_found_again_after_a_restart()
    {
        var planted = Path.Combine(Path.GetTempPath(), "voicefunctions-spool-0000-planted-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(planted);
        try
        {
            File.SetUnixFileMode(planted, (UnixFileMode)0b111_111_111);
            Chown(planted, 54321); // another local user got there first (it sorts before any random name)

            var folder = SpoolOptions.DefaultFolder();

            Assert.NotEqual(planted, folder);
            Assert.Matches("^voicefunctions-spool-[0-9a-f]{32}$", Path.GetFileName(folder));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
            Assert.Equal(folder, SpoolOptions.DefaultFolder()); // a restart finds it again
        }
        finally
        {
            Directory.Delete(planted);
        }
    }

    internal static void Chown(string path, int uid)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [$"{uid}:{uid}", path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    private static SessionSpool Open(string folder) =>
        new(Options.Create(new SpoolOptions { Path = folder }), NullLogger<SessionSpool>.Instance);

    public void Dispose() => _parts.Dispose();
}
