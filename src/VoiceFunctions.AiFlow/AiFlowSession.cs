using System.Text.Json.Serialization;

namespace VoiceFunctions.AiFlow;

/// <summary>The <c>session</c> object carried by every AI Flow event. Only <see cref="Id"/> is guaranteed.</summary>
public sealed record AiFlowSession
{
    /// <summary>The session UUID; every action echoes it as <c>session_id</c>.</summary>
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    /// <summary>The sipgate account.</summary>
    [JsonPropertyName("account_id")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? AccountId { get; init; }

    /// <summary>The number of this flow; documented examples often carry only this one.</summary>
    [JsonPropertyName("phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? PhoneNumber { get; init; }

    /// <summary>"inbound" or "outbound".</summary>
    [JsonPropertyName("direction")]
    public string? Direction { get; init; }

    /// <summary>The caller's number.</summary>
    [JsonPropertyName("from_phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? FromPhoneNumber { get; init; }

    /// <summary>The called number.</summary>
    [JsonPropertyName("to_phone_number")]
    [JsonConverter(typeof(LenientStringConverter))]
    public string? ToPhoneNumber { get; init; }

    /// <summary>The dialled number: <c>to_phone_number</c>, else the flow's <c>phone_number</c>.</summary>
    [JsonIgnore]
    public string? CalledNumber => string.IsNullOrWhiteSpace(ToPhoneNumber) ? PhoneNumber : ToPhoneNumber;
}
