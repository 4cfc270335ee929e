using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Triage.Bench;

/// <summary>
/// Child processes (servers under test) that must not outlive the benchmark. A stop signal ends the benchmark without
/// running its <c>finally</c> blocks, so the children are killed here, by their process ids, before the default
/// handling of the signal goes on.
/// </summary>
internal sealed class Children
{
    private readonly Lock _lock = new();
    private readonly HashSet<Process> _running = [];
    // Held so the registrations stay alive (a collected registration is unregistered).
    private readonly List<PosixSignalRegistration> _registrations;

    public Children()
    {
        _registrations = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(signal => PosixSignalRegistration.Create(signal, _ => KillAll()))];
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    public void Add(Process process)
    {
        lock (_lock)
        {
            _running.Add(process);
        }
    }

    public void Remove(Process process)
    {
        lock (_lock)
        {
            _running.Remove(process);
        }
    }

    private void KillAll()
    {
        lock (_lock)
        {
            foreach (var process in _running)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }
            }

            _running.Clear();
        }
    }
}
