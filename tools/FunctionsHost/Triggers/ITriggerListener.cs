using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>What one invocation's trigger binding gets: its data and the trigger metadata (none for a timer).</summary>
internal sealed record TriggerInput(TypedData Data, IReadOnlyDictionary<string, TypedData> Metadata)
{
    public TriggerInput(TypedData data)
        : this(data, new Dictionary<string, TypedData>())
    {
    }
}

/// <summary>
/// A non-HTTP trigger type (timer, queue): starts firing its functions and builds the
/// trigger input for a manual run (POST /admin/functions/{name}, <see cref="FunctionsHostEmulator.InvokeAsync"/>).
/// HTTP triggers are the HTTP front's. Adding a trigger type is one class here and one line in the emulator's list.
/// </summary>
internal interface ITriggerListener : IAsyncDisposable
{
    /// <summary>The binding type it serves, e.g. "timerTrigger" (compared case-insensitively).</summary>
    string TriggerType { get; }

    /// <summary>The trigger binding's data (and trigger metadata) for a manual run with the admin body's input.</summary>
    TriggerInput ManualInput(HostedFunction function, string input);

    /// <summary>Starts listening for its functions among those loaded (called once, after the HTTP front listens).</summary>
    void Start(IReadOnlyList<HostedFunction> functions);
}
