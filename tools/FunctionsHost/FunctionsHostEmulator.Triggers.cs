using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NCrontab;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

// Non-HTTP invocations: timers on their schedule, POST /admin/functions/{name}, and InvokeAsync.
public sealed partial class FunctionsHostEmulator
{
    private readonly List<Task> timerTasks = [];
    private readonly Dictionary<string, DateTime> lastTimerRun = new(StringComparer.Ordinal);

    /// <summary>Runs a non-HTTP function now, like the host's POST /admin/functions/{name}, and returns the worker's answer.</summary>
    public async Task<InvocationOutcome> InvokeAsync(string functionName, CancellationToken cancellationToken = default)
    {
        var function = functions.FirstOrDefault(f => f.Name.Equals(functionName, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"No function named '{functionName}'.", nameof(functionName));
        if (function.IsHttp)
        {
            throw new InvalidOperationException($"'{function.Name}' is HTTP-triggered: call it on its route at {BaseAddress}.");
        }

        var pending = SendNonHttpInvocation(function, "Manual");
        if (pending is null)
        {
            return new InvocationOutcome("", false, "WorkerExited", "The worker process is not running.", TimeSpan.Zero);
        }

        return await CompleteNonHttpAsync(function, pending.Value).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private (string InvocationId, Task<InvocationResponse?> Response, long Started)? SendNonHttpInvocation(
        HostedFunction function,
        string reason,
        string input = "")
    {
        var invocationId = Guid.NewGuid().ToString();
        var response = connection.ExpectInvocation(invocationId);
        if (response is null)
        {
            return null;
        }

        var request = new InvocationRequest
        {
            InvocationId = invocationId,
            FunctionId = function.FunctionId,
            TraceContext = new RpcTraceContext
            {
                TraceParent = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01",
                TraceState = "",
            },
        };
        request.InputData.Add(new ParameterBinding
        {
            Name = function.TriggerBindingName,
            Data = function.IsTimer ? new TypedData { Json = TimerPayload(function) } : new TypedData { String = input },
        });
        output.Host("Information", $"Executing 'Functions.{function.Name}' (Reason='{reason}', Id={invocationId})");
        var started = Stopwatch.GetTimestamp();
        connection.Send(new StreamingMessage { InvocationRequest = request });
        return (invocationId, response, started);
    }

    private async Task<InvocationOutcome> CompleteNonHttpAsync(
        HostedFunction function,
        (string InvocationId, Task<InvocationResponse?> Response, long Started) pending)
    {
        var timeout = app!.FunctionTimeout;
        InvocationResponse? response;
        try
        {
            response = timeout == Timeout.InfiniteTimeSpan
                ? await pending.Response.ConfigureAwait(false)
                : await pending.Response.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            connection.Forget(pending.InvocationId);
            connection.Send(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = pending.InvocationId } });
            output.Host("Error", $"Timeout value of {timeout} exceeded by function 'Functions.{function.Name}' (Id={pending.InvocationId}).");
            return new InvocationOutcome(pending.InvocationId, false, "Timeout", $"Timeout value of {timeout} exceeded.", Stopwatch.GetElapsedTime(pending.Started));
        }

        var elapsed = Stopwatch.GetElapsedTime(pending.Started);
        if (response is null)
        {
            output.Host("Error", $"Function 'Functions.{function.Name}' (Id={pending.InvocationId}) lost its worker.");
            return new InvocationOutcome(pending.InvocationId, false, "WorkerExited", "The worker process exited.", elapsed);
        }

        LogExecuted(function, pending.InvocationId, response.Result, pending.Started);
        var status = response.Result?.Status ?? StatusResult.Types.Status.Success;
        return new InvocationOutcome(
            pending.InvocationId,
            status == StatusResult.Types.Status.Success,
            status.ToString(),
            string.IsNullOrEmpty(response.Result?.Exception?.Message) ? null : response.Result.Exception.Message,
            elapsed);
    }

    private void LogExecuted(HostedFunction function, string invocationId, StatusResult? result, long started)
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

    private string TimerPayload(HostedFunction function)
    {
        var now = DateTime.Now;
        DateTime last;
        lock (lastTimerRun)
        {
            last = lastTimerRun.TryGetValue(function.Name, out var previous) ? previous : now;
            lastTimerRun[function.Name] = now;
        }

        var next = function.ResolvedSchedule is { } expression && ParseSchedule(expression) is { } schedule ? schedule(now) : now;
        // The shape of the host's TimerInfo JSON; the emulator keeps no schedule monitor, so never past due.
        return JsonSerializer.Serialize(new
        {
            Schedule = new { AdjustForDST = true },
            ScheduleStatus = new { Last = last.ToString("O", CultureInfo.InvariantCulture), Next = next.ToString("O", CultureInfo.InvariantCulture), LastUpdated = now.ToString("O", CultureInfo.InvariantCulture) },
            IsPastDue = false,
        });
    }

    /// <summary>NCRONTAB with seconds (6 fields, as the host), plain 5-field cron, or a TimeSpan interval ("00:00:30").</summary>
    private static Func<DateTime, DateTime>? ParseSchedule(string expression)
    {
        if (CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = true }) is { } withSeconds)
        {
            return withSeconds.GetNextOccurrence;
        }

        if (CrontabSchedule.TryParse(expression) is { } minutes)
        {
            return minutes.GetNextOccurrence;
        }

        if (TimeSpan.TryParse(expression, CultureInfo.InvariantCulture, out var interval) && interval > TimeSpan.Zero)
        {
            return from => from + interval;
        }

        return null;
    }

    private void StartTimers()
    {
        foreach (var function in functions.Where(f => f.IsTimer))
        {
            if (function.ResolvedSchedule is null)
            {
                output.Host("Error", $"The schedule of '{function.Name}' ({function.Schedule}) names an app setting that is not set; the timer will not fire.");
                continue;
            }

            var schedule = ParseSchedule(function.ResolvedSchedule);
            if (schedule is null)
            {
                output.Host("Error", $"The schedule of '{function.Name}' ('{function.ResolvedSchedule}') is not a valid NCRONTAB expression; the timer will not fire.");
                continue;
            }

            if (!options.EnableTimers)
            {
                continue;
            }

            output.Host("Information", $"Timer '{function.Name}' first fires at {schedule(DateTime.Now):O}{(function.RunOnStartup ? " (and now: runOnStartup)" : "")}.");
            timerTasks.Add(Task.Run(() => RunTimerAsync(function, schedule, timersStop.Token)));
        }
    }

    private async Task RunTimerAsync(HostedFunction function, Func<DateTime, DateTime> schedule, CancellationToken cancellationToken)
    {
        try
        {
            if (function.RunOnStartup)
            {
                await FireAsync(function, "RunOnStartup").ConfigureAwait(false);
            }

            while (!cancellationToken.IsCancellationRequested && !connection.IsClosed)
            {
                // Local time, as the host (WEBSITE_TIME_ZONE aside) evaluates schedules.
                var now = DateTime.Now;
                var next = schedule(now);
                await Task.Delay(next - now, cancellationToken).ConfigureAwait(false);
                await FireAsync(function, "Timer fired at " + DateTime.Now.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task FireAsync(HostedFunction function, string reason)
    {
        // Like the host, one run at a time per timer: the next occurrence is computed after this one finishes.
        var pending = SendNonHttpInvocation(function, reason);
        if (pending is not null)
        {
            await CompleteNonHttpAsync(function, pending.Value).ConfigureAwait(false);
        }
    }
}
