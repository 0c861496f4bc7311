namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// Telemetry tests run alone: the OpenTelemetry SDK and the Azure Monitor exporter keep process-wide state
/// (listeners, exporters), so two in-process apps exporting at once interfere and records go missing.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryRunsAlone
{
    public const string Name = "Telemetry";
}
