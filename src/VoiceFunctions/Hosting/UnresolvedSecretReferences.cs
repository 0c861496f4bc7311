namespace VoiceFunctions.Hosting;

/// <summary>
/// When App Service cannot resolve a Key Vault reference it hands the app the literal
/// <c>@Microsoft.KeyVault(SecretUri=…)</c> string. Used as the API token, that literal would be guessable (the vault's
/// name is visible in the public host name), so any setting still holding a reference stops the app at start-up.
/// The setting is named; its value is never printed.
/// </summary>
internal static class UnresolvedSecretReferences
{
    private const string ReferencePrefix = "@Microsoft.KeyVault(";

    public static List<string> Find(IConfiguration configuration) =>
        configuration.AsEnumerable()
            .Where(setting => setting.Value is { } value && value.TrimStart().StartsWith(ReferencePrefix, StringComparison.OrdinalIgnoreCase))
            .Select(setting => setting.Key)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.Ordinal)
            .Select(key => $"{key} holds an unresolved Key Vault reference (App Service could not read the secret: check the app's identity, its Key Vault role and the secret URI; docs/deploy.md).")
            .ToList();
}
