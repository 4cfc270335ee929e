using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Api.Persistence;
using Triage.Api.Suppression;
using Triage.Contracts;
using Triage.Tests.Support;

namespace Triage.Tests.Suppression;

/// <summary>
/// Voting end to end over real HTTP against the real service and database: quorum, veto, refusal, scope, the ingest
/// hook (stored, counted, not paged), expiry and renewal on a fake clock, revocation, export, simultaneous votes.
/// </summary>
public sealed class SuppressionVotingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>alice (payments) and carol (soc) together make the quorum; the base host has no second payments responder.</summary>
    private const string Policy = """
        suppression:
          default_duration: 7d
          max_duration: 30d
          renewal_notice: 1d
          never_without_soc: [Detect release_agent File Container Escapes]
          policies:
            - name: default
              min_priority: Debug
              owning_team: 1
              soc: 1
              proposer_counts: true
              may_widen: [workload]
        """;

    private const string Rule = "Drop and execute new binary in container";

    private static NativeAlert Alert(string? exe = "/app/migrate", DateTimeOffset? time = null, string workload = "checkout", string rule = Rule) =>
        Some.Alert(rule: rule, priority: "Warning", workload: workload, time: time) with
        {
            Process = new ProcessInfo { Pid = 7, Name = "migrate", Exe = exe, Cmdline = $"{exe} --to 42", Uid = 0, User = "root" },
        };

    private static async Task<long> PostAlertAsync(TriageTestHost host, NativeAlert alert)
    {
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await TriageTestHost.ReadJsonAsync(response);
        return body.GetProperty("alerts")[0].GetProperty("incident_id").GetInt64();
    }

    /// <summary>Plays enrichment (not part of this feature): the owning team is decided.</summary>
    private static Task<int> SetOwnerAsync(TriageTestHost host, long incidentId, string team) =>
        host.QueryAsync(db => db.Incidents.Where(i => i.Id == incidentId)
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.OwnerTeam, team), Ct));

    private static Task<HttpResponseMessage> ActAsync(TriageTestHost host, long incidentId, string action, string actor, object? arguments = null) =>
        host.Operator.PostAsJsonAsync($"/api/v1/incidents/{incidentId}/actions/{action}", new { actor, arguments }, Ct);

    private static async Task<JsonElement> OkJsonAsync(Task<HttpResponseMessage> request)
    {
        var response = await request;
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    private static async Task<JsonElement> IncidentAsync(TriageTestHost host, long incidentId) =>
        await OkJsonAsync(host.Operator.GetAsync($"/api/v1/incidents/{incidentId}", Ct));

    private static async Task<long> ActivateAsync(TriageTestHost host, long incidentId, object? scope = null)
    {
        await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "release 1.4 runs its migration", scope }));
        await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "carol", new { reason = "matches the rollout" }));
        var record = await host.QueryAsync(db => db.Set<SuppressionRecord>().SingleAsync(s => s.IncidentId == incidentId, Ct));
        Assert.Equal(SuppressionStatus.Active, record.Status);
        return record.Id;
    }

    private static bool IsVotingKind(string kind) =>
        kind.StartsWith("suppression_", StringComparison.Ordinal) || kind.StartsWith("vote_", StringComparison.Ordinal);

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Votes_OwnerThenSoc_ActivateSuppression_ListedWithVotesTallyAndTimeline(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database, Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "payments");

        var first = await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "release 1.4 runs its migration" }));
        var pending = await host.QueryAsync(db => db.Set<SuppressionRecord>().SingleAsync(Ct));
        var second = await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "carol", new { reason = "matches the rollout" }));

        Assert.True(first.GetProperty("changed").GetBoolean());
        Assert.Contains("SOC 0/1", first.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(SuppressionStatus.Proposed, pending.Status);
        Assert.Contains("active until", second.GetProperty("message").GetString(), StringComparison.Ordinal);

        var list = await OkJsonAsync(host.Operator.GetAsync("/api/v1/suppressions?status=active", Ct));
        var suppression = Assert.Single(list.EnumerateArray());
        Assert.Equal("active", suppression.GetProperty("status").GetString(), ignoreCase: true);
        Assert.Equal("alice", suppression.GetProperty("proposed_by").GetString());
        Assert.Equal("7d", suppression.GetProperty("duration").GetString());
        Assert.Equal(["alice", "carol"], suppression.GetProperty("votes").EnumerateArray().Select(v => v.GetProperty("voter").GetString()));
        var tally = suppression.GetProperty("tally");
        Assert.Equal("reached", tally.GetProperty("outcome").GetString(), ignoreCase: true);
        Assert.Equal(2, tally.GetProperty("benign").GetInt32());
        Assert.Equal(2, tally.GetProperty("needed").GetInt32());
        Assert.Equal("checkout", suppression.GetProperty("scope").GetProperty("workload_name").GetString());

        var detail = await IncidentAsync(host, incidentId);
        Assert.Equal(suppression.GetProperty("id").GetInt64(), detail.GetProperty("suppression").GetProperty("id").GetInt64());
        // Other pipeline steps (routing, chat) write their own entries in between; this feature's are in order.
        var votingEntries = detail.GetProperty("timeline").EnumerateArray().Where(t => IsVotingKind(t.GetProperty("kind").GetString()!)).ToList();
        Assert.Equal(["suppression_proposed", "vote_benign", "vote_benign", "suppression_activated"], votingEntries.Select(t => t.GetProperty("kind").GetString()));
        Assert.All(votingEntries, t => Assert.Equal("api", t.GetProperty("channel").GetString()));
    }

    [Fact]
    public async Task Vote_NotBenign_BlocksUntilTheVoterChangesTheirMind()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "payments");

        await OkJsonAsync(ActAsync(host, incidentId, "vote_not_benign", "carol", new { reason = "nobody deployed today" }));
        var blocked = await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "it is the migration" }));
        var statusWhileBlocked = await host.QueryAsync(db => db.Set<SuppressionRecord>().Select(s => s.Status).SingleAsync(Ct));
        await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "carol", new { reason = "found the change ticket" }));

        Assert.Contains("blocked by carol", blocked.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(SuppressionStatus.Proposed, statusWhileBlocked);
        var record = await host.QueryAsync(db => db.Set<SuppressionRecord>().Include(s => s.Votes).SingleAsync(Ct));
        Assert.Equal(SuppressionStatus.Active, record.Status);
        Assert.Equal("alice", record.ProposedBy);
        Assert.Equal(2, record.Votes.Count);
        var timeline = await host.QueryAsync(db => db.Timeline.Where(t => t.IncidentId == incidentId).Select(t => t.Detail).ToListAsync(Ct));
        Assert.Contains(timeline, d => d.Contains("carol voted benign (changed from not benign)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Vote_Unauthorized_RefusedWith403_AndAudited()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "billing");

        var noRole = await ActAsync(host, incidentId, "vote_benign", "mallory", new { reason = "x" });
        var unknown = await ActAsync(host, incidentId, "vote_benign", "eve", new { reason = "x" });
        var otherTeam = await ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "not my team's workload" });
        var soc = await ActAsync(host, incidentId, "vote_not_benign", "carol");

        Assert.Equal(HttpStatusCode.Forbidden, noRole.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, otherTeam.StatusCode);
        Assert.Contains("neither in the owning team (billing)", await otherTeam.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, soc.StatusCode);
        var refusals = await host.QueryAsync(db => db.Timeline.Where(t => t.IncidentId == incidentId && (t.Kind == "action_refused" || t.Kind == "vote_refused"))
            .OrderBy(t => t.Id).Select(t => t.Actor).ToListAsync(Ct));
        Assert.Equal(["mallory", "eve", "alice"], refusals);
        var votes = await host.QueryAsync(db => db.Set<SuppressionVote>().Select(v => v.Voter).ToListAsync(Ct));
        Assert.Equal(["carol"], votes);
    }

    [Fact]
    public async Task Vote_BenignWithoutReason_Or_WideningBeyondPolicy_Is400NamingTheField()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "payments");

        var noReason = await ActAsync(host, incidentId, "vote_benign", "alice");
        var tooWide = await ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "r", scope = new { @namespace = false } });
        var tooLong = await ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "r", duration = "31d" });

        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Contains("arguments.reason", await noReason.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooWide.StatusCode);
        Assert.Contains("arguments.scope.namespace", await tooWide.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Equal(0, await host.QueryAsync(db => db.Set<SuppressionRecord>().CountAsync(Ct)));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task MatchingAlerts_AreStoredAndCounted_NotPaged_AndOthersPage(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database, Policy);
        var origin = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, origin, "payments");
        var suppressionId = await ActivateAsync(host, origin, new { process_exe = true });
        await host.WaitForPipelineAsync();

        // The origin incident is resolved; later matching alerts open a new incident that is suppressed from the start.
        await OkJsonAsync(ActAsync(host, origin, "resolve", "alice"));
        var later = await PostAlertAsync(host, Alert(time: Some.Time.AddHours(2)));
        await PostAlertAsync(host, Alert(time: Some.Time.AddHours(2).AddMinutes(1)));
        await host.WaitForPipelineAsync();
        var suppressedIncident = await host.QueryAsync(db => db.Incidents.SingleAsync(i => i.Id == later, Ct));

        // Another executable in the same workload is outside the narrowed scope: the incident is live again.
        await PostAlertAsync(host, Alert(exe: "/tmp/xmrig", time: Some.Time.AddHours(2).AddMinutes(2)));
        await host.WaitForPipelineAsync();
        var reopened = await host.QueryAsync(db => db.Incidents.SingleAsync(i => i.Id == later, Ct));

        Assert.NotEqual(origin, later);
        Assert.Equal(suppressionId, suppressedIncident.SuppressionId);
        Assert.Null(reopened.SuppressionId);
        Assert.Equal(3, reopened.AlertCount);
        var stored = await host.QueryAsync(db => db.Alerts.Where(a => a.IncidentId == later).OrderBy(a => a.Time).Select(a => a.SuppressionId).ToListAsync(Ct));
        Assert.Equal([suppressionId, suppressionId, null], stored);

        var listed = await OkJsonAsync(host.Operator.GetAsync($"/api/v1/suppressions/{suppressionId}", Ct));
        Assert.Equal(2, listed.GetProperty("hit_count").GetInt64());
        var kinds = (await IncidentAsync(host, later)).GetProperty("timeline").EnumerateArray().Select(t => t.GetProperty("kind").GetString()).ToList();
        Assert.Contains("suppressed", kinds);
        Assert.Contains("suppression_lifted", kinds);
    }

    [Fact]
    public async Task Suppression_AsksForRenewal_RenewsOnQuorum_ThenExpires_OnFakeClock()
    {
        var clock = new FakeTimeProvider(Some.Time);
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy, clock: clock);
        var sweeper = host.App.Services.GetRequiredService<SuppressionSweeper>();
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "payments");
        var id = await ActivateAsync(host, incidentId);
        var activatedUntil = clock.GetUtcNow() + TimeSpan.FromDays(7);

        // Before the renewal window: votes are refused, nothing is due.
        clock.Advance(TimeSpan.FromDays(5));
        await sweeper.SweepAsync(Ct);
        var early = await ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "still migrating" });
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        Assert.Null(await host.QueryAsync(db => db.Set<SuppressionRecord>().Where(s => s.Id == id).Select(s => s.RenewalRequestedAt).SingleAsync(Ct)));

        // One day before expiry the team is asked, once.
        clock.Advance(TimeSpan.FromDays(1));
        await sweeper.SweepAsync(Ct);
        await sweeper.SweepAsync(Ct);
        var asked = await host.QueryAsync(db => db.Timeline.CountAsync(t => t.IncidentId == incidentId && t.Kind == "suppression_renewal_requested", Ct));
        Assert.Equal(1, asked);

        await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "alice", new { reason = "release 1.5 still runs it" }));
        var renewed = await OkJsonAsync(ActAsync(host, incidentId, "vote_benign", "carol", new { reason = "ok" }));
        Assert.Contains("renewed until", renewed.GetProperty("message").GetString(), StringComparison.Ordinal);
        var record = await host.QueryAsync(db => db.Set<SuppressionRecord>().SingleAsync(s => s.Id == id, Ct));
        Assert.Equal(activatedUntil + TimeSpan.FromDays(7), record.ExpiresAt);
        Assert.Equal(1, record.Round);
        Assert.Null(record.RenewalRequestedAt);

        // Without another renewal it expires; matching alerts are no longer suppressed.
        clock.Advance(TimeSpan.FromDays(8) + TimeSpan.FromMinutes(1));
        await sweeper.SweepAsync(Ct);
        var ended = await host.QueryAsync(db => db.Set<SuppressionRecord>().SingleAsync(s => s.Id == id, Ct));
        Assert.Equal(SuppressionStatus.Expired, ended.Status);
        Assert.Null(ended.OpenIncidentId);
        Assert.Null(ended.ActiveScopeKey);
        await PostAlertAsync(host, Alert(time: clock.GetUtcNow()));
        Assert.Equal(0, await host.QueryAsync(db => db.Alerts.CountAsync(a => a.SuppressionId != null, Ct)));
        var kinds = await host.QueryAsync(db => db.Timeline.Where(t => t.IncidentId == incidentId).OrderBy(t => t.Id).Select(t => t.Kind).ToListAsync(Ct));
        Assert.Equal(
            ["suppression_activated", "vote_refused", "suppression_renewal_requested", "vote_benign", "vote_benign", "suppression_renewed", "suppression_expired"],
            kinds.Where(IsVotingKind).SkipWhile(k => k != "suppression_activated"));
    }

    [Fact]
    public async Task Revoke_ThroughApi_EndsAtOnce_AndMatchingAlertsPageAgain()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, incidentId, "payments");
        var id = await ActivateAsync(host, incidentId);
        await host.WaitForPipelineAsync();

        var noReason = await host.Operator.PostAsJsonAsync($"/api/v1/suppressions/{id}/revoke", new { actor = "carol" }, Ct);
        var stranger = await host.Operator.PostAsJsonAsync($"/api/v1/suppressions/{id}/revoke", new { actor = "eve", reason = "x" }, Ct);
        var revoked = await OkJsonAsync(host.Operator.PostAsJsonAsync($"/api/v1/suppressions/{id}/revoke", new { actor = "carol", reason = "attacker reused the name" }, Ct));
        await host.WaitForPipelineAsync();
        await PostAlertAsync(host, Alert(time: Some.Time.AddMinutes(5)));

        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);
        Assert.Equal("revoked", revoked.GetProperty("status").GetString(), ignoreCase: true);
        Assert.Equal("carol", revoked.GetProperty("ended_by").GetString());
        Assert.Equal(0, await host.QueryAsync(db => db.Alerts.CountAsync(a => a.SuppressionId != null, Ct)));
        Assert.Equal(0, host.App.Services.GetRequiredService<SuppressionMatcher>().Count);
        var notFound = await host.Operator.PostAsJsonAsync("/api/v1/suppressions/999/revoke", new { actor = "carol", reason = "x" }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
    }

    [Fact]
    public async Task NeverWithoutSocRule_OwnerVotesAloneDoNotSuppress()
    {
        var policy = Policy.Replace("owning_team: 1\n      soc: 1", "owning_team: 1\n      soc: 0", StringComparison.Ordinal);
        await using var host = await TriageTestHost.StartAsync(extraYaml: policy);
        var escape = await PostAlertAsync(host, Alert(rule: "Detect release_agent File Container Escapes"));
        var drop = await PostAlertAsync(host, Alert());
        await SetOwnerAsync(host, escape, "payments");
        await SetOwnerAsync(host, drop, "payments");

        var escapeVote = await OkJsonAsync(ActAsync(host, escape, "vote_benign", "alice", new { reason = "release" }));
        await OkJsonAsync(ActAsync(host, drop, "vote_benign", "alice", new { reason = "release" }));

        Assert.Contains("required for this rule", escapeVote.GetProperty("message").GetString(), StringComparison.Ordinal);
        var statuses = await host.QueryAsync(db => db.Set<SuppressionRecord>().OrderBy(s => s.IncidentId).Select(s => s.Status).ToListAsync(Ct));
        Assert.Equal([SuppressionStatus.Proposed, SuppressionStatus.Active], escape < drop ? statuses : [.. statuses.AsEnumerable().Reverse()]);
    }

    [Fact]
    public async Task ExportFalco_ActiveSuppressionsOnly_AsRuleExceptions()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Policy);
        var active = await PostAlertAsync(host, Alert());
        var proposedOnly = await PostAlertAsync(host, Alert(workload: "ledger"));
        await SetOwnerAsync(host, active, "payments");
        await SetOwnerAsync(host, proposedOnly, "payments");
        var id = await ActivateAsync(host, active, new { process_exe = true, cmdline_pattern = "/app/migrate --to *" });
        await OkJsonAsync(ActAsync(host, proposedOnly, "vote_benign", "alice", new { reason = "r" }));

        var response = await host.Operator.GetAsync("/api/v1/suppressions/export/falco", Ct);
        var yaml = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/yaml", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"triage_suppression_{id}", yaml, StringComparison.Ordinal);
        Assert.Contains("- rule: Drop and execute new binary in container", yaml, StringComparison.Ordinal);
        Assert.Contains("\"checkout-\"", yaml, StringComparison.Ordinal);
        Assert.Contains("\"/app/migrate --to *\"", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("ledger", yaml, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Anonymous.GetAsync("/api/v1/suppressions/export/falco", Ct)).StatusCode);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task SimultaneousVotes_OnFreshIncidents_MakeExactlyOneSuppressionEach(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database, Policy);
        var incidents = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            var id = await PostAlertAsync(host, Alert(workload: $"svc{i}"));
            await SetOwnerAsync(host, id, "payments");
            incidents.Add(id);
        }

        // Both voters press at the same moment on every incident; neither has seen a proposal yet.
        using var start = new SemaphoreSlim(0);
        var votes = incidents.SelectMany(id => new[]
        {
            Task.Run(async () => { await start.WaitAsync(Ct); return await ActAsync(host, id, "vote_benign", "alice", new { reason = "release" }); }, Ct),
            Task.Run(async () => { await start.WaitAsync(Ct); return await ActAsync(host, id, "vote_benign", "carol", new { reason = "release" }); }, Ct),
        }).ToList();
        start.Release(votes.Count);
        var responses = await Task.WhenAll(votes);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var records = await host.QueryAsync(db => db.Set<SuppressionRecord>().Include(s => s.Votes).ToListAsync(Ct));
        Assert.Equal(incidents.Count, records.Count);
        Assert.All(records, r =>
        {
            Assert.Equal(SuppressionStatus.Active, r.Status);
            Assert.Equal(["alice", "carol"], r.Votes.Select(v => v.Voter).Order());
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Database_RefusesSecondOpenProposal_DuplicateActiveScope_AndDoubleVote(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database, Policy);
        var incidentId = await PostAlertAsync(host, Alert());
        var other = await PostAlertAsync(host, Alert(workload: "other"));

        SuppressionRecord Record(long incident, long? open, string? key) => new()
        {
            IncidentId = incident, OpenIncidentId = open, ActiveScopeKey = key, Rule = Rule, Status = SuppressionStatus.Proposed,
            CreatedAt = Some.Time, UpdatedAt = Some.Time, Duration = TimeSpan.FromDays(1),
        };

        async Task<bool> Refused(Func<TriageDbContext, Task> write)
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            try
            {
                await write(db);
                await db.SaveChangesAsync(Ct);
                return false;
            }
            catch (DbUpdateException ex)
            {
                return DatabaseErrors.IsUniqueViolation(ex);
            }
        }

        Assert.False(await Refused(db => { db.Add(Record(incidentId, incidentId, "k1")); return Task.CompletedTask; }));
        Assert.True(await Refused(db => { db.Add(Record(incidentId, incidentId, null)); return Task.CompletedTask; }));
        Assert.True(await Refused(db => { db.Add(Record(other, other, "k1")); return Task.CompletedTask; }));

        // Ended ones (null keys) do not collide with anything.
        Assert.False(await Refused(db => { db.Add(Record(incidentId, null, null)); db.Add(Record(incidentId, null, null)); return Task.CompletedTask; }));

        var id = await host.QueryAsync(db => db.Set<SuppressionRecord>().Where(s => s.OpenIncidentId == incidentId).Select(s => s.Id).SingleAsync(Ct));
        SuppressionVote Vote() => new() { SuppressionId = id, Round = 0, Voter = "alice", Kind = VoteKind.Benign, Channel = "api", At = Some.Time };
        Assert.False(await Refused(db => { db.Add(Vote()); return Task.CompletedTask; }));
        Assert.True(await Refused(db => { db.Add(Vote()); return Task.CompletedTask; }));
    }
}
