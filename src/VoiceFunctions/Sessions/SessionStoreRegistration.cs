using VoiceFunctions.Hosting;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Sessions;

public static partial class SessionStoreRegistration
{
    /// <summary>The session table (connection string or managed identity), created once at start-up.</summary>
    public static IServiceCollection AddSessionStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SessionStoreOptions>().BindChecked(configuration, SessionStoreOptions.Section);
        services.AddSingleton<IPostConfigureOptions<SessionStoreOptions>, SessionStoreFallback>();
        services.AddSingleton<IValidateOptions<SessionStoreOptions>, SessionStoreValidation>();
        services.AddSingleton<StorageRoundTrips>();
        services.AddSingleton(provider => CreateTableClient(provider.GetRequiredService<IOptions<SessionStoreOptions>>().Value, provider.GetRequiredService<StorageRoundTrips>()));
        services.AddSingleton<SessionStore>();
        services.AddHostedService<SessionTableInitializer>();
        return services;
    }

    private static TableClient CreateTableClient(SessionStoreOptions options, StorageRoundTrips roundTrips)
    {
        var clientOptions = new TableClientOptions();
        clientOptions.AddPolicy(roundTrips, HttpPipelinePosition.PerRetry);
        clientOptions.Retry.MaxRetries = options.MaxRetries;
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(50);
        clientOptions.Retry.MaxDelay = TimeSpan.FromMilliseconds(400);
        clientOptions.Retry.NetworkTimeout = options.NetworkTimeout;

        var service = !string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new TableServiceClient(options.ConnectionString, clientOptions)
            : new TableServiceClient(options.TableServiceUri!, CreateCredential(options), clientOptions);
        return service.GetTableClient(options.TableName);
    }

    private static DefaultAzureCredential CreateCredential(SessionStoreOptions options) =>
        new(new DefaultAzureCredentialOptions { ManagedIdentityClientId = options.ClientId });

    /// <summary>
    /// Creates the table (and warms the SDK and its connection) in the background at start-up: the handler
    /// listens at once, which is what the cold start of the first call waits for. Infra creates the table
    /// too; should it still be missing when the first write comes, that write creates it (SessionStore).
    /// </summary>
    private sealed partial class SessionTableInitializer(SessionStore store, ILogger<SessionTableInitializer> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                await store.EnsureTableAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Whatever it is, it must not stop the host (an unhandled BackgroundService exception would).
                // Calls are answered while storage is away; their steps are spooled until it is back.
                LogTableUnavailable(logger, ex);
            }
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "The session table could not be created or reached at start-up; writes will retry")]
        private static partial void LogTableUnavailable(ILogger logger, Exception exception);
    }
}
