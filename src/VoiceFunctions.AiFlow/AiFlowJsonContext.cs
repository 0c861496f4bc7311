using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>Source-generated JSON metadata for every protocol type: no reflection, trimming-safe.</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowOutOfOrderMetadataProperties = true,
    AllowDuplicateProperties = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(SessionStartEvent))]
[JsonSerializable(typeof(UserSpeakEvent))]
[JsonSerializable(typeof(AssistantSpeakEvent))]
[JsonSerializable(typeof(AssistantSpeechEndedEvent))]
[JsonSerializable(typeof(UserInputTimeoutEvent))]
[JsonSerializable(typeof(DtmfReceivedEvent))]
[JsonSerializable(typeof(SessionEndEvent))]
[JsonSerializable(typeof(UserSpeechStartedEvent))]
[JsonSerializable(typeof(UserBargeInEvent))]
[JsonSerializable(typeof(SmsFailedEvent))]
[JsonSerializable(typeof(AiFlowSession))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(AiFlowAction))]
[JsonSerializable(typeof(IReadOnlyList<AiFlowAction>))]
internal sealed partial class AiFlowJsonContext : JsonSerializerContext;
