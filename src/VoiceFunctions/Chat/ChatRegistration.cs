using VoiceFunctions.Hosting;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Chat;

public static class ChatRegistration
{
    /// <summary>The pipeline's chat model, validated at start-up (required once a persona runs on the pipeline).</summary>
    public static IServiceCollection AddChatModel(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ChatModelOptions>().BindChecked(configuration, ChatModelOptions.Section);
        services.AddSingleton<IValidateOptions<ChatModelOptions>>(new ChatModelValidation(configuration));
        services.AddSingleton<AssistantModel>();
        return services;
    }
}
