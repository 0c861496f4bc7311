using System.Diagnostics;
using System.Globalization;

namespace VoiceFunctions.FunctionsHost;

/// <summary>
/// One worker OS process, launched from worker.config.json with the host's command line and environment; its
/// stdout/stderr go to the output log. Killing it takes its children along.
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly Process process;
    private readonly OutputLog output;
    private readonly TaskCompletionSource<int> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool expectingExit;

    private WorkerProcess(Process process, OutputLog output)
    {
        this.process = process;
        this.output = output;
    }

    public int Id { get; private set; }

    /// <summary>Completes with the exit code once the process has exited and its output is drained.</summary>
    public Task<int> Exited => exited.Task;

    public int? ExitCode => exited.Task.IsCompletedSuccessfully ? exited.Task.Result : null;

    /// <summary>Starts the worker; throws <see cref="FunctionsHostStartException"/> when the executable cannot run.</summary>
    public static WorkerProcess Start(AppConfig app, FunctionsHostOptions options, int grpcPort, string workerId, OutputLog output)
    {
        var start = new ProcessStartInfo(ResolveExecutable(app.Executable))
        {
            WorkingDirectory = app.AppFolder,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in app.ExecutableArguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(app.WorkerPath);
        foreach (var argument in app.WorkerArguments)
        {
            start.ArgumentList.Add(argument);
        }

        var requestId = Guid.NewGuid().ToString();
        var port = grpcPort.ToString(CultureInfo.InvariantCulture);
        // Legacy forms first, as the host passes them; Worker 2.x reads only the --functions-* ones. Without the
        // max message length the worker never sends StartStream.
        string[] rpcArguments =
        [
            "--host", "127.0.0.1", "--port", port,
            "--workerId", workerId, "--requestId", requestId, "--grpcMaxMessageLength", "2147483647",
            "--functions-uri", $"http://127.0.0.1:{port}/", "--functions-worker-id", workerId,
            "--functions-request-id", requestId, "--functions-grpc-max-message-length", "2147483647",
        ];
        foreach (var argument in rpcArguments)
        {
            start.ArgumentList.Add(argument);
        }

        WorkerEnvironment.Apply(start.Environment, options, app.AppFolder);

        var worker = new WorkerProcess(new Process { StartInfo = start, EnableRaisingEvents = true }, output);
        worker.process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Line(e.Data); };
        worker.process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Line($"[{StdErrLevel(e.Data)}] Host.Function.Console: {e.Data}"); };
        worker.process.Exited += (_, _) => _ = Task.Run(worker.OnExited);
        output.Host("Information", $"Starting worker: {start.FileName} {string.Join(' ', start.ArgumentList)}");
        try
        {
            worker.process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            worker.process.Dispose();
            worker.exited.TrySetResult(-1);
            throw new FunctionsHostStartException($"The worker could not be started ({start.FileName}): {e.Message}");
        }

        worker.Id = worker.process.Id;
        // The worker outlives a host that goes away without terminating it (a closed stream does not stop it): at
        // least a normal exit of this process (or a forgotten DisposeAsync in a test run) takes the worker along.
        AppDomain.CurrentDomain.ProcessExit += worker.KillOnExit;
        worker.process.BeginOutputReadLine();
        worker.process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>
    /// The level the host logs a worker's stderr line at (WorkerProcess.ParseErrorMessageAndLog): "warn" anywhere is a
    /// warning; "error", "fail", "severe" or "unhandled exception" an error (and kept for the exit exception); any
    /// other line only information, however bad it reads.
    /// </summary>
    internal static string StdErrLevel(string line) =>
        line.Contains("warn", StringComparison.OrdinalIgnoreCase) ? "Warning"
        : line.Contains("error", StringComparison.OrdinalIgnoreCase)
            || line.Contains("fail", StringComparison.OrdinalIgnoreCase)
            || line.Contains("severe", StringComparison.OrdinalIgnoreCase)
            || line.Contains("unhandled exception", StringComparison.OrdinalIgnoreCase) ? "Error"
        : "Information";

    /// <summary>The exit that follows is asked for (terminate, stop): logged as information, not as an error.</summary>
    public void ExpectExit() => expectingExit = true;

    /// <summary>SIGKILL of the worker and its children (only the process this started).</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone (or never started).
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        process.Dispose();
    }

    private void OnExited()
    {
        // Drains the redirected output first, so the worker's last lines are in Output before anyone is told.
        process.WaitForExit();
        var code = process.ExitCode;
        output.Host(expectingExit ? "Information" : "Error", $"Worker process {Id} exited with code {code}.");
        exited.TrySetResult(code);
    }

    private void KillOnExit(object? sender, EventArgs e) => Kill();

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
}
