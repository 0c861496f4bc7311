using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace VoiceFunctions.Http;

/// <summary>Section <c>AiFlow</c>: the shared secret sipgate sends as <c>X-API-TOKEN</c>.</summary>
public sealed class AiFlowOptions
{
    public const string Section = "AiFlow";

    /// <summary>When set, every /api request must carry it. A secret: never logged or echoed.</summary>
    public string? ApiToken { get; set; }

    /// <summary>Bodies above this are refused with 413 before they are parsed.</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;
}

/// <summary>
/// The one authentication check for every /api endpoint. The comparison hashes both sides first so it
/// takes the same time whatever the sent token's length or content.
/// </summary>
public sealed class ApiTokenFilter(IOptions<AiFlowOptions> options) : IEndpointFilter
{
    public const string HeaderName = "X-API-TOKEN";

    private readonly byte[]? _expected = string.IsNullOrEmpty(options.Value.ApiToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.ApiToken));

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (_expected is null)
        {
            return next(context);
        }

        var sent = context.HttpContext.Request.Headers[HeaderName];
        var ok = sent.Count == 1 && CryptographicOperations.FixedTimeEquals(_expected, SHA256.HashData(Encoding.UTF8.GetBytes(sent[0] ?? string.Empty)));
        return ok ? next(context) : ValueTask.FromResult<object?>(Problems.Unauthorized());
    }
}
