using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// The host's public HTTP endpoint: Kestrel with the host's limits, the admin API, and routing of HTTP triggers
/// (route and methods, keys) to the <see cref="HttpInvoker"/>.
/// </summary>
internal sealed class HttpFront(
    FunctionsHostOptions options,
    string routePrefix,
    FunctionKeys keys,
    HttpInvoker invoker,
    AdminEndpoint admin,
    OutputLog output) : IAsyncDisposable
{
    /// <summary>Headers that belong to one hop, not to the request or answer being passed on.</summary>
    internal static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Expect", "Content-Length",
    };

    /// <summary>The Functions host's request body limit (ScriptConstants.DefaultMaxRequestBodySize).</summary>
    private const long MaxRequestBodyBytes = 100 * 1024 * 1024;

    private readonly List<(RouteTemplate Template, HostedFunction Function)> routes = [];
    private WebApplication? web;

    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    public async Task StartAsync(IEnumerable<HostedFunction> functions, CancellationToken cancellationToken)
    {
        // Literal segments first, so a fixed route wins over a parameter in the same place.
        routes.AddRange(functions
            .Where(f => f.IsHttp)
            .Select(f => (Template: new RouteTemplate(routePrefix, f.Route!), Function: f))
            .OrderByDescending(r => r.Template.LiteralSegments));

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
        web = builder.Build();
        web.Run(HandleAsync);
        try
        {
            await web.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new FunctionsHostStartException($"The HTTP front could not listen on 127.0.0.1:{options.Port}: {e.Message}");
        }

        BaseAddress = new Uri($"http://127.0.0.1:{FunctionsHostEmulator.ListeningPort(web)}/");
        output.Host("Information", $"Listening on {BaseAddress}");
    }

    /// <summary>Stops accepting requests and lets those in flight finish until <paramref name="cancellationToken"/> fires.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => web?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (web is not null)
        {
            await web.DisposeAsync().ConfigureAwait(false);
        }

        invoker.Dispose();
    }

    /// <summary>
    /// The host's answer while it has no worker to give a request to (stopped, or recycling after too many worker
    /// errors): HostAvailabilityCheckMiddleware's 503 "Function host is not running.".
    /// </summary>
    internal static async Task HostNotRunningAsync(HttpContext context)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync("Function host is not running.", context.RequestAborted).ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value is { Length: > 0 } p ? p : "/";
        if (path.StartsWith("/admin/", StringComparison.OrdinalIgnoreCase))
        {
            await admin.HandleAsync(context, path).ConfigureAwait(false);
            return;
        }

        // The host maps each function's methods as a route constraint (WebScriptHostHttpRoutesManager,
        // HttpMethodRouteConstraint): a method no function declares on a route is no match, so 404, never 405.
        var method = context.Request.Method.ToLowerInvariant();
        foreach (var (template, function) in routes)
        {
            if (!template.TryMatch(path, out var values))
            {
                continue;
            }

            if (function.Methods is null || function.Methods.Contains(method))
            {
                if (!keys.Authorized(context, function.AuthLevel))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return;
                }

                await invoker.InvokeAsync(context, function, values).ConfigureAwait(false);
                return;
            }
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
    }
}
