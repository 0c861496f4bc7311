using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Hosting;

public static class WebhookRegistration
{
    /// <summary>The webhook's own settings, problem+json and the start-up checks of settings that hold secrets.</summary>
    public static IServiceCollection AddWebhook(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        services.AddOptions<WebhookOptions>().BindChecked(configuration, WebhookOptions.Section)
            .Validate(o => o.MaxBodyBytes is >= 1024 and <= 1024 * 1024, "AiFlow:MaxBodyBytes must be between 1 KiB and 1 MiB (the table entity limit).")
            .Validate(o => !o.RequireApiToken || !string.IsNullOrEmpty(o.ApiToken) || environment.IsDevelopment(),
                "AiFlow:ApiToken is empty. Set it to the API token configured in the sipgate AI Flow dashboard, or set AiFlow:RequireApiToken=false to run behind the function key alone.")
            // A blank token, or one with spaces or line breaks around it (pasted), would never match what sipgate sends.
            .Validate(o => string.IsNullOrEmpty(o.ApiToken) || (!string.IsNullOrWhiteSpace(o.ApiToken) && o.ApiToken.Trim() == o.ApiToken),
                "AiFlow:ApiToken is blank or has white space around it: set it to the token exactly as the sipgate AI Flow dashboard shows it.")
            .ValidateOnStart();
        services.AddProblemDetails();

        // A graceful stop fits in the host's grace period: the generic host's own limit (30 s by default) would
        // let the server wait for requests after the host has already killed the worker.
        services.AddSingleton<ShutdownBudget>();
        services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownBudget.Total);
        return services;
    }

    /// <summary>
    /// The token check, the invocation's log scope, the storage round-trip header and the problem for an
    /// unexpected failure, as worker middleware: the ASP.NET Core pipeline of the isolated worker takes no
    /// middleware of its own (the host's pipeline is fixed), so cross-cutting checks live here, once.
    /// </summary>
    public static IFunctionsWorkerApplicationBuilder UseWebhookChecks(this IFunctionsWorkerApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseMiddleware<InvocationScopeMiddleware>();
        builder.UseWhen<ApiTokenMiddleware>(HttpTrigger.IsHttp);
        return builder;
    }
}
