using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Notes;

namespace VoiceFunctions.Personas;

/// <summary>
/// Checks every persona at start-up (ValidateOnStart): an app with an invalid persona must not start,
/// and must say which persona and which field. The rules are the protocol's own (<see cref="ActionValidator"/>).
/// </summary>
public sealed partial class PersonaValidation(ILogger<PersonaValidation>? logger = null) : IValidateOptions<PersonaOptions>
{
    private const string DtmfKeys = "0123456789*#ABCD";

    public ValidateOptionsResult Validate(string? name, PersonaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (!options.ContainsKey(PersonaOptions.DefaultName))
        {
            failures.Add($"Personas: a persona named '{PersonaOptions.DefaultName}' is required (set Personas__default__SystemPrompt).");
        }

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (personaName, persona) in options)
        {
            var prefix = $"Personas:{personaName}";
            if (persona is null)
            {
                failures.Add($"{prefix}: is empty.");
                continue;
            }

            if (string.IsNullOrWhiteSpace(persona.SystemPrompt))
            {
                failures.Add($"{prefix}:SystemPrompt is required.");
            }

            if (persona.Temperature is { } t && !(t >= ActionValidator.MinTemperature && t <= ActionValidator.MaxTemperature))
            {
                failures.Add($"{prefix}:Temperature must be between 0 and 2.");
            }

            if (persona.Language is not null && !ActionValidator.IsLanguageTag(persona.Language))
            {
                failures.Add($"{prefix}:Language must be a language tag such as 'de' or 'en'.");
            }

            ValidatePipeline(prefix, persona, failures);

            if (!persona.VoiceToVoice && string.IsNullOrWhiteSpace(persona.Greeting))
            {
                failures.Add($"{prefix}:Greeting is required when VoiceToVoice is false (the pipeline must say something).");
            }

            foreach (var number in persona.PhoneNumbers)
            {
                var digits = PhoneNumbers.Normalize(number);
                if (digits.Length == 0)
                {
                    failures.Add($"{prefix}:PhoneNumbers has an entry without digits.");
                }
                else if (owners.TryGetValue(digits, out var other))
                {
                    failures.Add($"{prefix}:PhoneNumbers: {number} is also listed by persona '{other}'.");
                }
                else
                {
                    owners[digits] = personaName;
                }
            }

            ValidateEscalation(prefix, persona.Escalation, failures);
            ValidateChat(prefix, persona.Chat, failures);
            ValidateNotes(prefix, persona.Notes, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// The pipeline as it will be sent (defaults applied), judged by the protocol's rules; a vad the platform
    /// would ignore is refused when it cannot be a duration and only logged when it is outside the recommendation.
    /// </summary>
    private void ValidatePipeline(string prefix, Persona persona, List<string> failures)
    {
        var pipeline = persona.Pipeline;
        var errors = new List<string>();
        ActionValidator.ValidateTranscription(
            PipelineDefaults.ProviderOf(persona),
            PipelineDefaults.LanguagesOf(persona),
            pipeline.CustomVocabulary.Count == 0 ? null : pipeline.CustomVocabulary,
            errors);
        failures.AddRange(errors.Select(e => $"{prefix}:Pipeline: {e}"));

        if (pipeline.Vad.EndOfTurnSilenceMs is { } ms)
        {
            if (ms <= 0)
            {
                failures.Add($"{prefix}:Pipeline:Vad:EndOfTurnSilenceMs must be a positive number of milliseconds (150-2000 recommended).");
            }
            else if (ms is < ActionValidator.MinRecommendedEndOfTurnSilenceMs or > ActionValidator.MaxRecommendedEndOfTurnSilenceMs && logger is not null)
            {
                LogVadOutsideRecommendation(logger, prefix, ms);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Persona}:Pipeline:Vad:EndOfTurnSilenceMs = {Ms} is outside the recommended 150-2000 ms; the platform may ignore it")]
    private static partial void LogVadOutsideRecommendation(ILogger logger, string persona, int ms);

    private static void ValidateChat(string prefix, ChatSettings chat, List<string> failures)
    {
        prefix += ":Chat";
        if (chat.Temperature is { } t && !(t >= ActionValidator.MinTemperature && t <= ActionValidator.MaxTemperature))
        {
            failures.Add($"{prefix}:Temperature must be between 0 and 2.");
        }

        if (chat.MaxReplyChars is { } max && max is < 20 or > 4000)
        {
            failures.Add($"{prefix}:MaxReplyChars must be between 20 and 4000.");
        }

        if (string.IsNullOrWhiteSpace(chat.FillerLine))
        {
            failures.Add($"{prefix}:FillerLine must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(chat.ApologyLine))
        {
            failures.Add($"{prefix}:ApologyLine must not be empty.");
        }

        if (chat.MaxFailures is < 1 or > 10)
        {
            failures.Add($"{prefix}:MaxFailures must be between 1 and 10.");
        }
    }

    /// <summary>The notes' reasons are schema values (lower-case words) and the webhook must be reachable and signed; messages never hold the secret.</summary>
    private static void ValidateNotes(string prefix, NotesSettings notes, List<string> failures)
    {
        prefix += ":Notes";
        foreach (var reason in notes.Reasons)
        {
            if (string.IsNullOrWhiteSpace(reason) || reason.Length > 40 || !reason.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
            {
                failures.Add($"{prefix}:Reasons entries must be 1-40 lower-case letters, digits or '_' (e.g. 'appointment').");
                break;
            }
        }

        if (notes.Reasons.Count > 30)
        {
            failures.Add($"{prefix}:Reasons may hold at most 30 entries.");
        }

        if (notes.Reasons.Contains(NotesReasons.Other, StringComparer.Ordinal))
        {
            failures.Add($"{prefix}:Reasons must not list '{NotesReasons.Other}': it is always there for what fits no other reason.");
        }

        if (notes.WebhookUrl is { } url)
        {
            // The sender's own checks: what starts is what can be sent.
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !NotesWebhook.IsAllowedUrl(uri))
            {
                failures.Add($"{prefix}:WebhookUrl must be an absolute https URL (http only for a loopback address).");
            }

            if (string.IsNullOrWhiteSpace(notes.WebhookSecret))
            {
                failures.Add($"{prefix}:WebhookSecret is required when WebhookUrl is set (the notes are signed with it; a Key Vault reference in Azure).");
            }
            else if (!NotesWebhook.IsValidSecret(notes.WebhookSecret))
            {
                failures.Add($"{prefix}:WebhookSecret must be '{NotesWebhook.SecretPrefix}' followed by base64 of {NotesWebhook.MinSecretBytes}-{NotesWebhook.MaxSecretBytes} random bytes (Standard Webhooks; docs/notes-webhook.md).");
            }
        }
    }

    private static void ValidateEscalation(string prefix, EscalationSettings escalation, List<string> failures)
    {
        prefix += ":Escalation";
        if (escalation.DtmfDigits is { Length: > 0 } digits && digits.Any(c => !DtmfKeys.Contains(c, StringComparison.Ordinal)))
        {
            failures.Add($"{prefix}:DtmfDigits may only hold 0-9, *, # (and A-D).");
        }

        if (escalation.Keywords.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{prefix}:Keywords must not hold empty entries.");
        }

        if (string.IsNullOrWhiteSpace(escalation.HandoffLine))
        {
            failures.Add($"{prefix}:HandoffLine must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(escalation.NoAgentLine))
        {
            failures.Add($"{prefix}:NoAgentLine must not be empty.");
        }

        if (escalation.TransferTarget is not null && PhoneNumbers.Normalize(escalation.TransferTarget).Length == 0)
        {
            failures.Add($"{prefix}:TransferTarget must be a phone number.");
        }

        if (escalation.TransferTimeoutSeconds is { } timeout &&
            (timeout < ActionValidator.MinTransferTimeoutSeconds || timeout > ActionValidator.MaxTransferTimeoutSeconds))
        {
            failures.Add($"{prefix}:TransferTimeoutSeconds must be between 5 and 120.");
        }
    }
}
