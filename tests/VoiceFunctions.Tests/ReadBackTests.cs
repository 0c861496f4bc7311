using System.Text;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using VoiceFunctions.Chat;
using VoiceFunctions.Functions;
using VoiceFunctions.Sessions;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>An app on a table of its own, so long calls can be seeded straight into Table Storage.</summary>
public sealed class ReadBackApp : IAsyncDisposable
{
    public ReadBackApp(Azurite azurite)
    {
        Azurite = azurite;
        TableName = "ReadBack" + Guid.NewGuid().ToString("N")[..8];
        App = new WebhookApp(azurite, new Dictionary<string, string?> { ["SessionStore:TableName"] = TableName });
        Table = new TableClient(azurite.ConnectionString, TableName);
    }

    public Azurite Azurite { get; }

    public string TableName { get; }

    public WebhookApp App { get; }

    public TableClient Table { get; }

    /// <summary>The app's store on the same table, in the test process, its storage responses counted.</summary>
    public (SessionStore Store, ResponseBytes Read) CountedStore()
    {
        var counting = new ResponseBytes();
        var options = new TableClientOptions();
        options.AddPolicy(counting, HttpPipelinePosition.PerCall);
        return (new SessionStore(new TableClient(Azurite.ConnectionString, TableName, options)), counting);
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync().ConfigureAwait(false);
}

/// <summary>Counts the bytes of storage responses (a real client, instrumented).</summary>
public sealed class ResponseBytes : HttpPipelineSynchronousPolicy
{
    public long Bytes { get; set; }

    public override void OnReceivedResponse(HttpMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Bytes += message.Response.ContentStream is { CanSeek: true } body ? body.Length : message.Response.Headers.ContentLength ?? 0; // buffered by now
    }
}

/// <summary>
/// Reading a long call back (issue 15, item 9): `GET /api/sessions/{id}` pages the trace by a row limit and a byte
/// budget with a continuation token, and neither the read-back nor the chat model's history read holds a whole call.
/// </summary>
public sealed class ReadBackTests(ReadBackApp fixture) : IClassFixture<ReadBackApp>
{
    private readonly CallClient _calls = fixture.App.Calls();

    [Fact]
    public async Task A_long_call_reads_back_page_by_page_in_order_with_no_gaps_or_repeats()
    {
        var id = CallClient.NewSessionId();
        var seeded = await SeedAsync(fixture.Table, id, rows: 3000, text: seq => $"turn {seq}: {new string('x', (int)(seq % 50))}");

        var pages = await ReadPagesAsync(id);

        Assert.True(pages.Count >= 3000 / SessionPaging.DefaultLimit, $"{pages.Count} pages");
        Assert.All(pages, page => Assert.InRange(page.GetProperty("trace").GetArrayLength(), 1, SessionPaging.DefaultLimit));
        var rows = pages.SelectMany(p => p.GetProperty("trace").EnumerateArray()).ToList();
        Assert.Equal(seeded.Select(t => t.Seq), rows.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(seeded.Select(t => t.Text), rows.Select(r => r.GetProperty("text").GetString()));

        // The first page is the session; later pages are its trace only.
        var first = pages[0];
        Assert.Equal(id, first.GetProperty("session_id").GetString());
        Assert.Equal(2, first.GetProperty("mode_history").GetArrayLength());
        Assert.Equal(seeded.Count(t => t.Kind == TraceKinds.Caller), first.GetProperty("turn_count").GetInt32()); // the row's count lags: the rest is added up
        Assert.All(pages.Skip(1), page =>
        {
            Assert.Equal(id, page.GetProperty("session_id").GetString());
            Assert.False(page.TryGetProperty("mode_history", out _));
        });
        Assert.False(pages[^1].TryGetProperty("next", out _));

        // A smaller limit pages the same rows; the test client follows `next` to the whole call.
        var small = await ReadPagesAsync(id, limit: 7, maxPages: 3);
        Assert.All(small, page => Assert.Equal(7, page.GetProperty("trace").GetArrayLength()));
        Assert.Equal(seeded.Take(21).Select(t => t.Seq), small.SelectMany(p => p.GetProperty("trace").EnumerateArray()).Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(3000, (await _calls.GetSessionAsync(id)).GetProperty("trace").GetArrayLength());
    }

    [Fact]
    public async Task A_page_stops_at_the_byte_budget_and_a_row_larger_than_the_budget_comes_alone()
    {
        var id = CallClient.NewSessionId();
        const long huge = 41;

        // 30 KB rows: four fit in a page's 128 KiB, far fewer than the 200-row limit. Row 41 alone is ~300 KB as JSON
        // (control characters are sent escaped, six bytes each).
        var seeded = await SeedAsync(fixture.Table, id, rows: 80, text: seq => seq == huge
            ? new string('\u0001', 50_000)
            : $"{seq}:" + new string((char)('a' + (seq % 26)), 30_000));

        var pages = await ReadPagesAsync(id);

        var rows = pages.SelectMany(p => p.GetProperty("trace").EnumerateArray()).ToList();
        Assert.Equal(seeded.Select(t => t.Seq), rows.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(seeded.Select(t => t.Text), rows.Select(r => r.GetProperty("text").GetString()));
        foreach (var page in pages)
        {
            var trace = page.GetProperty("trace");
            var bytes = Encoding.UTF8.GetByteCount(trace.GetRawText());
            Assert.True(trace.GetArrayLength() == 1 || bytes <= SessionPaging.MaxTraceBytes, $"a page of {trace.GetArrayLength()} rows has {bytes} bytes of trace");
        }

        var alone = Assert.Single(pages, p => p.GetProperty("trace").EnumerateArray().Any(r => r.GetProperty("seq").GetInt64() == huge));
        Assert.Equal(1, alone.GetProperty("trace").GetArrayLength());
        Assert.True(pages.Count >= 80 / 4, $"{pages.Count} pages");
    }

    public static TheoryData<string> BadLimits => ["0", "-1", "1001", "abc", "", "1.5", "10%20", "200&limit=100", "99999999999999999999", "+5", "%C2%B2", "5%00", " 5"];

    [Theory]
    [MemberData(nameof(BadLimits))]
    public async Task A_bad_limit_is_a_400_problem(string limit)
    {
        var id = CallClient.NewSessionId();
        await _calls.StartAsync(id);

        using var response = await _calls.GetSessionResponseAsync(id, query: "?limit=" + limit);

        await ProblemAssert.IsProblemAsync(response, 400, "urn:voicefunctions:problem:invalid-page-limit", "limit");
    }

    [Fact]
    public async Task A_continuation_token_not_issued_by_the_endpoint_is_a_400_problem_and_an_unknown_call_stays_404()
    {
        var id = CallClient.NewSessionId();
        await SeedAsync(fixture.Table, id, rows: 5, text: seq => $"row {seq}");
        var next = (await _calls.GetSessionPageAsync(id, limit: 2)).GetProperty("next").GetString()!;

        string[] bad =
        [
            "", "garbage!", "MTIz", next + "A", next[..^2], Convert.ToBase64String(Encoding.ASCII.GetBytes("v1:trace-after:-5")),
            Base64Url("v1:trace-after:"), Base64Url("v1:trace-after:12345678901"), Base64Url("v2:trace-after:2"), Base64Url("v1:trace-after:2 "),
            Base64Url("v1:trace-after:+2"), Base64Url("v1:trace-after:2\0"), new string('A', 200),
        ];
        foreach (var token in bad)
        {
            using var response = await _calls.GetSessionResponseAsync(id, query: "?continuation=" + Uri.EscapeDataString(token));
            await ProblemAssert.IsProblemAsync(response, 400, "urn:voicefunctions:problem:invalid-continuation", "continuation");
        }

        using (var twice = await _calls.GetSessionResponseAsync(id, query: $"?continuation={next}&continuation={next}"))
        {
            await ProblemAssert.IsProblemAsync(twice, 400, "urn:voicefunctions:problem:invalid-continuation");
        }

        // The token is opaque but its page is the rows after the previous page.
        var second = await _calls.GetSessionPageAsync(id, limit: 2, continuation: next);
        Assert.Equal([5L, 6L], second.GetProperty("trace").EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));

        // Unknown calls: 404 as before, with or without a token; a bad id is still checked first.
        var unknown = CallClient.NewSessionId();
        using (var notFound = await _calls.GetSessionResponseAsync(unknown))
        {
            await ProblemAssert.IsProblemAsync(notFound, 404, "urn:voicefunctions:problem:session-not-found");
        }

        using (var notFoundPage = await _calls.GetSessionResponseAsync(unknown, query: "?continuation=" + next))
        {
            await ProblemAssert.IsProblemAsync(notFoundPage, 404, "urn:voicefunctions:problem:session-not-found");
        }

        using (var badId = await _calls.GetSessionResponseAsync("not-a-uuid", query: "?limit=0"))
        {
            await ProblemAssert.IsProblemAsync(badId, 400, "urn:voicefunctions:problem:invalid-session-id");
        }

        static string Base64Url(string text) => System.Buffers.Text.Base64Url.EncodeToString(Encoding.ASCII.GetBytes(text));
    }

    [Fact]
    public async Task The_chat_history_of_a_long_call_is_read_from_its_end_and_equals_the_history_of_the_whole_trace()
    {
        var id = CallClient.NewSessionId();
        var seeded = await SeedAsync(fixture.Table, id, rows: 3000, text: seq => $"line {seq}", conversation: true);
        var (store, read) = fixture.CountedStore();
        var whole = await store.ReadTraceRangeAsync(id, 0, 9_999_999_999, TestContext.Current.CancellationToken);
        Assert.Equal(seeded.Count, whole.Count);
        var wholeBytes = read.Bytes;

        // Turns near the end, an early one, and one after a long run of keys (older rows must be read to fill its history).
        foreach (var (turn, maxRows, maxChars) in new[] { (3000L, 20, 4000), (3000L, 200, 1_000_000), (1602L, 6, 300), (902L, 20, 4000) })
        {
            read.Bytes = 0;
            var history = await ConversationHistory.ReadAsync(store, id, turn, $"line {turn}", maxRows, maxChars, TestContext.Current.CancellationToken);

            var expected = Conversation.From(seeded, turn, $"line {turn}", maxRows, maxChars);
            Assert.Equal(expected.Select(m => (m.Role, m.Text)), Conversation.From(history, turn, $"line {turn}", maxRows, maxChars).Select(m => (m.Role, m.Text)));
            Assert.True(history.Count < seeded.Count / 2 && read.Bytes < wholeBytes / 2, $"turn {turn}: {history.Count} of {seeded.Count} rows, {read.Bytes} of {wholeBytes} bytes read");
            TestContext.Current.SendDiagnosticMessage($"history of turn {turn} ({maxRows} messages): {history.Count} of {seeded.Count} rows, {100.0 * read.Bytes / wholeBytes:F1}% of the call's bytes read");
        }
    }

    /// <summary>What four concurrent whole reads of a 6 MB call may add to the worker's RSS at their peak (read as one document: ~170 MB).</summary>
    private const long ConcurrentReadRssBound = 64L * 1024 * 1024;

    [Fact]
    public async Task Four_concurrent_reads_of_a_long_call_stay_within_a_bounded_memory_peak()
    {
        // A worker of its own, so its RSS is this test's; the call is like the issue's: 3,000 rows, ~6 MB as one document.
        var table = "ReadBackRss" + Guid.NewGuid().ToString("N")[..8];
        await using var app = new WebhookApp(fixture.Azurite, new Dictionary<string, string?> { ["SessionStore:TableName"] = table, ["Logging:LogLevel:Default"] = "Warning" });
        using var calls = app.Calls();
        var id = CallClient.NewSessionId();
        await SeedAsync(new TableClient(fixture.Azurite.ConnectionString, table), id, rows: 3000, text: seq => $"{seq} " + new string('w', 2_000));
        await calls.GetSessionAsync(id); // one read alone first: JIT, pools and the GC's budgets warm

        var baseline = app.WorkerRssBytes;
        var peak = baseline;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, app.WorkerRssBytes);
                await Task.Delay(5, CancellationToken.None);
            }
        }, CancellationToken.None);
        long documentBytes = 0;
        for (var round = 0; round < 2; round++)
        {
            var reads = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => calls.GetSessionAsync(id)));
            Assert.All(reads, r => Assert.Equal(3000, r.GetProperty("trace").GetArrayLength()));
            documentBytes = Encoding.UTF8.GetByteCount(reads[0].GetRawText());
        }

        await sampling.CancelAsync();
        await sampler;
        peak = Math.Max(peak, app.WorkerRssBytes);
        var growth = peak - baseline;
        TestContext.Current.SendDiagnosticMessage(
            $"four concurrent reads of a {documentBytes / 1048576.0:F1} MB call: RSS {baseline / 1048576} -> peak {peak / 1048576} MB (+{growth / 1048576.0:F0} MB, {(double)growth / documentBytes:F1}x the document)");
        Assert.True(growth < ConcurrentReadRssBound, $"RSS grew by {growth / 1048576} MB reading a {documentBytes / 1048576} MB call four times at once");
    }

    /// <summary>Reads the call page by page, following `next`, and checks each page's shape.</summary>
    private async Task<List<JsonElement>> ReadPagesAsync(string id, int? limit = null, int maxPages = int.MaxValue)
    {
        var pages = new List<JsonElement>();
        string? next = null;
        do
        {
            var page = await _calls.GetSessionPageAsync(id, limit, next);
            pages.Add(page);
            next = page.TryGetProperty("next", out var token) ? token.GetString() : null;
            Assert.True(pages.Count <= 10_000, "the pages do not end");
        }
        while (next is not null && pages.Count < maxPages);

        return pages;
    }

    /// <summary>
    /// Writes a call straight into the app's table, as the app lays it out: a session row whose counters lag (as
    /// after turns written without rewriting it), two mode rows and <paramref name="rows"/> trace rows numbered
    /// after them. <paramref name="conversation"/>: caller and model rows, with a long run of keys from 1000 to 1600.
    /// </summary>
    private static async Task<IReadOnlyList<TraceEntry>> SeedAsync(TableClient table, string id, int rows, Func<long, string> text, bool conversation = false)
    {
        await table.CreateIfNotExistsAsync();
        var at = DateTimeOffset.UtcNow.AddMinutes(-30);
        var state = new SessionState
        {
            SessionId = id, AccountId = "seeded", Persona = "default", Mode = SessionModes.Pipeline, StartedAt = at, TurnCount = 1, StartCount = 1, LastSeq = 4,
        };
        var modes = new[]
        {
            new ModeChange { Seq = 1, At = at, From = null, To = SessionModes.VoiceToVoice, Reason = ModeChangeReasons.SessionStart },
            new ModeChange { Seq = 3, At = at, From = SessionModes.VoiceToVoice, To = SessionModes.Pipeline, Reason = ModeChangeReasons.AccessGate },
        };
        var trace = new List<TraceEntry>(rows);
        for (long i = 0, seq = 2; i < rows; i++, seq = seq == 2 ? 4 : seq + 1)
        {
            var kind = seq == 2 ? TraceKinds.SessionStart
                : conversation && seq is > 1000 and < 1600 ? TraceKinds.Dtmf
                : seq % 2 == 0 ? TraceKinds.Caller
                : conversation ? TraceKinds.AssistantReply
                : TraceKinds.Assistant;
            trace.Add(new TraceEntry
            {
                Seq = seq, At = at.AddMilliseconds(seq), Kind = kind, Mode = SessionModes.Pipeline, Text = kind == TraceKinds.Dtmf ? null : text(seq),
                Digit = kind == TraceKinds.Dtmf ? "5" : null, Detail = kind == TraceKinds.AssistantReply ? ReplySource.Model : null,
            });
        }

        // The session row and the first rows as the app's first step writes them; the rest as turns, a hundred per transaction.
        var entities = new List<TableEntity> { SessionTable.ToEntity(state) };
        entities.AddRange(modes.Select(m => SessionTable.ToEntity(id, m)));
        entities.AddRange(trace.Select(t => SessionTable.ToEntity(id, t)));
        var batch = new List<TableTransactionAction>();
        var chars = 0;
        foreach (var entity in entities)
        {
            var size = ((IDictionary<string, object>)entity).Values.Sum(v => v is string text ? text.Length : 8);
            if (batch.Count == 100 || (batch.Count > 0 && chars + size > 500_000)) // a transaction carries at most 100 entities and 4 MiB
            {
                await table.SubmitTransactionAsync(batch);
                batch.Clear();
                chars = 0;
            }

            batch.Add(new TableTransactionAction(TableTransactionActionType.Add, entity));
            chars += size;
        }

        await table.SubmitTransactionAsync(batch);

        return trace;
    }
}
