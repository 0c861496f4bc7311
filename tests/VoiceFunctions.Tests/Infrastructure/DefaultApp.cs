namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>One app with the test personas and no API token, shared by a test class.</summary>
public sealed class DefaultApp(Azurite azurite) : IAsyncDisposable
{
    private readonly WebhookApp _app = new(azurite);

    public Azurite Azurite => azurite;

    public CallClient Calls() => _app.Calls();

    public WebhookApp App => _app;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);
}
