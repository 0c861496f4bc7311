using System.Diagnostics;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// `dotnet publish src/VoiceFunctions -c Release -o DIR`, once per test run: the deployable folder every HTTP test
/// runs under the Functions host emulator, exactly as it would be handed to the real host.
/// </summary>
public static class PublishedWorker
{
    private static readonly Lazy<Task<string>> Published = new(PublishAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public static Task<string> FolderAsync() => Published.Value;

    private static async Task<string> PublishAsync()
    {
        var folder = Path.Combine(Repository.Root, "artifacts", "test-worker");
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { "publish", Path.Combine(Repository.Root, "src", "VoiceFunctions"), "-c", "Release", "-o", folder, "--nologo", "-v", "quiet" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet publish failed:\n{await output.ConfigureAwait(false)}\n{await errors.ConfigureAwait(false)}");
        }

        return folder;
    }
}
