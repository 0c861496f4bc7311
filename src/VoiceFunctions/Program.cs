using Microsoft.Azure.Functions.Worker.Builder;
using VoiceFunctions.Calls;
using VoiceFunctions.Chat;
using VoiceFunctions.Hosting;
using VoiceFunctions.Notes;
using VoiceFunctions.Personas;
using VoiceFunctions.Sessions;
using VoiceFunctions.Telemetry;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.UseWebhookChecks(); // worker middleware: only after ConfigureFunctionsWebApplication does it see the HttpContext

builder.Services.AddWebhook(builder.Configuration, builder.Environment);
builder.Services.AddPersonas(builder.Configuration);
builder.Services.AddSessionStore(builder.Configuration);
builder.Services.AddChatModel(builder.Configuration);
builder.Services.AddCalls(builder.Configuration);
builder.Services.AddCallTelemetry(builder.Configuration);
builder.Services.AddCallNotes(builder.Configuration);

return builder.Build().RunOrExplain();
