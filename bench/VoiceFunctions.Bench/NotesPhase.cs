using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VoiceFunctions.Bench;

/// <summary>
/// Issue 21's measurement: how long after <c>session_end</c>'s answer a call's notes are stored (the queue, the
/// <c>CallNotes</c> function and a stand-in model answering after <see cref="BenchOptions.NotesModelMs"/>), and whether
/// <c>session_end</c>'s own answer is slower with notes on. Two instances of the app run at once, each under its own
/// emulator with its own Azurite (tables and queues; separate so the notes-off instance's emulator never takes the
/// notes-on instance's queue messages): <c>notes-on</c> and <c>notes-off</c> (<c>Notes__Enabled=false</c>), otherwise
/// identical (same publish folder, settings, stand-in model, keys). Calls go to both in pairs, the order alternating
/// per pair, so machine noise hits both alike; the ratio on ÷ off is the claim. Each schedule plays
/// <see cref="BenchOptions.NotesCalls"/> pairs, a pair every <c>pacing</c> ms (0: back to back).
/// </summary>
public static class NotesPhase
{
    public const string Target = "notes";

    /// <summary>The caller's turns of every call ("a few user_speak").</summary>
    private static readonly string[] Turns =
    [
        "Hello, I would like to know when my parcel arrives.",
        "My reference is {0}, I think.", // the call's tag: the stand-in model finds it in the prompt (NotesModel.AnsweredByTag)
        "Can you call me back when you know more?",
    ];

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<NotesResult> RunAsync(BenchOptions o, string appFolder, Func<string, Dictionary<string, string>> appSettings)
    {
        var result = new NotesResult
        {
            GeneratedAtUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture),
            Commit = o.Commit,
            LoadAverageAtStart = ProcStats.LoadAverage(),
            ModelDelayMs = o.NotesModelMs,
            PollMs = o.NotesPollMs,
            TimeoutSeconds = o.NotesTimeoutSeconds,
            UserSpeakPerCall = Turns.Length,
        };
        var clock = Stopwatch.StartNew();
        await using var model = await NotesModel.StartAsync(TimeSpan.FromMilliseconds(o.NotesModelMs));

        // Keys on, as in Azure: events with the function key, reading a call back with the admin (master) key only.
        var functionKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var masterKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        Dictionary<string, string> Settings(AzuriteProcess storage, bool notes)
        {
            var s = appSettings(storage.ConnectionString);
            s["AzureWebJobsStorage"] = storage.ConnectionString; // the queue trigger's (and the notes queue's) connection
            s["Notes__Enabled"] = notes ? "true" : "false";
            s["ChatModel__Endpoint"] = model.Endpoint.ToString();
            s["ChatModel__Deployment"] = "bench-notes";
            s["ChatModel__ApiKey"] = "sk-bench-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
            s["ChatModel__Family"] = "Reasoning"; // as infra/ writes it for the model it creates
            s["Personas__default__Notes__Reasons__0"] = "parcel";
            s["Personas__default__Notes__Reasons__1"] = "invoice";
            s["Personas__default__Notes__Reasons__2"] = "opening_hours";
            s["FUNCTIONS_HOST_FUNCTION_KEY"] = functionKey;
            s["FUNCTIONS_HOST_MASTER_KEY"] = masterKey;
            return s;
        }

        using var storageOn = await AzuriteProcess.StartAsync(o.Repo, queues: true);
        using var storageOff = await AzuriteProcess.StartAsync(o.Repo, queues: true);
        var on = new Instance("notes-on", storageOn, new AppVariant("notes-on", "the app, notes on", appFolder, "VoiceFunctions.dll", Settings(storageOn, notes: true)), functionKey, masterKey);
        var off = new Instance("notes-off", storageOff, new AppVariant("notes-off", "the app, Notes__Enabled=false", appFolder, "VoiceFunctions.dll", Settings(storageOff, notes: false)), functionKey, masterKey);
        await using (on)
        await using (off)
        {
            await Task.WhenAll(on.StartAsync(), off.StartAsync());

            // Warm-up, not recorded: JIT of both request paths, the first queue poll, the model client's first call.
            var warmOn = new List<CallPlayed>();
            for (var i = 0; i < 3; i++)
            {
                warmOn.Add(await PlayCallAsync(on, null));
                await PlayCallAsync(off, null);
            }

            var warm = await Task.WhenAll(warmOn.Where(w => w.EndedUtc is not null).Select(w => WaitForNotesAsync(on, off, w.Id, null, w.EndedUtc!.Value, w.EndedTimestamp, TimeSpan.FromSeconds(o.NotesTimeoutSeconds), o.NotesPollMs)));
            result.WarmUp = [.. warm.Select(w => w.Status ?? w.Error ?? "none")];
            Program.Log($"  warm-up notes: {string.Join(", ", result.WarmUp)}");
            if (!warm.Any(w => w.Status == "written"))
            {
                result.Problems.Add("no warm-up call got written notes: the notes path does not work in this build (the driver's console shows the notes-on emulator's last lines); notes timings are not meaningful");
                Program.Log("  notes-on emulator output (last lines):\n" + Tail(on.App?.Output));
            }

            var allOn = new CallRecorder(null);
            var allOff = new CallRecorder(null);

            // Without working notes, each call is still read back once (the same read load), not waited for.
            var timeout = result.Problems.Count == 0 ? TimeSpan.FromSeconds(o.NotesTimeoutSeconds) : TimeSpan.FromMilliseconds(o.NotesPollMs * 1.5);
            foreach (var pacing in o.NotesPacingMs)
            {
                result.Schedules.Add(await RunScheduleAsync(on, off, model, pacing, timeout, o, allOn, allOff));
            }

            result.AllSchedules = Compare(allOn, allOff);

            result.ModelRequests = model.Counts;
            if (on.App!.Process.HasExited || off.App!.Process.HasExited)
            {
                throw new InvalidOperationException($"an app instance died during the notes phase:\n{on.App.Output}\n{off.App!.Output}");
            }
        }

        result.LoadAverageAtEnd = ProcStats.LoadAverage();
        result.WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1);
        return result;
    }

    private static string Tail(string? output)
    {
        var lines = (output ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join("\n", lines.TakeLast(40));
    }

    private static async Task<NotesSchedule> RunScheduleAsync(Instance on, Instance off, NotesModel model, int pacingMs, TimeSpan timeout, BenchOptions o, CallRecorder allOn, CallRecorder allOff)
    {
        Program.Log($"  notes: {o.NotesCalls} call pairs, {(pacingMs == 0 ? "back to back" : $"one every {pacingMs} ms")}");
        var recordOn = new CallRecorder(allOn);
        var recordOff = new CallRecorder(allOff);
        var waits = new List<(CallPlayed Call, Task<NotesOutcome> Notes)>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < o.NotesCalls; i++)
        {
            var due = TimeSpan.FromMilliseconds((double)pacingMs * i) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due);
            }

            // Alternate who goes first, so neither instance always meets the other's just-finished call.
            CallPlayed a, b;
            if (i % 2 == 0)
            {
                a = await PlayCallAsync(on, recordOn);
                b = await PlayCallAsync(off, recordOff);
            }
            else
            {
                b = await PlayCallAsync(off, recordOff);
                a = await PlayCallAsync(on, recordOn);
            }

            if (a.EndedUtc is { } ended)
            {
                waits.Add((a, WaitForNotesAsync(on, off, a.Id, b.Id, ended, a.EndedTimestamp, timeout, o.NotesPollMs)));
            }
        }

        var playSeconds = clock.Elapsed.TotalSeconds;
        await Task.WhenAll(waits.Select(w => w.Notes));
        var outcomes = waits.Select(w => w.Notes.Result with
        {
            ModelAnsweredMs = model.AnsweredByTag.TryGetValue(w.Call.Tag, out var answered) ? Math.Round((answered - w.Call.EndedUtc!.Value).TotalMilliseconds, 1) : null,
        }).ToList();
        var schedule = new NotesSchedule
        {
            Name = pacingMs == 0 ? "back to back" : F($"one pair every {pacingMs} ms"),
            PacingMs = pacingMs,
            Pairs = o.NotesCalls,
            PlaySeconds = Math.Round(playSeconds, 1),
            Written = outcomes.Count(x => x.Status == "written"),
            Failed = outcomes.Count(x => x.Status == "failed"),
            TimedOut = outcomes.Count(x => x.Status is null),
            FailureReasons = new SortedDictionary<string, int>(outcomes.Where(x => x.Status != "written").GroupBy(x => x.Error ?? x.Status ?? "none", StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal), StringComparer.Ordinal),
            Sources = new SortedDictionary<string, int>(outcomes.Where(x => x.Status == "written").GroupBy(x => x.Source ?? "(none)", StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal), StringComparer.Ordinal),
            AtHasFraction = outcomes.Any(x => x.AtText is not null) && outcomes.Where(x => x.AtText is not null).All(x => x.AtText!.Contains('.', StringComparison.Ordinal)),
            AtMs = Spread.From(outcomes.Where(x => x.Status == "written" && x.AtMs is not null).Select(x => x.AtMs!.Value)),
            ModelAnsweredMs = Spread.From(outcomes.Where(x => x.Status == "written" && x.ModelAnsweredMs is not null).Select(x => x.ModelAnsweredMs!.Value)),
            SeenMs = Spread.From(outcomes.Where(x => x.Status == "written").Select(x => x.SeenMs)),
            Answers = Compare(recordOn, recordOff),
        };

        Program.Log($"    written {schedule.Written}, failed {schedule.Failed}, timed out {schedule.TimedOut}; model answered p50 {schedule.ModelAnsweredMs?.P50Ms} ms, p95 {schedule.ModelAnsweredMs?.P95Ms} ms; seen p50 {schedule.SeenMs?.P50Ms} ms, p95 {schedule.SeenMs?.P95Ms} ms; session_end p50 on/off {schedule.Answers.Ratios.GetValueOrDefault("session_end.p50.on/off")}");
        return schedule;
    }

    /// <summary>Each event type's answer times on and off, and the ratios on ÷ off.</summary>
    private static AnswerComparison Compare(CallRecorder on, CallRecorder off)
    {
        var result = new AnswerComparison { On = on.Summary(), Off = off.Summary() };
        foreach (var type in LoadGenerator.EventTypes)
        {
            var x = result.On.GetValueOrDefault(type);
            var y = result.Off.GetValueOrDefault(type);
            if (x is { Count: > 0 } && y is { Count: > 0 })
            {
                result.Ratios[$"{type}.p50.on/off"] = Ratio(x.P50Ms, y.P50Ms);
                result.Ratios[$"{type}.p95.on/off"] = Ratio(x.P95Ms, y.P95Ms);
                result.Ratios[$"{type}.mean.on/off"] = Ratio(x.MeanMs, y.MeanMs);
            }
        }

        return result;
    }

    private static double Ratio(double a, double b) => b <= 0 ? double.NaN : Math.Round(a / b, 2);

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>session_start, the user_speak turns, session_end; the time of session_end's 2xx on the client's clock.</summary>
    private static async Task<CallPlayed> PlayCallAsync(Instance instance, CallRecorder? recorder)
    {
        var id = Guid.NewGuid().ToString();
        var tag = "REF-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4));
        if (!await SendAsync(instance, recorder, 0, LoadGenerator.Body("session_start", id)))
        {
            return new CallPlayed(id, tag, null, 0);
        }

        foreach (var text in Turns)
        {
            await SendAsync(instance, recorder, 1, LoadGenerator.Body("user_speak", id, string.Format(CultureInfo.InvariantCulture, text, tag)));
        }

        return await SendAsync(instance, recorder, 2, LoadGenerator.Body("session_end", id))
            ? new CallPlayed(id, tag, DateTime.UtcNow, Stopwatch.GetTimestamp())
            : new CallPlayed(id, tag, null, 0);
    }

    private static async Task<bool> SendAsync(Instance instance, CallRecorder? recorder, int type, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        request.Headers.Add("x-functions-key", instance.FunctionKey);
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var response = await instance.Http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var ticks = Stopwatch.GetTimestamp() - start;
            var roundTrips = response.Headers.TryGetValues("X-Storage-Round-Trips", out var values) &&
                int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
            recorder?.Add(type, ticks, (int)response.StatusCode, roundTrips);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            recorder?.Fail(type, ex.GetType().Name);
            return false;
        }
    }

    /// <summary>
    /// Polls <c>GET /api/sessions/{id}</c> on the notes-on instance every <see cref="BenchOptions.NotesPollMs"/> until its
    /// notes are <c>written</c> or <c>failed</c>, or the time-out. The notes-off instance's call of the same pair is read
    /// as often, so both carry the same read load while session_end is timed.
    /// </summary>
    private static async Task<NotesOutcome> WaitForNotesAsync(Instance on, Instance off, string id, string? twinId, DateTime endedUtc, long endedTimestamp, TimeSpan deadline, int pollMs)
    {
        string? lastError = null;
        while (Stopwatch.GetElapsedTime(endedTimestamp) < deadline)
        {
            await Task.Delay(pollMs);
            var read = ReadAsync(on, id);
            var twin = twinId is null ? Task.FromResult<JsonObject?>(null) : ReadAsync(off, twinId);
            JsonObject? session;
            try
            {
                session = await read;
                await twin;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
            {
                lastError = "read: " + (ex is HttpRequestException h && h.StatusCode is { } code ? ((int)code).ToString(CultureInfo.InvariantCulture) : ex.GetType().Name);
                continue;
            }

            var notes = session?["notes"] as JsonObject;
            var status = notes?["status"]?.GetValue<string>();
            if (notes is null || status is not ("written" or "failed"))
            {
                continue;
            }

            var seenMs = Math.Round(Stopwatch.GetElapsedTime(endedTimestamp).TotalMilliseconds, 1);
            var atText = notes["at"]?.GetValue<string>();
            double? atMs = DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? Math.Round((at.UtcDateTime - endedUtc).TotalMilliseconds, 1)
                : null;
            return new NotesOutcome(status, notes["source"]?.GetValue<string>(), notes["error"]?.GetValue<string>(), atText, atMs, seenMs);
        }

        return new NotesOutcome(null, null, lastError ?? "timeout", null, null, 0);
    }

    private static async Task<JsonObject?> ReadAsync(Instance instance, string id)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/sessions/{id}?limit=1");
        request.Headers.Add("x-functions-key", instance.MasterKey);
        using var response = await instance.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await JsonNode.ParseAsync(await response.Content.ReadAsStreamAsync()) as JsonObject;
    }

    private sealed record CallPlayed(string Id, string Tag, DateTime? EndedUtc, long EndedTimestamp);

    /// <summary>One call's notes: status, and ms after session_end's answer: <c>at</c>, the model's answer, the poll that saw them.</summary>
    private sealed record NotesOutcome(string? Status, string? Source, string? Error, string? AtText, double? AtMs, double SeenMs)
    {
        public double? ModelAnsweredMs { get; init; }
    }

    /// <summary>One app instance under its own emulator on its own Azurite.</summary>
    private sealed class Instance(string name, AzuriteProcess storage, AppVariant variant, string functionKey, string masterKey) : IAsyncDisposable
    {
        public string Name { get; } = name;
        public AzuriteProcess Storage { get; } = storage;
        public string FunctionKey { get; } = functionKey;
        public string MasterKey { get; } = masterKey;
        public Child? App { get; private set; }
        public HttpClient Http { get; private set; } = null!;

        public async Task StartAsync()
        {
            var port = Child.FreePort();
            App = Program.Launch(variant, port);
            await Child.WaitForPortAsync(App, port, TimeSpan.FromSeconds(120));
            Http = LoadGenerator.CreateClient(port);
        }

        public ValueTask DisposeAsync()
        {
            Http?.Dispose();
            App?.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Latencies of one instance by event type (0 session_start, 1 user_speak, 2 session_end).</summary>
    private sealed class CallRecorder(CallRecorder? all)
    {
        private readonly ConcurrentBag<(int Type, long Ticks, int RoundTrips)> _answers = [];
        private readonly ConcurrentDictionary<string, int> _errors = new(StringComparer.Ordinal);

        public void Add(int type, long ticks, int status, int roundTrips)
        {
            if (status is < 200 or > 299)
            {
                Fail(type, status.ToString(CultureInfo.InvariantCulture));
                return;
            }

            _answers.Add((type, ticks, roundTrips));
            all?.Add(type, ticks, status, roundTrips);
        }

        public void Fail(int type, string kind)
        {
            _errors.AddOrUpdate(LoadGenerator.EventTypes[type] + ":" + kind, 1, (_, n) => n + 1);
            all?.Fail(type, kind);
        }

        public Dictionary<string, EventSpread> Summary()
        {
            var result = new Dictionary<string, EventSpread>(StringComparer.Ordinal);
            for (var t = 0; t < LoadGenerator.EventTypes.Length; t++)
            {
                var type = LoadGenerator.EventTypes[t];
                var mine = _answers.Where(a => a.Type == t).ToList();
                var spread = Spread.From(mine.Select(a => a.Ticks * 1000.0 / Stopwatch.Frequency));
                result[type] = new EventSpread
                {
                    Count = mine.Count,
                    Errors = _errors.Where(e => e.Key.StartsWith(type + ":", StringComparison.Ordinal)).Sum(e => e.Value),
                    P50Ms = spread?.P50Ms ?? 0,
                    P95Ms = spread?.P95Ms ?? 0,
                    MaxMs = spread?.MaxMs ?? 0,
                    MeanMs = spread?.MeanMs ?? 0,
                    RoundTrips = new SortedDictionary<int, int>(mine.GroupBy(a => a.RoundTrips).ToDictionary(g => g.Key, g => g.Count())),
                };
            }

            return result;
        }
    }
}

/// <summary>Nearest-rank percentiles of a small sample (50 calls: p95 is the 48th value).</summary>
public sealed record Spread
{
    public int Count { get; init; }
    public double P50Ms { get; init; }
    public double P95Ms { get; init; }
    public double MaxMs { get; init; }
    public double MinMs { get; init; }
    public double MeanMs { get; init; }

    public static Spread? From(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        double At(double p) => Math.Round(sorted[NearestRank.Index(sorted.Length, p)], 1);
        return new Spread
        {
            Count = sorted.Length,
            P50Ms = At(0.50),
            P95Ms = At(0.95),
            MaxMs = Math.Round(sorted[^1], 1),
            MinMs = Math.Round(sorted[0], 1),
            MeanMs = Math.Round(sorted.Average(), 1),
        };
    }
}

public sealed record EventSpread
{
    public int Count { get; init; }
    public int Errors { get; init; }
    public double P50Ms { get; init; }
    public double P95Ms { get; init; }
    public double MaxMs { get; init; }
    public double MeanMs { get; init; }

    /// <summary>Answers by X-Storage-Round-Trips value (-1: no header).</summary>
    public SortedDictionary<int, int> RoundTrips { get; init; } = [];
}

public sealed record NotesSchedule
{
    public string Name { get; init; } = string.Empty;
    public int PacingMs { get; init; }
    public int Pairs { get; init; }
    public double PlaySeconds { get; init; }
    public int Written { get; init; }
    public int Failed { get; init; }
    public int TimedOut { get; init; }
    public SortedDictionary<string, int> FailureReasons { get; init; } = [];
    public SortedDictionary<string, int> Sources { get; init; } = [];

    /// <summary>Whether every <c>notes.at</c> seen had sub-second digits (else the stored times are ±1 s).</summary>
    public bool AtHasFraction { get; init; }

    /// <summary>
    /// notes.at − the client's UTC clock at session_end's 2xx (same machine clock), written notes only. The app takes
    /// <c>at</c> when CallNotes has read the trace's facts, before it asks the model: the queue's share of the time.
    /// </summary>
    public Spread? AtMs { get; init; }

    /// <summary>The stand-in's (last) notes answer for the call − session_end's 2xx: a lower bound of "stored".</summary>
    public Spread? ModelAnsweredMs { get; init; }

    /// <summary>session_end's 2xx → the poll that first saw the notes (late by up to the poll interval plus a read): an upper bound of "stored".</summary>
    public Spread? SeenMs { get; init; }

    public AnswerComparison Answers { get; init; } = new();
}

/// <summary>Answer times by event type of the notes-on and the notes-off instance, and on ÷ off.</summary>
public sealed record AnswerComparison
{
    public Dictionary<string, EventSpread> On { get; init; } = [];
    public Dictionary<string, EventSpread> Off { get; init; } = [];
    public Dictionary<string, double> Ratios { get; } = [];
}

public sealed record NotesResult
{
    public string GeneratedAtUtc { get; init; } = string.Empty;
    public string? Commit { get; init; }
    public string LoadAverageAtStart { get; init; } = string.Empty;
    public string? LoadAverageAtEnd { get; set; }
    public double WallSeconds { get; set; }
    public int ModelDelayMs { get; init; }
    public int PollMs { get; init; }
    public int TimeoutSeconds { get; init; }
    public int UserSpeakPerCall { get; init; }
    public List<string> WarmUp { get; set; } = [];
    public List<NotesSchedule> Schedules { get; } = [];

    /// <summary>Every schedule's answers together (the larger sample for on ÷ off).</summary>
    public AnswerComparison? AllSchedules { get; set; }
    public IReadOnlyDictionary<string, long> ModelRequests { get; set; } = new Dictionary<string, long>();
    public List<string> Problems { get; } = [];
}
