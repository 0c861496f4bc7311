using System.Diagnostics;
using System.Net.Http.Headers;

namespace VoiceFunctions.Bench;

/// <summary>
/// One way of starting an app: which published folder, which settings (environment variables), and whether as an
/// isolated worker under the emulator CLI (the default) or directly on Kestrel (the old custom-handler way).
/// </summary>
public sealed record AppVariant(string Name, string Description, string AppFolder, string Dll, IReadOnlyDictionary<string, string> Settings, bool ViaEmulator = true);

/// <param name="FirstOkMs">Spawn → first 2xx on POST /api/events.</param>
/// <param name="ReadyMs">Spawn → the ready line: the emulator's "Ready:" (every function loaded, port bound), or "Application started" when started directly.</param>
/// <param name="RssAfterMiB">VmRSS of the worker (or the app started directly) right after the first answer.</param>
/// <param name="HostRssAfterMiB">VmRSS of the emulator right after the first answer.</param>
public sealed record ColdStartRun(double FirstOkMs, double? ReadyMs, double? RssAfterMiB, double? HostRssAfterMiB);

public sealed record ColdStartResult
{
    public required string Description { get; init; }
    public bool ViaEmulator { get; init; }
    public required List<double> FirstOkMs { get; init; }
    public double MedianMs { get; init; }
    public double MinMs { get; init; }
    public double MaxMs { get; init; }

    /// <summary>Median spawn → ready line (emulator: every function loaded and the port bound; direct: listening).</summary>
    public double? MedianReadyMs { get; init; }

    /// <summary>Median VmRSS of the worker (or the app started directly) right after the first answer.</summary>
    public double? MedianRssAfterMiB { get; init; }

    /// <summary>Median VmRSS of the emulator right after the first answer.</summary>
    public double? MedianHostRssAfterMiB { get; init; }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static ColdStartResult From(string description, bool viaEmulator, List<ColdStartRun> runs)
    {
        var ok = runs.Select(r => r.FirstOkMs).ToList();
        var started = runs.Where(r => r.ReadyMs is not null).Select(r => r.ReadyMs!.Value).ToList();
        var rss = runs.Where(r => r.RssAfterMiB is not null).Select(r => r.RssAfterMiB!.Value).ToList();
        var hostRss = runs.Where(r => r.HostRssAfterMiB is not null).Select(r => r.HostRssAfterMiB!.Value).ToList();
        return new ColdStartResult
        {
            Description = description,
            ViaEmulator = viaEmulator,
            FirstOkMs = [.. ok.Select(v => Math.Round(v, 1))],
            MedianMs = Math.Round(Median(ok), 1),
            MinMs = Math.Round(ok.Min(), 1),
            MaxMs = Math.Round(ok.Max(), 1),
            MedianReadyMs = started.Count == 0 ? null : Math.Round(Median(started), 1),
            MedianRssAfterMiB = rss.Count == 0 ? null : Math.Round(Median(rss), 1),
            MedianHostRssAfterMiB = hostRss.Count == 0 ? null : Math.Round(Median(hostRss), 1),
        };
    }
}

/// <summary>
/// Cold start: from spawning the emulator CLI (<c>dotnet FunctionsHost.dll &lt;app&gt; &lt;port&gt;</c>, which starts the
/// worker, loads its functions and only then binds the port) — or, for the direct context variant,
/// <c>dotnet App.dll</c> — to the first 2xx answer to POST /api/events (a session_start of a new call).
/// The port is polled every 5 ms.
/// </summary>
public static class ColdStart
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<ColdStartRun> MeasureAsync(AppVariant variant, TimeSpan timeout)
    {
        var port = Child.FreePort();
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2), PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(10),
        };
        var body = LoadGenerator.Body("session_start", Guid.NewGuid().ToString());

        var spawned = Stopwatch.GetTimestamp();
        using var child = Program.Launch(variant, port);
        while (true)
        {
            if (Stopwatch.GetElapsedTime(spawned) > timeout)
            {
                throw new TimeoutException($"{variant.Name}: no 2xx on POST /api/events within {timeout}:\n{child.Output}");
            }

            if (child.Process.HasExited)
            {
                throw new InvalidOperationException($"{variant.Name} exited with {child.Process.ExitCode}:\n{child.Output}");
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/events") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = Json;
                using var response = await http.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    var ok = Stopwatch.GetElapsedTime(spawned).TotalMilliseconds;
                    var started = child.HostStartedTimestamp;
                    var worker = variant.ViaEmulator ? Program.WorkerPid(child, variant.Dll) : child.Pid;
                    return new ColdStartRun(
                        ok,
                        started == 0 ? null : Stopwatch.GetElapsedTime(spawned, started).TotalMilliseconds,
                        worker is { } w ? ProcStats.Memory(w)?.Rss : null,
                        variant.ViaEmulator ? ProcStats.Memory(child.Pid)?.Rss : null);
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(5);
        }
    }
}
