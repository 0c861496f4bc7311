using System.Net;
using System.Net.Sockets;
using Azure;
using Azure.Data.Tables;
using VoiceFunctions.Calls;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// Table Storage's limits at the mapping, and what a storage failure means (issue 15, item 1), against a real
/// Azurite: the rows the mapping builds are accepted whatever they carry; a refused value is a permanent failure
/// (not an outage), an unreachable service a transient one; a quarantined step is stored and readable.
/// </summary>
public sealed class StorageLimitTests(Azurite azurite)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_value_storage_refuses_is_a_permanent_failure_and_an_unreachable_storage_a_transient_one()
    {
        var table = await TableAsync();
        var refused = await Assert.ThrowsAnyAsync<RequestFailedException>(() =>
            table.AddEntityAsync(new TableEntity(Guid.NewGuid().ToString(), "session") { ["AccountId"] = new string('7', 40_000) }));

        Assert.True(StorageFailures.IsPermanent(refused), $"{refused.Status} {refused.ErrorCode}");
        Assert.False(StorageFailures.IsTransient(refused));
        Assert.Equal("400:PropertyValueTooLarge", StorageFailures.Reason(refused));

        var options = new TableClientOptions { Retry = { MaxRetries = 0 } };
        var away = new TableClient(new Uri($"http://127.0.0.1:{UnusedPort()}/devstoreaccount1"), "away", new TableSharedKeyCredential("devstoreaccount1", "a2V5"), options);
        var unreachable = await Assert.ThrowsAnyAsync<Exception>(() => away.AddEntityAsync(new TableEntity("p", "r")));

        Assert.True(StorageFailures.IsTransient(unreachable), unreachable.GetType().Name);
        Assert.False(StorageFailures.IsPermanent(unreachable));
        Assert.True(StorageFailures.IsStorageFailure(unreachable) && StorageFailures.IsStorageFailure(refused));
    }

    [Fact]
    public async Task Every_row_the_mapping_builds_fits_Table_Storage_whatever_it_carries()
    {
        var id = Guid.NewGuid().ToString();
        var huge = new string('x', 100_000);
        var state = new SessionState
        {
            SessionId = id, Persona = "default", Mode = SessionModes.Pipeline, StartedAt = Now, LastSeq = 1,
            AccountId = huge, PhoneNumber = huge, FromPhoneNumber = huge, ToPhoneNumber = huge, Direction = huge, EndReason = huge,
        };
        var turn = new TraceEntry { Seq = 1, At = Now, Kind = TraceKinds.Caller, Mode = SessionModes.Pipeline, Text = new string('y', 2_000_000) + "😀", Detail = huge, Digit = huge };

        var sessionRow = SessionTable.ToEntity(state);
        var traceRow = SessionTable.ToEntity(id, turn);

        foreach (var row in new[] { sessionRow, traceRow })
        {
            Assert.InRange(TableLimits.EntityBytes(row), 0, TableLimits.MaxEntityBytes);
            Assert.All(row.Select(p => p.Value).OfType<string>(), v => Assert.InRange(v.Length, 0, TableLimits.MaxStringChars));
        }

        var table = await TableAsync();
        await table.SubmitTransactionAsync([new(TableTransactionActionType.Add, sessionRow), new(TableTransactionActionType.Add, traceRow)]);
        var record = await ReadWholeAsync(new SessionStore(table), id);

        Assert.NotNull(record);
        Assert.Equal(huge[..TableLimits.MaxStringChars], record.State.AccountId);
        Assert.Equal("account_id:100000 phone_number:100000 from_phone_number:100000 to_phone_number:100000 direction:100000 end_reason:100000", record.State.Shortened);
        var stored = Assert.Single(record.Trace);
        Assert.Equal("digit:100000 detail:100000 text:2000002", stored.Shortened);
        Assert.InRange(stored.Text!.Length, 300_000, 524_288);
        Assert.StartsWith(stored.Text, turn.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_quarantined_step_is_stored_without_the_request_content_and_with_the_reason()
    {
        var id = Guid.NewGuid().ToString();
        var next = new SessionState
        {
            SessionId = id, Persona = "default", Mode = SessionModes.VoiceToVoice, StartedAt = Now, LastSeq = 2, StartCount = 1,
            AccountId = "acct-1", FromPhoneNumber = "+491701234567",
        };
        var step = new CallStep
        {
            Previous = null,
            Next = next,
            Actions = [],
            ModeChanges = [new ModeChange { Seq = 1, At = Now, To = SessionModes.VoiceToVoice, Reason = ModeChangeReasons.SessionStart }],
            Trace = [new TraceEntry { Seq = 2, At = Now, Kind = TraceKinds.SessionStart, Mode = SessionModes.VoiceToVoice, Detail = "sent" }],
        };

        var quarantined = QuarantinedStep.From(step, "400:InvalidInput", Now);
        await new SessionStore(await TableAsync()).CommitAsync(quarantined, null, CancellationToken.None);
        var record = await ReadWholeAsync(new SessionStore(await TableAsync()), id);

        Assert.NotNull(record);
        Assert.Null(record.State.AccountId);
        Assert.Null(record.State.FromPhoneNumber);
        Assert.Equal("account_id:6 from_phone_number:13", record.State.Shortened);
        Assert.Equal(1, record.State.StartCount);
        Assert.Equal(3, record.State.LastSeq);
        Assert.Single(record.ModeHistory);
        Assert.Collection(
            record.Trace,
            start => Assert.Equal((TraceKinds.SessionStart, (string?)null, "detail:4"), (start.Kind, start.Detail, start.Shortened)),
            reason => Assert.Equal((TraceKinds.Quarantined, "400:InvalidInput", 3L), (reason.Kind, reason.Detail, reason.Seq)));
    }

    private async Task<TableClient> TableAsync()
    {
        var table = new TableClient(azurite.ConnectionString, "LimitTests");
        await table.CreateIfNotExistsAsync();
        return table;
    }

    [Fact]
    public async Task A_connection_storage_resets_as_it_is_made_is_a_transient_failure_whatever_the_runtime_throws()
    {
        // A storage front that resets each connection as soon as it is accepted (a partition, a load balancer's RST).
        // On Linux the runtime then fails now with an HttpRequestException, now with a bare SocketException (107,
        // "Transport endpoint is not connected", thrown from HttpConnectionPool.ConnectAsync reading the peer's address
        // after the reset): Azure.Core neither retries nor wraps the latter (its RetryPolicy retries IOException and
        // RequestFailedException only). Whichever arrives, it is an outage — a step failing so must be spooled, not lost.
        await using var front = ResettingFront.Start(partialResponse: null);
        await AssertEveryFailureIsAnOutageAsync(front, retries: 0, tries: 300, table => table.AddEntityAsync(new TableEntity("p", "r")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task A_response_cut_off_by_a_reset_is_a_transient_failure_with_or_without_the_sdk_s_retries(int retries)
    {
        // Storage answers, then the connection is reset before the body is complete. Without retries
        // (SessionStore:MaxRetries=0) Azure.Core throws the bare IOException of the body's read; with them, an
        // AggregateException of the tries. Both are an outage.
        await using var front = ResettingFront.Start("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"value\":[");
        await AssertEveryFailureIsAnOutageAsync(front, retries, tries: 40, async table =>
        {
            await foreach (var _ in table.QueryAsync<TableEntity>("PartitionKey eq 'p'"))
            {
            }
        });
    }

    private static async Task AssertEveryFailureIsAnOutageAsync(ResettingFront front, int retries, int tries, Func<TableClient, Task> operation)
    {
        var options = new TableClientOptions { Retry = { MaxRetries = retries, Delay = TimeSpan.FromMilliseconds(10) } };
        var table = new TableClient(new Uri($"http://127.0.0.1:{front.Port}/devstoreaccount1"), "reset", new TableSharedKeyCredential("devstoreaccount1", "a2V5"), options);
        var seen = new Dictionary<string, int>();
        var unclassified = new List<Exception>();
        for (var i = 0; i < tries; i++)
        {
            var failure = await Assert.ThrowsAnyAsync<Exception>(() => operation(table));
            var kind = failure.GetType().Name + (failure.InnerException is { } inner ? "/" + inner.GetType().Name : string.Empty);
            seen[kind] = seen.GetValueOrDefault(kind) + 1;
            if (!StorageFailures.IsTransient(failure))
            {
                unclassified.Add(failure);
            }
        }

        Assert.True(unclassified.Count == 0, $"{unclassified.Count} of {tries} not an outage: {string.Join(", ", seen.Select(s => $"{s.Key} {s.Value}"))}; first: {unclassified.FirstOrDefault()}");
    }

    /// <summary>A loopback "storage" that resets every connection (RST): at once, or after reading the request and sending <c>partialResponse</c>.</summary>
    private sealed class ResettingFront : IAsyncDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _stop = new();
        private Task _serving = Task.CompletedTask;

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public static ResettingFront Start(string? partialResponse)
        {
            var front = new ResettingFront();
            front._listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            front._listener.Listen(512);
            front._serving = Task.Run(() => front.ServeAsync(partialResponse));
            return front;
        }

        private async Task ServeAsync(string? partialResponse)
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket accepted;
                try
                {
                    accepted = await _listener.AcceptAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    return;
                }

                if (partialResponse is null)
                {
                    Reset(accepted);
                    continue;
                }

                _ = Task.Run(async () =>
                {
                    try
                    {
                        await accepted.ReceiveAsync(new byte[64 * 1024]);
                        await accepted.SendAsync(System.Text.Encoding.ASCII.GetBytes(partialResponse));
                        await Task.Delay(20); // the head and the body's start arrive before the reset
                    }
                    catch (SocketException)
                    {
                    }

                    Reset(accepted);
                });
            }
        }

        private static void Reset(Socket socket)
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Close();
            await _serving;
            _stop.Dispose();
        }
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The whole call as the read-back assembles it: the head and every trace row (one page is enough here).</summary>
    private static async Task<WholeCall?> ReadWholeAsync(SessionStore store, string id)
    {
        var head = await store.ReadHeadAsync(id, CancellationToken.None);
        if (head is null)
        {
            return null;
        }

        var page = await store.ReadTracePageAsync(id, 0, 1000, long.MaxValue, _ => 0, CancellationToken.None);
        Assert.False(page.More);
        return new WholeCall(head.State, head.ModeHistory, page.Rows);
    }

    private sealed record WholeCall(SessionState State, IReadOnlyList<ModeChange> ModeHistory, IReadOnlyList<TraceEntry> Trace);
}
