using System.Diagnostics;
using System.Net.Http.Headers;

namespace VoiceFunctions.Bench;

/// <summary>One way of starting an app: which published folder, and which runtime knobs in the environment.</summary>
public sealed record AppVariant(string Name, string Description, string AppFolder, string Dll, IReadOnlyDictionary<string, string> Settings);

public sealed record ColdStartRun(double FirstOkMs, double? HostStartedMs, double? RssAfterMiB);

public sealed record ColdStartResult
{
    public required string Description { get; init; }
    public required List<double> FirstOkMs { get; init; }
    public double MedianMs { get; init; }
    public double MinMs { get; init; }
    public double MaxMs { get; init; }

    /// <summary>Median spawn → "Application started" log line: the host is listening, before any request.</summary>
    public double? MedianHostStartedMs { get; init; }

    /// <summary>Median VmRSS right after the first answer.</summary>
    public double? MedianRssAfterMiB { get; init; }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static ColdStartResult From(string description, List<ColdStartRun> runs)
    {
        var ok = runs.Select(r => r.FirstOkMs).ToList();
        var started = runs.Where(r => r.HostStartedMs is not null).Select(r => r.HostStartedMs!.Value).ToList();
        var rss = runs.Where(r => r.RssAfterMiB is not null).Select(r => r.RssAfterMiB!.Value).ToList();
        return new ColdStartResult
        {
            Description = description,
            FirstOkMs = [.. ok.Select(v => Math.Round(v, 1))],
            MedianMs = Math.Round(Median(ok), 1),
            MinMs = Math.Round(ok.Min(), 1),
            MaxMs = Math.Round(ok.Max(), 1),
            MedianHostStartedMs = started.Count == 0 ? null : Math.Round(Median(started), 1),
            MedianRssAfterMiB = rss.Count == 0 ? null : Math.Round(Median(rss), 1),
        };
    }
}

/// <summary>
/// Cold start as the Functions host sees it: from spawning <c>dotnet App.dll</c> (port in
/// FUNCTIONS_CUSTOMHANDLER_PORT, app folder as working directory) to the first 2xx answer to
/// POST /api/events (a session_start of a new call). The port is polled every 5 ms.
/// </summary>
public static class ColdStart
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<ColdStartRun> MeasureAsync(AppVariant variant, TimeSpan timeout)
    {
        var port = Child.FreePort();
        var env = Program.HostEnvironment(port, variant.Settings);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2), PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(10),
        };
        var body = LoadGenerator.Body("session_start", Guid.NewGuid().ToString());

        var spawned = Stopwatch.GetTimestamp();
        using var child = Child.Start(variant.Name, "dotnet", [variant.Dll], variant.AppFolder, env);
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
                    return new ColdStartRun(
                        ok,
                        started == 0 ? null : Stopwatch.GetElapsedTime(spawned, started).TotalMilliseconds,
                        ProcStats.Memory(child.Pid)?.Rss);
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
