using System.Net;
using System.Text.Json.Serialization;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Http;

/// <summary>
/// <c>POST /RetentionPurge</c>: the timer function's invocation. The Functions host POSTs to
/// <c>/{functionName}</c> (outside the /api prefix, so never reachable through the public HTTP front)
/// with <c>{"Data": {...}, "Metadata": {...}}</c> and expects <c>{"Outputs", "Logs", "ReturnValue"}</c>.
/// Only loopback callers are served: the host runs the handler on the same instance.
/// </summary>
public static class RetentionEndpoint
{
    public const string FunctionName = "RetentionPurge";

    public static WebApplication MapRetention(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/" + FunctionName, RunAsync).WithName(FunctionName);
        return app;
    }

    private static async Task<IResult> RunAsync(HttpContext context, RetentionPurge purge, CancellationToken cancellationToken)
    {
        if (context.Connection.RemoteIpAddress is not { } remote || !IPAddress.IsLoopback(remote))
        {
            return TypedResults.NotFound();
        }

        // The payload (timer schedule status) carries nothing the purge needs; it is not parsed.
        var result = await purge.RunAsync(cancellationToken).ConfigureAwait(false);
        var log = $"Purged {result.Purged} sessions started before {result.Cutoff:O}{(result.MoreLeft ? "; more left for the next run" : string.Empty)}.";
        return TypedResults.Json(new InvocationResult { Logs = [log] }, AppJsonContext.Relaxed.InvocationResult);
    }
}

/// <summary>A custom handler's answer to a non-HTTP invocation.</summary>
public sealed record InvocationResult
{
    [JsonPropertyName("Outputs")]
    public Dictionary<string, string> Outputs { get; init; } = [];

    [JsonPropertyName("Logs")]
    public IReadOnlyList<string> Logs { get; init; } = [];

    [JsonPropertyName("ReturnValue")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? ReturnValue { get; init; }
}
