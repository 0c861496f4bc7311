using Microsoft.Extensions.DependencyInjection.Extensions;

namespace VoiceFunctions.Calls;

public static class CallRegistration
{
    public static IServiceCollection AddCalls(this IServiceCollection services)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<CallFlow>();
        services.AddSingleton<CallHandler>();
        services.TryAddSingleton<CallTelemetry>();
        return services;
    }
}
