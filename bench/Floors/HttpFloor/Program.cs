using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

// The bare isolated worker: the same builder calls as src/VoiceFunctions/Program.cs, nothing registered.
var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
await builder.Build().RunAsync().ConfigureAwait(false);
