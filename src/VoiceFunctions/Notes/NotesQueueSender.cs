using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Queues;

namespace VoiceFunctions.Notes;

/// <summary>
/// Puts notes requests on the <c>call-notes</c> queue. Messages are base64-encoded UTF-8 JSON: the host's queue trigger
/// decodes base64 by default (<c>extensions.queues.messageEncoding</c>, host.json), and a message it cannot decode goes
/// straight to the poison queue. A missing queue is created once and the send tried again.
/// </summary>
public sealed class NotesQueueSender(QueueClient queue)
{
    public async Task SendAsync(NotesRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = BinaryData.FromBytes(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(request, NotesRequestJsonContext.Default.NotesRequest));
        try
        {
            await queue.SendMessageAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == "QueueNotFound" || ex.Status == 404)
        {
            await queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await queue.SendMessageAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    public Task EnsureAsync(CancellationToken cancellationToken) => queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>
    /// The queue client: <c>AzureWebJobsStorage</c> as a connection string, or its identity-based form as the host's
    /// storage extensions read it (<c>__queueServiceUri</c>, else <c>__accountName</c>; <c>__clientId</c> for a
    /// user-assigned identity). Null when neither is set (start-up validation says so).
    /// </summary>
    public static QueueClient? Create(IConfiguration configuration, string queueName, TimeSpan networkTimeout, int maxRetries)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        options.Retry.MaxRetries = maxRetries;
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(100);
        options.Retry.NetworkTimeout = networkTimeout;
        var host = configuration.GetSection("AzureWebJobsStorage");
        if (!string.IsNullOrWhiteSpace(host.Value))
        {
            return new QueueClient(host.Value, queueName, options);
        }

        var service = Uri.TryCreate(host["queueServiceUri"], UriKind.Absolute, out var uri) ? uri
            : !string.IsNullOrWhiteSpace(host["accountName"]) ? new Uri($"https://{host["accountName"]}.queue.core.windows.net")
            : null;
        if (service is null)
        {
            return null;
        }

        var credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = host["clientId"] });
        return new QueueClient(new Uri(service, queueName), credential, options);
    }
}
