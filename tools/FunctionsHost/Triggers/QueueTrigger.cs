using Azure.Storage.Queues;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Queue triggers: one <see cref="QueueListener"/> per queue-triggered function, polling its queue on the binding's
/// storage connection with the host's queue semantics (host.json extensions.queues); a manual run gets the admin
/// body's input as the message. Listeners of one emulator share a watcher, so a message moved to a poison queue wakes
/// that queue's listener at once, as the host's SharedQueueWatcher does.
/// </summary>
internal sealed class QueueTrigger(
    FunctionInvoker invoker,
    OutputLog output,
    QueuesOptions queues,
    Func<string, string?> setting,
    FunctionsHostOptions options) : ITriggerListener
{
    private readonly List<QueueListener> listeners = [];

    public string TriggerType => "queueTrigger";

    /// <summary>
    /// The host binds the admin input string to the trigger (StringToStorageQueueMessageConverter): a message with that
    /// text, no id, no pop receipt, dequeue count 0. It is in no queue, so nothing is deleted or retried.
    /// </summary>
    public TriggerInput ManualInput(HostedFunction function, string input) =>
        QueueTriggerData.For(function, Azure.Storage.Queues.Models.QueuesModelFactory.QueueMessage(null, null, input, 0), DateTimeOffset.UtcNow);

    public void Start(IReadOnlyList<HostedFunction> functions)
    {
        if (!options.EnableQueues)
        {
            return;
        }

        var dynamicSku = string.Equals(setting("WEBSITE_SKU"), "Dynamic", StringComparison.OrdinalIgnoreCase);
        foreach (var function in functions.Where(f => f.IsQueue))
        {
            // FunctionIndex.Validate put a function with an unresolved name or a missing connection in error.
            var connection = QueueConnection.Resolve(function.Connection, setting);
            var listener = new QueueListener(
                function,
                connection.ConnectionString!,
                queues,
                queues.NewBatchThreshold(dynamicSku),
                options.QueueMessageLease,
                invoker,
                output,
                Notify);
            listeners.Add(listener);
            output.Host(
                "Information",
                $"Queue '{function.Name}' polls '{function.ResolvedQueueName}' on {connection.Name} (batchSize {queues.BatchSize}, newBatchThreshold {queues.NewBatchThreshold(dynamicSku)}, maxPollingInterval {queues.MaxPollingInterval}, visibilityTimeout {queues.VisibilityTimeout}, maxDequeueCount {queues.MaxDequeueCount}, messageEncoding {queues.MessageEncoding}).");
        }

        foreach (var listener in listeners)
        {
            listener.Start();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Stops polling everywhere first, then lets in-flight invocations finish within the grace period (the host's
        // QueueListener.StopAsync waits for them); what is left stays invisible until its lease lapses.
        foreach (var listener in listeners)
        {
            listener.StopPolling();
        }

        using var grace = new CancellationTokenSource(options.ShutdownGracePeriod);
        foreach (var listener in listeners)
        {
            await listener.StopAsync(grace.Token).ConfigureAwait(false);
            listener.Dispose();
        }
    }

    private void Notify(string queueName)
    {
        foreach (var listener in listeners.Where(l => l.QueueName == queueName))
        {
            listener.Notify();
        }
    }
}
