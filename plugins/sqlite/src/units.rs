//! Per-unit summaries of one run (`GET /api/history/runs/{id}/units`): the
//! web UI's Gantt of units over time, without reading every event of a huge
//! run.
//!
//! One aggregate over the run's events (the `(run_id, seq)` index selects
//! them; the grouping by unit is SQLite's temporary b-tree over that slice),
//! then a point lookup per unit for the times of its first, last and
//! state-changing events.
//!
//! The final status is the UI's (`status.js`, `deriveUnits`): the last of
//! the unit's state events decides it ([`status_after`]), and `pr.created`
//! after the last `unit.started` turns `in_progress` into `pr_open`. The
//! table [`UNIT_STATES`] is the page's `UNIT_STATE_OF` (core/tests/ui_logic.rs
//! checks they are equal), and the browser test of the waterfall checks that
//! the graph (replayed in the page) and the waterfall (from here) agree.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{DbError, Result};

/// The event types that set a unit's state, and the state each sets.
pub const UNIT_STATES: [(&str, &str); 6] = [
    ("unit.queued", "ready"),
    ("unit.started", "in_progress"),
    ("unit.completed", "complete"),
    ("unit.merged", "complete"),
    ("unit.failed", "failed"),
    ("unit.blocked", "blocked"),
];

/// The state a unit is in after its last state event `kind` (`pending`
/// when it had none), with `pr_after_start` when a `pr.created` came after
/// that event while the unit was in progress.
pub fn status_after(kind: Option<&str>, pr_after_start: bool) -> &'static str {
    let state = kind
        .and_then(|k| UNIT_STATES.iter().find(|(t, _)| *t == k))
        .map_or("pending", |(_, s)| *s);
    if state == "in_progress" && pr_after_start {
        "pr_open"
    } else {
        state
    }
}

/// One unit of a run, summarised from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitSummary {
    /// The unit id, as the events carry it.
    pub unit: String,
    /// Its final state (see [`status_after`]).
    pub status: String,
    /// The type of the event that decided it (`null`: none, `pending`).
    pub status_event: Option<String>,
    /// The seq and time (stored RFC 3339 UTC form) of its first event.
    pub first_seq: u64,
    /// See `first_seq`.
    pub first_time: String,
    /// The seq and time of its last event.
    pub last_seq: u64,
    /// See `last_seq`.
    pub last_time: String,
    /// When it first started (`unit.started`), if it did: before it the
    /// unit was waiting (queued).
    pub started_time: Option<String>,
    /// How many events name the unit.
    pub events: u64,
    /// The highest task number completed (`task.completed`), 0 when none.
    pub tasks_done: u64,
    /// How many `task.retry` events it had.
    pub retries: u64,
}

/// Every unit that has events in `run_id`, in the order of their first
/// event. Events with no unit (or an empty one) are not units. Fails with
/// `NotFound` for an unknown run (a run without unit events has none).
pub fn unit_summaries(conn: &Connection, run_id: &str) -> Result<Vec<UnitSummary>> {
    let tx = conn.unchecked_transaction()?;
    let known = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run_id], |_| Ok(()))
        .optional()?;
    if known.is_none() {
        return Err(DbError::NotFound(format!(
            "no run {run_id:?} in history.db"
        )));
    }
    let sql = summaries_sql();
    let count = |n: i64| n.max(0) as u64;
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map([run_id], |r| {
        let status_event: Option<String> = r.get(9)?;
        let pr_after: bool = r.get(10)?;
        Ok(UnitSummary {
            unit: r.get(0)?,
            status: status_after(status_event.as_deref(), pr_after).to_owned(),
            status_event,
            first_seq: count(r.get(1)?),
            last_seq: count(r.get(2)?),
            events: count(r.get(3)?),
            tasks_done: count(r.get(4)?),
            retries: count(r.get(5)?),
            first_time: r.get(6)?,
            last_time: r.get(7)?,
            started_time: r.get(8)?,
        })
    })?;
    let units = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    drop(stmt);
    tx.finish()?;
    Ok(units)
}

/// The query of [`unit_summaries`] (`?1` is the run id); public so that
/// tests can `EXPLAIN` it.
pub fn summaries_sql() -> String {
    let states = UNIT_STATES
        .iter()
        .map(|(t, _)| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let time_at = |alias: &str| {
        format!("(SELECT time FROM events WHERE run_id = ?1 AND seq = u.{alias} LIMIT 1)")
    };
    format!(
        "WITH u AS (
            SELECT unit, MIN(seq) AS first_seq, MAX(seq) AS last_seq, COUNT(*) AS n,
                   MAX(CASE WHEN type IN ({states}) THEN seq END) AS state_seq,
                   MIN(CASE WHEN type = 'unit.started' THEN seq END) AS started_seq,
                   MAX(CASE WHEN type = 'pr.created' THEN seq END) AS pr_seq,
                   COALESCE(MAX(CASE WHEN type = 'task.completed' AND task > 0 THEN task END), 0) AS done,
                   SUM(type = 'task.retry') AS retries
            FROM events
            WHERE run_id = ?1 AND unit IS NOT NULL AND unit <> ''
            GROUP BY unit
         )
         SELECT u.unit, u.first_seq, u.last_seq, u.n, u.done, u.retries,
                {first}, {last}, {started},
                (SELECT type FROM events WHERE run_id = ?1 AND seq = u.state_seq LIMIT 1),
                COALESCE(u.pr_seq > u.state_seq, 0)
         FROM u ORDER BY u.first_seq",
        first = time_at("first_seq"),
        last = time_at("last_seq"),
        started = time_at("started_seq"),
    )
}
