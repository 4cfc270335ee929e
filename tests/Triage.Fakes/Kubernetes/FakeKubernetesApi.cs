using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Triage.Fakes.Kubernetes;

/// <summary>How the fake fails every request while an outage is on.</summary>
public enum KubernetesOutage
{
    /// <summary>Serve normally.</summary>
    None,

    /// <summary>503 with a <c>Status</c> body (reason ServiceUnavailable), as behind a load balancer with no backend.</summary>
    Unavailable,

    /// <summary>Accept the connection and reset it without an answer, as a crashed or unreachable server.</summary>
    ConnectionReset,
}

/// <summary>One request the fake received, for tests that assert what (and how often) a client asked.</summary>
public sealed record KubernetesRequest(string Method, string Path, string Query, bool Watch);

/// <summary>
/// A local Kubernetes API server (Kestrel on 127.0.0.1, a free port) serving namespaces, pods, Deployments,
/// ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions, Jobs, CronJobs and NetworkPolicies in the real API's
/// JSON shapes: lists and <c>?watch=true</c> streams with resourceVersion, label and field selectors,
/// limit/continue, create (POST), replace (PUT), PATCH (JSON patch, merge patch, strategic merge patch on maps),
/// DELETE, and real status codes with <c>Status</c> bodies. Outages, latency, 403s and bearer-token checks switch on
/// for tests.
/// </summary>
/// <remarks>
/// Not modelled: server-side apply (answered 415), strategic merge of lists by merge key, graceful pod deletion
/// (pods go at once), admission, defaulting and validation of object bodies beyond name and namespace.
/// </remarks>
public sealed class FakeKubernetesApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<KubernetesRequest> _requests = new();
    private readonly ConcurrentDictionary<KubernetesResource, byte> _forbidden = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile KubernetesOutage _outage;
    private long _latencyTicks;

    private FakeKubernetesApi(WebApplication app, KubernetesStore store, string? bearerToken)
    {
        _app = app;
        Store = store;
        BearerToken = bearerToken;
    }

    /// <summary>The objects served; tests add and change them here (changes reach open watches).</summary>
    public KubernetesStore Store { get; }

    /// <summary>When set, every request must carry <c>Authorization: Bearer</c> with this token, or gets 401.</summary>
    public string? BearerToken { get; }

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Fail every request this way; switching to an outage also drops the open watch streams.</summary>
    public KubernetesOutage Outage
    {
        get => _outage;
        set
        {
            _outage = value;
            if (value != KubernetesOutage.None)
            {
                Store.CloseWatches();
            }
        }
    }

    /// <summary>Delay (real time) before answering each request; the delay ends early when the client gives up.</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, value.Ticks);
    }

    public IReadOnlyList<KubernetesRequest> Requests => [.. _requests];

    public void ClearRequests() => _requests.Clear();

    /// <summary>Answer 403 Forbidden for a resource, as when the service account's RBAC role lacks it.</summary>
    public void Forbid(KubernetesResource resource) => _forbidden[resource] = 0;

    public void Allow(KubernetesResource resource) => _forbidden.TryRemove(resource, out _);

    /// <summary>Starts the server. <paramref name="time"/> stamps creationTimestamp on objects that lack one.</summary>
    public static async Task<FakeKubernetesApi> StartAsync(TimeProvider? time = null, string? bearerToken = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeKubernetesApi(app, new KubernetesStore(time ?? TimeProvider.System), bearerToken);
        app.Run(fake.HandleAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.First();
        fake.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return fake;
    }

    /// <summary>A client configuration pointing at this server (with the bearer token when one is required).</summary>
    public KubernetesClientConfiguration ClientConfiguration(TimeSpan? timeout = null) => new()
    {
        Host = BaseAddress.ToString().TrimEnd('/'),
        AccessToken = BearerToken,
        HttpClientTimeout = timeout ?? TimeSpan.FromSeconds(100),
    };

    /// <summary>Writes a kubeconfig file whose current context points at this server; returns its path.</summary>
    public string WriteKubeconfig(string path, string contextName = "fake", string defaultNamespace = "default")
    {
        var user = BearerToken is null ? "{}" : $"{{ token: \"{BearerToken}\" }}";
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
              - name: {contextName}
                cluster:
                  server: {BaseAddress.ToString().TrimEnd('/')}
            users:
              - name: {contextName}
                user: {user}
            contexts:
              - name: {contextName}
                context:
                  cluster: {contextName}
                  user: {contextName}
                  namespace: {defaultNamespace}
            current-context: {contextName}
            """);
        return path;
    }

    /// <summary>Creates or replaces an object given as a KubernetesClient model (kind and apiVersion are required).</summary>
    public JsonObject Apply(IKubernetesObject item)
    {
        var json = (JsonObject)JsonNode.Parse(KubernetesJson.Serialize(item))!;
        return Apply(json);
    }

    /// <summary>Creates or replaces an object given as JSON (kind and apiVersion are required).</summary>
    public JsonObject Apply(JsonObject item)
    {
        var resource = KubernetesResources.ForKind((string?)item["apiVersion"] ?? "", (string?)item["kind"] ?? "");
        return Store.Upsert(resource, item);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Store.CloseWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var watch = request.Query["watch"] is var w && (w == "true" || w == "1");
        _requests.Enqueue(new KubernetesRequest(request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "",
            watch));

        if (Latency > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(Latency, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        switch (_outage)
        {
            case KubernetesOutage.ConnectionReset:
                context.Abort();
                return;
            case KubernetesOutage.Unavailable:
                await WriteAsync(context, 503, KubernetesStatus.Failure(503, "ServiceUnavailable",
                    "the server is currently unable to handle the request"));
                return;
        }

        if (BearerToken is not null && request.Headers.Authorization.ToString() != $"Bearer {BearerToken}")
        {
            await WriteAsync(context, 401, KubernetesStatus.Failure(401, "Unauthorized", "Unauthorized"));
            return;
        }

        var path = (request.Path.Value ?? "").Trim('/');
        if (path == "version")
        {
            await WriteAsync(context, 200, new JsonObject
            {
                ["major"] = "1", ["minor"] = "31", ["gitVersion"] = "v1.31.0-fake", ["platform"] = "linux/amd64",
            });
            return;
        }

        if (!TryRoute(path, out var resource, out var ns, out var name, out var subresource))
        {
            await WriteAsync(context, 404, KubernetesStatus.Failure(404, "NotFound",
                "the server could not find the requested resource"));
            return;
        }

        if (_forbidden.ContainsKey(resource))
        {
            var verb = request.Method switch
            {
                "GET" when watch => "watch",
                "GET" => name is null ? "list" : "get",
                "POST" => "create",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => request.Method.ToLowerInvariant(),
            };
            var where = ns is null ? "at the cluster scope" : $"in the namespace \"{ns}\"";
            await WriteAsync(context, 403, KubernetesStatus.Failure(403, "Forbidden",
                $"{resource.Plural}{(resource.Group.Length > 0 ? "." + resource.Group : "")}{(name is null ? "" : $" \"{name}\"")} is forbidden: "
                + $"User \"system:serviceaccount:triage:triage\" cannot {verb} resource \"{resource.Plural}\" in API group \"{resource.Group}\" {where}",
                name, resource.Plural, resource.Group));
            return;
        }

        if (subresource is not null)
        {
            await WriteAsync(context, 404, KubernetesStatus.Failure(404, "NotFound",
                "the server could not find the requested resource"));
            return;
        }

        try
        {
            await (name is null
                ? HandleCollectionAsync(context, resource, ns, watch)
                : HandleItemAsync(context, resource, ns, name));
        }
        catch (SelectorException ex)
        {
            await WriteAsync(context, 400, KubernetesStatus.Failure(400, "BadRequest", ex.Message));
        }
    }

    /// <summary>
    /// <c>/api/v1/{plural}[/{name}]</c>, <c>/api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]</c> and the same under
    /// <c>/apis/{group}/{version}/</c>.
    /// </summary>
    private static bool TryRoute(string path, out KubernetesResource resource, out string? ns, out string? name,
        out string? subresource)
    {
        resource = null!;
        ns = name = subresource = null;
        var segments = path.Split('/');
        string group, version;
        int rest;
        if (segments.Length >= 3 && segments[0] == "api")
        {
            (group, version, rest) = ("", segments[1], 2);
        }
        else if (segments.Length >= 4 && segments[0] == "apis")
        {
            (group, version, rest) = (segments[1], segments[2], 3);
        }
        else
        {
            return false;
        }

        var tail = segments[rest..];
        if (tail.Length >= 3 && tail[0] == "namespaces")
        {
            ns = tail[1];
            tail = tail[2..];
        }
        else if (tail.Length == 2 && tail[0] == "namespaces" && group.Length == 0)
        {
            // GET /api/v1/namespaces/{name}: the namespace object itself.
            resource = KubernetesResources.Namespaces;
            name = tail[1];
            return version == "v1";
        }

        var found = KubernetesResources.Find(group, version, tail[0]);
        if (found is null || (ns is not null && !found.Namespaced) || tail.Length > 3)
        {
            return false;
        }

        resource = found;
        name = tail.Length >= 2 ? tail[1] : null;
        subresource = tail.Length == 3 ? tail[2] : null;
        return !(name is not null && found.Namespaced && ns is null);
    }

    private async Task HandleCollectionAsync(HttpContext context, KubernetesResource resource, string? ns, bool watch)
    {
        var query = context.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], resource);
        bool Filter(JsonObject item) => labels.Matches(LabelsOf(item)) && fields.Matches(item);

        switch (context.Request.Method)
        {
            case "GET" when watch:
                await WatchAsync(context, resource, ns, query["resourceVersion"], query["timeoutSeconds"], Filter);
                return;
            case "GET":
                await ListAsync(context, resource, ns, Filter);
                return;
            case "POST":
                await CreateAsync(context, resource, ns);
                return;
            default:
                await MethodNotAllowedAsync(context);
                return;
        }
    }

    private async Task ListAsync(HttpContext context, KubernetesResource resource, string? ns,
        Func<JsonObject, bool> filter)
    {
        var (all, resourceVersion) = Store.List(resource, ns);
        var items = all.Where(filter).ToList();
        var offset = 0;
        if (context.Request.Query["continue"].ToString() is { Length: > 0 } token)
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(token)).Split(':');
            offset = int.Parse(parts[1], CultureInfo.InvariantCulture);
        }

        var metadata = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture) };
        if (int.TryParse(context.Request.Query["limit"], out var limit) && limit > 0 && offset + limit < items.Count)
        {
            metadata["continue"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(
                $"{resourceVersion}:{(offset + limit).ToString(CultureInfo.InvariantCulture)}"));
            metadata["remainingItemCount"] = items.Count - offset - limit;
            items = items.Skip(offset).Take(limit).ToList();
        }
        else
        {
            items = items.Skip(offset).ToList();
        }

        var array = new JsonArray();
        foreach (var item in items)
        {
            // Items in a list carry no kind or apiVersion; the list does.
            item.Remove("kind");
            item.Remove("apiVersion");
            array.Add(item);
        }

        await WriteAsync(context, 200, new JsonObject
        {
            ["kind"] = resource.ListKind,
            ["apiVersion"] = resource.ApiVersion,
            ["metadata"] = metadata,
            ["items"] = array,
        });
    }

    private async Task WatchAsync(HttpContext context, KubernetesResource resource, string? ns, string? resourceVersion,
        string? timeoutSeconds, Func<JsonObject, bool> filter)
    {
        var subscription = Store.Watch(resource, ns, resourceVersion, filter);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        if (subscription is null)
        {
            // A watch from a compacted resourceVersion is not an HTTP error: the stream carries one ERROR event.
            await WriteEventAsync(context, new JsonObject
            {
                ["type"] = "ERROR",
                ["object"] = KubernetesStatus.Failure(410, "Expired",
                    $"too old resource version: {resourceVersion} ({Store.CurrentResourceVersion})"),
            });
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        if (int.TryParse(timeoutSeconds, out var seconds) && seconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        try
        {
            await context.Response.StartAsync(timeout.Token);
            await context.Response.Body.FlushAsync(timeout.Token);
            await foreach (var change in subscription.Channel.Reader.ReadAllAsync(timeout.Token))
            {
                await WriteEventAsync(context, new JsonObject
                {
                    ["type"] = change.Type,
                    ["object"] = change.Item.DeepClone(),
                });
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away or the timeout passed: the stream ends normally, as on the real server.
        }
        finally
        {
            Store.Unwatch(subscription);
        }

        if (_outage == KubernetesOutage.ConnectionReset)
        {
            context.Abort();
        }
    }

    private static async Task WriteEventAsync(HttpContext context, JsonObject change)
    {
        var line = Encoding.UTF8.GetBytes(change.ToJsonString() + "\n");
        await context.Response.Body.WriteAsync(line, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private async Task CreateAsync(HttpContext context, KubernetesResource resource, string? ns)
    {
        if (resource.Namespaced && ns is null)
        {
            await MethodNotAllowedAsync(context);
            return;
        }

        var item = await ReadObjectAsync(context);
        if (item is null)
        {
            return;
        }

        var metadata = item["metadata"] as JsonObject ?? new JsonObject();
        item["metadata"] = metadata;
        if (resource.Namespaced)
        {
            var given = (string?)metadata["namespace"];
            if (given is not null && given != ns)
            {
                await WriteAsync(context, 400, KubernetesStatus.Failure(400, "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request"));
                return;
            }

            metadata["namespace"] = ns;
        }

        if (string.IsNullOrEmpty((string?)metadata["name"]))
        {
            if ((string?)metadata["generateName"] is { Length: > 0 } prefix)
            {
                metadata["name"] = prefix + Guid.NewGuid().ToString("N")[..5];
            }
            else
            {
                await WriteAsync(context, 422, KubernetesStatus.Failure(422, "Invalid",
                    $"{resource.Kind} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    "", resource.Kind, resource.Group));
                return;
            }
        }

        if (resource.Namespaced && Store.Get(KubernetesResources.Namespaces, null, ns!) is null)
        {
            await WriteAsync(context, 404, KubernetesStatus.NotFound(KubernetesResources.Namespaces, ns!));
            return;
        }

        var created = Store.Create(resource, item);
        if (created is null)
        {
            await WriteAsync(context, 409, KubernetesStatus.AlreadyExists(resource, (string)metadata["name"]!));
            return;
        }

        await WriteAsync(context, 201, created);
    }

    private async Task HandleItemAsync(HttpContext context, KubernetesResource resource, string? ns, string name)
    {
        switch (context.Request.Method)
        {
            case "GET":
                var item = Store.Get(resource, ns, name);
                await (item is null
                    ? WriteAsync(context, 404, KubernetesStatus.NotFound(resource, name))
                    : WriteAsync(context, 200, item));
                return;
            case "PUT":
                await ReplaceAsync(context, resource, ns, name);
                return;
            case "PATCH":
                await PatchAsync(context, resource, ns, name);
                return;
            case "DELETE":
                var deleted = Store.Delete(resource, ns, name);
                if (deleted is null)
                {
                    await WriteAsync(context, 404, KubernetesStatus.NotFound(resource, name));
                }
                else if (resource == KubernetesResources.Pods || resource == KubernetesResources.Namespaces)
                {
                    // Resources with graceful deletion answer with the object; the others with a Success Status.
                    await WriteAsync(context, 200, deleted);
                }
                else
                {
                    await WriteAsync(context, 200,
                        KubernetesStatus.Success(resource, name, (string?)deleted["metadata"]?["uid"]));
                }

                return;
            default:
                await MethodNotAllowedAsync(context);
                return;
        }
    }

    private async Task ReplaceAsync(HttpContext context, KubernetesResource resource, string? ns, string name)
    {
        var item = await ReadObjectAsync(context);
        if (item is null)
        {
            return;
        }

        var current = Store.Get(resource, ns, name);
        if (current is null)
        {
            await WriteAsync(context, 404, KubernetesStatus.NotFound(resource, name));
            return;
        }

        var metadata = item["metadata"] as JsonObject ?? new JsonObject();
        item["metadata"] = metadata;
        if ((string?)metadata["name"] != name)
        {
            await WriteAsync(context, 400, KubernetesStatus.Failure(400, "BadRequest",
                "the name of the object does not match the name on the URL"));
            return;
        }

        if ((string?)metadata["resourceVersion"] is { Length: > 0 } expected
            && expected != (string?)current["metadata"]!["resourceVersion"])
        {
            await WriteAsync(context, 409, KubernetesStatus.Failure(409, "Conflict",
                $"Operation cannot be fulfilled on {resource.Plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                name, resource.Plural, resource.Group));
            return;
        }

        metadata["namespace"] = ns;
        await WriteAsync(context, 200, Store.Upsert(resource, item));
    }

    private async Task PatchAsync(HttpContext context, KubernetesResource resource, string? ns, string name)
    {
        var contentType = context.Request.ContentType?.Split(';')[0].Trim() ?? "";
        if (contentType is not (Patches.JsonPatch or Patches.MergePatch or Patches.StrategicMergePatch))
        {
            await WriteAsync(context, 415, KubernetesStatus.Failure(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: {Patches.JsonPatch}, {Patches.MergePatch}, {Patches.StrategicMergePatch}"));
            return;
        }

        JsonNode? patch;
        try
        {
            patch = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (System.Text.Json.JsonException ex)
        {
            await WriteAsync(context, 400, KubernetesStatus.Failure(400, "BadRequest", ex.Message));
            return;
        }

        try
        {
            var patched = Store.Update(resource, ns, name, current =>
            {
                var result = contentType == Patches.JsonPatch
                    ? Patches.ApplyJsonPatch(current, patch as JsonArray
                        ?? throw new PatchException("a JSON patch must be an array of operations"))
                    : (JsonObject)Patches.Merge(current, patch)!;
                if ((string?)result["metadata"]?["name"] != name)
                {
                    throw new PatchException("metadata.name: Invalid value: field is immutable");
                }

                return result;
            });
            await (patched is null
                ? WriteAsync(context, 404, KubernetesStatus.NotFound(resource, name))
                : WriteAsync(context, 200, patched));
        }
        catch (PatchException ex)
        {
            await WriteAsync(context, 422, KubernetesStatus.Failure(422, "Invalid", ex.Message, name, resource.Kind,
                resource.Group));
        }
    }

    private static async Task<JsonObject?> ReadObjectAsync(HttpContext context)
    {
        if (context.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true)
        {
            await WriteAsync(context, 415, KubernetesStatus.Failure(415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"));
            return null;
        }

        try
        {
            if (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) is JsonObject item)
            {
                return item;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Answered below like any body that is not an object.
        }

        await WriteAsync(context, 400, KubernetesStatus.Failure(400, "BadRequest",
            "the object provided is unrecognized"));
        return null;
    }

    private static Task MethodNotAllowedAsync(HttpContext context) =>
        WriteAsync(context, 405, KubernetesStatus.Failure(405, "MethodNotAllowed",
            "the server does not allow this method on the requested resource"));

    private static Dictionary<string, string> LabelsOf(JsonObject item) =>
        item["metadata"]?["labels"] is JsonObject labels
            ? labels.ToDictionary(kv => kv.Key, kv => (string?)kv.Value ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    private static async Task WriteAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
