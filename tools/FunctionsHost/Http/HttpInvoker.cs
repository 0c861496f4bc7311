using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// One HTTP-triggered invocation through the ASP.NET Core integration: the invocation request and the proxied HTTP
/// request to the worker's own Kestrel, sent together; the invocation result decides the answer.
/// </summary>
internal sealed class HttpInvoker(InvocationDispatcher dispatcher, AppConfig app, FunctionsHostOptions options, OutputLog output) : IDisposable
{
    private readonly HttpClient http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>YARP's default X-Forwarded-* transforms (AddXForwarded: For, Proto, Host, Prefix; action Set).</summary>
    private static readonly HashSet<string> ForwardedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix",
    };

    public void Dispose() => http.Dispose();

    public async Task InvokeAsync(HttpContext context, HostedFunction function, Dictionary<string, string> routeValues)
    {
        // While a worker is being restarted new requests wait for it (the host's WorkerProcessRestarting state).
        var worker = await dispatcher.WorkerAsync(context.RequestAborted).ConfigureAwait(false);
        if (worker is null)
        {
            await HttpFront.HostNotRunningAsync(context).ConfigureAwait(false);
            return;
        }

        if (worker.HttpUri is null)
        {
            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            return;
        }

        // As the host does: a body with a Content-Length is read whole during trigger binding, before the invocation
        // (HttpTriggerAttributeBindingProvider.IsRequestPayloadReadable, WebJobs.Extensions.Http 3.2.0), and its
        // top-level JSON properties become trigger metadata; a chunked body is not (enableChunkedRequestBinding is off
        // by default) and streams to the worker through the forwarder while the function runs. A Content-Length body
        // that cannot be read never reaches the worker; the caller gets the emulator's 4xx (the host: see README).
        var incomingBody = context.Request;
        var streamed = incomingBody.ContentLength is null && incomingBody.Headers.TransferEncoding.Count > 0;
        RequestBody.ClientBodyStream? streaming = null;
        RequestBody.ProxiedBody? buffered = null;
        if (streamed)
        {
            streaming = new RequestBody.ClientBodyStream(incomingBody.Body, options.RequestBodyIdleTimeout);
        }
        else
        {
            var body = await RequestBody.ReadAsync(context, options.RequestBodyIdleTimeout).ConfigureAwait(false);
            if (body.FailureStatus is { } clientError)
            {
                await RequestBody.ProblemAsync(context, clientError).ConfigureAwait(false);
                return;
            }

            buffered = body.Bytes;
        }

        var invocationId = Guid.NewGuid().ToString();
        var request = new InvocationRequest
        {
            InvocationId = invocationId,
            FunctionId = worker.FunctionId(function.Name) ?? function.FunctionId,
            // The worker dereferences the trace context: it must always be present.
            TraceContext = new RpcTraceContext { TraceParent = TraceParent(context.Request), TraceState = "" },
        };
        request.InputData.Add(new ParameterBinding { Name = function.TriggerBindingName, Data = new TypedData { Http = new RpcHttp() } });
        // HttpTriggerAttributeBindingProvider.GetRequestBindingData: body properties, then the query (without the
        // key parameter "code"), then route values, each overriding the one before.
        if (incomingBody.ContentLength > 0 && buffered is not null)
        {
            foreach (var (key, value) in RequestBody.BindingData(buffered.Bytes))
            {
                request.TriggerMetadata[key] = value;
            }
        }

        foreach (var (key, values) in context.Request.Query)
        {
            if (!key.Equals("code", StringComparison.OrdinalIgnoreCase))
            {
                request.TriggerMetadata[key] = new TypedData { String = values.ToString() };
            }
        }

        foreach (var (key, value) in routeValues)
        {
            request.TriggerMetadata[key] = new TypedData { String = value };
        }

        var started = Stopwatch.GetTimestamp();
        // A caller that goes away cancels the invocation: the host's invocation token follows the request's, and its
        // channel sends invocation_cancel (GrpcWorkerChannel, with the worker's HandlesInvocationCancelMessage); the
        // forwarder aborts the proxied request with it (YARP uses RequestAborted).
        using var abandoned = context.RequestAborted.Register(() =>
        {
            output.Host("Information", $"The caller of 'Functions.{function.Name}' (Id={invocationId}) went away: sending invocation_cancel.");
            worker.RequestCancel(invocationId);
        });
        // Linked to the caller's connection, as YARP's forwarding is: a caller gone aborts the proxied request too.
        using var proxyStop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        // Both at once: the worker holds the proxied request until the invocation arrives, and the other way round.
        var response = worker.Invoke(request);
        if (response is null)
        {
            // The worker died between the hand-out and the send: an in-flight invocation of a dead worker.
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        var proxied = ProxyAsync(
            context,
            worker,
            () => streaming is not null ? new RequestBody.StreamedBodyContent(streaming) : buffered is not null ? new RequestBody.RequestBodyContent(buffered) : null,
            invocationId,
            proxyStop.Token);

        using var timeout = new CancellationTokenSource();
        if (app.FunctionTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(app.FunctionTimeout);
        }

        // A streamed body that breaks ends the wait at once: the worker may never have had the request (then it would
        // wait 15 s for it); the host fails the invocation over the forwarding error the same way.
        var streamBroken = streaming is null ? Task.Delay(Timeout.Infinite, timeout.Token) : WhenBrokenAsync(proxied, streaming);
        var finished = await Task.WhenAny(response, Task.Delay(Timeout.Infinite, timeout.Token), streamBroken).ConfigureAwait(false);
        if (finished == streamBroken && streaming?.FailureStatus is { } bodyFailure)
        {
            worker.Cancel(invocationId);
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
            output.Host("Warning", $"The streamed request body of 'Functions.{function.Name}' (Id={invocationId}) broke: invocation_cancel sent.");
            await RequestBody.ProblemAsync(context, bodyFailure).ConfigureAwait(false);
            return;
        }

        if (finished != response)
        {
            worker.Cancel(invocationId);
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
            output.Host("Error", $"Timeout value of {app.FunctionTimeout} exceeded by function 'Functions.{function.Name}' (Id={invocationId}).");
            // WebScriptHostExceptionHandler: a FunctionTimeoutException restarts the worker that ran it.
            dispatcher.RestartAfterTimeout(worker);
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        var result = await response.ConfigureAwait(false);
        if (result is null)
        {
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
            // GrpcWorkerChannel.TryFailExecutions fails what was in flight; the failed invocation is the host's 500.
            output.Host("Error", $"Function 'Functions.{function.Name}' (Id={invocationId}) lost its worker.");
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        if (streaming?.FailureStatus is not null)
        {
            output.Host("Warning", $"The streamed request body of 'Functions.{function.Name}' (Id={invocationId}) broke while the function ran.");
        }

        FunctionInvoker.LogExecuted(output, function, invocationId, result.Result, started);
        if (streaming?.FailureStatus is { } streamFailure)
        {
            // The worker saw the streamed body break, as on the host; the caller gets the emulator's 4xx for it.
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
            await RequestBody.ProblemAsync(context, streamFailure).ConfigureAwait(false);
            return;
        }

        var failed = (result.Result?.Status ?? StatusResult.Types.Status.Success) != StatusResult.Types.Status.Success;
        ProxiedResponse answer;
        try
        {
            answer = await proxied.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or OperationCanceledException or IOException)
        {
            await proxyStop.CancelAsync().ConfigureAwait(false);
            await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
            if (streaming?.FailureStatus is { } broken)
            {
                await RequestBody.ProblemAsync(context, broken).ConfigureAwait(false);
                return;
            }

            if (worker.IsGone)
            {
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                return;
            }

            if (context.RequestAborted.IsCancellationRequested)
            {
                return; // the caller went away (the forwarded request was aborted with it): nobody to answer
            }

            output.Host("Error", $"The worker's HTTP answer for 'Functions.{function.Name}' (Id={invocationId}) failed: {e.Message}");
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            return;
        }

        context.Response.StatusCode = answer.StatusCode;
        foreach (var (name, values) in answer.Headers)
        {
            if (!HttpFront.HopByHop.Contains(name) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.Headers.Append(name, values.ToArray());
            }
        }

        if (failed)
        {
            await RelayFailedAsync(context, answer).ConfigureAwait(false);
            return;
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

    /// <summary>
    /// The caller's answer when the invocation failed (the function threw), as the host gives it. The worker's
    /// FunctionsHttpProxyingMiddleware completes its ASP.NET Core request in a finally, so the worker answers with
    /// whatever the function wrote (nothing: an empty 200), and the host's forwarder (YARP) has copied that answer
    /// before the failure is seen (GrpcWorkerChannel.InvokeResponse awaits EnsureSuccessfulForwardingAsync first).
    /// Then the failed invocation throws up the host's pipeline: YARP starts the caller's response only with the
    /// first body byte (HttpForwarder step 7-B), so with no body ExceptionMiddleware still turns it into a 500 (the
    /// worker's headers stay); with a body the response has started, ExceptionMiddleware rethrows and Kestrel ends
    /// the connection without finishing the response (HttpProtocol.ProduceEnd: no keep-alive, no closing chunk).
    /// </summary>
    private static async Task RelayFailedAsync(HttpContext context, ProxiedResponse answer)
    {
        if (answer.Body.Length == 0)
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        // With the worker's Content-Length the caller gets the whole body; without (chunked) it never gets the closing
        // chunk. Either way the connection is closed after what was sent: the same Kestrel path as on the host, by
        // letting the failure escape the request after the response has started.
        if (answer.Headers.Any(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
        {
            context.Response.ContentLength = answer.Body.Length;
        }

        await context.Response.Body.WriteAsync(answer.Body, context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        throw new InvalidOperationException("The function failed after its answer started (as on the host, the connection is closed).");
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

    /// <summary>Completes when the proxied request failed because the caller's streamed body could not be read.</summary>
    private static async Task WhenBrokenAsync(Task proxied, RequestBody.ClientBodyStream body)
    {
        await Worker.IgnoreFailure(proxied).ConfigureAwait(false);
        if (body.FailureStatus is null)
        {
            await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        }
    }

    private sealed record ProxiedResponse(int StatusCode, List<KeyValuePair<string, IEnumerable<string>>> Headers, byte[] Body);

    private async Task<ProxiedResponse> ProxyAsync(HttpContext context, Worker worker, Func<HttpContent?> body, string invocationId, CancellationToken cancellationToken)
    {
        var incoming = context.Request;
        var target = new Uri(worker.HttpUri!, incoming.Path.ToUriComponent() + incoming.QueryString.ToUriComponent());
        var delay = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; ; attempt++)
        {
            using var message = new HttpRequestMessage(new HttpMethod(incoming.Method), target);
            // Retried only when the worker's Kestrel refused the connection: nothing of a streamed body was read yet.
            message.Content = body();

            foreach (var (name, values) in incoming.Headers)
            {
                if (HttpFront.HopByHop.Contains(name))
                {
                    continue;
                }

                if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || ForwardedHeaders.Contains(name))
                {
                    // Set below, as the host's forwarder does: HttpTransformer.Default (YARP) drops the original Host
                    // (the worker's own address goes out) and sets, not appends, the X-Forwarded-* headers.
                    continue;
                }

                if (!message.Headers.TryAddWithoutValidation(name, values.ToArray()))
                {
                    message.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
                }
            }

            if (context.Connection.RemoteIpAddress is { } client)
            {
                message.Headers.TryAddWithoutValidation("X-Forwarded-For", client.ToString());
            }

            message.Headers.TryAddWithoutValidation("X-Forwarded-Proto", incoming.Scheme);
            if (incoming.Host.HasValue)
            {
                message.Headers.TryAddWithoutValidation("X-Forwarded-Host", incoming.Host.Value);
            }

            if (incoming.PathBase.HasValue)
            {
                message.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", incoming.PathBase.Value);
            }

            message.Headers.TryAddWithoutValidation("x-ms-invocation-id", invocationId);
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (!worker.HttpReached && attempt < 10 && e.InnerException is SocketException)
            {
                // The worker's Kestrel may start listening after the init response (the host retries the same way).
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
                continue;
            }

            worker.HttpReached = true;
            using (response)
            {
                // Buffered: the worker may finish the invocation only after its response is read.
                var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                var headers = response.Headers.Concat(response.Content.Headers).ToList();
                return new ProxiedResponse((int)response.StatusCode, headers, answer);
            }
        }
    }
}
