using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>The <c>session</c> object carried by every AI Flow event. Only <see cref="Id"/> is guaranteed.</summary>
public sealed record AiFlowSession
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("account_id")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? AccountId { get; init; }

    /// <summary>The number of this flow; documented examples often carry only this one.</summary>
    [JsonPropertyName("phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? PhoneNumber { get; init; }

    [JsonPropertyName("direction")]
    public string? Direction { get; init; }

    [JsonPropertyName("from_phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? FromPhoneNumber { get; init; }

    [JsonPropertyName("to_phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? ToPhoneNumber { get; init; }

    /// <summary>The dialled number: <c>to_phone_number</c>, else the flow's <c>phone_number</c>.</summary>
    [JsonIgnore]
    public string? CalledNumber => string.IsNullOrWhiteSpace(ToPhoneNumber) ? PhoneNumber : ToPhoneNumber;
}
