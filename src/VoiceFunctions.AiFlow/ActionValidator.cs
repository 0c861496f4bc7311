namespace VoiceFunctions.AiFlow;

/// <summary>
/// Checks an action against the protocol (required fields, ranges) before it is sent.
/// An action that fails is a bug in the sender: it must never reach the platform.
/// </summary>
public static class ActionValidator
{
    public static readonly IReadOnlySet<string> TranscriptionProviders = new HashSet<string>(StringComparer.Ordinal) { "AZURE", "DEEPGRAM", "ELEVEN_LABS" };
    public static readonly IReadOnlySet<string> TtsProviders = new HashSet<string>(StringComparer.Ordinal) { "azure", "eleven_labs" };
    public static readonly IReadOnlySet<string> BargeInStrategies = new HashSet<string>(StringComparer.Ordinal) { "none", "manual", "minimum_characters", "immediate" };

    public const double MinTemperature = 0;
    public const double MaxTemperature = 2;
    public const int MaxTranscriptionLanguages = 4;
    public const int MaxCustomVocabularyEntries = 100;
    public const int MaxCustomVocabularyEntryLength = 200;
    public const int MinTransferTimeoutSeconds = 5;
    public const int MaxTransferTimeoutSeconds = 120;

    /// <summary>Every problem with <paramref name="action"/>; empty when it may be sent.</summary>
    public static IReadOnlyList<string> Validate(AiFlowAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var errors = new List<string>();
        if (!SessionIds.IsValid(action.SessionId))
        {
            errors.Add("session_id must be a UUID.");
        }

        switch (action)
        {
            case ConfigureVoiceToVoiceAction v:
                if (string.IsNullOrWhiteSpace(v.SystemPrompt))
                {
                    errors.Add("system_prompt is required.");
                }

                if (v.Temperature is { } t && !(t >= MinTemperature && t <= MaxTemperature))
                {
                    errors.Add("temperature must be between 0 and 2.");
                }

                if (v.Language is not null && string.IsNullOrWhiteSpace(v.Language))
                {
                    errors.Add("language must not be blank when present.");
                }

                break;
            case ConfigureTranscriptionAction c:
                ValidateTranscription(c.Provider, c.Languages, c.CustomVocabulary, errors);
                ValidateVad(c.Vad, errors);
                break;
            case SpeakAction s:
                if (string.IsNullOrWhiteSpace(s.Text) == string.IsNullOrWhiteSpace(s.Ssml))
                {
                    errors.Add("speak needs exactly one of text and ssml.");
                }

                if (s.UserInputTimeoutSeconds is { } timeout && !(timeout > 0))
                {
                    errors.Add("user_input_timeout_seconds must be positive.");
                }

                ValidateTts(s.Tts, errors);
                ValidateBargeIn(s.BargeIn, errors);
                ValidateVad(s.Vad, errors);
                break;
            case AudioAction a:
                if (string.IsNullOrEmpty(a.Audio) || !IsBase64(a.Audio))
                {
                    errors.Add("audio must be non-empty base64.");
                }

                ValidateBargeIn(a.BargeIn, errors);
                break;
            case TransferAction x:
                if (string.IsNullOrWhiteSpace(x.TargetPhoneNumber))
                {
                    errors.Add("target_phone_number is required.");
                }

                if (string.IsNullOrWhiteSpace(x.CallerIdName))
                {
                    errors.Add("caller_id_name is required.");
                }

                if (string.IsNullOrWhiteSpace(x.CallerIdNumber))
                {
                    errors.Add("caller_id_number is required.");
                }

                if (x.Timeout is { } seconds && (seconds < MinTransferTimeoutSeconds || seconds > MaxTransferTimeoutSeconds))
                {
                    errors.Add("timeout must be between 5 and 120 seconds.");
                }

                break;
            case HangupAction or BargeInAction:
                break;
            default:
                errors.Add($"unknown action {action.GetType().Name}.");
                break;
        }

        return errors;
    }

    /// <summary>Shared with configuration validation so a persona is judged by the same rules as the action it yields.</summary>
    public static void ValidateTranscription(string? provider, IReadOnlyList<string>? languages, IReadOnlyList<string>? vocabulary, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (provider is not null && !TranscriptionProviders.Contains(provider))
        {
            errors.Add("provider must be AZURE, DEEPGRAM or ELEVEN_LABS.");
        }

        if (languages is not null)
        {
            if (languages.Count is < 1 or > MaxTranscriptionLanguages)
            {
                errors.Add("languages must hold 1 to 4 BCP-47 tags.");
            }

            if (languages.Any(l => !IsLanguageTag(l)))
            {
                errors.Add("languages must be BCP-47 tags such as de-DE.");
            }
        }

        if (vocabulary is not null &&
            (vocabulary.Count > MaxCustomVocabularyEntries || vocabulary.Any(v => string.IsNullOrWhiteSpace(v) || v.Length > MaxCustomVocabularyEntryLength)))
        {
            errors.Add("custom_vocabulary allows at most 100 non-empty entries of at most 200 characters.");
        }
    }

    /// <summary>A BCP-47-shaped tag: letters, digits and hyphens, starting with a 2-8 letter language subtag.</summary>
    public static bool IsLanguageTag(string? tag)
    {
        if (string.IsNullOrEmpty(tag) || tag.Length > 35)
        {
            return false;
        }

        var parts = tag.Split('-');
        return parts[0].Length is >= 2 and <= 8 && parts[0].All(char.IsAsciiLetter)
            && parts.Skip(1).All(p => p.Length is >= 1 and <= 8 && p.All(char.IsAsciiLetterOrDigit));
    }

    private static void ValidateTts(TtsSettings? tts, List<string> errors)
    {
        if (tts is null)
        {
            return;
        }

        if (!TtsProviders.Contains(tts.Provider))
        {
            errors.Add("tts.provider must be azure or eleven_labs.");
        }
        else if (tts.Provider == "azure" && (string.IsNullOrWhiteSpace(tts.Language) || string.IsNullOrWhiteSpace(tts.Voice)))
        {
            errors.Add("tts with provider azure needs language and voice.");
        }
    }

    private static void ValidateBargeIn(BargeInSettings? bargeIn, List<string> errors)
    {
        if (bargeIn is null)
        {
            return;
        }

        if (!BargeInStrategies.Contains(bargeIn.Strategy))
        {
            errors.Add("barge_in.strategy must be none, manual, minimum_characters or immediate.");
        }

        if (bargeIn.MinimumCharacters is { } min && (min < 1 || min > 100))
        {
            errors.Add("barge_in.minimum_characters must be between 1 and 100.");
        }

        if (bargeIn.AllowAfterMs is { } after && (after < 0 || after > 10_000))
        {
            errors.Add("barge_in.allow_after_ms must be between 0 and 10000.");
        }
    }

    private static void ValidateVad(VadSettings? vad, List<string> errors)
    {
        if (vad?.EndOfTurnSilenceMs is { } ms && ms <= 0)
        {
            errors.Add("vad.end_of_turn_silence_ms must be positive.");
        }
    }

    private static bool IsBase64(string value)
    {
        var buffer = new byte[((value.Length + 3) / 4) * 3];
        return Convert.TryFromBase64String(value, buffer, out _);
    }
}
