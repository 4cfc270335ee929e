using Triage.Bench;

// One entry per benchmark; each appends its own section to bench/RESULTS.md.
var benchmarks = new Dictionary<string, Func<string[], Task<int>>>(StringComparer.Ordinal)
{
    ["ingest"] = IngestBenchmark.RunAsync,
    ["enrichment"] = EnrichmentBenchmark.RunAsync,
    ["escalation"] = EscalationBenchmark.RunAsync,
    ["sqlite-floor"] = SqliteFloorBenchmark.RunAsync,
};

if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: Triage.Bench <{string.Join("|", benchmarks.Keys)}> [options]");
    return 2;
}

return await run(args[1..]);
