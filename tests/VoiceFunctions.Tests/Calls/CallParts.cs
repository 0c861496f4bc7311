using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Chat;
using VoiceFunctions.Notes;
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
    /// <param name="chat">The chat model (the notes' model); null: none configured, notes from the trace alone.</param>
    /// <param name="notesQueue">The queue notes requests go to; null: a queue of this instance's own in the Azurite.</param>
    public CallParts(Azurite? azurite = null, string? spoolFolder = null, TableClient? sharedTable = null, Persona? persona = null, ChatModelOptions? chat = null, QueueClient? notesQueue = null)
    {
        SpoolFolder = spoolFolder ?? Path.Combine(Path.GetTempPath(), "callparts-" + Guid.NewGuid().ToString("N"));
        Spool = new SessionSpool(Options.Create(new SpoolOptions { Path = SpoolFolder }), NullLogger<SessionSpool>.Instance);
        Personas = new PersonaCatalog(Options.Create(new PersonaOptions { [PersonaOptions.DefaultName] = persona ?? new Persona { SystemPrompt = "p" } }));
        Flow = new CallFlow(Personas);
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
            NotesQueue = notesQueue ?? new QueueClient(azurite.ConnectionString, "notes" + Guid.NewGuid().ToString("N")[..12], new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
            NotesQueue.CreateIfNotExists();
            NotesOptions = new NotesOptions();
            Notes = new NotesRequests(Store, new NotesQueueSender(NotesQueue), TimeProvider.System, Options.Create(NotesOptions), NullLogger<NotesRequests>.Instance);
            Notes.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
            Model = new AssistantModel(Options.Create(chat ?? new ChatModelOptions()), TimeProvider.System, NullLogger<AssistantModel>.Instance);
            NotesTelemetry = new NotesTelemetry(telemetryOptions, NullLogger<NotesTelemetry>.Instance);
            Recorder = new StepRecorder(Store, Buffer, Erasure, Outage, telemetry, TimeProvider.System, options, NullLogger<StepRecorder>.Instance, Notes);
            Replay = new SpoolReplay(Store, Buffer, Erasure, Cache, Outage, TimeProvider.System, options, NullLogger<SpoolReplay>.Instance, Notes);
        }
    }

    public PersonaCatalog Personas { get; }
    public QueueClient? NotesQueue { get; }
    public NotesOptions? NotesOptions { get; }
    public NotesRequests? Notes { get; }
    public AssistantModel? Model { get; }
    public NotesTelemetry? NotesTelemetry { get; }

    /// <summary>The CallNotes function's work, on this instance's table (<paramref name="time"/>: its clock).</summary>
    public NotesWriter NotesWriter(TimeProvider? time = null) =>
        new(Store!, Personas, Model!, new ModelNotes(Model!, Options.Create(NotesOptions!), NullLogger<ModelNotes>.Instance), NotesTelemetry!, new VoiceFunctions.Notes.NotesDelivery(Store!, new NotesWebhook(new HttpClient(), TimeProvider.System), TimeProvider.System, NullLogger<VoiceFunctions.Notes.NotesDelivery>.Instance), time ?? TimeProvider.System, Options.Create(NotesOptions!), NullLogger<NotesWriter>.Instance);

    /// <summary>The idle sweep, with <paramref name="time"/> as its clock (a later "now").</summary>
    public NotesSweep NotesSweep(TimeProvider? time = null) =>
        new(Store!, Notes!, Personas, time ?? TimeProvider.System, Options.Create(NotesOptions!), NullLogger<NotesSweep>.Instance);

    /// <summary>Waits until the notes loop has claimed and sent everything handed to it.</summary>
    public async Task NotesSettledAsync()
    {
        for (var i = 0; i < 200 && !Notes!.Idle; i++)
        {
            await Task.Delay(25);
        }
    }

    /// <summary>The notes requests on this instance's queue (received and deleted), decoded.</summary>
    public async Task<List<NotesRequest>> TakeNotesRequestsAsync()
    {
        var taken = new List<NotesRequest>();
        while (true)
        {
            var batch = (await NotesQueue!.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30))).Value;
            if (batch.Length == 0)
            {
                return taken;
            }

            foreach (var message in batch)
            {
                taken.Add(System.Text.Json.JsonSerializer.Deserialize(message.Body.ToString(), NotesRequestJsonContext.Default.NotesRequest)!);
                await NotesQueue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
            }
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
        Notes?.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        Notes?.Dispose();
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
