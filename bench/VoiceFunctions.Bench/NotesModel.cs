using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace VoiceFunctions.Bench;

/// <summary>
/// The notes phase's stand-in for Azure OpenAI's OpenAI-compatible v1 chat completions (a model cannot run here):
/// loopback Kestrel, <c>POST …/chat/completions</c>, non-streaming. It behaves as a reasoning deployment (gpt-5.2 and gpt-5.4, the
/// model infra/ creates, with <c>ChatModel__Family=Reasoning</c> as infra/ writes it), with the request checks of
/// tests/VoiceFunctions.Tests/Infrastructure/StandInModel.cs, which cites them from MicrosoftDocs/azure-ai-docs
/// articles/ai-foundry/openai/how-to/reasoning.md (commit 04973be): <c>temperature</c> other than 1, <c>top_p</c>,
/// penalties, <c>logprobs</c>, <c>logit_bias</c> and <c>max_tokens</c> refused with an immediate 400 in OpenAI's error
/// shape; <c>max_completion_tokens</c> counts the hidden reasoning tokens, and an answer that does not fit is cut
/// (<c>finish_reason: length</c>) as the service cuts it. After <see cref="Delay"/> it answers a structured-output
/// request (<c>response_format: {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}</c>, OpenAI's
/// structured-outputs wire shape, which OpenAI .NET 2.15's <c>ChatResponseFormat.CreateJsonSchemaFormat</c> writes for
/// Microsoft.Extensions.AI's <c>ChatResponseFormat.ForJsonSchema</c>) with JSON built from that schema, so whatever
/// fields and enums the app asks for, the answer fits them; any other request with a short spoken reply.
/// </summary>
public sealed partial class NotesModel : IAsyncDisposable
{
    /// <summary>Reasoning efforts gpt-5.2 takes (2025-12-11; the tests' <c>StandInFamily.Gpt52</c>).</summary>
    private static readonly string[] Efforts = ["none", "low", "medium", "high", "xhigh"];

    private static readonly string[] Refused = ["top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias"];

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    private NotesModel(WebApplication app, TimeSpan delay)
    {
        _app = app;
        Delay = delay;
    }

    /// <summary>How long the model "thinks" before it answers (from the request's arrival).</summary>
    public TimeSpan Delay { get; }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Requests by kind: <c>notes</c> (structured output answered), <c>chat</c> (plain reply), <c>refused:&lt;param&gt;</c>, <c>cut</c>.</summary>
    public IReadOnlyDictionary<string, long> Counts => new SortedDictionary<string, long>(_counts, StringComparer.Ordinal);

    /// <summary>
    /// When the last notes answer for a call was sent (UTC), by the call's tag: the benchmark's caller says "my reference
    /// is REF-xxxxxxxx" in one turn, the app puts the transcript into the prompt, so the answer can be matched to its call.
    /// </summary>
    public ConcurrentDictionary<string, DateTime> AnsweredByTag { get; } = new(StringComparer.Ordinal);

    [GeneratedRegex(@"REF-[0-9A-F]{8}")]
    private static partial Regex Tag();

    public static async Task<NotesModel> StartAsync(TimeSpan delay)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var model = new NotesModel(app, delay);
        app.MapPost("/{**path}", model.HandleAsync);
        await app.StartAsync();
        model.Endpoint = new Uri(app.Urls.First() + "/");
        return model;
    }

    private void Count(string kind) => _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);

    private async Task HandleAsync(HttpContext context)
    {
        var arrived = DateTime.UtcNow;
        if (!context.Request.Path.Value!.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }

        if (await JsonNode.ParseAsync(context.Request.Body) is not JsonObject body)
        {
            context.Response.StatusCode = 400;
            return;
        }

        if (Refusal(body) is { } refusal)
        {
            // Parameter checks come before the model runs: an immediate 400, as the service answers them.
            Count("refused:" + refusal["error"]!["param"]!.GetValue<string>());
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(refusal.ToJsonString());
            return;
        }

        var format = body["response_format"] as JsonObject;
        var schema = format?["type"]?.GetValue<string>() == "json_schema" ? format["json_schema"]?["schema"] as JsonObject : null;
        var text = schema is null
            ? "Thank you, I have noted that."
            : SchemaAnswer.For(schema).ToJsonString();
        try
        {
            var left = Delay - (DateTime.UtcNow - arrived);
            if (left > TimeSpan.Zero)
            {
                await Task.Delay(left, context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            Count("abandoned"); // the client gave up first (its timeout)
            return;
        }

        // Reasoning comes first and counts against max_completion_tokens; what is left is the visible answer.
        var effort = body["reasoning_effort"]?.GetValue<string>() ?? "none";
        var reasoningTokens = effort switch { "none" => 0, "low" => 150, "medium" => 400, "high" => 1500, _ => 4000 };
        var budget = body["max_completion_tokens"]?.GetValue<int>() ?? int.MaxValue;
        reasoningTokens = Math.Min(budget, reasoningTokens);
        var completionTokens = (text.Length / 4) + 1;
        var finish = "stop";
        if (completionTokens > budget - reasoningTokens)
        {
            text = text[..Math.Min(text.Length, (budget - reasoningTokens) * 4)];
            completionTokens = budget - reasoningTokens;
            finish = "length";
            Count("cut");
        }

        Count(schema is null ? "chat" : "notes");
        var promptTokens = body["messages"]?.ToJsonString().Length / 4 ?? 0;
        var completion = new JsonObject
        {
            ["id"] = "chatcmpl-bench",
            ["object"] = "chat.completion",
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["model"] = body["model"]?.GetValue<string>(),
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
                ["finish_reason"] = finish,
            }),
            ["usage"] = new JsonObject
            {
                ["prompt_tokens"] = promptTokens,
                ["completion_tokens"] = completionTokens + reasoningTokens,
                ["total_tokens"] = promptTokens + completionTokens + reasoningTokens,
                ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = reasoningTokens },
            },
        };
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(completion.ToJsonString());
        await context.Response.CompleteAsync();
        if (schema is not null && Tag().Match(body["messages"]?.ToJsonString() ?? string.Empty) is { Success: true } tag)
        {
            AnsweredByTag[tag.Value] = DateTime.UtcNow;
        }
    }

    /// <summary>The 400 body for a parameter a reasoning deployment does not take; null when the request is acceptable.</summary>
    private static JsonObject? Refusal(JsonObject body)
    {
        if (body["temperature"] is { } t && t.GetValue<double>() != 1)
        {
            return Error(string.Create(CultureInfo.InvariantCulture, $"Unsupported value: 'temperature' does not support {t.ToJsonString()} with this model. Only the default (1) value is supported."), "temperature", "unsupported_value");
        }

        foreach (var param in Refused)
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

        if (body["reasoning_effort"]?.GetValue<string>() is { } effort && !Efforts.Contains(effort))
        {
            return Error($"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. Supported values are: {string.Join(", ", Efforts.Select(e => $"'{e}'"))}.", "reasoning_effort", "unsupported_value");
        }

        return null;
    }

    private static JsonObject Error(string message, string param, string code) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error", ["param"] = param, ["code"] = code },
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// A valid instance of a JSON schema as structured outputs use it (objects with <c>properties</c>, <c>enum</c>,
/// <c>type</c> lists with <c>null</c>, <c>anyOf</c>, local <c>$ref</c>s into <c>$defs</c>/<c>definitions</c>): every
/// property filled, so a strict schema (all properties required) is met. Strings named like the notes' fields get
/// plausible notes; an enum takes its first value that is not <c>other</c>.
/// </summary>
public static class SchemaAnswer
{
    private const string Summary = "The caller asked when their parcel arrives and gave the tracking number. The assistant promised a call back with the delivery date.";

    public static JsonNode For(JsonObject schema) => Value(schema, schema, null, 0) ?? new JsonObject();

    private static JsonNode? Value(JsonObject root, JsonObject schema, string? name, int depth)
    {
        if (depth > 16)
        {
            return null;
        }

        if (schema["$ref"]?.GetValue<string>() is { } reference && Resolve(root, reference) is { } target)
        {
            return Value(root, target, name, depth + 1);
        }

        if (schema["const"] is { } constant)
        {
            return constant.DeepClone();
        }

        if (schema["enum"] is JsonArray values && values.Count > 0)
        {
            var pick = values.FirstOrDefault(v => v is not null && v.ToJsonString() != "\"other\"") ?? values[0];
            return pick?.DeepClone();
        }

        foreach (var union in new[] { "anyOf", "oneOf" })
        {
            if (schema[union] is JsonArray branches && branches.OfType<JsonObject>().FirstOrDefault(b => b["type"]?.ToJsonString() != "\"null\"") is { } branch)
            {
                return Value(root, branch, name, depth + 1);
            }
        }

        var type = schema["type"] switch
        {
            JsonArray types => types.Select(t => t?.GetValue<string>()).FirstOrDefault(t => t is not null and not "null"),
            JsonValue single => single.GetValue<string>(),
            _ => schema["properties"] is not null ? "object" : null,
        };
        switch (type)
        {
            case "object":
                var result = new JsonObject();
                if (schema["properties"] is JsonObject properties)
                {
                    foreach (var (key, property) in properties)
                    {
                        result[key] = property is JsonObject p ? Value(root, p, key, depth + 1) : null;
                    }
                }

                return result;
            case "array":
                var min = schema["minItems"]?.GetValue<int>() ?? 0;
                var array = new JsonArray();
                for (var i = 0; i < min && schema["items"] is JsonObject items; i++)
                {
                    array.Add(Value(root, items, name, depth + 1));
                }

                return array;
            case "boolean":
                return JsonValue.Create(name is not null && name.Contains("callback", StringComparison.OrdinalIgnoreCase));
            case "integer":
            case "number":
                return JsonValue.Create(schema["minimum"]?.GetValue<double>() is { } m ? (long)Math.Ceiling(m) : 0L);
            case "string":
                return JsonValue.Create(Text(schema, name));
            default:
                return null;
        }
    }

    private static string Text(JsonObject schema, string? name)
    {
        var n = name?.ToUpperInvariant() ?? string.Empty;
        var text =
            n.Contains("SUMMARY", StringComparison.Ordinal) ? Summary :
            n.Contains("NUMBER", StringComparison.Ordinal) || n.Contains("PHONE", StringComparison.Ordinal) ? "+491701234567" :
            n.Contains("FOLLOW", StringComparison.Ordinal) ? "Call back with the delivery date." :
            n.Contains("LANG", StringComparison.Ordinal) ? "en" :
            string.Empty;
        if (schema["format"]?.GetValue<string>() == "date-time")
        {
            text = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        }

        if (schema["minLength"]?.GetValue<int>() is { } min && text.Length < min)
        {
            text = text.PadRight(min, '.');
        }

        if (schema["maxLength"]?.GetValue<int>() is { } max && text.Length > max)
        {
            text = text[..max];
        }

        return text;
    }

    private static JsonObject? Resolve(JsonObject root, string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal))
        {
            return reference == "#" ? root : null;
        }

        JsonNode? node = root;
        foreach (var segment in reference[2..].Split('/'))
        {
            node = node?[segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)];
        }

        return node as JsonObject;
    }
}
