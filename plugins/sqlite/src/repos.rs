//! The repositories that have runs, with per-status counts: the web UI's
//! repository picker and its status-filter counts (`GET /api/history/repos`).

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;

/// One repository's runs, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoSummary {
    /// The repository path, exactly as the runs carry it.
    pub repo_path: String,
    /// Runs recorded for it.
    pub runs: u64,
    /// Of which still running.
    pub running: u64,
    /// Of which completed.
    pub completed: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which stopped.
    pub stopped: u64,
    /// The newest run's start, in the stored RFC 3339 UTC form.
    pub last_started_at: String,
}

/// Every repository with at least one run, the most recently used first
/// (ties by path). One pass over `runs` (its `idx_runs_repo` index covers
/// the grouping), so it stays cheap at 100,000 runs.
pub fn repos(conn: &Connection) -> Result<Vec<RepoSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT repo_path, COUNT(*), \
                SUM(status = 'running'), SUM(status = 'completed'), \
                SUM(status = 'failed'), SUM(status = 'stopped'), MAX(started_at) \
         FROM runs GROUP BY repo_path ORDER BY MAX(started_at) DESC, repo_path",
    )?;
    let count = |n: i64| n.max(0) as u64;
    let rows = stmt.query_map([], |r| {
        Ok(RepoSummary {
            repo_path: r.get(0)?,
            runs: count(r.get(1)?),
            running: count(r.get(2)?),
            completed: count(r.get(3)?),
            failed: count(r.get(4)?),
            stopped: count(r.get(5)?),
            last_started_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
