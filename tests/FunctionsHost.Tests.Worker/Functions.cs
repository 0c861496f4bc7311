using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace VoiceFunctions.FunctionsHost.TestWorker;

/// <summary>One function per emulator behaviour the tests check.</summary>
public sealed partial class Functions(ILogger<Functions> logger)
{
    [Function("Echo")]
    public IActionResult Echo([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "echo")] HttpRequest req)
    {
        LogEcho(logger, req.Path);
        return new ContentResult { Content = "echo", ContentType = "text/plain", StatusCode = 200 };
    }

    [Function("PostItem")]
    public static async Task<IActionResult> PostItem(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "items/{id}")] HttpRequest req,
        string id,
        FunctionContext context)
    {
        using var reader = new StreamReader(req.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.CancellationToken).ConfigureAwait(false);
        // Trigger metadata is what the host sent in the invocation request (route values and query).
        context.BindingContext.BindingData.TryGetValue("id", out var metadataId);
        return new JsonResult(new
        {
            id,
            metadataId = Convert.ToString(metadataId, CultureInfo.InvariantCulture),
            query = req.Query["q"].ToString(),
            body,
            header = req.Headers["x-test"].ToString(),
            host = req.Host.Value,
            // The worker applies X-Forwarded-* itself (UseForwardedHeaders) and keeps what it replaced as X-Original-*.
            scheme = req.Scheme,
            remoteIp = req.HttpContext.Connection.RemoteIpAddress?.ToString(),
            pathBase = req.PathBase.Value,
            originalHost = req.Headers["X-Original-Host"].ToString(),
            contentType = req.ContentType,
        });
    }

    [Function("DeleteItem")]
    public static IActionResult DeleteItem(
        [HttpTrigger(AuthorizationLevel.Admin, "delete", Route = "items/{id}")] HttpRequest req,
        string id) =>
        new ContentResult { Content = "deleted " + id, ContentType = "text/plain", StatusCode = 200 };

    [Function("Throws")]
    public static IActionResult Throws([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "throws")] HttpRequest req) =>
        throw new InvalidOperationException("TestWorker throws on purpose");

    [Function("ThrowsAfterWriting")]
    public static async Task<IActionResult> ThrowsAfterWriting(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "throws-after-writing")] HttpRequest req,
        FunctionContext context)
    {
        // Writes part of an answer itself, then throws: the worker's ASP.NET Core request still completes with it.
        // ?length=1 declares the Content-Length first; without it the worker's answer is chunked.
        const string Half = "half an answer";
        req.HttpContext.Response.StatusCode = StatusCodes.Status202Accepted;
        req.HttpContext.Response.ContentType = "text/plain";
        if (req.Query.ContainsKey("length"))
        {
            req.HttpContext.Response.ContentLength = Encoding.UTF8.GetByteCount(Half);
        }

        await req.HttpContext.Response.WriteAsync(Half, context.CancellationToken).ConfigureAwait(false);
        throw new InvalidOperationException("TestWorker throws after writing on purpose");
    }

    [Function("Trace")]
    public static IActionResult Trace(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "trace")] HttpRequest req,
        FunctionContext context) =>
        new ContentResult { Content = context.TraceContext.TraceParent, ContentType = "text/plain", StatusCode = 200 };

    [Function("Die")]
    public static IActionResult Die([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "die")] HttpRequest req)
    {
        // Worker death mid-request (exit code 3, or ?code=N): the host fails the invocation and restarts the worker.
        Environment.Exit(int.TryParse(req.Query["code"], out var code) ? code : 3);
        return new OkResult();
    }

    [Function("NoContent")]
    public static IActionResult NoContent([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "nocontent")] HttpRequest req) =>
        new NoContentResult();

    [Function("Setting")]
    public static IActionResult Setting(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "setting/{name}")] HttpRequest req,
        string name) =>
        // What the emulator put in the worker's environment.
        Environment.GetEnvironmentVariable(name) is { } value
            ? new ContentResult { Content = value, ContentType = "text/plain", StatusCode = 200 }
            : new NotFoundResult();

    [Function("Slow")]
    public static async Task<IActionResult> Slow(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "slow")] HttpRequest req,
        FunctionContext context)
    {
        // Outlives a short host.json functionTimeout.
        await Task.Delay(TimeSpan.FromSeconds(10), context.CancellationToken).ConfigureAwait(false);
        return new OkResult();
    }

    [Function("Metadata")]
    public static IActionResult Metadata(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "metadata")] HttpRequest req,
        FunctionContext context) =>
        // The invocation's trigger metadata as the worker received it from the host, as text.
        new JsonResult(context.BindingContext.BindingData.ToDictionary(
            pair => pair.Key,
            pair => Convert.ToString(pair.Value, CultureInfo.InvariantCulture)));

    [Function("Lines")]
    public static async Task<IActionResult> Lines(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "lines")] HttpRequest req,
        FunctionContext context)
    {
        // Leaves a marker once the first line of the body is in: a test can tell a streamed body from a buffered one.
        var folder = Environment.GetEnvironmentVariable("TestMarkerFolder")!;
        using var reader = new StreamReader(req.Body, Encoding.UTF8);
        var lines = 0;
        while (await reader.ReadLineAsync(context.CancellationToken).ConfigureAwait(false) is { } line)
        {
            if (lines++ == 0)
            {
                await File.WriteAllTextAsync(Path.Combine(folder, "first-line-" + line), line, context.CancellationToken).ConfigureAwait(false);
            }
        }

        return new ContentResult { Content = lines.ToString(CultureInfo.InvariantCulture), ContentType = "text/plain", StatusCode = 200 };
    }

    // Refused by the host at load: a route in its reserved space, and two functions on one route with a method in common.
    [Function("ReservedRoute")]
    public static IActionResult ReservedRoute([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "administer")] HttpRequest req) =>
        new OkResult();

    [Function("TwinGet")]
    public static IActionResult TwinGet([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "twin")] HttpRequest req) =>
        new ContentResult { Content = "TwinGet", ContentType = "text/plain", StatusCode = 200 };

    [Function("TwinAny")]
    public static IActionResult TwinAny([HttpTrigger(AuthorizationLevel.Anonymous, Route = "twin")] HttpRequest req) =>
        new ContentResult { Content = "TwinAny", ContentType = "text/plain", StatusCode = 200 };

    [Function("Wait")]
    public static async Task<IActionResult> Wait(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "wait/{marker}")] HttpRequest req,
        string marker,
        FunctionContext context)
    {
        // Waits long; leaves a marker when the host cancels the invocation.
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(60), context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            var folder = Environment.GetEnvironmentVariable("TestMarkerFolder")!;
            await File.WriteAllTextAsync(Path.Combine(folder, "cancelled-" + marker), marker, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return new OkResult();
    }

    [Function("Tick")]
    public async Task Tick([TimerTrigger("%TestTimerSchedule%")] TimerInfo timer, FunctionContext context)
    {
        var folder = Environment.GetEnvironmentVariable("TestMarkerFolder");
        LogTick(logger, timer.IsPastDue, folder);
        if (!string.IsNullOrEmpty(folder))
        {
            // A test asks for a failing run by dropping a "fail" file into the folder.
            if (File.Exists(Path.Combine(folder, "fail")))
            {
                throw new InvalidOperationException("Tick asked to fail");
            }

            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, "tick-" + Guid.NewGuid().ToString("N") + ".txt");
            await File.WriteAllTextAsync(path, DateTimeOffset.UtcNow.ToString("O"), context.CancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Echo {Path}")]
    private static partial void LogEcho(ILogger logger, PathString path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tick (past due: {IsPastDue}) marker folder {Folder}")]
    private static partial void LogTick(ILogger logger, bool isPastDue, string? folder);
}
