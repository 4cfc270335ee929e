using System.Text.RegularExpressions;

namespace Sensor.Containers;

/// <summary>
/// Container id from the leaf name of a process's cgroup, for the runtimes' usual shapes: podman
/// (<c>libpod-&lt;id&gt;</c>, <c>libpod-&lt;id&gt;.scope</c>), docker (<c>docker-&lt;id&gt;.scope</c> or a bare id under
/// /docker), containerd (<c>cri-containerd-&lt;id&gt;.scope</c>) and cri-o (<c>crio-&lt;id&gt;.scope</c>). The conmon
/// cgroup (<c>libpod-conmon-&lt;id&gt;</c>) is the runtime's monitor, not the container.
/// </summary>
internal static partial class ContainerIds
{
    [GeneratedRegex("^(?:libpod-|docker-|cri-containerd-|crio-)?(?<id>[0-9a-f]{64})(?:\\.scope)?$")]
    private static partial Regex LeafPattern();

    /// <summary>The 64-hex container id, or null for a host cgroup.</summary>
    public static string? FromCgroupLeaf(string leaf)
    {
        var m = LeafPattern().Match(leaf);
        return m.Success ? m.Groups["id"].Value : null;
    }

    /// <summary>Falco's container.id: the first 12 characters.</summary>
    public static string Short(string id) => id.Length > 12 ? id[..12] : id;
}
