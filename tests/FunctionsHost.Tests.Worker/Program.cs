using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

// Lets a test make the worker fail before it ever dials the host, the way a misconfigured app does.
var failure = Environment.GetEnvironmentVariable("TestWorkerFailAtStart");
if (!string.IsNullOrEmpty(failure))
{
    // Two lines: the host logs a stderr line as an error only for some words (WorkerProcess.ParseErrorMessageAndLog).
    await Console.Error.WriteLineAsync($"TestWorker refuses to start: {failure}").ConfigureAwait(false);
    await Console.Error.WriteLineAsync("TestWorker start-up failed").ConfigureAwait(false);
    return 1;
}

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
await builder.Build().RunAsync().ConfigureAwait(false);
return 0;
