using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

// The HTTP front: routing, keys, and the proxy to the worker's own Kestrel.
public sealed partial class FunctionsHostEmulator
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Expect", "Content-Length",
    };

    /// <summary>The Functions host's request body limit (ScriptConstants.DefaultMaxRequestBodySize).</summary>
    private const long MaxRequestBodyBytes = 100 * 1024 * 1024;

    private readonly List<(RouteTemplate Template, HostedFunction Function)> routes = [];
    private Uri? workerHttpBase;
    private HttpClient? workerHttp;
    private volatile bool workerHttpReached;

    private bool KeysConfigured => options.FunctionKey is not null || options.MasterKey is not null;

    private async Task StartFrontAsync(CancellationToken cancellationToken)
    {
        // Literal segments first, so a fixed route wins over a parameter in the same place.
        routes.AddRange(functions
            .Where(f => f.IsHttp)
            .Select(f => (Template: new RouteTemplate(app!.RoutePrefix, f.Route!), Function: f))
            .OrderByDescending(r => r.Template.LiteralSegments));

        workerHttp = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.Port, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.AddServerHeader = false;
            // The host's own limits (its Program.cs: 100 MB; Kestrel's default minimum body rate, 240 B/s after a 5 s
            // grace period), spelled out: together with the idle timeout they bound how long a body may take.
            kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
        });
        frontApp = builder.Build();
        frontApp.Run(HandleAsync);
        try
        {
            await frontApp.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw StartFailure($"The HTTP front could not listen on 127.0.0.1:{options.Port}: {e.Message}");
        }

        BaseAddress = new Uri($"http://127.0.0.1:{ListeningPort(frontApp)}/");
        output.Host("Information", $"Listening on {BaseAddress}");
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value is { Length: > 0 } p ? p : "/";
        if (path.StartsWith("/admin/", StringComparison.OrdinalIgnoreCase))
        {
            await HandleAdminAsync(context, path).ConfigureAwait(false);
            return;
        }

        var method = context.Request.Method.ToLowerInvariant();
        var routeMatched = false;
        foreach (var (template, function) in routes)
        {
            if (!template.TryMatch(path, out var values))
            {
                continue;
            }

            routeMatched = true;
            if (function.Methods is null || function.Methods.Contains(method))
            {
                if (!Authorized(context, function.AuthLevel))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return;
                }

                await InvokeHttpAsync(context, function, values).ConfigureAwait(false);
                return;
            }
        }

        context.Response.StatusCode = routeMatched ? StatusCodes.Status405MethodNotAllowed : StatusCodes.Status404NotFound;
    }

    private bool Authorized(HttpContext context, string? authLevel)
    {
        if (!KeysConfigured || string.Equals(authLevel, "anonymous", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var key = context.Request.Query["code"].FirstOrDefault();
        if (string.IsNullOrEmpty(key))
        {
            key = context.Request.Headers["x-functions-key"].FirstOrDefault();
        }

        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        if (KeyEquals(key, options.MasterKey))
        {
            return true;
        }

        return string.Equals(authLevel, "function", StringComparison.OrdinalIgnoreCase) && KeyEquals(key, options.FunctionKey);
    }

    private static bool KeyEquals(string presented, string? expected) =>
        expected is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));

    private async Task HandleAdminAsync(HttpContext context, string path)
    {
        const string Prefix = "/admin/functions/";
        if (!path.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) || path.Length == Prefix.Length)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        if (KeysConfigured && !Authorized(context, "admin"))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        var name = Uri.UnescapeDataString(path[Prefix.Length..].TrimEnd('/'));
        var function = functions.FirstOrDefault(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
        if (function is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (function.IsHttp)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("HTTP-triggered functions are called on their route.", context.RequestAborted).ConfigureAwait(false);
            return;
        }

        var pending = SendNonHttpInvocation(function, "Manual", await AdminInputAsync(context.Request).ConfigureAwait(false));
        if (pending is null)
        {
            await WorkerUnavailableAsync(context).ConfigureAwait(false);
            return;
        }

        // Like the host: 202 once the invocation is on its way; the outcome goes to the log.
        _ = CompleteNonHttpAsync(function, pending.Value);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
    }

    /// <summary>The host's admin body is <c>{"input": "…"}</c>; the input becomes a non-timer trigger's string data.</summary>
    private static async Task<string> AdminInputAsync(HttpRequest request)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted).ConfigureAwait(false);
            return body.RootElement.ValueKind == JsonValueKind.Object
                && body.RootElement.TryGetProperty("input", out var input)
                && input.ValueKind == JsonValueKind.String
                ? input.GetString()!
                : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    private static async Task WorkerUnavailableAsync(HttpContext context)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync("The function worker is not running.", context.RequestAborted).ConfigureAwait(false);
    }

    private async Task InvokeHttpAsync(HttpContext context, HostedFunction function, Dictionary<string, string> routeValues)
    {
        if (workerHttpBase is null || workerHttp is null)
        {
            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            return;
        }

        // The caller's body is read whole before the worker hears of the request. A body that cannot be read (broken
        // chunk framing, stalled, cut short by the caller closing) is the caller's fault: a 4xx here where it can still be
        // sent, and the worker never sees a request it could only half read. (The host streams the body; see README.)
        var body = await ReadClientBodyAsync(context).ConfigureAwait(false);
        if (body.FailureStatus is { } clientError)
        {
            await ClientBodyProblemAsync(context, clientError).ConfigureAwait(false);
            return;
        }

        var invocationId = Guid.NewGuid().ToString();
        var response = connection.ExpectInvocation(invocationId);
        if (response is null)
        {
            await WorkerUnavailableAsync(context).ConfigureAwait(false);
            return;
        }

        var request = new InvocationRequest
        {
            InvocationId = invocationId,
            FunctionId = function.FunctionId,
            // The worker dereferences the trace context: it must always be present.
            TraceContext = new RpcTraceContext { TraceParent = TraceParent(context.Request), TraceState = "" },
        };
        request.InputData.Add(new ParameterBinding { Name = function.TriggerBindingName, Data = new TypedData { Http = new RpcHttp() } });
        foreach (var (key, values) in context.Request.Query)
        {
            request.TriggerMetadata[key] = new TypedData { String = values.ToString() };
        }

        foreach (var (key, value) in routeValues)
        {
            request.TriggerMetadata[key] = new TypedData { String = value };
        }

        var started = Stopwatch.GetTimestamp();
        // Not linked to the caller's connection: with the body in hand the proxied request is whole, and one cut off
        // before the worker had it would leave the worker waiting 15 s for it (then failing the invocation).
        using var proxyStop = new CancellationTokenSource();
        // Both at once: the worker holds the proxied request until the invocation arrives, and the other way round.
        connection.Send(new StreamingMessage { InvocationRequest = request });
        var proxied = ProxyAsync(context, body.Bytes, invocationId, proxyStop.Token);

        using var timeout = new CancellationTokenSource();
        if (app!.FunctionTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(app.FunctionTimeout);
        }

        var finished = await Task.WhenAny(response, Task.Delay(Timeout.Infinite, timeout.Token)).ConfigureAwait(false);
        if (finished != response)
        {
            connection.Forget(invocationId);
            connection.Send(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = invocationId } });
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await IgnoreFailure(proxied).ConfigureAwait(false);
            output.Host("Error", $"Timeout value of {app.FunctionTimeout} exceeded by function 'Functions.{function.Name}' (Id={invocationId}).");
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        var result = await response.ConfigureAwait(false);
        if (result is null)
        {
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await IgnoreFailure(proxied).ConfigureAwait(false);
            output.Host("Error", $"Function 'Functions.{function.Name}' (Id={invocationId}) lost its worker.");
            await WorkerUnavailableAsync(context).ConfigureAwait(false);
            return;
        }

        LogExecuted(function, invocationId, result.Result, started);
        if ((result.Result?.Status ?? StatusResult.Types.Status.Success) != StatusResult.Types.Status.Success)
        {
            // The worker's proxied answer to a failed invocation is unreliable (a throwing function comes back as an
            // empty 200); the invocation result is the truth, as on the host.
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await IgnoreFailure(proxied).ConfigureAwait(false);
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        ProxiedResponse answer;
        try
        {
            answer = await proxied.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or OperationCanceledException or IOException)
        {
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await IgnoreFailure(proxied).ConfigureAwait(false);
            if (connection.IsClosed)
            {
                await WorkerUnavailableAsync(context).ConfigureAwait(false);
                return;
            }

            output.Host("Error", $"The worker's HTTP answer for 'Functions.{function.Name}' (Id={invocationId}) failed: {e.Message}");
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        context.Response.StatusCode = answer.StatusCode;
        foreach (var (name, values) in answer.Headers)
        {
            if (!HopByHop.Contains(name) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.Headers.Append(name, values.ToArray());
            }
        }

        // Nothing is written for an empty answer or a 204/304: Kestrel throws on any write to a 204/304 body (even an
        // empty one) and then silently closes the keep-alive connection, so the client's next request on it fails.
        // Kestrel sets Content-Length: 0 itself where a body is allowed.
        if (answer.Body.Length > 0 && answer.StatusCode is not (StatusCodes.Status204NoContent or StatusCodes.Status304NotModified))
        {
            context.Response.ContentLength = answer.Body.Length;
            await context.Response.Body.WriteAsync(answer.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static string TraceParent(HttpRequest request)
    {
        var incoming = request.Headers["traceparent"].FirstOrDefault();
        if (incoming is not null && ActivityContext.TryParse(incoming, null, out _))
        {
            return incoming;
        }

        return $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
    }

    private sealed record ProxiedResponse(int StatusCode, List<KeyValuePair<string, IEnumerable<string>>> Headers, byte[] Body);

    /// <summary>
    /// The caller's body, or the status to answer when it cannot be read. An empty body keeps its Content-Type (the app
    /// answers an empty JSON body differently from a missing type), so a request with either has a body.
    /// </summary>
    private async Task<ClientBody> ReadClientBodyAsync(HttpContext context)
    {
        var incoming = context.Request;
        if (!(incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0 || incoming.Headers.ContentType.Count > 0))
        {
            return new ClientBody(null, null);
        }

        var stream = new ClientBodyStream(incoming.Body, options.RequestBodyIdleTimeout);
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

    private sealed record ProxiedBody(byte[] Bytes, bool Chunked);

    private sealed record ClientBody(ProxiedBody? Bytes, int? FailureStatus);

    private async Task<ProxiedResponse> ProxyAsync(HttpContext context, ProxiedBody? body, string invocationId, CancellationToken cancellationToken)
    {
        var incoming = context.Request;
        var target = new Uri(workerHttpBase!, incoming.Path.ToUriComponent() + incoming.QueryString.ToUriComponent());
        var delay = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; ; attempt++)
        {
            using var message = new HttpRequestMessage(new HttpMethod(incoming.Method), target);
            if (body is not null)
            {
                message.Content = new RequestBodyContent(body);
            }

            foreach (var (name, values) in incoming.Headers)
            {
                if (HopByHop.Contains(name))
                {
                    continue;
                }

                if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
                {
                    // The host's forwarder (YARP's default transformer) passes the original Host on, so the app sees
                    // the address the caller used.
                    message.Headers.Host = values.ToString();
                    continue;
                }

                if (!message.Headers.TryAddWithoutValidation(name, values.ToArray()))
                {
                    message.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
                }
            }

            message.Headers.TryAddWithoutValidation("x-ms-invocation-id", invocationId);
            HttpResponseMessage response;
            try
            {
                response = await workerHttp!.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (!workerHttpReached && attempt < 10 && e.InnerException is SocketException)
            {
                // The worker's Kestrel may start listening after the init response (the host retries the same way).
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
                continue;
            }

            workerHttpReached = true;
            using (response)
            {
                // Buffered: the worker may finish the invocation only after its response is read.
                var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                var headers = response.Headers.Concat(response.Content.Headers).ToList();
                return new ProxiedResponse((int)response.StatusCode, headers, answer);
            }
        }
    }

    /// <summary>
    /// A 4xx problem+json for a request whose body could not be read (Kestrel's status for the failure, 408 for a
    /// stall), closing the connection: its framing can no longer be trusted. Nothing of the request is echoed.
    /// </summary>
    private static async Task ClientBodyProblemAsync(HttpContext context, int status)
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

    /// <summary>The caller's buffered body (a retry sends it again).</summary>
    private sealed class RequestBodyContent(ProxiedBody body) : HttpContent
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
    private sealed class ClientBodyStream(Stream inner, TimeSpan idleTimeout) : Stream
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
