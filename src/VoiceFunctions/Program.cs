using VoiceFunctions.Calls;
using VoiceFunctions.Http;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

var builder = WebApplication.CreateBuilder(args);
builder.WebHost.UseFunctionsCustomHandlerPort();

builder.Services.AddPersonas(builder.Configuration);
builder.Services.AddSessionStore(builder.Configuration);
builder.Services.AddCalls(builder.Configuration);
builder.Services.AddCallTelemetry(builder.Configuration);
builder.Services.AddWebhookHttp(builder.Configuration);

var app = builder.Build();
app.MapWebhook();

return app.RunOrExplain();

/// <summary>The entry point, visible to the test host.</summary>
public partial class Program;
