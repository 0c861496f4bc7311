using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Primitives;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Functions;

/// <summary>
/// How <c>GET /api/sessions/{id}</c> pages a call's trace: <c>?limit=</c> rows per page (default
/// <see cref="DefaultLimit"/>, at most <see cref="MaxLimit"/>), each page's trace also bounded to
/// <see cref="MaxTraceBytes"/> of JSON (a single larger row comes alone), and <c>?continuation=</c> the
/// <c>next</c> token of the previous page. A long call is never held, nor sent, whole.
/// </summary>
public static class SessionPaging
{
    public const int DefaultLimit = 200;

    /// <summary>The most rows one Table Storage query response holds.</summary>
    public const int MaxLimit = 1000;

    /// <summary>The trace JSON of one page (a row's text can be tens of KiB).</summary>
    public const long MaxTraceBytes = 128 * 1024;

    public const string LimitParameter = "limit";
    public const string ContinuationParameter = "continuation";

    /// <summary>Versioned, so the token's form can change without old tokens being misread. (Twice: as text and as bytes.)</summary>
    private const string TokenPrefix = "v1:trace-after:";

    private static ReadOnlySpan<byte> TokenPrefixBytes => "v1:trace-after:"u8;

    /// <summary>Absent: the default; otherwise exactly one whole number from 1 to <see cref="MaxLimit"/>.</summary>
    public static bool TryParseLimit(StringValues value, out int limit)
    {
        limit = DefaultLimit;
        if (value.Count == 0)
        {
            return true;
        }

        // Digits only (int.TryParse alone would let trailing NULs through).
        return value.Count == 1 && value[0] is { Length: > 0 and <= 4 } text && text.All(char.IsAsciiDigit) &&
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxLimit;
    }

    /// <summary>Absent: the first page (<paramref name="afterSeq"/> null); otherwise a token this endpoint issued.</summary>
    public static bool TryParseContinuation(StringValues value, out long? afterSeq)
    {
        afterSeq = null;
        if (value.Count == 0)
        {
            return true;
        }

        if (value.Count != 1 || value[0] is not { Length: > 0 and <= 64 } token)
        {
            return false;
        }

        Span<byte> decoded = stackalloc byte[48];
        if (Base64Url.DecodeFromChars(token, decoded, out var consumed, out var written) != System.Buffers.OperationStatus.Done || consumed != token.Length)
        {
            return false;
        }

        // Digits only, checked byte by byte (long.TryParse would let trailing NULs through).
        var prefix = TokenPrefixBytes;
        var digits = decoded[..written];
        if (!digits.StartsWith(prefix) || digits.Length - prefix.Length is < 1 or > 10)
        {
            return false;
        }

        long seq = 0;
        foreach (var digit in digits[prefix.Length..])
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            seq = (seq * 10) + (digit - '0');
        }

        afterSeq = seq;
        return true;
    }

    /// <summary>The token naming where the page after <paramref name="lastSeq"/> starts. Opaque to clients.</summary>
    public static string ContinuationAfter(long lastSeq) =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes(TokenPrefix + lastSeq.ToString(CultureInfo.InvariantCulture)));

    /// <summary>A row's size in the response: its JSON as sent, plus the separating comma.</summary>
    public static long JsonBytes(TraceEntry row) => JsonSerializer.SerializeToUtf8Bytes(row, AppJsonContext.Relaxed.TraceEntry).Length + 1;
}
