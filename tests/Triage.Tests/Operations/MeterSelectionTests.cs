using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using Triage.Api.Operations;
using Triage.Tests.Support;

namespace Triage.Tests.Operations;

public sealed class MeterSelectionTests
{
    [Theory]
    [InlineData("System.Runtime", "dotnet.jit.compilation.time")]
    [InlineData("System.Net.Http", "http.client.request.duration")]
    [InlineData("Microsoft.AspNetCore.Hosting", "http.server.request.duration")]
    public void IsShown_RuntimeOutgoingHttpAndRequestDuration_Shown(string meter, string instrument)
    {
        using var source = new Meter(meter);

        Assert.True(OperationsEndpoints.IsShown(source.CreateHistogram<double>(instrument)));
    }

    [Theory]
    [InlineData("Microsoft.AspNetCore.MemoryPool", "aspnetcore.memory_pool.rented")]
    [InlineData("Microsoft.AspNetCore.Server.Kestrel", "kestrel.active_connections")]
    [InlineData("Microsoft.AspNetCore.Routing", "aspnetcore.routing.match_attempts")]
    [InlineData("Microsoft.AspNetCore.Hosting", "http.server.active_requests")]
    [InlineData("Microsoft.EntityFrameworkCore", "microsoft.entityframeworkcore.queries")]
    public void IsShown_PerBufferAndPerRequestMeters_Left(string meter, string instrument)
    {
        using var source = new Meter(meter);

        Assert.False(OperationsEndpoints.IsShown(source.CreateCounter<long>(instrument)));
    }

    /// <summary>
    /// prometheus-net's event counter adapter would enable ASP.NET Core's event sources at the first scrape, and those
    /// then write an event per connection and per request to it. <c>/metrics</c> takes the runtime's figures from its
    /// meter instead, so no event source is enabled for counters.
    /// </summary>
    [Fact]
    public async Task Scrape_EnablesNoAspNetCoreEventSource()
    {
        await using var host = await TriageTestHost.StartAsync();

        var metrics = await host.Anonymous.GetStringAsync("/metrics", TestContext.Current.CancellationToken);

        Assert.Contains("system_runtime_dotnet", metrics, StringComparison.Ordinal);
        var hosting = EventSource.GetSources().Where(s => s.Name == "Microsoft.AspNetCore.Hosting").ToList();
        Assert.NotEmpty(hosting);
        Assert.All(hosting, s => Assert.False(s.IsEnabled(), $"{s.Name} is enabled"));
    }
}
