using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Sessions;

/// <summary>What a <see cref="PendingActions"/> is for; stored with it.</summary>
public static class PendingPurposes
{
    /// <summary>The <c>transfer</c> / <c>hangup</c> that follows the hand-off line once it has been spoken.</summary>
    public const string Handoff = "handoff";

    /// <summary>A chat-model reply that missed its answer budget (issue 12): delivered with the next quiet moment.</summary>
    public const string Reply = "reply";

    /// <summary>
    /// An escalation decided after the answer had gone out (the chat model failed too often, late): the existing
    /// hand-off runs as the answer to the next event, so it is never sent on top of the filler line.
    /// </summary>
    public const string Escalation = "escalation";
}

/// <summary>What the next event of a call does to its <see cref="PendingActions"/>.</summary>
public enum PendingOutcome
{
    /// <summary>Not this event: stay pending.</summary>
    Keep,

    /// <summary>Answer this event with the actions; they are gone afterwards.</summary>
    Deliver,

    /// <summary>Overtaken (e.g. by a newer caller turn, or the call ended): discard without sending.</summary>
    Drop,

    /// <summary>Past <see cref="PendingActions.ExpiresAt"/>: discard without sending.</summary>
    Expired,
}

/// <summary>
/// Actions waiting for a later event of the same call, because they must not go out in the answer that
/// created them (the transfer after the hand-off line; a late model reply). Kept on the session row in
/// Table Storage, so whichever instance answers the next event can deliver them; delivery clears them in
/// the same conditional write (ETag) that records the event, so they are sent at most once.
/// Event types in neither <see cref="DeliverOn"/> nor <see cref="DropOn"/> leave them pending.
/// </summary>
public sealed record PendingActions
{
    public required string Purpose { get; init; }

    /// <summary>The answer to send, in order.</summary>
    public required IReadOnlyList<AiFlowAction> Actions { get; init; }

    /// <summary>Event types answered with <see cref="Actions"/>.</summary>
    public required IReadOnlyList<string> DeliverOn { get; init; }

    /// <summary>Event types that discard <see cref="Actions"/> unsent (checked after <see cref="DeliverOn"/>).</summary>
    public IReadOnlyList<string> DropOn { get; init; } = [];

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>After this the actions are stale and dropped; null: until delivered or dropped.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// The hand-off's transfer or hang-up: sent when the line has been spoken (<c>assistant_speech_ended</c>, as
    /// sipgate's flow-io does), or earlier should the caller speak, press a key or let the input time out first:
    /// they asked for a human, so their next move never cancels the hand-off. No expiry: the caller must not be
    /// stranded on the hand-off line. A returning <c>session_start</c> (a failed transfer) or the end of the call drops it.
    /// </summary>
    public static PendingActions Handoff(IReadOnlyList<AiFlowAction> actions, DateTimeOffset now) => new()
    {
        Purpose = PendingPurposes.Handoff,
        Actions = actions,
        DeliverOn = [EventTypes.AssistantSpeechEnded, EventTypes.UserSpeak, EventTypes.DtmfReceived, EventTypes.UserInputTimeout, EventTypes.UserBargeIn],
        DropOn = [EventTypes.SessionStart, EventTypes.SessionEnd],
        CreatedAt = now,
    };

    /// <summary>
    /// A chat-model reply that missed the answer budget (issue 12): delivered on the next quiet moment of the
    /// call, dropped when a newer caller turn overtakes it, stale after <paramref name="timeToLive"/>.
    /// </summary>
    public static PendingActions Reply(IReadOnlyList<AiFlowAction> actions, DateTimeOffset now, TimeSpan timeToLive) => new()
    {
        Purpose = PendingPurposes.Reply,
        Actions = actions,
        DeliverOn = [EventTypes.AssistantSpeechEnded, EventTypes.UserInputTimeout],
        DropOn = [EventTypes.UserSpeak, EventTypes.UserBargeIn, EventTypes.SessionStart, EventTypes.SessionEnd],
        CreatedAt = now,
        ExpiresAt = now + timeToLive,
    };

    /// <summary>
    /// An escalation decided late (the chat model failed once too often after the filler went out): the next event
    /// of the caller or the platform starts the hand-off (<c>CallFlow</c> runs the escalation on delivery), with the
    /// hand-off's own delivery rules: the caller's next move never cancels it.
    /// </summary>
    public static PendingActions Escalation(DateTimeOffset now) => Handoff([], now) with { Purpose = PendingPurposes.Escalation };

    /// <summary>What an event of <paramref name="eventType"/> arriving at <paramref name="now"/> does to these actions.</summary>
    public PendingOutcome On(string eventType, DateTimeOffset now)
    {
        if (ExpiresAt is { } expires && now > expires)
        {
            return PendingOutcome.Expired;
        }

        return DeliverOn.Contains(eventType, StringComparer.Ordinal) ? PendingOutcome.Deliver
            : DropOn.Contains(eventType, StringComparer.Ordinal) ? PendingOutcome.Drop
            : PendingOutcome.Keep;
    }
}
