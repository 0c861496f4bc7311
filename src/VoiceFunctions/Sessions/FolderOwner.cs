using System.Runtime.InteropServices;
using System.Text;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Who owns a folder, from the kernel: .NET has no API for a file's owner, so this asks statx(2) (one fixed struct
/// layout on every architecture, unlike stat(2); glibc ≥ 2.28) and geteuid(2). The spool keeps transcripts: a folder
/// another local user created (or a symlink they planted) must never be used, even though root could chmod it.
/// Linux only (the app runs on Flex Consumption, Linux); callers skip it on Windows.
/// </summary>
internal static class FolderOwner
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;
    private const int UidOffset = 20, ModeOffset = 28; // struct statx: stx_uid, stx_mode (include/uapi/linux/stat.h)
    private const int TypeMask = 0xF000, SymlinkType = 0xA000, DirectoryType = 0x4000;

    /// <summary>The effective user id of this process.</summary>
    public static uint ProcessUser => NativeMethods.geteuid();

    /// <summary>Null when the path is a real folder (not a symlink) owned by this process's user; else why not.</summary>
    public static string? Problem(string path)
    {
        var buffer = new byte[256];
        var name = Encoding.UTF8.GetBytes(path + "\0");
        if (NativeMethods.statx(AtFdCwd, name, AtSymlinkNoFollow, StatxType | StatxMode | StatxUid, buffer) != 0)
        {
            return $"its owner cannot be read (errno {Marshal.GetLastPInvokeError()})";
        }

        var uid = BitConverter.ToUInt32(buffer, UidOffset);
        var type = BitConverter.ToUInt16(buffer, ModeOffset) & TypeMask;
        return type == SymlinkType ? "it is a symbolic link"
            : type != DirectoryType ? "it is not a folder"
            : uid != ProcessUser ? $"it is owned by another user (uid {uid}, this process runs as uid {ProcessUser})"
            : null;
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern uint geteuid();

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int statx(int dirfd, byte[] pathname, int flags, uint mask, [Out] byte[] statxbuf);
    }
}
