using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using VoiceFunctions.Http;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

namespace VoiceFunctions.Hosting;

/// <summary>
/// Around every invocation: the invocation id in every log record's scope (and, for HTTP, on the request record),
/// the storage round-trip count (benchmark diagnostics, off by default), and an unexpected exception of an HTTP
/// function turned into a problem+json 500 instead of the empty answer the worker would otherwise give.
/// </summary>
internal sealed partial class InvocationScopeMiddleware(IConfiguration configuration, ILogger<InvocationScopeMiddleware> logger) : IFunctionsWorkerMiddleware
{
    private readonly bool _roundTripsHeader = configuration.GetValue<bool>("Diagnostics:StorageRoundTripsHeader");

    public async Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var http = context.GetHttpContext();

        // The function runs in the flow of the host's invocation message, not in the proxied request's: the request's
        // activity (the request record, which continues the host's trace) becomes current here, so the event's tags,
        // the Table calls and the custom events all land on it.
        var previous = Activity.Current;
        if (http?.Features.Get<IHttpActivityFeature>()?.Activity is { } requestActivity)
        {
            Activity.Current = requestActivity;
        }

        RequestTags.TagInvocation(context.InvocationId);
        if (_roundTripsHeader && http is not null)
        {
            var counter = StorageRoundTrips.Begin();
            http.Response.OnStarting(() =>
            {
                http.Response.Headers[StorageRoundTrips.HeaderName] = counter.Count.ToString(CultureInfo.InvariantCulture);
                return Task.CompletedTask;
            });
        }

        using (logger.BeginScope(new KeyValuePair<string, object>[] { new(RequestTags.InvocationId, context.InvocationId) }))
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && !context.CancellationToken.IsCancellationRequested)
            {
                LogUnexpected(logger, context.FunctionDefinition.Name, ex);
                if (http is not null)
                {
                    context.GetInvocationResult().Value = Problems.Unexpected();
                }
                else
                {
                    throw; // a timer's failure is the host's to record
                }
            }
            finally
            {
                Activity.Current = previous;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Function {FunctionName} failed unexpectedly; answered 500 problem+json")]
    private static partial void LogUnexpected(ILogger logger, string functionName, Exception exception);
}
