namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// The host's RandomizedExponentialBackoffStrategy (azure-sdk-for-net Microsoft.Azure.WebJobs.Extensions.Storage.Common
/// Shared/Timers/RandomizedExponentialBackoffStrategy.cs): after a poll that found something, the minimum; else the
/// minimum plus minimum × 2^(n-1) × a random factor in [0.8, 1.2), growing until it reaches the maximum, then the maximum.
/// </summary>
internal sealed class PollingBackoff(TimeSpan minimum, TimeSpan maximum)
{
    private const double RandomizationFactor = 0.2;

    private TimeSpan current;
    private uint exponent;

    public TimeSpan Next(bool executionSucceeded)
    {
        if (executionSucceeded)
        {
            current = minimum;
            exponent = 1;
        }
        else if (current != maximum)
        {
            var interval = minimum;
            if (exponent > 0)
            {
#pragma warning disable CA5394 // Jitter, not security.
                var factor = 1.0 - RandomizationFactor + (Random.Shared.NextDouble() * 2 * RandomizationFactor);
#pragma warning restore CA5394
                interval += TimeSpan.FromMilliseconds(factor * Math.Pow(2.0, exponent - 1) * minimum.TotalMilliseconds);
            }

            if (interval < maximum)
            {
                current = interval;
                exponent++;
            }
            else
            {
                current = maximum;
            }
        }

        return current;
    }
}
