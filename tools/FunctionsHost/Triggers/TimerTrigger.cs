using System.Globalization;
using System.Text.Json;
using NCrontab;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>Timer triggers: NCRONTAB schedules (with seconds), runOnStartup, one run at a time per timer.</summary>
internal sealed class TimerTrigger(FunctionInvoker invoker, OutputLog output, bool enabled) : ITriggerListener
{
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> timers = [];
    private readonly Dictionary<string, DateTime> lastRun = new(StringComparer.Ordinal);

    public string TriggerType => "timerTrigger";

    public TriggerInput ManualInput(HostedFunction function, string input) => new(new TypedData { Json = Payload(function) });

    /// <summary>
    /// Starts the timers of <paramref name="functions"/>, which <see cref="FunctionIndex.Validate"/> accepted: an
    /// unresolved or unparsable schedule put its function in error at load, as on the host, so it never gets here.
    /// </summary>
    public void Start(IReadOnlyList<HostedFunction> functions)
    {
        foreach (var function in functions.Where(f => f.IsTimer))
        {
            if (!enabled)
            {
                continue;
            }

            var schedule = ParseSchedule(function.ResolvedSchedule!)!;
            output.Host("Information", $"Timer '{function.Name}' first fires at {schedule(DateTime.UtcNow):O}{(function.RunOnStartup ? " (and now: runOnStartup)" : "")}.");
            timers.Add(Task.Run(() => RunAsync(function, schedule, stop.Token)));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await Worker.IgnoreFailure(Task.WhenAll(timers)).ConfigureAwait(false);
        stop.Dispose();
    }

    /// <summary>NCRONTAB with seconds (6 fields, as the host), plain 5-field cron, or a TimeSpan interval ("00:00:30").</summary>
    internal static Func<DateTime, DateTime>? ParseSchedule(string expression)
    {
        if (CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = true }) is { } withSeconds)
        {
            return from => DateTime.SpecifyKind(withSeconds.GetNextOccurrence(from), DateTimeKind.Utc);
        }

        if (CrontabSchedule.TryParse(expression) is { } minutes)
        {
            return from => DateTime.SpecifyKind(minutes.GetNextOccurrence(from), DateTimeKind.Utc);
        }

        if (TimeSpan.TryParse(expression, CultureInfo.InvariantCulture, out var interval) && interval > TimeSpan.Zero)
        {
            return from => from + interval;
        }

        return null;
    }

    private string Payload(HostedFunction function)
    {
        var now = DateTime.UtcNow;
        DateTime last;
        lock (lastRun)
        {
            last = lastRun.TryGetValue(function.Name, out var previous) ? previous : now;
            lastRun[function.Name] = now;
        }

        var next = function.ResolvedSchedule is { } expression && ParseSchedule(expression) is { } schedule ? schedule(now) : now;
        // The shape of the host's TimerInfo JSON; the emulator keeps no schedule monitor, so never past due.
        return JsonSerializer.Serialize(new
        {
            Schedule = new { AdjustForDST = true },
            ScheduleStatus = new { Last = last.ToString("O", CultureInfo.InvariantCulture), Next = next.ToString("O", CultureInfo.InvariantCulture), LastUpdated = now.ToString("O", CultureInfo.InvariantCulture) },
            IsPastDue = false,
        });
    }

    private async Task RunAsync(HostedFunction function, Func<DateTime, DateTime> schedule, CancellationToken cancellationToken)
    {
        try
        {
            if (function.RunOnStartup)
            {
                await FireAsync(function, "RunOnStartup").ConfigureAwait(false);
            }

            while (!cancellationToken.IsCancellationRequested)
            {
                // In UTC whatever this machine's zone: the host evaluates schedules in its local time, which is UTC in
                // Azure unless WEBSITE_TIME_ZONE says otherwise (not emulated).
                var now = DateTime.UtcNow;
                var next = schedule(now);
                await Task.Delay(next - now, cancellationToken).ConfigureAwait(false);
                await FireAsync(function, "Timer fired at " + DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task FireAsync(HostedFunction function, string reason)
    {
        // Like the host, one run at a time per timer: the next occurrence is computed after this one finishes.
        if (await invoker.SendAsync(function, reason, ManualInput(function, ""), stop.Token).ConfigureAwait(false) is { } pending)
        {
            await invoker.CompleteAsync(function, pending).ConfigureAwait(false);
        }
    }
}
