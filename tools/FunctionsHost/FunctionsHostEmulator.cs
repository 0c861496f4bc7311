using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Runs a published .NET isolated-worker app the way the Azure Functions host does, for development and tests:
/// starts the worker, serves the gRPC EventStream it dials into, loads its functions, proxies HTTP triggers to the
/// worker's own Kestrel and fires timer triggers. Production runs on the real host.
/// </summary>
public sealed partial class FunctionsHostEmulator : IAsyncDisposable
{
    private const string HostVersion = "4.1040.0";

    private readonly FunctionsHostOptions options;
    private readonly OutputLog output;
    private readonly WorkerConnection connection;
    private readonly TaskCompletionSource workerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource timersStop = new();
    private readonly Lock stopGate = new();
    private readonly Dictionary<string, string?> settings;
    private AppConfig? app;
    private WebApplication? grpcApp;
    private WebApplication? frontApp;
    private Process? worker;
    private List<HostedFunction> functions = [];
    private Task? stopTask;
    private volatile bool stopping;
    private int? workerExitCode;

    private FunctionsHostEmulator(FunctionsHostOptions options)
    {
        this.options = options;
        output = new OutputLog(options.Log);
        connection = new WorkerConnection(OnRpcLog, message => output.Host("Warning", message));
        settings = new Dictionary<string, string?>(options.Settings, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>http://127.0.0.1:&lt;port&gt;/</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    public IReadOnlyList<HostedFunction> Functions => functions;

    /// <summary>host.json's extensions.http.routePrefix ("api" unless set; may be empty).</summary>
    public string RoutePrefix => app?.RoutePrefix ?? "api";

    /// <summary>Everything logged so far (past 16 M characters the oldest half is dropped).</summary>
    public string Output => output.Snapshot();

    public int WorkerProcessId { get; private set; }

    /// <summary>Completes when the worker process exits, for any reason.</summary>
    public Task WorkerExited => workerExited.Task;

    public int? WorkerExitCode => workerExitCode;

    /// <summary>
    /// The capabilities the worker sent in its worker_init_response; the host reads some of them (e.g.
    /// WorkerApplicationInsightsLoggingEnabled: GrpcWorkerChannel, azure-functions-host commit 89dc438d).
    /// </summary>
    public IReadOnlyDictionary<string, string> WorkerCapabilities { get; private set; } = new Dictionary<string, string>();

    /// <summary>
    /// Returns once the worker has loaded every function, its own Kestrel accepts connections and the HTTP front
    /// listens; throws
    /// <see cref="FunctionsHostStartException"/> when the worker exits, fails or times out first.
    /// </summary>
    public static async Task<FunctionsHostEmulator> StartAsync(FunctionsHostOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var emulator = new FunctionsHostEmulator(options);
        try
        {
            await emulator.StartCoreAsync(cancellationToken).ConfigureAwait(false);
            return emulator;
        }
        catch
        {
            // No terminate for a worker that never finished starting: DisposeAsync then waits for this kill.
            lock (emulator.stopGate)
            {
                emulator.stopTask ??= emulator.StopCoreAsync(graceful: false);
            }

            await emulator.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Hard kill (SIGKILL) of the worker and its children, for fault tests.</summary>
    public void KillWorker()
    {
        output.Host("Warning", "Killing the worker process (KillWorker).");
        KillWorkerTree();
    }

    /// <summary>Graceful: worker_terminate with the grace period, wait that long, kill if still alive; stops the HTTP front.</summary>
    public Task StopAsync()
    {
        lock (stopGate)
        {
            return stopTask ??= StopCoreAsync(graceful: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit -= KillWorkerOnExit;
        timersStop.Dispose();
        connection.Dispose();
        workerHttp?.Dispose();
        worker?.Dispose();
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        app = AppConfig.Load(options.AppFolder);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);

        var grpcPort = await StartGrpcServerAsync(timeout.Token).ConfigureAwait(false);
        var workerId = Guid.NewGuid().ToString();
        StartWorker(grpcPort, workerId);

        await WaitForWorkerAsync(connection.StreamStarted.Task, "connected (start_stream)", timeout.Token, cancellationToken)
            .ConfigureAwait(false);

        connection.Send(new StreamingMessage
        {
            WorkerInitRequest = new WorkerInitRequest
            {
                HostVersion = HostVersion,
                WorkerDirectory = app.AppFolder,
                FunctionAppDirectory = app.AppFolder,
            },
        });
        var init = await WaitForWorkerAsync(connection.InitResponse.Task, "answered worker_init_request", timeout.Token, cancellationToken)
            .ConfigureAwait(false);
        EnsureSuccess(init.Result, "worker_init_request");
        WorkerCapabilities = new Dictionary<string, string>(init.Capabilities, StringComparer.Ordinal);
        if (init.Capabilities.TryGetValue("HttpUri", out var httpUri) && Uri.TryCreate(httpUri, UriKind.Absolute, out var uri))
        {
            workerHttpBase = uri;
        }
        else
        {
            output.Host("Warning", "The worker reported no HttpUri capability (no ASP.NET Core integration): HTTP triggers will answer 501.");
        }

        connection.Send(new StreamingMessage
        {
            FunctionsMetadataRequest = new FunctionsMetadataRequest { FunctionAppDirectory = app.AppFolder },
        });
        var metadata = await WaitForWorkerAsync(connection.MetadataResponse.Task, "sent its function metadata", timeout.Token, cancellationToken)
            .ConfigureAwait(false);
        EnsureSuccess(metadata.Result, "functions_metadata_request");
        if (metadata.UseDefaultMetadataIndexing)
        {
            throw StartFailure("The worker asked for host-side indexing (use_default_metadata_indexing), which the emulator does not implement.");
        }

        var loads = new List<Task<FunctionLoadResponse>>();
        var loaded = new List<HostedFunction>();
        foreach (var function in metadata.FunctionMetadataResults)
        {
            if (function.Status is { } status && status.Status == StatusResult.Types.Status.Failure)
            {
                output.Host("Error", $"Function '{function.Name}' failed indexing: {status.Exception?.Message ?? status.Result}");
                continue;
            }

            loads.Add(connection.ExpectLoad(function.FunctionId));
            connection.Send(new StreamingMessage
            {
                FunctionLoadRequest = new FunctionLoadRequest { FunctionId = function.FunctionId, Metadata = function },
            });
            loaded.Add(Describe(function));
        }

        var responses = await WaitForWorkerAsync(Task.WhenAll(loads), "loaded every function", timeout.Token, cancellationToken)
            .ConfigureAwait(false);
        foreach (var response in responses)
        {
            var name = loaded.First(f => f.FunctionId == response.FunctionId).Name;
            EnsureSuccess(response.Result, $"function_load_request for '{name}'");
        }

        functions = loaded;
        if (workerHttpBase is not null)
        {
            await WaitForWorkerAsync(WorkerHttpListensAsync(workerHttpBase, timeout.Token), "accepted connections on " + workerHttpBase, timeout.Token, cancellationToken)
                .ConfigureAwait(false);
        }

        await StartFrontAsync(timeout.Token).ConfigureAwait(false);
        PrintFunctions();
        StartTimers();
    }

    private async Task<int> StartGrpcServerAsync(CancellationToken cancellationToken)
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
        builder.Services.AddSingleton(connection);
        grpcApp = builder.Build();
        grpcApp.UseRouting();
        grpcApp.MapGrpcService<FunctionRpcService>();
        await grpcApp.StartAsync(cancellationToken).ConfigureAwait(false);
        return ListeningPort(grpcApp);
    }

    /// <summary>
    /// Waits until the worker's own Kestrel accepts connections. The worker reports HttpUri before it listens; a
    /// worker told to terminate in that window aborts (exit code 134), so "started" waits for it.
    /// </summary>
    private static async Task<bool> WorkerHttpListensAsync(Uri uri, CancellationToken cancellationToken)
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

    private static int ListeningPort(WebApplication web)
    {
        var addresses = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First()).Port;
    }

    private void StartWorker(int grpcPort, string workerId)
    {
        var config = app!;
        var start = new ProcessStartInfo(ResolveExecutable(config.Executable))
        {
            WorkingDirectory = config.AppFolder,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in config.ExecutableArguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(config.WorkerPath);
        foreach (var argument in config.WorkerArguments)
        {
            start.ArgumentList.Add(argument);
        }

        var requestId = Guid.NewGuid().ToString();
        var functionsUri = $"http://127.0.0.1:{grpcPort}/";
        // Legacy forms first, as the host passes them; Worker 2.x reads only the --functions-* ones. Without the
        // max message length the worker never sends StartStream.
        string[] rpcArguments =
        [
            "--host", "127.0.0.1", "--port", grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--workerId", workerId, "--requestId", requestId, "--grpcMaxMessageLength", "2147483647",
            "--functions-uri", functionsUri, "--functions-worker-id", workerId,
            "--functions-request-id", requestId, "--functions-grpc-max-message-length", "2147483647",
        ];
        foreach (var argument in rpcArguments)
        {
            start.ArgumentList.Add(argument);
        }

        WorkerEnvironment.Apply(start.Environment, options, config.AppFolder);

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Line(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Line(e.Data); };
        process.Exited += (_, _) => _ = Task.Run(() => OnWorkerExited(process));
        output.Host("Information", $"Starting worker: {start.FileName} {string.Join(' ', start.ArgumentList)}");
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            workerExited.TrySetResult();
            connection.WorkerGone();
            throw StartFailure($"The worker could not be started ({start.FileName}): {e.Message}");
        }

        worker = process;
        WorkerProcessId = process.Id;
        // The worker outlives a host that goes away without terminating it (a closed stream does not stop it): at
        // least a normal exit of this process (or a forgotten DisposeAsync in a test run) takes the worker along.
        AppDomain.CurrentDomain.ProcessExit += KillWorkerOnExit;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void OnWorkerExited(Process process)
    {
        // Drains the redirected output first, so the worker's last lines are in Output before anyone is told.
        process.WaitForExit();
        workerExitCode = process.ExitCode;
        output.Host(stopping ? "Information" : "Error", $"Worker process {WorkerProcessId} exited with code {process.ExitCode}.");
        connection.WorkerGone();
        workerExited.TrySetResult();
    }

    private static string ResolveExecutable(string executable)
    {
        if (executable is "dotnet" or "dotnet.exe")
        {
            // The dotnet that runs this process (or the SDK's, under `dotnet test`), rather than whatever PATH finds.
            var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath))
            {
                return hostPath;
            }

            var self = Environment.ProcessPath;
            if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                return self;
            }
        }

        return executable;
    }

    private async Task<T> WaitForWorkerAsync<T>(Task<T> step, string what, CancellationToken timeout, CancellationToken caller)
    {
        var finished = await Task.WhenAny(step, workerExited.Task, Task.Delay(Timeout.Infinite, timeout)).ConfigureAwait(false);
        if (finished == step && !step.IsCanceled)
        {
            return await step.ConfigureAwait(false);
        }

        caller.ThrowIfCancellationRequested();
        if (finished == workerExited.Task)
        {
            throw StartFailure($"The worker exited with code {workerExitCode} before it {what}.");
        }

        throw StartFailure($"The worker had not {what} after {options.StartTimeout.TotalSeconds:0.#} s.");
    }

    private FunctionsHostStartException StartFailure(string message)
    {
        output.Host("Error", message);
        return new FunctionsHostStartException(
            $"{message}\nExit code: {workerExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(still running)"}\nOutput:\n{output.Snapshot()}",
            workerExitCode,
            output.Snapshot());
    }

    private void EnsureSuccess(StatusResult? result, string step)
    {
        if (result is null || result.Status == StatusResult.Types.Status.Success)
        {
            return;
        }

        throw StartFailure($"The worker answered {step} with {result.Status}: {result.Exception?.Message ?? result.Result}");
    }

    private HostedFunction Describe(RpcFunctionMetadata metadata)
    {
        foreach (var raw in metadata.RawBindings)
        {
            using var binding = JsonDocument.Parse(raw);
            var root = binding.RootElement;
            var type = Property(root, "type");
            if (type is null || !type.EndsWith("Trigger", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var name = Property(root, "name") ?? "";
            if (type.Equals("httpTrigger", StringComparison.OrdinalIgnoreCase))
            {
                string[]? methods = root.TryGetProperty("methods", out var m) && m.ValueKind == JsonValueKind.Array && m.GetArrayLength() > 0
                    ? [.. m.EnumerateArray().Select(v => v.GetString()!.ToLowerInvariant())]
                    : null;
                var route = Property(root, "route");
                return new HostedFunction(
                    metadata.Name, metadata.FunctionId, type, name,
                    string.IsNullOrEmpty(route) ? metadata.Name : route.Trim('/'),
                    methods,
                    (Property(root, "authLevel") ?? "function").ToLowerInvariant(),
                    null, null, false);
            }

            if (type.Equals("timerTrigger", StringComparison.OrdinalIgnoreCase))
            {
                var schedule = Property(root, "schedule");
                var runOnStartup = root.TryGetProperty("runOnStartup", out var r)
                    && (r.ValueKind == JsonValueKind.True || (r.ValueKind == JsonValueKind.String && bool.TryParse(r.GetString(), out var b) && b));
                return new HostedFunction(
                    metadata.Name, metadata.FunctionId, type, name, null, null, null,
                    schedule, schedule is null ? null : ResolveSettings(schedule), runOnStartup);
            }

            return new HostedFunction(metadata.Name, metadata.FunctionId, type, name, null, null, null, null, null, false);
        }

        return new HostedFunction(metadata.Name, metadata.FunctionId, "(no trigger)", "", null, null, null, null, null, false);
    }

    private static string? Property(JsonElement element, string name)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
            {
                return property.Value.GetString();
            }
        }

        return null;
    }

    /// <summary>"%Name%" → the app setting (Settings first, then the environment when inherited); null if unset.</summary>
    private string? ResolveSettings(string value)
    {
        var result = new System.Text.StringBuilder();
        var index = 0;
        while (index < value.Length)
        {
            var open = value.IndexOf('%', index);
            var close = open < 0 ? -1 : value.IndexOf('%', open + 1);
            if (close < 0)
            {
                result.Append(value, index, value.Length - index);
                break;
            }

            result.Append(value, index, open - index);
            var name = value[(open + 1)..close];
            var resolved = settings.TryGetValue(name, out var v) ? v
                : settings.TryGetValue(name.Replace(":", "__", StringComparison.Ordinal), out v) ? v
                : options.InheritEnvironment ? Environment.GetEnvironmentVariable(name.Replace(":", "__", StringComparison.Ordinal)) : null;
            if (resolved is null)
            {
                return null;
            }

            result.Append(resolved);
            index = close + 1;
        }

        return result.ToString();
    }

    private void PrintFunctions()
    {
        output.Host("Information", "Functions:");
        foreach (var function in functions)
        {
            if (function.IsHttp)
            {
                var methods = function.Methods is null ? "ALL" : string.Join(',', function.Methods).ToUpperInvariant();
                var path = string.IsNullOrEmpty(RoutePrefix) ? function.Route : RoutePrefix + "/" + function.Route;
                output.Host("Information", $"  {function.Name}: [{methods}] {BaseAddress}{path} (authLevel {function.AuthLevel})");
            }
            else if (function.IsTimer)
            {
                output.Host("Information", $"  {function.Name}: timerTrigger ({function.Schedule} = {function.ResolvedSchedule ?? "unresolved"})");
            }
            else
            {
                output.Host("Information", $"  {function.Name}: {function.TriggerType}");
            }
        }
    }

    private void OnRpcLog(RpcLog log)
    {
        output.Line($"[{log.Level}] {log.Category}: {log.Message}");
        if (log.Exception is { } exception)
        {
            // The dotnet worker puts the whole exception text (type, message, stack) in Message; others split it.
            var text = string.IsNullOrEmpty(exception.Type) ? exception.Message : $"{exception.Type}: {exception.Message}";
            if (!string.IsNullOrEmpty(exception.StackTrace) && !text.Contains(exception.StackTrace, StringComparison.Ordinal))
            {
                text += "\n" + exception.StackTrace;
            }

            foreach (var line in text.Split('\n'))
            {
                output.Line("  " + line.TrimEnd('\r'));
            }
        }
    }

    private void KillWorkerOnExit(object? sender, EventArgs e) => KillWorkerTree();

    private void KillWorkerTree()
    {
        try
        {
            if (worker is { HasExited: false })
            {
                worker.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private async Task StopCoreAsync(bool graceful)
    {
        stopping = true;
        await timersStop.CancelAsync().ConfigureAwait(false);
        using var grace = new CancellationTokenSource(options.ShutdownGracePeriod);
        if (frontApp is not null)
        {
            // Lets requests in flight finish within the grace period.
            await IgnoreFailure(frontApp.StopAsync(grace.Token)).ConfigureAwait(false);
        }

        if (worker is not null && !workerExited.Task.IsCompleted)
        {
            if (graceful && connection.StreamStarted.Task.IsCompleted)
            {
                output.Host("Information", $"Sending worker_terminate (grace period {options.ShutdownGracePeriod.TotalSeconds:0.#} s).");
                connection.Send(new StreamingMessage
                {
                    WorkerTerminate = new WorkerTerminate { GracePeriod = Duration.FromTimeSpan(options.ShutdownGracePeriod) },
                });
                await IgnoreFailure(workerExited.Task.WaitAsync(options.ShutdownGracePeriod)).ConfigureAwait(false);
            }

            if (!workerExited.Task.IsCompleted)
            {
                if (graceful)
                {
                    output.Host("Warning", "The worker did not exit within the grace period; killing it.");
                }

                KillWorkerTree();
                await IgnoreFailure(workerExited.Task.WaitAsync(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
            }
        }

        connection.WorkerGone();
        if (grpcApp is not null)
        {
            using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await IgnoreFailure(grpcApp.StopAsync(quick.Token)).ConfigureAwait(false);
            await grpcApp.DisposeAsync().ConfigureAwait(false);
        }

        if (frontApp is not null)
        {
            await frontApp.DisposeAsync().ConfigureAwait(false);
        }

        await IgnoreFailure(Task.WhenAll(timerTasks)).ConfigureAwait(false);
    }

    private static async Task IgnoreFailure(Task task)
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
}
