using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Owns the worker the invocations go to (the host's RpcFunctionInvocationDispatcher): starts it, hands it out, and
/// stops it.
/// </summary>
internal sealed class InvocationDispatcher(AppConfig app, FunctionsHostOptions options, RpcServer rpc, OutputLog output, Action<RpcLog> onLog)
    : IAsyncDisposable
{
    private readonly TaskCompletionSource firstExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Worker? current;

    /// <summary>The worker now serving invocations (null before start).</summary>
    public Worker? Current => current;

    /// <summary>Completes when the worker process exits, for any reason.</summary>
    public Task WorkerExited => firstExited.Task;

    public int? WorkerExitCode { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var worker = await Worker.StartAsync(app, options, rpc, output, onLog, cancellationToken).ConfigureAwait(false);
            current = worker;
            _ = worker.Exited.ContinueWith(exited => OnExited(exited.Result), TaskScheduler.Default);
        }
        catch (FunctionsHostStartException e)
        {
            WorkerExitCode = e.WorkerExitCode;
            firstExited.TrySetResult();
            throw;
        }
    }

    /// <summary>The worker to invoke; null when none is running.</summary>
    public Worker? Available() => current is { IsGone: false } worker ? worker : null;

    public Task StopAsync(bool graceful) =>
        current?.StopAsync(graceful, options.ShutdownGracePeriod) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (current is { } worker)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
        }

        firstExited.TrySetResult();
    }

    private void OnExited(int exitCode)
    {
        WorkerExitCode = exitCode;
        firstExited.TrySetResult();
    }
}
