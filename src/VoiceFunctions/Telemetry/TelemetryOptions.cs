namespace VoiceFunctions.Telemetry;

/// <summary>
/// What the app reports to Application Insights (section <c>Telemetry</c>). Whether anything is reported at
/// all is decided by <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c>, not here.
/// </summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>
    /// Send the caller's words (<c>user_speak</c> text) with the <c>CallerTurn</c> event. Off by default: the
    /// text is personal data and the Table Storage trace is the system of record. When off, only the length
    /// and a keyed hash (<see cref="TranscriptFingerprint"/>) are sent.
    /// </summary>
    public bool IncludeTranscripts { get; set; }

    /// <summary>
    /// Secret key of the HMAC-SHA256 that fingerprints caller text (at least 16 characters; keep it in Key Vault).
    /// Unset: a random key per process, so equal texts match within one instance's lifetime only.
    /// </summary>
    public string? TranscriptHashKey { get; set; }

    /// <summary>How long a graceful stop may wait for buffered telemetry, in all; capped by the host's grace period (Hosting/ShutdownBudget.cs).</summary>
    public TimeSpan ShutdownFlushTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
