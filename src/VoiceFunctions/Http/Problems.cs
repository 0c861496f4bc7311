using Microsoft.AspNetCore.Http.HttpResults;

namespace VoiceFunctions.Http;

/// <summary>
/// Every 4xx the app sends, in one place: RFC 9457 problem+json with a stable <c>type</c> per kind of
/// mistake and a <c>detail</c> that says what is wrong without echoing the request's content.
/// </summary>
public static class Problems
{
    /// <summary>Problem types are URNs (listed in docs/problems.md), not links to a site that may move.</summary>
    private const string TypeBase = "urn:voicefunctions:problem:";

    public static ProblemHttpResult Unauthorized() => Problem(StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized", "A valid X-API-TOKEN header is required.");

    public static ProblemHttpResult UnsupportedMediaType() => Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "Send the event as application/json.");

    public static ProblemHttpResult TooLarge(long limit) => Problem(StatusCodes.Status413PayloadTooLarge, "too-large", "Body too large", $"The body exceeds {limit} bytes.");

    public static ProblemHttpResult EmptyBody() => Problem(StatusCodes.Status400BadRequest, "invalid-event", "Invalid event", "The body is empty; send one AI Flow event as JSON.");

    public static ProblemHttpResult InvalidEvent(string detail) => Problem(StatusCodes.Status400BadRequest, "invalid-event", "Invalid event", detail);

    /// <summary>The transport failed, not the JSON: the body ended early, its chunk framing was broken or the connection closed.</summary>
    public static ProblemHttpResult UnreadableBody() => Problem(StatusCodes.Status400BadRequest, "unreadable-body", "Unreadable body", "The body could not be read to its end: its framing is broken, it is shorter than its Content-Length, or the connection closed.");

    public static ProblemHttpResult BodyTimeout() => Problem(StatusCodes.Status408RequestTimeout, "body-timeout", "Body timed out", "The body stopped arriving before it was complete.");

    public static ProblemHttpResult InvalidSessionId() => Problem(StatusCodes.Status400BadRequest, "invalid-session-id", "Invalid session id", "The session id must be a UUID.");

    public static ProblemHttpResult InvalidPageLimit(int max) => Problem(StatusCodes.Status400BadRequest, "invalid-page-limit", "Invalid page limit", $"limit must be one whole number from 1 to {max}.");

    public static ProblemHttpResult InvalidContinuation() => Problem(StatusCodes.Status400BadRequest, "invalid-continuation", "Invalid continuation token", "continuation must be the unchanged 'next' value of a previous page of this call.");

    public static ProblemHttpResult StorageUnavailable() => Problem(StatusCodes.Status503ServiceUnavailable, "storage-unavailable", "Storage unavailable", "Table Storage did not answer; calls are still served and their traces spooled. Try again shortly.");

    public static ProblemHttpResult SessionNotFound() => Problem(StatusCodes.Status404NotFound, "session-not-found", "Session not found", "No session with this id is stored.");

    /// <summary>A bug, not the caller's mistake: said plainly, with nothing of the request or the exception in it.</summary>
    public static ProblemHttpResult Unexpected() => Problem(StatusCodes.Status500InternalServerError, "unexpected", "Unexpected error", "The request could not be handled; it has been logged.");

    private static ProblemHttpResult Problem(int status, string type, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: TypeBase + type);
}
