using Azure;

namespace VoiceFunctions.Sessions;

/// <summary>
/// A step that cannot be stored as it is, whatever storage does: found by <see cref="TableLimits"/> before
/// anything is sent (so no request content is in the message, only which limit).
/// </summary>
public sealed class UnstorableStepException(string reason) : Exception($"The step exceeds a Table Storage limit ({reason}).")
{
    /// <summary>Which limit, as a short code for the trace and the logs (e.g. <c>TransactionTooLarge</c>).</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// The one rule for what a storage failure means. <b>Transient</b>: storage is away or overloaded (network, sockets
/// included, timeouts, 408, 429, 5xx, authentication and token trouble, a missing table): every call is affected alike,
/// so the instance goes into outage mode and spools. <b>Permanent</b>: storage refused this step's content
/// (400 and 413, e.g. PropertyValueTooLarge, EntityTooLarge, InvalidInput, OutOfRangeInput, InvalidDuplicateRow,
/// RequestBodyTooLarge, or <see cref="UnstorableStepException"/>): retrying or replaying it can never succeed and
/// says nothing about other calls, so it is quarantined instead (<see cref="Calls.StepRecorder"/>). 409, 412 and a
/// row's 404 are conflicts, handled by the store before they get here.
/// </summary>
public static class StorageFailures
{
    /// <summary>
    /// 400 codes about the request envelope (headers, API version, authentication), not the entities: the same for
    /// every step, so a configuration or service problem, treated as an outage rather than blamed on one call.
    /// </summary>
    private static readonly HashSet<string> EnvelopeErrors = new(StringComparer.OrdinalIgnoreCase)
    {
        "InvalidHeaderValue", "MissingRequiredHeader", "UnsupportedHeader", "InvalidAuthenticationInfo", "AuthenticationFailed",
        "InvalidQueryParameterValue", "UnsupportedQueryParameter", "InvalidUri", "UnsupportedHttpVerb", "InvalidResourceName",
        "Md5Mismatch", "InvalidMd5", "ConditionHeadersNotSupported", "MultipleConditionHeadersNotSupported",
    };

    /// <summary>Any failure of a storage call, transient or permanent (anything else is a bug).</summary>
    public static bool IsStorageFailure(Exception ex) => IsTransient(ex) || IsPermanent(ex);

    /// <summary>Storage refused this step's content: it will never be stored as it is.</summary>
    public static bool IsPermanent(Exception ex) => ex switch
    {
        UnstorableStepException => true,
        RequestFailedException failed => failed.Status == 413 || (failed.Status == 400 && !EnvelopeErrors.Contains(failed.ErrorCode ?? string.Empty)),
        AggregateException aggregate => aggregate.Flatten().InnerExceptions is { Count: > 0 } inner && inner.All(IsPermanent),
        _ => false,
    };

    /// <summary>Storage is away, slow or refusing everyone: try again later (outage mode).</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        UnstorableStepException => false,
        RequestFailedException => !IsPermanent(ex),
        AggregateException => !IsPermanent(ex),
        OperationCanceledException or TimeoutException or HttpRequestException or Azure.Identity.AuthenticationFailedException => true,

        // A connection reset as it is made can surface bare (107 from HttpConnectionPool.ConnectAsync reading the peer's
        // address), neither retried nor wrapped by Azure.Core: unclassified, it lost the step it was storing (issue 23).
        System.Net.Sockets.SocketException => true,

        // A response cut off mid-body, read without the SDK's retries (SessionStore:MaxRetries=0), is the bare IOException of
        // the read (with retries, an AggregateException). Not the file system's: the spool's own failures are not outages.
        FileNotFoundException or DirectoryNotFoundException or PathTooLongException or DriveNotFoundException => false,
        IOException => true,
        _ => false,
    };

    /// <summary>
    /// Why storage refused a step, for the trace and the logs: the service's error code (or the limit found
    /// before sending), never the exception's message, which can quote the request.
    /// </summary>
    public static string Reason(Exception ex) => ex switch
    {
        UnstorableStepException unstorable => unstorable.Reason,
        RequestFailedException { ErrorCode: { Length: > 0 } code } failed => $"{failed.Status}:{Bounded(code)}",
        RequestFailedException failed => failed.Status.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AggregateException aggregate when aggregate.Flatten().InnerExceptions.Count > 0 => Reason(aggregate.Flatten().InnerExceptions[^1]),
        _ => ex.GetType().Name,
    };

    /// <summary>Error codes are short identifiers; anything else is cut to one (the service's text is not trusted either).</summary>
    private static string Bounded(string code) =>
        new(code.Take(64).Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.').ToArray());
}
