namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Queue names as the host's queue extension checks and derives them (azure-sdk-for-net
/// Microsoft.Azure.WebJobs.Extensions.Storage.Queues: QueueClientExtensions.IsValidQueueName,
/// QueueListenerFactory.CreatePoisonQueueReference).
/// </summary>
internal static class QueueNames
{
    private const string PoisonSuffix = "-poison";

    /// <summary>The extension's error text for a name Azure Storage refuses; null for a valid name.</summary>
    public static string? Invalid(string name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "A queue name can't be null or empty";
        }

        if (name.Length < 3 || name.Length > 63)
        {
            return $"A queue name must be from 3 to 63 characters long - \"{name}\"";
        }

        if (name[0] == '-' || name[^1] == '-')
        {
            return $"The dash (-) character may not be the first or last letter - \"{name}\"";
        }

        var previous = 'a';
        foreach (var ch in name)
        {
            if (char.IsUpper(ch))
            {
                return $"Queue names must be all lower case - \"{name}\"";
            }

            if (!char.IsLetterOrDigit(ch) && ch != '-')
            {
                return $"A queue name can contain only letters, numbers, and dash(-) characters - \"{name}\"";
            }

            if (ch == '-' && previous == '-')
            {
                return "A queue name cannot contain consecutive dash(-) characters.";
            }

            previous = ch;
        }

        return null;
    }

    /// <summary>"&lt;name&gt;-poison", or null: a poison queue has none, nor a queue whose poison name would be too long.</summary>
    public static string? Poison(string name) =>
        name.EndsWith(PoisonSuffix, StringComparison.Ordinal) || Invalid(name + PoisonSuffix) is not null ? null : name + PoisonSuffix;
}
