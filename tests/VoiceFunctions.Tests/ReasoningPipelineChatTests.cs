using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// The pipeline against a reasoning model (the stand-in as gpt-5-mini: default temperature only, no <c>max_tokens</c>,
/// reasoning tokens counted in <c>max_completion_tokens</c>, efforts minimal to high). <c>ChatModel:Family</c> stays unset
/// (Auto), as a new user leaves it: the worker learns the family on each deployment's first turn. Two extra personas
/// with deployments of their own see that first turn inside a test.
/// </summary>
public sealed class ReasoningPipelineChatApp(Azurite azurite) : PipelineChatApp(azurite)
{
    public const string TemperatureNumber = "+4989777301";
    public const string TemperatureDeployment = "standin-first-temperature";
    public const string QuietNumber = "+4989777302";
    public const string QuietDeployment = "standin-first-quiet";

    public override StandInFamily Family => StandInFamily.Gpt5Mini;

    protected override void Configure(Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        foreach (var (name, number, deployment) in new[] { ("firsttemp", TemperatureNumber, TemperatureDeployment), ("firstquiet", QuietNumber, QuietDeployment) })
        {
            settings[$"Personas:{name}:PhoneNumbers:0"] = number;
            settings[$"Personas:{name}:VoiceToVoice"] = "false";
            settings[$"Personas:{name}:SystemPrompt"] = "You answer first turns.";
            settings[$"Personas:{name}:Greeting"] = "Hello.";
            settings[$"Personas:{name}:Language"] = "en";
            settings[$"Personas:{name}:Chat:Deployment"] = deployment;
            settings[$"Personas:{name}:Chat:ApologyLine"] = Apology;
        }

        settings["Personas:firsttemp:Chat:Temperature"] = "0.3";
    }
}

public sealed class ReasoningPipelineChatTests(ReasoningPipelineChatApp app) : PipelineChatBehaviour<ReasoningPipelineChatApp>(app), IClassFixture<ReasoningPipelineChatApp>
{
    private List<ModelRequest> RequestsTo(string deployment) => [.. Model.Requests.Where(r => r.Model == deployment)];

    [Fact]
    public async Task A_refused_temperature_costs_the_first_turn_a_quick_retry_not_an_apology()
    {
        var id = await StartGatedAsync(ReasoningPipelineChatApp.TemperatureNumber);

        await Calls.SayAsync(id, "first question");
        var trace = Trace(await WaitForTraceAsync(id, t => t.Any(r => r.Kind == "assistant_reply")));

        // Sent as the persona configures it, refused (temperature), asked again at once as a reasoning model with the
        // lowest effort: "none" (gpt-5.1 and later) is refused by gpt-5-mini, "minimal" is taken.
        var first = RequestsTo(ReasoningPipelineChatApp.TemperatureDeployment);
        Assert.Equal([(0.3, null), (null, "none"), (null, "minimal")], first.Select(r => (r.Temperature, r.ReasoningEffort)));
        Assert.Contains(("assistant_reply", "You said: first question", "model"), trace);
        Assert.DoesNotContain(trace, r => r.Kind == "model_failed");

        // Learned for the deployment: the next turn is one request.
        Assert.Equal("You said: second question", Spoken(await SayTimedAsync(id, "second question")));
        var next = Assert.Single(RequestsTo(ReasoningPipelineChatApp.TemperatureDeployment).Skip(3));
        Assert.Equal((null, "minimal", 1200), (next.Temperature, next.ReasoningEffort, next.MaxCompletionTokens));
        Assert.Contains($"Chat model deployment {ReasoningPipelineChatApp.TemperatureDeployment} refused temperature", App.App.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_first_reply_eaten_by_reasoning_is_asked_again_with_the_reasoning_budget()
    {
        var id = await StartGatedAsync(ReasoningPipelineChatApp.QuietNumber);

        await Calls.SayAsync(id, "first question");
        var trace = Trace(await WaitForTraceAsync(id, t => t.Any(r => r.Kind == "assistant_reply")));

        // No temperature to refuse: the classic request is taken, its 200 tokens go to the default (medium) reasoning and
        // the reply comes back empty (finish_reason length); the worker then asks as a reasoning model.
        var first = RequestsTo(ReasoningPipelineChatApp.QuietDeployment);
        Assert.Equal([(null, 200), ("none", 1200), ("minimal", 1200)], first.Select(r => (r.ReasoningEffort, r.MaxCompletionTokens)));
        Assert.Contains(("assistant_reply", "You said: first question", "model"), trace);
        Assert.DoesNotContain(trace, r => r.Kind == "model_failed");
        Assert.Contains($"Chat model deployment {ReasoningPipelineChatApp.QuietDeployment} returned no text (finish_reason length", App.App.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_reply_is_a_failure_with_its_reason_and_the_apology()
    {
        var id = await StartGatedAsync();
        Model.Script = r => r.LastUserText == "think hard" ? ModelBehaviour.Reply("Never shown.") with { ReasoningTokens = 50_000 } : StandInModel.Echo(r);

        Assert.Equal(PipelineChatApp.Apology, Spoken(await SayTimedAsync(id, "think hard")));

        var trace = Trace(await WaitForTraceAsync(id, t => t.Any(r => r.Kind == "assistant_reply")));
        Assert.Contains(("model_failed", null, "empty:length"), trace.Select(t => (t.Kind, (string?)null, t.Detail)));
        Assert.Single(Model.Requests); // the family is known: an empty reply is not asked again
        Assert.Contains($"Chat model deployment {PipelineChatApp.Deployment} returned no text (finish_reason length, 1200 of 1200", App.App.Output, StringComparison.Ordinal);
    }
}
