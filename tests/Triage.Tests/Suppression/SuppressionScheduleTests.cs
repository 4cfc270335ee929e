using Triage.Api.Suppression;

namespace Triage.Tests.Suppression;

public sealed class SuppressionScheduleTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly SuppressionOptions Options = new()
    {
        DefaultDuration = TimeSpan.FromDays(7),
        MaxDuration = TimeSpan.FromDays(30),
        RenewalNotice = TimeSpan.FromDays(1),
    };

    [Fact]
    public void Duration_NoneAsked_TakesDefaultButNotAboveThePolicyMax()
    {
        Assert.Equal(TimeSpan.FromDays(7), SuppressionSchedule.Duration(null, Options, TimeSpan.FromDays(30)).Duration);
        Assert.Equal(TimeSpan.FromDays(2), SuppressionSchedule.Duration(null, Options, TimeSpan.FromDays(2)).Duration);
    }

    [Fact]
    public void Duration_AboveMax_IsRefusedNotCut()
    {
        var (_, error) = SuppressionSchedule.Duration(TimeSpan.FromDays(31), Options, TimeSpan.FromDays(30));

        Assert.Equal("duration 31d exceeds the maximum of 30d", error);
    }

    [Fact]
    public void Due_WalksFromNothingToRenewalToExpiry()
    {
        var expires = Now + TimeSpan.FromDays(7);

        Assert.Equal(ScheduleStep.Nothing, SuppressionSchedule.Due(expires, null, Options.RenewalNotice, Now));
        Assert.Equal(ScheduleStep.AskRenewal, SuppressionSchedule.Due(expires, null, Options.RenewalNotice, Now + TimeSpan.FromDays(6)));
        Assert.Equal(ScheduleStep.Nothing, SuppressionSchedule.Due(expires, Now + TimeSpan.FromDays(6), Options.RenewalNotice, Now + TimeSpan.FromDays(6.5)));
        Assert.Equal(ScheduleStep.Expire, SuppressionSchedule.Due(expires, Now + TimeSpan.FromDays(6), Options.RenewalNotice, expires));
    }

    [Fact]
    public void Renewed_CountsFromOldExpiry_CappedAtMaxFromNow()
    {
        var expires = Now + TimeSpan.FromDays(1);

        Assert.Equal(expires + TimeSpan.FromDays(7), SuppressionSchedule.Renewed(expires, TimeSpan.FromDays(7), TimeSpan.FromDays(30), Now));
        Assert.Equal(Now + TimeSpan.FromDays(30), SuppressionSchedule.Renewed(expires, TimeSpan.FromDays(30), TimeSpan.FromDays(30), Now));
        Assert.Equal(Now + TimeSpan.FromDays(7), SuppressionSchedule.Renewed(Now - TimeSpan.FromHours(1), TimeSpan.FromDays(7), TimeSpan.FromDays(30), Now));
    }
}
