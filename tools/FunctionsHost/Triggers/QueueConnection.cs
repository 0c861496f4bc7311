namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// A queue trigger's storage connection, looked up as the host's StorageClientProvider.Get does
/// (azure-sdk-for-net Microsoft.Azure.WebJobs.Extensions.Storage.Common): no name means "Storage"; the setting
/// "AzureWebJobs&lt;name&gt;" first, then "&lt;name&gt;". A value is a connection string (Azurite's included); a section
/// (name__queueServiceUri, name__accountName, …) is an identity-based connection, which only Azure can serve.
/// </summary>
internal sealed record QueueConnection(string Name, string? ConnectionString, string? Error)
{
    private const string Prefix = "AzureWebJobs";

    private static readonly string[] IdentityKeys = ["queueServiceUri", "serviceUri", "accountName", "endpoint"];

    private static bool Parses(string connectionString)
    {
        try
        {
            _ = new Azure.Storage.Queues.QueueServiceClient(connectionString);
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Without the connection string: it carries the account key.</summary>
    public override string ToString() => $"QueueConnection {{ Name = {Name}, Error = {Error} }}";

    public static QueueConnection Resolve(string? connection, Func<string, string?> setting)
    {
        var name = string.IsNullOrWhiteSpace(connection) ? "Storage" : connection;
        foreach (var candidate in new[] { Prefix + name, name })
        {
            if (setting(candidate) is { Length: > 0 } value)
            {
                // The extension builds its client while indexing: a value that is no connection string fails there.
                // Said without the value, which may hold an account key.
                return Parses(value)
                    ? new QueueConnection(candidate, value, null)
                    : new QueueConnection(candidate, null, $"The setting '{candidate}' is not a valid storage connection string.");
            }

            if (IdentityKeys.Any(key => !string.IsNullOrEmpty(setting(candidate + "__" + key))))
            {
                return new QueueConnection(
                    candidate,
                    null,
                    $"The connection '{candidate}' is identity-based ({candidate}__…): the emulator reaches storage with a connection string only (Azurite locally); identity-based access works in Azure.");
            }
        }

        // The extension's own words (StorageClientProvider.Get); never the value of any setting.
        return new QueueConnection(
            Prefix + name,
            null,
            $"Storage account connection string '{Prefix + name}' does not exist. Make sure that it is a defined App Setting.");
    }
}
