using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Bot.Cards;

namespace Triage.Bot.Sink;

/// <summary>
/// Where cards go when no chat credentials are configured: one JSON file per incident (the card, the exact Slack and
/// Teams bodies, and the history of posts and updates) and an <c>index.html</c> that shows every card, newest first,
/// so a newcomer running the quick start sees what Slack or Teams would show. Files are replaced atomically.
/// </summary>
/// <remarks>
/// A card costs O(1): its own file (the durable record) is written at once, while the index's entries are kept in
/// memory (loaded once from the directory, so a restart still lists earlier cards) and the page is re-rendered at most
/// every <see cref="RenderInterval"/> (the first change after a quiet spell at once, later ones coalesced by a timer),
/// plus a final render on dispose. Re-rendering the page of every incident for every card made a busy service spend its
/// time here; so did rendering every card's HTML on every page render, so each entry keeps its HTML from its last
/// change. A card's history keeps its first change and the last <see cref="HistoryLimit"/>: a busy incident's card is
/// refreshed every 30 s for as long as it is open, and an unbounded history made each refresh dearer than the last.
/// </remarks>
public sealed class LocalCardSink(string directory, TimeProvider time) : IDisposable
{
    /// <summary>How stale the page may be; it reloads itself every 5 s, so 2 s is not noticed.</summary>
    public static readonly TimeSpan RenderInterval = TimeSpan.FromSeconds(2);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    private readonly SemaphoreSlim _lock = new(1, 1);
    /// <summary>Changes kept in a card's history besides the first one (posted).</summary>
    public const int HistoryLimit = 100;

    private Dictionary<long, Entry>? _entries;
    private ITimer? _timer;
    private bool _dirty;
    private bool _renderScheduled;
    private bool _disposed;
    private long? _lastRender;

    public string Directory => directory;

    public string IndexPath => Path.Combine(directory, "index.html");

    /// <summary>Renders what is still pending so that the page is current when the service stops.</summary>
    public void Dispose()
    {
        _lock.Wait();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _timer?.Dispose();
            RenderIfDirty();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Records the card's current state (<paramref name="change"/> says why: posted, updated …); the page follows within <see cref="RenderInterval"/>.</summary>
    public async Task WriteAsync(IncidentCard card, string change, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            System.IO.Directory.CreateDirectory(directory);
            var entries = _entries ??= ReadAll().ToDictionary(e => e.Card.IncidentId, e => Entry.Of(e.Card, e.History));
            var history = entries.TryGetValue(card.IncidentId, out var previous) ? (JsonArray)previous.History.DeepClone() : [];
            history.Add(new JsonObject { ["at"] = time.GetUtcNow().ToString("O"), ["change"] = change, ["status"] = card.Status });
            while (history.Count > HistoryLimit + 1)
            {
                history.RemoveAt(1);
            }
            var document = new JsonObject
            {
                ["card"] = JsonSerializer.SerializeToNode(card, Json),
                ["slack"] = SlackCardBuilder.Build(card),
                ["teams"] = TeamsCardBuilder.Build(card),
                ["history"] = history,
            };
            await WriteAtomicallyAsync(Path.Combine(directory, $"incident-{card.IncidentId}.json"), document, ct);

            // The document owns its copy of the history now; the index keeps its own.
            entries[card.IncidentId] = Entry.Of(card, (JsonArray)history.DeepClone());
            _dirty = true;
            var sinceRender = _lastRender is { } last ? time.GetElapsedTime(last) : TimeSpan.MaxValue;
            if (sinceRender >= RenderInterval)
            {
                RenderIfDirty();
            }
            else if (!_renderScheduled)
            {
                _renderScheduled = true;
                _timer ??= time.CreateTimer(_ => RenderPending(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timer.Change(RenderInterval - sinceRender, Timeout.InfiniteTimeSpan);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The cards in the directory, newest incident first (read from disk, not from the sink's memory).</summary>
    public IReadOnlyList<(IncidentCard Card, JsonArray History)> ReadAll()
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }

        var cards = new List<(IncidentCard, JsonArray)>();
        foreach (var file in System.IO.Directory.EnumerateFiles(directory, "incident-*.json"))
        {
            var node = JsonNode.Parse(File.ReadAllText(file));
            if (node?["card"]?.Deserialize<IncidentCard>(Json) is { } card)
            {
                cards.Add((card, node["history"] as JsonArray ?? []));
            }
        }

        return [.. cards.OrderByDescending(c => c.Item1.IncidentId)];
    }

    /// <summary>The coalescing timer's callback: one render for every card written since the last one.</summary>
    private void RenderPending()
    {
        _lock.Wait();
        try
        {
            _renderScheduled = false;
            if (!_disposed)
            {
                RenderIfDirty();
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Writes the page from the in-memory entries; the caller holds the lock.</summary>
    private void RenderIfDirty()
    {
        if (!_dirty || _entries is null)
        {
            return;
        }

        // Streamed to the file: the page of a thousand cards is megabytes, and as one string it was a large-object
        // allocation (and its builder's chunks) on every render.
        var temp = IndexPath + ".tmp";
        using (var writer = new StreamWriter(temp, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
        {
            WriteIndex(writer, _entries.Values.OrderByDescending(e => e.Card.IncidentId).Select(e => e.Html));
        }

        File.Move(temp, IndexPath, overwrite: true);
        _dirty = false;
        _lastRender = time.GetTimestamp();
    }

    private static void WriteIndex(TextWriter html, IEnumerable<string> cards)
    {
        html.Write("""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
            <title>Triage cards (local sink)</title>
            <style>
            body{font-family:system-ui,sans-serif;background:#f4f4f6;margin:2em;color:#1d1c1d}
            .card{background:#fff;border-left:6px solid #888;border-radius:6px;padding:1em 1.4em;margin:0 0 1.5em;max-width:960px;box-shadow:0 1px 3px #0002}
            .sev-critical,.sev-emergency,.sev-alert,.sev-error{border-color:#e01e5a}.sev-warning{border-color:#ecb22e}
            h2{margin:.2em 0 .4em;font-size:1.2em} dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:.5em 0}
            dt{font-weight:600} pre{background:#f8f8f8;border:1px solid #ddd;padding:.6em;white-space:pre-wrap;font-size:.85em}
            .buttons span{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:.2em .7em;margin:.2em .3em .2em 0;font-size:.9em}
            .danger{color:#e01e5a;border-color:#e01e5a!important} .muted{color:#616061;font-size:.85em} code{font-size:.9em}
            </style></head><body>
            <h1>Triage cards</h1>
            <p class="muted">No Slack or Teams credentials are configured, so cards are written here (this page reloads every 5 s).
            Configure <code>chat.slack</code> or <code>chat.teams</code> to send them to chat. Act on an incident with
            <code>POST /api/v1/incidents/{id}/actions/{action}</code>; each card's exact Slack and Teams bodies are in the JSON file next to this page.</p>
            """);
        foreach (var card in cards)
        {
            html.Write(card);
        }

        html.Write("</body></html>\n");
    }

    /// <summary>A card in the page's memory: its state, its history and its HTML as of its last change.</summary>
    private sealed record Entry(IncidentCard Card, JsonArray History, string Html)
    {
        public static Entry Of(IncidentCard card, JsonArray history) => new(card, history, RenderCard(card, history));
    }

    private static string RenderCard(IncidentCard card, JsonArray history)
    {
        static string E(string? s) => WebUtility.HtmlEncode(s ?? "—");
        var html = new StringBuilder();
        html.Append($"<div class=\"card sev-{E(card.Severity.ToLowerInvariant())}\" id=\"incident-{card.IncidentId}\">");
        html.Append($"<h2>{E(CardText.Title(card))}</h2>");
        if (card.Output is not null)
        {
            html.Append($"<p>{E(card.Output)}</p>");
        }

        html.Append("<dl>");
        foreach (var fact in CardSections.Summary(card).Concat(CardSections.Context(card)))
        {
            html.Append($"<dt>{E(fact.Title)}</dt><dd>{E(fact.Value)}</dd>");
        }

        if (card.Syscall is { } syscall)
        {
            html.Append($"<dt>Syscall</dt><dd>{E(CardText.Syscall(syscall))}</dd>");
        }

        html.Append("</dl>");
        if (card.ProcessTree.Count > 0)
        {
            html.Append($"<strong>Process tree</strong><pre>{E(CardText.ProcessTree(card.ProcessTree))}</pre>");
        }

        foreach (var list in CardSections.Lists(card))
        {
            html.Append($"<strong>{E(list.Heading)}</strong>").Append(list.Numbered ? "<ol>" : "<ul>");
            foreach (var line in list.Lines)
            {
                html.Append("<li>").Append(Line(line)).Append("</li>");
            }

            html.Append(list.Numbered ? "</ol>" : "</ul>");
        }

        html.Append("<p>");
        foreach (var line in CardSections.Footer(card))
        {
            html.Append(Line(line)).Append(" &nbsp; ");
        }

        html.Append("</p>");
        html.Append("<div class=\"buttons\">");
        foreach (var action in CardActions.Offered(card))
        {
            var danger = CardActions.Response.Contains(action) ? " class=\"danger\"" : "";
            html.Append($"<span{danger} title=\"POST /api/v1/incidents/{card.IncidentId}/actions/{E(action)}\">{E(CardActions.Label(action))}</span>");
        }

        html.Append("</div><p class=\"muted\">");
        foreach (var a in card.Activity)
        {
            html.Append(E(CardText.Activity(a))).Append("<br>");
        }

        html.Append("Card history: ");
        html.Append(E(string.Join(", ", history.Select(h => $"{h?["change"]} {h?["at"]}"))));
        html.Append($" · <a href=\"incident-{card.IncidentId}.json\">JSON bodies</a></p></div>\n");
        return html.ToString();
    }

    private static string Line(CardLine line)
    {
        var text = WebUtility.HtmlEncode(line.Text);
        return line.Link is { } link
            ? $"<a href=\"{WebUtility.HtmlEncode(link.Url)}\">{WebUtility.HtmlEncode(link.Title)}</a> {text}"
            : text;
    }

    /// <summary>Writes the document to a temporary file, straight from the nodes (no string of it), then moves it in place.</summary>
    private static async Task WriteAtomicallyAsync(string path, JsonNode document, CancellationToken ct)
    {
        var temp = path + ".tmp";
        await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 16 * 1024, useAsync: true))
        {
            await using var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = Json.WriteIndented, Encoder = Json.Encoder });
            document.WriteTo(writer, Json);
            await writer.FlushAsync(ct);
        }

        File.Move(temp, path, overwrite: true);
    }
}
