using VoiceFunctions.Hosting;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Personas;

public static class PersonaRegistration
{
    /// <summary>Personas from configuration, validated at start-up: an invalid persona stops the app.</summary>
    public static IServiceCollection AddPersonas(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PersonaOptions>().BindChecked(configuration, PersonaOptions.Section);
        services.AddSingleton<IValidateOptions<PersonaOptions>, PersonaValidation>();
        services.AddSingleton<PersonaCatalog>();
        return services;
    }
}
