using Microsoft.Extensions.DependencyInjection.Extensions;

namespace VoiceFunctions.Notes;

public static class NotesWebhookRegistration
{
    /// <summary>
    /// <see cref="NotesWebhook"/> as a typed HttpClient: redirects are not followed (Standard Webhooks counts a 3xx as a
    /// failed delivery, and following one would re-send personal data to wherever the receiver points), the client's
    /// own timeout is off (<see cref="NotesWebhook.Timeout"/> bounds each attempt), and the factory's request loggers are
    /// removed (they would log the URL, whose query may be a Logic App's SAS signature).
    /// </summary>
    public static IServiceCollection AddNotesWebhook(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient<NotesWebhook>(client =>
            {
                client.Timeout = System.Threading.Timeout.InfiniteTimeSpan;
                client.DefaultRequestHeaders.UserAgent.ParseAdd("VoiceFunctions-Notes/1");
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseCookies = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            })
            .RemoveAllLoggers();
        return services;
    }
}
