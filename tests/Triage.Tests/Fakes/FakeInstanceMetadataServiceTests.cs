using System.Net;
using System.Text.Json;
using Triage.Fakes.Imds;

namespace Triage.Tests.Fakes;

public sealed class FakeInstanceMetadataServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ImdsV2_TokenThenCredentials_ReturnsRoleCredentials()
    {
        await using var imds = await FakeInstanceMetadataService.StartAsync(cancellationToken: Ct);
        using var http = new HttpClient { BaseAddress = imds.BaseAddress };

        using var put = new HttpRequestMessage(HttpMethod.Put, "latest/api/token");
        put.Headers.Add("X-aws-ec2-metadata-token-ttl-seconds", "21600");
        var token = await (await http.SendAsync(put, Ct)).Content.ReadAsStringAsync(Ct);
        using var role = new HttpRequestMessage(HttpMethod.Get, "latest/meta-data/iam/security-credentials/");
        role.Headers.Add("X-aws-ec2-metadata-token", token);
        var roleName = await (await http.SendAsync(role, Ct)).Content.ReadAsStringAsync(Ct);
        using var creds = new HttpRequestMessage(HttpMethod.Get, $"latest/meta-data/iam/security-credentials/{roleName}");
        creds.Headers.Add("X-aws-ec2-metadata-token", token);
        var json = JsonDocument.Parse(await (await http.SendAsync(creds, Ct)).Content.ReadAsStringAsync(Ct));

        Assert.Equal(FakeInstanceMetadataService.RoleName, roleName);
        Assert.Equal("Success", json.RootElement.GetProperty("Code").GetString());
        Assert.StartsWith("ASIA", json.RootElement.GetProperty("AccessKeyId").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, imds.Requests.Count);
    }

    [Fact]
    public async Task ImdsV2_NoTokenBadTtlOrProxied_Refused()
    {
        await using var imds = await FakeInstanceMetadataService.StartAsync(cancellationToken: Ct);
        using var http = new HttpClient { BaseAddress = imds.BaseAddress };

        var noToken = await http.GetAsync("latest/meta-data/instance-id", Ct);
        using var badTtl = new HttpRequestMessage(HttpMethod.Put, "latest/api/token");
        badTtl.Headers.Add("X-aws-ec2-metadata-token-ttl-seconds", "21601");
        using var proxied = new HttpRequestMessage(HttpMethod.Put, "latest/api/token");
        proxied.Headers.Add("X-aws-ec2-metadata-token-ttl-seconds", "60");
        proxied.Headers.Add("X-Forwarded-For", "203.0.113.9");
        using var forged = new HttpRequestMessage(HttpMethod.Get, "latest/meta-data/instance-id");
        forged.Headers.Add("X-aws-ec2-metadata-token", "made-up");

        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(badTtl, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(proxied, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(forged, Ct)).StatusCode);
    }
}
