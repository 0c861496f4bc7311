namespace VoiceFunctions.Hosting;

/// <summary>
/// The time a graceful stop may take, shared by everything that runs in it. The Functions host sends
/// WorkerTerminate with a grace period of 5 s, waits that long for the process to exit and then disposes the
/// channel, killing the worker (Azure/azure-functions-host, WorkerConstants.WorkerTerminateGracePeriodInSeconds and
/// GrpcWorkerChannel.StopWorkerProcess, commit 89dc438d). The clock starts when the worker starts stopping; in order:
/// requests in flight and the recordings they started (what is not durable is a lost transcript), then telemetry,
/// then disposal. Each step gets what the ones before it left.
/// </summary>
public sealed class ShutdownBudget
{
    /// <summary>The host's grace period after WorkerTerminate.</summary>
    public static readonly TimeSpan HostGracePeriod = TimeSpan.FromSeconds(5);

    /// <summary>Kept back for the process to end (runtime teardown) and for the host's clock starting before ours.</summary>
    public static readonly TimeSpan ExitMargin = TimeSpan.FromMilliseconds(500);

    /// <summary>Everything a graceful stop may use.</summary>
    public static readonly TimeSpan Total = HostGracePeriod - ExitMargin;

    private readonly TimeProvider _time;
    private long _stoppingAt;

    public ShutdownBudget(IHostApplicationLifetime lifetime, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(lifetime);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        lifetime.ApplicationStopping.Register(Start);
    }

    /// <summary>What is left of <see cref="Total"/> (the clock starts on first use if stopping was not seen).</summary>
    public TimeSpan Remaining
    {
        get
        {
            Start();
            var left = Total - _time.GetElapsedTime(Interlocked.Read(ref _stoppingAt));
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    private void Start() => Interlocked.CompareExchange(ref _stoppingAt, _time.GetTimestamp(), 0);
}
