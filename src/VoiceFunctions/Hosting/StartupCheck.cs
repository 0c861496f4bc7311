using Microsoft.Extensions.Options;

namespace VoiceFunctions.Hosting;

public static class StartupCheck
{
    /// <summary>Runs the worker; invalid configuration ends it with exit code 1 and a list of what to fix, not a stack trace.</summary>
    public static int RunOrExplain(this IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        try
        {
            // Validate before the host starts, so a bad setting is reported once, plainly, and not as a host crash log.
            host.Services.GetService<IStartupValidator>()?.Validate();
        }
        catch (OptionsValidationException ex)
        {
            // Standard error reaches the Functions host's log (and a terminal); the worker's ILogger may not be wired yet.
            Console.Error.WriteLine("VoiceFunctions cannot start: its configuration is invalid.");
            foreach (var failure in ex.Failures)
            {
                Console.Error.WriteLine($"  - {failure}");
            }

            return 1;
        }

        host.Run();
        return 0;
    }
}
