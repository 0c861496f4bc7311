using Microsoft.Azure.Functions.Worker;

namespace VoiceFunctions.Hosting;

internal static class HttpTrigger
{
    /// <summary>True for functions behind an HTTP trigger (the timer function has no request to check).</summary>
    public static bool IsHttp(FunctionContext context) =>
        context.FunctionDefinition.InputBindings.Values.Any(binding => string.Equals(binding.Type, "httpTrigger", StringComparison.OrdinalIgnoreCase));
}
