using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// The EventStream one worker opens: routes the worker's messages to whoever waits for them and serializes
/// the host's writes (gRPC allows only one pending write on a response stream).
/// </summary>
internal sealed class WorkerChannel(Action<RpcLog> onLog, Action<string> onUnexpected) : IDisposable
{
    private readonly Channel<StreamingMessage> outbound =
        Channel.CreateUnbounded<StreamingMessage>(new UnboundedChannelOptions { SingleReader = true });

    private readonly ConcurrentDictionary<string, TaskCompletionSource<FunctionLoadResponse>> loads = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<InvocationResponse?>> invocations = new();
    private readonly CancellationTokenSource shutdown = new();
    private int streams;
    private volatile bool closed;

    public TaskCompletionSource<string> StreamStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<WorkerInitResponse> InitResponse { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<FunctionMetadataResponse> MetadataResponse { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Send(StreamingMessage message)
    {
        message.RequestId = string.IsNullOrEmpty(message.RequestId) ? Guid.NewGuid().ToString() : message.RequestId;
        outbound.Writer.TryWrite(message);
    }

    public Task<FunctionLoadResponse> ExpectLoad(string functionId)
    {
        var tcs = new TaskCompletionSource<FunctionLoadResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        loads[functionId] = tcs;
        return tcs.Task;
    }

    /// <summary>Registers an invocation; null when the worker is gone. The task yields null if the worker dies first.</summary>
    public Task<InvocationResponse?>? ExpectInvocation(string invocationId)
    {
        if (closed)
        {
            return null;
        }

        var tcs = new TaskCompletionSource<InvocationResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
        invocations[invocationId] = tcs;
        if (closed)
        {
            // The worker died between the check and the registration: WorkerGone may have missed this one.
            invocations.TryRemove(invocationId, out _);
            return null;
        }

        return tcs.Task;
    }

    public void Forget(string invocationId) => invocations.TryRemove(invocationId, out _);

    /// <summary>The worker process has exited: everything waiting on it gets its answer now.</summary>
    public void WorkerGone()
    {
        closed = true;
        foreach (var id in invocations.Keys)
        {
            if (invocations.TryRemove(id, out var pending))
            {
                pending.TrySetResult(null);
            }
        }

        try
        {
            shutdown.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed with the emulator.
        }
    }

    public bool IsClosed => closed;

    public void Dispose() => shutdown.Dispose();

    /// <summary>Serves the stream whose first message (start_stream) named this channel's worker.</summary>
    public async Task RunStreamAsync(
        StreamingMessage first,
        IAsyncStreamReader<StreamingMessage> requests,
        IServerStreamWriter<StreamingMessage> responses,
        CancellationToken callCancelled)
    {
        if (Interlocked.Increment(ref streams) != 1)
        {
            onUnexpected("A second EventStream was opened; only the first is served.");
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(callCancelled, shutdown.Token);
        var writer = WriteLoopAsync(responses, stop.Token);
        Dispatch(first);
        try
        {
            while (await requests.MoveNext(stop.Token).ConfigureAwait(false))
            {
                Dispatch(requests.Current);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or Grpc.Core.RpcException)
        {
            // The worker went away or the emulator is stopping: nothing to answer.
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(false);
        }
    }

    private async Task WriteLoopAsync(IServerStreamWriter<StreamingMessage> responses, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in outbound.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await responses.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or Grpc.Core.RpcException)
        {
            // Stream closed: the reader side reports the end.
        }
    }

    private void Dispatch(StreamingMessage message)
    {
        switch (message.ContentCase)
        {
            case StreamingMessage.ContentOneofCase.StartStream:
                StreamStarted.TrySetResult(message.StartStream.WorkerId);
                break;
            case StreamingMessage.ContentOneofCase.WorkerInitResponse:
                InitResponse.TrySetResult(message.WorkerInitResponse);
                break;
            case StreamingMessage.ContentOneofCase.FunctionMetadataResponse:
                MetadataResponse.TrySetResult(message.FunctionMetadataResponse);
                break;
            case StreamingMessage.ContentOneofCase.FunctionLoadResponse:
                if (loads.TryRemove(message.FunctionLoadResponse.FunctionId, out var load))
                {
                    load.TrySetResult(message.FunctionLoadResponse);
                }

                break;
            case StreamingMessage.ContentOneofCase.InvocationResponse:
                if (invocations.TryRemove(message.InvocationResponse.InvocationId, out var invocation))
                {
                    invocation.TrySetResult(message.InvocationResponse);
                }

                break;
            case StreamingMessage.ContentOneofCase.RpcLog:
                onLog(message.RpcLog);
                break;
            case StreamingMessage.ContentOneofCase.None:
            case StreamingMessage.ContentOneofCase.WorkerStatusResponse:
                // The worker sends an empty message after WorkerTerminate; status responses carry nothing.
                break;
            default:
                onUnexpected($"Ignoring a {message.ContentCase} message from the worker.");
                break;
        }
    }
}
