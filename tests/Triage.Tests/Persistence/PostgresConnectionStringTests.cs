using Npgsql;
using Triage.Api.Persistence;

namespace Triage.Tests.Persistence;

public sealed class PostgresConnectionStringTests
{
    [Fact]
    public void PostgresConnectionString_PlainConfiguration_PreparesStatementsAndKeepsThemAcrossPoolUses()
    {
        var built = new NpgsqlConnectionStringBuilder(
            DatabaseExtensions.PostgresConnectionString("Host=db.example;Database=triage", "triage-test"));

        Assert.Equal(64, built.MaxAutoPrepare);
        Assert.Equal(2, built.AutoPrepareMinUsages);
        Assert.True(built.NoResetOnClose);
        Assert.Equal("triage-test", built.ApplicationName);
        Assert.Equal("db.example", built.Host);
    }

    [Fact]
    public void PostgresConnectionString_OperatorSettings_AreKept()
    {
        var built = new NpgsqlConnectionStringBuilder(DatabaseExtensions.PostgresConnectionString(
            "Host=db.example;Database=triage;Max Auto Prepare=5;No Reset On Close=false;Application Name=mine", "triage-test"));

        Assert.Equal(5, built.MaxAutoPrepare);
        Assert.False(built.NoResetOnClose);
        Assert.Equal("mine", built.ApplicationName);
    }

    /// <summary>An operator who switched preparation off keeps it off; the string's own spelling of a keyword counts.</summary>
    [Fact]
    public void PostgresConnectionString_PreparationSwitchedOff_StaysOff()
    {
        var built = new NpgsqlConnectionStringBuilder(DatabaseExtensions.PostgresConnectionString(
            "Host=db.example;MaxAutoPrepare=0;noresetonclose=false"));

        Assert.Equal(0, built.MaxAutoPrepare);
        Assert.False(built.NoResetOnClose);
    }
}
