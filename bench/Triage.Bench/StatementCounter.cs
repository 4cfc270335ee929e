using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Triage.Bench;

/// <summary>
/// Counts the SQL statements the process sends to PostgreSQL, from Npgsql's own tracing (one activity per command;
/// a batch's statements share one). A load-independent figure: how many round trips and statements one page costs,
/// which CPU per page and lateness depend on but which other agents' load on the machine does not change.
/// </summary>
internal sealed partial class StatementCounter : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private volatile bool _counting;

    public StatementCounter()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => _counting ? ActivitySamplingResult.AllData : ActivitySamplingResult.None,
            ActivityStopped = Count,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Start()
    {
        _counts.Clear();
        _counting = true;
    }

    public void Stop() => _counting = false;

    public int Total => _counts.Values.Sum();

    /// <summary>Statements by their text with literals and parameter names folded, most frequent first.</summary>
    public IEnumerable<(string Statement, int Count)> Top(int n) =>
        _counts.OrderByDescending(c => c.Value).Take(n).Select(c => (c.Key, c.Value));

    private void Count(Activity activity)
    {
        var text = activity.GetTagItem("db.query.text") as string ?? activity.GetTagItem("db.statement") as string ?? activity.DisplayName;
        // Several statements sent as one batch arrive as one text separated by ";": count each.
        foreach (var statement in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var key = Parameter().Replace(Spaces().Replace(statement, " "), "$");
            key = key.Length > 160 ? key[..160] : key;
            _counts.AddOrUpdate(key, 1, (_, c) => c + 1);
        }
    }

    public string Report(int pages, int top) => string.Join('\n', Top(top).Select(t =>
        string.Create(CultureInfo.InvariantCulture, $"  {t.Count / (double)Math.Max(1, pages),6:F2}/page  {t.Statement}")));

    public void Dispose() => _listener.Dispose();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"[@$][A-Za-z_]*[0-9]+|@[A-Za-z_]+")]
    private static partial Regex Parameter();
}
