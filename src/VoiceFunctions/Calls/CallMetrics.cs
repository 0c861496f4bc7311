using System.Diagnostics.Metrics;

namespace VoiceFunctions.Calls;

/// <summary>
/// What the reliability guarantees cost, as metrics (exported to Application Insights as customMetrics when
/// telemetry is on): steps spooled during storage outages, steps replayed from the spool, answers sent from
/// memory after the budget, steps quarantined (refused by storage for good) and steps lost (neither stored nor spooled).
/// </summary>
public static class CallMetrics
{
    public const string MeterName = "VoiceFunctions.Calls";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Spooled = Meter.CreateCounter<long>("voicefunctions.spool.spooled", "{step}", "Steps written to the local spool because Table Storage failed or was too slow.");
    public static readonly Counter<long> Replayed = Meter.CreateCounter<long>("voicefunctions.spool.replayed", "{step}", "Spooled steps written into Table Storage.");
    public static readonly Counter<long> Fillers = Meter.CreateCounter<long>("voicefunctions.replies.filler", "{answer}", "Pipeline turns answered with the filler line because the chat model missed the response budget.");
    public static readonly Counter<long> LateAnswers = Meter.CreateCounter<long>("voicefunctions.answers.late", "{answer}", "Answers sent from memory because recording took longer than the response budget.");
    public static readonly Counter<long> Held = Meter.CreateCounter<long>("voicefunctions.steps.held", "{step}", "Steps kept in memory because neither Table Storage nor the spool could take them (written as soon as either can).");
    public static readonly Counter<long> SpoolQuarantined = Meter.CreateCounter<long>("voicefunctions.spool.quarantined", "{file}", "Spool files that failed validation (or steps storage refuses for good), moved aside and never replayed.");
    public static readonly Counter<long> Lost = Meter.CreateCounter<long>("voicefunctions.steps.lost", "{step}", "Steps lost: neither stored, spooled nor held (the in-memory bound was full), or still held in memory when the process stopped.");
    public static readonly Counter<long> Quarantined = Meter.CreateCounter<long>("voicefunctions.steps.quarantined", "{step}", "Steps Table Storage refused for good (not an outage), stored without the request's content and a 'quarantined' trace row.");
}
