namespace VoiceFunctions.Calls;

/// <summary>Section <c>Calls</c>: how the webhook keeps a live call on time.</summary>
public sealed class CallOptions
{
    public const string Section = "Calls";

    /// <summary>
    /// From receiving an event to its answer leaving the worker. sipgate hangs up after about 1 s, so the default
    /// leaves 200 ms for the network and the Functions host. When storage is slower, the answer is decided from what
    /// this instance knows <see cref="AnswerDeadline.Reserve"/> before the budget ends (time for the way out) and the
    /// event is still recorded (or spooled) in order afterwards.
    /// </summary>
    public TimeSpan ResponseBudget { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>A byte-identical event for the same session within this window is a repeated delivery, not a new turn.</summary>
    public TimeSpan DuplicateWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Upper bound for one storage operation (all SDK retries included) while a session is locked.</summary>
    public TimeSpan StorageOperationTimeout { get; set; } = TimeSpan.FromSeconds(3);
}
