using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Hosting;
using VoiceFunctions.Http;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Functions;

/// <summary><c>POST api/events</c> (function key): one AI Flow event in, the actions to execute out (or 204).</summary>
public sealed partial class EventsFunction(CallHandler calls, IOptions<WebhookOptions> options, TranscriptFingerprint fingerprints, TimeProvider time, ILogger<EventsFunction> logger)
{
    public const string Name = "events";

    /// <param name="cancellationToken">Fires when the caller goes away: it stops reading the body, never a recording
    /// already under way (the StepRecorder finishes or spools it whatever happens to the request).</param>
    [Function(Name)]
    public async Task<IResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "events")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var arrivedAt = time.GetTimestamp(); // the answer budget counts from here: reading the body is part of sipgate's second
        var body = await JsonBody.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken).ConfigureAwait(false);
        if (body.Problem is { } refused)
        {
            return refused;
        }

        AiFlowEvent evt;
        try
        {
            evt = AiFlowEventParser.Parse(body.Bytes);
        }
        catch (AiFlowParseException ex)
        {
            return Problems.InvalidEvent(ex.Message);
        }

        if (evt is DtmfReceivedEvent dtmf && !EventValues.IsDtmfKey(dtmf.Digit))
        {
            // The key is the event's whole content and escalation acts on it: a value the protocol does not define is a broken sender.
            return Problems.InvalidEvent("'digit' must be one key: \"0\"-\"9\", \"*\" or \"#\".");
        }

        RequestTags.Tag(evt);
        // The parser refuses a session id that is not a UUID, so the canonical form always exists here.
        using var scope = logger.BeginScope(new KeyValuePair<string, object>[] { new(RequestTags.SessionId, SessionIds.Canonical(evt.Session.Id)) });
        if (evt is UnknownEvent)
        {
            // Free text a stranger chose (an address, escape sequences): described, never written (docs/observability.md).
            var (length, shaped, hash) = LogValues.UnknownEventType(evt.Type, fingerprints);
            LogUnknownEvent(logger, length, shaped, hash, evt.Session.Id);
        }

        // The body's hash tells a repeated delivery from a caller repeating themselves (see docs/reliability.md).
        var fingerprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(body.Bytes.Span));
        var actions = await calls.HandleAsync(evt, fingerprint, arrivedAt).ConfigureAwait(false);
        if (actions.Count == 0)
        {
            return TypedResults.NoContent();
        }

        foreach (var action in actions)
        {
            var errors = ActionValidator.Validate(action);
            if (errors.Count > 0)
            {
                // A bug, never sent: an invalid action could end the caller's call.
                LogInvalidAction(logger, action.Type, evt.Session.Id, LogValues.Text(string.Join(" ", errors), maxLength: 1024));
                return TypedResults.NoContent();
            }
        }

        return TypedResults.Bytes(AiFlowJson.Serialize(actions), "application/json");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unknown event type (length {TypeLength}, shaped like an event type: {TypeShaped}, fingerprint {TypeHash}) for session {SessionId}: answered 204")]
    private static partial void LogUnknownEvent(ILogger logger, int typeLength, bool typeShaped, string typeHash, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Invalid {ActionType} action for session {SessionId} not sent: {Errors}")]
    private static partial void LogInvalidAction(ILogger logger, string actionType, string sessionId, string errors);
}
