using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace VoiceFunctions.Bench.Floors;

/// <summary>POST api/events → 204, doing nothing (the body is not read, as on the old floor).</summary>
public static class EventsFunction
{
    [Function("events")]
    public static IResult Run([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "events")] HttpRequest request) =>
        Results.NoContent();
}
