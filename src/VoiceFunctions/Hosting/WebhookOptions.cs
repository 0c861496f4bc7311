namespace VoiceFunctions.Hosting;

/// <summary>Section <c>AiFlow</c>: the shared secret sipgate sends as <c>X-API-TOKEN</c>, and the request size cap.</summary>
public sealed class WebhookOptions
{
    public const string Section = "AiFlow";

    /// <summary>When set, every /api request must carry it. A secret: never logged or echoed.</summary>
    public string? ApiToken { get; set; }

    /// <summary>
    /// Outside Development an empty <see cref="ApiToken"/> is a start-up error unless this is false: running
    /// with the function key alone must be a decision, not a configuration slip.
    /// </summary>
    public bool RequireApiToken { get; set; } = true;

    /// <summary>Bodies above this are refused with 413 before they are parsed.</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;
}
