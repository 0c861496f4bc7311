using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection;

namespace VoiceFunctions.Hosting;

public static class StartupCheck
{
    /// <summary>Runs the worker; invalid configuration ends it with exit code 1 and a list of what to fix, not a stack trace.</summary>
    public static int RunOrExplain(this IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Unresolved secrets first: no other check may see (or try to parse) a reference literal.
        var failures = UnresolvedSecretReferences.Find(host.Services.GetRequiredService<IConfiguration>());
        if (failures.Count == 0)
        {
            try
            {
                // Validate before the worker connects to the host, so a bad setting is reported once, plainly.
                host.Services.GetService<IStartupValidator>()?.Validate();
            }
            catch (OptionsValidationException ex)
            {
                failures = [.. ex.Failures];
            }
        }

        if (failures.Count > 0)
        {
            // Standard error reaches the Functions host's log (and a terminal); the worker's ILogger may not be wired yet.
            Console.Error.WriteLine("VoiceFunctions cannot start: its configuration is invalid.");
            foreach (var failure in failures)
            {
                Console.Error.WriteLine($"  - {failure}");
            }

            return 1;
        }

        try
        {
            host.Run();
        }
        catch (OperationCanceledException)
        {
            // The host asked the worker to stop before it had finished starting (scale-in, a deployment): a normal end.
        }

        return 0;
    }
}
