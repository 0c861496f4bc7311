using System.Diagnostics;
using System.Globalization;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>Runs one non-HTTP invocation on the dispatcher's worker, with the host's function timeout and log lines.</summary>
internal sealed class FunctionInvoker(InvocationDispatcher dispatcher, AppConfig app, OutputLog output)
{
    /// <summary>An invocation on its way; null from <see cref="Send"/> when no worker runs.</summary>
    internal sealed record Pending(string InvocationId, Worker Worker, Task<InvocationResponse?> Response, long Started);

    public async Task<Pending?> SendAsync(HostedFunction function, string reason, TriggerInput input, CancellationToken cancellationToken = default)
    {
        if (await dispatcher.WorkerAsync(cancellationToken).ConfigureAwait(false) is not { } worker
            || worker.FunctionId(function.Name) is not { } functionId)
        {
            return null;
        }

        var invocationId = Guid.NewGuid().ToString();
        var request = new InvocationRequest
        {
            InvocationId = invocationId,
            FunctionId = functionId,
            TraceContext = new RpcTraceContext
            {
                TraceParent = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01",
                TraceState = "",
            },
        };
        request.InputData.Add(new ParameterBinding { Name = function.TriggerBindingName, Data = input.Data });
        foreach (var (key, value) in input.Metadata)
        {
            request.TriggerMetadata.Add(key, value);
        }

        output.Host("Information", $"Executing 'Functions.{function.Name}' (Reason='{reason}', Id={invocationId})");
        var started = Stopwatch.GetTimestamp();
        var response = worker.Invoke(request);
        return response is null ? null : new Pending(invocationId, worker, response, started);
    }

    public async Task<InvocationOutcome> CompleteAsync(HostedFunction function, Pending pending)
    {
        var timeout = app.FunctionTimeout;
        InvocationResponse? response;
        try
        {
            response = timeout == Timeout.InfiniteTimeSpan
                ? await pending.Response.ConfigureAwait(false)
                : await pending.Response.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            pending.Worker.Cancel(pending.InvocationId);
            output.Host("Error", $"Timeout value of {timeout} exceeded by function 'Functions.{function.Name}' (Id={pending.InvocationId}).");
            dispatcher.RestartAfterTimeout(pending.Worker);
            return new InvocationOutcome(pending.InvocationId, false, "Timeout", $"Timeout value of {timeout} exceeded.", Stopwatch.GetElapsedTime(pending.Started));
        }

        var elapsed = Stopwatch.GetElapsedTime(pending.Started);
        if (response is null)
        {
            output.Host("Error", $"Function 'Functions.{function.Name}' (Id={pending.InvocationId}) lost its worker.");
            return new InvocationOutcome(pending.InvocationId, false, "WorkerExited", "The worker process exited.", elapsed);
        }

        LogExecuted(output, function, pending.InvocationId, response.Result, pending.Started);
        var status = response.Result?.Status ?? StatusResult.Types.Status.Success;
        return new InvocationOutcome(
            pending.InvocationId,
            status == StatusResult.Types.Status.Success,
            status.ToString(),
            string.IsNullOrEmpty(response.Result?.Exception?.Message) ? null : response.Result.Exception.Message,
            elapsed);
    }

    public static void LogExecuted(OutputLog output, HostedFunction function, string invocationId, StatusResult? result, long started)
    {
        var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
        var status = result?.Status ?? StatusResult.Types.Status.Success;
        if (status == StatusResult.Types.Status.Success)
        {
            output.Host("Information", $"Executed 'Functions.{function.Name}' (Succeeded, Id={invocationId}, Duration={milliseconds}ms)");
        }
        else
        {
            output.Host("Error", $"Executed 'Functions.{function.Name}' ({status}, Id={invocationId}, Duration={milliseconds}ms): {result?.Exception?.Message ?? result?.Result}");
        }
    }
}
