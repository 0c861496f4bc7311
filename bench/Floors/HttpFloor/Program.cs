// The `dotnet new web` template, started like a Functions custom handler (port from the environment),
// plus the one route the benchmark posts to: it does nothing and answers 204. Floor (a): the HTTP floor;
// floor (c): the bare web app's cold start.
var builder = WebApplication.CreateBuilder(args);
if (Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") is { Length: > 0 } port)
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
}

var app = builder.Build();

app.MapGet("/", () => "Hello World!");
app.MapPost("/api/events", () => Results.NoContent());

app.Run();
