using System.Net;
using System.Net.Sockets;

namespace VoiceFunctions.Tests.Infrastructure;

/// <summary>
/// A loopback TCP relay between one app instance and Azurite, so one instance can lose storage while another keeps it
/// (stopping Azurite would take it from both). <see cref="Close"/> resets every relayed connection and every new one
/// at once: to the instance it is storage that cannot be reached (connections reset), as in a network partition;
/// <see cref="Open"/> relays again. Nothing here is a stand-in for storage: every byte that passes is Azurite's.
/// </summary>
public sealed class StorageGate : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly int _target;
    private readonly Task _accepting;
    private volatile bool _closed;

    public StorageGate(Azurite azurite)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        _target = azurite.Port;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>Azurite's connection string, through this gate.</summary>
    public string ConnectionString(Azurite azurite)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        return azurite.ConnectionString.Replace($"127.0.0.1:{azurite.Port}", $"127.0.0.1:{Port}", StringComparison.Ordinal);
    }

    /// <summary>Storage unreachable for this instance: every relayed connection is reset, and so is every new one.</summary>
    public void Close()
    {
        _closed = true;
        lock (_open)
        {
            foreach (var client in _open)
            {
                Reset(client);
            }

            _open.Clear();
        }
    }

    public void Open() => _closed = false;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (_closed)
            {
                Reset(inbound);
                continue;
            }

            _ = RelayAsync(inbound);
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(IPAddress.Loopback, _target, _stop.Token).ConfigureAwait(false);
            lock (_open)
            {
                // Close() may have run while this connection was being made: it was not in the list then, so reset it now
                // (else it would relay for the whole "outage").
                if (_closed)
                {
                    Reset(inbound);
                    Reset(outbound);
                    return;
                }

                _open.Add(inbound);
                _open.Add(outbound);
            }

            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = inbound.GetStream().CopyToAsync(outbound.GetStream(), both.Token);
            var down = outbound.GetStream().CopyToAsync(inbound.GetStream(), both.Token);
            await Task.WhenAny(up, down).ConfigureAwait(false);
            await both.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_open)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }

            inbound.Dispose();
            outbound.Dispose();
        }
    }

    /// <summary>Closes with RST (linger 0), as a reset connection arrives.</summary>
    private static void Reset(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0);
            client.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Close();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }
}
