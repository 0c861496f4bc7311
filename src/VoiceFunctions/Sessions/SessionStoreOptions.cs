using Azure.Data.Tables;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Where sessions and traces live (section <c>SessionStore</c>). Either a connection string (Azurite,
/// local work) or the identity-based form: the table service URI plus, for a user-assigned managed
/// identity, its client id. Falls back to the Functions host's <c>AzureWebJobsStorage</c> in both forms.
/// </summary>
public sealed class SessionStoreOptions
{
    public const string Section = "SessionStore";

    public string? ConnectionString { get; set; }

    /// <summary>e.g. https://account.table.core.windows.net, used with DefaultAzureCredential.</summary>
    public Uri? TableServiceUri { get; set; }

    /// <summary>Client id of the user-assigned managed identity; null uses DefaultAzureCredential's own choice.</summary>
    public string? ClientId { get; set; }

    public string TableName { get; set; } = "VoiceSessions";

    /// <summary>Per storage round trip: a call cannot wait for the SDK's default of many seconds.</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public int MaxRetries { get; set; } = 2;
}

/// <summary>Applies the <c>AzureWebJobsStorage</c> fallback when the app's own setting is absent.</summary>
public sealed class SessionStoreFallback(IConfiguration configuration) : IPostConfigureOptions<SessionStoreOptions>
{
    public void PostConfigure(string? name, SessionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString) || options.TableServiceUri is not null)
        {
            return;
        }

        var host = configuration.GetSection("AzureWebJobsStorage");
        if (!string.IsNullOrWhiteSpace(host.Value))
        {
            options.ConnectionString = host.Value;
            return;
        }

        if (Uri.TryCreate(host["tableServiceUri"], UriKind.Absolute, out var uri))
        {
            options.TableServiceUri = uri;
        }
        else if (!string.IsNullOrWhiteSpace(host["accountName"]))
        {
            options.TableServiceUri = new Uri($"https://{host["accountName"]}.table.core.windows.net");
        }

        options.ClientId ??= host["clientId"];
    }
}

/// <summary>Start-up checks; messages name settings, never their (secret) values.</summary>
public sealed class SessionStoreValidation : IValidateOptions<SessionStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var hasConnectionString = !string.IsNullOrWhiteSpace(options.ConnectionString);
        if (!hasConnectionString && options.TableServiceUri is null)
        {
            failures.Add("SessionStore: set SessionStore:ConnectionString, SessionStore:TableServiceUri, or AzureWebJobsStorage (e.g. UseDevelopmentStorage=true).");
        }

        if (hasConnectionString)
        {
            try
            {
                _ = new TableServiceClient(options.ConnectionString);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                failures.Add("SessionStore:ConnectionString is not a valid storage connection string.");
            }
        }

        if (options.TableServiceUri is { IsAbsoluteUri: false })
        {
            // The binder reads any text as a (relative) URI; the client needs the account's absolute endpoint.
            failures.Add("SessionStore:TableServiceUri must be an absolute URI, e.g. https://<account>.table.core.windows.net.");
        }
        else if (options.TableServiceUri is { } uri && uri.Scheme != Uri.UriSchemeHttps && !uri.IsLoopback)
        {
            failures.Add("SessionStore:TableServiceUri must use https.");
        }

        if (options.TableName.Length is < 3 or > 63 || !char.IsAsciiLetter(options.TableName[0]) || !options.TableName.All(char.IsAsciiLetterOrDigit))
        {
            failures.Add("SessionStore:TableName must be 3-63 letters or digits, starting with a letter.");
        }

        if (options.NetworkTimeout <= TimeSpan.Zero)
        {
            failures.Add("SessionStore:NetworkTimeout must be positive.");
        }

        if (options.MaxRetries is < 0 or > 10)
        {
            failures.Add("SessionStore:MaxRetries must be between 0 and 10.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
