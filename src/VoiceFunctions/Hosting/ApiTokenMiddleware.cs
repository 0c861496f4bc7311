using System.Security.Cryptography;
using System.Text;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Microsoft.Extensions.Options;
using VoiceFunctions.Http;

namespace VoiceFunctions.Hosting;

/// <summary>
/// The one authentication check for every HTTP function, before the body is read. The comparison hashes both
/// sides first so it takes the same time whatever the sent token's length or content. The host's function
/// and admin keys are checked before the request reaches the worker; this is the AI Flow token on top.
/// </summary>
internal sealed class ApiTokenMiddleware(IOptions<WebhookOptions> options) : IFunctionsWorkerMiddleware
{
    public const string HeaderName = "X-API-TOKEN";

    private readonly byte[]? _expected = string.IsNullOrEmpty(options.Value.ApiToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.ApiToken));

    public Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (_expected is null)
        {
            return next(context);
        }

        var http = context.GetHttpContext() ?? throw new InvalidOperationException("An HTTP function ran without its HttpContext; the middleware must be registered after ConfigureFunctionsWebApplication.");
        var sent = http.Request.Headers[HeaderName];
        if (sent.Count == 1 && CryptographicOperations.FixedTimeEquals(_expected, SHA256.HashData(Encoding.UTF8.GetBytes(sent[0] ?? string.Empty))))
        {
            return next(context);
        }

        context.GetInvocationResult().Value = Problems.Unauthorized();
        return Task.CompletedTask;
    }
}
