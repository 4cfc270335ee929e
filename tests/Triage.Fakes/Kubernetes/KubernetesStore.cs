using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Triage.Fakes.Kubernetes;

/// <summary>One change as a watch stream reports it.</summary>
public sealed record WatchEvent(string Type, long ResourceVersion, KubernetesResource Resource, JsonObject Item,
    JsonObject? Previous);

/// <summary>
/// The objects the fake serves, with one global resourceVersion counter (as etcd's revision) and a bounded history
/// of changes so that a watch can resume from a resourceVersion, or be told 410 Gone when it is too old.
/// </summary>
public sealed class KubernetesStore(TimeProvider time)
{
    /// <summary>How many changes are kept for resuming watches. Older resourceVersions get 410 Expired.</summary>
    public const int HistoryLimit = 1000;

    private readonly Lock _gate = new();
    private readonly SortedDictionary<(string Resource, string Namespace, string Name), JsonObject> _objects = new();
    private readonly LinkedList<WatchEvent> _history = new();
    private readonly List<WatchSubscription> _watchers = [];
    private long _resourceVersion = 100;
    private long _oldestResumable = 100;
    private long _uid;

    public long CurrentResourceVersion
    {
        get
        {
            lock (_gate)
            {
                return _resourceVersion;
            }
        }
    }

    /// <summary>Creates or replaces an object; fills in uid, resourceVersion and creationTimestamp like the server.</summary>
    public JsonObject Upsert(KubernetesResource resource, JsonObject item)
    {
        lock (_gate)
        {
            var (ns, name) = KeyOf(resource, item);
            var key = (resource.Plural + "." + resource.Group, ns, name);
            _objects.TryGetValue(key, out var previous);
            var stored = (JsonObject)item.DeepClone();
            Stamp(resource, stored, previous);
            _objects[key] = stored;
            Publish(previous is null ? "ADDED" : "MODIFIED", resource, stored, previous);
            return (JsonObject)stored.DeepClone();
        }
    }

    /// <summary>Creates an object; null when one with the same name exists (the caller answers 409).</summary>
    public JsonObject? Create(KubernetesResource resource, JsonObject item)
    {
        lock (_gate)
        {
            var (ns, name) = KeyOf(resource, item);
            if (_objects.ContainsKey((resource.Plural + "." + resource.Group, ns, name)))
            {
                return null;
            }

            return Upsert(resource, item);
        }
    }

    /// <summary>Applies <paramref name="change"/> to the stored object; null when it does not exist.</summary>
    public JsonObject? Update(KubernetesResource resource, string? ns, string name, Func<JsonObject, JsonObject> change)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue((resource.Plural + "." + resource.Group, ns ?? "", name), out var current))
            {
                return null;
            }

            var next = change((JsonObject)current.DeepClone());
            return Upsert(resource, next);
        }
    }

    public JsonObject? Get(KubernetesResource resource, string? ns, string name)
    {
        lock (_gate)
        {
            return _objects.TryGetValue((resource.Plural + "." + resource.Group, ns ?? "", name), out var item)
                ? (JsonObject)item.DeepClone()
                : null;
        }
    }

    public JsonObject? Delete(KubernetesResource resource, string? ns, string name)
    {
        lock (_gate)
        {
            var key = (resource.Plural + "." + resource.Group, ns ?? "", name);
            if (!_objects.Remove(key, out var removed))
            {
                return null;
            }

            // A deletion is itself a change with its own resourceVersion, as the real server reports it.
            var gone = (JsonObject)removed.DeepClone();
            gone["metadata"]!["resourceVersion"] = (++_resourceVersion).ToString(CultureInfo.InvariantCulture);
            Publish("DELETED", resource, gone, removed);
            return (JsonObject)gone.DeepClone();
        }
    }

    /// <summary>Objects of a resource (in one namespace, or all when null) in key order, and the list's resourceVersion.</summary>
    public (List<JsonObject> Items, long ResourceVersion) List(KubernetesResource resource, string? ns)
    {
        lock (_gate)
        {
            var prefix = resource.Plural + "." + resource.Group;
            var items = _objects
                .Where(kv => kv.Key.Resource == prefix && (ns is null || kv.Key.Namespace == ns))
                .Select(kv => (JsonObject)kv.Value.DeepClone())
                .ToList();
            return (items, _resourceVersion);
        }
    }

    /// <summary>
    /// Starts a watch. With no resourceVersion (or "0") the current objects come first as ADDED; with a newer one the
    /// changes after it are replayed; with one older than the kept history the result is null (410 Expired).
    /// </summary>
    internal WatchSubscription? Watch(KubernetesResource resource, string? ns, string? resourceVersion,
        Func<JsonObject, bool> filter)
    {
        lock (_gate)
        {
            var subscription = new WatchSubscription(resource, ns, filter);
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
            {
                foreach (var item in List(resource, ns).Items.Where(filter))
                {
                    subscription.Channel.Writer.TryWrite(new WatchEvent("ADDED",
                        long.Parse((string)item["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture),
                        resource, item, null));
                }
            }
            else
            {
                if (!long.TryParse(resourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var from))
                {
                    throw new SelectorException($"invalid resource version \"{resourceVersion}\"");
                }

                if (from < _oldestResumable)
                {
                    return null;
                }

                foreach (var change in _history.Where(e => e.ResourceVersion > from))
                {
                    subscription.Offer(change);
                }
            }

            _watchers.Add(subscription);
            return subscription;
        }
    }

    internal void Unwatch(WatchSubscription subscription)
    {
        lock (_gate)
        {
            _watchers.Remove(subscription);
        }
    }

    /// <summary>Ends every open watch stream (as an API server restart or a load balancer timeout does).</summary>
    public void CloseWatches()
    {
        lock (_gate)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Channel.Writer.TryComplete();
            }

            _watchers.Clear();
        }
    }

    /// <summary>Forgets the change history, so that resuming a watch from any earlier resourceVersion gets 410.</summary>
    public void CompactHistory()
    {
        lock (_gate)
        {
            _history.Clear();
            _oldestResumable = _resourceVersion;
        }
    }

    public int OpenWatchCount
    {
        get
        {
            lock (_gate)
            {
                return _watchers.Count;
            }
        }
    }

    private void Stamp(KubernetesResource resource, JsonObject stored, JsonObject? previous)
    {
        stored["apiVersion"] = resource.ApiVersion;
        stored["kind"] = resource.Kind;
        var metadata = (JsonObject)stored["metadata"]!;
        metadata["uid"] = previous?["metadata"]?["uid"]?.DeepClone()
            ?? metadata["uid"]?.DeepClone()
            ?? $"00000000-0000-4000-8000-{++_uid:D12}";
        metadata["creationTimestamp"] = previous?["metadata"]?["creationTimestamp"]?.DeepClone()
            ?? metadata["creationTimestamp"]?.DeepClone()
            ?? time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        metadata["resourceVersion"] = (++_resourceVersion).ToString(CultureInfo.InvariantCulture);
        if (resource != KubernetesResources.Namespaces && resource != KubernetesResources.Pods)
        {
            // The server bumps generation on every spec change; here every write counts as one.
            metadata["generation"] = previous is null
                ? Number(metadata["generation"]) ?? 1
                : (Number(previous["metadata"]?["generation"]) ?? 0) + 1;
        }
    }

    private static long? Number(JsonNode? node) =>
        node is null ? null : long.Parse(node.ToJsonString().Trim('"'), CultureInfo.InvariantCulture);

    private static (string Namespace, string Name) KeyOf(KubernetesResource resource, JsonObject item)
    {
        var metadata = item["metadata"] as JsonObject
            ?? throw new ArgumentException("The object has no metadata.", nameof(item));
        var name = (string?)metadata["name"];
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("The object has no metadata.name.", nameof(item));
        }

        var ns = resource.Namespaced ? (string?)metadata["namespace"] : "";
        if (resource.Namespaced && string.IsNullOrEmpty(ns))
        {
            throw new ArgumentException($"A {resource.Kind} needs metadata.namespace.", nameof(item));
        }

        return (ns!, name);
    }

    private void Publish(string type, KubernetesResource resource, JsonObject item, JsonObject? previous)
    {
        var change = new WatchEvent(type,
            long.Parse((string)item["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture), resource,
            (JsonObject)item.DeepClone(), (JsonObject?)previous?.DeepClone());
        _history.AddLast(change);
        while (_history.Count > HistoryLimit)
        {
            _oldestResumable = _history.First!.Value.ResourceVersion;
            _history.RemoveFirst();
        }

        foreach (var watcher in _watchers)
        {
            watcher.Offer(change);
        }
    }
}

/// <summary>One open watch: the events for it, filtered by namespace and selectors.</summary>
internal sealed class WatchSubscription(KubernetesResource resource, string? ns, Func<JsonObject, bool> filter)
{
    public Channel<WatchEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<WatchEvent>();

    /// <summary>
    /// Like the API server's watch cache: an object that starts matching the selector arrives as ADDED, one that stops
    /// matching as DELETED, so a client's view stays consistent with a list under the same selector.
    /// </summary>
    public void Offer(WatchEvent change)
    {
        if (change.Resource != resource
            || (ns is not null && (string?)change.Item["metadata"]?["namespace"] != ns))
        {
            return;
        }

        var now = change.Type != "DELETED" && filter(change.Item);
        var before = change.Previous is not null && filter(change.Previous);
        var type = change.Type switch
        {
            "DELETED" => before ? "DELETED" : null,
            _ when now && before => "MODIFIED",
            _ when now => "ADDED",
            _ when before => "DELETED",
            _ => null,
        };
        if (type is not null)
        {
            Channel.Writer.TryWrite(change with { Type = type });
        }
    }
}
