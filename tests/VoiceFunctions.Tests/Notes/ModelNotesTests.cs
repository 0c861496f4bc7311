using VoiceFunctions.AiFlow;
using VoiceFunctions.Chat;
using VoiceFunctions.Notes;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Calls;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Notes;

/// <summary>
/// Notes from the chat model (issue 21): one structured-output request to the stand-in (Azure OpenAI's v1 API), checked
/// against the schema; an answer that does not fit is asked again, then the notes are failed — never a crash.
/// </summary>
public sealed class ModelNotesTests(Azurite azurite) : IAsyncLifetime
{
    private static readonly Persona Dental = new()
    {
        SystemPrompt = "p",
        Language = "de",
        Notes = new NotesSettings { Reasons = ["appointment", "cancellation"] },
    };

    private StandInModel _model = null!;
    private CallParts _parts = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _model = await StandInModel.StartAsync();
        _parts = new CallParts(azurite, persona: Dental, chat: new ChatModelOptions { Endpoint = _model.Endpoint.ToString(), Deployment = "notes-model", ApiKey = "test-key" });
    }

    private async Task<string> EndedCallAsync(params string[] said)
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var slot = _parts.Cache.Get(id);
        await _parts.RecordAsync(slot, CallParts.Event("session_start", id));
        foreach (var text in said)
        {
            await _parts.RecordAsync(slot, CallParts.Speak(id, text));
        }

        await _parts.RecordAsync(slot, CallParts.Event("session_end", id));
        return id;
    }

    private Task<NotesOutcome> WriteAsync(string id) =>
        _parts.NotesWriter().WriteAsync(new NotesRequest { CallId = id, Cause = NotesCauses.Ended, At = DateTimeOffset.UtcNow }, Ct);

    private async Task<CallNotes> NotesAsync(string id) => (await _parts.Store!.ReadNotesAsync(id, Ct)).Notes!.Notes;

    [Fact]
    public async Task One_strict_structured_output_request_gives_written_notes_with_the_persona_s_reasons()
    {
        var id = await EndedCallAsync("I would like an appointment next week.", "Please call me back tomorrow.");

        Assert.Equal(NotesOutcome.Written, await WriteAsync(id));

        var request = Assert.Single(_model.Requests);
        Assert.True(request.IsStructured);
        Assert.True(request.Strict);
        Assert.Equal(["appointment", "cancellation", "other"], request.SchemaEnum("reason"));
        Assert.Equal(NotesOutcomes.All, request.SchemaEnum("outcome"));
        Assert.Contains("I would like an appointment", request.LastUserText, StringComparison.Ordinal);
        Assert.Contains("'de'", request.Messages[0].Content, StringComparison.Ordinal); // the call's language

        var notes = await NotesAsync(id);
        Assert.Equal(NotesStatus.Written, notes.Status);
        Assert.Equal(NotesSource.Model, notes.Source);
        Assert.Equal("notes-model", notes.Model);
        Assert.Equal("appointment", notes.Reason);
        Assert.Equal(NotesOutcomes.CallbackRequested, notes.Outcome);
        Assert.True(notes.CallbackRequested);
        Assert.Equal("+491701234567", notes.CallbackNumber); // the caller's own (CallClient's from_phone_number): they named no other
        Assert.Equal(2, notes.Turns);
        Assert.False(string.IsNullOrWhiteSpace(notes.Summary));
    }

    [Fact]
    public async Task Broken_json_is_asked_again_twice_then_stored_failed_with_the_reason()
    {
        var id = await EndedCallAsync("hello");
        _model.BrokenStructured = true;

        Assert.Equal(NotesOutcome.Written, await WriteAsync(id)); // returns normally: no crash loop

        Assert.Equal(3, _model.Requests.Count);
        var notes = await NotesAsync(id);
        Assert.Equal(NotesStatus.Failed, notes.Status);
        Assert.Equal("schema:not_json", notes.Error);
        Assert.Null(notes.Summary);
        Assert.Equal(NotesOutcome.AlreadyFinal, await WriteAsync(id)); // and a redelivery does not ask the model again
        Assert.Equal(3, _model.Requests.Count);
    }

    [Fact]
    public async Task An_answer_outside_the_schema_is_retried_and_a_good_retry_is_kept()
    {
        var id = await EndedCallAsync("I want to cancel.");
        var tries = 0;
        _model.StructuredScript = request => Interlocked.Increment(ref tries) == 1
            ? ModelBehaviour.Reply("""{"summary":"One. Two. Three. Four.","reason":"cancellation","outcome":"resolved","callback_requested":false,"callback_number":null,"follow_up":""}""")
            : _model.Notes(request);

        await WriteAsync(id);

        Assert.Equal(2, _model.Requests.Count);
        Assert.Equal(NotesStatus.Written, (await NotesAsync(id)).Status);
    }

    [Fact]
    public async Task A_model_that_cannot_be_reached_fails_the_notes_with_its_error_kind_only()
    {
        var id = await EndedCallAsync("hello");
        _model.StructuredScript = _ => ModelBehaviour.Fail(500);

        await WriteAsync(id);

        var notes = await NotesAsync(id);
        Assert.Equal(NotesStatus.Failed, notes.Status);
        Assert.StartsWith("model:", notes.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("hello", notes.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"summary":"He called. He asked. We answered. He left.","reason":"other","outcome":"resolved","callback_requested":false,"callback_number":null,"follow_up":""}""", "summary_too_long")]
    [InlineData("""{"summary":"A.","reason":"billing","outcome":"resolved","callback_requested":false,"callback_number":null,"follow_up":""}""", "reason")]
    [InlineData("""{"summary":"A.","reason":"other","outcome":"happy","callback_requested":false,"callback_number":null,"follow_up":""}""", "outcome")]
    [InlineData("""{"summary":"A.","reason":"other","outcome":"resolved","callback_requested":"yes","callback_number":null,"follow_up":""}""", "callback_requested")]
    [InlineData("""{"summary":"A.","reason":"other","outcome":"resolved","callback_requested":true,"callback_number":"call Bob","follow_up":""}""", "callback_number")]
    [InlineData("""{"summary":"A.","reason":"other","outcome":"resolved","callback_requested":false,"callback_number":null,"follow_up":"a\nb"}""", "follow_up")]
    [InlineData("""{"summary":"A.","reason":"other","outcome":"resolved","callback_requested":false,"callback_number":null,"follow_up":"","extra":1}""", "unknown_field")]
    [InlineData("""[1,2]""", "not_object")]
    public void Answers_that_do_not_fit_are_refused_by_field(string json, string problem)
    {
        var session = new SessionState { SessionId = Guid.NewGuid().ToString(), Persona = "default", Mode = SessionModes.VoiceToVoice, StartedAt = DateTimeOffset.UtcNow };
        var (notes, found) = ModelNotes.Check(json, ["appointment", "other"], session);
        Assert.Null(notes);
        Assert.Equal(problem, found);
    }

    [Fact]
    public void A_number_the_caller_named_is_the_callback_number_and_three_sentences_fit()
    {
        var session = new SessionState { SessionId = Guid.NewGuid().ToString(), Persona = "default", Mode = SessionModes.VoiceToVoice, StartedAt = DateTimeOffset.UtcNow, FromPhoneNumber = "+491" };
        var (notes, problem) = ModelNotes.Check("""{"summary":"Frau M. rief an. Sie braucht 3.5 Stunden! Bitte zurückrufen?","reason":"other","outcome":"callback_requested","callback_requested":true,"callback_number":"+49 211 555","follow_up":"Zurückrufen."}""", ["other"], session);
        Assert.Null(problem);
        Assert.Equal("+49 211 555", notes!.CallbackNumber);
    }

    [Fact]
    public async Task Notes_go_to_their_own_deployment_when_one_is_set_so_live_replies_keep_theirs()
    {
        _parts.NotesOptions!.Deployment = "notes-only"; // Notes:Deployment: its own tokens-per-minute
        var id = await EndedCallAsync("I would like an appointment next week.");

        Assert.Equal(NotesOutcome.Written, await WriteAsync(id));

        Assert.Equal("notes-only", Assert.Single(_model.Requests).Model);
        Assert.Equal("notes-only", (await NotesAsync(id)).Model);
    }

    public async ValueTask DisposeAsync()
    {
        _parts.Dispose();
        await _model.DisposeAsync();
    }
}
