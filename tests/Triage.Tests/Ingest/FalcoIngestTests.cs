using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Ingest;
using Triage.Tests.Support;

namespace Triage.Tests.Ingest;

public sealed class FalcoIngestTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A body as Falco's http_output posts it (json_output with json_include_output_property and tags).</summary>
    private const string FalcoBody = """
        {"hostname":"worker-3","output":"12:00:00.000000000: Critical Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=bash ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816 container_id=8f3e2a1b9c7d container_name=api)",
         "output_fields":{"container.id":"8f3e2a1b9c7d","container.image.repository":"registry.local/shop/api","container.image.tag":"2.1.0","container.name":"api","evt.time":1764072000000000000,"evt.type":"openat","fd.name":"/etc/shadow","k8s.ns.name":"shop","k8s.pod.name":"api-6c8f9d7b5f-q7x2k","proc.cmdline":"cat /etc/shadow","proc.exepath":"/usr/bin/cat","proc.name":"cat","proc.pid":3127,"proc.pname":"bash","proc.pcmdline":"bash","proc.ppid":3100,"proc.aname[2]":"containerd-shim","user.name":"root","user.uid":0,"proc.tty":34816},
         "priority":"Critical","rule":"Read sensitive file untrusted","source":"syscall","tags":["T1555","container","filesystem","host","maturity_stable","mitre_credential_access"],"time":"2026-11-25T12:00:00.000000000Z"}
        """;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task PostFalco_HttpOutputBody_MappedIntoNativeModel(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);

        var response = await host.Ingest.PostAsync("/api/v1/ingest/falco", Json(FalcoBody), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var incident = await host.QueryAsync(db => db.Incidents.SingleAsync(Ct));
        Assert.Equal("Read sensitive file untrusted", incident.Rule);
        Assert.Equal("shop", incident.Namespace);
        Assert.Equal(("Deployment", "api"), (incident.WorkloadKind, incident.WorkloadName));
        Assert.Equal("registry.local/shop/api:2.1.0", incident.Image);
        Assert.Equal("worker-3", incident.Node);
        var payload = JsonDocument.Parse(await host.QueryAsync(db => db.Alerts.Select(a => a.Payload).SingleAsync(Ct))).RootElement;
        Assert.Equal("openat", payload.GetProperty("syscall").GetProperty("name").GetString());
        Assert.Equal(3127, payload.GetProperty("process").GetProperty("pid").GetInt32());
        Assert.Equal("cat /etc/shadow", payload.GetProperty("process").GetProperty("cmdline").GetString());
        Assert.Equal("bash", payload.GetProperty("ancestors")[0].GetProperty("exe").GetString());
        Assert.Equal("containerd-shim", payload.GetProperty("ancestors")[1].GetProperty("exe").GetString());
        Assert.Equal("/etc/shadow", payload.GetProperty("output_fields").GetProperty("fd.name").GetString());
        Assert.Equal("falco", payload.GetProperty("source").GetString());
    }

    [Fact]
    public async Task PostFalco_Retried_StoredOnceUnderDerivedId()
    {
        await using var host = await TriageTestHost.StartAsync();

        await host.Ingest.PostAsync("/api/v1/ingest/falco", Json(FalcoBody), Ct);
        var retry = await TriageTestHost.ReadJsonAsync(await host.Ingest.PostAsync("/api/v1/ingest/falco", Json(FalcoBody), Ct));

        Assert.Equal(1, retry.GetProperty("duplicates").GetInt32());
        var id = await host.QueryAsync(db => db.Alerts.Select(a => a.Id).SingleAsync(Ct));
        Assert.StartsWith("falco-", id, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostFalco_FalcosidekickBodyWithUuid_Accepted()
    {
        await using var host = await TriageTestHost.StartAsync();
        var sidekick = FalcoBody.Replace("{\"hostname\"", "{\"uuid\":\"0a4a2c39-4f5e-4c2d-9a57-0f7d6f1f3c11\",\"hostname\"", StringComparison.Ordinal);

        var response = await host.Ingest.PostAsync("/api/v1/ingest/falco", Json($"[{sidekick}]"), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task PostFalco_UnknownPriority_Is400NamingPriority()
    {
        await using var host = await TriageTestHost.StartAsync();

        var response = await host.Ingest.PostAsync("/api/v1/ingest/falco",
            Json(FalcoBody.Replace("\"priority\":\"Critical\"", "\"priority\":\"Urgent\"", StringComparison.Ordinal)), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await TriageTestHost.ReadJsonAsync(response)).GetProperty("errors").TryGetProperty("priority", out _));
    }

    [Theory]
    [InlineData("checkout-7d9f8b6c4d-x2x9z", "Deployment", "checkout")]
    [InlineData("redis-2", "StatefulSet", "redis")]
    [InlineData("node-exporter-8xq2v", "DaemonSet", "node-exporter")]
    public void GuessWorkload_PodNames_KnownControllerShapes(string pod, string kind, string name) =>
        Assert.Equal((kind, name), FalcoAlertMapper.GuessWorkload(pod));

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
