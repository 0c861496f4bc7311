using System.Globalization;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Http;

public static class Hosting
{
    /// <summary>
    /// Under the Functions host the handler must listen on the port it is given in
    /// FUNCTIONS_CUSTOMHANDLER_PORT; standalone runs use ASPNETCORE_URLS / launch settings.
    /// </summary>
    public static IWebHostBuilder UseFunctionsCustomHandlerPort(this IWebHostBuilder webHost)
    {
        var port = Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT");
        if (int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is > 0 and < 65536)
        {
            webHost.UseUrls($"http://127.0.0.1:{value}");
        }

        return webHost;
    }

    /// <summary>Runs the app; invalid configuration ends it with exit code 1 and a list of what to fix, not a stack trace.</summary>
    public static int RunOrExplain(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        try
        {
            // Validate before the host starts, so a bad setting is reported once, plainly, and not as a host crash log.
            app.Services.GetService<IStartupValidator>()?.Validate();
        }
        catch (OptionsValidationException ex)
        {
            Console.Error.WriteLine("VoiceFunctions cannot start: its configuration is invalid.");
            foreach (var failure in ex.Failures)
            {
                Console.Error.WriteLine($"  - {failure}");
            }

            return 1;
        }

        app.Run();
        return 0;
    }
}
