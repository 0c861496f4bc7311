using Azure.Data.Tables;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace VoiceFunctions.Bench.Floors;

/// <summary>The table the floor writes to, and whether as a plain insert or a 1-operation transaction.</summary>
public sealed record FloorTable(TableClient Table, bool Batch);

/// <summary>POST api/events → one write of a small entity into a fresh partition → 204.</summary>
public sealed class EventsFunction(FloorTable floor)
{
    [Function("events")]
    public async Task<IResult> RunAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "events")] HttpRequest request)
    {
        var entity = new TableEntity(Guid.NewGuid().ToString(), "session")
        {
            ["Text"] = "I would like to know when my parcel arrives.",
            ["At"] = DateTimeOffset.UtcNow,
        };
        if (floor.Batch)
        {
            await floor.Table.SubmitTransactionAsync([new TableTransactionAction(TableTransactionActionType.Add, entity)]).ConfigureAwait(false);
        }
        else
        {
            await floor.Table.AddEntityAsync(entity).ConfigureAwait(false);
        }

        return Results.NoContent();
    }
}
