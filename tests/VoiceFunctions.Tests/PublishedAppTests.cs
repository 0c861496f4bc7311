using System.Net;
using System.Text.Json;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// `dotnet publish src/VoiceFunctions -c Release -o DIR` yields a complete isolated-worker Functions app: host.json,
/// worker.config.json, functions.metadata (written by the Worker SDK from the attributed functions) and the worker.
/// The real host cannot run here (Core Tools downloads a binary); the emulator starts the folder as the host does.
/// </summary>
public sealed class PublishedAppTests(Azurite azurite)
{
    [Fact]
    public async Task The_folder_is_an_isolated_worker_app_with_host_json_at_its_root()
    {
        var folder = await PublishedWorker.FolderAsync();
        var hostJson = Json(folder, "host.json");
        var worker = Json(folder, "worker.config.json").GetProperty("description");

        Assert.Equal("2.0", hostJson.GetProperty("version").GetString());
        Assert.False(hostJson.TryGetProperty("customHandler", out _), "no custom handler any more");
        Assert.Equal("api", hostJson.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        Assert.Equal("dotnet-isolated", worker.GetProperty("language").GetString());
        Assert.Equal("dotnet", worker.GetProperty("defaultExecutablePath").GetString());
        Assert.Equal("VoiceFunctions.dll", worker.GetProperty("defaultWorkerPath").GetString());
        Assert.True(File.Exists(Path.Combine(folder, "VoiceFunctions.dll")));
        Assert.True(File.Exists(Path.Combine(folder, "extensions.json")));
        Assert.Empty(Directory.GetFiles(folder, "function.json", SearchOption.AllDirectories));
        Assert.Equal(File.ReadAllText(Path.Combine(Repository.Root, "host.json")), File.ReadAllText(Path.Combine(folder, "host.json")));
    }

    [Fact]
    public async Task The_metadata_declares_each_function_with_its_route_methods_and_key()
    {
        var folder = await PublishedWorker.FolderAsync();
        var functions = Json(folder, "functions.metadata").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, Trigger);

        Assert.Equal(["CallNotes", "CallNotesIdleSweep", "CallNotesPoison", "RetentionPurge", "erase", "events", "sessions"], functions.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("httpTrigger", "Function", "events", "post"), Http(functions["events"]));
        Assert.Equal(("httpTrigger", "Admin", "sessions/{id}", "get"), Http(functions["sessions"])); // the webhook's key cannot read calls
        Assert.Equal(("httpTrigger", "Admin", "sessions/{id}", "delete"), Http(functions["erase"]));
        Assert.Equal("timerTrigger", functions["RetentionPurge"].GetProperty("type").GetString());
        Assert.Equal("%RetentionSchedule%", functions["RetentionPurge"].GetProperty("schedule").GetString());

        // Call notes (issue 21): queue triggers on the host's own storage (no connection named: AzureWebJobsStorage).
        Assert.Equal("queueTrigger", functions["CallNotes"].GetProperty("type").GetString());
        Assert.Equal("call-notes", functions["CallNotes"].GetProperty("queueName").GetString());
        Assert.Equal("queueTrigger", functions["CallNotesPoison"].GetProperty("type").GetString());
        Assert.Equal("call-notes-poison", functions["CallNotesPoison"].GetProperty("queueName").GetString());
        Assert.False(functions["CallNotes"].TryGetProperty("connection", out var connection) && connection.GetString() is { Length: > 0 });
        Assert.Equal("timerTrigger", functions["CallNotesIdleSweep"].GetProperty("type").GetString());
        Assert.Equal("0 */5 * * * *", functions["CallNotesIdleSweep"].GetProperty("schedule").GetString());
    }

    [Fact]
    public async Task The_published_worker_under_the_host_emulator_answers_a_call()
    {
        await using var app = new WebhookApp(azurite);
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();

        var start = await calls.StartAsync(id, to: TestPersonas.GermanNumber);
        var speak = await calls.SayAsync(id, "Guten Tag, ich möchte einen Termin.");
        var end = await calls.EndAsync(id);

        Assert.Equal(["CallNotes", "CallNotesIdleSweep", "CallNotesPoison", "RetentionPurge", "erase", "events", "sessions"], app.Host.Functions.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Equal(TestPersonas.GermanPrompt, Assert.IsType<ConfigureVoiceToVoiceAction>(Assert.Single(start)).SystemPrompt);
        Assert.Empty(speak);
        Assert.Empty(end);
        var session = await calls.GetSessionAsync(id);
        Assert.Equal("Guten Tag, ich möchte einen Termin.", session.GetProperty("trace")[1].GetProperty("text").GetString());
        Assert.True(session.TryGetProperty("ended_at", out _));
        Assert.DoesNotContain("   at ", app.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Routes_and_methods_not_declared_are_404_like_the_host()
    {
        await using var app = new WebhookApp(azurite);
        using var calls = app.Calls();

        using var unknown = await calls.Http.GetAsync(new Uri("/api/nothing-here", UriKind.Relative));
        using var wrongMethod = await calls.Http.GetAsync(new Uri("/api/events", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        // The host's methods are a route constraint (WebScriptHostHttpRoutesManager): a GET on a POST route is 404.
        Assert.Equal(HttpStatusCode.NotFound, wrongMethod.StatusCode);
    }

    private static JsonElement Json(string folder, string file) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, file))).RootElement.Clone();

    private static JsonElement Trigger(JsonElement function) =>
        function.GetProperty("bindings").EnumerateArray().Single(b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal)).Clone();

    private static (string?, string?, string?, string?) Http(JsonElement trigger) =>
        (trigger.GetProperty("type").GetString(), trigger.GetProperty("authLevel").GetString(), trigger.GetProperty("route").GetString(), Assert.Single(trigger.GetProperty("methods").EnumerateArray()).GetString());
}
