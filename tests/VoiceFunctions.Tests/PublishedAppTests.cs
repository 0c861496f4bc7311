using System.Diagnostics;
using System.Net;
using System.Text.Json;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// `dotnet publish src/VoiceFunctions -c Release -o DIR` yields a complete custom-handler Functions app:
/// host.json + function metadata + the handler, which starts the way the Functions host starts it
/// (executable, arguments and working directory from host.json; port in FUNCTIONS_CUSTOMHANDLER_PORT)
/// and serves every route the function metadata declares. What `func` itself does is not run here
/// (Core Tools cannot be installed offline); this reproduces its contract.
/// </summary>
public sealed class PublishedAppTests(Azurite azurite, PublishedAppTests.PublishFolder publish) : IClassFixture<PublishedAppTests.PublishFolder>
{
    private readonly PublishFolder _publish = publish;

    [Fact]
    public void The_folder_holds_host_json_with_a_custom_handler_and_the_handler_it_names()
    {
        var description = _publish.HostJson.GetProperty("customHandler").GetProperty("description");

        Assert.Equal("2.0", _publish.HostJson.GetProperty("version").GetString());
        Assert.Equal("dotnet", description.GetProperty("defaultExecutablePath").GetString());
        var dll = Assert.Single(description.GetProperty("arguments").EnumerateArray()).GetString()!;
        Assert.True(File.Exists(Path.Combine(_publish.Folder, dll)), $"{dll} is not in the publish folder");
        Assert.True(File.Exists(Path.Combine(_publish.Folder, "VoiceFunctions.runtimeconfig.json")));
    }

    [Fact]
    public void Every_function_is_an_http_trigger_behind_a_function_key()
    {
        var functions = _publish.Functions();

        Assert.Equal(["RetentionPurge", "erase", "events", "sessions"], functions.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, function) in functions.Where(f => f.Key != "RetentionPurge"))
        {
            var trigger = function.GetProperty("bindings").EnumerateArray().Single(b => b.GetProperty("type").GetString() == "httpTrigger");
            Assert.True(trigger.GetProperty("authLevel").GetString() == (name == "erase" ? "admin" : "function"), $"{name} must require a key (the admin key to erase)");
            Assert.Contains(function.GetProperty("bindings").EnumerateArray(), b => b.GetProperty("type").GetString() == "http" && b.GetProperty("direction").GetString() == "out");
        }

        Assert.Equal("events", Trigger(functions["events"]).GetProperty("route").GetString());
        Assert.Equal(["post"], Trigger(functions["events"]).GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("sessions/{id}", Trigger(functions["sessions"]).GetProperty("route").GetString());
        Assert.Equal(["delete"], Trigger(functions["erase"]).GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("sessions/{id}", Trigger(functions["erase"]).GetProperty("route").GetString());
        Assert.Equal("0 0 3 * * *", Trigger(functions["RetentionPurge"]).GetProperty("schedule").GetString());
    }

    [Fact]
    public async Task The_published_handler_started_like_the_functions_host_starts_it_answers_a_call()
    {
        var description = _publish.HostJson.GetProperty("customHandler").GetProperty("description");
        var workingDirectory = description.TryGetProperty("workingDirectory", out var wd) ? Path.Combine(_publish.Folder, wd.GetString()!) : _publish.Folder;
        var settings = new Dictionary<string, string?>(TestPersonas.Settings) { ["AzureWebJobsStorage"] = azurite.ConnectionString, ["Spool:Path"] = Path.Combine(_publish.Folder, "spool") };

        await using var handler = HandlerProcess.Start(
            workingDirectory,
            description.GetProperty("defaultExecutablePath").GetString()!,
            description.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()!),
            settings);
        await handler.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var calls = new CallClient(new HttpClient { BaseAddress = handler.BaseAddress });
        var id = CallClient.NewSessionId();

        var start = await calls.StartAsync(id, to: TestPersonas.GermanNumber);
        var speak = await calls.SayAsync(id, "Guten Tag, ich möchte einen Termin.");
        var end = await calls.EndAsync(id);

        Assert.Equal(TestPersonas.GermanPrompt, Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(start)).SystemPrompt);
        Assert.Empty(speak);
        Assert.Empty(end);
        var session = await calls.GetSessionAsync(id);
        Assert.Equal("Guten Tag, ich möchte einen Termin.", session.GetProperty("trace")[1].GetProperty("text").GetString());
        Assert.True(session.TryGetProperty("ended_at", out _));
        Assert.DoesNotContain("   at ", handler.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_handler_listens_only_on_loopback_at_the_port_it_is_given()
    {
        var settings = new Dictionary<string, string?>(TestPersonas.Settings) { ["AzureWebJobsStorage"] = azurite.ConnectionString, ["Spool:Path"] = Path.Combine(_publish.Folder, "spool") };
        await using var handler = HandlerProcess.Start(_publish.Folder, "dotnet", ["VoiceFunctions.dll"], settings);

        await handler.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));

        Assert.Contains($"http://127.0.0.1:{handler.Port}", handler.Output, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = handler.BaseAddress };
        using var response = await http.GetAsync(new Uri("/", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static JsonElement Trigger(JsonElement function) =>
        function.GetProperty("bindings").EnumerateArray().Single(b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal));

    /// <summary>Publishes once per test run, Release, into a temporary folder.</summary>
    public sealed class PublishFolder : IAsyncLifetime
    {
        public string Folder { get; } = Path.Combine(Path.GetTempPath(), "voicefunctions-publish-" + Guid.NewGuid().ToString("N"));

        public JsonElement HostJson { get; private set; }

        public Dictionary<string, JsonElement> Functions() =>
            Directory.GetDirectories(Folder)
                .Where(d => File.Exists(Path.Combine(d, "function.json")))
                .ToDictionary(d => Path.GetFileName(d)!, d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "function.json"))).RootElement.Clone());

        public async ValueTask InitializeAsync()
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { "publish", Path.Combine(Repository.Root, "src", "VoiceFunctions"), "-c", "Release", "-o", Folder, "--nologo" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"dotnet publish failed:\n{await output}\n{await errors}");
            HostJson = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "host.json"))).RootElement.Clone();
        }

        public ValueTask DisposeAsync()
        {
            Directory.Delete(Folder, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}
