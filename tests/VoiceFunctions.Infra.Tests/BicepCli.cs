using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace VoiceFunctions.Infra.Tests;

/// <summary>Runs the Bicep CLI restored from the Azure.Bicep.CommandLine.linux-x64 NuGet package.</summary>
internal static class BicepCli
{
    /// <summary>A syntactically valid token used only to compile the parameters file offline.</summary>
    public const string FakeApiToken = "fake-token-4c1f9d0e-never-deployed";

    private static readonly Lazy<string> CliPath = new(ResolveCli);

    public static string InfraDirectory { get; } = Metadata("InfraDirectory");

    /// <summary>Skips the calling test where the package's binary cannot run (it is linux-x64 only).</summary>
    public static void SkipUnlessRunnable()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            Assert.Skip($"Azure.Bicep.CommandLine.linux-x64 only runs on linux-x64; this is {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}.");
        }
    }

    public static BicepResult Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(CliPath.Value)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // main.bicepparam reads the token from the environment; a fixed fake lets tests look for leaks.
        start.Environment["AIFLOW_API_TOKEN"] = FakeApiToken;
        // No telemetry or update checks: the suite must behave the same with no network.
        start.Environment["BICEP_TRACING_ENABLED"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        using var process = Process.Start(start) ?? throw new InvalidOperationException("bicep did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', args)} took over 60 s");
        }

        return new BicepResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    private static string ResolveCli()
    {
        var path = Metadata("BicepCliPath");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("Bicep CLI not restored; run dotnet restore.", path);
        }

        // NuGet extraction does not reliably keep the exec bit.
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            const UnixFileMode exec = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            if ((mode & UnixFileMode.UserExecute) == 0)
            {
                File.SetUnixFileMode(path, mode | exec);
            }
        }

        return path;
    }

    private static string Metadata(string key) =>
        typeof(BicepCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"AssemblyMetadata '{key}' missing from the test project.");
}

internal sealed record BicepResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StdOut}\nstderr:\n{StdErr}";
}
