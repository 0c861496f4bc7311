using System.Buffers;
using Microsoft.AspNetCore.Http.HttpResults;

namespace VoiceFunctions.Http;

/// <summary>A request's JSON body read whole, or the problem to answer instead (<see cref="JsonBody.ReadAsync"/>).</summary>
public readonly record struct JsonBodyRead(ReadOnlyMemory<byte> Bytes, ProblemHttpResult? Problem);

/// <summary>
/// What an HTTP function accepts as a JSON body, in one place: the media type (JSON, UTF-8), the size cap (checked
/// against Content-Length first, then while reading, as a chunked body has no length up front) and the read itself,
/// each refusal a problem from <see cref="Problems"/>. Nothing is parsed here.
/// </summary>
public static class JsonBody
{
    /// <summary>Reads the body, at most <paramref name="limit"/> bytes; a refusal carries its problem and no bytes.</summary>
    /// <param name="cancellationToken">The caller went away: the read stops (a 4xx nobody will read).</param>
    public static async Task<JsonBodyRead> ReadAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsJson(request.ContentType))
        {
            return Refused(Problems.UnsupportedMediaType());
        }

        if (request.ContentLength > limit)
        {
            return Refused(Problems.TooLarge(limit));
        }

        ReadOnlyMemory<byte>? body;
        try
        {
            body = await ReadUpToAsync(request, limit, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The body never arrived whole (broken chunk framing, fewer bytes than its Content-Length, the connection
            // closed or stalled): the sender's fault, not ours, so a 4xx and no log line; nothing has been parsed or
            // stored. BadHttpRequestException is an IOException and carries the server's own status.
            return Refused(Unreadable(ex, limit));
        }

        return body switch
        {
            null => Refused(Problems.TooLarge(limit)),
            { IsEmpty: true } => Refused(Problems.EmptyBody()),
            { } bytes => new JsonBodyRead(bytes, null),
        };
    }

    /// <summary>application/json or a +json type, in UTF-8 (the only charset JSON may be sent in, RFC 8259 §8.1).</summary>
    public static bool IsJson(string? contentType) =>
        contentType is not null &&
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media) &&
        (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)) &&
        (!media.Charset.HasValue || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    private static JsonBodyRead Refused(ProblemHttpResult problem) => new(ReadOnlyMemory<byte>.Empty, problem);

    private static ProblemHttpResult Unreadable(Exception ex, int limit) =>
        (ex as BadHttpRequestException)?.StatusCode switch
        {
            StatusCodes.Status413PayloadTooLarge => Problems.TooLarge(limit),
            StatusCodes.Status408RequestTimeout => Problems.BodyTimeout(),
            _ => Problems.UnreadableBody(),
        };

    /// <summary>Reads at most <paramref name="limit"/> bytes; null when the body is longer.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadUpToAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(request.ContentLength is { } length and > 0 ? (int)Math.Min(length, limit) : 4096);
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            var read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer.WrittenMemory;
            }

            buffer.Advance(read);
            if (buffer.WrittenCount > limit)
            {
                return null;
            }
        }
    }
}
