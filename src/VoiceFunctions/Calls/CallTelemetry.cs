using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Calls;

/// <summary>
/// Where a handled event is reported beyond the Table Storage trace (Application Insights: custom events
/// for session start/end, caller turns, mode changes and escalations). Called once per event by
/// <see cref="CallHandler"/>, after the step was stored (or failed to be).
/// </summary>
public sealed partial class CallTelemetry
{
    /// <param name="evt">The event as received.</param>
    /// <param name="step">What the flow decided and recorded.</param>
    /// <param name="stored">False when the step could not be written to Table Storage.</param>
    public void Recorded(AiFlowEvent evt, CallStep step, bool stored)
    {
    }
}
