using System.Text.Json.Nodes;

namespace Triage.Fakes.Kubernetes;

/// <summary>A <c>Status</c> error body as the API server returns it with a non-2xx code.</summary>
internal static class KubernetesStatus
{
    public static JsonObject Failure(int code, string reason, string message, string? name = null, string? kind = null,
        string? group = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (name is not null || kind is not null)
        {
            var details = new JsonObject();
            if (name is not null)
            {
                details["name"] = name;
            }

            if (!string.IsNullOrEmpty(group))
            {
                details["group"] = group;
            }

            if (kind is not null)
            {
                details["kind"] = kind;
            }

            status["details"] = details;
        }

        status["code"] = code;
        return status;
    }

    public static JsonObject NotFound(KubernetesResource resource, string name) =>
        Failure(404, "NotFound", $"{Qualified(resource)} \"{name}\" not found", name, resource.Plural, resource.Group);

    public static JsonObject AlreadyExists(KubernetesResource resource, string name) =>
        Failure(409, "AlreadyExists", $"{Qualified(resource)} \"{name}\" already exists", name, resource.Plural,
            resource.Group);

    public static JsonObject Success(KubernetesResource resource, string name, string? uid)
    {
        var details = new JsonObject { ["name"] = name };
        if (resource.Group.Length > 0)
        {
            details["group"] = resource.Group;
        }

        details["kind"] = resource.Plural;
        if (uid is not null)
        {
            details["uid"] = uid;
        }

        return new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = details,
        };
    }

    /// <summary><c>deployments.apps</c>, <c>pods</c>: how the real server names a resource in messages.</summary>
    private static string Qualified(KubernetesResource resource) =>
        resource.Group.Length == 0 ? resource.Plural : $"{resource.Plural}.{resource.Group}";
}
