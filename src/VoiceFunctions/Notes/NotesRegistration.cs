using Microsoft.Extensions.Options;
using VoiceFunctions.Hosting;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Notes;

public static class NotesRegistration
{
    /// <summary>The call's notes (issue 21): the queue they are requested on, the writer the <c>CallNotes</c> function runs, the sweep.</summary>
    public static IServiceCollection AddCallNotes(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<NotesOptions>().BindChecked(configuration, NotesOptions.Section)
            .Validate(o => o.IdleAfter >= TimeSpan.FromMinutes(1), "Notes:IdleAfter must be at least 1 minute (00:01:00).")
            .Validate(o => o.RequeueAfter >= TimeSpan.FromMinutes(2), "Notes:RequeueAfter must be at least 2 minutes: the host retries a message for about a minute (visibilityTimeout × maxDequeueCount).")
            .Validate(o => o.WebhookRetryAfter >= TimeSpan.FromMinutes(2), "Notes:WebhookRetryAfter must be at least 2 minutes: the host retries a message for about a minute (visibilityTimeout × maxDequeueCount).")
            .Validate(o => o.SweepWindow > o.IdleAfter, "Notes:SweepWindow must be longer than Notes:IdleAfter.")
            .Validate(o => o.Deployment is null || (o.Deployment.Length is > 0 and <= 64 && o.Deployment.Trim() == o.Deployment), "Notes:Deployment must be a deployment name (1-64 characters, no surrounding spaces), or unset for the persona's own.")
            .Validate(o => o.ModelAttempts is >= 1 and <= 5, "Notes:ModelAttempts must be between 1 and 5.")
            .Validate(o => o.ModelTimeout > TimeSpan.Zero && o.ModelTimeout <= TimeSpan.FromMinutes(5), "Notes:ModelTimeout must be between 0 and 5 minutes.")
            .Validate(o => o.PromptChars is >= 1000 and <= 200_000, "Notes:PromptChars must be between 1000 and 200000.")
            .Validate(o => o.MaxOutputTokens is >= 100 and <= 4000, "Notes:MaxOutputTokens must be between 100 and 4000.")
            // The queue is the host's storage: the trigger reads it with AzureWebJobsStorage, so the app sends with it.
            .Validate(o => !o.Enabled || NotesQueueSender.Create(configuration, NotesOptions.QueueName, TimeSpan.FromSeconds(1), 0) is not null,
                "Notes: set AzureWebJobsStorage (a connection string, or AzureWebJobsStorage__queueServiceUri / __accountName for the managed identity): the notes queue lives there. Notes__Enabled=false switches notes off.")
            .ValidateOnStart();
        services.AddSingleton(provider =>
        {
            var store = provider.GetRequiredService<IOptions<SessionStoreOptions>>().Value;
            // Unset only with notes off (validated above): a client that is never used.
            var client = NotesQueueSender.Create(configuration, NotesOptions.QueueName, store.NetworkTimeout, store.MaxRetries)
                ?? new Azure.Storage.Queues.QueueClient("UseDevelopmentStorage=true", NotesOptions.QueueName);
            return new NotesQueueSender(client);
        });
        services.AddSingleton<NotesTelemetry>();
        services.AddSingleton<ModelNotes>();
        services.AddNotesWebhook();
        services.AddSingleton<NotesDelivery>();
        services.AddSingleton<NotesWriter>();
        services.AddSingleton<NotesRequests>();
        services.AddHostedService(provider => provider.GetRequiredService<NotesRequests>());
        services.AddSingleton<NotesSweep>();
        return services;
    }
}
