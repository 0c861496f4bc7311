namespace VoiceFunctions.AiFlow;

/// <summary>
/// What <see cref="ActionValidator.Check"/> found: <see cref="Errors"/> make the platform refuse the action
/// (do not send it); <see cref="Warnings"/> are values the platform ignores or the docs do not settle (send
/// the action, log the warning). An answer is never dropped over a warning: a dropped answer is a silent caller.
/// </summary>
/// <param name="Errors">What the platform would refuse: do not send the action.</param>
/// <param name="Warnings">What the platform ignores or the docs leave open: send the action, and log these.</param>
public sealed record ActionValidation(IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings)
{
    /// <summary>True when the action may be sent (warnings allowed).</summary>
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// Checks an action against the protocol (required fields, ranges) before it is sent, exactly as strictly as
/// the platform: an error is something the platform refuses; what it ignores or the docs leave open is a warning.
/// </summary>
public static class ActionValidator
{
    /// <summary>The documented <c>configure_transcription.provider</c> values.</summary>
    public static readonly IReadOnlySet<string> TranscriptionProviders = new HashSet<string>(StringComparer.Ordinal) { "AZURE", "DEEPGRAM", "ELEVEN_LABS" };
    /// <summary>The documented <c>speak.tts.provider</c> values.</summary>
    public static readonly IReadOnlySet<string> TtsProviders = new HashSet<string>(StringComparer.Ordinal) { "azure", "eleven_labs" };
    /// <summary>The documented <c>barge_in.strategy</c> values.</summary>
    public static readonly IReadOnlySet<string> BargeInStrategies = new HashSet<string>(StringComparer.Ordinal) { "none", "manual", "minimum_characters", "immediate" };

    /// <summary>Lowest <c>configure_voice_to_voice.temperature</c>.</summary>
    public const double MinTemperature = 0;

    /// <summary>Highest <c>configure_voice_to_voice.temperature</c>.</summary>
    public const double MaxTemperature = 2;

    /// <summary>Most entries of <c>configure_transcription.languages</c>.</summary>
    public const int MaxTranscriptionLanguages = 4;

    /// <summary>Most entries of <c>configure_transcription.custom_vocabulary</c>.</summary>
    public const int MaxCustomVocabularyEntries = 100;

    /// <summary>Longest entry of <c>configure_transcription.custom_vocabulary</c>, in characters.</summary>
    public const int MaxCustomVocabularyEntryLength = 200;

    /// <summary>Shortest <c>transfer.timeout</c>, in seconds.</summary>
    public const int MinTransferTimeoutSeconds = 5;

    /// <summary>Longest <c>transfer.timeout</c>, in seconds.</summary>
    public const int MaxTransferTimeoutSeconds = 120;

    /// <summary>The documented recommendation for <see cref="VadSettings.EndOfTurnSilenceMs"/>; outside it is a warning.</summary>
    public const int MinRecommendedEndOfTurnSilenceMs = 150;

    /// <summary>The documented recommendation for <see cref="VadSettings.EndOfTurnSilenceMs"/>; outside it is a warning.</summary>
    public const int MaxRecommendedEndOfTurnSilenceMs = 2000;

    /// <summary>Lowest <c>mix_audio.volume</c>.</summary>
    public const double MinMixVolume = 0;

    /// <summary>Highest <c>mix_audio.volume</c>.</summary>
    public const double MaxMixVolume = 1;

    /// <summary>The errors of <paramref name="action"/> (what the platform would refuse); empty when it may be sent.</summary>
    /// <param name="action">The action to check.</param>
    public static IReadOnlyList<string> Validate(AiFlowAction action) => Check(action).Errors;

    /// <summary>Errors (do not send) and warnings (send, and log) of <paramref name="action"/>.</summary>
    /// <param name="action">The action to check.</param>
    public static ActionValidation Check(AiFlowAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var errors = new List<string>();
        var warnings = new List<string>();
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
                ValidateVad(c.Vad, warnings);
                if (c.Provider is null && c.Languages is null && c.CustomVocabulary is null && c.Vad is null)
                {
                    // Documented as a no-op: legal, but it does not switch a voice-to-voice session back.
                    warnings.Add("configure_transcription without provider, languages, custom_vocabulary or vad is a no-op.");
                }

                break;
            case SpeakAction s:
                if (string.IsNullOrWhiteSpace(s.Text) == string.IsNullOrWhiteSpace(s.Ssml))
                {
                    errors.Add("speak needs exactly one of text and ssml.");
                }

                if (s.UserInputTimeoutSeconds is { } timeout)
                {
                    if (!double.IsFinite(timeout))
                    {
                        // Not even JSON: NaN and infinities cannot be written.
                        errors.Add("user_input_timeout_seconds must be a finite number.");
                    }
                    else if (timeout < 0)
                    {
                        warnings.Add("user_input_timeout_seconds is negative; 0 or leaving it out means no timeout.");
                    }
                }

                ValidateTts(s.Tts, errors, warnings);
                ValidateBargeIn(s.BargeIn, errors);
                ValidateVad(s.Vad, warnings);
                break;
            case AudioAction a:
                if (string.IsNullOrEmpty(a.Audio) || !IsBase64(a.Audio))
                {
                    errors.Add("audio must be non-empty base64.");
                }

                ValidateBargeIn(a.BargeIn, errors);
                break;
            case MixAudioAction m:
                if (m.Stop != true && (string.IsNullOrEmpty(m.Audio) || !IsBase64(m.Audio)))
                {
                    errors.Add("mix_audio needs audio (non-empty base64) unless stop is true.");
                }
                else if (m.Stop == true && m.Audio is not null && !IsBase64(m.Audio))
                {
                    errors.Add("audio must be base64.");
                }

                if (m.Volume is { } volume && !(volume >= MinMixVolume && volume <= MaxMixVolume))
                {
                    errors.Add("volume must be between 0.0 and 1.0.");
                }

                break;
            case SendSmsAction sms:
                if (!IsE164Digits(sms.PhoneNumber))
                {
                    errors.Add("phone_number must be an E.164 number: digits, optionally after a leading +.");
                }

                if (string.IsNullOrWhiteSpace(sms.Message))
                {
                    errors.Add("message is required.");
                }

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

        return new ActionValidation(errors, warnings);
    }

    /// <summary>Shared with configuration validation so a persona is judged by the same rules as the action it yields.</summary>
    /// <param name="provider">The provider, or null for the platform default.</param>
    /// <param name="languages">The languages, or null for the provider default.</param>
    /// <param name="vocabulary">The custom vocabulary, or null for none.</param>
    /// <param name="errors">Receives one message per problem.</param>
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

    /// <summary>
    /// The platform ignores an invalid <c>vad</c> and processes the rest of the action, so a bad value is a
    /// warning, never a reason to drop the answer. Shared with configuration validation.
    /// </summary>
    /// <param name="vad">The vad settings, or null for none.</param>
    /// <param name="warnings">Receives one message per problem.</param>
    public static void ValidateVad(VadSettings? vad, List<string> warnings)
    {
        ArgumentNullException.ThrowIfNull(warnings);
        if (vad?.EndOfTurnSilenceMs is { } ms && ms is < MinRecommendedEndOfTurnSilenceMs or > MaxRecommendedEndOfTurnSilenceMs)
        {
            warnings.Add("vad.end_of_turn_silence_ms is outside the recommended 150-2000 ms; the platform may ignore it.");
        }
    }

    /// <summary>A BCP-47-shaped tag: letters, digits and hyphens, starting with a 2-8 letter language subtag.</summary>
    /// <param name="tag">The tag to check.</param>
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

    /// <summary>E.164: up to 15 digits, optionally after one leading "+" (which the platform strips).</summary>
    /// <param name="number">The number to check.</param>
    public static bool IsE164Digits(string? number)
    {
        if (string.IsNullOrEmpty(number))
        {
            return false;
        }

        var digits = number.StartsWith('+') ? number.AsSpan(1) : number.AsSpan();
        return digits.Length is >= 3 and <= 15 && !digits.ContainsAnyExceptInRange('0', '9');
    }

    private static void ValidateTts(TtsSettings? tts, List<string> errors, List<string> warnings)
    {
        if (tts is null)
        {
            return;
        }

        if (!TtsProviders.Contains(tts.Provider))
        {
            errors.Add("tts.provider must be azure or eleven_labs.");
            return;
        }

        // language and voice are optional for both providers (sipgate's SDK types); a blank value is most
        // likely a configuration slip, but the docs do not say the platform refuses it.
        if (tts.Language is not null && !IsLanguageTag(tts.Language))
        {
            warnings.Add("tts.language is not a BCP-47 tag such as de-DE.");
        }

        if (tts.Voice is not null && string.IsNullOrWhiteSpace(tts.Voice))
        {
            warnings.Add("tts.voice is blank.");
        }

        if (tts.Provider == "eleven_labs" && tts.Language is not null)
        {
            warnings.Add("tts.language is documented for azure only.");
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

    private static bool IsBase64(string value)
    {
        var buffer = new byte[((value.Length + 3) / 4) * 3];
        return Convert.TryFromBase64String(value, buffer, out _);
    }
}
