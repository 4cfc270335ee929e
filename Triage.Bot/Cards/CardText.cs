using System.Globalization;
using System.Text;

namespace Triage.Bot.Cards;

/// <summary>Text pieces both renderers share, so Slack and Teams say the same thing.</summary>
public static class CardText
{
    public static string Truncate(string? text, int max)
    {
        if (string.IsNullOrEmpty(text) || text.Length <= max)
        {
            return text ?? "";
        }

        // Keep surrogate pairs whole: a cut half would make the JSON invalid UTF-16 for the receiver.
        var cut = max - 1;
        if (char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        return string.Concat(text.AsSpan(0, cut), "…");
    }

    public static string SeverityMarker(string severity) => severity.ToUpperInvariant() switch
    {
        "EMERGENCY" or "ALERT" or "CRITICAL" => "🔴",
        "ERROR" => "🟠",
        "WARNING" => "🟡",
        _ => "🔵",
    };

    /// <summary>"CRITICAL · Read IMDS credentials from container" (the title line).</summary>
    public static string Title(IncidentCard card) =>
        $"{SeverityMarker(card.Severity)} {card.Severity.ToUpperInvariant()} · {card.Rule}";

    /// <summary>Notification text: what fired, where, and the state.</summary>
    public static string Fallback(IncidentCard card)
    {
        var where = Where(card.Workload);
        return string.Create(CultureInfo.InvariantCulture,
            $"[{card.Severity.ToUpperInvariant()}] {card.Rule}{(where.Length > 0 ? " in " + where : "")} — incident #{card.IncidentId}, {card.Status}");
    }

    public static string Where(CardWorkload w) =>
        w.Namespace is null && w.Pod is null ? w.Node ?? "" : $"{w.Namespace ?? "?"}/{w.Pod ?? "?"}";

    public static string Workload(CardWorkload w) =>
        w.WorkloadName is null ? "—" : $"{w.WorkloadKind ?? "workload"} {w.WorkloadName}";

    /// <summary>The process tree, root first, one process per line, indented under its parent.</summary>
    /// <remarks>At most <paramref name="maxDepth"/> processes: the alerting one and its nearest ancestors.</remarks>
    public static string ProcessTree(IReadOnlyList<CardProcess> tree, int maxCmdline = 160, int maxDepth = 12)
    {
        var builder = new StringBuilder();
        var count = Math.Min(tree.Count, maxDepth);
        if (count < tree.Count)
        {
            builder.Append(CultureInfo.InvariantCulture, $"… {tree.Count - count} more ancestors\n");
        }

        for (var i = count - 1; i >= 0; i--)
        {
            var p = tree[i];
            var depth = count - 1 - i + (count < tree.Count ? 1 : 0);
            if (depth > 0)
            {
                builder.Append(' ', (depth - 1) * 2).Append("└─ ");
            }

            builder.Append(Path.GetFileName(p.Exe) is { Length: > 0 } name ? name : "?");
            builder.Append(CultureInfo.InvariantCulture, $" (pid {p.Pid?.ToString(CultureInfo.InvariantCulture) ?? "?"}");
            if (p.User is not null)
            {
                builder.Append(", ").Append(p.User);
            }

            builder.Append(')');
            if (p.ExeUpperLayer)
            {
                builder.Append(" [not in image]");
            }

            if (!string.IsNullOrEmpty(p.Cmdline))
            {
                builder.Append(": ").Append(Truncate(p.Cmdline, maxCmdline));
            }

            builder.Append('\n');
        }

        return builder.ToString().TrimEnd('\n');
    }

    /// <summary><c>connect(fd=3, addr=169.254.169.254:80) = 0</c>.</summary>
    public static string Syscall(CardSyscall syscall)
    {
        var args = syscall.Args is null ? "" : string.Join(", ", syscall.Args.Select(a => $"{a.Key}={a.Value}"));
        var ret = syscall.Return is { } r ? string.Create(CultureInfo.InvariantCulture, $" = {r}") : "";
        return $"{syscall.Name}({args}){ret}";
    }

    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>"acknowledged by alice at 2026-…" lines, newest last.</summary>
    public static string Activity(CardActivity a) =>
        $"{a.Kind.Replace('_', ' ')} by {a.Actor} at {Time(a.At)}{(a.Detail is { Length: > 0 } d ? " — " + d : "")}";

    public static string Status(IncidentCard card)
    {
        var last = card.Activity.LastOrDefault(a => a.Kind is "acknowledged" or "resolved" or "escalated");
        var status = CultureInfo.InvariantCulture.TextInfo.ToTitleCase(card.Status);
        return last is null ? status : $"{status} ({last.Kind.Replace('_', ' ')} by {last.Actor})";
    }

    /// <summary>"payments (from workload_label: label team=payments on Deployment shop/cart), #payments-oncall".</summary>
    public static string Owner(CardOwner owner) =>
        $"{owner.Team} (from {owner.Source}{(owner.Detail is { Length: > 0 } d ? ": " + d : "")}){(owner.Contact is null ? "" : ", " + owner.Contact)}";

    /// <summary>"payments + soc — row imds-both: credential access …".</summary>
    public static string Route(CardRoute route) =>
        $"{string.Join(" + ", route.Teams)} — {(route.Row is { Length: > 0 } row ? $"row {row}: " : "")}{route.Why}";

    /// <summary>"level 2, paged carol, next escalation …", or null without an escalation policy in force.</summary>
    public static string? Escalation(CardRoute route)
    {
        var parts = new List<string>();
        if (route.EscalationLevel is { } level)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"level {level}"));
        }

        if (route.Paged is { } paged)
        {
            parts.Add($"paged {paged}");
        }

        if (route.NextEscalationAt is { } next)
        {
            parts.Add($"next escalation {Time(next)}");
        }

        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    public static string Rollout(CardRollout r) =>
        $"{r.Revision} at {Time(r.At)}{(r.Image is null ? "" : " — " + r.Image)}{(r.By is null ? "" : " by " + r.By)}{(r.Cause is { Length: > 0 } c ? " (" + c + ")" : "")}";

    public static string Votes(CardVotes v)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"Benign {v.Benign} · Not benign {v.NotBenign}");
        if (v.Needed is { } needed)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" (needs {needed})");
        }

        return v.Outcome is null ? text : $"{text} — {v.Outcome}";
    }
}
