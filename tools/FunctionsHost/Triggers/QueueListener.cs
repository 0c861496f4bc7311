using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// One queue-triggered function's listener, copying the host's (azure-sdk-for-net
/// Microsoft.Azure.WebJobs.Extensions.Storage.Common Shared/Queues/QueueListener.cs and QueueProcessor.cs):
/// receive up to batchSize messages, each invisible for the lease (10 min on the host) and processed in parallel;
/// fetch again at once while in-flight messages stay above newBatchThreshold, else wait for one to finish; after an
/// empty poll back off exponentially with ±20 % randomisation from 100 ms up to maxPollingInterval, back to the
/// minimum once a message was found. A message dequeued more than maxDequeueCount times goes to "&lt;queue&gt;-poison"
/// before it is invoked; success deletes it; a failure makes it visible again after visibilityTimeout, or, at
/// maxDequeueCount, moves it to the poison queue. While a function runs the lease is renewed at half of it.
/// </summary>
internal sealed class QueueListener : IDisposable
{
    private readonly HostedFunction function;
    private readonly QueuesOptions queues;
    private readonly int newBatchThreshold;
    private readonly TimeSpan lease;
    private readonly FunctionInvoker invoker;
    private readonly OutputLog output;
    private readonly Action<string> notifyPoisonQueue;
    private readonly QueueClient queue;
    private readonly QueueClient? poisonQueue;
    private readonly QueueClient? rawPoisonQueue;
    private readonly PollingBackoff backoff;
    private readonly CancellationTokenSource polling = new();
    private readonly List<Task> processing = [];
    private readonly Lock wakeGate = new();
    private TaskCompletionSource wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? loop;
    private bool? queueExists;
    private bool foundMessageSinceLastDelay;

    public QueueListener(
        HostedFunction function,
        string connectionString,
        QueuesOptions queues,
        int newBatchThreshold,
        TimeSpan lease,
        FunctionInvoker invoker,
        OutputLog output,
        Action<string> notifyPoisonQueue)
    {
        this.function = function;
        this.queues = queues;
        this.newBatchThreshold = newBatchThreshold;
        this.lease = lease;
        this.invoker = invoker;
        this.output = output;
        this.notifyPoisonQueue = notifyPoisonQueue;
        QueueName = function.ResolvedQueueName!;
        backoff = new PollingBackoff(QueuesOptions.MinimumPollingInterval, queues.MaxPollingInterval);

        // The host's QueueServiceClientProvider: the client decodes with messageEncoding; a message it cannot decode
        // is copied as it is (through a client that does not encode) to the poison queue and deleted, never invoked.
        var rawOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        var raw = new QueueServiceClient(connectionString, rawOptions);
        var clientOptions = new QueueClientOptions { MessageEncoding = queues.MessageEncoding };
        clientOptions.MessageDecodingFailed += OnDecodingFailedAsync;
        var service = new QueueServiceClient(connectionString, clientOptions);
        queue = service.GetQueueClient(QueueName);
        if (QueueNames.Poison(QueueName) is { } poisonName)
        {
            poisonQueue = service.GetQueueClient(poisonName);
            rawPoisonQueue = raw.GetQueueClient(poisonName);
        }
    }

    public string QueueName { get; }

    public void Start() => loop = Task.Run(() => PollAsync(polling.Token));

    /// <summary>Wakes a listener waiting after an empty poll (SharedQueueWatcher.Notify).</summary>
    public void Notify()
    {
        lock (wakeGate)
        {
            wake.TrySetResult();
        }
    }

    public void StopPolling() => polling.Cancel();

    /// <summary>Stops polling and waits for in-flight messages, at most until <paramref name="cancellationToken"/>.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        StopPolling();
        if (loop is not null)
        {
            await Worker.IgnoreFailure(loop).ConfigureAwait(false);
        }

        Task[] inFlight;
        lock (processing)
        {
            inFlight = [.. processing];
        }

        await Worker.IgnoreFailure(Task.WhenAll(inFlight).WaitAsync(cancellationToken)).ConfigureAwait(false);
    }

    public void Dispose() => polling.Dispose();

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var wait = await ExecuteAsync(cancellationToken).ConfigureAwait(false);
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The listener must outlive any one failure (the host's timer reports it and goes on).
            catch (Exception e)
#pragma warning restore CA1031
            {
                output.Host("Error", $"Queue '{function.Name}': the listener failed ({Describe(e)}); it goes on after {queues.MaxPollingInterval}.");
                await Worker.IgnoreFailure(Task.Delay(queues.MaxPollingInterval, cancellationToken)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One poll (QueueListener.ExecuteAsync); returns what to wait for before the next.</summary>
    private async Task<Task> ExecuteAsync(CancellationToken cancellationToken)
    {
        lock (wakeGate)
        {
            wake.TrySetResult();
            wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        QueueMessage[] batch;
        try
        {
            // The host asks whether the queue exists until it does (a missing queue is no error, only a back-off).
            queueExists ??= await queue.ExistsAsync(cancellationToken).ConfigureAwait(false);
            if (queueExists != true)
            {
                queueExists = null;
                return BackoffDelayAsync();
            }

            batch = (await queue.ReceiveMessagesAsync(queues.BatchSize, lease, cancellationToken).ConfigureAwait(false)).Value;
        }
#pragma warning disable CA1031 // Storage failing in any way (refused, timed out, 5xx) is a back-off, never the end of the listener.
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // The host backs off on a missing queue, one being deleted, or a 5xx, and lets anything else (no storage
            // at all) reach its unhandled-exception handler, which restarts the host; the emulator says so and backs off.
            queueExists = null;
            output.Host("Warning", $"Queue '{function.Name}': polling '{QueueName}' failed ({Describe(e)}); backing off.");
            return BackoffDelayAsync();
        }

        if (batch.Length == 0)
        {
            return BackoffDelayAsync();
        }

        lock (processing)
        {
            foreach (var message in batch)
            {
                processing.Add(ProcessAsync(message));
            }
        }

        foundMessageSinceLastDelay = true;
        return WaitForNewBatchThresholdAsync();
    }

    private async Task BackoffDelayAsync()
    {
        var delay = backoff.Next(foundMessageSinceLastDelay);
        foundMessageSinceLastDelay = false;
        await Task.WhenAny(wake.Task, Task.Delay(delay)).ConfigureAwait(false);
    }

    /// <summary>QueueListener.WaitForNewBatchThreshold: fetch again once in-flight messages are at most newBatchThreshold.</summary>
    private async Task WaitForNewBatchThresholdAsync()
    {
        while (true)
        {
            Task[] inFlight;
            lock (processing)
            {
                processing.RemoveAll(t => t.IsCompleted);
                if (processing.Count <= newBatchThreshold)
                {
                    return;
                }

                inFlight = [.. processing];
            }

            await Task.WhenAny(inFlight).ConfigureAwait(false);
        }
    }

    /// <summary>QueueListener.ProcessMessageAsync with QueueProcessor's Begin/CompleteProcessingMessageAsync.</summary>
    private async Task ProcessAsync(QueueMessage message)
    {
        try
        {
            // BeginProcessingMessageAsync; since extension 5.3.8 not for a queue without a poison queue (a poison queue).
            if (poisonQueue is not null && message.DequeueCount > queues.MaxDequeueCount)
            {
                await MoveToPoisonAsync(message).ConfigureAwait(false);
                return;
            }

            var receipt = new ReceiptHolder(message.PopReceipt);
            using var renewing = new CancellationTokenSource();
            var renewal = RenewLeaseAsync(message.MessageId, receipt, renewing.Token);
            var succeeded = false;
            try
            {
                var input = QueueTriggerData.For(function, message, DateTimeOffset.UtcNow);
                if (await invoker.SendAsync(function, $"New queue message detected on '{QueueName}'.", input).ConfigureAwait(false) is { } pending)
                {
                    succeeded = (await invoker.CompleteAsync(function, pending).ConfigureAwait(false)).Succeeded;
                }
            }
            finally
            {
                await renewing.CancelAsync().ConfigureAwait(false);
                await Worker.IgnoreFailure(renewal).ConfigureAwait(false);
            }

            var current = QueuesModelFactory.QueueMessage(
                message.MessageId, receipt.PopReceipt, message.Body, message.DequeueCount, message.NextVisibleOn, message.InsertedOn, message.ExpiresOn);
            if (succeeded)
            {
                await DeleteAsync(current).ConfigureAwait(false);
            }
            else if (poisonQueue is not null)
            {
                if (message.DequeueCount >= queues.MaxDequeueCount)
                {
                    await MoveToPoisonAsync(current).ConfigureAwait(false);
                }
                else
                {
                    // ReleaseMessageAsync: visible again after visibilityTimeout.
                    await IgnoreLostMessage(queue.UpdateMessageAsync(current.MessageId, current.PopReceipt, visibilityTimeout: queues.VisibilityTimeout)).ConfigureAwait(false);
                }
            }

            // A queue without a poison queue keeps a failed message invisible until its lease lapses (no fast loop).
        }
#pragma warning disable CA1031 // A storage failure while completing a message must not end the listener: it is redelivered.
        catch (Exception e)
#pragma warning restore CA1031
        {
            output.Host("Warning", $"Queue '{function.Name}': completing message '{message.MessageId}' failed ({Describe(e)}); it is redelivered when its lease lapses.");
        }
    }

    /// <summary>
    /// The host's UpdateQueueMessageVisibilityCommand on a timer: first at half the lease, then every half lease;
    /// after a failed update sooner (halving, down to the host's 1 min minimum, less for a shorter test lease); a
    /// message or pop receipt that is gone ends it (ownership lost).
    /// </summary>
    private async Task RenewLeaseAsync(string messageId, ReceiptHolder receipt, CancellationToken cancellationToken)
    {
        var normal = lease / 2;
        var minimum = normal < TimeSpan.FromMinutes(1) ? normal / 4 : TimeSpan.FromMinutes(1);
        var interval = normal;
        await Task.Delay(normal, cancellationToken).ConfigureAwait(false);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var update = await queue.UpdateMessageAsync(messageId, receipt.PopReceipt, visibilityTimeout: lease, cancellationToken: cancellationToken).ConfigureAwait(false);
                receipt.PopReceipt = update.Value.PopReceipt;
                interval = normal;
            }
            catch (RequestFailedException e) when (e.Status is 400 or 404 or 409)
            {
                return;
            }
            catch (RequestFailedException)
            {
                interval = interval / 2 > minimum ? interval / 2 : minimum;
            }

            await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>QueueProcessor.HandlePoisonMessageAsync: copy the body to the poison queue (created if missing), delete the original.</summary>
    private async Task MoveToPoisonAsync(QueueMessage message)
    {
        output.Host("Warning", $"Message has reached MaxDequeueCount of {queues.MaxDequeueCount}. Moving message to queue '{poisonQueue!.Name}'.");
        await poisonQueue.CreateIfNotExistsAsync().ConfigureAwait(false);
        await poisonQueue.SendMessageAsync(message.Body).ConfigureAwait(false);
        await DeleteAsync(message).ConfigureAwait(false);
        notifyPoisonQueue(poisonQueue.Name);
    }

    private Task DeleteAsync(QueueMessage message) => IgnoreLostMessage(queue.DeleteMessageAsync(message.MessageId, message.PopReceipt));

    /// <summary>A message someone else took over (pop receipt mismatch) or that is gone needs nothing more (QueueProcessor).</summary>
    private static async Task IgnoreLostMessage(Task operation)
    {
        try
        {
            await operation.ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 400 or 404 or 409)
        {
        }
    }

    private async Task OnDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args)
    {
        if (args.ReceivedMessage is not { } message)
        {
            return;
        }

        if (rawPoisonQueue is null)
        {
            // No poison queue (this is one): HandlePoisonMessageAsync does nothing; the message waits out its lease.
            return;
        }

        output.Host("Warning", $"Message has reached MaxDequeueCount of {queues.MaxDequeueCount}. Moving message to queue '{rawPoisonQueue.Name}'.");
        output.Host("Warning", $"Queue '{function.Name}': message '{message.MessageId}' is not {queues.MessageEncoding}-encoded: moved to '{rawPoisonQueue.Name}' as it is, not invoked.");
        await rawPoisonQueue.CreateIfNotExistsAsync(cancellationToken: args.CancellationToken).ConfigureAwait(false);
        await rawPoisonQueue.SendMessageAsync(message.Body, cancellationToken: args.CancellationToken).ConfigureAwait(false);
        await IgnoreLostMessage(args.Queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, args.CancellationToken)).ConfigureAwait(false);
        notifyPoisonQueue(rawPoisonQueue.Name);
    }

    private static string Describe(Exception e) => e switch
    {
        RequestFailedException { Status: > 0 } failed => $"{failed.Status} {failed.ErrorCode}",
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 ? aggregate.InnerExceptions[^1].GetType().Name : aggregate.GetType().Name,
        _ => e.GetType().Name + (e.InnerException is { } inner ? ": " + inner.GetType().Name : ""),
    };

    /// <summary>The message's current pop receipt (each visibility update issues a new one).</summary>
    private sealed class ReceiptHolder(string popReceipt)
    {
        public string PopReceipt { get; set; } = popReceipt;
    }
}
