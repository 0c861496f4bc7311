using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// A stand-in for the Application Insights ingestion endpoint on 127.0.0.1: the Azure Monitor exporter
/// honours <c>IngestionEndpoint=</c> in the connection string and POSTs its envelopes (gzip, one JSON per line)
/// to <c>v2.1/track</c>; this keeps every envelope and answers as the service does.
/// </summary>
public sealed class IngestionCapture : IAsyncDisposable
{
    private HttpListener _listener = new();
    private readonly List<JsonObject> _envelopes = [];
    private readonly StringBuilder _raw = new();
    private readonly Task _loop;

    public IngestionCapture()
    {
        // A port found free can be taken by a parallel test before the listener binds it: try another.
        for (var attempt = 1; ; attempt++)
        {
            Port = Infrastructure.Azurite.FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                _listener = new HttpListener();
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    /// <summary>
    /// True: requests are accepted but never answered (an ingestion endpoint that hangs, as a slow or unreachable
    /// region does for the exporter) until the capture is disposed.
    /// </summary>
    public bool Stalled { get; set; }

    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string ConnectionString => $"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:{Port}/";

    /// <summary>Settings that point the app at this endpoint and keep the exporter from calling anywhere else.</summary>
    public IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = ConnectionString,
        ["ApplicationInsights:EnableQuickPulseMetricStream"] = "false",
        ["ApplicationInsights:EnablePerformanceCounterCollectionModule"] = "false",
        ["AzureMonitorExporter:DisableOfflineStorage"] = "true",
    };

    public IReadOnlyList<JsonObject> Envelopes
    {
        get
        {
            lock (_envelopes)
            {
                return [.. _envelopes];
            }
        }
    }

    /// <summary>Every body received, decompressed: to prove something was never sent.</summary>
    public string Raw
    {
        get
        {
            lock (_envelopes)
            {
                return _raw.ToString();
            }
        }
    }

    public IEnumerable<JsonObject> OfType(string baseType) => Envelopes.Where(e => (string?)e["data"]?["baseType"] == baseType);

    /// <summary>
    /// Waits (up to <paramref name="timeout"/>) until what arrived satisfies <paramref name="done"/>: the exporter
    /// delivers asynchronously, also after the app's graceful stop began. What never arrives still fails the test.
    /// </summary>
    public async Task WaitForAsync(Func<IReadOnlyList<JsonObject>, bool> done, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!done(Envelopes) && clock.Elapsed < timeout)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                await ReceiveAsync(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
            {
                return; // stopped while the exporter was still sending
            }
        }
    }

    private async Task ReceiveAsync(HttpListenerContext context)
    {
        if (Stalled)
        {
            await _disposed.Task.ConfigureAwait(false);
            return;
        }

        {
            var accepted = 0;
            using (var body = new MemoryStream())
            {
                await context.Request.InputStream.CopyToAsync(body).ConfigureAwait(false);
                body.Position = 0;
                Stream stream = string.Equals(context.Request.Headers["Content-Encoding"], "gzip", StringComparison.OrdinalIgnoreCase) ? new GZipStream(body, CompressionMode.Decompress) : body;
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var text = await reader.ReadToEndAsync().ConfigureAwait(false);
                lock (_envelopes)
                {
                    _raw.AppendLine(text);
                    foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (JsonNode.Parse(line) is JsonObject envelope)
                        {
                            _envelopes.Add(envelope);
                            accepted++;
                        }
                    }
                }
            }

            var answer = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { itemsReceived = accepted, itemsAccepted = accepted, errors = Array.Empty<object>() }));
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(answer).ConfigureAwait(false);
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed.TrySetResult();
        _listener.Stop();
        _listener.Close();
        await _loop.ConfigureAwait(false);
    }
}
