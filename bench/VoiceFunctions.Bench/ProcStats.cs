using System.Globalization;

namespace VoiceFunctions.Bench;

/// <summary>Linux /proc readings: memory of a process, CPU time of processes and of the whole machine.</summary>
public static class ProcStats
{
    /// <summary>USER_HZ; 100 on every Linux the benchmark targets.</summary>
    private const double TicksPerSecond = 100.0;

    /// <summary>VmRSS and VmHWM in MiB (null when the process is gone).</summary>
    public static (double Rss, double Hwm)? Memory(int pid)
    {
        try
        {
            double? rss = null, hwm = null;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = Kib(line) / 1024.0;
                }
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    hwm = Kib(line) / 1024.0;
                }
            }

            return rss is { } r && hwm is { } h ? (r, h) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long Kib(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    /// <summary>User + system CPU seconds the process has used so far.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state): utime is field 14, stime field 15.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Busy and total CPU seconds of the whole machine (all cores) so far.</summary>
    public static (double Busy, double Total) MachineCpu()
    {
        var first = File.ReadLines("/proc/stat").First();
        var values = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var total = values.Sum();
        var idle = values[3] + values[4];
        return ((total - idle) / TicksPerSecond, total / TicksPerSecond);
    }

    /// <summary>The processes whose parent is <paramref name="pid"/> (field 4 of /proc/&lt;pid&gt;/stat).</summary>
    public static List<int> ChildPids(int pid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var candidate))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == pid)
                {
                    children.Add(candidate);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile
            }
        }

        return children;
    }

    public static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public static double MemTotalGiB()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return Kib(line) / 1024.0 / 1024.0;
    }
}

/// <summary>Samples a process's memory while a phase runs, and the CPU every process used in it.</summary>
public sealed class PhaseMonitor : IAsyncDisposable
{
    private readonly int _target;
    private readonly int? _host;
    private readonly int? _storage;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private readonly double _targetCpu0, _hostCpu0, _storageCpu0, _selfCpu0;
    private readonly (double Busy, double Total) _machine0;
    private readonly DateTime _t0 = DateTime.UtcNow;
    private double _maxRss, _maxHostRss;

    /// <param name="target">The process under test: the worker (or an app started directly).</param>
    /// <param name="host">The emulator process in front of the worker (null for an app started directly).</param>
    /// <param name="storage">Azurite (null when the target uses no storage).</param>
    public PhaseMonitor(int target, int? host, int? storage)
    {
        _target = target;
        _host = host;
        _storage = storage;
        _targetCpu0 = ProcStats.CpuSeconds(target);
        _hostCpu0 = host is { } h ? ProcStats.CpuSeconds(h) : 0;
        _storageCpu0 = storage is { } s ? ProcStats.CpuSeconds(s) : 0;
        _selfCpu0 = ProcStats.CpuSeconds(Environment.ProcessId);
        _machine0 = ProcStats.MachineCpu();
        _sampler = SampleAsync();
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            if (ProcStats.Memory(_target) is { } m)
            {
                _maxRss = Math.Max(_maxRss, m.Rss);
            }

            if (_host is { } h && ProcStats.Memory(h) is { } hm)
            {
                _maxHostRss = Math.Max(_maxHostRss, hm.Rss);
            }

            try
            {
                await Task.Delay(200, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops sampling; CPU shares are in percent of ONE core over the phase's wall time.</summary>
    public async Task<PhaseResources> StopAsync()
    {
        await _stop.CancelAsync();
        await _sampler;
        var wall = (DateTime.UtcNow - _t0).TotalSeconds;
        var machine = ProcStats.MachineCpu();
        var target = ProcStats.CpuSeconds(_target) - _targetCpu0;
        var host = _host is { } h ? ProcStats.CpuSeconds(h) - _hostCpu0 : 0;
        var storage = _storage is { } s ? ProcStats.CpuSeconds(s) - _storageCpu0 : 0;
        var self = ProcStats.CpuSeconds(Environment.ProcessId) - _selfCpu0;
        var busy = machine.Busy - _machine0.Busy;
        var memory = ProcStats.Memory(_target);
        if (memory is { } m)
        {
            _maxRss = Math.Max(_maxRss, m.Rss);
        }

        if (_host is { } hp && ProcStats.Memory(hp) is { } hm)
        {
            _maxHostRss = Math.Max(_maxHostRss, hm.Rss);
        }

        return new PhaseResources
        {
            MaxRssMiB = Math.Round(_maxRss, 1),
            HwmMiB = memory is { } mm ? Math.Round(mm.Hwm, 1) : null,
            TargetCpuPct = Pct(target, wall),
            HostMaxRssMiB = _host is null ? null : Math.Round(_maxHostRss, 1),
            HostCpuPct = _host is null ? null : Pct(host, wall),
            AzuriteCpuPct = _storage is null ? null : Pct(storage, wall),
            LoadGeneratorCpuPct = Pct(self, wall),
            OtherCpuPct = Pct(Math.Max(0, busy - target - host - storage - self), wall),
            MachineBusyPct = Math.Round(100.0 * busy / Math.Max(1e-9, machine.Total - _machine0.Total), 1),
        };
    }

    private static double Pct(double seconds, double wall) => Math.Round(100.0 * seconds / Math.Max(1e-9, wall), 1);

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
            await _sampler;
        }

        _stop.Dispose();
    }
}

public sealed record PhaseResources
{
    public double MaxRssMiB { get; init; }
    public double? HwmMiB { get; init; }
    public double TargetCpuPct { get; init; }

    /// <summary>The emulator in front of the worker (null for an app started directly).</summary>
    public double? HostMaxRssMiB { get; init; }
    public double? HostCpuPct { get; init; }
    public double? AzuriteCpuPct { get; init; }
    public double LoadGeneratorCpuPct { get; init; }
    public double OtherCpuPct { get; init; }

    /// <summary>Of all cores: 100 means both cores were busy the whole phase.</summary>
    public double MachineBusyPct { get; init; }
}
