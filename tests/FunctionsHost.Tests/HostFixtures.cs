namespace VoiceFunctions.FunctionsHost.Tests;

/// <summary>One emulator without keys, timers off (they are fired on demand), shared by a test class.</summary>
public sealed class KeysOffHost : IAsyncLifetime
{
    public string MarkerFolder { get; } = TestWorker.NewTempFolder();

    public FunctionsHostEmulator Host { get; private set; } = null!;

    public const string ShellOnlyVariable = "FUNCTIONSHOST_TESTS_SHELL_ONLY";

    public async ValueTask InitializeAsync()
    {
        // In this process's environment only: InheritEnvironment = false must keep it from the worker.
        Environment.SetEnvironmentVariable(ShellOnlyVariable, "leaked");
        Host = await TestWorker.StartAsync(
            markerFolder: MarkerFolder,
            schedule: "*/5 * * * * *",
            extraSettings: new() { ["Section:Key"] = "nested value", ["HOME"] = null });
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>One emulator with a function key and a master key, timers off.</summary>
public sealed class KeysOnHost : IAsyncLifetime
{
    public const string FunctionKey = "function-key-for-tests";
    public const string MasterKey = "master-key-for-tests";

    public string MarkerFolder { get; } = TestWorker.NewTempFolder();

    public FunctionsHostEmulator Host { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Host = await TestWorker.StartAsync(markerFolder: MarkerFolder, functionKey: FunctionKey, masterKey: MasterKey);

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>A copy of the app with an empty route prefix and a 2 s functionTimeout, and the timer firing every 2 s.</summary>
public sealed class TimerHost : IAsyncLifetime
{
    public string MarkerFolder { get; } = TestWorker.NewTempFolder();

    public FunctionsHostEmulator Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var copy = TestWorker.NewTempFolder();
        foreach (var file in Directory.EnumerateFiles(await TestWorker.FolderAsync()))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        // The worker reads the same host.json (FUNCTIONS_APPLICATION_DIRECTORY), so both sides drop the prefix.
        File.WriteAllText(
            Path.Combine(copy, "host.json"),
            """{ "version": "2.0", "functionTimeout": "00:00:02", "extensions": { "http": { "routePrefix": "" } } }""");
        Host = await TestWorker.StartAsync(markerFolder: MarkerFolder, schedule: "*/2 * * * * *", timers: true, appFolder: copy);
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}
