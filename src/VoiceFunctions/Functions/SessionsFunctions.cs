using Microsoft.Azure.Functions.Worker;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Http;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Functions;

/// <summary>
/// The operator's endpoints on <c>api/sessions/{id}</c>: read a call back and erase it, both with the admin (master) key.
/// The webhook's own credentials (a function key and the API token, both kept in sipgate's dashboard) must not read
/// transcripts: whoever holds them can only send events (issue 23, item 5).
/// </summary>
public sealed class SessionsFunctions(SessionStore store, CallErasure erasure)
{
    public const string ReadName = "sessions";
    public const string EraseName = "erase";
    private const string Route = "sessions/{id}";

    /// <summary>
    /// Reads a call back page by page (<see cref="SessionPaging"/>): without a continuation token the session, its
    /// mode history and the trace's first rows; with one, the trace rows after it. Each page is bounded in rows and bytes.
    /// </summary>
    [Function(ReadName)]
    public Task<IResult> ReadAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "get", Route = Route)] HttpRequest request,
        string id,
        CancellationToken cancellationToken) =>
        ForSessionAsync(id, async sessionId =>
        {
            if (!SessionPaging.TryParseLimit(request.Query[SessionPaging.LimitParameter], out var limit))
            {
                return Problems.InvalidPageLimit(SessionPaging.MaxLimit);
            }

            if (!SessionPaging.TryParseContinuation(request.Query[SessionPaging.ContinuationParameter], out var afterSeq))
            {
                return Problems.InvalidContinuation();
            }

            if (erasure.IsPending(sessionId))
            {
                return Problems.SessionNotFound(); // erased; storage just has not been told yet
            }

            if (afterSeq is { } after)
            {
                if (!await store.ExistsAsync(sessionId, cancellationToken).ConfigureAwait(false))
                {
                    return Problems.SessionNotFound();
                }

                var rest = await store.ReadTracePageAsync(sessionId, after, limit, SessionPaging.MaxTraceBytes, SessionPaging.JsonBytes, cancellationToken).ConfigureAwait(false);
                return TypedResults.Json(SessionTracePage.From(sessionId, rest), AppJsonContext.Relaxed.SessionTracePage);
            }

            var head = await store.ReadHeadAsync(sessionId, cancellationToken).ConfigureAwait(false);
            if (head is null)
            {
                return Problems.SessionNotFound();
            }

            var first = await store.ReadTracePageAsync(sessionId, 0, limit, SessionPaging.MaxTraceBytes, SessionPaging.JsonBytes, cancellationToken).ConfigureAwait(false);
            return TypedResults.Json(SessionView.From(head, first), AppJsonContext.Relaxed.SessionView);
        }, cancellationToken);

    /// <summary>
    /// Erasure (data protection): removes the session, its trace and anything spooled; 204 whether or not it existed.
    /// During a storage outage 202: the erasure is kept on disk and completed when storage answers (the call reads as
    /// gone meanwhile, and nothing of it is recorded or replayed).
    /// </summary>
    [Function(EraseName)]
    public Task<IResult> EraseAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "delete", Route = Route)] HttpRequest request,
        string id,
        CancellationToken cancellationToken) =>
        ForSessionAsync(id, async sessionId =>
        {
            return await erasure.EraseAsync(sessionId, cancellationToken).ConfigureAwait(false)
                ? TypedResults.NoContent()
                : TypedResults.Accepted((string?)null);
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
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex) && !cancellationToken.IsCancellationRequested)
        {
            return Problems.StorageUnavailable();
        }
    }
}
