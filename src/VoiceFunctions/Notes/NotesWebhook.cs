using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace VoiceFunctions.Notes;

/// <summary>
/// Posts a call's notes to a persona's <c>Notes__WebhookUrl</c>, signed as Standard Webhooks 1.0.0 specifies
/// (standard-webhooks/standard-webhooks spec/standard-webhooks.md at 03f5f8c, "Signature scheme" and "Webhook
/// headers"), so receivers can verify with that project's libraries: <c>webhook-id</c> = the idempotency key (the same
/// on every redelivery), <c>webhook-timestamp</c> = Unix seconds of this attempt, <c>webhook-signature</c> =
/// <c>v1,</c> + base64 HMAC-SHA256 over <c>{id}.{timestamp}.{body}</c> with the key the <c>whsec_</c> secret
/// encodes. Only a 2xx is success (3xx included: the spec counts redirects as failures, and the registered client does
/// not follow them); anything else, a timeout or a connection failure throws <see cref="NotesWebhookException"/> so the
/// queue message becomes visible again and the queue retries (up to its maxDequeueCount). Neither the secret, the body
/// nor the URL's path or query (a Logic App URL carries its SAS signature there) appear in an exception message.
/// </summary>
public sealed class NotesWebhook(HttpClient http, TimeProvider time)
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    public const string SecretPrefix = "whsec_";

    /// <summary>Spec: "Random. At least 24 bytes (192 bits, 512 maximum)" — read as 24 to 64 bytes.</summary>
    public const int MinSecretBytes = 24;
    public const int MaxSecretBytes = 64;

    /// <summary>
    /// How long one attempt may take. Short on purpose: a slow receiver must not hold the queue message past its
    /// visibility timeout (host.json 00:00:10 on failure) for long; the queue's redelivery is the retry.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// POSTs <paramref name="jsonBody"/> exactly as given (the bytes signed are the bytes sent).
    /// </summary>
    /// <exception cref="ArgumentException">The URL, secret or key is not acceptable (<see cref="IsAllowedUrl"/>,
    /// <see cref="IsValidSecret"/>, <see cref="IsValidIdempotencyKey"/>): configuration, not a delivery failure.</exception>
    /// <exception cref="NotesWebhookException">Non-2xx answer, timeout or connection failure: retry later.</exception>
    public async Task PostAsync(Uri url, string secret, string idempotencyKey, ReadOnlyMemory<byte> jsonBody, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!IsAllowedUrl(url))
        {
            throw new ArgumentException("The notes webhook URL must be absolute https (http only to a loopback address).", nameof(url));
        }

        if (!TryDecodeSecret(secret, out var key))
        {
            throw new ArgumentException($"The notes webhook secret must be '{SecretPrefix}' followed by base64 of {MinSecretBytes}-{MaxSecretBytes} random bytes.", nameof(secret));
        }

        if (!IsValidIdempotencyKey(idempotencyKey))
        {
            throw new ArgumentException("The idempotency key must be 1-256 visible ASCII characters without '.'.", nameof(idempotencyKey));
        }

        var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = Sign(key, idempotencyKey, timestamp, jsonBody.Span);
        CryptographicOperations.ZeroMemory(key);

        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ReadOnlyMemoryContent(jsonBody),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation(IdHeader, idempotencyKey);
        request.Headers.TryAddWithoutValidation(TimestampHeader, timestamp);
        request.Headers.TryAddWithoutValidation(SignatureHeader, signature);

        using var timeout = new CancellationTokenSource(Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new NotesWebhookException($"The notes webhook at {url.Host} did not answer within {Timeout.TotalSeconds:0.#} s.", statusCode: null, timedOut: true);
        }
        catch (HttpRequestException e)
        {
            // e.Message names host and port at most; it is not repeated here anyway, only its kind.
            throw new NotesWebhookException($"The notes webhook at {url.Host} could not be reached ({e.HttpRequestError}).", statusCode: null, timedOut: false, e);
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (status is < 200 or > 299)
            {
                // The receiver's body is not read: it may echo what we sent.
                throw new NotesWebhookException($"The notes webhook at {url.Host} answered {status}.", response.StatusCode, timedOut: false);
            }
        }
    }

    /// <summary>Absolute https, or http to a loopback address (local runs and tests); no user info.</summary>
    public static bool IsAllowedUrl(Uri? url) =>
        url is { IsAbsoluteUri: true }
        && string.IsNullOrEmpty(url.UserInfo)
        && (url.Scheme == Uri.UriSchemeHttps || (url.Scheme == Uri.UriSchemeHttp && url.IsLoopback));

    /// <summary><c>whsec_</c> + base64 of 24-64 bytes, the spec's serialisation of a symmetric secret.</summary>
    public static bool IsValidSecret(string? secret)
    {
        if (!TryDecodeSecret(secret, out var key))
        {
            return false;
        }

        CryptographicOperations.ZeroMemory(key);
        return true;
    }

    /// <summary>The spec forbids '.' in the id (it delimits the signed content); header values are visible ASCII.</summary>
    public static bool IsValidIdempotencyKey(string? key) =>
        key is { Length: > 0 and <= 256 } && key.All(c => c is > ' ' and < '\u007f' and not '.');

    private static bool TryDecodeSecret(string? secret, out byte[] key)
    {
        key = [];
        if (secret is null || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var encoded = secret.AsSpan(SecretPrefix.Length);
        var buffer = new byte[encoded.Length];
        if (!Convert.TryFromBase64Chars(encoded, buffer, out var written) || written is < MinSecretBytes or > MaxSecretBytes)
        {
            CryptographicOperations.ZeroMemory(buffer);
            return false;
        }

        key = buffer[..written];
        CryptographicOperations.ZeroMemory(buffer);
        return true;
    }

    private static string Sign(byte[] key, string id, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        return "v1," + Convert.ToBase64String(hmac.GetHashAndReset());
    }
}

/// <summary>The receiver did not take the notes: non-2xx, timeout or no connection. The queue retries.</summary>
public sealed class NotesWebhookException : Exception
{
    public NotesWebhookException()
    {
    }

    public NotesWebhookException(string message)
        : base(message)
    {
    }

    public NotesWebhookException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public NotesWebhookException(string message, HttpStatusCode? statusCode, bool timedOut, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
        TimedOut = timedOut;
    }

    /// <summary>The receiver's status, or null when none came (timeout, connection failure).</summary>
    public HttpStatusCode? StatusCode { get; }

    public bool TimedOut { get; }
}
