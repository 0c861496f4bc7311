using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
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
            kestrel.Limits.MaxRequestBodySize = null;
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

        var pending = SendNonHttpInvocation(function, "Manual");
        if (pending is null)
        {
            await WorkerUnavailableAsync(context).ConfigureAwait(false);
            return;
        }

        // Like the host: 202 once the invocation is on its way; the outcome goes to the log.
        _ = CompleteNonHttpAsync(function, pending.Value);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
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
        using var proxyStop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        // Both at once: the worker holds the proxied request until the invocation arrives, and the other way round.
        connection.Send(new StreamingMessage { InvocationRequest = request });
        var proxied = ProxyAsync(context, invocationId, proxyStop.Token);

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
        if (result.Result?.Status != StatusResult.Types.Status.Success)
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

        // Nothing is written for an empty answer: Kestrel throws on any write to a 204/304 response, even an empty
        // one, after the headers are out, and then closes the keep-alive connection without a word (the next
        // request a client sends on it fails with "response ended prematurely"). Kestrel sets Content-Length: 0
        // itself where a body is allowed.
        if (answer.Body.Length > 0)
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

    private async Task<ProxiedResponse> ProxyAsync(HttpContext context, string invocationId, CancellationToken cancellationToken)
    {
        var incoming = context.Request;
        var target = new Uri(workerHttpBase!, incoming.Path.ToUriComponent() + incoming.QueryString.ToUriComponent());
        var hasBody = incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0;
        var delay = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; ; attempt++)
        {
            using var message = new HttpRequestMessage(new HttpMethod(incoming.Method), target);
            if (hasBody)
            {
                message.Content = new RequestBodyContent(incoming.Body, incoming.ContentLength);
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
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                var headers = response.Headers.Concat(response.Content.Headers).ToList();
                return new ProxiedResponse((int)response.StatusCode, headers, body);
            }
        }
    }

    /// <summary>Streams the incoming body without taking ownership of it (a retry may need it again).</summary>
    private sealed class RequestBodyContent(Stream body, long? length) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            body.CopyToAsync(stream);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            body.CopyToAsync(stream, cancellationToken);

        protected override bool TryComputeLength(out long computed)
        {
            computed = length ?? 0;
            return length is not null;
        }
    }
}
