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
        services.AddOptions<SessionStoreOptions>().Bind(configuration.GetSection(SessionStoreOptions.Section)).ValidateOnStart();
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

    /// <summary>Creates the table before the first call instead of checking on every request.</summary>
    private sealed partial class SessionTableInitializer(SessionStore store, ILogger<SessionTableInitializer> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                await store.EnsureTableAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Azure.RequestFailedException or AuthenticationFailedException or AggregateException or OperationCanceledException or HttpRequestException)
            {
                // Calls must still be answered while storage is away; writes fail (and are logged) until it is back.
                LogTableUnavailable(logger, ex);
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Error, Message = "The session table could not be created or reached at start-up")]
        private static partial void LogTableUnavailable(ILogger logger, Exception exception);
    }
}
