using VoiceFunctions.AiFlow;
using System.Diagnostics;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Calls;

/// <summary>The session store against real Azurite, without HTTP: what a load reads, and the replay's writer ids.</summary>
public sealed class SessionStoreTests(Azurite azurite) : IDisposable
{
    private readonly CallParts _parts = new(azurite);

    [Fact]
    public async Task A_second_copy_of_an_already_replayed_step_is_recognised_by_its_writer_id()
    {
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var start = _parts.Flow.Decide(null, CallParts.Event("session_start", id), DateTimeOffset.UtcNow);
        await _parts.Store!.CommitAsync(start, null, TestContext.Current.CancellationToken);

        // The same answered event spooled twice (its kept file outlived the first recovery): two files, one writer id.
        var first = _parts.Spooled(start.Next, id, "said once", eventId: "answered-1", baseKnown: false);
        var second = first with { Id = _parts.Buffer.NewId() };
        await _parts.Store.ApplySpooledAsync(first, TestContext.Current.CancellationToken);
        await _parts.Store.ApplySpooledAsync(second, TestContext.Current.CancellationToken);

        var trace = await _parts.TraceAsync(id);
        Assert.Equal(["said once"], trace.Where(t => t.Kind == TraceKinds.Caller).Select(t => t.Text));
        Assert.Equal("answered-1", trace.Single(t => t.Kind == TraceKinds.Caller).EventId);
        Assert.True(await _parts.Store.IsWrittenByAsync(id, "answered-1", 0, TestContext.Current.CancellationToken));
        Assert.False(await _parts.Store.IsWrittenByAsync(id, "answered-2", 0, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_long_call_s_load_reads_the_rows_after_its_session_row_not_its_whole_trace()
    {
        // 300 turns through the commit path, as the app writes them (a turn is one insert that leaves the row as it was).
        var id = SessionIds.Canonical(CallClient.NewSessionId());
        var step = _parts.Flow.Decide(null, CallParts.Event("session_start", id), DateTimeOffset.UtcNow);
        var etag = await _parts.Store!.CommitAsync(step, null, TestContext.Current.CancellationToken);
        for (var turn = 1; turn <= 300; turn++)
        {
            step = _parts.Flow.Decide(step.Next, CallParts.Speak(id, $"turn {turn}"), DateTimeOffset.UtcNow);
            etag = await _parts.Store.CommitAsync(step, etag, TestContext.Current.CancellationToken) ?? etag;
        }

        var (store, rows) = Counted(_parts.Table!);
        var loaded = await store.LoadAsync(id, TestContext.Current.CancellationToken);

        Assert.Equal(step.Next!.LastSeq, loaded!.State.LastSeq);
        Assert.Equal(300, loaded.State.TurnCount);
        Assert.InRange(rows.Rows, 1, 2 * SessionStore.CheckpointRows + 1); // of 301
        TestContext.Current.SendDiagnosticMessage($"load of a 300-turn call: {rows.Rows} rows in {rows.Requests} requests");
    }

    /// <summary>
    /// The measurement in docs/design.md ("A long call's load"): a 3,000-turn call as the previous code left it (session
    /// row from the start, every turn after it) read by the previous load's query, beside the same call as this code
    /// leaves it (the row checkpointed) read by <see cref="SessionStore.LoadAsync"/>; rows and time, interleaved rounds.
    /// </summary>
    [Fact]
    public async Task Measure_a_3000_turn_call_s_load_before_and_after()
    {
        var before = SessionIds.Canonical(CallClient.NewSessionId());
        var after = SessionIds.Canonical(CallClient.NewSessionId());
        await SeedAsync(before, turns: 3000, checkpointed: false);
        await SeedAsync(after, turns: 3000, checkpointed: true);
        var (store, counted) = Counted(_parts.Table!);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {before} and RowKey ge {SessionTable.SessionRowKey}");

        var times = (Before: new List<double>(), After: new List<double>());
        var rows = (Before: 0L, After: 0L);
        for (var round = 0; round < 11; round++)
        {
            counted.Rows = 0;
            var clock = Stopwatch.StartNew();
            var old = 0;
            await foreach (var _ in counted.Client.QueryAsync<TableEntity>(filter, select: SessionTable.LoadColumns, cancellationToken: TestContext.Current.CancellationToken))
            {
                old++; // the previous LoadAsync: one query over the session row and every trace row
            }

            times.Before.Add(clock.Elapsed.TotalMilliseconds);
            rows.Before = counted.Rows;
            counted.Rows = 0;
            clock.Restart();
            var loaded = await store.LoadAsync(after, TestContext.Current.CancellationToken);
            times.After.Add(clock.Elapsed.TotalMilliseconds);
            rows.After = counted.Rows;
            Assert.Equal(3002, old); // the session row, session_start's row and 3,000 turns
            Assert.Equal(3000, loaded!.State.TurnCount);
        }

        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        Assert.True(rows.After * 10 < rows.Before, $"{rows.After} vs {rows.Before} rows");
        TestContext.Current.SendDiagnosticMessage(
            $"3,000-turn call load: before {rows.Before} rows, median {Median(times.Before):F1} ms; after {rows.After} rows, median {Median(times.After):F1} ms; " +
            $"rows {(double)rows.Before / rows.After:F1}x fewer, time {Median(times.Before) / Median(times.After):F1}x less (11 interleaved rounds, Azurite)");
    }

    /// <summary>A call of caller turns, written in transactions of 100; its session row at seq 2 (before) or at the last checkpoint (after).</summary>
    private async Task SeedAsync(string id, int turns, bool checkpointed)
    {
        var start = _parts.Flow.Decide(null, CallParts.Event("session_start", id), DateTimeOffset.UtcNow);
        var state = start.Next!;
        var rows = new List<TraceEntry>(start.Trace);
        var row = state;
        for (var turn = 1; turn <= turns; turn++)
        {
            var step = _parts.Flow.Decide(state, CallParts.Speak(id, $"turn {turn}: " + new string('w', 200)), DateTimeOffset.UtcNow);
            rows.AddRange(step.Trace);
            if (checkpointed && state.LastSeq / SessionStore.CheckpointRows != step.Next!.LastSeq / SessionStore.CheckpointRows)
            {
                row = step.Next;
            }

            state = step.Next!;
        }

        var entities = new List<TableEntity> { SessionTable.ToEntity(row) };
        entities.AddRange(start.ModeChanges.Select(m => SessionTable.ToEntity(id, m)));
        entities.AddRange(rows.Select(t => SessionTable.ToEntity(id, t)));
        foreach (var batch in entities.Chunk(100))
        {
            await _parts.Table!.SubmitTransactionAsync(batch.Select(e => new TableTransactionAction(TableTransactionActionType.Add, e)), TestContext.Current.CancellationToken);
        }
    }

    private (SessionStore Store, RowCount Rows) Counted(TableClient table)
    {
        var counting = new RowCount();
        var options = new TableClientOptions();
        options.AddPolicy(counting, HttpPipelinePosition.PerCall);
        var client = new TableClient(azurite.ConnectionString, table.Name, options);
        counting.Client = client;
        return (new SessionStore(client), counting);
    }

    /// <summary>Counts the entities the service returns to queries (a real client, instrumented).</summary>
    private sealed class RowCount : HttpPipelineSynchronousPolicy
    {
        public long Rows { get; set; }

        public int Requests { get; private set; }

        public TableClient Client { get; set; } = null!;

        public override void OnReceivedResponse(HttpMessage message)
        {
            if (message.Request.Method != RequestMethod.Get || message.Response.ContentStream is not { CanSeek: true } body)
            {
                return;
            }

            Requests++;
            using var json = JsonDocument.Parse(message.Response.Content.ToMemory());
            Rows += json.RootElement.TryGetProperty("value", out var value) ? value.GetArrayLength() : 1;
        }
    }

    public void Dispose() => _parts.Dispose();
}
