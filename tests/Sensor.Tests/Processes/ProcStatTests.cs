using Sensor.Processes;

namespace Sensor.Tests.Processes;

public sealed class ProcStatTests
{
    [Fact]
    public void Parse_CommWithSpacesAndParentheses_FieldsAfterTheLastParenthesis()
    {
        const string stat = "4242 (my (odd) name) S 4000 4242 4242 34816 4242 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 5431296 201 18446744073709551615";

        var fields = ProcStat.Parse(stat);

        Assert.Equal(new ProcStat.Fields("my (odd) name", 4000, 34816, 987654), fields);
    }

    [Theory]
    [InlineData("")]
    [InlineData("4242 (sh")]
    [InlineData("4242 (sh) S 1 2 3")]
    [InlineData("4242 (sh) S x 4242 4242 0 4242 0 0 0 0 0 0 0 0 0 20 0 1 0 987654")]
    public void Parse_NotAStatLine_Null(string stat) => Assert.Null(ProcStat.Parse(stat));

    [Fact]
    public void Read_ThisProcess_MatchesItsOwnStartTimeAndParent()
    {
        var fields = ProcStat.Read(Environment.ProcessId);

        Assert.NotNull(fields);
        Assert.Equal(Sensor.Evidence.ProcFs.Read(Environment.ProcessId)!.StartTicks, fields.Value.StartTicks);
        Assert.True(fields.Value.Ppid > 0);
        Assert.Null(ProcStat.Read(int.MaxValue));
    }

    [Theory]
    [InlineData(100ul, 1_000_000_000ul, true)]
    [InlineData(100ul, 1_009_999_999ul, true)]
    [InlineData(99ul, 1_000_000_000ul, true)]
    [InlineData(101ul, 1_000_000_000ul, true)]
    [InlineData(98ul, 1_000_000_000ul, false)]
    [InlineData(102ul, 1_000_000_000ul, false)]
    [InlineData(100ul, 6_000_000_000ul, false)]
    public void SameStart_OneTickOfRoundingEitherWay_SameProcess(ulong ticks, ulong startNs, bool expected) =>
        Assert.Equal(expected, ProcStat.SameStart(ticks, startNs));
}
