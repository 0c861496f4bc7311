using System.Collections.Concurrent;
using Azure;
using VoiceFunctions.AiFlow;
using VoiceFunctions.Sessions;

namespace VoiceFunctions.Calls;

/// <summary>
/// The sessions this instance knows, one <see cref="SessionSlot"/> each: their state between events (so a known call's
/// answer needs no storage read) and the lock that gives each call one turn at a time. Bounded: beyond the capacity the
/// least recently used idle slots are dropped, and read again from storage should their call go on.
/// </summary>
public sealed class SessionCache(int capacity = SessionCache.DefaultCapacity)
{
    public const int DefaultCapacity = 10_000;

    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new(StringComparer.Ordinal);

    public int Count => _slots.Count;

    public SessionSlot Get(string sessionId)
    {
        if (_slots.TryGetValue(sessionId, out var slot))
        {
            return slot;
        }

        if (_slots.Count >= capacity)
        {
            Trim();
        }

        return _slots.GetOrAdd(sessionId, static _ => new SessionSlot());
    }

    /// <summary>Drops the session's slot (erasure): a later event starts from storage.</summary>
    public void Forget(string sessionId) => _slots.TryRemove(sessionId, out _);

    /// <summary>A quarter of the capacity, least recently used first; never a slot whose call holds its turn.</summary>
    private void Trim()
    {
        foreach (var (id, _) in _slots.Where(s => s.Value.Lock.CurrentCount == 1).OrderBy(s => s.Value.LastUsed).Take(Math.Max(1, capacity / 4)).ToList())
        {
            _slots.TryRemove(id, out _);
        }
    }
}

/// <summary>What this instance knows of one call, read and written only while holding <see cref="Lock"/>.</summary>
public sealed class SessionSlot
{
    public SemaphoreSlim Lock { get; } = new(1, 1);

    /// <summary>State (and ETag) reflect the stored or spooled session; false means read it first.</summary>
    public bool Loaded { get; set; }

    public SessionState? State { get; set; }
    public ETag? ETag { get; set; }

    /// <summary>False when the state was decided without the stored session (storage was away).</summary>
    public bool BaseKnown { get; set; }

    /// <summary>Steps of this session wait in the <see cref="OutageBuffer"/>: new ones must queue behind them.</summary>
    public bool Spooling { get; set; }

    /// <summary>Storage holds the call's erasure marker (erased on some instance): nothing of it is recorded.</summary>
    public bool Erased { get; set; }

    public long LastUsed { get; set; }
    public string? LastFingerprint { get; set; }
    public long LastAt { get; set; }
    public IReadOnlyList<AiFlowAction> LastActions { get; set; } = [];

    /// <summary>The newest barge-in's sequence number seen on this instance.</summary>
    public long LastInterruptSeq { get; set; }

    /// <summary>The chat-model call of the newest pipeline turn (running or done).</summary>
    public Task? Reply { get; set; }

    /// <summary>The session as stored or spooled now (after a commit, a spooled step or a read).</summary>
    public void Set(SessionState? state, ETag? etag, bool baseKnown, bool loaded)
    {
        State = state;
        ETag = etag;
        BaseKnown = baseKnown;
        Loaded = loaded;
    }
}
