using Microsoft.Extensions.Time.Testing;
using Sensor.Evidence;
using Sensor.Tests.Support;
using Triage.Contracts;

namespace Sensor.Tests.Evidence;

public sealed class DetectionCaptureTests
{
    private const string FullId = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

    private readonly FakeTimeProvider _time = new(TestEvents.Now);
    private readonly List<EvidenceRequest> _queued = [];

    private DetectionCapture Capture(SensorEvidenceOptions options, bool room = true) => new(options, r =>
    {
        if (room)
        {
            _queued.Add(r);
        }

        return room;
    }, _time);

    private static NativeAlert Alert(string rule, string priority, string id = "sen-1") => new() { Id = id, Rule = rule, Priority = priority };

    private static Sensor.Events.SensorEvent InContainer(string containerId = FullId) =>
        TestEvents.Exec(TestEvents.Proc("/tmp/xmrig") with { Pid = 4711, StartTimeNs = 987_000_000_000, IsExeUpperLayer = true },
            TestEvents.Container() with { FullId = containerId });

    [Fact]
    public void OnAlert_NamedRule_QueuesCaptureOfThatProcessAndContainer()
    {
        var capture = Capture(new SensorEvidenceOptions { CaptureRules = ["Container drift binary executed"], CaptureMinPriority = "none" });

        var request = capture.OnAlert(Alert("Container drift binary executed", "Warning", "sen-42"), InContainer());

        Assert.NotNull(request);
        Assert.Equal(request, Assert.Single(_queued));
        Assert.Equal("sen-42", request.AlertId);
        Assert.Equal(4711, request.Pid);
        Assert.Equal(987_000_000_000ul, request.StartTimeNs);
        Assert.Equal(FullId, request.ContainerId);
        Assert.True(request.ExeUpperLayer);
        Assert.Null(request.CommandId);
        Assert.Equal(1, capture.Requested);
    }

    [Theory]
    [InlineData("Critical", "Critical", true)]
    [InlineData("Emergency", "Critical", true)]
    [InlineData("Warning", "Critical", false)]
    [InlineData("Critical", "none", false)]
    [InlineData("Notice", "Notice", true)]
    public void OnAlert_ByPriority_CapturesAtOrAboveTheThreshold(string priority, string threshold, bool expected)
    {
        var capture = Capture(new SensorEvidenceOptions { CaptureMinPriority = threshold });

        Assert.Equal(expected, capture.OnAlert(Alert("Some rule", priority), InContainer()) is not null);
        Assert.Equal(expected ? 1 : 0, _queued.Count);
    }

    [Fact]
    public void OnAlert_Star_CapturesEveryRule()
    {
        var capture = Capture(new SensorEvidenceOptions { CaptureRules = ["*"], CaptureMinPriority = "none" });

        Assert.NotNull(capture.OnAlert(Alert("Anything", "Debug"), InContainer()));
    }

    [Fact]
    public void OnAlert_SameRuleAndContainerWithinCooldown_CapturedOnceThenAgainAfterIt()
    {
        var capture = Capture(new SensorEvidenceOptions { CaptureCooldown = TimeSpan.FromSeconds(60) });

        Assert.NotNull(capture.OnAlert(Alert("R", "Critical", "a1"), InContainer()));
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Null(capture.OnAlert(Alert("R", "Critical", "a2"), InContainer()));

        // Another rule, or another container, is other evidence: captured at once.
        Assert.NotNull(capture.OnAlert(Alert("Other rule", "Critical", "a3"), InContainer()));
        Assert.NotNull(capture.OnAlert(Alert("R", "Critical", "a4"), InContainer(FullId.Replace('3', '9'))));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("a5", capture.OnAlert(Alert("R", "Critical", "a5"), InContainer())?.AlertId);
        Assert.Equal(["a1", "a3", "a4", "a5"], _queued.Select(r => r.AlertId));
    }

    [Fact]
    public void OnAlert_QueueFull_CountedAsDroppedAndTriedAgainOnTheNextAlert()
    {
        var full = Capture(new SensorEvidenceOptions(), room: false);

        Assert.Null(full.OnAlert(Alert("R", "Critical"), InContainer()));
        Assert.Null(full.OnAlert(Alert("R", "Critical"), InContainer()));

        // A dropped capture does not start the cooldown: the next alert tries again (and is dropped again here).
        Assert.Equal(2, full.Dropped);
        Assert.Equal(0, full.Requested);
    }

    [Fact]
    public void OnAlert_HostProcess_CapturesTheProcessWithoutContainer()
    {
        var capture = Capture(new SensorEvidenceOptions());

        var request = capture.OnAlert(Alert("R", "Critical"), TestEvents.Exec(TestEvents.Proc("/usr/bin/nc")));

        Assert.NotNull(request);
        Assert.Null(request.ContainerId);
        Assert.Equal(4242, request.Pid);
    }
}
