using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Calls;

/// <summary>
/// The chat model's reply to a pipeline caller turn: asked outside the call's turn (other events of the call are
/// recorded meanwhile), then decided (<see cref="CallFlow.DecideReply"/>) and recorded during it, through the same
/// <see cref="StepRecorder"/> as every event. In the answer if it wins the <see cref="ReplyRace"/>, pending otherwise.
/// </summary>
public sealed partial class ModelReplies(
    CallFlow flow,
    StepRecorder recorder,
    SessionStore store,
    AssistantModel model,
    PersonaCatalog personas,
    CallTelemetry telemetry,
    TimeProvider time,
    IOptions<CallOptions> options,
    IOptions<ChatModelOptions> chatOptions,
    ILogger<ModelReplies> logger)
{
    private readonly ChatModelOptions _chat = chatOptions.Value;

    /// <summary>Asks the model for <paramref name="ask"/> and records its reply. Never throws.</summary>
    public async Task ReplyAsync(SessionSlot slot, string sessionId, AiFlowEvent evt, ModelTurn ask, ReplyRace race)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(ask);
        ArgumentNullException.ThrowIfNull(race);
        try
        {
            var persona = personas.ByName(ask.Persona);
            var conversation = Conversation.From(await HistoryAsync(sessionId, ask).ConfigureAwait(false), ask.CallerSeq, ask.Text, _chat.HistoryTurns, _chat.HistoryChars);
            var answer = await model.AskAsync(persona, conversation, CancellationToken.None).ConfigureAwait(false);
            if (answer.Error is { } error)
            {
                LogModelFailed(logger, sessionId, error, answer.LatencyMs);
            }

            await slot.Lock.WaitAsync().ConfigureAwait(false);
            try
            {
                // In time only while the race is open and the state is at hand (no storage read may delay the answer).
                var late = !(slot.Loaded && race.TryInTime());
                // A late reply follows the filler (sent, or about to be at the budget), unless the answer went out without one.
                var filler = late && !race.ClosedWithoutFiller ? persona.Chat.FillerLine : null;
                CallStep Decide(SessionState? state, DateTimeOffset now) => state is null
                    ? new CallStep { Previous = null, Next = null, Actions = [] } // nothing known of the call (storage away, no spool): nothing to add to
                    : flow.DecideReply(state, ask, answer, late, filler, slot.LastInterruptSeq > ask.CallerSeq, _chat.ReplyTimeToLive, now);

                if (!late)
                {
                    // The answer leaves now, decided from what this instance holds; the commit below follows it (as
                    // for any answer given before its recording is stored).
                    race.InTime.TrySetResult(Decide(slot.State, time.GetUtcNow()).Actions);
                }

                var step = await recorder.RecordAsync(slot, sessionId, evt, Decide, ticket: null).ConfigureAwait(false);
                telemetry.Replied(step, answer);
            }
            finally
            {
                slot.Lock.Release();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            CallMetrics.Lost.Add(1);
            LogUnexpected(logger, ex, sessionId, evt.LoggedType);
            race.InTime.TrySetResult([]);
        }
    }

    /// <summary>The end of the conversation before the turn; empty when storage does not answer (the turn alone is still answerable).</summary>
    private async Task<IReadOnlyList<TraceEntry>> HistoryAsync(string sessionId, ModelTurn ask)
    {
        try
        {
            using var timeout = new CancellationTokenSource(options.Value.StorageOperationTimeout, time);
            return await ConversationHistory.ReadAsync(store, sessionId, ask.CallerSeq, ask.Text, _chat.HistoryTurns, _chat.HistoryChars, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (StorageFailures.IsStorageFailure(ex))
        {
            var kind = ex.GetType().Name;
            LogHistoryUnavailable(logger, sessionId, kind);
            return [];
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: the chat model failed ({Error}) after {LatencyMs} ms; the caller hears the apology")]
    private static partial void LogModelFailed(ILogger logger, string sessionId, string error, long latencyMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: the conversation could not be read ({Error}); the model gets the turn alone")]
    private static partial void LogHistoryUnavailable(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: unexpected failure recording {EventType}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string sessionId, string eventType);
}
