using Triage.Api.Enrichment;

namespace Triage.Tests.Enrichment;

public sealed class OwnershipResolverTests
{
    private static readonly Dictionary<string, string> None = [];

    private static OwnershipResolver Resolver(string? fallback = "platform") => new(new OwnershipOptions
    {
        Namespaces = [new NamespaceMapping { Namespace = "pay-*", Team = "payments" }],
        Images = [new ImageMapping { Repository = "registry.local:5000/search/*", Team = "search" }],
        FallbackTeam = fallback,
    }, EnrichmentHarness.Teams);

    private static ObjectMeta Meta(string what, Dictionary<string, string>? labels = null,
        Dictionary<string, string>? annotations = null) => new(what, labels ?? None, annotations ?? None);

    [Fact]
    public void Resolve_WorkloadLabelBeforeNamespaceLabel_WorkloadWins()
    {
        var result = Resolver().Resolve(new OwnershipInput("pay-eu", null,
            Meta("Deployment pay-eu/cart", labels: new() { ["team"] = "checkout" }), null,
            Meta("Namespace pay-eu", labels: new() { ["team"] = "payments" })));

        Assert.Equal(("checkout", OwnerSource.WorkloadLabel), (result.Team, result.Source));
        Assert.Equal("label team=checkout on Deployment pay-eu/cart", result.Detail);
    }

    [Fact]
    public void Resolve_LabelNamesUnknownTeam_SkipsItAndSaysSo()
    {
        var result = Resolver().Resolve(new OwnershipInput("other", null,
            Meta("Deployment other/cart", labels: new() { ["team"] = "paymnets" }),
            null, Meta("Namespace other", annotations: new() { ["owner"] = "search" })));

        Assert.Equal(("search", OwnerSource.NamespaceAnnotation), (result.Team, result.Source));
        Assert.Equal("label team=paymnets on Deployment other/cart names no configured team", Assert.Single(result.Skipped));
    }

    [Fact]
    public void Resolve_ImageWithPortTagAndDigest_MatchesRepositoryMapping()
    {
        var result = Resolver().Resolve(new OwnershipInput("other", "registry.local:5000/search/indexer:2.1@sha256:abcd",
            null, null, null));

        Assert.Equal(("search", OwnerSource.ImageMapping), (result.Team, result.Source));
    }

    [Fact]
    public void Resolve_NothingMatchesAndNoFallback_NoOwner()
    {
        var result = Resolver(fallback: null).Resolve(new OwnershipInput(null, "busybox", null, null, null));

        Assert.Null(result.Team);
        Assert.Equal(OwnerSource.None, result.Source);
    }
}
