using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace VoiceFunctions.FunctionsHost;

/// <summary>Key checks for HTTP triggers and the admin API; none at all when no key is configured (like func start).</summary>
internal sealed class FunctionKeys(string? functionKey, string? masterKey)
{
    public bool Configured => functionKey is not null || masterKey is not null;

    public bool Authorized(HttpContext context, string? authLevel)
    {
        if (!Configured || string.Equals(authLevel, "anonymous", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // AuthenticationLevelHandler.GetAuthorizationKeyInfoAsync: the header, when present (even empty), wins over
        // ?code; a wrong or empty header is not rescued by a right code.
        var key = context.Request.Headers.TryGetValue("x-functions-key", out var header)
            ? header.FirstOrDefault()
            : context.Request.Query["code"].FirstOrDefault();

        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        if (KeyEquals(key, masterKey))
        {
            return true;
        }

        return string.Equals(authLevel, "function", StringComparison.OrdinalIgnoreCase) && KeyEquals(key, functionKey);
    }

    private static bool KeyEquals(string presented, string? expected) =>
        expected is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));
}
