using VoiceFunctions.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using VoiceFunctions.Functions;
using VoiceFunctions.Hosting;

namespace VoiceFunctions.Tests;

/// <summary>
/// The worker's side of a broken transport. Under the emulator the front reads the body whole before the worker hears
/// of the request (FuzzTests covers that path); under the real Functions host the body is streamed to the worker, so the
/// worker itself sees a body that ends early, breaks its framing or stalls. That must be the sender's 4xx, logged
/// nowhere, never the 500 of an unexpected exception. The call logic is never reached on this path.
/// </summary>
public sealed class UnreadableBodyTests
{
    public static TheoryData<string, int, string> Failures => new()
    {
        { "cut short", 400, "urn:voicefunctions:problem:unreadable-body" },
        { "bad chunk", 400, "urn:voicefunctions:problem:unreadable-body" },
        { "stalled", 408, "urn:voicefunctions:problem:body-timeout" },
        { "too large", 413, "urn:voicefunctions:problem:too-large" },
        { "connection reset", 400, "urn:voicefunctions:problem:unreadable-body" },
        { "connection aborted", 400, "urn:voicefunctions:problem:unreadable-body" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task A_body_that_fails_to_read_is_a_4xx_problem_and_logs_nothing(string failure, int status, string type)
    {
        Exception error = failure switch
        {
            "cut short" => new BadHttpRequestException("Unexpected end of request content.", 400),
            "bad chunk" => new BadHttpRequestException("Bad chunk size data.", 400),
            "stalled" => new BadHttpRequestException("Reading the request body timed out due to data arriving too slowly.", 408),
            "too large" => new BadHttpRequestException("Request body too large.", 413),
            "connection reset" => new IOException("Connection reset by peer"),
            _ => new OperationCanceledException("The client aborted the request."),
        };
        var logs = new RecordingLogger();
        // The call handler is never reached when the body cannot be read: none is needed here.
        var function = new EventsFunction(null!, Options.Create(new WebhookOptions()), new TranscriptFingerprint(Options.Create(new TelemetryOptions())), TimeProvider.System, logs);
        var http = new DefaultHttpContext();
        http.Request.Method = "POST";
        http.Request.ContentType = "application/json";
        http.Request.Body = new FailingStream("{\"type\":\"session_start\""u8.ToArray(), error);

        var result = await function.RunAsync(http.Request, CancellationToken.None);

        var problem = Assert.IsType<ProblemHttpResult>(result);
        Assert.Equal(status, problem.StatusCode);
        Assert.Equal(type, problem.ProblemDetails.Type);
        Assert.Empty(logs.Records);
    }

    /// <summary>Hands out some bytes, then fails the way Kestrel's request body does.</summary>
    private sealed class FailingStream(byte[] prefix, Exception error) : Stream
    {
        private bool _prefixSent;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefixSent)
            {
                return ValueTask.FromException<int>(error);
            }

            _prefixSent = true;
            prefix.CopyTo(buffer);
            return ValueTask.FromResult(prefix.Length);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class RecordingLogger : ILogger<EventsFunction>
    {
        public List<string> Records { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Records.Add($"{logLevel}: {formatter(state, exception)}");
    }
}
