namespace VoiceFunctions.Notes;

/// <summary>
/// Section <c>Notes</c> (app-wide; per persona: <c>Personas:&lt;name&gt;:Notes</c>). The queue is reached with the
/// Functions host's own storage connection, <c>AzureWebJobsStorage</c> (a connection string locally, or identity-based:
/// <c>AzureWebJobsStorage__queueServiceUri</c> / <c>__accountName</c>, with <c>__clientId</c>), because the host's
/// <c>CallNotes</c> trigger reads the same queue with it; there is no connection setting of its own.
/// </summary>
public sealed class NotesOptions
{
    public const string Section = "Notes";

    /// <summary>The queue the host's <c>CallNotes</c> trigger reads (<c>[QueueTrigger]</c> names it too).</summary>
    public const string QueueName = "call-notes";

    /// <summary>Where the host moves a message after <c>maxDequeueCount</c> failed deliveries (its <c>&lt;name&gt;-poison</c> rule).</summary>
    public const string PoisonQueueName = QueueName + "-poison";

    /// <summary>False: no call gets notes (nothing is enqueued; the functions do nothing).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A call silent this long without <c>session_end</c> gets notes anyway (cause <c>idle</c>), found by <c>CallNotesIdleSweep</c>.</summary>
    public TimeSpan IdleAfter { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// A call still pending this long after its request was queued (the message lost: a process killed between the
    /// claim and the send) is queued again by the sweep; the function's idempotence drops a duplicate.
    /// </summary>
    public TimeSpan RequeueAfter { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Final notes the persona's receiver has not acknowledged (it was down for all of the queue's deliveries) are
    /// requested again by the sweep this long after their last request, while the call is within <see cref="SweepWindow"/>:
    /// each time the queue's deliveries (<c>maxDequeueCount</c>) post them again, so the webhook is retried for two days,
    /// not one minute.
    /// </summary>
    public TimeSpan WebhookRetryAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How far back the sweep looks (calls that started within it): the scan's bound.</summary>
    public TimeSpan SweepWindow { get; set; } = TimeSpan.FromDays(2);

    /// <summary>
    /// A deployment of the chat model's endpoint for the notes alone (e.g. a second deployment of the same model with its
    /// own tokens-per-minute), so a burst of notes cannot throttle the live pipeline's replies; unset: the persona's own.
    /// </summary>
    public string? Deployment { get; set; }

    /// <summary>Tries of one structured-output call whose answer does not fit the schema (the first and two more), then <c>failed</c>.</summary>
    public int ModelAttempts { get; set; } = 3;

    /// <summary>Longest wait for one notes answer of the model (not a live call: longer than <c>ChatModel:Timeout</c>).</summary>
    public TimeSpan ModelTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>At most this many characters of the call's words go into the prompt (a two-hour call must not become one prompt).</summary>
    public int PromptChars { get; set; } = 12_000;

    /// <summary>The model's output limit for the notes (plus <c>ChatModel:ReasoningTokens</c> for a reasoning model).</summary>
    public int MaxOutputTokens { get; set; } = 400;
}
