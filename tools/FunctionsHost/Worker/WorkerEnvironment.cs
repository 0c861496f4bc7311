namespace VoiceFunctions.FunctionsHost;

/// <summary>The worker's environment: essentials or everything, the app settings, and what the host always sets.</summary>
internal static class WorkerEnvironment
{
    // What a process needs to run at all (find dotnet, a home and a temp folder) without carrying the caller's
    // configuration into the app under test.
    private static readonly HashSet<string> Essentials = new(StringComparer.OrdinalIgnoreCase)
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TMP", "TEMP", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_RUNTIME_DIR",
        "SYSTEMROOT", "WINDIR", "COMSPEC", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA", "PROGRAMFILES",
    };

    public static void Apply(IDictionary<string, string?> environment, FunctionsHostOptions options, string appFolder)
    {
        if (!options.InheritEnvironment)
        {
            foreach (var name in environment.Keys.ToList())
            {
                if (!Essentials.Contains(name) && !name.StartsWith("DOTNET_", StringComparison.OrdinalIgnoreCase))
                {
                    environment.Remove(name);
                }
            }
        }

        foreach (var (key, value) in options.Settings)
        {
            // Environment variables cannot hold ":" everywhere; .NET configuration reads "__" as the separator.
            var name = key.Replace(":", "__", StringComparison.Ordinal);
            if (value is null)
            {
                environment.Remove(name);
            }
            else
            {
                environment[name] = value;
            }
        }

        // The ASP.NET Core integration reads host.json (routePrefix) from FUNCTIONS_APPLICATION_DIRECTORY; without it
        // the first HTTP request fails with "Cannot determine script root directory".
        environment["FUNCTIONS_WORKER_DIRECTORY"] = appFolder;
        environment["FUNCTIONS_APPLICATION_DIRECTORY"] = appFolder;
        if (string.IsNullOrEmpty(Get(environment, "FUNCTIONS_WORKER_RUNTIME")))
        {
            environment["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated";
        }

        if (string.IsNullOrEmpty(Get(environment, "AZURE_FUNCTIONS_ENVIRONMENT")))
        {
            environment["AZURE_FUNCTIONS_ENVIRONMENT"] = "Development";
        }
    }

    private static string? Get(IDictionary<string, string?> environment, string name) =>
        environment.TryGetValue(name, out var value) ? value : null;
}
