using Sensor.Events;

namespace Sensor.Rules;

/// <summary>
/// The event being evaluated plus lazily computed, cached derived values (cmdline, args, ancestor names) so that
/// several rules reading <c>proc.cmdline</c> build the string once. One instance per evaluating thread, reused for
/// every event: evaluation allocates nothing unless a rule needs a derived string.
/// </summary>
internal sealed class EventView
{
    private string? _cmdline;
    private string? _args;
    private string? _parentCmdline;
    private string[]? _ancestorNames;

    public SensorEvent Event { get; private set; } = null!;

    public void Reset(SensorEvent sensorEvent)
    {
        Event = sensorEvent;
        _cmdline = null;
        _args = null;
        _parentCmdline = null;
        _ancestorNames = null;
    }

    public ProcessSnapshot? Parent => Event.Ancestors.Count > 0 ? Event.Ancestors[0] : null;

    public string Cmdline => _cmdline ??= Event.Process.Cmdline;

    public string Args => _args ??= string.Join(' ', Event.Process.Args);

    public string? ParentCmdline => Parent is { } parent ? _parentCmdline ??= parent.Cmdline : null;

    /// <summary>Names of all ancestors, parent first (Falco's proc.aname without an index).</summary>
    public string[] AncestorNames
    {
        get
        {
            if (_ancestorNames is null)
            {
                var ancestors = Event.Ancestors;
                var names = ancestors.Count == 0 ? [] : new string[ancestors.Count];
                for (var i = 0; i < names.Length; i++)
                {
                    names[i] = ancestors[i].Name;
                }

                _ancestorNames = names;
            }

            return _ancestorNames;
        }
    }

    /// <summary>Falco's ancestor indexing: 0 is the process itself, 1 the parent, 2 the grandparent.</summary>
    public ProcessSnapshot? Ancestor(int level) =>
        level == 0 ? Event.Process : level - 1 < Event.Ancestors.Count ? Event.Ancestors[level - 1] : null;
}
