using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace VoiceFunctions.FunctionsHost;

/// <summary>POST /admin/functions/{name}: runs a non-HTTP function now (the host's FunctionsController.Invoke).</summary>
internal sealed class AdminEndpoint(
    Func<IReadOnlyList<HostedFunction>> functions,
    FunctionKeys keys,
    FunctionInvoker invoker,
    Func<HostedFunction, string, TriggerInput> manualInput)
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

        // FunctionsController.Invoke binds [FromBody] FunctionInvocation before it looks the function up: a request
        // that is not JSON by its Content-Type → 415; an empty JSON body or one that does not bind → 400.
        var (status, input) = await InputAsync(context.Request).ConfigureAwait(false);
        if (status != StatusCodes.Status200OK)
        {
            context.Response.StatusCode = status;
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

    /// <summary>
    /// The host's admin body, <c>{"input": "…"}</c> (FunctionInvocation): 200 with the input (a non-timer trigger's
    /// string data; null or missing is ""), 415 unless the Content-Type is JSON, 400 for no body or one that does not bind.
    /// </summary>
    private static async Task<(int Status, string Input)> InputAsync(HttpRequest request)
    {
        // BodyModelBinder picks an input formatter by Content-Type first: none (no type, or not JSON) is an
        // UnsupportedContentTypeException, which MVC's UnsupportedContentTypeFilter answers 415, body or not.
        if (!IsJson(request.ContentType))
        {
            return (StatusCodes.Status415UnsupportedMediaType, "");
        }

        if (!(request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0))
        {
            return (StatusCodes.Status400BadRequest, "");
        }

        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted).ConfigureAwait(false);
            if (body.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (StatusCodes.Status400BadRequest, "");
            }

            foreach (var property in body.RootElement.EnumerateObject())
            {
                if (property.Name.Equals("input", StringComparison.OrdinalIgnoreCase))
                {
                    // Newtonsoft binds a string property from any scalar; an object or array does not bind.
                    return property.Value.ValueKind switch
                    {
                        JsonValueKind.String => (StatusCodes.Status200OK, property.Value.GetString()!),
                        JsonValueKind.Null => (StatusCodes.Status200OK, ""),
                        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => (StatusCodes.Status200OK, property.Value.GetRawText()),
                        _ => (StatusCodes.Status400BadRequest, ""),
                    };
                }
            }

            return (StatusCodes.Status200OK, "");
        }
        catch (JsonException)
        {
            return (StatusCodes.Status400BadRequest, "");
        }
    }

    /// <summary>The media types the host's JSON input formatter reads: application/json, text/json, application/*+json.</summary>
    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType) || !Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        var type = media.MediaType.Value ?? "";
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || type.Equals("text/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }
}
