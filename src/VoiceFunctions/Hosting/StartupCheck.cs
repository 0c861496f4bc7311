using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Hosting;

/// <summary>
/// The one start-up check: every invalid setting, however many, as a plain list on standard error and exit code 1.
/// Under the Functions host a worker's exit is a worker error: the host restarts the worker (3 times in 30 minutes,
/// 10 s apart) and then restarts itself, and it logs a line of the worker's standard error as an error only when the
/// line contains "error", "fail", "severe" or "unhandled exception" (a line with "warn" is a warning), otherwise as
/// information (Azure/azure-functions-host, src/WebJobs.Script/Workers/ProcessManagement/WorkerProcess.cs,
/// ParseErrorMessageAndLog, commit 89dc438d). So every line below says "error". docs/deploy.md: what an operator sees.
/// </summary>
public static class StartupCheck
{
    /// <summary>Runs the worker; invalid configuration ends the process with exit code 1 and a list of what to fix, not a stack trace.</summary>
    public static int RunOrExplain(this IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var failures = Failures(host.Services);
        if (failures.Count > 0)
        {
            // Standard error reaches the Functions host's log (and a terminal); the worker's ILogger is not wired yet.
            foreach (var line in Explain(failures))
            {
                Console.Error.WriteLine(line);
            }

            Console.Error.Flush();

            // Not a return value: started in a Flex Consumption placeholder, FunctionsNetHost loads this assembly
            // into its own process and ignores Main's result, so the process would stay up doing nothing.
            Environment.Exit(1);
            return 1;
        }

        try
        {
            host.Start();
            host.WaitForShutdown(); // stops the host (requests, recordings, telemetry) when the host says so
        }
        catch (OperationCanceledException)
        {
            // The host asked the worker to stop before it had finished starting (scale-in, a deployment): a normal end.
        }

        // Disposal flushes the telemetry providers once more and each waits up to 5 s for a slow ingestion
        // endpoint: within what the host's grace period leaves, or not at all (the exporters' threads are
        // background threads, so the process still ends).
        var budget = host.Services.GetService<ShutdownBudget>();
        var disposing = Task.Run(host.Dispose);
        try
        {
            disposing.Wait(budget?.Remaining ?? TimeSpan.Zero);
        }
        catch (AggregateException)
        {
            // A provider failing while it is disposed at exit changes nothing any more.
        }

        return 0;
    }

    /// <summary>The lines written for <paramref name="failures"/>: a heading and one line per failure, each one containing "error".</summary>
    public static IEnumerable<string> Explain(IReadOnlyCollection<string> failures)
    {
        ArgumentNullException.ThrowIfNull(failures);
        yield return $"VoiceFunctions start-up error: the configuration is invalid ({failures.Count} {(failures.Count == 1 ? "error" : "errors")}); the app exits with code 1 until these settings are fixed.";
        foreach (var failure in failures)
        {
            // One line each: the host reads standard error line by line.
            yield return "VoiceFunctions configuration error: " + failure.ReplaceLineEndings(" ");
        }
    }

    /// <summary>Every failure of the configuration: unresolved secrets, unreadable values, then each section's validation.</summary>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Whatever a validator throws at start-up must become a line of the list, never a crash with a stack trace.")]
    public static List<string> Failures(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);

        // Unresolved secrets first and alone: no other check may see (or try to parse) a reference literal.
        var failures = UnresolvedSecretReferences.Find(services.GetRequiredService<IConfiguration>());
        if (failures.Count > 0)
        {
            return failures;
        }

        foreach (var section in services.GetServices<CheckedSettings>())
        {
            failures.AddRange(section.Check(services));
        }

        if (failures.Count > 0)
        {
            return [.. failures.Distinct(StringComparer.Ordinal)];
        }

        // Anything validated on start that is not a checked section. IStartupValidator throws one
        // OptionsValidationException, or an AggregateException of several: both are lists of failures here.
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
        }
        catch (OptionsValidationException ex)
        {
            failures.AddRange(ex.Failures);
        }
        catch (AggregateException ex)
        {
            foreach (var inner in ex.Flatten().InnerExceptions)
            {
                if (inner is OptionsValidationException validation)
                {
                    failures.AddRange(validation.Failures);
                }
                else
                {
                    failures.Add(inner.Message);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            failures.Add(ex.Message);
        }

        return [.. failures.Distinct(StringComparer.Ordinal)];
    }
}
