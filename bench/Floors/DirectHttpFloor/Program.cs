// The `dotnet new web` template, started directly on Kestrel (port from FUNCTIONS_CUSTOMHANDLER_PORT, as the
// Functions host once started the custom handler), plus the one route the benchmark posts to: it does nothing and
// answers 204. The `direct-http-floor` target: the HTTP floor without the emulator's proxy and invocation hop.
var builder = WebApplication.CreateBuilder(args);
if (Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") is { Length: > 0 } port)
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
}

var app = builder.Build();

app.MapGet("/", () => "Hello World!");
app.MapPost("/api/events", () => Results.NoContent());

app.Run();
