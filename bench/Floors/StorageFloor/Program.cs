using Azure.Core;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using VoiceFunctions.Bench.Floors;

// The storage floor: the bare isolated worker plus one Table Storage write per request and nothing else (no
// parsing, no validation, no state). Floor:Mode = entity (AddEntity, the default) or batch (an entity-group
// transaction holding that one add).
var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();

var connectionString = builder.Configuration["Floor:ConnectionString"] ?? throw new InvalidOperationException("Set Floor__ConnectionString.");
var batch = string.Equals(builder.Configuration["Floor:Mode"], "batch", StringComparison.OrdinalIgnoreCase);

// The same client settings as the app's session store.
var options = new TableClientOptions();
options.Retry.MaxRetries = 2;
options.Retry.Mode = RetryMode.Exponential;
options.Retry.Delay = TimeSpan.FromMilliseconds(50);
options.Retry.MaxDelay = TimeSpan.FromMilliseconds(400);
options.Retry.NetworkTimeout = TimeSpan.FromSeconds(2);
var table = new TableServiceClient(connectionString, options).GetTableClient("FloorWrites");
builder.Services.AddSingleton(new FloorTable(table, batch));

var host = builder.Build();
await table.CreateIfNotExistsAsync().ConfigureAwait(false);
await host.RunAsync().ConfigureAwait(false);
