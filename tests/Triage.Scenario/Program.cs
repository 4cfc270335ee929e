using System.Globalization;
using Triage.Fakes.Imds;
using Triage.Scenario;

// ./scenario.sh [--no-escalation] [--keep]   the live attack, step by step (--keep: leave config, database, logs)
// Triage.Scenario bench [--runs N] [--warmup W]   syscall -> Slack card latency over N runs (bench/scenario-latency.sh)
// Triage.Scenario imds --url URL        the fake metadata service, run by the scenario inside its network namespace
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Ctrl-C cancels the run; the cleanup (containers, namespaces, child processes) still happens.
    e.Cancel = true;
    cancel.Cancel();
};

switch (args.FirstOrDefault())
{
    case "imds":
    {
        var url = args.SkipWhile(a => a != "--url").Skip(1).FirstOrDefault() ?? "http://169.254.169.254:80";
        await using var imds = await FakeInstanceMetadataService.StartAsync(url);
        imds.Answered += r => Console.WriteLine($"imds: {r.Method} {r.Path} -> {r.Status} (from {r.Remote})");
        Console.WriteLine($"imds: listening on {imds.BaseAddress}");
        try
        {
            await Task.Delay(Timeout.Infinite, cancel.Token);
        }
        catch (OperationCanceledException)
        {
        }

        return 0;
    }

    case "bench":
    {
        var runs = int.Parse(args.SkipWhile(a => a != "--runs").Skip(1).FirstOrDefault() ?? "20", CultureInfo.InvariantCulture);
        var warmup = int.Parse(args.SkipWhile(a => a != "--warmup").Skip(1).FirstOrDefault() ?? "1", CultureInfo.InvariantCulture);
        if (Missing())
        {
            return 2;
        }

        try
        {
            await LatencyBenchmark.RunAsync(runs, warmup, Console.Out, cancel.Token, keepFiles: args.Contains("--keep"));
            return 0;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or HttpRequestException or OperationCanceledException)
        {
            Console.Error.WriteLine($"bench: FAILED: {ex.Message}");
            return 1;
        }
    }

    case null or "scenario" or "--no-escalation" or "--keep":
    {
        if (Missing())
        {
            return 2;
        }

        try
        {
            var report = await AttackScenario.RunAsync(Console.Out, waitForEscalation: !args.Contains("--no-escalation"), cancel.Token,
                keepFiles: args.Contains("--keep"));
            return report.Incidents.Count >= 3 ? 0 : 1;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or HttpRequestException or OperationCanceledException)
        {
            Console.Error.WriteLine($"scenario: FAILED: {ex.Message}");
            return 1;
        }
    }

    default:
        Console.Error.WriteLine("usage: Triage.Scenario [scenario] [--no-escalation] [--keep] | bench [--runs N] [--warmup W] [--keep] | imds --url URL");
        return 2;
}

static bool Missing()
{
    var missing = ScenarioEnvironment.MissingPrerequisites();
    foreach (var m in missing)
    {
        Console.Error.WriteLine($"scenario: missing {m}");
    }

    return missing.Count > 0;
}
