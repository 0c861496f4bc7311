using Azure.Core;
using Azure.Data.Tables;

// Floor (b): a bare endpoint that does exactly one Table Storage write per request and nothing else
// (no parsing, no validation, no state). Floor:Mode = entity (AddEntity, the default) or batch (an
// entity-group transaction holding that one add, the request shape the handler uses).
var builder = WebApplication.CreateBuilder(args);
if (Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") is { Length: > 0 } port)
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
}

var connectionString = builder.Configuration["Floor:ConnectionString"] ?? throw new InvalidOperationException("Set Floor__ConnectionString.");
var batch = string.Equals(builder.Configuration["Floor:Mode"], "batch", StringComparison.OrdinalIgnoreCase);

// The same client settings as the handler's session store.
var options = new TableClientOptions();
options.Retry.MaxRetries = 2;
options.Retry.Mode = RetryMode.Exponential;
options.Retry.Delay = TimeSpan.FromMilliseconds(50);
options.Retry.MaxDelay = TimeSpan.FromMilliseconds(400);
options.Retry.NetworkTimeout = TimeSpan.FromSeconds(2);
var table = new TableServiceClient(connectionString, options).GetTableClient("FloorWrites");

var app = builder.Build();
await table.CreateIfNotExistsAsync();

app.MapGet("/", () => "Hello World!");
app.MapPost("/api/events", async () =>
{
    var entity = new TableEntity(Guid.NewGuid().ToString(), "session")
    {
        ["Text"] = "I would like to know when my parcel arrives.",
        ["At"] = DateTimeOffset.UtcNow,
    };
    if (batch)
    {
        await table.SubmitTransactionAsync([new TableTransactionAction(TableTransactionActionType.Add, entity)]);
    }
    else
    {
        await table.AddEntityAsync(entity);
    }

    return Results.NoContent();
});

app.Run();
