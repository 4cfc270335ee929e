using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Quartz;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Api.OnCall;
using Triage.Api.Paging;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>DI and endpoints of routing, on-call, escalation and paging.</summary>
internal static class RoutingExtensions
{
    public static IServiceCollection AddRoutingAndOnCall(this IServiceCollection services, TriageConfig config)
    {
        services.AddDelivery(config);
        services.AddSingleton<RoutingMatrix>();
        services.AddSingleton<OnCallService>();
        services.AddSingleton<EscalationTimers>();
        services.AddSingleton<EscalationEngine>();
        services.AddSingleton<IIncidentObserver, RoutingObserver>();
        services.AddSingleton<IIncidentObserver, EscalationObserver>();
        services.AddSingleton<IIncidentAction, EscalateAction>();
        services.AddSingleton(config.Paging);
        if (config.Paging.Pagerduty is { } pagerDuty)
        {
            services.AddSingleton(pagerDuty);
            services.AddHttpClient<PagerDutyChannel>(c => c.Timeout = pagerDuty.Timeout);
            services.AddSingleton<IDeliveryChannel>(sp => sp.GetRequiredService<PagerDutyChannel>());
        }

        if (config.Paging.Webhooks.Count > 0)
        {
            services.AddHttpClient<WebhookChannel>();
            services.AddSingleton<IDeliveryChannel>(sp => sp.GetRequiredService<WebhookChannel>());
        }

        // The chat clients are registered by AddChat; these channels resolve them when the dispatcher starts.
        if (config.Paging.DirectMessages && config.Chat.Slack is not null)
        {
            services.AddSingleton<IDeliveryChannel, SlackDirectPageChannel>();
        }

        if (config.Paging.DirectMessages && config.Chat.Teams is not null)
        {
            services.AddSingleton<IDeliveryChannel, TeamsDirectPageChannel>();
        }

        services.AddEscalationScheduler(config.Database);
        return services;
    }

    /// <summary>
    /// Quartz with its persistent store in the triage database: SQLite (Microsoft.Data.Sqlite) for the embedded default,
    /// the PostgreSQL ADO store in clustered mode for several replicas. The tables come from the EF migrations.
    /// </summary>
    public static IServiceCollection AddEscalationScheduler(this IServiceCollection services, DatabaseOptions database,
        EscalationSchedulerTuning? tuning = null)
    {
        tuning ??= new EscalationSchedulerTuning();
        services.AddSingleton(tuning);
        services.AddQuartz(q =>
        {
            q.UseDefaultThreadPool(tuning.MaxConcurrency);
            q.UsePersistentStore(store =>
            {
                store.UseSystemTextJsonSerializer();
                store.ConfigureStore(o => o.MisfireThreshold = tuning.MisfireThreshold);
                if (database.Provider == "postgres")
                {
                    var builder = new Npgsql.NpgsqlConnectionStringBuilder(database.ConnectionString);
                    if (tuning.RelaxedSchedulerCommits)
                    {
                        builder.Options = $"{builder.Options} -c synchronous_commit=off".Trim();
                    }

                    var connectionString = builder.ConnectionString;
                    store.UsePostgres(connectionString);
                    store.UseClustering();
                }
                else
                {
                    var connectionString = database.ConnectionString ?? DatabaseExtensions.DefaultSqliteConnectionString;
                    var pragmas = Persistence.SqliteConnectionSettings.EveryConnection
                        + (tuning.RelaxedSchedulerCommits ? " PRAGMA synchronous = NORMAL;" : " PRAGMA synchronous = FULL;");
                    store.UseSqlite(o =>
                    {
                        o.ConnectionString = connectionString;
                        o.DataSourceFactory = _ => new SqliteJobStoreDataSource(connectionString, pragmas);
                    });
                }
            });
        });
        services.AddQuartzHostedService(o => o.WaitForJobsToComplete = true);
        return services;
    }

    public static IEndpointRouteBuilder MapRoutingAndOnCall(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/routing/explain", Explain).RequireScope(ApiScopes.Read).WithTags("Routing")
            .WithSummary("Dry run: the route an alert would take, the row that matches and why");
        app.MapGet("/api/v1/incidents/{id:long}/route", GetRouteAsync).RequireScope(ApiScopes.Read).WithTags("Routing")
            .WithSummary("The route recorded for an incident and its escalation state");
        app.MapGet("/api/v1/oncall", WhoIsOnCallAsync).RequireScope(ApiScopes.Read).WithTags("On call")
            .WithSummary("Who is on call for a team (or schedule) at a time (default now)");
        app.MapPost("/api/v1/oncall/overrides", CreateOverrideAsync).RequireScope(ApiScopes.Act).WithTags("On call")
            .WithSummary("Put a person on call in a schedule for a time range");
        app.MapGet("/api/v1/oncall/overrides", ListOverridesAsync).RequireScope(ApiScopes.Read).WithTags("On call");
        app.MapDelete("/api/v1/oncall/overrides/{id:long}", DeleteOverrideAsync).RequireScope(ApiScopes.Act).WithTags("On call");
        return app;
    }

    /// <summary>The dry run: the route <paramref name="alert"/> would take with the enrichment facts given.</summary>
    internal static RouteDecision Decide(NativeAlert alert, RoutingMatrix matrix, TimeProvider time, RouteFacts facts)
    {
        var priority = AlertPriorities.TryParse(alert.Priority, out var parsed) ? parsed : AlertPriority.Warning;
        return matrix.Decide(new RouteInput(alert.Rule ?? "", alert.Tags ?? [], priority, alert.K8s?.Namespace,
            alert.K8s?.Labels ?? new Dictionary<string, string>(), facts, alert.Time ?? time.GetUtcNow()));
    }

    /// <summary>
    /// Facts for a dry run from its options: <c>owning_team</c>, <c>rolled_out_before</c> (a duration such as
    /// <c>12m</c>; <c>-5m</c> for a rollout after the alert; <c>none</c> for a workload without rollouts) and
    /// <c>image_changed</c>. Null with the problem when a value does not parse.
    /// </summary>
    internal static RouteFacts? DryRunFacts(string? owningTeam, string? rolledOutBefore, bool? imageChanged, out string? problem)
    {
        problem = null;
        if (rolledOutBefore is null)
        {
            return RouteFacts.Given(owningTeam, null, imageChanged);
        }

        if (rolledOutBefore == "none")
        {
            return RouteFacts.Given(owningTeam, null, imageChanged ?? false) with { RolloutHistoryKnown = true, Unknown = null };
        }

        var negative = rolledOutBefore.StartsWith('-');
        if (!DurationConverter.TryParse(negative ? rolledOutBefore[1..] : rolledOutBefore, out var gap))
        {
            problem = $"rolled_out_before '{rolledOutBefore}' is not a duration (such as 12m, 2h, -5m) or none";
            return null;
        }

        return RouteFacts.Given(owningTeam, negative ? -gap : gap, imageChanged);
    }

    private static IResult Explain(NativeAlert alert, [FromQuery(Name = "owning_team")] string? owningTeam,
        [FromQuery(Name = "rolled_out_before")] string? rolledOutBefore, [FromQuery(Name = "image_changed")] bool? imageChanged,
        RoutingMatrix matrix, TimeProvider time)
    {
        var facts = DryRunFacts(owningTeam, rolledOutBefore, imageChanged, out var problem);
        return facts is null
            ? Results.Problem(statusCode: StatusCodes.Status400BadRequest, detail: problem)
            : Results.Ok(Decide(alert, matrix, time, facts));
    }

    private static async Task<IResult> GetRouteAsync(long id, TriageDbContext db, CancellationToken cancellationToken) =>
        await IncidentRouteView.GetAsync(db, id, cancellationToken) is { } view ? Results.Ok(view) : Results.NotFound();

    private static async Task<IResult> WhoIsOnCallAsync(string? team, string? schedule, DateTimeOffset? at, TriageConfig config,
        OnCallService onCall, TriageDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var name = schedule ?? config.Teams.FirstOrDefault(t => t.Name == team)?.Schedule;
        if (name is null || !onCall.HasSchedule(name))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound,
                detail: team is null && schedule is null ? "pass team= or schedule=" : $"no schedule for {(schedule is null ? $"team '{team}'" : $"'{schedule}'")}");
        }

        var when = at ?? time.GetUtcNow();
        var shift = await onCall.WhoIsOnCallAsync(db, name, when, cancellationToken);
        return Results.Ok(new { Team = team, Schedule = name, At = when, OnCall = shift });
    }

    internal sealed record OverrideRequest(string Schedule, string Person, DateTimeOffset Start, DateTimeOffset End, string? Actor, string? Reason);

    private static async Task<IResult> CreateOverrideAsync(OverrideRequest request, OnCallService onCall,
        TriageDbContext db, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await onCall.CreateOverrideAsync(db, request.Schedule, request.Person, request.Start, request.End,
                request.Actor ?? "api", request.Reason, cancellationToken);
            return Results.Created($"/api/v1/oncall/overrides/{entry.Id}", entry);
        }
        catch (OverrideRejectedException e)
        {
            return Results.Problem(statusCode: e.Status, detail: e.Message);
        }
    }

    private static async Task<IResult> ListOverridesAsync(string? schedule, TriageDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var query = db.Set<OnCallOverride>().AsNoTracking().Where(o => o.End > now);
        if (schedule is not null)
        {
            query = query.Where(o => o.Schedule == schedule);
        }

        return Results.Ok(await query.OrderBy(o => o.Start).ToListAsync(cancellationToken));
    }

    private static async Task<IResult> DeleteOverrideAsync(long id, TriageDbContext db, CancellationToken cancellationToken)
    {
        var deleted = await db.Set<OnCallOverride>().Where(o => o.Id == id).ExecuteDeleteAsync(cancellationToken);
        return deleted == 0 ? Results.NotFound() : Results.NoContent();
    }
}

/// <summary>
/// <c>escalate</c>: with no arguments or <c>{"to":"next"}</c> pages the next level now; <c>{"to":"soc"}</c> or
/// <c>{"to":"platform"}</c> hands the incident to that side: the route's primary changes and escalation starts over
/// with that team's policy.
/// </summary>
internal sealed class EscalateAction(EscalationEngine engine, TriageConfig config) : IIncidentAction
{
    public string Name => "escalate";

    public string RequiredRole => "responder";

    public async Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken)
    {
        var to = context.Arguments is { ValueKind: JsonValueKind.Object } args && args.TryGetProperty("to", out var value)
            ? value.GetString() ?? "next" : "next";
        var incident = context.Incident;
        if (incident.Status == IncidentStatus.Resolved)
        {
            throw new ActionRefusedException($"Incident {incident.Id} is resolved");
        }

        if (to == "next")
        {
            if (!await engine.EscalateNowAsync(context.Db, incident.Id, cancellationToken))
            {
                throw new ActionRefusedException($"Incident {incident.Id} has no active escalation");
            }

            IncidentTimeline.Append(context.Db, incident.Id, context.Now, context.Actor, "escalated", $"{context.Actor.Name} escalated to the next level");
            return new IncidentActionOutcome(false, $"Incident {incident.Id}: next escalation level paged now");
        }

        if (to is not ("soc" or "platform"))
        {
            throw new ActionRefusedException("'to' must be next, soc or platform", StatusCodes.Status400BadRequest);
        }

        var route = await context.Db.Set<IncidentRoute>().FirstOrDefaultAsync(r => r.IncidentId == incident.Id, cancellationToken)
            ?? throw new ActionRefusedException($"Incident {incident.Id} is not routed yet");
        var team = to == "soc"
            ? config.Routing.SocTeam ?? config.Teams.First(t => t.Kind == "soc").Name
            : incident.OwnerTeam ?? config.Routing.FallbackPlatformTeam
              ?? throw new ActionRefusedException("No owning or fallback platform team is known");
        if (route.PrimaryTeam == team)
        {
            return new IncidentActionOutcome(false, $"Incident {incident.Id} is already with {team}");
        }

        route.InformedTeam = route.PrimaryTeam;
        route.PrimaryTeam = team;
        route.EscalationPolicy = config.Teams.FirstOrDefault(t => t.Name == team)?.EscalationPolicy ?? route.EscalationPolicy;
        route.Why += $"\nescalated to {to} by {context.Actor.Name}";
        await context.Db.Set<Escalation>().Where(e => e.IncidentId == incident.Id).ExecuteDeleteAsync(cancellationToken);
        IncidentTimeline.Append(context.Db, incident.Id, context.Now, context.Actor, "escalated",
            $"{context.Actor.Name} escalated to {to}: primary is now {team}, policy {route.EscalationPolicy}");

        // Changed: the pipeline runs step 400 again, which starts the new team's escalation.
        return new IncidentActionOutcome(true, $"Incident {incident.Id} escalated to {team}");
    }
}
