namespace Triage.Tests.Support;

/// <summary>
/// Preconditions of tests that need real parts. On a developer machine a missing part skips the test with the reason;
/// under CI (CI=true) it fails, because there every part must be installed and running.
/// </summary>
internal static class Requires
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void That(bool condition, string reason)
    {
        if (condition)
        {
            return;
        }

        if (InCi)
        {
            Assert.Fail($"Required in CI: {reason}");
        }

        Assert.Skip(reason);
    }
}
