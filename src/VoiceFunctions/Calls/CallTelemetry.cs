using System.Globalization;
using Microsoft.ApplicationInsights;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Calls;

/// <summary>
/// Where a handled event is reported beyond the Table Storage trace (Application Insights: custom events
/// for session start/end, caller turns, mode changes and escalations). Called once per event by
/// <see cref="StepRecorder"/> (a model reply also by <see cref="ModelReplies"/>), after the step was stored (or failed to be), inside the request, so every
/// event carries the request's operation id. Without a connection string there is no
/// <see cref="TelemetryClient"/> and only Debug logs are written.
/// </summary>
public sealed partial class CallTelemetry(IOptions<TelemetryOptions> options, TranscriptFingerprint fingerprint, ILogger<CallTelemetry> logger, TelemetryClient? client = null)
{
    /// <summary>Custom event names (customEvents.name).</summary>
    public static class Events
    {
        public const string SessionStarted = "SessionStarted";
        public const string SessionResumed = "SessionResumed";
        public const string CallerTurn = "CallerTurn";
        public const string ModeChanged = "ModeChanged";
        public const string Escalation = "Escalation";
        public const string SessionEnded = "SessionEnded";
        public const string AssistantReply = "AssistantReply";
    }

    /// <summary>Custom dimension keys (customDimensions.*).</summary>
    public static class Keys
    {
        public const string SessionId = RequestTags.SessionId;
        public const string EventType = RequestTags.EventType;
        public const string Seq = "Seq";
        public const string Stored = "Stored";
        public const string Persona = "Persona";
        public const string Mode = "Mode";
        public const string TextLength = "TextLength";
        public const string TextHash = "TextHash";
        public const string Text = "Text";
        public const string BargedIn = "BargedIn";
        public const string Turn = "Turn";
        public const string From = "From";
        public const string To = "To";
        public const string Reason = "Reason";
        public const string Trigger = "Trigger";
        public const string DurationMs = "DurationMs";
        public const string Turns = "Turns";
        public const string Escalated = "Escalated";
        public const string Source = "Source";
        public const string LatencyMs = "LatencyMs";
        public const string InputTokens = "InputTokens";
        public const string OutputTokens = "OutputTokens";
        public const string Error = "Error";
    }

    /// <summary>
    /// A pipeline reply recorded (the model's, the filler, the apology): one <c>AssistantReply</c> event per reply row
    /// with its source, the model's latency and token counts; the text only with <c>IncludeTranscripts</c>.
    /// </summary>
    public void Replied(CallStep step, Chat.ModelAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(answer);
        if (step.Next is not { } state)
        {
            return;
        }

        foreach (var row in step.Trace.Where(t => t.Kind == TraceKinds.AssistantReply))
        {
            var source = row.Detail ?? string.Empty;
            var fromModel = !source.StartsWith(Chat.ReplySource.Filler, StringComparison.Ordinal);
            LogReplied(logger, state.SessionId, row.Seq, source, fromModel ? answer.LatencyMs : 0);
            if (client is null)
            {
                continue;
            }

            try
            {
                var text = row.Text ?? string.Empty;
                var properties = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    [Keys.SessionId] = state.SessionId,
                    [Keys.Seq] = Invariant(row.Seq),
                    [Keys.Persona] = state.Persona,
                    [Keys.Mode] = state.Mode,
                    [Keys.Source] = source,
                    [Keys.TextLength] = Invariant(text.Length),
                };
                if (fromModel)
                {
                    properties[Keys.LatencyMs] = Invariant(answer.LatencyMs);
                    if (answer.InputTokens is { } input)
                    {
                        properties[Keys.InputTokens] = Invariant(input);
                    }

                    if (answer.OutputTokens is { } output)
                    {
                        properties[Keys.OutputTokens] = Invariant(output);
                    }

                    if (answer.Error is { } error)
                    {
                        properties[Keys.Error] = error;
                    }
                }

                if (options.Value.IncludeTranscripts)
                {
                    properties[Keys.Text] = text;
                }

                client.TrackEvent(Events.AssistantReply, properties);
            }
#pragma warning disable CA1031 // telemetry must never fail a call
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogTelemetryFailed(logger, ex, state.SessionId);
            }
        }
    }

    /// <param name="evt">The event as received.</param>
    /// <param name="step">What the flow decided and recorded.</param>
    /// <param name="stored">False when the step could not be written to Table Storage.</param>
    public void Recorded(AiFlowEvent evt, CallStep step, bool stored)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(step);
        if (step.Next is not { } state)
        {
            return;
        }

        LogRecorded(logger, state.SessionId, evt.LoggedType, step.Trace.Count, step.ModeChanges.Count, stored);
        if (client is null)
        {
            return;
        }

        try
        {
            // Trace rows and mode changes share one sequence: report them in the order the call saw them.
            var rows = step.Trace.Select(t => (t.Seq, Trace: (TraceEntry?)t, Mode: (ModeChange?)null))
                .Concat(step.ModeChanges.Select(m => (m.Seq, Trace: (TraceEntry?)null, Mode: (ModeChange?)m)))
                .OrderBy(r => r.Seq);
            foreach (var (_, trace, mode) in rows)
            {
                if (mode is not null)
                {
                    Track(Events.ModeChanged, evt, state, mode.Seq, stored, p =>
                    {
                        p[Keys.From] = mode.From ?? "none";
                        p[Keys.To] = mode.To;
                        p[Keys.Reason] = mode.Reason;
                    });
                }
                else if (trace is not null && EventFor(trace) is { } name)
                {
                    Track(name, evt, state, trace.Seq, stored, p => Describe(trace, state, p));
                }
            }
        }
#pragma warning disable CA1031 // telemetry must never fail a call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogTelemetryFailed(logger, ex, state.SessionId);
        }
    }

    private static string? EventFor(TraceEntry trace) => trace.Kind switch
    {
        TraceKinds.SessionStart => Events.SessionStarted,
        TraceKinds.SessionResumed => Events.SessionResumed,
        TraceKinds.Caller => Events.CallerTurn,
        TraceKinds.Escalation => Events.Escalation,
        TraceKinds.SessionEnd => Events.SessionEnded,
        _ => null, // assistant turns, DTMF digits (may be a PIN) and the rest stay in the Table Storage trace
    };

    private void Describe(TraceEntry trace, SessionState state, Dictionary<string, string> p)
    {
        switch (trace.Kind)
        {
            case TraceKinds.Caller:
                var text = trace.Text ?? string.Empty;
                p[Keys.Turn] = Invariant(state.TurnCount);
                p[Keys.TextLength] = Invariant(text.Length);
                p[Keys.TextHash] = fingerprint.Of(text);
                if (trace.BargedIn is { } bargedIn)
                {
                    p[Keys.BargedIn] = bargedIn ? "true" : "false";
                }

                if (options.Value.IncludeTranscripts)
                {
                    p[Keys.Text] = text;
                }

                break;

            case TraceKinds.Escalation:
                p[Keys.Trigger] = trace.Detail ?? string.Empty;
                break;

            case TraceKinds.SessionResumed:
                p[Keys.Reason] = trace.Detail ?? "resent";
                break;

            case TraceKinds.SessionEnd:
                p[Keys.Reason] = LogValues.Text(trace.Detail); // as the sender wrote it (session_end.reason)
                p[Keys.Turns] = Invariant(state.TurnCount);
                p[Keys.Escalated] = state.Escalated ? "true" : "false";
                if (state.DurationMs is { } duration)
                {
                    p[Keys.DurationMs] = Invariant(duration);
                }

                break;
        }
    }

    private void Track(string name, AiFlowEvent evt, SessionState state, long seq, bool stored, Action<Dictionary<string, string>> describe)
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Keys.SessionId] = state.SessionId,
            [Keys.EventType] = evt.LoggedType,
            [Keys.Seq] = Invariant(seq),
            [Keys.Stored] = stored ? "true" : "false",
            [Keys.Persona] = state.Persona,
            [Keys.Mode] = state.Mode,
        };
        describe(properties);
        client!.TrackEvent(name, properties);
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: {EventType} recorded ({TraceRows} trace rows, {ModeChanges} mode changes, stored: {Stored})")]
    private static partial void LogRecorded(ILogger logger, string sessionId, string eventType, int traceRows, int modeChanges, bool stored);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: assistant reply recorded (seq {Seq}, source {Source}, model latency {LatencyMs} ms)")]
    private static partial void LogReplied(ILogger logger, string sessionId, long seq, string source, long latencyMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: reporting to Application Insights failed")]
    private static partial void LogTelemetryFailed(ILogger logger, Exception exception, string sessionId);
}
