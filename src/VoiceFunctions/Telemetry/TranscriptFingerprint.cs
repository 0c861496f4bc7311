using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// A short, keyed fingerprint of caller text: HMAC-SHA256 over the UTF-8 text (Unicode NFC), first 8 bytes as
/// 16 hex digits. Keyed because a plain hash of a short utterance ("yes", a date of birth, a PIN) is
/// reversed by hashing guesses; without the key, which never leaves the app settings, nobody reading
/// Application Insights can test guesses. 64 bits are plenty to see that two turns said the same thing.
/// </summary>
public sealed class TranscriptFingerprint
{
    private readonly byte[] _key;

    public TranscriptFingerprint(IOptions<TelemetryOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configured = options.Value.TranscriptHashKey;
        _key = string.IsNullOrEmpty(configured) ? RandomNumberGenerator.GetBytes(32) : Encoding.UTF8.GetBytes(configured);
        IsStable = !string.IsNullOrEmpty(configured);
    }

    /// <summary>False when the key is random per process (no <c>Telemetry:TranscriptHashKey</c>).</summary>
    public bool IsStable { get; }

    public string Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text.Normalize(NormalizationForm.FormC));
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, bytes, mac);
        return Convert.ToHexStringLower(mac[..8]);
    }
}
