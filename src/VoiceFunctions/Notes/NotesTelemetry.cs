using System.Diagnostics.Metrics;
using Microsoft.ApplicationInsights;
using Microsoft.Extensions.Options;
using VoiceFunctions.Calls;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Notes;

/// <summary>
/// What the notes report to Application Insights. Counters (meter <see cref="CallMetrics.MeterName"/>, as customMetrics):
/// <c>voicefunctions.notes.written</c> tagged with status, source, reason, outcome and callback_requested only, and
/// <c>voicefunctions.notes.poisoned</c>. The summary, the callback number and the follow-up are personal data: they go
/// out (in the <c>CallNotes</c> custom event) only with <c>Telemetry:IncludeTranscripts</c> on.
/// </summary>
public sealed partial class NotesTelemetry(IOptions<TelemetryOptions> options, ILogger<NotesTelemetry> logger, TelemetryClient? client = null)
{
    public const string WrittenCounter = "voicefunctions.notes.written";
    public const string PoisonedCounter = "voicefunctions.notes.poisoned";
    public const string NotesEvent = "CallNotes";

    private static readonly Meter Meter = new(CallMetrics.MeterName);
    private static readonly Counter<long> Written = Meter.CreateCounter<long>(WrittenCounter, "{call}", "Calls whose notes were written or given up (status), by source, reason, outcome and whether a callback was asked for.");
    private static readonly Counter<long> Poisoned = Meter.CreateCounter<long>(PoisonedCounter, "{message}", "Notes requests the Functions host moved to the poison queue after maxDequeueCount failed deliveries.");

    /// <summary>Counts notes that reached a final status (once per call: only the write that made them final reports).</summary>
    public void Final(string sessionId, string persona, CallNotes notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        Written.Add(1,
            new KeyValuePair<string, object?>("status", notes.Status),
            new KeyValuePair<string, object?>("source", notes.Source ?? "none"),
            new KeyValuePair<string, object?>("reason", notes.Reason ?? "unknown"),
            new KeyValuePair<string, object?>("outcome", notes.Outcome ?? "unknown"),
            new KeyValuePair<string, object?>("callback_requested", notes.CallbackRequested == true ? "true" : "false"));
        if (client is null)
        {
            return;
        }

        try
        {
            var properties = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [CallTelemetry.Keys.SessionId] = sessionId,
                [CallTelemetry.Keys.Persona] = persona,
                ["Status"] = notes.Status,
                [CallTelemetry.Keys.Source] = notes.Source ?? "none",
                [CallTelemetry.Keys.Reason] = notes.Reason ?? "unknown",
                ["Outcome"] = notes.Outcome ?? "unknown",
                ["CallbackRequested"] = notes.CallbackRequested == true ? "true" : "false",
            };
            if (notes.Error is { } error)
            {
                properties[CallTelemetry.Keys.Error] = error;
            }

            if (options.Value.IncludeTranscripts)
            {
                Put(properties, "Summary", notes.Summary);
                Put(properties, "CallbackNumber", notes.CallbackNumber);
                Put(properties, "FollowUp", notes.FollowUp);
            }

            client.TrackEvent(NotesEvent, properties);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogTelemetryFailed(logger, ex, sessionId);
        }
    }

    public static void CountPoisoned() => Poisoned.Add(1);

    private static void Put(Dictionary<string, string> properties, string key, string? value)
    {
        if (value is not null)
        {
            properties[key] = value;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: reporting the call's notes to Application Insights failed")]
    private static partial void LogTelemetryFailed(ILogger logger, Exception exception, string sessionId);
}
