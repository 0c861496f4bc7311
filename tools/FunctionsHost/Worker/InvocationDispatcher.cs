using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Owns the worker the invocations go to, with the host's restart policy (azure-functions-host
/// RpcFunctionInvocationDispatcher, WorkerProcess.OnProcessExited, RpcWorkerProcess): a worker that exits with a
/// non-zero code is a worker error; errors are counted while each comes within 30 min of the previous one; below 3 the
/// worker is restarted (one start at a time, each start holding the next back for the restart interval, 10 s by
/// default); at 3 the host gives up and recycles itself. Exit code 200 asks for a restart without counting an error;
/// exit code 0 is not restarted. A function timeout restarts the worker that ran it, without counting an error.
/// </summary>
internal sealed class InvocationDispatcher(AppConfig app, FunctionsHostOptions options, RpcServer rpc, OutputLog output, Action<RpcLog> onLog)
    : IAsyncDisposable
{
    /// <summary>RpcFunctionInvocationDispatcher.ErrorEventsThreshold: 3 × the worker process count (1 here).</summary>
    internal const int ErrorEventsThreshold = 3;

    /// <summary>WorkerConstants.WorkerRestartErrorIntervalThresholdInMinutes.</summary>
    internal static readonly TimeSpan ErrorWindow = TimeSpan.FromMinutes(30);

    /// <summary>WorkerConstants.IntentionalRestartExitCode.</summary>
    internal const int IntentionalRestartExitCode = 200;

    private readonly Stack<DateTime> errors = new();
    private readonly SemaphoreSlim startLock = new(1, 1);
    private readonly CancellationTokenSource disposing = new();
    private readonly TaskCompletionSource stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock gate = new();
    private volatile Worker? current;
    private TaskCompletionSource<Worker?> ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int starts;

    /// <summary>The worker now serving invocations, or the last one (null before the first start).</summary>
    public Worker? Current => current;

    /// <summary>Worker processes started so far (the first one included).</summary>
    public int Starts => Volatile.Read(ref starts);

    /// <summary>Completes when the host gave up restarting (it recycles) or is stopped.</summary>
    public Task Stopped => stopped.Task;

    /// <summary>Why <see cref="Stopped"/> completed; null while running.</summary>
    public string? StopReason { get; private set; }

    public int? WorkerExitCode { get; private set; }

    /// <summary>
    /// The first start: on failure the host's policy applies (restart, back-off, give up at the threshold); throws
    /// <see cref="FunctionsHostStartException"/> with the last failure once it gives up.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        FunctionsHostStartException? failure = null;
        try
        {
            Use(await StartWorkerAsync(cancellationToken).ConfigureAwait(false));
            return;
        }
        catch (FunctionsHostStartException e)
        {
            failure = e;
        }

        // The first start is not under the start lock (the host starts it directly); every restart is.
        while (failure is not null)
        {
            WorkerExitCode = failure.WorkerExitCode;
            if (!CountError())
            {
                var reason = $"The worker failed to start {ErrorEventsThreshold} times within {ErrorWindow.TotalMinutes:0} min: the host would recycle itself.";
                GiveUp(reason);
                throw new FunctionsHostStartException($"{reason}\n{failure.Message}", failure.WorkerExitCode, output.Snapshot());
            }

            failure = null;
            try
            {
                Use(await RestartUnderLockAsync(cancellationToken).ConfigureAwait(false) ?? throw new OperationCanceledException());
            }
            catch (FunctionsHostStartException e)
            {
                failure = e;
            }
        }
    }

    /// <summary>The worker to invoke: waits while one is being restarted; null once the host stopped or recycled.</summary>
    public async Task<Worker?> WorkerAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task<Worker?>? waiting;
            lock (gate)
            {
                if (stopped.Task.IsCompleted)
                {
                    return null;
                }

                if (ready.Task.IsCompleted && current is { IsGone: false } worker)
                {
                    return worker;
                }

                waiting = ready.Task.IsCompleted ? null : ready.Task;
            }

            if (waiting is null)
            {
                // The worker's stream closed a moment before its exit is handled (and the restart begins).
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
            else if (await waiting.WaitAsync(cancellationToken).ConfigureAwait(false) is null)
            {
                return null;
            }
        }
    }

    /// <summary>After a function timeout: the host disposes the channel running it and starts a new one (no error counted).</summary>
    public void RestartAfterTimeout(Worker worker)
    {
        if (worker != current || disposing.IsCancellationRequested)
        {
            return;
        }

        output.Host("Warning", $"Restarting worker {worker.ProcessId}: an invocation on it timed out.");
        // At once: requests from now on wait for the new worker instead of meeting the one being killed.
        BeginRestart(worker);
        _ = Task.Run(async () =>
        {
            worker.Expected();
            worker.Kill();
            await RestartAsync().ConfigureAwait(false);
        });
    }

    /// <summary>No restart from now on (the host is stopping, or the whole instance goes away).</summary>
    public void StopRestarting(string reason)
    {
        GiveUp(reason);
        try
        {
            disposing.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed.
        }
    }

    public async Task StopAsync(bool graceful)
    {
        StopRestarting("The host is stopping.");
        if (current is { } worker)
        {
            await worker.StopAsync(graceful, options.ShutdownGracePeriod).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(graceful: false).ConfigureAwait(false);
        if (current is { } worker)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
        }

        startLock.Dispose();
        disposing.Dispose();
    }

    private async Task<Worker> StartWorkerAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref starts);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, disposing.Token);
        return await Worker.StartAsync(app, options, rpc, output, onLog, linked.Token).ConfigureAwait(false);
    }

    private void Use(Worker worker)
    {
        lock (gate)
        {
            current = worker;
            ready.TrySetResult(worker);
        }

        _ = worker.Exited.ContinueWith(exited => OnExited(worker, exited.Result), TaskScheduler.Default);
    }

    private void BeginRestart(Worker worker)
    {
        lock (gate)
        {
            if (worker == current && ready.Task.IsCompleted && !stopped.Task.IsCompleted)
            {
                // New invocations wait for the new worker (the host's WorkerProcessRestarting state).
                ready = new TaskCompletionSource<Worker?>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    private async void OnExited(Worker worker, int exitCode)
    {
        WorkerExitCode = exitCode;
        if (worker != current || disposing.IsCancellationRequested || worker.ExitExpected)
        {
            return;
        }

        if (exitCode == 0)
        {
            // WorkerProcess.OnProcessExited: a clean exit raises no error and no restart event.
            output.Host("Warning", "The worker exited with code 0: the host does not restart it.");
            GiveUp("The worker exited with code 0.");
            return;
        }

        BeginRestart(worker);
        if (exitCode != IntentionalRestartExitCode && !CountError())
        {
            GiveUp($"The worker failed {ErrorEventsThreshold} times within {ErrorWindow.TotalMinutes:0} min: exceeded the restart retry count, the host would recycle itself.");
            return;
        }

        await RestartAsync().ConfigureAwait(false);
    }

    private async Task RestartAsync()
    {
        while (!disposing.IsCancellationRequested)
        {
            try
            {
                if (await RestartUnderLockAsync(CancellationToken.None).ConfigureAwait(false) is { } worker)
                {
                    Use(worker);
                }

                return;
            }
            catch (FunctionsHostStartException e)
            {
                // GrpcWorkerChannel publishes a WorkerErrorEvent when a start fails: it counts like a crash.
                WorkerExitCode = e.WorkerExitCode;
                if (!CountError())
                {
                    GiveUp($"The worker failed {ErrorEventsThreshold} times within {ErrorWindow.TotalMinutes:0} min: exceeded the restart retry count, the host would recycle itself.");
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return; // stopping
            }
#pragma warning disable CA1031 // A restart that fails for any other reason leaves the host without a worker: say so, never crash.
            catch (Exception e)
#pragma warning restore CA1031
            {
                GiveUp("The worker could not be restarted: " + e.Message);
                return;
            }
        }
    }

    /// <summary>One start at a time; the lock is held for the restart interval after each start (the host's back-off).</summary>
    private async Task<Worker?> RestartUnderLockAsync(CancellationToken cancellationToken)
    {
        try
        {
            await startLock.WaitAsync(disposing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }

        try
        {
            output.Host("Information", $"Restarting the worker (worker errors in the window: {errors.Count}).");
            return await StartWorkerAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _ = Task.Delay(options.WorkerRestartInterval, disposing.Token)
                .ContinueWith(_ => startLock.Release(), TaskScheduler.Default);
        }
    }

    /// <summary>Records a worker error; false when the threshold is reached (AddOrUpdateErrorBucket + the count check).</summary>
    private bool CountError()
    {
        lock (errors)
        {
            var now = DateTime.UtcNow;
            if (errors.TryPeek(out var last) && now - last > ErrorWindow)
            {
                errors.Clear();
            }

            errors.Push(now);
            return errors.Count < ErrorEventsThreshold;
        }
    }

    private void GiveUp(string reason)
    {
        lock (gate)
        {
            if (stopped.Task.IsCompleted)
            {
                return;
            }

            StopReason = reason;
            stopped.TrySetResult();
            ready.TrySetResult(null);
        }

        output.Host(reason.StartsWith("The host is stopping", StringComparison.Ordinal) ? "Information" : "Error", reason);
    }
}
