using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace VoiceFunctions.FunctionsHost;

/// <summary>The caller's request body: read with an idle timeout, its failures answered as a 4xx problem.</summary>
internal static class RequestBody
{
    /// <summary>
    /// The caller's body, or the status to answer when it cannot be read. An empty body keeps its Content-Type (the app
    /// answers an empty JSON body differently from a missing type), so a request with either has a body.
    /// </summary>
    public static async Task<ClientBody> ReadAsync(HttpContext context, TimeSpan idleTimeout)
    {
        var incoming = context.Request;
        if (!(incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0 || incoming.Headers.ContentType.Count > 0))
        {
            return new ClientBody(null, null);
        }

        var stream = new ClientBodyStream(incoming.Body, idleTimeout);
        using var buffer = new MemoryStream(incoming.ContentLength is { } length and > 0 and < 1024 * 1024 ? (int)length : 4096);
        try
        {
            await stream.CopyToAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception) when (stream.FailureStatus is not null)
        {
            return new ClientBody(null, stream.FailureStatus);
        }

        // Chunked stays chunked on the way to the worker (no Content-Length), as the host's forwarder passes it on.
        return new ClientBody(new ProxiedBody(buffer.ToArray(), Chunked: incoming.ContentLength is null), null);
    }

    /// <summary>
    /// A buffered body's top-level JSON properties as trigger metadata (WebJobs.Extensions.Http 3.2.0,
    /// Utility.ApplyBindingData): only for a body that looks like JSON ({…} or […]) and parses as an object; arrays
    /// and nulls are left out, an object stays JSON, any other value becomes its text.
    /// </summary>
    public static Dictionary<string, Rpc.TypedData> BindingData(byte[] body)
    {
        var data = new Dictionary<string, Rpc.TypedData>(StringComparer.OrdinalIgnoreCase);
        var text = System.Text.Encoding.UTF8.GetString(body).Trim().TrimStart('\uFEFF');
        if (!((text.StartsWith('{') && text.EndsWith('}')) || (text.StartsWith('[') && text.EndsWith(']'))))
        {
            return data;
        }

        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                return data;
            }

            foreach (var property in json.RootElement.EnumerateObject())
            {
                try
                {
                    Add(data, property);
                }
                catch (InvalidOperationException)
                {
                    // A lone surrogate escape (e.g. "\ud800") System.Text.Json will not decode: left out. (Newtonsoft
                    // keeps it, and protobuf sends it as U+FFFD.)
                }
            }
        }
        catch (JsonException)
        {
            // Not an error when the body is not JSON (the host swallows it the same way).
        }

        return data;
    }

    private static void Add(Dictionary<string, Rpc.TypedData> data, JsonProperty property)
    {
                switch (property.Value.ValueKind)
                {
                    case JsonValueKind.Array or JsonValueKind.Null:
                        break;
                    case JsonValueKind.Object:
                        data[property.Name] = new Rpc.TypedData { Json = property.Value.GetRawText() };
                        break;
                    case JsonValueKind.String:
                        data[property.Name] = new Rpc.TypedData { String = property.Value.GetString() };
                        break;
                    case JsonValueKind.True or JsonValueKind.False:
                        // Newtonsoft's (string) of a boolean JValue.
                        data[property.Name] = new Rpc.TypedData { String = property.Value.GetBoolean() ? "True" : "False" };
                        break;
                    default:
                        data[property.Name] = new Rpc.TypedData { String = property.Value.GetRawText() };
                        break;
                }
    }

    internal sealed record ProxiedBody(byte[] Bytes, bool Chunked);

    internal sealed record ClientBody(ProxiedBody? Bytes, int? FailureStatus);

    /// <summary>
    /// A 4xx problem+json for a request whose body could not be read (Kestrel's status for the failure, 408 for a
    /// stall), closing the connection: its framing can no longer be trusted. Nothing of the request is echoed.
    /// </summary>
    public static async Task ProblemAsync(HttpContext context, int status)
    {
        if (context.RequestAborted.IsCancellationRequested || context.Response.HasStarted)
        {
            return; // the caller closed its side (Kestrel then cannot answer at all) or an answer is already under way
        }

        var (title, section, detail) = status switch
        {
            StatusCodes.Status408RequestTimeout => ("Request Timeout", "15.5.9", "The request body stopped arriving before it was complete."),
            StatusCodes.Status413PayloadTooLarge => ("Content Too Large", "15.5.14", "The request body is larger than the server accepts."),
            // A body cut short by a closed connection also fails with 400, but then nobody is left to read this.
            _ => ("Bad Request", "15.5.1", "The request body could not be read to its end: its chunked framing is broken."),
        };
        status = status is >= 400 and < 500 ? status : StatusCodes.Status400BadRequest;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "https://tools.ietf.org/html/rfc9110#section-" + section);
            json.WriteString("title", title);
            json.WriteNumber("status", status);
            json.WriteString("detail", detail);
            json.WriteEndObject();
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.Headers.Connection = "close";
        context.Response.ContentType = "application/problem+json";
        context.Response.ContentLength = buffer.Length;
        try
        {
            await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The caller went away meanwhile: nobody left to tell.
        }
    }

    /// <summary>
    /// The caller's chunked body passed on as it arrives (chunked again, no length), flushed after every read: the
    /// handler would otherwise hold small chunks (and the headers) in its buffer until the body ends.
    /// </summary>
    internal sealed class StreamedBodyContent(Stream body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>The caller's buffered body (a retry sends it again).</summary>
    internal sealed class RequestBodyContent(ProxiedBody body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(body.Bytes).AsTask();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            stream.WriteAsync(body.Bytes, cancellationToken).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = body.Bytes.Length;
            return !body.Chunked;
        }
    }

    /// <summary>
    /// The caller's request body, read with an idle timeout (a body that stops arriving is only told from a slow one
    /// by waiting) and remembering why a read failed, so the front can answer the caller's fault as a 4xx.
    /// </summary>
    internal sealed class ClientBodyStream(Stream inner, TimeSpan idleTimeout) : Stream
    {
        private int failureStatus;

        /// <summary>The status for the caller when its body could not be read (Kestrel's, or 408 for a stall); else null.</summary>
        public int? FailureStatus => Volatile.Read(ref failureStatus) is var status and > 0 ? status : null;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            idle.CancelAfter(idleTimeout);
            try
            {
                return await inner.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Volatile.Write(ref failureStatus, StatusCodes.Status408RequestTimeout);
                throw new IOException($"No byte of the request body arrived for {idleTimeout.TotalSeconds:0.#} s.");
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Kestrel's verdict on the framing (bad chunk size, a chunk or Content-Length cut short by a closed
                // connection, too slow) or the caller's connection failing: either way the caller's fault.
                Volatile.Write(ref failureStatus, (e as Microsoft.AspNetCore.Http.BadHttpRequestException)?.StatusCode ?? StatusCodes.Status400BadRequest);
                throw;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("The request body is read asynchronously.");

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
