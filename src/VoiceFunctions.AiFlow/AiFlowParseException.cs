namespace VoiceFunctions.AiFlow;

/// <summary>
/// The one exception <see cref="AiFlowEventParser"/> throws: the body is not an AI Flow event.
/// <see cref="Message"/> says what is wrong in words safe to return to the sender (never echoes field values).
/// </summary>
public sealed class AiFlowParseException : Exception
{
    public AiFlowParseException(string message) : base(message) { }

    public AiFlowParseException(string message, Exception innerException) : base(message, innerException) { }

    public AiFlowParseException() : base("Not an AI Flow event.") { }
}
