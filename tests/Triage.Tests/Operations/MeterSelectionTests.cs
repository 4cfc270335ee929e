using System.Diagnostics.Metrics;
using Triage.Api.Operations;

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
}
