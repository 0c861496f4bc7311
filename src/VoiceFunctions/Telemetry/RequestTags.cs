using System.Diagnostics;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Telemetry;

/// <summary>
/// Dimensions of the request record in Application Insights. Tags on the request's activity become
/// <c>customDimensions</c>; the same <see cref="SessionId"/> key is on every custom event of the call.
/// Without a listener (no connection string) there is no activity and this does nothing.
/// </summary>
public static class RequestTags
{
    public const string EventType = "EventType";
    public const string SessionId = "SessionId";

    /// <summary>The Functions host's invocation id, to join the host's own request records to ours.</summary>
    public const string InvocationId = "InvocationId";

    /// <summary>Tags the current request with the parsed event's type and (canonical) session id.</summary>
    public static void Tag(AiFlowEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (Activity.Current is not { IsAllDataRequested: true } activity)
        {
            return;
        }

        activity.SetTag(EventType, evt is UnknownEvent ? "unknown" : evt.Type);
        activity.SetTag(SessionId, SessionIds.IsValid(evt.Session.Id) ? SessionIds.Canonical(evt.Session.Id) : null);
    }

    /// <summary>Tags the current request record with the Functions invocation id, to join the host's records to ours.</summary>
    public static void TagInvocation(string invocationId)
    {
        if (Activity.Current is { IsAllDataRequested: true } activity)
        {
            activity.SetTag(InvocationId, invocationId);
        }
    }
}
