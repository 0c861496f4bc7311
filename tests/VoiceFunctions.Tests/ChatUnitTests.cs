using Microsoft.Extensions.AI;
using VoiceFunctions.Chat;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Tests;

/// <summary>The pure parts of the pipeline's chat model: what the model is sent and what the caller hears.</summary>
public sealed class ChatUnitTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 6, 0, 0, TimeSpan.Zero);

    private static TraceEntry Row(long seq, string kind, string? text = null, string? detail = null) =>
        new() { Seq = seq, At = T0, Kind = kind, Mode = SessionModes.Pipeline, Text = text, Detail = detail };

    [Fact]
    public void The_conversation_keeps_the_newest_rows_that_fit_and_always_the_turn()
    {
        TraceEntry[] trace =
        [
            Row(1, TraceKinds.SessionStart),
            Row(2, TraceKinds.Caller, "first question"),
            Row(3, TraceKinds.AssistantReply, "first answer", ReplySource.Model),
            Row(4, TraceKinds.Caller, "second question"),
            Row(5, TraceKinds.AssistantReply, "One moment, please.", ReplySource.Filler),
            Row(6, TraceKinds.AssistantReply, "second answer", ReplySource.Model + ReplySource.LateSuffix),
            Row(7, TraceKinds.PendingDelivered, detail: "reply:speak"),
            Row(8, TraceKinds.Caller, "third question"),
        ];

        var all = Conversation.From(trace, 8, "third question", maxRows: 20, maxChars: 10_000);
        var byChars = Conversation.From(trace, 8, "third question", maxRows: 20, maxChars: 30);
        var byRows = Conversation.From(trace, 8, "third question", maxRows: 2, maxChars: 10_000);
        var tiny = Conversation.From(trace, 8, "third question", maxRows: 0, maxChars: 0);

        Assert.Equal(["first question", "first answer", "second question", "second answer", "third question"], all.Select(m => m.Text));
        Assert.Equal(["user", "assistant", "user", "assistant", "user"], all.Select(m => m.Role.Value));
        Assert.Equal(["second answer", "third question"], byChars.Select(m => m.Text));
        Assert.Equal(["second answer", "third question"], byRows.Select(m => m.Text));
        Assert.Equal(["third question"], tiny.Select(m => m.Text));
    }

    [Fact]
    public void Replies_never_spoken_are_left_out_and_a_turn_not_yet_read_is_added()
    {
        TraceEntry[] trace =
        [
            Row(1, TraceKinds.Caller, "slow question"),
            Row(2, TraceKinds.AssistantReply, "stale answer", ReplySource.Model + ReplySource.LateSuffix),
            Row(3, TraceKinds.Caller, "next question"),
            Row(4, TraceKinds.PendingDropped, detail: "reply:user_speak"),
            Row(5, TraceKinds.AssistantReply, "overtaken answer", ReplySource.Model + ":" + ReplySource.Overtaken),
            Row(6, TraceKinds.AssistantReply, "Sorry?", ReplySource.Apology),
        ];

        Assert.Equal(["slow question", "next question"], Conversation.From(trace, 3, "next question", 20, 10_000).Select(m => m.Text));
        Assert.Equal(["slow question", "next question", "Sorry?", "spooled turn"], Conversation.From(trace, 7, "spooled turn", 20, 10_000).Select(m => m.Text));
    }

    [Theory]
    [InlineData("Plain answer.", "Plain answer.")]
    [InlineData("**Bold** and _under_ and `code`", "Bold and _under_ and code")]
    [InlineData("# Title\n\n1. one\n2) two\n- three", "Title. one. two. three")]
    [InlineData("See [the page](https://example.com) or https://example.com/x now.", "See the page or now.")]
    [InlineData("   ", "")]
    public void Model_text_becomes_speakable(string text, string spoken) => Assert.Equal(spoken, Speakable.Clean(text, 400));

    [Fact]
    public void A_long_reply_is_cut_at_a_sentence_end_or_else_a_word_end()
    {
        Assert.Equal("One two three. Four five.", Speakable.Clean("One two three. Four five. Six seven eight nine ten.", 30));
        Assert.Equal("Onetwothree four.", Speakable.Clean("Onetwothree four fivesixseven", 22));
    }

    [Theory]
    [InlineData("https://my-openai.openai.azure.com/", "https://my-openai.openai.azure.com/openai/v1/")]
    [InlineData("https://my-openai.openai.azure.com", "https://my-openai.openai.azure.com/openai/v1/")]
    [InlineData("http://127.0.0.1:5000/openai/v1", "http://127.0.0.1:5000/openai/v1/")]
    [InlineData("https://proxy.example/custom/path/", "https://proxy.example/custom/path/")]
    public void The_endpoint_is_azure_openais_v1_api(string configured, string used) => Assert.Equal(used, AssistantModel.V1Endpoint(configured).AbsoluteUri);
}

/// <summary>The stand-in itself speaks the OpenAI wire format, streamed and not, as the OpenAI client reads it.</summary>
public sealed class StandInModelTests
{
    [Fact]
    public async Task The_stand_in_answers_the_openai_client_in_json_and_as_a_stream()
    {
        await using var model = await VoiceFunctions.Tests.Infrastructure.StandInModel.StartAsync();
        var client = new OpenAI.Chat.ChatClient("standin", new System.ClientModel.ApiKeyCredential("k"), new OpenAI.OpenAIClientOptions { Endpoint = new Uri(model.Endpoint, "openai/v1/") });
        var chat = client.AsIChatClient();

        var whole = await chat.GetResponseAsync("hello there");
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in chat.GetStreamingResponseAsync("streamed words, more than eight characters"))
        {
            streamed.Append(update.Text);
        }

        Assert.Equal("You said: hello there", whole.Text);
        Assert.True(whole.Usage?.OutputTokenCount > 0);
        Assert.Equal("You said: streamed words, more than eight characters", streamed.ToString());
        Assert.Equal([false, true], model.Requests.Select(r => r.Stream));
    }
}
