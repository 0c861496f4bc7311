using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>
/// The call's concerns composed as the app composes them (CallRegistration), without HTTP: a table of their own in the
/// shared Azurite, a spool in a temporary folder. For the unit tests of each concern.
/// </summary>
public sealed class CallParts : IDisposable
{
    /// <param name="sharedTable">Another instance's table: two CallParts on one table are two instances on one storage.</param>
    public CallParts(Azurite? azurite = null, string? spoolFolder = null, TableClient? sharedTable = null, Persona? persona = null)
    {
        SpoolFolder = spoolFolder ?? Path.Combine(Path.GetTempPath(), "callparts-" + Guid.NewGuid().ToString("N"));
        Spool = new SessionSpool(Options.Create(new SpoolOptions { Path = SpoolFolder }), NullLogger<SessionSpool>.Instance);
        Flow = new CallFlow(new PersonaCatalog(Options.Create(new PersonaOptions { [PersonaOptions.DefaultName] = persona ?? new Persona { SystemPrompt = "p" } })));
        Buffer = new OutageBuffer(Spool, NullLogger<OutageBuffer>.Instance);
        Journal = new AnsweredJournal(Spool, Flow, NullLogger<AnsweredJournal>.Instance);
        if (azurite is not null)
        {
            Table = sharedTable ?? new TableClient(azurite.ConnectionString, "Parts" + Guid.NewGuid().ToString("N")[..10]);
            if (sharedTable is null)
            {
                Table.CreateIfNotExists();
            }

            Store = new SessionStore(Table);
            Outage = new StorageOutage(TimeProvider.System, NullLogger<StorageOutage>.Instance);
            var options = Options.Create(new CallOptions());
            Erasure = new CallErasure(Store, Spool, Buffer, Cache, Outage, TimeProvider.System, options, NullLogger<CallErasure>.Instance);
            var telemetryOptions = Options.Create(new TelemetryOptions());
            var telemetry = new CallTelemetry(telemetryOptions, new TranscriptFingerprint(telemetryOptions), NullLogger<CallTelemetry>.Instance);
            Recorder = new StepRecorder(Store, Buffer, Erasure, Outage, telemetry, TimeProvider.System, options, NullLogger<StepRecorder>.Instance);
            Replay = new SpoolReplay(Store, Buffer, Erasure, Cache, Outage, TimeProvider.System, options, NullLogger<SpoolReplay>.Instance);
        }
    }

    public string SpoolFolder { get; }
    public SessionSpool Spool { get; }
    public CallFlow Flow { get; }
    public OutageBuffer Buffer { get; }
    public AnsweredJournal Journal { get; }
    public SessionCache Cache { get; } = new();
    public TableClient? Table { get; }
    public SessionStore? Store { get; }
    public StorageOutage? Outage { get; }
    public CallErasure? Erasure { get; }
    public StepRecorder? Recorder { get; }
    public SpoolReplay? Replay { get; }

    public static AiFlowEvent Event(string type, string sessionId, JsonObject? fields = null) =>
        AiFlowEventParser.Parse(System.Text.Encoding.UTF8.GetBytes(CallClient.Event(type, sessionId, fields: fields).ToJsonString()));

    public static AiFlowEvent Speak(string sessionId, string text) => Event("user_speak", sessionId, new JsonObject { ["text"] = text });

    /// <summary>Records the event as the handler does: during the session's turn on <paramref name="slot"/>.</summary>
    public async Task<CallStep> RecordAsync(SessionSlot slot, AiFlowEvent evt, AnsweredTicket? ticket = null)
    {
        await slot.Lock.WaitAsync();
        try
        {
            return await Recorder!.RecordAsync(slot, SessionIds.Canonical(evt.Session.Id), evt, (state, now) => Flow.Decide(state, evt, now), ticket);
        }
        finally
        {
            slot.Lock.Release();
        }
    }

    /// <summary>The call's trace as stored, in order.</summary>
    public async Task<List<TraceEntry>> TraceAsync(string sessionId)
    {
        var rows = new List<TraceEntry>();
        await foreach (var entity in Table!.QueryAsync<TableEntity>(e => e.PartitionKey == sessionId))
        {
            if (entity.RowKey.StartsWith(SessionTable.TracePrefix, StringComparison.Ordinal))
            {
                rows.Add(SessionTable.ToTrace(entity));
            }
        }

        return rows;
    }

    /// <summary>A step decided on <paramref name="state"/> (null: a new call) for a caller turn, as the spool keeps it.</summary>
    public SpooledStep Spooled(SessionState? state, string sessionId, string text, string? eventId = null, bool baseKnown = true)
    {
        var step = Flow.Decide(state, Speak(sessionId, text), DateTimeOffset.UtcNow);
        return new SpooledStep
        {
            SessionId = sessionId,
            BaseKnown = baseKnown,
            Session = step.Next!,
            Trace = step.Trace,
            ModeChanges = step.ModeChanges,
            EventId = eventId,
            Id = Buffer.NewId(),
        };
    }

    /// <summary>The disk fails: the spool's folder is gone and a file stands in its place.</summary>
    public void FailDisk()
    {
        Directory.Delete(SpoolFolder, recursive: true);
        File.WriteAllText(SpoolFolder, "not a folder");
    }

    public void RestoreDisk()
    {
        File.Delete(SpoolFolder);
        Directory.CreateDirectory(SpoolFolder);
    }

    public void Dispose()
    {
        Spool.Dispose();
        if (File.Exists(SpoolFolder))
        {
            File.Delete(SpoolFolder);
        }
        else if (Directory.Exists(SpoolFolder))
        {
            Directory.Delete(SpoolFolder, recursive: true);
        }
    }
}
