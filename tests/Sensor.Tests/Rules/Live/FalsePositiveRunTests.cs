using System.Globalization;
using Sensor.Tests.Support;

namespace Sensor.Tests.Rules.Live;

/// <summary>
/// The false-positive run: an ordinary service in a container (a web server answering requests with a static page and
/// a CGI script, a worker shell script, cron running a backup job and a log rotation, and an exec health probe every
/// ten seconds as kubelet would run it) under the live sensor with the default pack for five minutes must raise
/// nothing. Alert fatigue is what kills runtime detection in practice; a rule that fires here is tuned with an
/// exception, never switched off. Takes five minutes (SENSOR_FP_SECONDS shortens it for local runs; CI runs it whole).
/// </summary>
public sealed class FalsePositiveRunTests(LiveSensor sensor, ITestOutputHelper output) : IClassFixture<LiveSensor>
{
    [Fact]
    public async Task FalsePositiveRun_BenignServiceForFiveMinutes_RaisesNoAlert()
    {
        Requires.Ebpf();
        Requires.Podman();
        var seconds = !Requires.InCi && int.TryParse(Environment.GetEnvironmentVariable("SENSOR_FP_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 300;
        await sensor.EnsureStarted();
        var id = await sensor.StartContainer(
            ["--network", "none", "--label", "io.kubernetes.pod.namespace=shop", "--label", "io.kubernetes.pod.name=shop-web-1"],
            ["/srv/app/entry.sh"]);

        var end = DateTime.UtcNow.AddSeconds(seconds);
        var probes = 0;
        while (DateTime.UtcNow < end)
        {
            var (_, code, probeOutput) = await LiveSensor.ExecRetryingWhilePaused(["exec", id, "/srv/app/health.sh"]);
            Assert.True(code == 0, $"health probe failed: {probeOutput}");
            probes++;
            await Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        }

        await Task.Delay(2000, TestContext.Current.CancellationToken);
        var events = sensor.Observed.Where(e => e.Container!.FullId == id).ToList();
        var alerts = sensor.Alerts.Where(a => a.Container?.Id == id[..12]).ToList();
        var byType = events.GroupBy(e => e.Type).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Count()}");
        var programs = events.Where(e => e.Type == "execve").GroupBy(e => e.Process.Name).OrderByDescending(g => g.Count())
            .Select(g => $"{g.Key}={g.Count()}");
        List<string> report =
        [
            $"false-positive run: {seconds} s, {probes} exec probes, {events.Count} events from the container ({string.Join(", ", byType)})",
            $"programs started: {string.Join(", ", programs)}",
            $"alerts: {alerts.Count}",
            .. alerts.Select(a => $"  {a.Rule}: {a.Output}"),
        ];
        report.ForEach(output.WriteLine);
        if (Environment.GetEnvironmentVariable("SENSOR_FP_REPORT") is { Length: > 0 } reportFile)
        {
            await File.WriteAllLinesAsync(reportFile, report, TestContext.Current.CancellationToken);
        }

        // The run must have been busy, or "no alert" proves nothing: requests, scripts, cron and rotation all ran.
        Assert.Contains(events, e => e.Type == "connect" && e.Fd?.ServerPort == 8080);
        Assert.Contains(events, e => e.Type == "execve" && e.Process.Name == "httpd" || e.Process.Cmdline.Contains("cgi-bin", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Type == "execve" && e.Process.Cmdline.Contains("worker.sh", StringComparison.Ordinal));
        if (seconds >= 120)
        {
            Assert.Contains(events, e => e.Type == "execve" && e.Process.Cmdline.Contains("rotate.sh", StringComparison.Ordinal));
            Assert.Contains(events, e => e.Type == "execve" && e.Process.Name == "gzip");
        }

        Assert.True(alerts.Count == 0, $"{alerts.Count} alerts from the benign service:\n  " + string.Join("\n  ", alerts.Select(a => $"{a.Rule}: {a.Output}")));
    }
}
