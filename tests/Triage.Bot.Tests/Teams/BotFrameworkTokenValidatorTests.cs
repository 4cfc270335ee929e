using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Bot.Teams;
using Triage.Fakes.Teams;

namespace Triage.Bot.Tests.Teams;

public sealed class BotFrameworkTokenValidatorTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = Support.Time.Fake();
    private readonly HttpClient _http = new();
    private FakeBotFramework _teams = null!;
    private BotFrameworkTokenValidator _validator = null!;

    public async ValueTask InitializeAsync()
    {
        _teams = await FakeBotFramework.StartAsync(time: _time);
        _validator = new BotFrameworkTokenValidator(_http, new BotFrameworkOptions
        {
            AppId = _teams.AppId,
            OpenIdMetadataUrl = _teams.OpenIdMetadataUrl,
        }, _time, NullLogger<BotFrameworkTokenValidator>.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        await _teams.DisposeAsync();
        _validator.Dispose();
        _http.Dispose();
    }

    private InboundTokenSpec Spec => new(_teams.AppId, _teams.ServiceUrl);

    private Task<BotAuthResult> Validate(string token, string? serviceUrl = null, string channel = "msteams") =>
        _validator.ValidateAsync("Bearer " + token, serviceUrl ?? _teams.ServiceUrl, channel, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Validate_TokenFromConnector_Accepted()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec));

        Assert.True(result.IsValid, result.Reason);
    }

    [Fact]
    public async Task Validate_WrongIssuer_401()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec with { Issuer = "https://sts.windows.net/evil/" }));

        Assert.Equal((401, "wrong issuer"), (result.Status, result.Reason));
    }

    [Fact]
    public async Task Validate_WrongAudience_401()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec with { Audience = "another-bot" }));

        Assert.Equal((401, "wrong audience"), (result.Status, result.Reason));
    }

    [Fact]
    public async Task Validate_ExpiredBeyondSkew_401_WithinSkew_Accepted()
    {
        var token = _teams.CreateInboundToken(Spec with { Lifetime = TimeSpan.FromMinutes(10) });

        _time.Advance(TimeSpan.FromMinutes(14));
        Assert.True((await Validate(token)).IsValid, "within the 5-minute skew");

        _time.Advance(TimeSpan.FromMinutes(2));
        var result = await Validate(token);
        Assert.Equal((401, "token expired or not yet valid"), (result.Status, result.Reason));
    }

    [Fact]
    public async Task Validate_ServiceUrlClaimDiffersFromActivity_401()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec), serviceUrl: "https://attacker.example/teams/");

        Assert.Equal(401, result.Status);
        Assert.Contains("serviceurl", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_KeyNotEndorsedForMsTeams_403()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec with { EndorsedForTeams = false }));

        Assert.Equal(403, result.Status);
    }

    [Fact]
    public async Task Validate_KeyNotInMetadata_401()
    {
        var result = await Validate(_teams.CreateInboundToken(Spec with { UnknownKey = true }));

        Assert.Equal((401, "bad signature"), (result.Status, result.Reason));
    }

    [Fact]
    public async Task Validate_TamperedToken_401()
    {
        var token = _teams.CreateInboundToken(Spec);
        var parts = token.Split('.');
        var forged = parts[0] + "." + Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(
            Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Decode(parts[1]).Replace(_teams.AppId, _teams.AppId, StringComparison.Ordinal) + " ") + "." + parts[2];

        Assert.Equal(401, (await Validate(forged)).Status);
        Assert.Equal(401, (await _validator.ValidateAsync(null, _teams.ServiceUrl, "msteams", TestContext.Current.CancellationToken)).Status);
    }

    [Fact]
    public async Task Validate_KeysCachedAcrossRequests_AndRefreshedWhenRotated()
    {
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await Validate(_teams.CreateInboundToken(Spec))).IsValid);
        }

        Assert.Equal(1, _teams.KeySetRequests);

        _teams.RotateKeys();
        var result = await Validate(_teams.CreateInboundToken(Spec));

        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(2, _teams.KeySetRequests);
    }
}
