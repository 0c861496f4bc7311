using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Notes;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Functions;

/// <summary>
/// The call's notes (issue 21) as Functions: <c>CallNotes</c> on the <c>call-notes</c> queue writes them,
/// <c>CallNotesPoison</c> on <c>call-notes-poison</c> marks a request the host gave up on, <c>CallNotesIdleSweep</c> finds
/// calls that went silent without <c>session_end</c> (and requests the live path lost). The queue connection is the
/// host's <c>AzureWebJobsStorage</c> (no <c>Connection</c> named): identity-based in Azure, Azurite locally. The host's
/// queue semantics (host.json <c>extensions.queues</c>): at-least-once delivery, a failed invocation's message visible again
/// after <c>visibilityTimeout</c>, moved to <c>call-notes-poison</c> after <c>maxDequeueCount</c> deliveries.
/// </summary>
public sealed partial class CallNotesFunctions(NotesWriter writer, NotesSweep sweep, ILogger<CallNotesFunctions> logger)
{
    public const string NotesName = "CallNotes";
    public const string PoisonName = "CallNotesPoison";
    public const string SweepName = "CallNotesIdleSweep";

    /// <summary>Every 5 minutes: an idle call is noticed at most this long after <c>Notes:IdleAfter</c>.</summary>
    public const string SweepSchedule = "0 */5 * * * *";

    /// <summary>
    /// One notes request. A message that is no request (not JSON, no call id) is logged and dropped — retrying cannot
    /// fix it; a storage failure throws, and the host delivers the message again.
    /// </summary>
    [Function(NotesName)]
    public async Task WriteAsync([QueueTrigger(NotesOptions.QueueName)] string message, CancellationToken cancellationToken)
    {
        if (Parse(message) is not { } request)
        {
            LogNotARequest(logger, NotesOptions.QueueName, message?.Length ?? 0);
            return;
        }

        await writer.WriteAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A request the host moved to the poison queue: the call's notes become <c>failed</c> (<c>error: poison</c>), counted.</summary>
    [Function(PoisonName)]
    public async Task PoisonedAsync([QueueTrigger(NotesOptions.PoisonQueueName)] string message, CancellationToken cancellationToken)
    {
        if (Parse(message) is not { } request)
        {
            NotesTelemetry.CountPoisoned();
            LogNotARequest(logger, NotesOptions.PoisonQueueName, message?.Length ?? 0);
            return;
        }

        await writer.PoisonedAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The sweep (literal schedule: nothing to configure). Under the real host a timer holds a blob lease, so one instance
    /// sweeps at a time; two sweeps overlapping anyway still claim each call once.
    /// </summary>
    [Function(SweepName)]
    public async Task SweepAsync([TimerTrigger(SweepSchedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        await sweep.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The request in a message's text (the trigger has decoded the base64 already); null when it is none.</summary>
    public static NotesRequest? Parse(string? message)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return null;
        }

        try
        {
            var request = JsonSerializer.Deserialize(message, NotesRequestJsonContext.Default.NotesRequest);
            return request is { CallId: { } id, Cause: { } } && SessionIds.IsValid(id) ? request : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A message on {Queue} is no notes request ({Length} characters); dropped")]
    private static partial void LogNotARequest(ILogger logger, string queue, int length);
}
