namespace VoiceFunctions.Http;

public static class HttpRegistration
{
    /// <summary>Problem+json for every error, the API token filter and the app's JSON metadata.</summary>
    public static IServiceCollection AddWebhookHttp(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AiFlowOptions>().Bind(configuration.GetSection(AiFlowOptions.Section))
            .Validate(o => o.MaxBodyBytes is >= 1024 and <= 1024 * 1024, "AiFlow:MaxBodyBytes must be between 1 KiB and 1 MiB (the table entity limit).")
            .ValidateOnStart();
        services.AddProblemDetails();
        services.AddSingleton<ApiTokenFilter>();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJsonContext.Default));
        return services;
    }

    /// <summary>
    /// The Functions host forwards /api/… to the handler unchanged; the same routes serve standalone runs.
    /// Every /api endpoint goes through the one token check.
    /// </summary>
    public static WebApplication MapWebhook(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (app.Configuration.GetValue<bool>("Diagnostics:StorageRoundTripsHeader"))
        {
            app.Use(async (context, next) =>
            {
                var counter = VoiceFunctions.Sessions.StorageRoundTrips.Begin();
                context.Response.OnStarting(() =>
                {
                    context.Response.Headers[VoiceFunctions.Sessions.StorageRoundTrips.HeaderName] = counter.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    return Task.CompletedTask;
                });
                await next(context).ConfigureAwait(false);
            });
        }

        // Readiness: the Functions host and load balancers probe the handler; no data, no token.
        app.MapGet("/", () => TypedResults.Ok("VoiceFunctions is running."));

        var api = app.MapGroup("/api").AddEndpointFilter<ApiTokenFilter>();
        api.MapEvents();
        api.MapSessions();
        app.MapRetention();
        return app;
    }
}
