namespace Triage.Api.Persistence;

/// <summary>
/// The database log behind commits that returned before they were on disk (SQLite's <c>synchronous = NORMAL</c>,
/// PostgreSQL's <c>synchronous_commit = off</c>): syncing it makes every such commit made so far durable.
/// </summary>
internal interface ICommitLog
{
    /// <summary>Blocks until every commit made before the call is durable; throws when that is not known.</summary>
    void Sync();

    /// <summary>
    /// True when a failed sync may have lost commits for good (a local fsync error), so nothing later may be trusted
    /// either; false when the next sync can simply be tried (a lost connection to the server).
    /// </summary>
    bool FailedSyncIsFatal { get; }
}
