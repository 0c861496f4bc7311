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

    public string? ReasoningEffort => Body["reasoning_effort"]?.GetValue<string>();

    public int? MaxCompletionTokens => Body["max_completion_tokens"]?.GetValue<int>();

    public bool HasMaxTokens => Body.ContainsKey("max_tokens");

    /// <summary>(role, content) of every message, in order.</summary>
    public IReadOnlyList<(string Role, string Content)> Messages =>
        [.. Body["messages"]!.AsArray().Select(m => (m!["role"]!.GetValue<string>(), Content(m["content"])))];

    public string LastUserText => Messages.Last(m => m.Role == "user").Content;

    /// <summary>A structured-output request: <c>response_format: {type: json_schema, json_schema: {name, schema, strict}}</c>.</summary>
    public bool IsStructured => Body["response_format"]?["type"]?.GetValue<string>() == "json_schema";

    public JsonObject? JsonSchema => Body["response_format"]?["json_schema"]?["schema"] as JsonObject;

    public bool Strict => Body["response_format"]?["json_schema"]?["strict"]?.GetValue<bool>() == true;

    /// <summary>The values a schema property's <c>enum</c> allows, in order.</summary>
    public IReadOnlyList<string> SchemaEnum(string property) =>
        [.. (JsonSchema?["properties"]?[property]?["enum"] as JsonArray ?? []).Select(v => v!.GetValue<string>())];

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

    /// <summary>Reasoning family only: tokens spent reasoning on this request instead of the effort's usual count.</summary>
    public int? ReasoningTokens { get; init; }

    public static ModelBehaviour Reply(string text, int delayMs = 0) => new() { Text = text, Delay = TimeSpan.FromMilliseconds(delayMs) };

    public static ModelBehaviour Fail(int status, int delayMs = 0) => new() { Status = status, Delay = TimeSpan.FromMilliseconds(delayMs) };

    public static ModelBehaviour Garbage() => new() { Malformed = true };
}

/// <summary>
/// Which model family the stand-in behaves as. Classic: gpt-4o/gpt-4.1 (temperature, <c>max_tokens</c> and
/// <c>max_completion_tokens</c> taken; <c>reasoning_effort</c> refused). Reasoning: Azure OpenAI's reasoning models as
/// MicrosoftDocs/azure-ai-docs articles/ai-foundry/openai/how-to/reasoning.md (commit 04973be) states them: "unsupported
/// with reasoning models: temperature, top_p, presence_penalty, frequency_penalty, logprobs, top_logprobs, logit_bias,
/// max_tokens"; only <c>max_completion_tokens</c>, which counts the hidden <c>reasoning_tokens</c>
/// (<c>usage.completion_tokens_details</c>); <c>reasoning_effort</c> low/medium/high plus <c>minimal</c> for gpt-5,
/// default medium. gpt-5.1 and later take <c>none</c> and not <c>minimal</c> (Azure SDK ReasoningEffort reference).
/// The refusals are 400s in OpenAI's error shape, as Azure returns them for gpt-5 deployments:
/// <c>{"error":{"message":"Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1)
/// value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}</c>.
/// </summary>
public sealed record StandInFamily(string Name, IReadOnlyList<string>? Efforts, string? DefaultEffort)
{
    public static readonly StandInFamily Classic = new("classic", null, null);

    /// <summary>gpt-5-mini 2025-08-07: minimal, low, medium, high.</summary>
    public static readonly StandInFamily Gpt5Mini = new("gpt-5-mini", ["minimal", "low", "medium", "high"], "medium");

    /// <summary>gpt-5.2 2025-12-11: none, low, medium, high, xhigh. The template's default, gpt-5.4 2026-03-05, is asked the same way (none is its lowest too: gpt-5.1 and later).</summary>
    public static readonly StandInFamily Gpt52 = new("gpt-5.2", ["none", "low", "medium", "high", "xhigh"], "none");

    public bool Reasons => Efforts is not null;

    /// <summary>Hidden reasoning tokens a short spoken answer costs at each effort (orders of magnitude, not measured).</summary>
    public static int ReasoningTokensAt(string effort) => effort switch
    {
        "none" => 0,
        "minimal" => 12,
        "low" => 150,
        "medium" => 400,
        "high" => 1500,
        _ => 4000,
    };

    public override string ToString() => Name;
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

    /// <summary>
    /// What to do with a structured-output request (the call's notes); default: <see cref="Notes"/>, an answer that fits the
    /// schema, after <see cref="StructuredDelay"/>, or cut-off JSON while <see cref="BrokenStructured"/> is on.
    /// </summary>
    public Func<ModelRequest, ModelBehaviour>? StructuredScript { get; set; }

    /// <summary>How long a structured-output answer takes (the benchmark's 1.5 s).</summary>
    public TimeSpan StructuredDelay { get; set; }

    /// <summary>True: every structured-output answer is JSON cut off mid-string (a model that ignores the schema).</summary>
    public bool BrokenStructured { get; set; }

    /// <summary>
    /// A notes answer that fits the request's schema: the first reason offered, outcome <c>callback_requested</c> with a
    /// callback when the transcript mentions "call me back", else <c>resolved</c>.
    /// </summary>
    public ModelBehaviour Notes(ModelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (BrokenStructured)
        {
            return new ModelBehaviour { Text = "{\"summary\": \"The caller wanted", Delay = StructuredDelay };
        }

        var transcript = request.LastUserText;
        var callback = transcript.Contains("call me back", StringComparison.OrdinalIgnoreCase);
        var answer = new JsonObject
        {
            ["summary"] = "The caller asked about an appointment. The assistant answered.",
            ["reason"] = request.SchemaEnum("reason") is { Count: > 0 } reasons ? reasons[0] : "other",
            ["outcome"] = callback ? "callback_requested" : "resolved",
            ["callback_requested"] = callback,
            ["callback_number"] = null,
            ["follow_up"] = callback ? "Call the caller back." : "",
        };
        return new ModelBehaviour { Text = answer.ToJsonString(), Delay = StructuredDelay };
    }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Which parameters it takes and how it spends its output budget; fixed at start.</summary>
    public StandInFamily Family { get; private set; } = StandInFamily.Classic;

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
        StructuredScript = null;
        StructuredDelay = TimeSpan.Zero;
        BrokenStructured = false;
    }

    public static async Task<StandInModel> StartAsync(StandInFamily? family = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var model = new StandInModel(app) { Family = family ?? StandInFamily.Classic };
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
        if (Refusal(body) is { } refusal)
        {
            // Parameter checks come before the model runs: an immediate 400, as the service answers them.
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(refusal.ToJsonString()).ConfigureAwait(false);
            return;
        }

        if (request.IsStructured && request.Strict && StrictSchemaProblem(request.JsonSchema) is { } problem)
        {
            // OpenAI's structured outputs (platform.openai.com/docs/guides/structured-outputs, "Supported schemas"): in strict
            // mode every object must set additionalProperties: false and list every property as required; otherwise a 400.
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Error($"Invalid schema for response_format 'call_notes': {problem}", "response_format", "invalid_json_schema").ToJsonString()).ConfigureAwait(false);
            return;
        }

        var behaviour = request.IsStructured ? (StructuredScript ?? Notes)(request) : Script(request);
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
        var reasoningTokens = 0;
        var finish = "stop";
        if (Family.Reasons)
        {
            // Reasoning comes first and counts against max_completion_tokens; what is left is the visible answer.
            var budget = request.MaxCompletionTokens ?? int.MaxValue;
            reasoningTokens = Math.Min(budget, behaviour.ReasoningTokens ?? StandInFamily.ReasoningTokensAt(request.ReasoningEffort ?? Family.DefaultEffort!));
            var left = budget - reasoningTokens;
            if (completionTokens > left)
            {
                text = text[..Math.Min(text.Length, left * 4)];
                completionTokens = left;
                finish = "length";
            }

            completionTokens += reasoningTokens;
        }
        if (request.Stream)
        {
            context.Response.ContentType = "text/event-stream";
            foreach (var piece in Pieces(text))
            {
                await context.Response.WriteAsync("data: " + Chunk(request, new JsonObject { ["content"] = piece }, null, null) + "\n\n").ConfigureAwait(false);
            }

            await context.Response.WriteAsync("data: " + Chunk(request, new JsonObject(), finish, Usage(promptTokens, completionTokens, reasoningTokens)) + "\n\n").ConfigureAwait(false);
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
                ["finish_reason"] = finish,
            }),
            ["usage"] = Usage(promptTokens, completionTokens, reasoningTokens),
        };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(completion.ToJsonString()).ConfigureAwait(false);
    }

    private static JsonObject Usage(int prompt, int completion, int reasoning) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
        ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = reasoning },
    };

    /// <summary>The 400 body for a parameter this family does not take; null when the request is acceptable.</summary>
    private JsonObject? Refusal(JsonObject body)
    {
        if (!Family.Reasons)
        {
            return body.ContainsKey("reasoning_effort")
                ? Error("Unsupported parameter: 'reasoning_effort' is not supported with this model.", "reasoning_effort", "unsupported_parameter")
                : null;
        }

        if (body["temperature"] is { } t && t.GetValue<double>() != 1)
        {
            return Error($"Unsupported value: 'temperature' does not support {t.ToJsonString()} with this model. Only the default (1) value is supported.", "temperature", "unsupported_value");
        }

        foreach (var param in new[] { "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias" })
        {
            if (body.ContainsKey(param))
            {
                return Error($"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter");
            }
        }

        if (body.ContainsKey("max_tokens"))
        {
            return Error("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter");
        }

        if (body["reasoning_effort"]?.GetValue<string>() is { } effort && !Family.Efforts!.Contains(effort))
        {
            var supported = string.Join(", ", Family.Efforts!.Select(e => $"'{e}'"));
            return Error($"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. Supported values are: {supported}.", "reasoning_effort", "unsupported_value");
        }

        return null;
    }

    private static string? StrictSchemaProblem(JsonObject? schema)
    {
        if (schema is null)
        {
            return "no schema";
        }

        if (schema["additionalProperties"]?.GetValue<bool>() != false)
        {
            return "'additionalProperties' is required to be supplied and to be false.";
        }

        var required = (schema["required"] as JsonArray ?? []).Select(r => r!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        var missing = (schema["properties"] as JsonObject ?? []).Select(p => p.Key).FirstOrDefault(p => !required.Contains(p));
        return missing is null ? null : $"'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'.";
    }

    private static JsonObject Error(string message, string param, string code) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error", ["param"] = param, ["code"] = code },
    };

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
