using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// A non-HTTP trigger type (timer; a queue trigger would be one more): starts firing its functions and builds the
/// trigger input for a manual run (POST /admin/functions/{name}, <see cref="FunctionsHostEmulator.InvokeAsync"/>).
/// HTTP triggers are the HTTP front's. Adding a trigger type is one class here and one line in the emulator's list.
/// </summary>
internal interface ITriggerListener : IAsyncDisposable
{
    /// <summary>The binding type it serves, e.g. "timerTrigger" (compared case-insensitively).</summary>
    string TriggerType { get; }

    /// <summary>The trigger binding's data for a manual run with the admin body's input.</summary>
    TypedData ManualInput(HostedFunction function, string input);

    /// <summary>Starts listening for its functions among those loaded (called once, after the HTTP front listens).</summary>
    void Start(IReadOnlyList<HostedFunction> functions);
}
