using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// Runs a published .NET isolated-worker app the way the Azure Functions host does, for development and tests:
/// starts the worker (<see cref="InvocationDispatcher"/>), serves the gRPC EventStream it dials into
/// (<see cref="RpcServer"/>), proxies HTTP triggers (<see cref="HttpFront"/>) and fires the other triggers
/// (<see cref="ITriggerListener"/>). Production runs on the real host.
/// </summary>
public sealed class FunctionsHostEmulator : IAsyncDisposable
{
    private readonly FunctionsHostOptions options;
    private readonly OutputLog output;
    private readonly RpcServer rpc;
    private readonly Lock stopGate = new();
    private readonly Dictionary<string, string?> settings;
    private AppConfig? app;
    private InvocationDispatcher? dispatcher;
    private FunctionInvoker? invoker;
    private HttpFront? front;
    private List<ITriggerListener> triggers = [];
    private List<HostedFunction> functions = [];
    private Task? stopTask;

    private FunctionsHostEmulator(FunctionsHostOptions options)
    {
        this.options = options;
        output = new OutputLog(options.Log);
        rpc = new RpcServer(message => output.Host("Warning", message));
        settings = new Dictionary<string, string?>(options.Settings, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>http://127.0.0.1:&lt;port&gt;/</summary>
    public Uri BaseAddress => front?.BaseAddress ?? new("http://127.0.0.1/");

    public IReadOnlyList<HostedFunction> Functions => functions;

    /// <summary>host.json's extensions.http.routePrefix ("api" unless set; may be empty).</summary>
    public string RoutePrefix => app?.RoutePrefix ?? "api";

    /// <summary>Everything logged so far (past 16 M characters the oldest half is dropped).</summary>
    public string Output => output.Snapshot();

    public int WorkerProcessId => dispatcher?.Current?.ProcessId ?? 0;

    /// <summary>Completes when the current worker process exits, for any reason (a restarted worker is a new one).</summary>
    public Task WorkerExited => dispatcher?.Current?.Exited ?? Task.CompletedTask;

    /// <summary>The exit code of the worker that exited last.</summary>
    public int? WorkerExitCode => dispatcher?.Current?.ExitCode ?? dispatcher?.WorkerExitCode;

    /// <summary>Worker processes started so far, the first included (each restart adds one).</summary>
    public int WorkerStarts => dispatcher?.Starts ?? 0;

    /// <summary>
    /// Completes when the host gave up restarting its worker (3 worker errors within 30 min: the real host then
    /// recycles itself) or was stopped; requests then get 503 "Function host is not running.".
    /// </summary>
    public Task HostStopped => dispatcher?.Stopped ?? Task.CompletedTask;

    /// <summary>The capabilities the current worker sent in its worker_init_response (<see cref="Worker.Capabilities"/>).</summary>
    public IReadOnlyDictionary<string, string> WorkerCapabilities => dispatcher?.Current?.Capabilities ?? new Dictionary<string, string>();

    /// <summary>Why <see cref="HostStopped"/> completed; null while running.</summary>
    public string? HostStopReason => dispatcher?.StopReason;

    /// <summary>
    /// Returns once the worker has loaded every function, its own Kestrel accepts connections and the HTTP front
    /// listens; throws <see cref="FunctionsHostStartException"/> when the worker exits, fails or times out first.
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

    /// <summary>Runs a non-HTTP function now, like the host's POST /admin/functions/{name}, and returns the worker's answer.</summary>
    public Task<InvocationOutcome> InvokeAsync(string functionName, CancellationToken cancellationToken = default) =>
        InvokeAsync(functionName, "", cancellationToken);

    /// <summary>
    /// Runs a non-HTTP function now with the admin body's <paramref name="input"/> (for a queue trigger: the message
    /// text, which is then in no queue), like the host's POST /admin/functions/{name}.
    /// </summary>
    public async Task<InvocationOutcome> InvokeAsync(string functionName, string input, CancellationToken cancellationToken = default)
    {
        var function = functions.FirstOrDefault(f => f.Name.Equals(functionName, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"No function named '{functionName}'.", nameof(functionName));
        if (function.IsHttp)
        {
            throw new InvalidOperationException($"'{function.Name}' is HTTP-triggered: call it on its route at {BaseAddress}.");
        }

        var pending = await invoker!.SendAsync(function, "Manual", ManualInput(function, input), cancellationToken).ConfigureAwait(false);
        if (pending is null)
        {
            return new InvocationOutcome("", false, "WorkerExited", "The worker process is not running.", TimeSpan.Zero);
        }

        return await invoker.CompleteAsync(function, pending).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hard kill (SIGKILL) of the worker and its children, for fault tests.</summary>
    public void KillWorker()
    {
        output.Host("Warning", "Killing the worker process (KillWorker).");
        dispatcher?.Current?.Kill();
    }

    /// <summary>
    /// The whole instance goes away at once, as when Azure recycles or loses it: the worker is SIGKILLed and not
    /// restarted (<see cref="KillWorker"/> is a crash the host recovers from), then everything stops.
    /// </summary>
    public async Task KillInstanceAsync()
    {
        output.Host("Warning", "Killing the instance (KillInstanceAsync): the worker goes without a restart.");
        dispatcher?.StopRestarting("The instance was killed.");
        dispatcher?.Current?.Kill();
        await WorkerExited.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
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
        if (dispatcher is not null)
        {
            await dispatcher.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal static int ListeningPort(WebApplication web)
    {
        var addresses = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First()).Port;
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        app = AppConfig.Load(options.AppFolder);
        await rpc.StartAsync(cancellationToken).ConfigureAwait(false);
        dispatcher = new InvocationDispatcher(app, options, rpc, output, OnRpcLog);
        await dispatcher.StartAsync(cancellationToken).ConfigureAwait(false);
        functions = FunctionIndex.Validate(FunctionIndex.Describe(dispatcher.Current!.Functions, Setting), output, Setting);

        invoker = new FunctionInvoker(dispatcher, app, output);
        // Every non-HTTP trigger type the emulator fires; a new one is one more entry.
        triggers =
        [
            new TimerTrigger(invoker, output, options.EnableTimers),
            new QueueTrigger(invoker, output, app.Queues, Setting, options),
        ];
        var keys = new FunctionKeys(options.FunctionKey, options.MasterKey);
        front = new HttpFront(
            options,
            app.RoutePrefix,
            keys,
            new HttpInvoker(dispatcher, app, options, output),
            new AdminEndpoint(() => functions, keys, invoker, ManualInput),
            output);
        await front.StartAsync(functions, cancellationToken).ConfigureAwait(false);
        FunctionIndex.Print(functions, BaseAddress, RoutePrefix, output);
        foreach (var trigger in triggers)
        {
            trigger.Start(functions);
        }
    }

    /// <summary>The trigger input for a manual run: the trigger type's own (a timer's TimerInfo), else the input string.</summary>
    private TriggerInput ManualInput(HostedFunction function, string input) =>
        triggers.FirstOrDefault(t => t.TriggerType.Equals(function.TriggerType, StringComparison.OrdinalIgnoreCase)) is { } trigger
            ? trigger.ManualInput(function, input)
            : new TriggerInput(new TypedData { String = input });

    /// <summary>An app setting (Settings first, then the environment when inherited); null when unset.</summary>
    private string? Setting(string name) =>
        settings.TryGetValue(name, out var v) ? v
        : settings.TryGetValue(name.Replace(":", "__", StringComparison.Ordinal), out v) ? v
        : options.InheritEnvironment ? Environment.GetEnvironmentVariable(name.Replace(":", "__", StringComparison.Ordinal)) : null;

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

    private async Task StopCoreAsync(bool graceful)
    {
        // A worker that dies while the host stops is not restarted.
        dispatcher?.StopRestarting("The host is stopping.");
        foreach (var trigger in triggers)
        {
            await trigger.DisposeAsync().ConfigureAwait(false);
        }

        using var grace = new CancellationTokenSource(options.ShutdownGracePeriod);
        if (front is not null)
        {
            // Lets requests in flight finish within the grace period.
            await Worker.IgnoreFailure(front.StopAsync(grace.Token)).ConfigureAwait(false);
        }

        if (dispatcher is not null)
        {
            await dispatcher.StopAsync(graceful).ConfigureAwait(false);
        }

        await rpc.DisposeAsync().ConfigureAwait(false);
        if (front is not null)
        {
            await front.DisposeAsync().ConfigureAwait(false);
        }
    }
}
