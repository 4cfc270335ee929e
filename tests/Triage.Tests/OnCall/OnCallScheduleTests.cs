using Triage.Api.OnCall;

namespace Triage.Tests.OnCall;

public sealed class OnCallScheduleTests
{
    private static DateTimeOffset Utc(int month, int day, int hour, int minute = 0) => new(2026, month, day, hour, minute, 0, TimeSpan.Zero);

    private static OnCallSchedule Weekly(string zone, string start, string handoff, params string[] users) => new(new ScheduleOptions
    {
        Name = "primary",
        TimeZone = zone,
        Layers = [new ScheduleLayerOptions { Name = "weekly", Users = [.. users], Length = TimeSpan.FromDays(7), Handoff = handoff, Start = start }],
    });

    [Fact]
    public void At_WeeklyRotationAcrossAutumnDstChange_HandsOffAtSameLocalTime()
    {
        // Berlin leaves summer time on Sunday 2026-10-25: 09:00 is 07:00Z before and 08:00Z after.
        var schedule = Weekly("Europe/Berlin", "2026-10-19", "09:00", "alice", "bob");

        var before = schedule.At(Utc(10, 26, 7, 59), []);
        var after = schedule.At(Utc(10, 26, 8, 0), []);

        Assert.Equal("alice", before!.Person);
        Assert.Equal(Utc(10, 19, 7), before.Start);
        Assert.Equal(Utc(10, 26, 8), before.End); // a 169-hour turn
        Assert.Equal("bob", after!.Person);
        Assert.Equal("weekly", after.Source);
        Assert.Equal(Utc(11, 2, 8), after.End);
        Assert.Equal("alice", schedule.At(Utc(11, 2, 8), [])!.Person);
    }

    [Fact]
    public void At_DailyHandoffInsideSpringForwardGap_MovesForwardByTheGap()
    {
        // New York skips 02:00-03:00 on 2026-03-08; a 02:30 hand-off happens at 03:30 EDT (07:30Z) that day.
        var schedule = new OnCallSchedule(new ScheduleOptions
        {
            Name = "nyc",
            TimeZone = "America/New_York",
            Layers = [new ScheduleLayerOptions { Users = ["a", "b", "c"], Length = TimeSpan.FromDays(1), Handoff = "02:30", Start = "2026-03-06" }],
        });

        Assert.Equal("b", schedule.At(Utc(3, 8, 7, 29), [])!.Person); // 03:29 EDT: the hand-off has not happened yet
        var shift = schedule.At(Utc(3, 8, 7, 30), [])!;
        Assert.Equal("c", shift.Person);
        Assert.Equal(Utc(3, 8, 7, 30), shift.Start);
        Assert.Equal(Utc(3, 9, 6, 30), shift.End); // 02:30 EDT the next day: a 23-hour turn
        Assert.Equal("layer 0", shift.Source);
    }

    [Fact]
    public void At_TwelveHourTurns_AreExactDurationsAcrossDst()
    {
        var schedule = new OnCallSchedule(new ScheduleOptions
        {
            Name = "follow-the-sun",
            TimeZone = "Europe/Berlin",
            Layers = [new ScheduleLayerOptions { Users = ["emea", "amer"], Length = TimeSpan.FromHours(12), Handoff = "08:00", Start = "2026-10-24" }],
        });

        // First hand-off 08:00 CEST = 06:00Z; after the change, turns still start at 06:00Z/18:00Z (07:00/19:00 CET).
        var shift = schedule.At(Utc(10, 26, 6, 0), [])!;
        Assert.Equal("emea", shift.Person);
        Assert.Equal(Utc(10, 26, 6), shift.Start);
        Assert.Equal(Utc(10, 26, 18), shift.End);
    }

    [Fact]
    public void At_BusinessHoursLayerOverWeeklyLayer_WinsOnlyInsideItsWindow()
    {
        var schedule = new OnCallSchedule(new ScheduleOptions
        {
            Name = "payments",
            TimeZone = "Europe/Berlin",
            Layers =
            [
                new ScheduleLayerOptions { Name = "nights", Users = ["alice", "bob"], Handoff = "09:00", Start = "2026-11-02" },
                new ScheduleLayerOptions
                {
                    Name = "office",
                    Users = ["carol"],
                    Handoff = "00:00",
                    Start = "2026-11-02",
                    Restrictions = [new TimeWindowOptions { Days = ["mon", "tue", "wed", "thu", "fri"], Start = "09:00", End = "17:00" }],
                },
            ],
        });

        var office = schedule.At(Utc(11, 24, 12), [])!; // Tuesday 13:00 CET
        Assert.Equal(("carol", "office"), (office.Person, office.Source));
        Assert.Equal(Utc(11, 24, 8), office.Start);
        Assert.Equal(Utc(11, 24, 16), office.End);

        var evening = schedule.At(Utc(11, 24, 19), [])!; // Tuesday 20:00 CET
        Assert.Equal(("bob", "nights"), (evening.Person, evening.Source));
        var saturday = schedule.At(Utc(11, 28, 12), [])!; // no office layer on Saturdays: the week of Nov 23 is bob's
        Assert.Equal(("bob", "nights"), (saturday.Person, saturday.Source));
        Assert.Equal(Utc(11, 30, 8), saturday.End);
    }

    [Fact]
    public void At_Overrides_WinAndTheNewestOverlappingOneTakesPrecedence()
    {
        var schedule = Weekly("UTC", "2026-11-02", "09:00", "alice", "bob");
        ScheduleOverride[] overrides =
        [
            new(1, "dave", Utc(11, 24, 12), Utc(11, 24, 14)),
            new(2, "erin", Utc(11, 24, 13), Utc(11, 24, 15)),
        ];

        Assert.Equal("bob", schedule.At(Utc(11, 24, 11, 59), overrides)!.Person);
        Assert.Equal("dave", schedule.At(Utc(11, 24, 12, 30), overrides)!.Person);
        var newest = schedule.At(Utc(11, 24, 13, 30), overrides)!;
        Assert.Equal(("erin", "override"), (newest.Person, newest.Source));
        Assert.Equal(Utc(11, 24, 15), newest.End);
        Assert.Equal("bob", schedule.At(Utc(11, 24, 15), overrides)!.Person); // end is exclusive
    }

    [Fact]
    public void At_BeforeStartOrAfterEnd_NobodyOnCall()
    {
        var schedule = new OnCallSchedule(new ScheduleOptions
        {
            Name = "s",
            Layers = [new ScheduleLayerOptions { Users = ["alice"], Handoff = "09:00", Start = "2026-11-02", End = "2026-11-09" }],
        });

        Assert.Null(schedule.At(Utc(11, 2, 8, 59), []));
        Assert.Equal("alice", schedule.At(Utc(11, 2, 9), [])!.Person);
        Assert.Null(schedule.At(Utc(11, 9, 9), []));
    }

    [Fact]
    public void NextOpening_FridayEveningBerlin_IsMondayMorningAndFollowsDst()
    {
        var hours = new TimeWindowOptions { TimeZone = "Europe/Berlin", Days = ["mon", "tue", "wed", "thu", "fri"], Start = "09:00", End = "17:00" }.Compile();

        Assert.Equal(Utc(11, 30, 8), hours.NextOpening(Utc(11, 27, 17))); // Fri 18:00 CET → Mon 09:00 CET
        Assert.Equal(Utc(10, 26, 8), hours.NextOpening(Utc(10, 23, 16))); // Fri 18:00 CEST → Mon 09:00 CET (after the change)
        Assert.Equal(Utc(11, 24, 10), hours.NextOpening(Utc(11, 24, 10))); // inside: now
    }

    [Fact]
    public void Contains_OvernightWindow_CoversBothSidesOfMidnight()
    {
        var nights = new TimeWindowOptions { Days = ["fri"], Start = "22:00", End = "06:00" }.Compile();

        Assert.True(nights.Contains(Utc(11, 27, 23)));  // Friday 23:00
        Assert.True(nights.Contains(Utc(11, 28, 5)));   // Saturday 05:00, still Friday's night
        Assert.False(nights.Contains(Utc(11, 28, 6)));
        Assert.False(nights.Contains(Utc(11, 26, 23))); // Thursday
        Assert.Equal((Utc(11, 27, 22), Utc(11, 28, 6)), nights.Occurrence(Utc(11, 28, 1)));
    }
}
