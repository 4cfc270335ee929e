using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Triage.Fakes.Imds;

/// <summary>One request the fake metadata service answered.</summary>
public sealed record ImdsRequest(DateTimeOffset At, string Method, string Path, string Remote, int Status);

/// <summary>
/// A fake EC2 instance metadata service (IMDS) with the IMDSv2 session protocol: <c>PUT /latest/api/token</c> with
/// <c>X-aws-ec2-metadata-token-ttl-seconds</c> (1–21600) returns a token; reads carry it in
/// <c>X-aws-ec2-metadata-token</c>. A missing or unknown token is 401 when v1 is disabled, a PUT carrying
/// <c>X-Forwarded-For</c> is 403 (IMDS refuses tokens requested through a proxy), an out-of-range TTL is 400.
/// Serves an instance id, a role name and that role's temporary credentials (fake values that say so).
/// </summary>
/// <remarks>
/// 169.254.169.254 routes off the machine, so the live scenario runs this inside a network namespace of its own
/// (see shared/docs/environment.md); unit tests start it on 127.0.0.1.
/// </remarks>
public sealed class FakeInstanceMetadataService : IAsyncDisposable
{
    public const string RoleName = "checkout-node-role";

    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ImdsRequest> _requests = new();

    private FakeInstanceMetadataService(WebApplication app, TimeProvider time, bool allowV1)
    {
        _app = app;
        _time = time;
        AllowV1 = allowV1;
    }

    /// <summary>Answer reads without a token (IMDSv1, HttpTokens=optional). Default false (v2 required).</summary>
    public bool AllowV1 { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public IReadOnlyList<ImdsRequest> Requests => [.. _requests];

    /// <summary>Raised after each answered request (the scenario prints them as they happen).</summary>
    public event Action<ImdsRequest>? Answered;

    /// <summary>Starts on <paramref name="url"/> (default a free port on 127.0.0.1).</summary>
    public static async Task<FakeInstanceMetadataService> StartAsync(string url = "http://127.0.0.1:0", bool allowV1 = false,
        TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeInstanceMetadataService(app, time ?? TimeProvider.System, allowV1);
        app.Run(fake.HandleAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.First();
        fake.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return fake;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var (status, body) = Answer(context.Request);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain";
        var request = new ImdsRequest(_time.GetUtcNow(), context.Request.Method, context.Request.Path.Value ?? "",
            context.Connection.RemoteIpAddress?.ToString() ?? "", status);
        _requests.Enqueue(request);
        Answered?.Invoke(request);
        await context.Response.WriteAsync(body, context.RequestAborted);
    }

    private (int Status, string Body) Answer(HttpRequest request)
    {
        var path = request.Path.Value ?? "/";
        if (path == "/latest/api/token")
        {
            if (!HttpMethods.IsPut(request.Method))
            {
                return (405, "");
            }

            if (request.Headers.ContainsKey("X-Forwarded-For"))
            {
                return (403, "");
            }

            if (!int.TryParse(request.Headers["X-aws-ec2-metadata-token-ttl-seconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var ttl)
                || ttl is < 1 or > 21600)
            {
                return (400, "");
            }

            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(42));
            _tokens[token] = _time.GetUtcNow().AddSeconds(ttl);
            return (200, token);
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            return (405, "");
        }

        var presented = request.Headers["X-aws-ec2-metadata-token"].ToString();
        if (presented.Length > 0)
        {
            if (!_tokens.TryGetValue(presented, out var expires) || expires <= _time.GetUtcNow())
            {
                return (401, "");
            }
        }
        else if (!AllowV1)
        {
            return (401, "");
        }

        return path switch
        {
            "/latest/meta-data/" => (200, "ami-id\ninstance-id\ninstance-type\niam/\nlocal-ipv4\nplacement/"),
            "/latest/meta-data/instance-id" => (200, "i-0fa4e5c0ffee12345"),
            "/latest/meta-data/instance-type" => (200, "m6i.large"),
            "/latest/meta-data/iam/" => (200, "info\nsecurity-credentials/"),
            "/latest/meta-data/iam/security-credentials/" => (200, RoleName),
            "/latest/meta-data/iam/security-credentials/" + RoleName => (200, Credentials()),
            _ => (404, ""),
        };
    }

    private string Credentials()
    {
        var now = _time.GetUtcNow();
        return JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["Code"] = "Success",
            ["LastUpdated"] = now.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["Type"] = "AWS-HMAC",
            ["AccessKeyId"] = "ASIAFAKEFAKEFAKEFAKE",
            ["SecretAccessKey"] = "fake-secret-access-key-for-the-triage-scenario",
            ["Token"] = "fake-session-token-for-the-triage-scenario",
            ["Expiration"] = now.AddHours(6).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
