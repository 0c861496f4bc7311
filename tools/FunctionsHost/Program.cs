using System.Runtime.InteropServices;
using System.Text.Json;

namespace VoiceFunctions.FunctionsHost;

/// <summary><c>dotnet FunctionsHost.dll &lt;appFolder&gt; &lt;port&gt;</c>: serves a published isolated-worker app, like <c>func start</c>.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length != 2 || !int.TryParse(args[1], out var port) || port is < 0 or > 65535)
        {
            await Console.Error.WriteLineAsync("usage: FunctionsHost <published app folder> <port>").ConfigureAwait(false);
            return 2;
        }

        var folder = Path.GetFullPath(args[0]);
        var options = new FunctionsHostOptions
        {
            AppFolder = folder,
            Port = port,
            Settings = LocalSettings(folder),
            InheritEnvironment = true,
            FunctionKey = NullIfEmpty(Environment.GetEnvironmentVariable("FUNCTIONS_HOST_FUNCTION_KEY")),
            MasterKey = NullIfEmpty(Environment.GetEnvironmentVariable("FUNCTIONS_HOST_MASTER_KEY")),
            WorkerRestartInterval = double.TryParse(
                Environment.GetEnvironmentVariable("FUNCTIONS_HOST_WORKER_RESTART_SECONDS"),
                System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture,
                out var seconds) && seconds >= 0
                ? TimeSpan.FromSeconds(seconds)
                : TimeSpan.FromSeconds(10),
            Log = Console.WriteLine,
        };

        var signalled = new TaskCompletionSource<PosixSignal>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var startCancelled = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            // Handled here: the worker is told to stop and given its grace period.
            context.Cancel = true;
            signalled.TrySetResult(context.Signal);
            startCancelled.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        FunctionsHostEmulator emulator;
        try
        {
            emulator = await FunctionsHostEmulator.StartAsync(options, startCancelled.Token).ConfigureAwait(false);
        }
        catch (FunctionsHostStartException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException) when (signalled.Task.IsCompleted)
        {
            return 0;
        }

        await using (emulator.ConfigureAwait(false))
        {
            Console.WriteLine($"Ready: {emulator.Functions.Count} function(s) on {emulator.BaseAddress} (Ctrl+C or SIGTERM to stop).");
            // A crashed worker is restarted (the host's policy); the CLI ends when the host would recycle itself.
            var first = await Task.WhenAny(signalled.Task, emulator.HostStopped).ConfigureAwait(false);
            if (first == emulator.HostStopped)
            {
                // A terminal's Ctrl+C reaches the worker too (same process group): give our own handler a moment.
                await Task.WhenAny(signalled.Task, Task.Delay(500)).ConfigureAwait(false);
            }

            if (!signalled.Task.IsCompleted)
            {
                var code = emulator.WorkerExitCode is { } c && c != 0 ? c : 1;
                await Console.Error.WriteLineAsync($"{emulator.HostStopReason} (last worker exit code {emulator.WorkerExitCode}). Its last output:").ConfigureAwait(false);
                foreach (var line in emulator.Output.Split('\n').TakeLast(30))
                {
                    await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
                }

                await emulator.StopAsync().ConfigureAwait(false);
                return code;
            }

            Console.WriteLine($"{signalled.Task.Result}: stopping.");
            await emulator.StopAsync().ConfigureAwait(false);
            return 0;
        }
    }

    /// <summary>local.settings.json "Values"; a variable already in the environment wins, as with Core Tools.</summary>
    private static Dictionary<string, string?> LocalSettings(string folder)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var path = Path.Combine(folder, "local.settings.json");
        if (!File.Exists(path))
        {
            return settings;
        }

        using var document = JsonDocument.Parse(
            File.ReadAllText(path),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (document.RootElement.TryGetProperty("Values", out var values) && values.ValueKind == JsonValueKind.Object)
        {
            foreach (var value in values.EnumerateObject())
            {
                var name = value.Name.Replace(":", "__", StringComparison.Ordinal);
                if (Environment.GetEnvironmentVariable(name) is null)
                {
                    settings[value.Name] = value.Value.ValueKind == JsonValueKind.String ? value.Value.GetString() : value.Value.GetRawText();
                }
            }
        }

        return settings;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
