namespace VoiceFunctions.FunctionsHost;

/// <summary>How <see cref="FunctionsHostEmulator"/> runs a published isolated-worker app.</summary>
public sealed class FunctionsHostOptions
{
    /// <summary>A published isolated-worker folder (host.json, functions.metadata, worker.config.json).</summary>
    public required string AppFolder { get; init; }

    /// <summary>HTTP port on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>App settings passed to the worker as environment variables (":" becomes "__"); a null value unsets.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// False (tests): the worker gets only essentials (PATH, HOME, TMPDIR, DOTNET_*, …) plus <see cref="Settings"/>;
    /// true (command line): the whole environment plus <see cref="Settings"/>.
    /// </summary>
    public bool InheritEnvironment { get; init; }

    /// <summary>With this and <see cref="MasterKey"/> both null nothing is checked, like <c>func start</c>.</summary>
    public string? FunctionKey { get; init; }

    public string? MasterKey { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan ShutdownGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Receives every output line (host lines, worker rpc_log lines, worker stdout/stderr).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// How long the front waits for the next byte of a request body that is not complete yet (a Content-Length longer
    /// than what is sent, a chunk cut short) before it answers 408: the only way to tell a stalled sender from a slow one.
    /// Kestrel's own minimum body data rate (240 B/s after a 5 s grace period, as on the host) still applies on top.
    /// </summary>
    public TimeSpan RequestBodyIdleTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long each worker (re)start holds the next restart back: the host's ProcessRestartInterval (10 s,
    /// WorkerProcessCountOptions). Tests shorten it; the policy around it (3 errors within 30 min, then give up) is fixed.
    /// </summary>
    public TimeSpan WorkerRestartInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Fire timer triggers on their schedule (and runOnStartup).</summary>
    public bool EnableTimers { get; init; } = true;

    /// <summary>Poll the queues of queue-triggered functions.</summary>
    public bool EnableQueues { get; init; } = true;

    /// <summary>
    /// How long a received queue message stays invisible while its function runs, renewed at half of it: the host's
    /// fixed 10 min (QueueListener._visibilityTimeout). Tests shorten it to see the renewal without waiting minutes.
    /// </summary>
    public TimeSpan QueueMessageLease { get; init; } = TimeSpan.FromMinutes(10);
}
