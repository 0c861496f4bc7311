namespace VoiceFunctions.FunctionsHost;

/// <summary>A function the worker reported and loaded.</summary>
/// <param name="Name">The function name.</param>
/// <param name="FunctionId">The id the worker gave it (used in invocation requests).</param>
/// <param name="TriggerType">The trigger binding's type as the worker wrote it ("httpTrigger", "timerTrigger", …).</param>
/// <param name="TriggerBindingName">The trigger binding's name (the invocation's input_data name).</param>
/// <param name="Route">HTTP only: the route template without the prefix (the binding's route, or the function name).</param>
/// <param name="Methods">HTTP only: lower-case methods; null means every method.</param>
/// <param name="AuthLevel">HTTP only: "anonymous", "function", "admin" or "system" (lower case).</param>
/// <param name="Schedule">Timer only: the schedule as written, e.g. "%TestTimerSchedule%".</param>
/// <param name="ResolvedSchedule">Timer only: the schedule after %Setting% resolution; null when it could not be resolved.</param>
/// <param name="RunOnStartup">Timer only: the binding's runOnStartup.</param>
public sealed record HostedFunction(
    string Name,
    string FunctionId,
    string TriggerType,
    string TriggerBindingName,
    string? Route,
    IReadOnlyList<string>? Methods,
    string? AuthLevel,
    string? Schedule,
    string? ResolvedSchedule,
    bool RunOnStartup)
{
    public bool IsHttp => string.Equals(TriggerType, "httpTrigger", StringComparison.OrdinalIgnoreCase);

    public bool IsTimer => string.Equals(TriggerType, "timerTrigger", StringComparison.OrdinalIgnoreCase);

    public bool IsQueue => string.Equals(TriggerType, "queueTrigger", StringComparison.OrdinalIgnoreCase);

    /// <summary>Queue only: the binding's queueName as written, e.g. "%NotesQueue%".</summary>
    public string? QueueName { get; init; }

    /// <summary>Queue only: the queue name after %Setting% resolution, lower-cased as the host does; null when unresolved.</summary>
    public string? ResolvedQueueName { get; init; }

    /// <summary>Queue only: the binding's connection (a setting name; null or empty means the default "Storage", i.e. AzureWebJobsStorage).</summary>
    public string? Connection { get; init; }

    /// <summary>The trigger binding's dataType ("String", "Binary", "Stream"), null when the worker wrote none.</summary>
    public string? DataType { get; init; }

    /// <summary>The binding's properties.supportsDeferredBinding: the worker binds an SDK type from model binding data.</summary>
    public bool DeferredBinding { get; init; }
}

/// <summary>The worker's answer to one invocation.</summary>
/// <param name="InvocationId">The invocation id the emulator sent.</param>
/// <param name="Succeeded">The InvocationResponse's status was Success.</param>
/// <param name="Status">"Success", "Failure", "Cancelled", or "WorkerExited" when the worker died first.</param>
/// <param name="ExceptionMessage">The exception message the worker reported, if any.</param>
/// <param name="Duration">From sending the request to the response.</param>
public sealed record InvocationOutcome(
    string InvocationId,
    bool Succeeded,
    string Status,
    string? ExceptionMessage,
    TimeSpan Duration);

/// <summary>The worker exited, failed, or timed out before every function was loaded.</summary>
public sealed class FunctionsHostStartException : Exception
{
    public FunctionsHostStartException()
    {
    }

    public FunctionsHostStartException(string message)
        : base(message)
    {
    }

    public FunctionsHostStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public FunctionsHostStartException(string message, int? workerExitCode, string workerOutput)
        : base(message)
    {
        WorkerExitCode = workerExitCode;
        WorkerOutput = workerOutput;
    }

    /// <summary>The worker's exit code when it had exited.</summary>
    public int? WorkerExitCode { get; }

    /// <summary>Everything logged up to the failure, the worker's stdout/stderr included.</summary>
    public string WorkerOutput { get; } = "";
}
