using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>Storage round trips per event, counted by the Table client's own pipeline (not by reasoning).</summary>
public sealed class RoundTripTests(Azurite azurite) : IAsyncDisposable
{
    private readonly WebhookApp _app = new(azurite, new Dictionary<string, string?> { ["Diagnostics:StorageRoundTripsHeader"] = "true" });

    [Fact]
    public async Task A_known_session_costs_one_round_trip_per_event_and_a_new_one_too()
    {
        using var calls = _app.Calls();
        await WarmUpAsync(calls);
        var id = CallClient.NewSessionId();

        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("session_start", id)));
        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "hello" })));
        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "a real person please" })));
        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("session_start", id)));
        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("session_end", id)));
        Assert.Equal(0, await RoundTripsAsync(calls, CallClient.Event("some_future_event", id)));
    }

    [Fact]
    public async Task A_session_unknown_to_this_instance_is_read_once_then_cached()
    {
        using var calls = _app.Calls();
        await WarmUpAsync(calls);
        var id = CallClient.NewSessionId();

        Assert.Equal(2, await RoundTripsAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "first" })));
        Assert.Equal(1, await RoundTripsAsync(calls, CallClient.Event("user_speak", id, fields: new JsonObject { ["text"] = "second" })));
    }

    /// <summary>Steady state: the table exists (a read creates it if start-up has not yet), so no creation is counted.</summary>
    private static async Task WarmUpAsync(CallClient calls)
    {
        using var response = await calls.GetSessionResponseAsync(CallClient.NewSessionId());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
    }

    private static async Task<int> RoundTripsAsync(CallClient calls, JsonNode evt)
    {
        using var response = await calls.PostAsync(evt);
        Assert.True(response.IsSuccessStatusCode);
        return int.Parse(Assert.Single(response.Headers.GetValues("X-Storage-Round-Trips")), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
