using Google.Protobuf.WellKnownTypes;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// One started worker: its process and its gRPC channel, after the handshake (start_stream → worker_init →
/// functions_metadata → one function_load per function). A restart is a new instance.
/// </summary>
internal sealed class Worker : IAsyncDisposable
{
    private const string HostVersion = "4.1040.0";

    private readonly WorkerChannel channel;
    private readonly OutputLog output;
    private readonly RpcServer rpc;
    private readonly Dictionary<string, string> functionIds = new(StringComparer.OrdinalIgnoreCase);
    private WorkerProcess? process;

    private Worker(string id, WorkerChannel channel, RpcServer rpc, OutputLog output)
    {
        Id = id;
        this.channel = channel;
        this.rpc = rpc;
        this.output = output;
    }

    public string Id { get; }

    public int ProcessId => process?.Id ?? 0;

    /// <summary>Completes with the exit code when the process has exited, for any reason.</summary>
    public Task<int> Exited => process?.Exited ?? Task.FromResult(-1);

    public int? ExitCode => process?.ExitCode;

    /// <summary>The worker's own Kestrel (the HttpUri capability), or null without ASP.NET Core integration.</summary>
    public Uri? HttpUri { get; private set; }

    /// <summary>
    /// The capabilities the worker sent in its worker_init_response; the host reads some of them (e.g.
    /// WorkerApplicationInsightsLoggingEnabled: GrpcWorkerChannel, azure-functions-host commit 89dc438d).
    /// </summary>
    public IReadOnlyDictionary<string, string> Capabilities { get; private set; } = new Dictionary<string, string>();

    /// <summary>Set once a proxied request has reached <see cref="HttpUri"/> (before that, connection failures are retried).</summary>
    public bool HttpReached { get; set; }

    /// <summary>The function metadata the worker reported and loaded (failed indexing left out).</summary>
    public IReadOnlyList<RpcFunctionMetadata> Functions { get; private set; } = [];

    public bool IsGone => channel.IsClosed;

    /// <summary>The exit that follows was asked for (stop, or a restart after a timeout), not a worker error.</summary>
    public bool ExitExpected { get; private set; }

    public void Expected()
    {
        ExitExpected = true;
        process?.ExpectExit();
    }

    /// <summary>
    /// Starts a worker and waits until every function is loaded and its Kestrel listens. Throws
    /// <see cref="FunctionsHostStartException"/> when it exits, fails or times out first (the process is then killed).
    /// </summary>
    public static async Task<Worker> StartAsync(
        AppConfig app, FunctionsHostOptions options, RpcServer rpc, OutputLog output, Action<RpcLog> onLog, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString();
        var channel = new WorkerChannel(onLog, message => output.Host("Warning", message));
        var worker = new Worker(id, channel, rpc, output);
        rpc.Register(id, channel);
        try
        {
            worker.process = WorkerProcess.Start(app, options, rpc.Port, id, output);
            _ = worker.process.Exited.ContinueWith(_ => channel.WorkerGone(), TaskScheduler.Default);
            await worker.HandshakeAsync(app, options.StartTimeout, cancellationToken).ConfigureAwait(false);
            return worker;
        }
        catch (FunctionsHostStartException e)
        {
            channel.WorkerGone();
            output.Host("Error", e.Message);
            worker.process?.Kill();
            await IgnoreFailure(worker.Exited.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false);
            var exitCode = worker.ExitCode;
            await worker.DisposeAsync().ConfigureAwait(false);
            throw new FunctionsHostStartException(
                $"{e.Message}\nExit code: {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(still running)"}\nOutput:\n{output.Snapshot()}",
                exitCode,
                output.Snapshot());
        }
        catch
        {
            worker.process?.Kill();
            await worker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The id this worker gave the function (its own numbering; a restarted worker may differ).</summary>
    public string? FunctionId(string functionName) => functionIds.TryGetValue(functionName, out var id) ? id : null;

    /// <summary>Registers and sends an invocation; null when the worker is gone. The task yields null if it dies first.</summary>
    public Task<InvocationResponse?>? Invoke(InvocationRequest request)
    {
        var response = channel.ExpectInvocation(request.InvocationId);
        if (response is not null)
        {
            channel.Send(new StreamingMessage { InvocationRequest = request });
        }

        return response;
    }

    /// <summary>Stops waiting for the invocation and tells the worker (invocation_cancel).</summary>
    public void Cancel(string invocationId)
    {
        channel.Forget(invocationId);
        channel.Send(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = invocationId } });
    }

    /// <summary>Tells the worker to cancel the invocation (its FunctionContext.CancellationToken) and keeps waiting for its answer.</summary>
    public void RequestCancel(string invocationId) =>
        channel.Send(new StreamingMessage { InvocationCancel = new InvocationCancel { InvocationId = invocationId } });

    /// <summary>Hard kill (SIGKILL) of the process tree.</summary>
    public void Kill() => process?.Kill();

    /// <summary>worker_terminate with the grace period when <paramref name="graceful"/>, then a kill if still alive.</summary>
    public async Task StopAsync(bool graceful, TimeSpan gracePeriod)
    {
        if (process is null || process.Exited.IsCompleted)
        {
            return;
        }

        Expected();
        if (graceful && channel.StreamStarted.Task.IsCompleted)
        {
            output.Host("Information", $"Sending worker_terminate (grace period {gracePeriod.TotalSeconds:0.#} s).");
            channel.Send(new StreamingMessage { WorkerTerminate = new WorkerTerminate { GracePeriod = Duration.FromTimeSpan(gracePeriod) } });
            await IgnoreFailure(process.Exited.WaitAsync(gracePeriod)).ConfigureAwait(false);
        }

        if (!process.Exited.IsCompleted)
        {
            if (graceful)
            {
                output.Host("Warning", "The worker did not exit within the grace period; killing it.");
            }

            process.Kill();
            await IgnoreFailure(process.Exited.WaitAsync(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync()
    {
        channel.WorkerGone();
        rpc.Unregister(Id);
        channel.Dispose();
        process?.Dispose();
        return ValueTask.CompletedTask;
    }

    internal static async Task IgnoreFailure(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Best effort during shutdown and cleanup: the outcome is already decided.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private async Task HandshakeAsync(AppConfig app, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(startTimeout);
        async Task<T> Step<T>(Task<T> step, string what)
        {
            var finished = await Task.WhenAny(step, Exited, Task.Delay(Timeout.Infinite, timeout.Token)).ConfigureAwait(false);
            if (finished == step && !step.IsCanceled)
            {
                return await step.ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new FunctionsHostStartException(finished == Exited
                ? $"The worker exited with code {ExitCode} before it {what}."
                : $"The worker had not {what} after {startTimeout.TotalSeconds:0.#} s.");
        }

        await Step(channel.StreamStarted.Task, "connected (start_stream)").ConfigureAwait(false);
        channel.Send(new StreamingMessage
        {
            WorkerInitRequest = new WorkerInitRequest { HostVersion = HostVersion, WorkerDirectory = app.AppFolder, FunctionAppDirectory = app.AppFolder },
        });
        var init = await Step(channel.InitResponse.Task, "answered worker_init_request").ConfigureAwait(false);
        EnsureSuccess(init.Result, "worker_init_request");
        Capabilities = new Dictionary<string, string>(init.Capabilities, StringComparer.Ordinal);
        if (init.Capabilities.TryGetValue("HttpUri", out var httpUri) && Uri.TryCreate(httpUri, UriKind.Absolute, out var uri))
        {
            HttpUri = uri;
        }
        else
        {
            output.Host("Warning", "The worker reported no HttpUri capability (no ASP.NET Core integration): HTTP triggers will answer 501.");
        }

        channel.Send(new StreamingMessage { FunctionsMetadataRequest = new FunctionsMetadataRequest { FunctionAppDirectory = app.AppFolder } });
        var metadata = await Step(channel.MetadataResponse.Task, "sent its function metadata").ConfigureAwait(false);
        EnsureSuccess(metadata.Result, "functions_metadata_request");
        if (metadata.UseDefaultMetadataIndexing)
        {
            throw new FunctionsHostStartException("The worker asked for host-side indexing (use_default_metadata_indexing), which the emulator does not implement.");
        }

        var loads = new List<Task<FunctionLoadResponse>>();
        var loaded = new List<RpcFunctionMetadata>();
        foreach (var function in metadata.FunctionMetadataResults)
        {
            if (function.Status is { } status && status.Status == StatusResult.Types.Status.Failure)
            {
                output.Host("Error", $"Function '{function.Name}' failed indexing: {status.Exception?.Message ?? status.Result}");
                continue;
            }

            loads.Add(channel.ExpectLoad(function.FunctionId));
            channel.Send(new StreamingMessage { FunctionLoadRequest = new FunctionLoadRequest { FunctionId = function.FunctionId, Metadata = function } });
            loaded.Add(function);
        }

        foreach (var response in await Step(Task.WhenAll(loads), "loaded every function").ConfigureAwait(false))
        {
            var name = loaded.First(f => f.FunctionId == response.FunctionId).Name;
            EnsureSuccess(response.Result, $"function_load_request for '{name}'");
        }

        foreach (var function in loaded)
        {
            functionIds[function.Name] = function.FunctionId;
        }

        Functions = loaded;
        if (HttpUri is not null)
        {
            await Step(HttpListensAsync(HttpUri, timeout.Token), "accepted connections on " + HttpUri).ConfigureAwait(false);
        }
    }

    private static void EnsureSuccess(StatusResult? result, string step)
    {
        if (result is not null && result.Status != StatusResult.Types.Status.Success)
        {
            throw new FunctionsHostStartException($"The worker answered {step} with {result.Status}: {result.Exception?.Message ?? result.Result}");
        }
    }

    /// <summary>
    /// Waits until the worker's own Kestrel accepts connections. The worker reports HttpUri before it listens; a
    /// worker told to terminate in that window aborts (exit code 134), so "started" waits for it.
    /// </summary>
    private static async Task<bool> HttpListensAsync(Uri uri, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            using var probe = new System.Net.Sockets.TcpClient();
            try
            {
                await probe.ConnectAsync(uri.Host, uri.Port, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 200));
            }
        }
    }
}
