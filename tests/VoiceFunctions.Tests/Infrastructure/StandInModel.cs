using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>One chat-completions request as the stand-in received it.</summary>
public sealed record ModelRequest(string Path, string? ApiKey, string? Authorization, JsonObject Body)
{
    public string? Model => Body["model"]?.GetValue<string>();

    public bool Stream => Body["stream"]?.GetValue<bool>() == true;

    public double? Temperature => Body["temperature"]?.GetValue<double>();

    /// <summary>(role, content) of every message, in order.</summary>
    public IReadOnlyList<(string Role, string Content)> Messages =>
        [.. Body["messages"]!.AsArray().Select(m => (m!["role"]!.GetValue<string>(), Content(m["content"])))];

    public string LastUserText => Messages.Last(m => m.Role == "user").Content;

    private static string Content(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.GetValue<string>() ?? string.Empty)),
        _ => string.Empty,
    };
}

/// <summary>What the stand-in does with one request.</summary>
public sealed record ModelBehaviour
{
    public string? Text { get; init; }
    public TimeSpan Delay { get; init; }

    /// <summary>Non-zero: answer with this HTTP status and an OpenAI-style error body.</summary>
    public int Status { get; init; }

    /// <summary>True: a 200 whose body is not a chat completion.</summary>
    public bool Malformed { get; init; }

    public static ModelBehaviour Reply(string text, int delayMs = 0) => new() { Text = text, Delay = TimeSpan.FromMilliseconds(delayMs) };

    public static ModelBehaviour Fail(int status, int delayMs = 0) => new() { Status = status, Delay = TimeSpan.FromMilliseconds(delayMs) };

    public static ModelBehaviour Garbage() => new() { Malformed = true };
}

/// <summary>
/// A stand-in for Azure OpenAI's OpenAI-compatible v1 API (the one part of the system that cannot run here): a
/// loopback Kestrel serving <c>POST …/chat/completions</c>, non-streaming and streaming (SSE), answering from a
/// script (reply text, delay, HTTP failure, malformed body) and recording every request it was sent.
/// </summary>
public sealed class StandInModel : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ModelRequest> _requests = new();

    private StandInModel(WebApplication app) => _app = app;

    /// <summary>What to do with a request; default: a short echo of the caller's words.</summary>
    public Func<ModelRequest, ModelBehaviour> Script { get; set; } = Echo;

    public Uri Endpoint { get; private set; } = null!;

    public IReadOnlyList<ModelRequest> Requests => [.. _requests];

    public static ModelBehaviour Echo(ModelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ModelBehaviour.Reply("You said: " + request.LastUserText);
    }

    public void Reset(Func<ModelRequest, ModelBehaviour>? script = null)
    {
        _requests.Clear();
        Script = script ?? Echo;
    }

    public static async Task<StandInModel> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var model = new StandInModel(app);
        app.MapPost("/{**path}", model.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        model.Endpoint = new Uri(app.Urls.First() + "/");
        return model;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (!context.Request.Path.Value!.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }

        var body = (await JsonNode.ParseAsync(context.Request.Body).ConfigureAwait(false))!.AsObject();
        var request = new ModelRequest(context.Request.Path.Value, context.Request.Headers["api-key"].FirstOrDefault(), context.Request.Headers.Authorization.FirstOrDefault(), body);
        _requests.Enqueue(request);
        var behaviour = Script(request);
        if (behaviour.Delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(behaviour.Delay, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // the client gave up (its timeout)
            }
        }

        if (behaviour.Status != 0)
        {
            context.Response.StatusCode = behaviour.Status;
            await context.Response.WriteAsJsonAsync(new { error = new { message = "stand-in failure", type = "server_error", code = "stand_in" } }).ConfigureAwait(false);
            return;
        }

        if (behaviour.Malformed)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"choices\": \"not a list\", \"id\": 12").ConfigureAwait(false);
            return;
        }

        var text = behaviour.Text ?? string.Empty;
        var promptTokens = request.Messages.Sum(m => m.Content.Length) / 4 + 1;
        var completionTokens = text.Length / 4 + 1;
        if (request.Stream)
        {
            context.Response.ContentType = "text/event-stream";
            foreach (var piece in Pieces(text))
            {
                await context.Response.WriteAsync("data: " + Chunk(request, new JsonObject { ["content"] = piece }, null, null) + "\n\n").ConfigureAwait(false);
            }

            var usage = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens };
            await context.Response.WriteAsync("data: " + Chunk(request, new JsonObject(), "stop", usage) + "\n\n").ConfigureAwait(false);
            await context.Response.WriteAsync("data: [DONE]\n\n").ConfigureAwait(false);
            return;
        }

        var completion = new JsonObject
        {
            ["id"] = "chatcmpl-standin",
            ["object"] = "chat.completion",
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["model"] = request.Model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
                ["finish_reason"] = "stop",
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens },
        };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(completion.ToJsonString()).ConfigureAwait(false);
    }

    private static IEnumerable<string> Pieces(string text)
    {
        for (var i = 0; i < text.Length; i += 8)
        {
            yield return text.Substring(i, Math.Min(8, text.Length - i));
        }
    }

    private static string Chunk(ModelRequest request, JsonObject delta, string? finish, JsonObject? usage) => new JsonObject
    {
        ["id"] = "chatcmpl-standin",
        ["object"] = "chat.completion.chunk",
        ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["model"] = request.Model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        ["usage"] = usage,
    }.ToJsonString();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
