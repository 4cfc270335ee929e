using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Evidence;
using Triage.Api.Persistence;
using Triage.Contracts;
using Triage.Tests.Response;

namespace Triage.Tests.Evidence;

public sealed class EvidenceServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EvidenceUpload Upload(string kind, string? alertId = "alert-1", string? unavailable = null, DateTimeOffset? capturedAt = null) =>
        new("node-1", kind, kind + ".bin", "application/octet-stream", new string('a', 64), alertId, null, null, capturedAt, unavailable);

    [Fact]
    public async Task StoreAsync_SameBytesTwice_OneBlobNamedByItsSha256()
    {
        await using var f = new ResponseFixture();
        var bytes = Encoding.UTF8.GetBytes("#!/bin/sh\necho pwned\n");
        var expected = Convert.ToHexStringLower(SHA256.HashData(bytes));

        var first = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Executable), new MemoryStream(bytes), Ct);
        var second = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Executable, "alert-2"), new MemoryStream(bytes), Ct);

        Assert.Equal(expected, first.Sha256);
        Assert.Equal(expected, second.Sha256);
        Assert.Equal(bytes.Length, first.Size);
        Assert.NotEqual(first.Id, second.Id);
        var blob = Path.Combine(f.EvidenceDirectory, "sha256", expected[..2], expected);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(blob, Ct));
        Assert.Single(f.Store.List());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(f.EvidenceDirectory, "tmp")));
    }

    [Fact]
    public async Task StoreAsync_OverTheLimit_RejectsAndLeavesNothing()
    {
        await using var f = new ResponseFixture();
        f.EvidenceOptions.MaxArtifactBytes = 1024;

        await Assert.ThrowsAsync<ArtifactTooLargeException>(() =>
            f.Evidence().StoreAsync(Upload(EvidenceKinds.FilesystemExport), new MemoryStream(new byte[1025]), Ct));

        Assert.Empty(f.Store.List());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(f.EvidenceDirectory, "tmp")));
        Assert.Equal(0, await f.Db.Set<EvidenceArtifact>().CountAsync(Ct));
    }

    [Fact]
    public async Task ForIncidentAsync_UploadedBeforeTheAlertWasGrouped_FoundThroughTheAlert()
    {
        await using var f = new ResponseFixture();
        var stored = await f.Evidence().StoreAsync(Upload(EvidenceKinds.ProcessTree), new MemoryStream("{}"u8.ToArray()), Ct);
        Assert.Null(stored.IncidentId);
        var other = await f.Evidence().StoreAsync(Upload(EvidenceKinds.ProcessTree, "unrelated"), new MemoryStream("[]"u8.ToArray()), Ct);

        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("alert-1"));
        var found = await f.Evidence().ForIncidentAsync(incident.Id, Ct);

        Assert.Equal([stored.Id], found.Select(e => e.Id));
        Assert.Equal(incident.Id, (await f.NewContext().Set<EvidenceArtifact>().SingleAsync(e => e.Id == stored.Id, Ct)).IncidentId);
        Assert.Null((await f.NewContext().Set<EvidenceArtifact>().SingleAsync(e => e.Id == other.Id, Ct)).IncidentId);
    }

    [Fact]
    public async Task StoreAsync_Unavailable_RecordsReasonWithoutBlob()
    {
        await using var f = new ResponseFixture();

        var artifact = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Checkpoint, unavailable: "CRIU: criu check failed"), null, Ct);

        Assert.Null(artifact.Sha256);
        Assert.Equal("CRIU: criu check failed", artifact.Unavailable);
        Assert.Empty(f.Store.List());
        Assert.Null(f.Evidence().OpenContent(artifact));
    }

    [Fact]
    public async Task SweepAsync_PastRetention_DeletesRowAndUnsharedBlobOnly()
    {
        await using var f = new ResponseFixture();
        f.EvidenceOptions.Retention = TimeSpan.FromDays(7);
        var now = f.Time.GetUtcNow();
        var old = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Sockets, "a", capturedAt: now.AddDays(-8)), new MemoryStream("old"u8.ToArray()), Ct);
        var shared1 = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Sockets, "b", capturedAt: now.AddDays(-8)), new MemoryStream("shared"u8.ToArray()), Ct);
        var shared2 = await f.Evidence().StoreAsync(Upload(EvidenceKinds.Sockets, "c", capturedAt: now.AddDays(-1)), new MemoryStream("shared"u8.ToArray()), Ct);

        var sweep = await f.Retention().SweepAsync(Ct);

        Assert.Equal(2, sweep.ArtifactsDeleted);
        Assert.Equal(1, sweep.BlobsDeleted);
        Assert.False(f.Store.Exists(old.Sha256!));
        Assert.True(f.Store.Exists(shared2.Sha256!));
        Assert.Equal([shared2.Id], await f.NewContext().Set<EvidenceArtifact>().Select(e => e.Id).ToListAsync(Ct));
        Assert.NotEqual(shared1.Id, shared2.Id);
    }

    [Fact]
    public async Task SweepAsync_IncidentStillOpen_HoldsEvidenceUntilResolved()
    {
        await using var f = new ResponseFixture();
        f.EvidenceOptions.Retention = TimeSpan.FromDays(1);
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("alert-1"));
        var artifact = await f.Evidence().StoreAsync(Upload(EvidenceKinds.ProcessTree, "alert-1"), new MemoryStream("{}"u8.ToArray()), Ct);
        Assert.Equal(incident.Id, artifact.IncidentId);

        f.Time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(0, (await f.Retention().SweepAsync(Ct)).ArtifactsDeleted);

        incident.Status = IncidentStatus.Resolved;
        await f.Db.SaveChangesAsync(Ct);
        var sweep = await f.Retention().SweepAsync(Ct);

        Assert.Equal(1, sweep.ArtifactsDeleted);
        Assert.False(f.Store.Exists(artifact.Sha256!));
    }

    [Fact]
    public async Task SweepAsync_OverTotalSize_DeletesOldestFirst()
    {
        await using var f = new ResponseFixture();
        f.EvidenceOptions.MaxArtifactBytes = 1024;
        f.EvidenceOptions.MaxTotalBytes = 2500;
        var now = f.Time.GetUtcNow();
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            var bytes = new byte[1000];
            bytes[0] = (byte)i;
            ids.Add((await f.Evidence().StoreAsync(Upload(EvidenceKinds.Executable, $"x{i}", capturedAt: now.AddMinutes(i)), new MemoryStream(bytes), Ct)).Id);
        }

        var sweep = await f.Retention().SweepAsync(Ct);

        Assert.Equal(1, sweep.ArtifactsDeleted);
        Assert.Equal(ids[1..], await f.NewContext().Set<EvidenceArtifact>().OrderBy(e => e.Id).Select(e => e.Id).ToListAsync(Ct));
    }
}
