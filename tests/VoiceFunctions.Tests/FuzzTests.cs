using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// A bounded, deterministic fuzz run against the published worker under the host emulator (docs/reliability.md, "Bad
/// input and abuse"): transport mutations over raw TCP and body mutations of the real event fixtures. For every case:
/// never a 5xx, every 4xx a problem+json (the only empty 4xx are Kestrel's own parser rejections, sent before any code
/// of the host or the app runs, with Connection: close), an answer within <see cref="AnswerBound"/> (a body the server
/// can only wait for: within <see cref="StallBound"/>), nothing stored for a refused request, and the app still answering
/// a normal call every <see cref="HealthEvery"/> cases. The seed is fixed and printed, so a failure replays exactly.
/// </summary>
public sealed class FuzzTests(DefaultApp app) : IClassFixture<DefaultApp>
{
    public const int Seed = 15_2026;
    public const int TransportCases = 500;
    public const int BodyCases = 2000;
    private const int HealthEvery = 100;

    /// <summary>Raw connections at once: most transport cases are quick, the stalled ones mostly wait for the idle timeout.</summary>
    private const int TransportParallel = 8;

    private const int BodyParallel = 4;
    private const string Placeholder = "550e8400-e29b-41d4-a716-446655440000";

    /// <summary>Anything the server can judge from what it has: answered (or, for a half-closed connection, closed) within this.</summary>
    private static readonly TimeSpan AnswerBound = TimeSpan.FromSeconds(3);

    /// <summary>A body that stops arriving on an open connection: the emulator's 2 s idle timeout, plus slack for this machine.</summary>
    private static readonly TimeSpan StallBound = TimeSpan.FromSeconds(5);

    private readonly CallClient _calls = app.Calls();

    private static readonly byte[][] Fixtures = Directory
        .GetFiles(Path.Combine(AppContext.BaseDirectory, "fixtures", "events"), "*.json")
        .Order(StringComparer.Ordinal)
        .Select(File.ReadAllBytes)
        .ToArray();

    [Fact]
    public async Task Transport_mutations_get_a_quick_4xx_problem_or_their_answer_and_never_a_5xx()
    {
        var random = new Random(Seed);
        var cases = Enumerable.Range(0, TransportCases).Select(i => TransportCase.Create(random, i)).ToList();
        TestContext.Current.SendDiagnosticMessage($"fuzz (transport): seed {Seed}, {cases.Count} cases");
        var report = new Report("transport");
        var refused = new System.Collections.Concurrent.ConcurrentBag<string>();
        var clock = Stopwatch.StartNew();

        await RunInBatchesAsync(cases, TransportParallel, async c =>
        {
            var exchange = await RawExchangeAsync(_calls.Http.BaseAddress!, c);
            if (c.MustStoreNothing && !exchange.Responses.Any(r => r.Status is >= 200 and < 300))
            {
                refused.Add(c.SessionId);
            }

            // Status 0: the connection closed without an answer.
            report.Add(c.Name, c.Check(exchange), exchange.Responses.FirstOrDefault()?.Status ?? 0, exchange.Elapsed);
        });

        await AssertNothingStoredAsync(refused, report);
        TestContext.Current.SendDiagnosticMessage($"fuzz (transport): {report.Summary()} in {clock.Elapsed.TotalSeconds:F1} s");
        report.AssertClean(Seed);
        AssertNoServerSideFailures();
    }

    [Fact]
    public async Task Body_mutations_of_the_event_fixtures_get_a_4xx_problem_or_their_answer_and_never_a_5xx()
    {
        var random = new Random(Seed + 1); // its own ids: a body case must not reuse a session a transport case stored
        var cases = Enumerable.Range(0, BodyCases).Select(i => BodyCase.Create(random, i)).ToList();
        TestContext.Current.SendDiagnosticMessage($"fuzz (body): seed {Seed + 1}, {cases.Count} cases");
        var report = new Report("body");
        var refused = new System.Collections.Concurrent.ConcurrentBag<string>();
        var clock = Stopwatch.StartNew();

        await RunInBatchesAsync(cases, BodyParallel, async c =>
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await _calls.PostBytesAsync(c.Body, "application/json");
            var body = await response.Content.ReadAsByteArrayAsync();
            var elapsed = Stopwatch.GetElapsedTime(started);
            var status = (int)response.StatusCode;
            var problem = Problem.Check(status, response.Content.Headers.ContentType?.MediaType, body, appProblem: true);
            if (status >= 400 && status < 500)
            {
                refused.Add(c.SessionId);
            }

            report.Add(c.Name, status >= 500 ? $"{status}: {Encoding.UTF8.GetString(body)}"
                : elapsed > AnswerBound ? $"{status} after {elapsed.TotalSeconds:F1} s (bound {AnswerBound.TotalSeconds} s)"
                : status is >= 400 and < 500 ? problem
                : status is 200 or 204 ? null : $"unexpected {status}", status, elapsed);
        });

        await AssertNothingStoredAsync(refused, report);
        TestContext.Current.SendDiagnosticMessage($"fuzz (body): {report.Summary()} in {clock.Elapsed.TotalSeconds:F1} s");
        report.AssertClean(Seed + 1);
        AssertNoServerSideFailures();
    }

    /// <summary>
    /// Cases <paramref name="parallel"/> at a time, after one normal call (the first answer of a fresh worker is slow, and
    /// the bounds are about malformed input, not start-up); between batches of <see cref="HealthEvery"/>, a normal call
    /// must still be answered.
    /// </summary>
    private async Task RunInBatchesAsync<T>(List<T> cases, int parallel, Func<T, Task> run)
    {
        Assert.Single(await _calls.StartAsync(CallClient.NewSessionId()));
        foreach (var batch in cases.Chunk(HealthEvery))
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (c, _) => await run(c));
            var actions = await _calls.StartAsync(CallClient.NewSessionId());
            Assert.Single(actions); // still up and answering
        }
    }

    private async Task AssertNothingStoredAsync(IEnumerable<string> sessionIds, Report report)
    {
        await System.Threading.Tasks.Parallel.ForEachAsync(sessionIds, new ParallelOptions { MaxDegreeOfParallelism = BodyParallel }, async (id, _) =>
        {
            using var stored = await _calls.GetSessionResponseAsync(id);
            if (stored.StatusCode != HttpStatusCode.NotFound)
            {
                report.Add("stored " + id, $"a refused request left session {id} behind ({(int)stored.StatusCode})");
            }
        });
    }

    /// <summary>
    /// What the fixes removed: invocations the worker failed (a 500) or waited 15 s for, and the worker's
    /// unexpected-error 500. A chunked body streams to the worker (as on the host), so an invocation whose streamed
    /// body broke, or whose caller went away, may fail there as on the host; the emulator names those, and only those
    /// are let through.
    /// </summary>
    private void AssertNoServerSideFailures()
    {
        var output = app.App.Output;
        // Also a caller that went away: the forwarded request is aborted and the invocation cancelled, as on the host,
        // where a worker that never got the request fails the invocation after its 15 s wait for it.
        var broken = System.Text.RegularExpressions.Regex.Matches(output, @"(?:The streamed request body|The caller) of '[^']+' \(Id=([0-9a-f-]+)\) (?:broke|went away)")
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);
        var failures = System.Text.RegularExpressions.Regex.Matches(output, @"\(Failure, Id=([0-9a-f-]+),")
            .Select(m => m.Groups[1].Value)
            .Where(id => !broken.Contains(id))
            .ToList();
        Assert.True(failures.Count == 0, string.Join('\n', output.Split('\n').Where(line => failures.Any(id => line.Contains(id, StringComparison.Ordinal)))));
        Assert.DoesNotContain("failed unexpectedly", output, StringComparison.Ordinal);
        Assert.DoesNotContain("The worker's HTTP answer", output, StringComparison.Ordinal);
    }

    /// <summary>A UUID from the seeded generator, so a seed replays the same bodies byte for byte.</summary>
    private static string NewId(Random random)
    {
        var bytes = new byte[16];
        random.NextBytes(bytes);
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4 (Guid's byte order)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(bytes).ToString();
    }

    private static byte[] Fixture(Random random, string sessionId)
    {
        var text = Encoding.UTF8.GetString(Fixtures[random.Next(Fixtures.Length)]).Replace(Placeholder, sessionId, StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text);
    }

    private static byte[] Ascii(string text) => Encoding.Latin1.GetBytes(text);

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>A raw HTTP/1.1 exchange: the parts written (with pauses), the client's side optionally half-closed, the answers read.</summary>
    private static async Task<Exchange> RawExchangeAsync(Uri baseAddress, TransportCase c)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = tcp.GetStream();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < c.Parts.Count; i++)
            {
                if (i > 0 && c.PartDelay > TimeSpan.Zero)
                {
                    await Task.Delay(c.PartDelay);
                }

                await stream.WriteAsync(c.Parts[i]);
            }

            if (c.HalfClose)
            {
                tcp.Client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (IOException)
        {
            // The server may answer and close before everything is written (an oversized header): read what it said.
        }

        var responses = new List<RawResponse>();
        var received = new List<byte>();
        var buffer = new byte[16 * 1024];
        using var giveUp = new CancellationTokenSource(c.Bound + TimeSpan.FromSeconds(5));
        var closed = false;
        try
        {
            while (responses.Count < c.Responses)
            {
                if (RawResponse.TryParse(received, out var response))
                {
                    if (response.Status >= 200)
                    {
                        responses.Add(response);
                    }

                    continue;
                }

                var read = await stream.ReadAsync(buffer, giveUp.Token);
                if (read == 0)
                {
                    closed = true;
                    break;
                }

                received.AddRange(buffer.AsSpan(0, read).ToArray());
            }
        }
        catch (OperationCanceledException)
        {
            return new Exchange(responses, clock.Elapsed, Closed: false, TimedOut: true);
        }
        catch (IOException)
        {
            closed = true; // reset by the server
        }

        return new Exchange(responses, clock.Elapsed, closed, TimedOut: false);
    }

    private sealed record Exchange(List<RawResponse> Responses, TimeSpan Elapsed, bool Closed, bool TimedOut);

    private sealed record RawResponse(int Status, Dictionary<string, string> Headers, byte[] Body)
    {
        /// <summary>Takes one whole response off the front of <paramref name="received"/> (Content-Length framed, as every answer here is).</summary>
        public static bool TryParse(List<byte> received, out RawResponse response)
        {
            response = null!;
            var bytes = received.ToArray();
            var end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
            if (end < 0)
            {
                return false;
            }

            var lines = Encoding.Latin1.GetString(bytes, 0, end).Split("\r\n");
            var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }

            var length = headers.TryGetValue("Content-Length", out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : 0;
            if (bytes.Length < end + 4 + length)
            {
                return false;
            }

            response = new RawResponse(status, headers, bytes[(end + 4)..(end + 4 + length)]);
            received.RemoveRange(0, end + 4 + length);
            return true;
        }

        /// <summary>
        /// Kestrel's answer to a request it could not parse: no body, and the connection closed (said explicitly, or
        /// implied by the HTTP/1.0 request, for which Kestrel leaves the header out).
        /// </summary>
        public bool IsParserRejection(bool http10) =>
            Body.Length == 0 && !Headers.ContainsKey("Content-Type")
            && (Headers.TryGetValue("Connection", out var connection) ? connection.Equals("close", StringComparison.OrdinalIgnoreCase) : http10);

        public string? ContentType => Headers.TryGetValue("Content-Type", out var type) ? type.Split(';')[0].Trim() : null;
    }

    private enum Expect
    {
        /// <summary>Well-formed: every answer 2xx.</summary>
        Success,

        /// <summary>Broken framing the server sees at once: 4xx.</summary>
        Refused,

        /// <summary>A body that stops arriving on an open connection: 408 once the idle timeout has passed.</summary>
        Stalled,

        /// <summary>The client closed its side mid-request: Kestrel drops the connection (no answer can be sent) or a 4xx.</summary>
        ClosedOrRefused,

        /// <summary>An unparseable request line: Kestrel's empty 400, or its empty 505 when the version token is not one it knows.</summary>
        BadRequestLine,

        /// <summary>An HTTP version the server does not speak: Kestrel's parser answers 505 (empty, Connection: close).</summary>
        UnsupportedVersion,

        /// <summary>Broken in a way where either outcome is legitimate (a truncation can leave valid JSON): anything but a 5xx.</summary>
        Any,
    }

    private sealed record TransportCase(string Name, string SessionId, List<byte[]> Parts, TimeSpan PartDelay, bool HalfClose, int Responses, Expect Expect, int? Status, bool ParserMayReject, bool MustStoreNothing)
    {
        private bool Http10 => Encoding.Latin1.GetString(Parts[0]).Contains(" HTTP/1.0\r\n", StringComparison.Ordinal);

        public TimeSpan Bound => Expect == Expect.Stalled ? StallBound : AnswerBound + (PartDelay * Parts.Count);

        private static readonly string[] BadChunkSizes = ["zz", "-1", "0x10", "1 2", "ffffffffffffffffffff", "", " ", "g", "+5", "1_0", "\u00e9"];

        /// <summary>(Kestrel takes a control character inside the target; that request then misses every route: a 404, so not here.)</summary>
        private static readonly string[] BadRequestLines =
        [
            "GARBAGE", "POST /api/events", "POST  /api/events HTTP/1.1", "POST /api/events HTTP/1.1 extra", "\u0001\u0002\u0003",
"POST /api/events HTTP/1.1x", "POST /api/events HTTX/1.1", " POST /api/events HTTP/1.1",
            "POST\t/api/events\tHTTP/1.1", "POST /api/events\u0000 HTTP/1.1",
        ];

        private static readonly string[] BadHeaderLines =
        [
            // (Kestrel accepts a control character in a header name, so that is not here.)
            "No-Colon-Here", "Bad Name: x", "X-A: 1\r\n  folded", "X-A: a\u0000b", "X-A: \u00ff\u00fe", ": no-name", "X-A\t: 1",
        ];

        public static TransportCase Create(Random random, int index)
        {
            var id = NewId(random);
            var body = Fixture(random, id);
            var kind = random.Next(25);
            string Head(string extra = "", string version = "HTTP/1.1") =>
                $"POST /api/events {version}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}";
            byte[] ContentLength(int length, string extra = "") => Ascii(Head($"Content-Length: {length}\r\n{extra}\r\n"));
            byte[] Chunked(string extra = "") => Ascii(Head($"Transfer-Encoding: chunked\r\n{extra}\r\n"));
            byte[] Chunks(byte[] data, Func<int, string>? extension = null)
            {
                var parts = new List<byte[]>();
                var offset = 0;
                var pieces = random.Next(1, 5);
                for (var p = 0; p < pieces && offset < data.Length; p++)
                {
                    var size = p == pieces - 1 ? data.Length - offset : random.Next(1, data.Length - offset + 1);
                    parts.Add(Ascii($"{size:x}{extension?.Invoke(p) ?? ""}\r\n"));
                    parts.Add(data[offset..(offset + size)]);
                    parts.Add("\r\n"u8.ToArray());
                    offset += size;
                }

                parts.Add("0\r\n\r\n"u8.ToArray());
                return Concat([.. parts]);
            }

            TransportCase Case(string name, byte[] request, Expect expect, int? status = null, bool parser = false, bool halfClose = false, int responses = 1, bool storeNothing = true) =>
                new($"#{index} {name}", id, [request], TimeSpan.Zero, halfClose, responses, expect, status, parser, storeNothing);

            switch (kind)
            {
                case 0:
                    return Case("valid, Content-Length", Concat(ContentLength(body.Length), body), Expect.Success);
                case 1:
                    return Case("valid, chunked in pieces", Concat(Chunked(), Chunks(body)), Expect.Success);
                case 2:
                    return Case("chunk extensions", Concat(Chunked(), Chunks(body, p => p % 2 == 0 ? ";name=value" : ";flag;q=\"quoted;\"")), Expect.Success);
                case 3:
                    return Case("long and odd chunk extensions", Concat(Chunked(), Chunks(body, _ => ";" + new string('x', random.Next(1, 4000)) + "=\u0001\u007f")), Expect.Any);
                case 4:
                    var size = BadChunkSizes[random.Next(BadChunkSizes.Length)];
                    return Case($"bad chunk size '{size}'", Concat(Chunked(), Ascii(size + "\r\n"), body, Ascii("\r\n0\r\n\r\n")), Expect.Refused, 400);
                case 5:
                    var shortBy = random.Next(1, body.Length);
                    return Case($"chunk size {shortBy} bytes short of its data", Concat(Chunked(), Ascii($"{body.Length - shortBy:x}\r\n"), body, Ascii("\r\n0\r\n\r\n")), Expect.Refused, 400);
                case 6:
                    return Case("chunk longer than its data, connection kept open", Concat(Chunked(), Ascii($"{body.Length + random.Next(1, 5000):x}\r\n"), body, Ascii("\r\n0\r\n\r\n")), Expect.Stalled, 408);
                case 7:
                    return Case("no last chunk, connection kept open", Concat(Chunked(), Ascii($"{body.Length:x}\r\n"), body, Ascii("\r\n")), Expect.Stalled, 408);
                case 8:
                    return Case("chunk longer than its data, then half-closed", Concat(Chunked(), Ascii($"{body.Length + random.Next(1, 5000):x}\r\n"), body), Expect.ClosedOrRefused, halfClose: true);
                case 9:
                    return Case("Content-Length longer than the body, connection kept open", Concat(ContentLength(body.Length + random.Next(1, 5000)), body), Expect.Stalled, 408);
                case 10:
                    return Case("Content-Length longer than the body, then half-closed", Concat(ContentLength(body.Length + random.Next(1, 5000)), body), Expect.ClosedOrRefused, halfClose: true);
                case 11:
                    // The rest of the body is read as a next request: only the first answer counts.
                    return Case("Content-Length shorter than the body", Concat(ContentLength(random.Next(0, body.Length)), body), Expect.Any, storeNothing: false);
                case 12:
                    var second = random.Next(2) == 0 ? body.Length : random.Next(0, body.Length);
                    return Case("duplicate Content-Length", Concat(ContentLength(body.Length, $"Content-Length: {second}\r\n"), body), Expect.Refused, 400, parser: true);
                case 13:
                    // RFC 9112: Transfer-Encoding wins and the connection is closed after the answer.
                    return Case("Content-Length and chunked", Concat(Chunked($"Content-Length: {random.Next(0, body.Length * 2)}\r\n"), Chunks(body)), Expect.Success, parser: true);
                case 14:
                    var coding = new[] { "gzip", "chunked, gzip", "identity", "deflate", "chunked;q=1", "chunkedx" }[random.Next(6)];
                    return Case($"Transfer-Encoding '{coding}'", Concat(Ascii(Head($"Transfer-Encoding: {coding}\r\n\r\n")), Chunks(body)), Expect.Refused, parser: true);
                case 15:
                    return Case("oversized header", Concat(ContentLength(body.Length, $"X-Big: {new string('a', random.Next(33 * 1024, 80 * 1024))}\r\n"), body), Expect.Refused, 431, parser: true);
                case 16:
                    var headers = string.Concat(Enumerable.Range(0, random.Next(101, 300)).Select(h => $"X-H{h}: {h}\r\n"));
                    return Case("too many headers", Concat(ContentLength(body.Length, headers), body), Expect.Refused, 431, parser: true);
                case 17:
                    var line = random.Next(3) == 0
                        // Printable and control characters without a space: never the three parts of a request line.
                        ? new string(Enumerable.Range(0, random.Next(1, 60)).Select(_ => (char)random.Next(1, 128)).Where(ch => ch is not ('\r' or '\n' or ' ')).ToArray()) + "\u0001"
                        : BadRequestLines[random.Next(BadRequestLines.Length)];
                    // Kestrel answers 400, or its 505 when the last token does not read as an HTTP version at all.
                    return Case("bad request line", Concat(Ascii($"{line}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"), body), Expect.BadRequestLine, parser: true);
                case 18:
                    var header = BadHeaderLines[random.Next(BadHeaderLines.Length)];
                    return Case("bad header line", Concat(ContentLength(body.Length, header + "\r\n"), body), Expect.Refused, 400, parser: true);
                case 19:
                    return Case("HTTP/1.1 without Host", Concat(Ascii($"POST /api/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"), body), Expect.Refused, 400, parser: true);
                case 20:
                    return random.Next(2) == 0
                        ? Case("HTTP/1.0 with Content-Length", Concat(Ascii(Head($"Content-Length: {body.Length}\r\n\r\n", "HTTP/1.0")), body), Expect.Success)
                        : Case("HTTP/1.0 without Content-Length", Concat(Ascii(Head("\r\n", "HTTP/1.0")), body), Expect.Refused, 400, parser: true);
                case 21:
                    var count = random.Next(2, 5);
                    var pipelined = Enumerable.Range(0, count).Select(_ => Fixture(random, NewId(random))).Select(b => Concat(ContentLength(b.Length), b));
                    return Case($"{count} pipelined requests", Concat([.. pipelined]), Expect.Success, responses: count);
                case 22:
                    var request = Concat(ContentLength(body.Length), body);
                    var cuts = Enumerable.Range(0, random.Next(1, 5)).Select(_ => random.Next(1, request.Length)).Distinct().Order().ToList();
                    var parts = cuts.Prepend(0).Zip(cuts.Append(request.Length), (from, to) => request[from..to]).ToList();
                    return new TransportCase($"#{index} slow body in {parts.Count} pieces", id, parts, TimeSpan.FromMilliseconds(random.Next(20, 150)), false, 1, Expect.Success, null, false, false);
                case 23:
                    // RFC 9110 15.6.6: the one 5xx Kestrel's parser sends, before any code of the host or the app runs.
                    var version = new[] { "HTTP/1.2", "HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "http/1.1" }[random.Next(5)];
                    return Case($"HTTP version '{version}'", Concat(Ascii(Head($"Content-Length: {body.Length}\r\n\r\n", version)), body), Expect.UnsupportedVersion, 505, parser: true);
                default:
                    return Case("Expect: 100-continue", Concat(ContentLength(body.Length, "Expect: 100-continue\r\n"), body), Expect.Success);
            }
        }

        /// <summary>Null when the exchange is what this case must get, else what went wrong.</summary>
        public string? Check(Exchange exchange)
        {
            if (exchange.TimedOut)
            {
                return $"no answer and no close within {Bound.TotalSeconds:F1} s (+5 s)";
            }

            if (exchange.Elapsed > Bound)
            {
                return $"took {exchange.Elapsed.TotalSeconds:F1} s (bound {Bound.TotalSeconds:F1} s)";
            }

            if (exchange.Responses.Count == 0)
            {
                return exchange.Closed && Expect == Expect.ClosedOrRefused ? null : "closed without an answer";
            }

            if (Expect != Expect.Any && Expect != Expect.ClosedOrRefused && exchange.Responses.Count < Responses)
            {
                return $"{exchange.Responses.Count} of {Responses} answers";
            }

            foreach (var response in exchange.Responses)
            {
                if (Expect == Expect.UnsupportedVersion)
                {
                    return response.Status == 505 && response.IsParserRejection(Http10) ? null : $"expected Kestrel's empty 505, got {response.Status}";
                }

                if (Expect == Expect.BadRequestLine)
                {
                    return response.Status is 400 or 505 && response.IsParserRejection(Http10) ? null : $"expected Kestrel's empty 400 or 505, got {response.Status}";
                }

                if (response.Status >= 500)
                {
                    return $"{response.Status}: {Encoding.UTF8.GetString(response.Body)}";
                }

                var problem = response.Status is >= 400 and < 500 && ParserMayReject && response.IsParserRejection(Http10)
                    ? null // Kestrel's own rejection, before any code of the host or the app runs
                    : Problem.Check(response.Status, response.ContentType, response.Body, appProblem: false);
                if (problem is not null)
                {
                    return problem;
                }

                var wrong = Expect switch
                {
                    Expect.Success => response.Status is 200 or 204 ? null : "expected a 2xx",
                    Expect.Refused or Expect.Stalled or Expect.ClosedOrRefused => response.Status is >= 400 and < 500 ? null : "expected a 4xx",
                    _ => null,
                };
                wrong ??= Status is { } status && Expect != Expect.Success && response.Status != status ? $"expected {status}" : null;
                if (wrong is not null)
                {
                    return $"{wrong}, got {response.Status}: {Encoding.UTF8.GetString(response.Body)}";
                }
            }

            return null;
        }
    }

    private sealed record BodyCase(string Name, string SessionId, byte[] Body)
    {
        private static readonly string[] Fragments = ["{", "}", "[", "]", "\"", ",", ":", "null", "\\u0000", "\\ud800", "1e999", "-0", "/*x*/", "\u00ef\u00bb\u00bf"];

        private static readonly string[] SessionFields = ["account_id", "phone_number", "from_phone_number", "to_phone_number", "direction"];

        private static readonly string[] TextFields = ["text", "reason", "unknown_field"];

        private static readonly string[] EventTypes =
        [
            "session_start", "session_end", "user_speak", "dtmf_received", "assistant_speak", "assistant_speech_ended", "user_speech_started",
            "user_barge_in", "user_input_timeout", "sms_failed", "", "SESSION_START", "x\u001b[31m",
        ];

        private static readonly double[] Numbers = [1e308, -1e308, 0.5, -5, double.Epsilon, 9007199254740993d];

        private static readonly string[] Strings = ["", "0", "#", "*", "😀", "\u0000", "\u001b[2J", Placeholder, "+4921155660"];

        private static readonly string[] Fields = ["type", "session", "id", "account_id", "phone_number", "direction", "from_phone_number", "to_phone_number", "text", "digit", "barged_in", "duration_ms", "reason", "speech_started_at", "timestamp"];

        public static BodyCase Create(Random random, int index)
        {
            var id = NewId(random);
            var body = Fixture(random, id);
            var kind = random.Next(10);
            var (name, mutated) = kind switch
            {
                0 => ("byte flips", Flip(random, body)),
                1 => ("truncated", body[..random.Next(0, body.Length)]),
                2 => ("bytes inserted", Insert(random, body, RandomBytes(random, random.Next(1, 16)))),
                3 => ("JSON fragment inserted", Insert(random, body, Ascii(Fragments[random.Next(Fragments.Length)]))),
                4 => ("type swapped", Swap(random, body)),
                5 => ("huge string", Huge(random, body)),
                6 => ("deep nesting", Nest(random, body)),
                7 => ("random JSON", Encoding.UTF8.GetBytes(RandomJson(random, 4)?.ToJsonString() ?? "null")),
                8 => ("event type swapped", Retype(random, body)),
                _ => ("duplicate key", Insert(random, body, Ascii($"\"{Fields[random.Next(Fields.Length)]}\": {RandomJson(random, 1)?.ToJsonString() ?? "null"}, "), afterFirstBrace: true)),
            };
            return new BodyCase($"#{index} {name}", id, mutated);
        }

        private static byte[] Flip(Random random, byte[] body)
        {
            var copy = body.ToArray();
            for (var i = random.Next(1, 8); i > 0; i--)
            {
                copy[random.Next(copy.Length)] ^= (byte)random.Next(1, 256);
            }

            return copy;
        }

        private static byte[] RandomBytes(Random random, int count)
        {
            var bytes = new byte[count];
            random.NextBytes(bytes);
            return bytes;
        }

        private static byte[] Insert(Random random, byte[] body, byte[] insertion, bool afterFirstBrace = false)
        {
            var at = afterFirstBrace ? 1 : random.Next(0, body.Length + 1);
            return Concat(body[..at], insertion, body[at..]);
        }

        private static JsonObject Parse(byte[] body) => JsonNode.Parse(body)!.AsObject();

        private static byte[] Serialize(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

        /// <summary>A random field of the event or its session gets a value of another JSON type.</summary>
        private static byte[] Swap(Random random, byte[] body)
        {
            var evt = Parse(body);
            var target = random.Next(2) == 0 && evt["session"] is JsonObject session ? session : evt;
            var names = target.Select(p => p.Key).ToList();
            target[names[random.Next(names.Count)]] = RandomJson(random, 2);
            return Serialize(evt);
        }

        /// <summary>
        /// A long string in a text field (up to 200k characters: over Table Storage's 64 KiB property, under the 256 KiB
        /// body cap, sometimes over it) or in a session field (up to 4,000: the poison-size session fields are issue 15's
        /// first item, fuzzed by its own tests).
        /// </summary>
        private static byte[] Huge(Random random, byte[] body)
        {
            var evt = Parse(body);
            var inSession = random.Next(3) == 0;
            var length = inSession ? random.Next(100, 4000) : random.Next(1000, 300_000);
            var text = new string((char)random.Next(0x20, 0x7f), length);
            if (inSession)
            {
                var session = (JsonObject)evt["session"]!;
                session[SessionFields[random.Next(SessionFields.Length)]] = text;
            }
            else
            {
                evt[TextFields[random.Next(TextFields.Length)]] = text;
            }

            return Serialize(evt);
        }

        private static byte[] Nest(Random random, byte[] body)
        {
            var depth = random.Next(20, 5000);
            var nested = random.Next(2) == 0 ? new string('[', depth) + new string(']', depth) : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
            var evt = Encoding.UTF8.GetString(body);
            var at = evt.LastIndexOf('}');
            return Encoding.UTF8.GetBytes(evt[..at] + ", \"nested\": " + nested + evt[at..]);
        }

        private static byte[] Retype(Random random, byte[] body)
        {
            var evt = Parse(body);
            evt["type"] = EventTypes[random.Next(EventTypes.Length)];
            return Serialize(evt);
        }

        private static JsonNode? RandomJson(Random random, int depth) => random.Next(depth > 0 ? 9 : 7) switch
        {
            0 => null,
            1 => JsonValue.Create(random.Next(2) == 0),
            2 => JsonValue.Create(random.Next(int.MinValue, int.MaxValue)),
            3 => JsonValue.Create(Numbers[random.Next(Numbers.Length)]),
            4 => JsonValue.Create(new string((char)random.Next(0x20, 0x2000), random.Next(0, 40))),
            5 => JsonValue.Create(Strings[random.Next(Strings.Length)]),
            6 => JsonValue.Create(NewId(random)),
            7 => new JsonArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth - 1)).ToArray()),
            _ => new JsonObject(Enumerable.Range(0, random.Next(0, 4)).Select(i => KeyValuePair.Create(Fields[random.Next(Fields.Length)] + i, RandomJson(random, depth - 1)))),
        };
    }

    private static class Problem
    {
        /// <summary>Null when a 4xx carries an RFC 9457 problem body (the app's own URN types, or the emulator's for a transport failure).</summary>
        public static string? Check(int status, string? contentType, byte[] body, bool appProblem)
        {
            if (status is < 400 or >= 500)
            {
                return null;
            }

            if (contentType != "application/problem+json")
            {
                return $"{status} without a problem body ({contentType ?? "no content type"}, {body.Length} bytes)";
            }

            try
            {
                var problem = JsonDocument.Parse(body).RootElement;
                var type = problem.GetProperty("type").GetString() ?? "";
                if (problem.GetProperty("status").GetInt32() != status || string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()))
                {
                    return $"{status}: problem body with the wrong status or no title";
                }

                return !appProblem || type.StartsWith("urn:voicefunctions:problem:", StringComparison.Ordinal) ? null : $"{status}: problem type {type} is not the app's";
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return $"{status}: malformed problem body";
            }
        }
    }

    /// <summary>Every case's outcome; failures are collected so one run shows them all, with the seed to replay them.</summary>
    private sealed class Report(string name)
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _failures = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _statuses = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TimeSpan> _slowest = new();
        private int _cases;

        public void Add(string caseName, string? failure, int? status = null, TimeSpan? elapsed = null)
        {
            Interlocked.Increment(ref _cases);
            if (elapsed is { } time)
            {
                var kind = caseName[(caseName.IndexOf(' ', StringComparison.Ordinal) + 1)..];
                kind = kind.Contains('\'', StringComparison.Ordinal) ? kind[..kind.IndexOf('\'', StringComparison.Ordinal)].Trim() : kind;
                _slowest.AddOrUpdate(kind, time, (_, t) => t > time ? t : time);
            }

            if (status is { } s)
            {
                _statuses.AddOrUpdate(s.ToString(CultureInfo.InvariantCulture), 1, (_, n) => n + 1);
            }

            if (failure is not null)
            {
                _failures.Enqueue($"{caseName}: {failure}");
            }
        }

        public string Summary() =>
            $"{_cases} checks, {_failures.Count} failed"
            + (_statuses.IsEmpty ? "" : "; statuses " + string.Join(", ", _statuses.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}")))
            + (_slowest.IsEmpty ? "" : "; slowest " + string.Join(", ", _slowest.OrderByDescending(p => p.Value).Take(6).Select(p => $"{p.Key} {p.Value.TotalMilliseconds:F0} ms")));

        public void AssertClean(int seed) =>
            Assert.True(_failures.IsEmpty, $"fuzz ({name}, seed {seed}): {_failures.Count} failing cases:\n" + string.Join("\n", _failures.Take(30)));
    }
}
