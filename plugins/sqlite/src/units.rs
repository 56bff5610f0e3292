//! Per-unit summaries of one run (`GET /api/history/runs/{id}/units`): the
//! web UI's Gantt of units over time, without sending every event of a huge
//! run.
//!
//! One aggregate over the run's events by unit and type (the existing
//! `(run_id, seq)` index selects them; the grouping is SQLite's temporary
//! b-tree over that slice), folded per unit here, then point lookups for
//! the times of each unit's first, last and first `unit.started` events. No
//! index of its own: one on `(run_id, unit, type, seq, task)` measured about
//! twice as fast at 100,000 events, not worth its cost on every insert.
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

/// What one `(unit, type)` group of the run's events adds up to.
struct Group {
    unit: String,
    kind: String,
    first_seq: i64,
    last_seq: i64,
    count: i64,
    max_task: Option<i64>,
}

/// A unit's groups folded together.
#[derive(Default)]
struct Acc {
    first_seq: i64,
    last_seq: i64,
    events: i64,
    /// The last state event: its seq and type.
    state: Option<(i64, String)>,
    started_seq: Option<i64>,
    pr_seq: Option<i64>,
    tasks_done: i64,
    retries: i64,
}

/// Every unit that has events in `run_id`, in the order of their first
/// event. Events with no unit (or an empty one) are not units. Fails with
/// `NotFound` for an unknown run (a run without unit events has none).
///
/// One `GROUP BY unit, type` over the run's events (plain MIN, MAX and
/// COUNT: no per-row expression, which measured twice as slow), folded per
/// unit here, then one point lookup per time through the `(run_id, seq)`
/// index.
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
    let groups: Vec<Group> = tx
        .prepare_cached(SUMMARIES_SQL)?
        .query_map([run_id], |r| {
            Ok(Group {
                unit: r.get(0)?,
                kind: r.get(1)?,
                first_seq: r.get(2)?,
                last_seq: r.get(3)?,
                count: r.get(4)?,
                max_task: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;

    let mut order: Vec<String> = Vec::new();
    let mut units: std::collections::HashMap<String, Acc> = std::collections::HashMap::new();
    for g in groups {
        let acc = units.entry(g.unit.clone()).or_insert_with(|| {
            order.push(g.unit.clone());
            Acc {
                first_seq: i64::MAX,
                last_seq: i64::MIN,
                ..Acc::default()
            }
        });
        acc.first_seq = acc.first_seq.min(g.first_seq);
        acc.last_seq = acc.last_seq.max(g.last_seq);
        acc.events += g.count;
        if UNIT_STATES.iter().any(|(t, _)| *t == g.kind)
            && acc.state.as_ref().is_none_or(|(seq, _)| g.last_seq > *seq)
        {
            acc.state = Some((g.last_seq, g.kind.clone()));
        }
        match g.kind.as_str() {
            "unit.started" => acc.started_seq = Some(g.first_seq),
            "pr.created" => acc.pr_seq = Some(g.last_seq),
            "task.completed" => acc.tasks_done = g.max_task.unwrap_or(0).max(0),
            "task.retry" => acc.retries = g.count,
            _ => {}
        }
    }

    let mut time_at =
        tx.prepare_cached("SELECT time FROM events WHERE run_id = ?1 AND seq = ?2 LIMIT 1")?;
    let mut time = |seq: i64| -> Result<String> {
        Ok(time_at
            .query_row(rusqlite::params![run_id, seq], |r| r.get(0))
            .optional()?
            .unwrap_or_default())
    };
    let count = |n: i64| n.max(0) as u64;
    let mut out = Vec::with_capacity(order.len());
    for unit in order {
        let Some(acc) = units.remove(&unit) else {
            continue;
        };
        let state_seq = acc.state.as_ref().map(|(seq, _)| *seq);
        let pr_after = matches!((acc.pr_seq, state_seq), (Some(pr), Some(st)) if pr > st);
        let status_event = acc.state.map(|(_, kind)| kind);
        out.push(UnitSummary {
            status: status_after(status_event.as_deref(), pr_after).to_owned(),
            status_event,
            first_seq: count(acc.first_seq),
            first_time: time(acc.first_seq)?,
            last_seq: count(acc.last_seq),
            last_time: time(acc.last_seq)?,
            started_time: match acc.started_seq {
                Some(seq) => Some(time(seq)?),
                None => None,
            },
            events: count(acc.events),
            tasks_done: count(acc.tasks_done),
            retries: count(acc.retries),
            unit,
        });
    }
    drop(time_at);
    out.sort_by_key(|u| u.first_seq);
    tx.finish()?;
    Ok(out)
}

/// The aggregate of [`unit_summaries`] (`?1` is the run id): one row per
/// unit and event type. Public so that tests can `EXPLAIN` it.
pub const SUMMARIES_SQL: &str = "SELECT unit, type, MIN(seq), MAX(seq), COUNT(*), MAX(task) \
     FROM events WHERE run_id = ?1 AND unit IS NOT NULL AND unit <> '' \
     GROUP BY unit, type";
