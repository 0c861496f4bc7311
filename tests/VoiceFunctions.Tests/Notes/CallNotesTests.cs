using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Calls;
using VoiceFunctions.Chat;
using VoiceFunctions.Notes;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Calls;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Notes;

/// <summary>
/// The call's notes (issue 21) without HTTP, as the app composes them (CallParts), against real Azurite tables and queues:
/// requested once per call at its stored end (also after an outage), written once per call however often the request comes.
/// </summary>
public sealed class CallNotesTests(Azurite azurite) : IDisposable
{
    private static readonly Persona Dental = new()
    {
        SystemPrompt = "p",
        Language = "en",
        Escalation = new EscalationSettings { DtmfDigits = "0", TransferTarget = "+4921100000000" },
        Notes = new NotesSettings { Reasons = ["appointment", "cancellation"] },
    };

    /// <summary>An event's session id before <see cref="CallAsync"/> puts the call's own in.</summary>
    private static readonly string Placeholder = Guid.NewGuid().ToString();

    private readonly CallParts _parts = new(azurite, persona: Dental);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> CallAsync(params AiFlowEvent[] middle)
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var slot = _parts.Cache.Get(id);
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        foreach (var evt in middle)
        {
            await _parts.RecordAsync(slot, evt with { Session = evt.Session with { Id = id } });
        }

        return id;
    }

    private static AiFlowEvent End(string id) => CallParts.Event("session_end", id);

    [Fact]
    public async Task A_stored_session_end_queues_one_request_and_repeats_of_it_queue_nothing()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        var slot = _parts.Cache.Get(id);
        await _parts.RecordAsync(slot, End(id));
        await _parts.RecordAsync(slot, End(id) with { }); // the platform's repeat (recorded again: not byte-compared here)
        await _parts.NotesSettledAsync();
        await _parts.Notes!.RequestAsync(id, NotesCauses.Ended, Ct); // a replay or sweep asking again
        await _parts.NotesSettledAsync();

        var requests = await _parts.TakeNotesRequestsAsync();
        var request = Assert.Single(requests);
        Assert.Equal(id, request.CallId);
        Assert.Equal(NotesCauses.Ended, request.Cause);
        var (_, notes) = await _parts.Store!.ReadNotesAsync(id, Ct);
        Assert.Equal(NotesStatus.Pending, notes!.Notes.Status);
    }

    [Fact]
    public async Task The_message_is_base64_of_the_shared_json_shape()
    {
        var id = await CallAsync();
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        await _parts.NotesSettledAsync();

        // Read without decoding: what the host's trigger gets before its own base64 decoding (messageEncoding: base64).
        var raw = new Azure.Storage.Queues.QueueClient(azurite.ConnectionString, _parts.NotesQueue!.Name);
        var message = Assert.Single((await raw.ReceiveMessagesAsync(32, cancellationToken: Ct)).Value);
        var json = JsonNode.Parse(Convert.FromBase64String(message.Body.ToString()))!.AsObject();
        Assert.Equal(id, json["callId"]!.GetValue<string>());
        Assert.Equal("ended", json["cause"]!.GetValue<string>());
        Assert.True(DateTimeOffset.TryParse(json["at"]!.GetValue<string>(), out _));
    }

    [Fact]
    public async Task A_session_end_spooled_in_an_outage_is_requested_by_its_replay_once()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        _parts.Outage!.Started(); // storage just failed: the end waits in the spool
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        Assert.Single(_parts.Spool.Pending(id));
        await _parts.NotesSettledAsync();
        Assert.Empty(await _parts.TakeNotesRequestsAsync()); // not stored: not requested yet

        _parts.Outage.Ended();
        await _parts.Replay!.RunAsync(Ct);
        await _parts.Replay.RunAsync(Ct); // a second round finds nothing more
        await _parts.NotesSettledAsync();

        var request = Assert.Single(await _parts.TakeNotesRequestsAsync());
        Assert.Equal(id, request.CallId);
    }

    [Fact]
    public async Task Notes_from_the_trace_alone_say_turns_keys_escalation_transfer_and_duration()
    {
        var id = await CallAsync(
            CallParts.Speak(Placeholder, "I need an appointment"),
            CallParts.Event("dtmf_received", Placeholder, new JsonObject { ["digit"] = "5" }),
            CallParts.Event("dtmf_received", Placeholder, new JsonObject { ["digit"] = "0" }), // escalates: hand-off line, transfer pending
            CallParts.Event("assistant_speech_ended", Placeholder)); // the transfer goes out
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));

        var outcome = await _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct);

        Assert.Equal(NotesOutcome.Written, outcome);
        var (_, stored) = await _parts.Store!.ReadNotesAsync(id, Ct);
        var notes = stored!.Notes;
        Assert.Equal(NotesStatus.Written, notes.Status);
        Assert.Equal(NotesSource.Trace, notes.Source);
        Assert.Null(notes.Model);
        Assert.Equal(1, notes.Turns);
        Assert.Equal("50", notes.Keys);
        Assert.True(notes.Escalated);
        Assert.True(notes.Transferred);
        Assert.False(notes.HungUpInGreeting);
        Assert.Equal(NotesOutcomes.Transferred, notes.Outcome);
        Assert.NotNull(notes.DurationSeconds);
        Assert.Null(notes.Summary); // no model: nothing made up
    }

    [Fact]
    public async Task A_caller_who_hangs_up_during_the_greeting_is_abandoned()
    {
        var id = await CallAsync();
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));

        await _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct);

        var notes = (await _parts.Store!.ReadNotesAsync(id, Ct)).Notes!.Notes;
        Assert.True(notes.HungUpInGreeting);
        Assert.Equal(NotesOutcomes.Abandoned, notes.Outcome);
        Assert.Equal(0, notes.Turns);
    }

    [Fact]
    public async Task A_redelivered_request_writes_nothing_and_counts_once()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        var request = new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow };
        using var counted = new NotesCounter(NotesTelemetry.WrittenCounter);
        var writer = _parts.NotesWriter();

        var first = await writer.WriteAsync(request, Ct);
        var firstRow = (await _parts.Store!.ReadNotesAsync(id, Ct)).Notes!;
        var again = await writer.WriteAsync(request, Ct);
        var racing = await Task.WhenAll(writer.WriteAsync(request, Ct), writer.WriteAsync(request, Ct));
        var lastRow = (await _parts.Store.ReadNotesAsync(id, Ct)).Notes!;

        Assert.Equal(NotesOutcome.Written, first);
        Assert.Equal(NotesOutcome.AlreadyFinal, again);
        Assert.All(racing, r => Assert.Equal(NotesOutcome.AlreadyFinal, r));
        Assert.Equal(firstRow.ETag, lastRow.ETag); // not written again
        Assert.Single(counted.Measurements, m => (string?)m["status"] == NotesStatus.Written);
    }

    [Fact]
    public async Task Two_first_deliveries_racing_write_the_notes_once()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        var request = new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow };

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _parts.NotesWriter().WriteAsync(request, Ct)));

        Assert.Single(outcomes, o => o == NotesOutcome.Written);
        Assert.Equal(3, outcomes.Count(o => o == NotesOutcome.AlreadyFinal));
    }

    [Fact]
    public async Task A_poisoned_request_marks_the_notes_failed_and_is_counted()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        using var poisoned = new NotesCounter(NotesTelemetry.PoisonedCounter);

        await _parts.NotesWriter().PoisonedAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct);

        var notes = (await _parts.Store!.ReadNotesAsync(id, Ct)).Notes!.Notes;
        Assert.Equal(NotesStatus.Failed, notes.Status);
        Assert.Equal("poison", notes.Error);
        Assert.True(poisoned.Total >= 1);
        // A late delivery of the original request does not overwrite the verdict.
        Assert.Equal(NotesOutcome.AlreadyFinal, await _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct));
    }

    [Fact]
    public async Task An_erased_call_loses_its_notes_and_is_never_given_new_ones()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        await _parts.RecordAsync(_parts.Cache.Get(id), End(id));
        await _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct);
        Assert.NotNull((await _parts.Store!.ReadNotesAsync(id, Ct)).Notes);

        await _parts.Erasure!.EraseAsync(id, Ct);

        Assert.Null((await _parts.Store.ReadNotesAsync(id, Ct)).Notes);
        Assert.Equal(NotesOutcome.NoCall, await _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct));
        Assert.Equal(NotesOutcome.NoCall, await _parts.NotesWriter().PoisonedAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct));
        Assert.False(await _parts.Notes!.RequestAsync(id, NotesCauses.Ended, Ct));
        Assert.Null((await _parts.Store.ReadNotesAsync(id, Ct)).Notes);
        Assert.Empty((await _parts.TakeNotesRequestsAsync()).Where(r => r.CallId == id).Skip(1)); // at most the one from its end
    }

    [Fact]
    public async Task The_sweep_requests_an_idle_call_and_an_ended_call_whose_request_was_lost_once()
    {
        var idle = await CallAsync(CallParts.Speak(Placeholder, "hello?"));
        var ended = await CallAsync(CallParts.Speak(Placeholder, "bye"));
        // The end is stored, but its live request never happens (the process killed right after): written straight to storage.
        var slot = _parts.Cache.Get(ended);
        await slot.Lock.WaitAsync(Ct);
        try
        {
            var step = _parts.Flow.Decide(slot.State, End(ended), DateTimeOffset.UtcNow);
            await _parts.Store!.CommitAsync(step, slot.ETag, Ct);
        }
        finally
        {
            slot.Lock.Release();
        }

        var later = new ShiftedTime(TimeSpan.FromHours(1)); // an hour on: past Notes:IdleAfter (30 min) and the end's grace
        var first = await _parts.NotesSweep(later).RunAsync(Ct);
        var second = await _parts.NotesSweep(later).RunAsync(Ct);
        await _parts.NotesSettledAsync();

        var requests = (await _parts.TakeNotesRequestsAsync()).Where(r => r.CallId == idle || r.CallId == ended).ToList();
        Assert.Contains(requests, r => r.CallId == idle && r.Cause == NotesCauses.Idle);
        Assert.Contains(requests, r => r.CallId == ended && r.Cause == NotesCauses.Ended);
        Assert.Equal(2, requests.Count);
        Assert.True(first.Idle >= 1 && first.Ended >= 1);
        Assert.Equal(0, second.Idle + second.Ended); // nothing new on a second run
    }

    [Fact]
    public async Task The_sweep_requeues_a_claim_whose_message_was_lost_once_per_period()
    {
        var id = await CallAsync(CallParts.Speak(Placeholder, "hello"));
        // Claimed, but the process died before the send: a pending notes row, no message.
        Assert.Equal(NotesClaim.Claimed, await _parts.Store!.ClaimNotesAsync(id, NotesCauses.Ended, DateTimeOffset.UtcNow, Ct));

        var soon = await _parts.NotesSweep(new ShiftedTime(TimeSpan.FromMinutes(5))).RunAsync(Ct);
        var later = new ShiftedTime(TimeSpan.FromMinutes(20));
        var sweeps = await Task.WhenAll(_parts.NotesSweep(later).RunAsync(Ct), _parts.NotesSweep(later).RunAsync(Ct));

        var requests = (await _parts.TakeNotesRequestsAsync()).Where(r => r.CallId == id).ToList();
        Assert.Single(requests);
        Assert.Equal(0, soon.Requeued);
        Assert.Equal(1, sweeps.Sum(s => s.Requeued)); // two sweeps at once: one re-sends
    }

    public void Dispose() => _parts.Dispose();

    [Fact]
    public async Task The_sweep_sends_final_notes_no_receiver_acknowledged_again_once_per_period_and_only_for_a_persona_with_a_receiver()
    {
        var withReceiver = new Persona
        {
            SystemPrompt = "p",
            Notes = new NotesSettings { WebhookUrl = "https://receiver.example/notes", WebhookSecret = "whsec_" + Convert.ToBase64String(new byte[32]) },
        };
        using var parts = new CallParts(azurite, persona: withReceiver);
        var id = await FinalNotesAsync(parts);
        var silent = await FinalNotesAsync(_parts); // Dental: no receiver, nothing to deliver

        var soon = await parts.NotesSweep(new ShiftedTime(TimeSpan.FromMinutes(30))).RunAsync(Ct); // within Notes:WebhookRetryAfter
        var later = new ShiftedTime(TimeSpan.FromHours(2));
        var sweeps = await Task.WhenAll(parts.NotesSweep(later).RunAsync(Ct), parts.NotesSweep(later).RunAsync(Ct));
        var quiet = await _parts.NotesSweep(later).RunAsync(Ct);

        Assert.Equal(0, soon.Redelivered);
        Assert.Equal(1, sweeps.Sum(s => s.Redelivered)); // two sweeps at once: one sends
        var request = Assert.Single(await parts.TakeNotesRequestsAsync(), r => r.CallId == id);
        Assert.Equal(NotesCauses.Ended, request.Cause);
        Assert.Equal(0, quiet.Redelivered);
        Assert.DoesNotContain(await _parts.TakeNotesRequestsAsync(), r => r.CallId == silent);

        // Once the receiver acknowledged them, no sweep sends them again.
        var (_, stored) = await parts.Store!.ReadNotesAsync(id, Ct);
        Assert.True(await parts.Store.MarkNotesNotifiedAsync(id, stored!.ETag, DateTimeOffset.UtcNow, Ct));
        Assert.Equal(0, (await parts.NotesSweep(new ShiftedTime(TimeSpan.FromHours(5))).RunAsync(Ct)).Redelivered);
        Assert.DoesNotContain(await parts.TakeNotesRequestsAsync(), r => r.CallId == id);
    }

    /// <summary>An ended call whose notes are written (final) and not acknowledged: as after a receiver down for every delivery.</summary>
    private static async Task<string> FinalNotesAsync(CallParts parts)
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var slot = parts.Cache.Get(id);
        await parts.RecordAsync(slot, CallParts.Event("session_start", id));
        await parts.RecordAsync(slot, End(id));
        await parts.NotesSettledAsync();
        Assert.Single(await parts.TakeNotesRequestsAsync(), r => r.CallId == id); // the live request, taken by the "function"
        var (session, pending) = await parts.Store!.ReadNotesAsync(id, Ct);
        await parts.Store.WriteNotesAsync(id, new CallNotes { Status = NotesStatus.Written, At = DateTimeOffset.UtcNow, Cause = NotesCauses.Ended, Source = NotesSource.Trace }, session!.ETag, pending!.ETag, pending.QueuedAt, Ct);
        return id;
    }
}

/// <summary>The clock moved on by <paramref name="offset"/>.</summary>
public sealed class ShiftedTime(TimeSpan offset) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
}

/// <summary>Listens to one of the notes counters (meter VoiceFunctions.Calls) while it lives.</summary>
public sealed class NotesCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<IReadOnlyDictionary<string, object?>> _measurements = [];

    public NotesCounter(string name)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CallMetrics.MeterName && instrument.Name == name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            for (var i = 0; i < value; i++)
            {
                lock (_measurements)
                {
                    _measurements.Add(copy);
                }
            }
        });
        _listener.Start();
    }

    public int Total
    {
        get
        {
            lock (_measurements)
            {
                return _measurements.Count;
            }
        }
    }

    public IReadOnlyList<IReadOnlyDictionary<string, object?>> Measurements
    {
        get
        {
            lock (_measurements)
            {
                return [.. _measurements];
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
