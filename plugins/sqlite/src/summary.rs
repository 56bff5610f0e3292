//! Deriving a run's activity summary (`resume_count`, `active_ms`,
//! `active_since`) from its `run.stopped` / `run.resumed` events: used when
//! the summaries cannot be kept up to date incrementally (the version-2
//! backfill, imports).

use rusqlite::Connection;

use crate::error::Result;
use crate::time::{format_time, millis_between, parse_time};

/// Recomputes the activity summary of `run_id` from its status, start and
/// completion times and its stop/resume events.
///
/// Running periods: from `started_at` to the first `run.stopped`, from each
/// `run.resumed` to the next `run.stopped`; a finished run's last open period
/// ends at `completed_at`. A running run's open period is not counted: its
/// start goes to `active_since`. Unreadable times are skipped.
pub(crate) fn recompute_activity(conn: &Connection, run_id: &str) -> Result<()> {
    let (status, started, completed): (String, String, Option<String>) = conn.query_row(
        "SELECT status, started_at, completed_at FROM runs WHERE id = ?1",
        [run_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Ok(started) = parse_time(&started) else {
        tracing::warn!(
            run_id,
            "history.db: run start time unreadable; summary not computed"
        );
        return Ok(());
    };
    let completed = completed.and_then(|c| parse_time(&c).ok());

    let mut stmt = conn.prepare_cached(
        "SELECT type, time FROM events
         WHERE run_id = ?1 AND type IN ('run.stopped', 'run.resumed') ORDER BY seq",
    )?;
    let points: Vec<(String, String)> = stmt
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;

    let mut running = true;
    let mut since = started;
    let mut active_ms: i64 = 0;
    let mut resumes: i64 = 0;
    for (kind, time) in points {
        let Ok(t) = parse_time(&time) else { continue };
        if kind == "run.stopped" {
            if running {
                active_ms = active_ms.saturating_add(millis_between(since, t));
                running = false;
            }
        } else {
            resumes += 1;
            if !running {
                running = true;
                since = t;
            }
        }
    }
    let active_since = if status == "running" {
        Some(format_time(since)?)
    } else {
        if running {
            active_ms = active_ms.saturating_add(millis_between(since, completed.unwrap_or(since)));
        }
        None
    };
    conn.prepare_cached(
        "UPDATE runs SET resume_count = ?1, active_ms = ?2, active_since = ?3 WHERE id = ?4",
    )?
    .execute(rusqlite::params![resumes, active_ms, active_since, run_id])?;
    Ok(())
}
