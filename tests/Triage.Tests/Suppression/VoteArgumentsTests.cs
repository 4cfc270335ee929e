using System.Text.Json;
using Triage.Api.Operations;
using Triage.Api.Suppression;

namespace Triage.Tests.Suppression;

public sealed class VoteArgumentsTests
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement;

    [Fact]
    public void Parse_FullProposal_ReadsScopeDurationAndReason()
    {
        var args = VoteArguments.Parse(Json("""
            {"reason": " release 1.4 ", "duration": "3d", "alert_id": "a1",
             "scope": {"workload": false, "image_digest": true, "process_exe": true, "cmdline_pattern": "/app/* --x"}}
            """), reasonRequired: true);

        Assert.Equal("release 1.4", args.Reason);
        Assert.Equal(TimeSpan.FromDays(3), args.Duration);
        Assert.Equal("a1", args.AlertId);
        Assert.Equal(new ScopeRequest(Workload: false, ImageDigest: true, ProcessExe: true, CmdlinePattern: "/app/* --x"), args.Scope);
    }

    [Fact]
    public void Parse_ExactCommandLine_IsEmptyPattern()
    {
        var args = VoteArguments.Parse(Json("""{"reason": "r", "scope": {"cmdline_pattern": true}}"""), reasonRequired: true);

        Assert.Equal("", args.Scope!.CmdlinePattern);
    }

    [Fact]
    public void Parse_EveryMistake_IsReportedWithItsField()
    {
        var error = Assert.Throws<RequestValidationException>(() => VoteArguments.Parse(Json("""
            {"duration": "soon", "scope": {"workload": "no", "rule": false, "cmdline_pattern": 3}}
            """), reasonRequired: true));

        Assert.Equal(
            ["arguments.duration", "arguments.scope.workload", "arguments.scope.rule", "arguments.scope.cmdline_pattern", "arguments.reason"],
            error.Errors.Select(e => e.Field));
    }

    [Fact]
    public void Parse_NotBenignWithoutArguments_IsFine()
    {
        var args = VoteArguments.Parse(null, reasonRequired: false);

        Assert.Null(args.Reason);
        Assert.Null(args.Scope);
    }
}
