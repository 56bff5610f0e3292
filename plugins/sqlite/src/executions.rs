//! The per-unit execution summary (`unit_executions`, schema 4): one row
//! per unit per run — how it ended, its exit code, when it started and
//! ended, how long it ran — kept by the writer in the same transaction as
//! the events it is folded from (module [`crate::commands`]), and
//! backfilled from the stored events when a database is migrated.
//!
//! It is what the history insights (`otto-hooks stats`, `flaky`,
//! `history TASK`) read: ten rows a run instead of every `unit.*` event and
//! its time text, on `(run_id, unit)` (the window's runs) and on
//! `(unit, started_at)` (one unit's newest executions).
//!
//! **The fold.** Only `unit.*` events that set a state count ([`state_after`]);
//! the unit's status is the one its last such event left. Its start is its
//! first `unit.started` (until one comes, its first event's time); a
//! `unit.completed` / `merged` / `failed` ends it: the end time, the
//! payload's `exit_code` (absent: none), and its duration — the payload's
//! `duration_ms` (imported otto runs), else the time from the first
//! `unit.started` to that event. A unit still `running` or `pending` in a
//! run that has ended was cut off: readers show it `interrupted` (the row
//! keeps what the events said).

use std::collections::HashMap;

use otto_hooks_plugin_api::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::time::{format_time, parse_time};

/// The table and its unit index (schema version 4).
pub const V4_SQL: &str = "
CREATE TABLE IF NOT EXISTS unit_executions (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    unit TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    started_at TEXT NOT NULL,
    saw_start INTEGER NOT NULL DEFAULT 0,
    ended_at TEXT,
    duration_ms REAL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, unit)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_unit_executions_unit ON unit_executions(unit, started_at);
";

/// The status a `unit.<what>` event leaves its unit in (the texts of
/// `TaskStatus`), `None` for an event that sets no state.
pub fn state_after(kind: &str) -> Option<&'static str> {
    match kind.strip_prefix("unit.")? {
        "queued" => Some("pending"),
        "started" => Some("running"),
        "completed" | "merged" => Some("success"),
        "blocked" | "skipped" => Some("skipped"),
        k if k.ends_with("failed") => Some("failed"),
        _ => None,
    }
}

/// One unit's row, as folded so far.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitExecution {
    /// Its status (see [`state_after`]).
    pub status: &'static str,
    /// The exit code its ending event carried.
    pub exit_code: Option<i64>,
    /// Its first `unit.started`, else its first event.
    pub started_at: Timestamp,
    /// Whether a `unit.started` was seen (`started_at` is then its time).
    pub saw_start: bool,
    /// When its last ending event came.
    pub ended_at: Option<Timestamp>,
    /// How long it ran, in milliseconds.
    pub duration_ms: Option<f64>,
    /// The seq of its last state event.
    pub last_seq: i64,
}

/// What one state event does to a unit (`prev`: its row so far).
pub fn step(
    prev: Option<UnitExecution>,
    seq: i64,
    at: Timestamp,
    kind: &str,
    payload: Option<&str>,
) -> Option<UnitExecution> {
    let status = state_after(kind)?;
    let mut u = prev.unwrap_or(UnitExecution {
        status,
        exit_code: None,
        started_at: at,
        saw_start: false,
        ended_at: None,
        duration_ms: None,
        last_seq: seq,
    });
    u.status = status;
    u.last_seq = seq;
    match status {
        "running" if !u.saw_start => {
            u.saw_start = true;
            u.started_at = at;
        }
        "success" | "failed" => {
            // Most ending events carry no figures: no JSON parse for them.
            let figures = payload
                .filter(|p| p.contains("exit_code") || p.contains("duration_ms"))
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
            let field = |name: &str| figures.as_ref().and_then(|f| f.get(name).cloned());
            u.exit_code = field("exit_code").and_then(|c| c.as_i64());
            u.ended_at = Some(at);
            u.duration_ms = field("duration_ms").and_then(|d| d.as_f64()).or_else(|| {
                u.saw_start.then(|| {
                    let secs = (at.secs - u.started_at.secs) as f64;
                    let nanos = f64::from(at.nanos) - f64::from(u.started_at.nanos);
                    (secs * 1000.0 + nanos / 1e6).max(0.0)
                })
            });
        }
        _ => {}
    }
    Some(u)
}

/// The row of `(run_id, unit)`, if any.
fn load(conn: &Connection, run_id: &str, unit: &str) -> Result<Option<UnitExecution>> {
    let row = conn
        .prepare_cached(
            "SELECT status, exit_code, started_at, saw_start, ended_at, duration_ms, last_seq
             FROM unit_executions WHERE run_id = ?1 AND unit = ?2",
        )?
        .query_row([run_id, unit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<f64>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .optional()?;
    let Some((status, exit_code, started, saw_start, ended, duration_ms, last_seq)) = row else {
        return Ok(None);
    };
    Ok(Some(UnitExecution {
        // A status this code does not write reads as the unit's state
        // being unknown until its next event.
        status: ["pending", "running", "success", "failed", "skipped"]
            .into_iter()
            .find(|s| *s == status)
            .unwrap_or("pending"),
        exit_code,
        started_at: parse_time(&started)?,
        saw_start,
        ended_at: ended.map(|e| parse_time(&e)).transpose()?,
        duration_ms,
        last_seq,
    }))
}

/// Writes the row of `(run_id, unit)`.
fn store(conn: &Connection, run_id: &str, unit: &str, u: &UnitExecution) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO unit_executions
            (run_id, unit, status, exit_code, started_at, saw_start, ended_at, duration_ms, last_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        run_id,
        unit,
        u.status,
        u.exit_code,
        format_time(u.started_at)?,
        u.saw_start,
        u.ended_at.map(format_time).transpose()?,
        u.duration_ms,
        u.last_seq,
    ])?;
    Ok(())
}

/// Folds one stored event into its unit's row (the writer calls this for
/// every event it inserts, inside the same transaction). Events without a
/// unit, or that set no state, change nothing.
pub(crate) fn record(
    conn: &Connection,
    run_id: &str,
    seq: i64,
    at: Timestamp,
    kind: &str,
    unit: Option<&str>,
    payload: Option<&str>,
) -> Result<()> {
    let Some(unit) = unit.filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    if state_after(kind).is_none() {
        return Ok(());
    }
    let prev = load(conn, run_id, unit)?;
    if let Some(u) = step(prev, seq, at, kind, payload) {
        store(conn, run_id, unit, &u)?;
    }
    Ok(())
}

/// Rebuilds every row from the stored events (the schema-4 backfill): the
/// unit events of each run in `seq` order, folded as the writer folds them.
/// Returns the rows written.
pub fn rebuild(conn: &Connection) -> Result<u64> {
    conn.execute_batch("DELETE FROM unit_executions")?;
    let mut stmt = conn.prepare(
        "SELECT run_id, seq, time, type, unit, payload FROM events
         WHERE unit IS NOT NULL AND unit <> '' AND type >= 'unit.' AND type < 'unit/'
         ORDER BY run_id, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut run: Option<String> = None;
    let mut units: HashMap<String, UnitExecution> = HashMap::new();
    let mut written = 0u64;
    let mut flush = |run: &str, units: &mut HashMap<String, UnitExecution>| -> Result<()> {
        for (unit, u) in units.drain() {
            store(conn, run, &unit, &u)?;
            written += 1;
        }
        Ok(())
    };
    while let Some(row) = rows.next()? {
        let run_id = str_at(row, 0)?.unwrap_or_default();
        if run.as_deref() != Some(run_id) {
            if let Some(done) = run.take() {
                flush(&done, &mut units)?;
            }
            run = Some(run_id.to_owned());
        }
        let seq: i64 = row.get(1)?;
        let Ok(at) = parse_time(str_at(row, 2)?.unwrap_or_default()) else {
            tracing::warn!(
                run_id,
                seq,
                "history.db: unit event time unreadable; skipped"
            );
            continue;
        };
        let kind = str_at(row, 3)?.unwrap_or_default();
        let unit = str_at(row, 4)?.unwrap_or_default();
        let payload = str_at(row, 5)?;
        let prev = units.remove(unit);
        if let Some(u) = step(prev.clone(), seq, at, kind, payload) {
            units.insert(unit.to_owned(), u);
        } else if let Some(p) = prev {
            units.insert(unit.to_owned(), p);
        }
    }
    if let Some(done) = run {
        flush(&done, &mut units)?;
    }
    Ok(written)
}

/// Column `i` of `row` as borrowed text (`None`: NULL), without a
/// `String` per column: the backfill reads millions of events.
fn str_at<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Whether the database behind `conn` has the summary (schema 4 or later).
pub fn present(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'unit_executions'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn a_unit_starts_at_its_first_start_and_ends_with_its_exit_code_and_duration() {
        let u = step(None, 1, at(100), "unit.queued", None).unwrap();
        assert_eq!(
            (u.status, u.started_at, u.saw_start),
            ("pending", at(100), false)
        );
        let u = step(Some(u), 2, at(110), "unit.started", None).unwrap();
        let u = step(Some(u), 3, at(115), "unit.started", None).unwrap();
        assert_eq!((u.status, u.started_at), ("running", at(110)));
        let u = step(
            Some(u),
            4,
            at(140),
            "unit.failed",
            Some(r#"{"exit_code":3}"#),
        )
        .unwrap();
        assert_eq!(
            (u.status, u.exit_code, u.duration_ms, u.ended_at, u.last_seq),
            ("failed", Some(3), Some(30_000.0), Some(at(140)), 4)
        );
        assert_eq!(step(Some(u.clone()), 5, at(150), "unit.note", None), None);
    }

    #[test]
    fn an_imported_duration_wins_over_the_event_times() {
        let u = step(
            None,
            1,
            at(5),
            "unit.completed",
            Some(r#"{"exit_code":0,"duration_ms":1234.5}"#),
        )
        .unwrap();
        assert_eq!(
            (u.status, u.exit_code, u.duration_ms),
            ("success", Some(0), Some(1234.5))
        );
    }
}
