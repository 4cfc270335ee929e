using System.Diagnostics;
using System.Text.Json;
using Sensor.Events;

namespace Sensor.Containers;

/// <summary>What the runtime knows about a container, including the pod labels kubelet puts on CRI containers.</summary>
internal sealed record ContainerMetadata(ContainerContext Container, KubernetesContext? Pod);

/// <summary>Looks a container up in its runtime. Interface because it is an I/O seam (podman, CRI, fakes).</summary>
internal interface IContainerRuntime
{
    Task<ContainerMetadata?> InspectAsync(string containerId, CancellationToken ct);
}

/// <summary>
/// <c>podman inspect</c>: name, image, and the io.kubernetes.pod.* labels when the container belongs to a pod.
/// Not cached here: <see cref="ContainerDirectory"/> keeps the answers and forgets containers that are gone.
/// </summary>
internal sealed class PodmanRuntime(string? containersConf = null) : IContainerRuntime
{
    public async Task<ContainerMetadata?> InspectAsync(string containerId, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("podman") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "inspect", "--type", "container", containerId })
            psi.ArgumentList.Add(a);
        if (containersConf is not null)
            psi.Environment["CONTAINERS_CONF"] = containersConf;
        try
        {
            using var p = Process.Start(psi)!;
            var json = await p.StandardOutput.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            if (p.ExitCode != 0)
                return null;
            return Parse(containerId, json);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    internal static ContainerMetadata? Parse(string containerId, string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Array || doc.RootElement.GetArrayLength() == 0)
            return null;
        var c = doc.RootElement[0];
        var name = c.TryGetProperty("Name", out var n) ? n.GetString() ?? "" : "";
        var image = c.TryGetProperty("ImageName", out var i) ? i.GetString() ?? "" : "";
        var digest = c.TryGetProperty("ImageDigest", out var d) ? d.GetString() : null;
        var (repo, tag) = SplitImage(image);
        var labels = new Dictionary<string, string>();
        if (c.TryGetProperty("Config", out var config) && config.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in l.EnumerateObject())
                labels[p.Name] = p.Value.GetString() ?? "";
        }
        var privileged = c.TryGetProperty("HostConfig", out var hc) && hc.TryGetProperty("Privileged", out var pr) && pr.ValueKind == JsonValueKind.True;
        var container = new ContainerContext
        {
            Id = ContainerIds.Short(containerId),
            FullId = containerId,
            Name = name,
            ImageRepository = repo,
            ImageTag = tag,
            ImageDigest = string.IsNullOrEmpty(digest) ? null : digest,
            Privileged = privileged,
        };
        KubernetesContext? pod = null;
        if (labels.TryGetValue("io.kubernetes.pod.name", out var podName) && labels.TryGetValue("io.kubernetes.pod.namespace", out var ns))
            pod = new KubernetesContext { Namespace = ns, Pod = podName };
        return new ContainerMetadata(container, pod);
    }

    internal static (string Repository, string Tag) SplitImage(string image)
    {
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, "");
    }
}
