using Sensor.Kernel;

namespace Sensor.Tests.Support;

/// <summary>
/// Preconditions of tests that need root, eBPF or containers: skipped with the reason on a developer machine, but a
/// failure when CI=true, where everything must run.
/// </summary>
internal static class Requires
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Root()
    {
        if (Environment.UserName != "root" && geteuid() != 0)
        {
            Unmet("needs root");
        }
    }

    /// <summary>Root, kernel BTF, tracefs and the compiled BPF object; returns the object's path.</summary>
    public static string Ebpf()
    {
        Root();
        var obj = BpfObjectLocator.Find();
        var problems = Preflight.Check(obj);
        if (problems.Count > 0)
        {
            Unmet("eBPF unavailable: " + string.Join("; ", problems));
        }

        return obj;
    }

    public static void Podman()
    {
        Root();
        if (!File.Exists("/usr/bin/podman") || !File.Exists("/bin/busybox"))
        {
            Unmet("needs podman and busybox-static (apt-get install -y podman runc busybox-static)");
        }
    }

    public static void Unmet(string reason)
    {
        if (InCi)
        {
            Assert.Fail(reason + " (CI=true: this test must run)");
        }

        Assert.Skip(reason);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = false)]
#pragma warning disable CA5392, SYSLIB1054 // libc is the system C library; a one-line probe needs no source-generated stub.
    private static extern uint geteuid();
#pragma warning restore CA5392, SYSLIB1054
}
