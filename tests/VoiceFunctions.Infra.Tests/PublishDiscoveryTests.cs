using System.Diagnostics;

namespace VoiceFunctions.Infra.Tests;

/// <summary>
/// <c>func azure functionapp publish</c> as Core Tools decides where the app and its project are, re-implemented from
/// its source (Azure/azure-functions-core-tools at 3ee97a6, 2026-08-20, version 4.14.0 in the making; the same
/// rules since 4.7.0) and run on this repository's real tree:
/// <list type="bullet">
/// <item><c>src/Cli/func/Helpers/ScriptHostHelpers.cs</c> <c>GetFunctionAppRootDirectory</c>: the first folder from the
/// current one upwards in which <c>host.json</c> exists (<c>FileSystemHelpers.FileExists</c>); none up to the file
/// system root is the error "Unable to find project root".</item>
/// <item><c>src/Cli/func/Helpers/ProjectHelpers.cs</c> <c>FindProjectFile</c>: from the app root upwards, the first
/// <c>*.csproj</c> then <c>*.fsproj</c> other than <c>extensions.csproj</c>, stopping before the file system root;
/// none: null, the target framework stays unset and Flex refuses .NET isolated (core-tools#4794).</item>
/// <item><c>PublishFunctionAppAction.cs</c>: with a project, <c>DotnetHelpers.DetermineTargetFrameworkAsync</c> runs
/// <c>dotnet msbuild &lt;project&gt; -getProperty:TargetFrameworks -getProperty:TargetFramework</c>; without
/// <c>--no-build</c> it builds in the current folder (<c>DotnetHelpers.CanDotnetBuild</c>: exactly one project there)
/// into <c>bin/publish</c> and publishes from there; with <c>--no-build</c> it zips the app root as it is.</item>
/// </list>
/// </summary>
public class PublishDiscoveryTests
{
    private static string RepoRoot => Path.GetFullPath(Path.Combine(BicepCli.InfraDirectory, ".."));

    private static string ProjectDir => Path.Combine(RepoRoot, "src", "VoiceFunctions");

    /// <summary>ScriptHostHelpers.GetFunctionAppRootDirectory; <paramref name="extraFiles"/> are files a step before creates.</summary>
    private static string? FunctionAppRoot(string start, HashSet<string> extraFiles)
    {
        for (var dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var hostJson = Path.Combine(dir, "host.json");
            if (File.Exists(hostJson) || extraFiles.Contains(hostJson))
            {
                return dir;
            }
        }

        return null; // "Unable to find project root. Expecting to find one of host.json in project root."
    }

    /// <summary>ProjectHelpers.FindProjectFile: do { *.csproj, *.fsproj but extensions.csproj } while (dir != root).</summary>
    private static string? FindProjectFile(string path)
    {
        var dir = new DirectoryInfo(path);
        do
        {
            if (dir.Exists)
            {
                foreach (var file in dir.GetFiles("*.csproj").Concat(dir.GetFiles("*.fsproj")))
                {
                    if (!string.Equals(file.Name, "extensions.csproj", StringComparison.OrdinalIgnoreCase))
                    {
                        return file.FullName;
                    }
                }
            }

            dir = dir.Parent!;
        }
        while (dir.FullName != dir.Root.FullName);

        return null;
    }

    /// <summary>DotnetHelpers.CanDotnetBuild: exactly one project in the current folder (more is an error).</summary>
    private static bool CanDotnetBuild(string currentDirectory)
    {
        var projects = Directory.GetFiles(currentDirectory, "*.csproj", SearchOption.TopDirectoryOnly)
            .Concat(Directory.GetFiles(currentDirectory, "*.fsproj", SearchOption.TopDirectoryOnly))
            .Where(f => Path.GetFileName(currentDirectory) == "extensions" || !Path.GetFileName(f).StartsWith("extensions.", StringComparison.Ordinal))
            .ToList();
        Assert.True(projects.Count <= 1, "Can't determine Project to build: " + string.Join(", ", projects));
        return projects.Count == 1;
    }

    /// <summary>DotnetHelpers.DetermineTargetFrameworkAsync, the command it runs.</summary>
    private static string TargetFramework(string project)
    {
        var start = new ProcessStartInfo("dotnet", ["msbuild", project, "-nologo", "-v:q", "-restore:false", "-getProperty:TargetFrameworks", "-getProperty:TargetFramework"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(project)!,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "dotnet msbuild -getProperty did not finish");
        Assert.True(process.ExitCode == 0, stderr);
        return stdout.Result;
    }

    [Fact]
    public void From_the_project_folder_core_tools_finds_the_app_root_the_project_and_net10()
    {
        // The README's raw command: cd src/VoiceFunctions && func azure functionapp publish <app> --dotnet-isolated.
        var root = FunctionAppRoot(ProjectDir, new HashSet<string>());

        Assert.Equal(ProjectDir, root);
        Assert.Equal(Path.Combine(ProjectDir, "VoiceFunctions.csproj"), FindProjectFile(root!));
        Assert.True(CanDotnetBuild(ProjectDir));
        Assert.Contains("net10.0", TargetFramework(FindProjectFile(root!)!), StringComparison.Ordinal);
    }

    [Fact]
    public void From_the_publish_folder_scripts_deploy_uses_the_project_is_still_found_upwards()
    {
        // scripts/deploy.sh: dotnet publish -r linux-x64 -o src/VoiceFunctions/bin/publish (which holds host.json), then
        // func azure functionapp publish <app> --dotnet-isolated --no-build from there.
        var publish = Path.Combine(ProjectDir, "bin", "publish");
        var root = FunctionAppRoot(publish, new HashSet<string> { Path.Combine(publish, "host.json") });

        Assert.Equal(publish, root);
        Assert.Equal(Path.Combine(ProjectDir, "VoiceFunctions.csproj"), FindProjectFile(root!));
    }

    [Fact]
    public void From_the_repository_root_no_project_is_found_so_the_readme_does_not_publish_from_there()
    {
        Assert.Equal(RepoRoot, FunctionAppRoot(RepoRoot, new HashSet<string>()));
        Assert.Null(FindProjectFile(RepoRoot));
    }

    [Fact]
    public void The_project_folders_host_json_is_the_top_level_one_so_its_settings_live_in_one_place()
    {
        var projectHostJson = new FileInfo(Path.Combine(ProjectDir, "host.json"));

        // A committed symbolic link (git mode 120000): a checkout without symlink support gets a text file holding
        // the target, which Core Tools' existence check still finds; the build always copies the top-level file.
        Assert.Equal("../../host.json", projectHostJson.LinkTarget);
        Assert.Equal(File.ReadAllText(Path.Combine(RepoRoot, "host.json")), File.ReadAllText(projectHostJson.FullName));
        var csproj = File.ReadAllText(Path.Combine(ProjectDir, "VoiceFunctions.csproj"));
        Assert.Contains("<None Include=\"../../host.json\" Link=\"host.json\" CopyToOutputDirectory=\"PreserveNewest\" CopyToPublishDirectory=\"PreserveNewest\" />", csproj, StringComparison.Ordinal);
    }
}
