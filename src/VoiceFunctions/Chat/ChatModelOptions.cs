using Microsoft.Extensions.Options;
using VoiceFunctions.Personas;

namespace VoiceFunctions.Chat;

/// <summary>
/// Section <c>ChatModel</c>: the Azure OpenAI deployment that answers pipeline calls (issue 12), with defaults a
/// persona may override (<see cref="ChatSettings"/>). Required as soon as one persona runs on the pipeline.
/// </summary>
public sealed class ChatModelOptions
{
    public const string Section = "ChatModel";

    /// <summary>The Azure OpenAI resource, e.g. <c>https://my-openai.openai.azure.com/</c>; the v1 API (<c>openai/v1/</c>) is appended to a bare host.</summary>
    public string? Endpoint { get; set; }

    /// <summary>The model deployment's name, used unless a persona names its own.</summary>
    public string? Deployment { get; set; }

    /// <summary>For local runs only: a key sent as <c>api-key</c>. A secret: never logged. Unset: Entra ID (managed identity).</summary>
    public string? ApiKey { get; set; }

    /// <summary>The user-assigned managed identity's client id for the token; unset: <c>DefaultAzureCredential</c>'s choice.</summary>
    public string? ClientId { get; set; }

    /// <summary>Longest wait for one model answer; after it the call hears the apology.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>History sent with each turn: at most this many rows (caller and assistant)...</summary>
    public int HistoryTurns { get; set; } = 20;

    /// <summary>...and at most this many characters of them; the newest that fit are sent, in order.</summary>
    public int HistoryChars { get; set; } = 6000;

    /// <summary>Longest reply spoken, in characters, unless a persona says otherwise.</summary>
    public int MaxReplyChars { get; set; } = 400;

    /// <summary>The model's output limit per reply (sent as <c>max_completion_tokens</c>).</summary>
    public int MaxOutputTokens { get; set; } = 200;

    /// <summary>
    /// How the deployment's model is asked: <see cref="ChatModelFamily.Classic"/> (gpt-4o, gpt-4.1: a temperature,
    /// no reasoning), <see cref="ChatModelFamily.Reasoning"/> (gpt-5 family, o-series: no temperature, a reasoning
    /// effort, reasoning tokens counted in the output budget) or <see cref="ChatModelFamily.Auto"/>: classic until the
    /// deployment refuses a classic parameter or spends its budget on reasoning, then reasoning (learned once per deployment).
    /// </summary>
    public ChatModelFamily Family { get; set; } = ChatModelFamily.Auto;

    /// <summary>
    /// Reasoning effort sent to a reasoning model; unset: the lowest the model accepts, tried in the order
    /// <see cref="ReasoningEfforts.Lowest"/> (gpt-5.1 and later take <c>none</c>, gpt-5/-mini/-nano <c>minimal</c>,
    /// the o-series <c>low</c>) and remembered per deployment. A live call cannot wait for long reasoning.
    /// </summary>
    public string? ReasoningEffort { get; set; }

    /// <summary>Added to <see cref="MaxOutputTokens"/> for a reasoning model, whose reasoning tokens count against the same limit.</summary>
    public int ReasoningTokens { get; set; } = 1000;

    /// <summary>How long a late reply waits for a quiet moment of the call before it is stale and dropped.</summary>
    public TimeSpan ReplyTimeToLive { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Sent with the filler line, so a caller who stays silent produces a <c>user_input_timeout</c> that can carry the late reply.</summary>
    public double FillerInputTimeoutSeconds { get; set; } = 4;
}

/// <summary>Which parameters a model deployment takes (<see cref="ChatModelOptions.Family"/>).</summary>
public enum ChatModelFamily
{
    Auto,
    Classic,
    Reasoning,
}

/// <summary>The <c>reasoning_effort</c> values of Azure OpenAI's reasoning models (docs/adr/0003-chat-model-client.md cites them).</summary>
public static class ReasoningEfforts
{
    /// <summary>Every value some reasoning model accepts.</summary>
    public static readonly IReadOnlyList<string> Known = ["none", "minimal", "low", "medium", "high", "xhigh"];

    /// <summary>Tried in this order until the deployment accepts one: each family's lowest effort.</summary>
    public static readonly IReadOnlyList<string> Lowest = ["none", "minimal", "low"];
}

/// <summary>
/// Start-up checks of <see cref="ChatModelOptions"/>, including "a persona runs on the pipeline but no model is
/// configured". Reads the personas from configuration itself so its report does not depend on theirs.
/// </summary>
public sealed class ChatModelValidation(IConfiguration configuration) : IValidateOptions<ChatModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var pipelinePersonas = PipelinePersonas().ToList();
        var needed = pipelinePersonas.Count > 0;
        var who = string.Join(", ", pipelinePersonas.Select(p => $"'{p.Name}'"));

        if (string.IsNullOrWhiteSpace(options.Endpoint))
        {
            if (needed)
            {
                failures.Add($"ChatModel:Endpoint is required: persona {who} runs on the pipeline (VoiceToVoice=false) and answers through the chat model (e.g. https://<resource>.openai.azure.com/).");
            }
        }
        else if (!Uri.TryCreate(options.Endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && !(uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
        {
            failures.Add("ChatModel:Endpoint must be an https URL (http only for a loopback address).");
        }

        foreach (var persona in pipelinePersonas.Where(p => string.IsNullOrWhiteSpace(p.Chat.Deployment) && string.IsNullOrWhiteSpace(options.Deployment)))
        {
            failures.Add($"ChatModel:Deployment is required (or Personas:{persona.Name}:Chat:Deployment): persona '{persona.Name}' runs on the pipeline.");
        }

        if (options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromSeconds(60))
        {
            failures.Add("ChatModel:Timeout must be between 0 and 60 seconds.");
        }

        if (options.HistoryTurns is < 0 or > 200)
        {
            failures.Add("ChatModel:HistoryTurns must be between 0 and 200.");
        }

        if (options.HistoryChars is < 0 or > 100_000)
        {
            failures.Add("ChatModel:HistoryChars must be between 0 and 100000.");
        }

        if (options.MaxReplyChars is < 20 or > 4000)
        {
            failures.Add("ChatModel:MaxReplyChars must be between 20 and 4000.");
        }

        if (options.MaxOutputTokens is < 16 or > 4096)
        {
            failures.Add("ChatModel:MaxOutputTokens must be between 16 and 4096.");
        }

        if (!Enum.IsDefined(options.Family))
        {
            failures.Add("ChatModel:Family must be Auto, Classic or Reasoning.");
        }

        if (options.ReasoningEffort is { } effort && !ReasoningEfforts.Known.Contains(effort))
        {
            failures.Add($"ChatModel:ReasoningEffort must be one of {string.Join(", ", ReasoningEfforts.Known)} (or unset: the lowest the model accepts).");
        }

        if (options.ReasoningTokens is < 0 or > 32_000)
        {
            failures.Add("ChatModel:ReasoningTokens must be between 0 and 32000.");
        }

        if (options.ReplyTimeToLive <= TimeSpan.Zero)
        {
            failures.Add("ChatModel:ReplyTimeToLive must be positive.");
        }

        if (options.FillerInputTimeoutSeconds is < 0 or > 60)
        {
            failures.Add("ChatModel:FillerInputTimeoutSeconds must be between 0 (off) and 60.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private IEnumerable<Persona> PipelinePersonas()
    {
        PersonaOptions personas;
        try
        {
            personas = configuration.GetSection(PersonaOptions.Section).Get<PersonaOptions>() ?? [];
        }
        catch (InvalidOperationException)
        {
            yield break; // a value that does not bind is the personas' own start-up error
        }

        foreach (var (name, persona) in personas.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (persona is { VoiceToVoice: false })
            {
                persona.Name = name;
                yield return persona;
            }
        }
    }
}
