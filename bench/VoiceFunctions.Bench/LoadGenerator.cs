using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace VoiceFunctions.Bench;

/// <summary>
/// Closed-loop load: <c>concurrency</c> virtual callers, each playing whole calls back to back
/// (session_start, user_speak × turns, session_end, each with a fresh UUID session id) and sending the next
/// event only when the previous one was answered. Every latency is kept (no sampling).
/// </summary>
public static class LoadGenerator
{
    public static readonly string[] EventTypes = ["session_start", "user_speak", "session_end"];

    private static readonly string[] Sentences =
    [
        "Hello, I would like to know when my parcel arrives.",
        "The tracking number is four two seven one, I think.",
        "Can you tell me the opening hours of the shop in Düsseldorf?",
        "Thanks, that helps. One more question about my invoice.",
    ];

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static HttpClient CreateClient(int port) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 1024,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"),
        Timeout = TimeSpan.FromSeconds(10),
    };

    public static byte[] Body(string type, string sessionId, string? text = null)
    {
        var json = new StringBuilder(320)
            .Append("{\"type\":\"").Append(type).Append("\",\"session\":{\"id\":\"").Append(sessionId)
            .Append("\",\"account_id\":\"bench-account\",\"phone_number\":\"+4921100000001\",\"direction\":\"inbound\",")
            .Append("\"from_phone_number\":\"+491701234567\",\"to_phone_number\":\"+4921100000001\"}");
        if (text is not null)
        {
            json.Append(",\"text\":\"").Append(text).Append("\",\"barged_in\":false");
        }

        return Encoding.UTF8.GetBytes(json.Append('}').ToString());
    }

    public static async Task<PhaseResult> RunAsync(HttpClient http, int concurrency, TimeSpan duration, int turns, bool record)
    {
        using var stop = new CancellationTokenSource(duration);
        var clock = Stopwatch.StartNew();
        var callers = Enumerable.Range(0, concurrency).Select(i => Task.Run(() => CallerAsync(http, turns, i, stop.Token))).ToArray();
        var recorders = await Task.WhenAll(callers);
        var elapsed = clock.Elapsed.TotalSeconds;
        return record ? PhaseResult.From(concurrency, elapsed, recorders) : PhaseResult.Empty;
    }

    private static async Task<Recorder> CallerAsync(HttpClient http, int turns, int caller, CancellationToken stop)
    {
        var recorder = new Recorder();
        var sentence = caller;
        while (!stop.IsCancellationRequested)
        {
            var id = Guid.NewGuid().ToString();
            if (!await SendAsync(http, recorder, 0, Body("session_start", id), stop))
            {
                continue;
            }

            for (var turn = 0; turn < turns && !stop.IsCancellationRequested; turn++)
            {
                await SendAsync(http, recorder, 1, Body("user_speak", id, Sentences[sentence++ % Sentences.Length]), stop);
            }

            if (!stop.IsCancellationRequested)
            {
                await SendAsync(http, recorder, 2, Body("session_end", id), stop);
                recorder.Calls++;
            }
        }

        return recorder;
    }

    private static async Task<bool> SendAsync(HttpClient http, Recorder recorder, int type, byte[] body, CancellationToken stop)
    {
        if (stop.IsCancellationRequested)
        {
            return false;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        var start = Stopwatch.GetTimestamp();
        try
        {
            // Not the stop token: a request already sent is always finished and counted.
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, CancellationToken.None);
            var ticks = Stopwatch.GetTimestamp() - start;
            var roundTrips = response.Headers.TryGetValues("X-Storage-Round-Trips", out var values) &&
                int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
            if (!response.IsSuccessStatusCode)
            {
                recorder.Kind(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }

            recorder.Add(type, ticks, (int)response.StatusCode, roundTrips);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            recorder.Kind(ex is HttpRequestException h ? $"{ex.GetType().Name}: {h.HttpRequestError}" : ex.GetType().Name);
            recorder.Failures[type]++;
            return false;
        }
    }

    public sealed class Recorder
    {
        public List<long>[] Latencies { get; } = [[], [], []];
        public long[] Failures { get; } = new long[3];
        public Dictionary<int, long>[] RoundTrips { get; } = [[], [], []];
        public long Calls { get; set; }

        /// <summary>Errors by kind: the status code, or the exception and its HttpRequestError.</summary>
        public Dictionary<string, long> ErrorKinds { get; } = [];

        public void Kind(string kind) => ErrorKinds[kind] = ErrorKinds.GetValueOrDefault(kind) + 1;

        public void Add(int type, long ticks, int status, int roundTrips)
        {
            if (status is < 200 or > 299)
            {
                Failures[type]++;
                return;
            }

            Latencies[type].Add(ticks);
            RoundTrips[type][roundTrips] = RoundTrips[type].GetValueOrDefault(roundTrips) + 1;
        }
    }
}

public sealed record LatencyStats
{
    public long Count { get; init; }
    public long Errors { get; init; }
    public double Rps { get; init; }
    public double MeanMs { get; init; }
    public double P50Ms { get; init; }
    public double P99Ms { get; init; }
    public double P999Ms { get; init; }
    public double MaxMs { get; init; }

    /// <summary>Answers by X-Storage-Round-Trips value (-1: the header was absent, as on the floors).</summary>
    public SortedDictionary<int, long>? RoundTrips { get; init; }
    public double? RoundTripsMean { get; init; }
    public int? RoundTripsMax { get; init; }

    public static LatencyStats From(List<long> ticks, long errors, double seconds, Dictionary<int, long> roundTrips)
    {
        var sorted = ticks.ToArray();
        Array.Sort(sorted);
        double Ms(long t) => Math.Round(t * 1000.0 / Stopwatch.Frequency, 3);
        double At(double p) => sorted.Length == 0 ? 0 : Ms(sorted[NearestRank.Index(sorted.Length, p)]);
        var counted = roundTrips.Where(r => r.Key >= 0).ToList();
        var countedN = counted.Sum(r => r.Value);
        return new LatencyStats
        {
            Count = sorted.Length,
            Errors = errors,
            Rps = Math.Round(sorted.Length / seconds, 1),
            MeanMs = sorted.Length == 0 ? 0 : Math.Round(sorted.Average() * 1000.0 / Stopwatch.Frequency, 3),
            P50Ms = At(0.50),
            P99Ms = At(0.99),
            P999Ms = At(0.999),
            MaxMs = sorted.Length == 0 ? 0 : Ms(sorted[^1]),
            RoundTrips = new SortedDictionary<int, long>(roundTrips),
            RoundTripsMean = countedN == 0 ? null : Math.Round(counted.Sum(r => (double)r.Key * r.Value) / countedN, 3),
            RoundTripsMax = countedN == 0 ? null : counted.Max(r => r.Key),
        };
    }
}

/// <summary>The nearest-rank percentile: the value at rank ⌈p·n⌉ of n sorted values (no interpolation).</summary>
public static class NearestRank
{
    /// <summary>The 0-based index of percentile <paramref name="p"/> (0..1) among <paramref name="count"/> sorted values.</summary>
    public static int Index(int count, double p) => Math.Clamp((int)Math.Ceiling(p * count) - 1, 0, count - 1);
}

public sealed record PhaseResult
{
    public static readonly PhaseResult Empty = new();

    public int Concurrency { get; init; }
    public double Seconds { get; init; }
    public long Calls { get; init; }
    public double CallsPerSecond { get; init; }
    public LatencyStats? All { get; init; }

    /// <summary>Errors by kind (status code or exception); empty when there were none.</summary>
    public SortedDictionary<string, long> ErrorKinds { get; init; } = [];
    public Dictionary<string, LatencyStats> ByType { get; init; } = [];
    public PhaseResources? Resources { get; set; }

    public static PhaseResult From(int concurrency, double seconds, LoadGenerator.Recorder[] recorders)
    {
        var byType = new Dictionary<string, LatencyStats>();
        var all = new List<long>();
        var allRoundTrips = new Dictionary<int, long>();
        long allErrors = 0;
        for (var t = 0; t < 3; t++)
        {
            var ticks = recorders.SelectMany(r => r.Latencies[t]).ToList();
            var errors = recorders.Sum(r => r.Failures[t]);
            var roundTrips = recorders.SelectMany(r => r.RoundTrips[t]).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
            byType[LoadGenerator.EventTypes[t]] = LatencyStats.From(ticks, errors, seconds, roundTrips);
            all.AddRange(ticks);
            allErrors += errors;
            foreach (var (k, v) in roundTrips)
            {
                allRoundTrips[k] = allRoundTrips.GetValueOrDefault(k) + v;
            }
        }

        var calls = recorders.Sum(r => r.Calls);
        return new PhaseResult
        {
            Concurrency = concurrency,
            Seconds = Math.Round(seconds, 2),
            Calls = calls,
            CallsPerSecond = Math.Round(calls / seconds, 1),
            All = LatencyStats.From(all, allErrors, seconds, allRoundTrips),
            ByType = byType,
            ErrorKinds = new SortedDictionary<string, long>(recorders.SelectMany(r => r.ErrorKinds).GroupBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value), StringComparer.Ordinal), StringComparer.Ordinal),
        };
    }
}
