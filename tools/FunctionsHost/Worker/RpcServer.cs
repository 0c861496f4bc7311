using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// The host's gRPC server (h2c on loopback) that workers dial into. Like the host, one server for the host's life:
/// each stream is handed to the channel of the worker its start_stream names, so a restarted worker gets a new one.
/// </summary>
internal sealed class RpcServer(Action<string> onUnexpected) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, WorkerChannel> channels = new(StringComparer.Ordinal);
    private WebApplication? web;

    public int Port { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            // The worker speaks h2c with prior knowledge: an endpoint that also offers HTTP/1.1 makes it fail.
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Limits.MaxRequestBodySize = null;
        });
        builder.Services.AddRouting();
        builder.Services.AddGrpc(grpc =>
        {
            // The host allows int.MaxValue; the worker is told the same on its command line.
            grpc.MaxReceiveMessageSize = null;
            grpc.MaxSendMessageSize = null;
        });
        builder.Services.AddSingleton(this);
        web = builder.Build();
        web.UseRouting();
        web.MapGrpcService<FunctionRpcService>();
        await web.StartAsync(cancellationToken).ConfigureAwait(false);
        Port = FunctionsHostEmulator.ListeningPort(web);
    }

    public void Register(string workerId, WorkerChannel channel) => channels[workerId] = channel;

    public void Unregister(string workerId) => channels.TryRemove(workerId, out _);

    public async ValueTask DisposeAsync()
    {
        if (web is not null)
        {
            using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await web.StopAsync(quick.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Streams still open after 2 s: disposing closes them.
            }

            await web.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal async Task ServeAsync(
        IAsyncStreamReader<StreamingMessage> requests,
        IServerStreamWriter<StreamingMessage> responses,
        CancellationToken cancellationToken)
    {
        try
        {
            if (!await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or Grpc.Core.RpcException)
        {
            return;
        }

        var first = requests.Current;
        if (first.ContentCase != StreamingMessage.ContentOneofCase.StartStream
            || !channels.TryGetValue(first.StartStream.WorkerId, out var channel))
        {
            onUnexpected($"An EventStream opened with {first.ContentCase} for no known worker; it is not served.");
            return;
        }

        await channel.RunStreamAsync(first, requests, responses, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The gRPC service the worker dials into; one instance per call, sharing the server.</summary>
internal sealed class FunctionRpcService(RpcServer server) : FunctionRpc.FunctionRpcBase
{
    public override Task EventStream(
        IAsyncStreamReader<StreamingMessage> requestStream,
        IServerStreamWriter<StreamingMessage> responseStream,
        ServerCallContext context) =>
        server.ServeAsync(requestStream, responseStream, context.CancellationToken);
}
