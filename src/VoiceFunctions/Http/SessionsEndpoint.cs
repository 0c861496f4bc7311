using System.Text.Json.Serialization;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Http;

/// <summary><c>GET /api/sessions/{id}</c>: a call read back for an operator, without the Azure portal.</summary>
public static class SessionsEndpoint
{
    public static RouteGroupBuilder MapSessions(this RouteGroupBuilder api)
    {
        api.MapGet("/sessions/{id}", GetAsync).WithName("sessions");
        api.MapDelete("/sessions/{id}", DeleteAsync).WithName("erase");
        return api;
    }

    private static Task<IResult> GetAsync(string id, SessionStore store, CancellationToken cancellationToken) =>
        ForSessionAsync(id, async sessionId =>
        {
            var record = await store.ReadAsync(sessionId, cancellationToken).ConfigureAwait(false);
            return record is null ? Problems.SessionNotFound() : TypedResults.Json(SessionView.From(record), AppJsonContext.Relaxed.SessionView);
        }, cancellationToken);

    /// <summary>Erasure (data protection): removes the session, its trace and anything spooled; 204 whether or not it existed.</summary>
    private static Task<IResult> DeleteAsync(string id, CallHandler calls, CancellationToken cancellationToken) =>
        ForSessionAsync(id, async sessionId =>
        {
            await calls.EraseAsync(sessionId, cancellationToken).ConfigureAwait(false);
            return TypedResults.NoContent();
        }, cancellationToken);

    /// <summary>
    /// The operator endpoints' shared checks: the id must be a UUID (canonicalised before use), and a storage
    /// failure is a 503 problem, not a 5xx crash — calls are still served and spooled meanwhile.
    /// </summary>
    private static async Task<IResult> ForSessionAsync(string id, Func<string, Task<IResult>> operation, CancellationToken cancellationToken)
    {
        if (!SessionIds.IsValid(id))
        {
            return Problems.InvalidSessionId();
        }

        try
        {
            return await operation(SessionIds.Canonical(id)).ConfigureAwait(false);
        }
        catch (Exception ex) when (CallHandler.IsStorageFailure(ex) && !cancellationToken.IsCancellationRequested)
        {
            return Problems.StorageUnavailable();
        }
    }
}

/// <summary>The operator's view of one call.</summary>
public sealed record SessionView
{
    public required string SessionId { get; init; }
    public string? AccountId { get; init; }
    public string? PhoneNumber { get; init; }
    public string? FromPhoneNumber { get; init; }
    public string? ToPhoneNumber { get; init; }
    public string? Direction { get; init; }
    public required string Persona { get; init; }
    public required string Mode { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public string? EndReason { get; init; }
    public long? DurationMs { get; init; }
    public int TurnCount { get; init; }
    public int StartCount { get; init; }
    public bool Escalated { get; init; }
    public required IReadOnlyList<ModeChange> ModeHistory { get; init; }
    public required IReadOnlyList<TraceEntry> Trace { get; init; }

    public static SessionView From(SessionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var s = record.State;
        return new SessionView
        {
            SessionId = s.SessionId,
            AccountId = s.AccountId,
            PhoneNumber = s.PhoneNumber,
            FromPhoneNumber = s.FromPhoneNumber,
            ToPhoneNumber = s.ToPhoneNumber,
            Direction = s.Direction,
            Persona = s.Persona,
            Mode = s.Mode,
            StartedAt = s.StartedAt,
            EndedAt = s.EndedAt,
            EndReason = s.EndReason,
            DurationMs = s.DurationMs,
            TurnCount = s.TurnCount,
            StartCount = s.StartCount,
            Escalated = s.Escalated,
            ModeHistory = record.ModeHistory,
            Trace = record.Trace,
        };
    }
}

/// <summary>The app's own JSON (snake_case like the AI Flow protocol), source-generated.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(InvocationResult))]
public sealed partial class AppJsonContext : JsonSerializerContext
{
    /// <summary>Relaxed escaping: an API for tools, not HTML, so caller text reads as spoken.</summary>
    /// <remarks>Lazy: static initializers across partial declarations run in no defined order.</remarks>
    public static AppJsonContext Relaxed => s_relaxed ??= new(new System.Text.Json.JsonSerializerOptions(Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    private static AppJsonContext? s_relaxed;
}
