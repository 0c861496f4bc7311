namespace VoiceFunctions.AiFlow;

/// <summary>
/// The one exception <see cref="AiFlowEventParser"/> throws: the body is not an AI Flow event.
/// <see cref="Exception.Message"/> says what is wrong in words safe to return to the sender (never echoes field values).
/// </summary>
public sealed class AiFlowParseException : Exception
{
    /// <summary>An event refused for the reason <paramref name="message"/>.</summary>
    /// <param name="message">What is wrong, without the sender's values.</param>
    public AiFlowParseException(string message) : base(message) { }

    /// <summary>An event refused for the reason <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    /// <param name="message">What is wrong, without the sender's values.</param>
    /// <param name="innerException">The reader's own exception.</param>
    public AiFlowParseException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>An event refused without a more specific reason.</summary>
    public AiFlowParseException() : base("Not an AI Flow event.") { }
}
