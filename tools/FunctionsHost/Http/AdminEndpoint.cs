using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace VoiceFunctions.FunctionsHost;

/// <summary>POST /admin/functions/{name}: runs a non-HTTP function now (the host's FunctionsController.Invoke).</summary>
internal sealed class AdminEndpoint(
    Func<IReadOnlyList<HostedFunction>> functions,
    FunctionKeys keys,
    FunctionInvoker invoker,
    Func<HostedFunction, string, Rpc.TypedData> manualInput)
{
    private const string Prefix = "/admin/functions/";

    public async Task HandleAsync(HttpContext context, string path)
    {
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

        if (keys.Configured && !keys.Authorized(context, "admin"))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        var name = Uri.UnescapeDataString(path[Prefix.Length..].TrimEnd('/'));
        var function = functions().FirstOrDefault(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
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

        var input = await InputAsync(context.Request).ConfigureAwait(false);
        var pending = await invoker.SendAsync(function, "Manual", manualInput(function, input), context.RequestAborted).ConfigureAwait(false);
        if (pending is null)
        {
            await HttpFront.HostNotRunningAsync(context).ConfigureAwait(false);
            return;
        }

        // Like the host: 202 once the invocation is on its way; the outcome goes to the log.
        _ = invoker.CompleteAsync(function, pending);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
    }

    /// <summary>The host's admin body is <c>{"input": "…"}</c>; the input becomes a non-timer trigger's string data.</summary>
    private static async Task<string> InputAsync(HttpRequest request)
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
}
