using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace VoiceFunctions.AiFlow.Tests;

/// <summary>
/// Packs the library once (into a temporary folder, with its own artifacts path so it never races the test
/// build), for the package tests below.
/// </summary>
public sealed class PackedLibrary : IAsyncLifetime
{
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "vf-aiflow-pack-" + Guid.NewGuid().ToString("N"));

    public string Feed => Path.Combine(Folder, "feed");

    public string Nupkg { get; private set; } = string.Empty;

    public string Version { get; private set; } = string.Empty;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        var project = Path.Combine(RepositoryRoot.Path, "src", "VoiceFunctions.AiFlow", "VoiceFunctions.AiFlow.csproj");
        await Dotnet.RunAsync(Folder, "pack", project, "-c", "Release", "-o", Feed, "--artifacts-path", Path.Combine(Folder, "artifacts"), "-p:ContinuousIntegrationBuild=true");
        Nupkg = Assert.Single(Directory.GetFiles(Feed, "VoiceFunctions.AiFlow.*.nupkg"));
        Version = Path.GetFileNameWithoutExtension(Nupkg)["VoiceFunctions.AiFlow.".Length..];

        // The same sources built again elsewhere, for the determinism check.
        await Dotnet.RunAsync(Folder, "pack", project, "-c", "Release", "-o", Path.Combine(Folder, "feed-again"), "--artifacts-path", Path.Combine(Folder, "artifacts-again"), "-p:ContinuousIntegrationBuild=true");
        Rebuilt = Path.Combine(Folder, "feed-again", Path.GetFileName(Nupkg));

        // And as a user packs it: no CI properties (what the package ships must not depend on them).
        await Dotnet.RunAsync(Folder, "pack", project, "-c", "Release", "-o", Path.Combine(Folder, "feed-plain"), "--artifacts-path", Path.Combine(Folder, "artifacts-plain"));
        Plain = Path.Combine(Folder, "feed-plain", Path.GetFileName(Nupkg));
    }

    public string Rebuilt { get; private set; } = string.Empty;

    /// <summary>The package from a plain <c>dotnet pack</c>, without <c>ContinuousIntegrationBuild</c>.</summary>
    public string Plain { get; private set; } = string.Empty;

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless; a failed cleanup must not fail the run.
        }

        return ValueTask.CompletedTask;
    }
}

public sealed class PackageTests(PackedLibrary package) : IClassFixture<PackedLibrary>
{
    private static XElement Child(XElement parent, string name) =>
        parent.Elements().SingleOrDefault(e => e.Name.LocalName == name) ?? throw new Xunit.Sdk.XunitException($"<{name}> missing in the nuspec");

    [Fact]
    public void Pack_produces_the_package_and_its_symbol_package()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", package.Version);
        Assert.True(File.Exists(Path.ChangeExtension(package.Nupkg, ".snupkg")), "no .snupkg next to the .nupkg");
    }

    [Fact]
    public void A_plain_pack_ships_the_library_and_its_xml_docs()
    {
        using var zip = ZipFile.OpenRead(package.Plain);
        var files = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("lib/net10.0/VoiceFunctions.AiFlow.dll", files);
        Assert.Contains("lib/net10.0/VoiceFunctions.AiFlow.xml", files); // issue 23, item 8: it was CI-only
        using var docs = zip.GetEntry("lib/net10.0/VoiceFunctions.AiFlow.xml")!.Open();
        var members = XDocument.Load(docs).Root!.Element("members")!.Elements("member").Select(m => (string?)m.Attribute("name")).ToList();
        Assert.Contains("T:VoiceFunctions.AiFlow.AiFlowEventParser", members);
    }

    [Fact]
    public void The_build_is_deterministic_the_same_sources_give_the_same_library()
    {
        static byte[] Library(string nupkg)
        {
            using var zip = ZipFile.OpenRead(nupkg);
            using var stream = zip.GetEntry("lib/net10.0/VoiceFunctions.AiFlow.dll")!.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }

        Assert.Equal(Library(package.Nupkg), Library(package.Rebuilt)); // built in two different folders
    }

    [Fact]
    public void The_package_carries_its_metadata_readme_docs_and_library()
    {
        using var zip = ZipFile.OpenRead(package.Nupkg);
        var nuspecEntry = Assert.Single(zip.Entries, e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspecEntry.Open();
        var metadata = Child(XDocument.Load(stream).Root!, "metadata");

        Assert.Equal("VoiceFunctions.AiFlow", Child(metadata, "id").Value);
        Assert.Equal(package.Version, Child(metadata, "version").Value);
        Assert.Contains("sipgate AI Flow", Child(metadata, "description").Value, StringComparison.Ordinal);
        Assert.Contains("sipgate", Child(metadata, "tags").Value.Split(' '));
        var license = Child(metadata, "license");
        Assert.Equal(("expression", "MIT"), (license.Attribute("type")?.Value, license.Value));
        Assert.Equal("README.md", Child(metadata, "readme").Value);
        var repository = Child(metadata, "repository");
        Assert.Equal("git", repository.Attribute("type")?.Value);
        Assert.StartsWith("https://", repository.Attribute("url")?.Value, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(Child(metadata, "authors").Value));

        var files = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("README.md", files);
        Assert.Contains("lib/net10.0/VoiceFunctions.AiFlow.dll", files);
        Assert.Contains("lib/net10.0/VoiceFunctions.AiFlow.xml", files); // IntelliSense for every public member
        using var readme = new StreamReader(zip.GetEntry("README.md")!.Open());
        var text = readme.ReadToEnd();
        Assert.Contains("dotnet add package VoiceFunctions.AiFlow", text, StringComparison.Ordinal);
        Assert.Contains("## Versioning", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fresh_project_restores_the_package_from_a_folder_builds_and_answers_each_fixture_event()
    {
        var sample = Path.Combine(package.Folder, "sample");
        Directory.CreateDirectory(sample);
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryRoot.Path, "samples", "AiFlowConsole")).Where(f => !f.Contains("/bin", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(sample, Path.GetFileName(file)));
        }

        // The package from the local folder; its dependencies (none beyond the framework today) from the normal source.
        File.WriteAllText(Path.Combine(sample, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{package.Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
            </configuration>
            """);
        // A private packages folder: the machine-wide cache may hold an older build of the same version.
        var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(package.Folder, "packages") };
        await Dotnet.RunAsync(sample, environment, "build", Path.Combine(sample, "AiFlowConsole.csproj"), "-c", "Release", $"-p:AiFlowVersion={package.Version}", "-o", Path.Combine(sample, "out"));

        var broken = Path.Combine(package.Folder, "broken");
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, "truncated.json"), """{"type":"session_start",""");
        var events = Path.Combine(AppContext.BaseDirectory, "fixtures", "events");
        var output = await Dotnet.RunAsync(sample, environment, Path.Combine(sample, "out", "AiFlowConsole.dll"), events, broken);

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToDictionary(l => l[..l.IndexOf(':', StringComparison.Ordinal)], l => l[(l.IndexOf(':', StringComparison.Ordinal) + 2)..]);
        Assert.Equal(Directory.GetFiles(events, "*.json").Length + 1, lines.Count);
        Assert.StartsWith("[{\"type\":\"speak\"", lines["session_start.json"], StringComparison.Ordinal);
        Assert.Contains("You pressed 5.", lines["dtmf_received.json"], StringComparison.Ordinal);
        Assert.Equal("204", lines["session_end.json"]);
        Assert.Equal("204", lines["unknown.future_event.json"]);
        Assert.StartsWith("400 ", lines["truncated.json"], StringComparison.Ordinal);
    }
}

/// <summary>Runs the dotnet CLI with a bounded time; a failure shows the whole output.</summary>
internal static class Dotnet
{
    // A hang guard, not a timing assertion: a pack on a loaded 2-core machine has taken over 75 s.
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    public static Task<string> RunAsync(string workingDirectory, params string[] arguments) =>
        RunAsync(workingDirectory, new Dictionary<string, string>(), arguments);

    public static async Task<string> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1"; // no build servers left behind by a test
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} took longer than {Limit.TotalSeconds} s:\n{await stdout}\n{await stderr}");
        }

        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}\n{await stderr}");
        return output;
    }
}
