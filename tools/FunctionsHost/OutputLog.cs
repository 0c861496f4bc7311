using System.Text;

namespace VoiceFunctions.FunctionsHost;

/// <summary>Everything the emulator and the worker print, kept for <see cref="FunctionsHostEmulator.Output"/>.</summary>
internal sealed class OutputLog(Action<string>? sink)
{
    private readonly Lock gate = new();
    private readonly StringBuilder text = new();

    // A long CLI session logs several lines per request: past this, the oldest half is dropped.
    private const int MaxChars = 16 * 1024 * 1024;

    public void Line(string line)
    {
        lock (gate)
        {
            if (text.Length + line.Length > MaxChars)
            {
                text.Remove(0, text.Length / 2).Insert(0, "[earlier output dropped]\n");
            }

            text.Append(line).Append('\n');
        }

        try
        {
            sink?.Invoke(line);
        }
#pragma warning disable CA1031 // A sink that throws (e.g. a finished test's output helper) must not break the host.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    public void Host(string level, string message) => Line($"[{level}] FunctionsHost: {message}");

    public string Snapshot()
    {
        lock (gate)
        {
            return text.ToString();
        }
    }
}
