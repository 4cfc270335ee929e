using System.Text;

namespace Sensor.Kernel;

/// <summary>
/// The strings of kernel events (comm, cgroup leaf, exe path, argv words), decoded once and handed out again when the
/// same bytes come back. A node's events repeat the same few names endlessly (every fork and exit of a shell loop
/// carries "sh", the same cgroup and "/bin/true"), and each decoded copy used to be a new string, several per event;
/// the process table's tombstones kept them for 30 s or more, so they also made up much of what every collection had
/// to promote. A fixed table of slots chosen by hash, the newest string winning a slot: bounded, no eviction
/// bookkeeping. Not thread-safe: one per ring-buffer consumer.
/// </summary>
internal sealed class DecodedStrings
{
    /// <summary>Slots in the table (a power of two); at most this many strings are held.</summary>
    public const int Slots = 4096;

    /// <summary>Longer strings (open paths, long arguments) are decoded every time: they rarely repeat exactly.</summary>
    public const int MaxCachedBytes = 128;

    private readonly string?[] _slots = new string?[Slots];

    /// <summary>The string of <paramref name="utf8"/>: a held one when the same (ASCII) bytes were decoded before.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
            return "";
        if (utf8.Length > MaxCachedBytes)
            return Encoding.UTF8.GetString(utf8);
        var hash = new HashCode();
        hash.AddBytes(utf8);
        ref var slot = ref _slots[hash.ToHashCode() & (Slots - 1)];
        // Ascii.Equals compares bytes with chars without decoding; a non-ASCII string never matches and is decoded anew
        // (and its slot replaced), which keeps the comparison exact.
        if (slot is { } held && Ascii.Equals(utf8, held))
            return held;
        var text = Encoding.UTF8.GetString(utf8);
        slot = text;
        return text;
    }
}
