using Azure.Core;
using Azure.Core.Pipeline;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Counts the HTTP round trips the Table client makes (retries included) for the current request, so cost
/// and latency claims come from measurement. With <c>Diagnostics:StorageRoundTripsHeader</c> on, each
/// answer carries the count in <c>X-Storage-Round-Trips</c> (used by the benchmark; off in production).
/// </summary>
public sealed class StorageRoundTrips : HttpPipelineSynchronousPolicy
{
    public const string HeaderName = "X-Storage-Round-Trips";

    private static readonly AsyncLocal<Counter?> Current = new();

    /// <summary>Starts counting for the current async flow (one request).</summary>
    public static Counter Begin() => Current.Value = new Counter();

    public override void OnSendingRequest(HttpMessage message)
    {
        if (Current.Value is { } counter)
        {
            Interlocked.Increment(ref counter.Count);
        }
    }

    public sealed class Counter
    {
#pragma warning disable CA1051 // a field so Interlocked can update it
        public int Count;
#pragma warning restore CA1051
    }
}
