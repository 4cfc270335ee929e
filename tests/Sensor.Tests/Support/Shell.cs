using System.Diagnostics;

namespace Sensor.Tests.Support;

internal static class Shell
{
    /// <summary>Runs a program to completion; returns its pid, exit code and output.</summary>
    public static async Task<(int Pid, int ExitCode, string Output)> Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var name in new[] { "CONTAINERS_CONF" })
        {
            if (Environment.GetEnvironmentVariable(name) is null && name == "CONTAINERS_CONF")
                psi.Environment[name] = Podman.ConfigPath;
        }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (p.Id, p.ExitCode, await stdout + await stderr);
    }

    public static async Task<string> Check(string file, params string[] args)
    {
        var (_, code, output) = await Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {output}");
        return output;
    }
}
