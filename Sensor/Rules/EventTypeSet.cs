namespace Sensor.Rules;

/// <summary>
/// The event types a condition can match: a finite set, or everything except a finite set (<see cref="Complement"/>).
/// Falco derives the same from <c>evt.type</c> comparisons to index rules and to choose the syscalls the kernel reports.
/// </summary>
internal sealed class EventTypeSet
{
    public static readonly EventTypeSet All = new(new HashSet<string>(StringComparer.Ordinal), complement: true);

    public EventTypeSet(IReadOnlySet<string> types, bool complement)
    {
        Types = types;
        Complement = complement;
    }

    /// <summary>The listed types, or, when <see cref="Complement"/>, the types excluded.</summary>
    public IReadOnlySet<string> Types { get; }

    public bool Complement { get; }

    public bool IsAll => Complement && Types.Count == 0;

    public bool Contains(string type) => Types.Contains(type) != Complement;

    public static EventTypeSet Of(IEnumerable<string> types) => new(new HashSet<string>(types, StringComparer.Ordinal), false);

    public EventTypeSet Negate() => new(Types, !Complement);

    public EventTypeSet Intersect(EventTypeSet other) => (Complement, other.Complement) switch
    {
        (false, false) => new(Where(Types, other.Types.Contains), false),
        (false, true) => new(Where(Types, t => !other.Types.Contains(t)), false),
        (true, false) => other.Intersect(this),
        _ => new(Union(Types, other.Types), true),
    };

    public EventTypeSet Union(EventTypeSet other) => (Complement, other.Complement) switch
    {
        (false, false) => new(Union(Types, other.Types), false),
        (false, true) => new(Where(other.Types, t => !Types.Contains(t)), true),
        (true, false) => other.Union(this),
        _ => new(Where(Types, other.Types.Contains), true),
    };

    public override string ToString() =>
        IsAll ? "(all)" : (Complement ? "all except " : "") + string.Join(", ", Types.Order(StringComparer.Ordinal));

    private static HashSet<string> Where(IEnumerable<string> source, Func<string, bool> keep) =>
        new(source.Where(keep), StringComparer.Ordinal);

    private static HashSet<string> Union(IEnumerable<string> a, IEnumerable<string> b) =>
        new(a.Concat(b), StringComparer.Ordinal);
}
