using Sensor.Bench;

// One entry per benchmark; each prints a Markdown section to append to bench/RESULTS.md.
var benchmarks = new Dictionary<string, Func<string[], int>>(StringComparer.Ordinal)
{
    ["rules"] = RulesBenchmark.Run,
};

if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: Sensor.Bench <{string.Join("|", benchmarks.Keys)}> [options]");
    return 2;
}

return run(args[1..]);
