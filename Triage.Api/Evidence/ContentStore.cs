using System.Security.Cryptography;

namespace Triage.Api.Evidence;

/// <summary>
/// Content-addressed blob store on the local disk: a blob lives at <c>{root}/sha256/{first two hex}/{hex}</c>.
/// Writing the same bytes twice stores them once; a blob is written to a temporary file and renamed into
/// place, so a reader never sees a half-written blob and a crash leaves only a stray temporary file.
/// </summary>
internal sealed class ContentStore
{
    private readonly string _root;

    public ContentStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(_root, "sha256"));
        Directory.CreateDirectory(Path.Combine(_root, "tmp"));
    }

    public string Root => _root;

    /// <summary>Copies <paramref name="content"/> into the store and returns its hash and size.</summary>
    /// <exception cref="ArtifactTooLargeException">More than <paramref name="maxBytes"/> bytes arrived.</exception>
    public async Task<(string Sha256, long Size)> PutAsync(Stream content, long maxBytes, CancellationToken ct)
    {
        var temp = Path.Combine(_root, "tmp", Guid.NewGuid().ToString("N"));
        long size = 0;
        string hex;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await content.ReadAsync(buffer, ct)) > 0)
                {
                    size += read;
                    if (size > maxBytes)
                    {
                        throw new ArtifactTooLargeException(maxBytes);
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }

                await file.FlushAsync(ct);
            }

            hex = Convert.ToHexStringLower(hash.GetHashAndReset());
            var final = PathOf(hex);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            if (File.Exists(final))
            {
                File.Delete(temp);
            }
            else
            {
                File.Move(temp, final, overwrite: true);
            }
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        return (hex, size);
    }

    /// <summary>Opens a blob for reading, or returns null when it is not (or no longer) stored.</summary>
    public FileStream? OpenRead(string sha256)
    {
        var path = PathOf(sha256);
        return File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, useAsync: true) : null;
    }

    public bool Exists(string sha256) => File.Exists(PathOf(sha256));

    public void Delete(string sha256) => File.Delete(PathOf(sha256));

    /// <summary>Every stored blob's hash, for the retention sweep.</summary>
    public IEnumerable<string> List() =>
        Directory.EnumerateFiles(Path.Combine(_root, "sha256"), "*", SearchOption.AllDirectories)
            .Select(Path.GetFileName)
            .Where(name => name is { Length: 64 } && IsHex(name))!;

    public string PathOf(string sha256)
    {
        if (sha256.Length != 64 || !IsHex(sha256))
        {
            throw new ArgumentException("not a lower-case hex SHA-256", nameof(sha256));
        }

        return Path.Combine(_root, "sha256", sha256[..2], sha256);
    }

    private static bool IsHex(string value) => value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
}

/// <summary>An upload exceeded the configured largest artifact size.</summary>
internal sealed class ArtifactTooLargeException(long maxBytes)
    : Exception($"The artifact is larger than the limit of {maxBytes} bytes (evidence.max_artifact_bytes).")
{
    public long MaxBytes { get; } = maxBytes;
}
