using System.Diagnostics;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests;

/// <summary>
/// scripts/sample-call.sh, the README's first call, run as a user runs it against the published app with keys on: every
/// event is answered 2xx, the call reads back with the admin key, and the script ends by showing the call's notes, which
/// the CallNotes queue function wrote (issue 21 item 6). Azurite of its own: its queue must hold this call's request only.
/// </summary>
public sealed class SampleCallTests : IAsyncLifetime
{
    private readonly Azurite _storage = new();
    private StandInModel _model = null!;

    public async ValueTask InitializeAsync()
    {
        await _storage.InitializeAsync();
        _model = await StandInModel.StartAsync();
    }

    [Fact]
    public async Task The_sample_call_ends_by_showing_the_call_s_notes()
    {
        await using var app = new WebhookApp(_storage, new Dictionary<string, string?>
        {
            ["ChatModel:Endpoint"] = _model.Endpoint.ToString(),
            ["ChatModel:Deployment"] = "sample-standin",
            ["ChatModel:ApiKey"] = "sample-test-key",
        })
        { EnforceKeys = true, EnableQueues = true };
        await app.StartAsync();

        var start = new ProcessStartInfo("bash")
        {
            ArgumentList = { Path.Combine(Repository.Root, "scripts", "sample-call.sh"), app.Host.BaseAddress.ToString().TrimEnd('/') },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment = { ["FUNCTION_KEY"] = WebhookApp.FunctionKey, ["MASTER_KEY"] = WebhookApp.MasterKey },
        };
        using var script = Process.Start(start)!;
        var output = script.StandardOutput.ReadToEndAsync();
        var errors = script.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await script.WaitForExitAsync(limit.Token);
        var text = await output;

        Assert.True(script.ExitCode == 0, $"sample-call.sh exited {script.ExitCode}: {await errors}\n{text}");
        Assert.DoesNotContain("< HTTP 4", text, StringComparison.Ordinal);
        Assert.DoesNotContain("< HTTP 5", text, StringComparison.Ordinal);
        Assert.Contains("\"transferred\":true", text, StringComparison.Ordinal); // the escalation's transfer, in the read-back
        var notes = text[text.LastIndexOf("\"notes\":{", StringComparison.Ordinal)..];
        Assert.Contains("\"status\":\"written\"", notes, StringComparison.Ordinal);
        Assert.Contains("\"source\":\"model\"", notes, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        await _model.DisposeAsync();
        await _storage.DisposeAsync();
    }
}
