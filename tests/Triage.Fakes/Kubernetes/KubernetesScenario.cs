using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Triage.Fakes.Kubernetes;

/// <summary>One rollout of a workload: when, which images (container name → image), and the recorded change cause.</summary>
public sealed record Rollout(DateTimeOffset At, IReadOnlyDictionary<string, string> Images, string? ChangeCause = null)
{
    public Rollout(DateTimeOffset at, string image, string? changeCause = null)
        : this(at, new Dictionary<string, string> { ["app"] = image }, changeCause)
    {
    }
}

/// <summary>What a scenario created for one workload: the pod an alert would name, and its container id.</summary>
public sealed record WorkloadPod(string Namespace, string Kind, string Workload, string Pod, string Node,
    string ContainerId);

/// <summary>
/// Builds objects the way the controllers leave them: a Deployment with one ReplicaSet per revision
/// (<c>deployment.kubernetes.io/revision</c>, <c>kubernetes.io/change-cause</c>, pod-template-hash, owner references),
/// StatefulSets and DaemonSets with ControllerRevisions (<c>revision</c>, <c>data</c> holding the pod template,
/// <c>controller-revision-hash</c> on pods), and a running pod of the newest revision with container statuses.
/// </summary>
public static class KubernetesScenario
{
    public static JsonObject AddNamespace(this FakeKubernetesApi api, string name,
        IReadOnlyDictionary<string, string>? labels = null, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var allLabels = new Dictionary<string, string>(labels ?? new Dictionary<string, string>(StringComparer.Ordinal),
            StringComparer.Ordinal) { ["kubernetes.io/metadata.name"] = name };
        return api.Apply(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = Metadata(name, null, allLabels, annotations),
            ["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") },
            ["status"] = new JsonObject { ["phase"] = "Active" },
        });
    }

    /// <summary>A Deployment with a ReplicaSet per rollout (oldest first) and one pod of the newest on <paramref name="node"/>.</summary>
    public static WorkloadPod AddDeployment(this FakeKubernetesApi api, string ns, string name,
        IReadOnlyList<Rollout> rollouts, string node = "node-1", IReadOnlyDictionary<string, string>? labels = null,
        IReadOnlyDictionary<string, string>? annotations = null, IReadOnlyDictionary<string, string>? podLabels = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(rollouts.Count);
        var selector = new Dictionary<string, string>(StringComparer.Ordinal) { ["app"] = name };
        var latest = rollouts[^1];
        var deploymentAnnotations = new Dictionary<string, string>(annotations ?? new Dictionary<string, string>(),
            StringComparer.Ordinal) { ["deployment.kubernetes.io/revision"] = Revision(rollouts.Count) };
        if (latest.ChangeCause is not null)
        {
            deploymentAnnotations["kubernetes.io/change-cause"] = latest.ChangeCause;
        }

        var deployment = api.Apply(new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = Metadata(name, ns, labels, deploymentAnnotations, rollouts[0].At),
            ["spec"] = new JsonObject
            {
                ["replicas"] = 1,
                ["selector"] = new JsonObject { ["matchLabels"] = ToJson(selector) },
                ["template"] = Template(selector, podLabels, latest.Images),
                ["strategy"] = new JsonObject { ["type"] = "RollingUpdate" },
                ["revisionHistoryLimit"] = 10,
            },
            ["status"] = new JsonObject
            {
                ["observedGeneration"] = 1, ["replicas"] = 1, ["updatedReplicas"] = 1, ["readyReplicas"] = 1,
                ["availableReplicas"] = 1,
            },
        });

        JsonObject? newest = null;
        string? newestHash = null;
        for (var i = 0; i < rollouts.Count; i++)
        {
            var rollout = rollouts[i];
            var hash = Hash($"{ns}/{name}/{i}");
            var rsLabels = new Dictionary<string, string>(selector, StringComparer.Ordinal) { ["pod-template-hash"] = hash };
            foreach (var (k, v) in podLabels ?? new Dictionary<string, string>())
            {
                rsLabels[k] = v;
            }

            var rsAnnotations = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["deployment.kubernetes.io/desired-replicas"] = "1",
                ["deployment.kubernetes.io/max-replicas"] = "2",
                ["deployment.kubernetes.io/revision"] = Revision(i + 1),
            };
            if (rollout.ChangeCause is not null)
            {
                rsAnnotations["kubernetes.io/change-cause"] = rollout.ChangeCause;
            }

            var current = i == rollouts.Count - 1;
            var metadata = Metadata($"{name}-{hash}", ns, rsLabels, rsAnnotations, rollout.At);
            metadata["ownerReferences"] = new JsonArray(OwnerReference(deployment));
            newest = api.Apply(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ReplicaSet",
                ["metadata"] = metadata,
                ["spec"] = new JsonObject
                {
                    ["replicas"] = current ? 1 : 0,
                    ["selector"] = new JsonObject { ["matchLabels"] = ToJson(rsLabels.Where(kv => kv.Key is "app" or "pod-template-hash").ToDictionary()) },
                    ["template"] = Template(rsLabels, null, rollout.Images),
                },
                ["status"] = new JsonObject
                {
                    ["replicas"] = current ? 1 : 0, ["observedGeneration"] = 1,
                    ["readyReplicas"] = current ? 1 : 0, ["availableReplicas"] = current ? 1 : 0,
                },
            });
            newestHash = hash;
        }

        var podLabelSet = new Dictionary<string, string>(selector, StringComparer.Ordinal) { ["pod-template-hash"] = newestHash! };
        foreach (var (k, v) in podLabels ?? new Dictionary<string, string>())
        {
            podLabelSet[k] = v;
        }

        return AddPod(api, ns, $"{name}-{newestHash}-{Hash(name + "pod")[..5]}", node, latest, podLabelSet, newest!,
            "Deployment", name);
    }

    /// <summary>A StatefulSet with a ControllerRevision per rollout and pod <c>NAME-0</c> of the newest.</summary>
    public static WorkloadPod AddStatefulSet(this FakeKubernetesApi api, string ns, string name,
        IReadOnlyList<Rollout> rollouts, string node = "node-1", IReadOnlyDictionary<string, string>? labels = null,
        IReadOnlyDictionary<string, string>? annotations = null) =>
        AddRevisionedWorkload(api, "StatefulSet", ns, name, rollouts, node, labels, annotations);

    /// <summary>A DaemonSet with a ControllerRevision per rollout and one pod of the newest on <paramref name="node"/>.</summary>
    public static WorkloadPod AddDaemonSet(this FakeKubernetesApi api, string ns, string name,
        IReadOnlyList<Rollout> rollouts, string node = "node-1", IReadOnlyDictionary<string, string>? labels = null,
        IReadOnlyDictionary<string, string>? annotations = null) =>
        AddRevisionedWorkload(api, "DaemonSet", ns, name, rollouts, node, labels, annotations);

    /// <summary>
    /// A CronJob and one run of it as its controller leaves them: Job <c>NAME-&lt;scheduled minute&gt;</c> controlled by
    /// the CronJob, and that Job's pod on <paramref name="node"/> (controlled by the Job, with the Job's labels).
    /// </summary>
    public static WorkloadPod AddCronJob(this FakeKubernetesApi api, string ns, string name, string image,
        string schedule = "*/5 * * * *", string node = "node-1", DateTimeOffset? at = null)
    {
        var run = at ?? DateTimeOffset.UnixEpoch;
        var cronJob = api.Apply(new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "CronJob",
            ["metadata"] = Metadata(name, ns, null, null, run.AddHours(-1)),
            ["spec"] = new JsonObject
            {
                ["schedule"] = schedule,
                ["concurrencyPolicy"] = "Allow",
                ["suspend"] = false,
                ["jobTemplate"] = new JsonObject
                {
                    ["spec"] = new JsonObject { ["template"] = JobTemplate(image) },
                },
            },
            ["status"] = new JsonObject { ["lastScheduleTime"] = Timestamp(run) },
        });
        // The CronJob controller names each run's Job after the scheduled time in minutes since the epoch.
        var jobName = $"{name}-{(run.ToUnixTimeSeconds() / 60).ToString(CultureInfo.InvariantCulture)}";
        var pod = AddJobRun(api, ns, jobName, image, node, run, cronJob);
        return pod with { Kind = "CronJob", Workload = name };
    }

    /// <summary>A Job of its own (<c>kubectl create job</c>) and its pod on <paramref name="node"/>.</summary>
    public static WorkloadPod AddJob(this FakeKubernetesApi api, string ns, string name, string image,
        string node = "node-1", DateTimeOffset? at = null) =>
        AddJobRun(api, ns, name, image, node, at ?? DateTimeOffset.UnixEpoch, owner: null);

    private static WorkloadPod AddJobRun(FakeKubernetesApi api, string ns, string name, string image, string node,
        DateTimeOffset at, JsonObject? owner)
    {
        var metadata = Metadata(name, ns, null, null, at);
        if (owner is not null)
        {
            metadata["ownerReferences"] = new JsonArray(OwnerReference(owner));
        }

        var job = api.Apply(new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "Job",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject
            {
                ["backoffLimit"] = 6,
                ["completions"] = 1,
                ["parallelism"] = 1,
                ["template"] = JobTemplate(image),
            },
            ["status"] = new JsonObject { ["active"] = 1, ["startTime"] = Timestamp(at) },
        });
        // The Job controller labels its pods with the Job's uid and name (and the legacy unprefixed forms).
        var uid = (string)job["metadata"]!["uid"]!;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["batch.kubernetes.io/controller-uid"] = uid, ["batch.kubernetes.io/job-name"] = name,
            ["controller-uid"] = uid, ["job-name"] = name,
        };
        return AddPod(api, ns, $"{name}-{Hash(name + "pod")[..5]}", node, new Rollout(at, image), labels, job, "Job", name,
            restartPolicy: "Never");
    }

    private static JsonObject JobTemplate(string image) => new()
    {
        ["spec"] = new JsonObject
        {
            ["containers"] = Containers(new Dictionary<string, string> { ["app"] = image }),
            ["restartPolicy"] = "Never",
        },
    };

    /// <summary>A pod with no controller (as <c>kubectl run</c> makes).</summary>
    public static WorkloadPod AddBarePod(this FakeKubernetesApi api, string ns, string name, string image,
        string node = "node-1", IReadOnlyDictionary<string, string>? labels = null, DateTimeOffset? at = null) =>
        AddPod(api, ns, name, node, new Rollout(at ?? DateTimeOffset.UnixEpoch, image), labels, null, "Pod", name);

    /// <summary>
    /// Sets the runtime id of the pod's first container (<c>status.containerStatuses[0].containerID</c>, as
    /// <c>&lt;runtime&gt;://&lt;id&gt;</c>) the way kubelet reports it once the container started, so that a real
    /// container (podman in the tests) is presented as this pod. Watches see the change as MODIFIED.
    /// </summary>
    public static WorkloadPod WithContainerId(this FakeKubernetesApi api, WorkloadPod pod, string containerId,
        string runtime = "containerd")
    {
        ArgumentException.ThrowIfNullOrEmpty(containerId);
        _ = api.Store.Update(KubernetesResources.Pods, pod.Namespace, pod.Pod, current =>
        {
            var statuses = current["status"]?["containerStatuses"] as JsonArray;
            if (statuses is not { Count: > 0 } || statuses[0] is not JsonObject first)
            {
                throw new InvalidOperationException($"pod {pod.Namespace}/{pod.Pod} has no container status");
            }

            first["containerID"] = $"{runtime}://{containerId}";
            return current;
        }) ?? throw new InvalidOperationException($"pod {pod.Namespace}/{pod.Pod} does not exist");
        return pod with { ContainerId = containerId };
    }

    private static WorkloadPod AddRevisionedWorkload(FakeKubernetesApi api, string kind, string ns, string name,
        IReadOnlyList<Rollout> rollouts, string node, IReadOnlyDictionary<string, string>? labels,
        IReadOnlyDictionary<string, string>? annotations)
    {
        ArgumentOutOfRangeException.ThrowIfZero(rollouts.Count);
        var selector = new Dictionary<string, string>(StringComparer.Ordinal) { ["app"] = name };
        var latest = rollouts[^1];
        var hashes = rollouts.Select((_, i) => Hash($"{ns}/{kind}/{name}/{i}")).ToList();
        // StatefulSet pods carry NAME-HASH in controller-revision-hash, DaemonSet pods the bare hash.
        var revisionNames = hashes.Select(h => $"{name}-{h}").ToList();
        var status = kind == "StatefulSet"
            ? new JsonObject
            {
                ["replicas"] = 1, ["readyReplicas"] = 1, ["currentReplicas"] = 1, ["updatedReplicas"] = 1,
                ["currentRevision"] = revisionNames[^1], ["updateRevision"] = revisionNames[^1],
                ["observedGeneration"] = rollouts.Count, ["collisionCount"] = 0,
            }
            : new JsonObject
            {
                ["currentNumberScheduled"] = 1, ["desiredNumberScheduled"] = 1, ["numberAvailable"] = 1,
                ["numberReady"] = 1, ["updatedNumberScheduled"] = 1, ["observedGeneration"] = rollouts.Count,
            };
        var workloadAnnotations = new Dictionary<string, string>(annotations ?? new Dictionary<string, string>(),
            StringComparer.Ordinal);
        if (kind == "DaemonSet")
        {
            workloadAnnotations["deprecated.daemonset.template.generation"] = Revision(rollouts.Count);
        }

        if (latest.ChangeCause is not null)
        {
            workloadAnnotations["kubernetes.io/change-cause"] = latest.ChangeCause;
        }

        var spec = new JsonObject
        {
            ["selector"] = new JsonObject { ["matchLabels"] = ToJson(selector) },
            ["template"] = Template(selector, null, latest.Images),
            ["revisionHistoryLimit"] = 10,
        };
        if (kind == "StatefulSet")
        {
            spec["replicas"] = 1;
            spec["serviceName"] = name;
        }

        var metadata = Metadata(name, ns, labels, workloadAnnotations, rollouts[0].At);
        metadata["generation"] = rollouts.Count;
        var workload = api.Apply(new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = kind,
            ["metadata"] = metadata,
            ["spec"] = spec,
            ["status"] = status,
        });

        for (var i = 0; i < rollouts.Count; i++)
        {
            var revisionLabels = new Dictionary<string, string>(selector, StringComparer.Ordinal)
            {
                ["controller-revision-hash"] = kind == "StatefulSet" ? revisionNames[i] : hashes[i],
            };
            var revisionAnnotations = rollouts[i].ChangeCause is { } cause
                ? new Dictionary<string, string> { ["kubernetes.io/change-cause"] = cause }
                : null;
            var revisionMetadata = Metadata(revisionNames[i], ns, revisionLabels, revisionAnnotations, rollouts[i].At);
            revisionMetadata["ownerReferences"] = new JsonArray(OwnerReference(workload));
            var template = Template(selector, null, rollouts[i].Images);
            template["$patch"] = "replace";
            api.Apply(new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ControllerRevision",
                ["metadata"] = revisionMetadata,
                ["data"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = template } },
                ["revision"] = i + 1,
            });
        }

        var podLabels = new Dictionary<string, string>(selector, StringComparer.Ordinal)
        {
            ["controller-revision-hash"] = kind == "StatefulSet" ? revisionNames[^1] : hashes[^1],
        };
        var podName = kind == "StatefulSet" ? $"{name}-0" : $"{name}-{Hash(name + node)[..5]}";
        if (kind == "StatefulSet")
        {
            podLabels["statefulset.kubernetes.io/pod-name"] = podName;
            podLabels["apps.kubernetes.io/pod-index"] = "0";
        }
        else
        {
            podLabels["pod-template-generation"] = Revision(rollouts.Count);
        }

        return AddPod(api, ns, podName, node, latest, podLabels, workload, kind, name);
    }

    private static WorkloadPod AddPod(FakeKubernetesApi api, string ns, string name, string node, Rollout rollout,
        IReadOnlyDictionary<string, string>? labels, JsonObject? owner, string workloadKind, string workloadName,
        string restartPolicy = "Always")
    {
        var containerId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{ns}/{name}")));
        var metadata = Metadata(name, ns, labels, null, rollout.At.AddSeconds(5));
        if (owner is not null)
        {
            metadata["ownerReferences"] = new JsonArray(OwnerReference(owner));
        }

        var statuses = new JsonArray();
        foreach (var (container, image) in rollout.Images)
        {
            statuses.Add(new JsonObject
            {
                ["name"] = container,
                ["image"] = image,
                ["imageID"] = $"{image.Split(':')[0]}@sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(image)))}",
                ["containerID"] = $"containerd://{(statuses.Count == 0 ? containerId : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{ns}/{name}/{container}"))))}",
                ["ready"] = true,
                ["restartCount"] = 0,
                ["started"] = true,
                ["state"] = new JsonObject
                {
                    ["running"] = new JsonObject { ["startedAt"] = Timestamp(rollout.At.AddSeconds(8)) },
                },
            });
        }

        api.Apply(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject
            {
                ["nodeName"] = node,
                ["containers"] = Containers(rollout.Images),
                ["restartPolicy"] = restartPolicy,
                ["schedulerName"] = "default-scheduler",
                ["serviceAccountName"] = "default",
            },
            ["status"] = new JsonObject
            {
                ["phase"] = "Running",
                ["hostIP"] = "10.0.0.10",
                ["podIP"] = "10.244.1.17",
                ["startTime"] = Timestamp(rollout.At.AddSeconds(5)),
                ["containerStatuses"] = statuses,
                ["qosClass"] = "BestEffort",
            },
        });
        return new WorkloadPod(ns, workloadKind, workloadName, name, node, containerId);
    }

    private static JsonObject Template(IReadOnlyDictionary<string, string> labels,
        IReadOnlyDictionary<string, string>? extraLabels, IReadOnlyDictionary<string, string> images)
    {
        var all = new Dictionary<string, string>(labels, StringComparer.Ordinal);
        foreach (var (k, v) in extraLabels ?? new Dictionary<string, string>())
        {
            all[k] = v;
        }

        return new JsonObject
        {
            ["metadata"] = new JsonObject { ["labels"] = ToJson(all) },
            ["spec"] = new JsonObject { ["containers"] = Containers(images) },
        };
    }

    private static JsonArray Containers(IReadOnlyDictionary<string, string> images)
    {
        var containers = new JsonArray();
        foreach (var (container, image) in images)
        {
            containers.Add(new JsonObject
            {
                ["name"] = container, ["image"] = image, ["imagePullPolicy"] = "IfNotPresent",
                ["terminationMessagePath"] = "/dev/termination-log", ["terminationMessagePolicy"] = "File",
            });
        }

        return containers;
    }

    private static JsonObject OwnerReference(JsonObject owner) => new()
    {
        ["apiVersion"] = (string?)owner["apiVersion"],
        ["kind"] = (string?)owner["kind"],
        ["name"] = (string?)owner["metadata"]!["name"],
        ["uid"] = (string?)owner["metadata"]!["uid"],
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    private static JsonObject Metadata(string name, string? ns, IReadOnlyDictionary<string, string>? labels,
        IReadOnlyDictionary<string, string>? annotations, DateTimeOffset? created = null)
    {
        var metadata = new JsonObject { ["name"] = name };
        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }

        if (created is { } at)
        {
            metadata["creationTimestamp"] = Timestamp(at);
        }

        if (labels is { Count: > 0 })
        {
            metadata["labels"] = ToJson(labels);
        }

        if (annotations is { Count: > 0 })
        {
            metadata["annotations"] = ToJson(annotations);
        }

        return metadata;
    }

    private static JsonObject ToJson(IEnumerable<KeyValuePair<string, string>> map)
    {
        var json = new JsonObject();
        foreach (var (k, v) in map)
        {
            json[k] = v;
        }

        return json;
    }

    /// <summary>RFC 3339 at whole seconds, as the API server writes metav1.Time.</summary>
    public static string Timestamp(DateTimeOffset at) =>
        at.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string Revision(int revision) => revision.ToString(CultureInfo.InvariantCulture);

    /// <summary>A stable 10-character hash in the alphabet Kubernetes uses for pod-template-hash (no vowels).</summary>
    private static string Hash(string seed)
    {
        const string alphabet = "bcdfghjklmnpqrstvwxz2456789";
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        return new string(bytes.Take(10).Select(b => alphabet[b % alphabet.Length]).ToArray());
    }
}
