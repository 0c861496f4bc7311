using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Identity;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Chat;

/// <summary>What the chat model made of one caller turn.</summary>
public sealed record ModelAnswer
{
    /// <summary>The speakable reply; null when the model failed.</summary>
    public string? Text { get; init; }

    /// <summary>Why it failed (exception type, <c>timeout</c>, <c>empty</c>); never the answer or the key.</summary>
    public string? Error { get; init; }

    public long LatencyMs { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }

    public bool Failed => Text is null;
}

/// <summary>
/// The persona's chat model (Microsoft.Extensions.AI <see cref="IChatClient"/> over the OpenAI client pointed at
/// Azure OpenAI's v1 endpoint): the persona's system prompt, language and the bounded conversation so far in,
/// one short speakable reply out. Never throws: every failure is an answer with <see cref="ModelAnswer.Error"/>.
/// </summary>
public sealed partial class AssistantModel(IOptions<ChatModelOptions> options, TimeProvider time, ILogger<AssistantModel> logger)
{
    /// <summary>Entra ID scope of Azure OpenAI (Cognitive Services).</summary>
    public const string TokenScope = "https://cognitiveservices.azure.com/.default";

    /// <summary>Requests one turn may cost while the deployment's family and effort are learned (each refusal is a quick 400).</summary>
    private const int MaxAttempts = 4;

    private const string SpeakableRules =
        "You are speaking on a phone call: your words are read aloud by a text-to-speech voice. " +
        "Answer in one to three short, natural spoken sentences. Plain text only: no markdown, no lists, no headings, " +
        "no emojis, no URLs, no code.";

    private readonly ChatModelOptions _options = options.Value;
    private readonly ConcurrentDictionary<(string Deployment, TimeSpan Timeout), IChatClient> _clients = new();

    /// <summary>What each deployment was found to take; shared by every call of this instance, so a refusal costs one turn one retry, once.</summary>
    private readonly ConcurrentDictionary<string, DeploymentProfile> _profiles = new(StringComparer.Ordinal);
    private AuthenticationPolicy? _auth;

    /// <summary>How a deployment is asked: its family and, for a reasoning model, the index of the effort tried (in <see cref="ReasoningEfforts.Lowest"/>, or the configured one).</summary>
    private sealed record DeploymentProfile(ChatModelFamily Family, int Effort);

    public async Task<ModelAnswer> AskAsync(Persona persona, IReadOnlyList<ChatMessage> conversation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(persona);
        ArgumentNullException.ThrowIfNull(conversation);
        var started = time.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            var deployment = persona.Chat.Deployment ?? _options.Deployment!;
            var client = ClientFor(deployment, _options.Timeout);
            var messages = new List<ChatMessage>(conversation.Count + 1) { new(ChatRole.System, SystemPrompt(persona)) };
            messages.AddRange(conversation);
            for (var attempt = 1; ; attempt++)
            {
                var profile = _profiles.GetOrAdd(deployment, _ => new DeploymentProfile(_options.Family, 0));
                ChatResponse response;
                try
                {
                    response = await client.GetResponseAsync(messages, ChatOptionsFor(profile, persona), timeout.Token).ConfigureAwait(false);
                }
                catch (ClientResultException ex) when (attempt < MaxAttempts && Refused(ex) is { } refused && Adapt(deployment, profile, refused) is { } adapted)
                {
                    // The same turn again at once without what was refused: the caller hears an answer, not an apology.
                    LogAdapted(logger, deployment, refused.Param, adapted.Family, EffortOf(adapted));
                    continue;
                }

                var text = Speakable.Clean(response.Text, persona.Chat.MaxReplyChars ?? _options.MaxReplyChars);
                var reasoningTokens = response.Usage?.ReasoningTokenCount;
                var empty = string.IsNullOrWhiteSpace(text);
                if (empty)
                {
                    LogEmpty(logger, deployment, response.FinishReason?.Value ?? "none", reasoningTokens ?? 0, response.Usage?.OutputTokenCount ?? 0);
                    // A classic-looking deployment that spent the whole budget reasoning is a reasoning model: learn it, ask again.
                    if (attempt < MaxAttempts && profile.Family == ChatModelFamily.Auto && response.FinishReason == ChatFinishReason.Length &&
                        Learn(deployment, profile, new DeploymentProfile(ChatModelFamily.Reasoning, 0)) is { } learned)
                    {
                        LogAdapted(logger, deployment, "max_completion_tokens", learned.Family, EffortOf(learned));
                        continue;
                    }
                }
                else if (profile.Family == ChatModelFamily.Auto && reasoningTokens > 0)
                {
                    // It answered, but it reasons: give the next turns the reasoning budget and the lowest effort.
                    Learn(deployment, profile, new DeploymentProfile(ChatModelFamily.Reasoning, 0));
                }

                return new ModelAnswer
                {
                    Text = empty ? null : text,
                    Error = empty ? (response.FinishReason == ChatFinishReason.Length ? "empty:length" : "empty") : null,
                    LatencyMs = Elapsed(started),
                    InputTokens = response.Usage?.InputTokenCount,
                    OutputTokens = response.Usage?.OutputTokenCount,
                };
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new ModelAnswer { Error = "timeout", LatencyMs = Elapsed(started) };
        }
#pragma warning disable CA1031 // any model failure (HTTP, JSON, auth) is an apology, never a failed call
        catch (Exception ex) when (ex is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            var status = (ex as ClientResultException)?.Status;
            return new ModelAnswer { Error = status is > 0 ? $"{ex.GetType().Name}:{status}" : ex.GetType().Name, LatencyMs = Elapsed(started) };
        }
    }

    /// <summary>The deployment a persona's chat model is asked on; null when no model is configured for it.</summary>
    public string? DeploymentFor(Persona persona)
    {
        ArgumentNullException.ThrowIfNull(persona);
        return string.IsNullOrWhiteSpace(_options.Endpoint) ? null : persona.Chat.Deployment ?? _options.Deployment;
    }

    /// <summary>
    /// One structured-output request (issue 21, the call's notes): <paramref name="messages"/> in, the model's JSON text
    /// out, constrained by <paramref name="format"/> (a JSON schema, sent as OpenAI's <c>response_format: json_schema</c>,
    /// strict). Not a live call: its own, longer <paramref name="timeout"/>; the deployment's learned family is used and
    /// a refused parameter adapted as for a turn. Never throws: a failure is the answer's <see cref="ModelAnswer.Error"/>.
    /// </summary>
    /// <param name="deployment">The deployment asked (<see cref="DeploymentFor"/>, or the notes' own).</param>
    public async Task<ModelAnswer> AskStructuredAsync(Persona persona, string deployment, IReadOnlyList<ChatMessage> messages, ChatResponseFormat format, int maxOutputTokens, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(persona);
        ArgumentException.ThrowIfNullOrWhiteSpace(deployment);
        ArgumentNullException.ThrowIfNull(messages);
        var started = time.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            var client = ClientFor(deployment, timeout);
            for (var attempt = 1; ; attempt++)
            {
                var profile = _profiles.GetOrAdd(deployment, _ => new DeploymentProfile(_options.Family, 0));
                var options = ChatOptionsFor(profile, persona);
                options.Temperature = profile.Family == ChatModelFamily.Reasoning ? null : 0f; // notes, not conversation: no variety wanted
                options.MaxOutputTokens = maxOutputTokens + (profile.Family == ChatModelFamily.Reasoning ? _options.ReasoningTokens : 0);
                options.ResponseFormat = format;
                // Microsoft.Extensions.AI.OpenAI reads "strict" from the additional properties for the schema's strict flag.
                options.AdditionalProperties = new AdditionalPropertiesDictionary { ["strict"] = true };
                ChatResponse response;
                try
                {
                    response = await client.GetResponseAsync(messages, options, limit.Token).ConfigureAwait(false);
                }
                catch (ClientResultException ex) when (attempt < MaxAttempts && Refused(ex) is { } refused && Adapt(deployment, profile, refused) is { } adapted)
                {
                    LogAdapted(logger, deployment, refused.Param, adapted.Family, EffortOf(adapted));
                    continue;
                }

                var text = response.Text;
                return new ModelAnswer
                {
                    Text = string.IsNullOrWhiteSpace(text) ? null : text,
                    Error = string.IsNullOrWhiteSpace(text) ? (response.FinishReason == ChatFinishReason.Length ? "empty:length" : "empty") : null,
                    LatencyMs = Elapsed(started),
                    InputTokens = response.Usage?.InputTokenCount,
                    OutputTokens = response.Usage?.OutputTokenCount,
                };
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new ModelAnswer { Error = "timeout", LatencyMs = Elapsed(started) };
        }
#pragma warning disable CA1031 // any model failure (HTTP, JSON, auth) is an error of this answer, never a crash of the caller
        catch (Exception ex) when (ex is not OutOfMemoryException && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
#pragma warning restore CA1031
        {
            var status = (ex as ClientResultException)?.Status;
            return new ModelAnswer { Error = status is > 0 ? $"{ex.GetType().Name}:{status}" : ex.GetType().Name, LatencyMs = Elapsed(started) };
        }
    }

    /// <summary>
    /// Classic: the persona's temperature, <see cref="ChatModelOptions.MaxOutputTokens"/>. Reasoning: no temperature (only
    /// the default is accepted), the effort, and the output budget plus <see cref="ChatModelOptions.ReasoningTokens"/>.
    /// OpenAI 2.15 sends <c>MaxOutputTokens</c> as <c>max_completion_tokens</c> (never <c>max_tokens</c>, which reasoning models refuse).
    /// </summary>
    private ChatOptions ChatOptionsFor(DeploymentProfile profile, Persona persona)
    {
        if (profile.Family != ChatModelFamily.Reasoning)
        {
            return new ChatOptions
            {
                Temperature = (float?)(persona.Chat.Temperature ?? persona.Temperature),
                MaxOutputTokens = _options.MaxOutputTokens,
            };
        }

        var effort = EffortOf(profile);
        return new ChatOptions
        {
            MaxOutputTokens = _options.MaxOutputTokens + _options.ReasoningTokens,
            // Microsoft.Extensions.AI 10.11's ReasoningEffort has no "minimal"; the OpenAI options take any value and are kept (??=).
#pragma warning disable OPENAI001
            RawRepresentationFactory = effort is null ? null : _ => new OpenAI.Chat.ChatCompletionOptions { ReasoningEffortLevel = new OpenAI.Chat.ChatReasoningEffortLevel(effort) },
#pragma warning restore OPENAI001
        };
    }

    /// <summary>The effort a reasoning profile sends; null once every candidate was refused (the model's default then).</summary>
    private string? EffortOf(DeploymentProfile profile)
    {
        if (profile.Family != ChatModelFamily.Reasoning)
        {
            return null;
        }

        IReadOnlyList<string> candidates = _options.ReasoningEffort is { } configured ? [configured] : ReasoningEfforts.Lowest;
        return profile.Effort < candidates.Count ? candidates[profile.Effort] : null;
    }

    /// <summary>The next profile after a refusal, stored for the deployment; null when nothing is left to drop.</summary>
    private DeploymentProfile? Adapt(string deployment, DeploymentProfile profile, ModelRefusal refused)
    {
        DeploymentProfile? next = refused.Param switch
        {
            // A reasoning model's refusal of a classic parameter (temperature other than the default, max_tokens).
            "temperature" or "max_tokens" or "top_p" when profile.Family != ChatModelFamily.Reasoning => new DeploymentProfile(ChatModelFamily.Reasoning, 0),
            // An effort this model does not take: the next lowest; a model that takes no effort at all is a classic one.
            "reasoning_effort" when profile.Family == ChatModelFamily.Reasoning && refused.Code == "unsupported_parameter" => new DeploymentProfile(ChatModelFamily.Classic, 0),
            "reasoning_effort" when profile.Family == ChatModelFamily.Reasoning && EffortOf(profile) is not null => profile with { Effort = profile.Effort + 1 },
            _ => null,
        };
        return next is null ? null : Learn(deployment, profile, next);
    }

    private DeploymentProfile Learn(string deployment, DeploymentProfile seen, DeploymentProfile next)
    {
        // Another call may have learned it meanwhile: its answer wins, this turn simply asks again with it.
        _profiles.TryUpdate(deployment, next, seen);
        return _profiles[deployment];
    }

    /// <summary>The refused parameter of a 400 in OpenAI's error shape (<c>{"error":{"code","param",…}}</c>); null for any other failure.</summary>
    private static ModelRefusal? Refused(ClientResultException ex)
    {
        if (ex.Status != 400 || ex.GetRawResponse() is not { } raw)
        {
            return null;
        }

        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(raw.Content);
            if (json.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object || !json.RootElement.TryGetProperty("error", out var error) ||
                error.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                return null;
            }

            var code = error.TryGetProperty("code", out var c) && c.ValueKind == System.Text.Json.JsonValueKind.String ? c.GetString() : null;
            var param = error.TryGetProperty("param", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.String ? p.GetString() : null;
            return code is "unsupported_parameter" or "unsupported_value" && param is not null ? new ModelRefusal(code, param) : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private sealed record ModelRefusal(string Code, string Param);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Chat model deployment {Deployment} refused {Param}: asking it as {Family} (reasoning effort {Effort}) from now on, this turn at once")]
    private static partial void LogAdapted(ILogger logger, string deployment, string param, ChatModelFamily family, string? effort);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Chat model deployment {Deployment} returned no text (finish_reason {FinishReason}, {ReasoningTokens} of {OutputTokens} output tokens spent reasoning)")]
    private static partial void LogEmpty(ILogger logger, string deployment, string finishReason, long reasoningTokens, long outputTokens);

    /// <summary>The persona's prompt, then the rules that keep a reply speakable and the language it must be in.</summary>
    public static string SystemPrompt(Persona persona)
    {
        ArgumentNullException.ThrowIfNull(persona);
        var prompt = $"{persona.SystemPrompt}\n\n{SpeakableRules}";
        return string.IsNullOrWhiteSpace(persona.Language) ? prompt : $"{prompt} Always answer in the language '{persona.Language}'.";
    }

    private long Elapsed(long started) => (long)time.GetElapsedTime(started).TotalMilliseconds;

    private IChatClient ClientFor(string deployment, TimeSpan timeout) => _clients.GetOrAdd((deployment, timeout), key =>
    {
        var d = key.Deployment;
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = V1Endpoint(_options.Endpoint!),
            NetworkTimeout = key.Timeout,
            // No retries: the caller is waiting; a failed answer is an apology now, not a second try later.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        };
        // OPENAI001: the AuthenticationPolicy constructor is marked "evaluation" in OpenAI 2.15; it is the library's way to
        // send an Entra ID token or Azure's api-key header (docs/adr/0003-chat-model-client.md says why this client).
#pragma warning disable OPENAI001
        return new OpenAI.Chat.ChatClient(d, _auth ??= Authentication(), clientOptions).AsIChatClient();
#pragma warning restore OPENAI001
    });

    /// <summary>
    /// A key (local runs) goes in Azure's <c>api-key</c> header; otherwise an Entra ID token for the app's managed
    /// identity (<c>ChatModel:ClientId</c> for a user-assigned one), which needs "Cognitive Services OpenAI User".
    /// </summary>
    private AuthenticationPolicy Authentication() => !string.IsNullOrWhiteSpace(_options.ApiKey)
        ? ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(_options.ApiKey), "api-key")
        : new BearerTokenPolicy(new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = _options.ClientId }), TokenScope);

    /// <summary>Azure OpenAI's OpenAI-compatible v1 API: <c>https://res.openai.azure.com/</c> becomes <c>…/openai/v1/</c>; a URL with a path is used as given.</summary>
    public static Uri V1Endpoint(string endpoint)
    {
        var uri = new Uri(endpoint, UriKind.Absolute);
        if (uri.AbsolutePath is "" or "/")
        {
            return new Uri(uri, "/openai/v1/");
        }

        return uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }
}

/// <summary>The conversation the model sees: the call trace's caller and assistant rows, newest that fit the budget, in order.</summary>
public static class Conversation
{
    /// <param name="trace">The call's trace rows in order.</param>
    /// <param name="upToSeq">The caller row being answered: nothing newer is sent.</param>
    public static IReadOnlyList<ChatMessage> From(IEnumerable<TraceEntry> trace, long upToSeq, string callerText, int maxRows, int maxChars) =>
        Choose(trace, upToSeq, callerText, maxRows, maxChars).Messages;

    /// <summary>
    /// True when <see cref="From"/> would send every conversational row of <paramref name="trace"/> and still have
    /// room: rows older than the ones given could then be sent too. False means older rows cannot change the choice.
    /// </summary>
    public static bool WantsOlderRows(IEnumerable<TraceEntry> trace, long upToSeq, string callerText, int maxRows, int maxChars)
    {
        var (messages, candidates) = Choose(trace, upToSeq, callerText, maxRows, maxChars);
        return messages.Count == candidates && messages.Count < Math.Max(1, maxRows) && messages.Sum(m => m.Text.Length) < maxChars;
    }

    private static (IReadOnlyList<ChatMessage> Messages, int Candidates) Choose(IEnumerable<TraceEntry> trace, long upToSeq, string callerText, int maxRows, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var rows = new List<(long Seq, ChatRole Role, string Text, bool Late)>();
        foreach (var row in trace.OrderBy(t => t.Seq))
        {
            // Rows after the turn count only when they undo a late reply before it (the turn's own step drops it).
            if (row.Seq > upToSeq && row.Kind != TraceKinds.PendingDropped)
            {
                continue;
            }

            switch (row.Kind)
            {
                case TraceKinds.Caller when !string.IsNullOrWhiteSpace(row.Text):
                    rows.Add((row.Seq, ChatRole.User, row.Text, false));
                    break;
                case TraceKinds.AssistantReply when !string.IsNullOrWhiteSpace(row.Text) && ReplySource.IsSpoken(row.Detail):
                    rows.Add((row.Seq, ChatRole.Assistant, row.Text, ReplySource.IsLate(row.Detail)));
                    break;
                case TraceKinds.PendingDropped when row.Detail?.StartsWith(PendingPurposes.Reply + ":", StringComparison.Ordinal) == true:
                    // The late reply before it was never spoken: the model must not think it said it.
                    var late = rows.FindLastIndex(r => r.Late);
                    if (late >= 0)
                    {
                        rows.RemoveAt(late);
                    }

                    break;
            }
        }

        if (rows.Count == 0 || rows[^1].Seq != upToSeq)
        {
            rows.Add((upToSeq, ChatRole.User, callerText, false)); // the turn itself, should the read not hold it yet (spooled)
        }

        // The newest rows that fit; the caller's turn always goes.
        var chosen = new List<ChatMessage>();
        var chars = 0;
        for (var i = rows.Count - 1; i >= 0; i--)
        {
            var text = rows[i].Text;
            if (chosen.Count > 0 && (chosen.Count >= Math.Max(1, maxRows) || chars + text.Length > maxChars))
            {
                break;
            }

            chosen.Add(new ChatMessage(rows[i].Role, text));
            chars += text.Length;
        }

        chosen.Reverse();
        return (chosen, rows.Count);
    }
}

/// <summary>Where an assistant reply came from; the trace row's detail.</summary>
public static class ReplySource
{
    public const string Model = "model";
    public const string Filler = "filler";
    public const string Apology = "apology";

    /// <summary>Detail suffix (after <c>:</c>) of a reply that was never spoken: overtaken while the model was still thinking.</summary>
    public const string Overtaken = "overtaken";

    /// <summary>Suffix of a reply that missed the budget and waits as pending actions.</summary>
    public const string LateSuffix = ":late";

    public static bool IsLate(string? detail) => detail?.EndsWith(LateSuffix, StringComparison.Ordinal) == true;

    /// <summary>Model replies and apologies the caller heard or will hear (not fillers, not overtaken ones).</summary>
    public static bool IsSpoken(string? detail) =>
        detail is not null && (detail.StartsWith(Model, StringComparison.Ordinal) || detail.StartsWith(Apology, StringComparison.Ordinal)) &&
        !detail.EndsWith(":" + Overtaken, StringComparison.Ordinal);
}
