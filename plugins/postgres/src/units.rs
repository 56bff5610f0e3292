//! Per-unit summaries of one run on PostgreSQL (`GET
//! /api/history/runs/{id}/units`, the web UI's waterfall), with history.db's
//! answers (`otto_hooks_sqlite::units`, whose rules this follows: the last
//! state event decides a unit's status, a `pr.created` after it turns
//! `in_progress` into `pr_open`).
//!
//! One `GROUP BY unit, type` over the run's events (the `(run_id, seq)`
//! index selects them), folded per unit here, then one query for the times
//! of every unit's first, last and first `unit.started` events.

use std::collections::HashMap;

use otto_hooks_sqlite::units::{UNIT_STATES, status_after};
use otto_hooks_sqlite::{DbError, UnitSummary};
use postgres::GenericClient;

use crate::error::pg;

type Result<T> = std::result::Result<T, DbError>;

/// The aggregate: one row per unit and event type.
const SUMMARIES_SQL: &str = "SELECT unit, type, MIN(seq), MAX(seq), COUNT(*), MAX(task) \
     FROM events WHERE run_id = $1 AND unit IS NOT NULL AND unit <> '' \
     GROUP BY unit, type";

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
/// event; `NotFound` for an unknown run.
pub(crate) fn unit_summaries(c: &mut impl GenericClient, run_id: &str) -> Result<Vec<UnitSummary>> {
    crate::query::require_run(c, run_id)?;
    let mut units: HashMap<String, Acc> = HashMap::new();
    for row in c.query(SUMMARIES_SQL, &[&run_id]).map_err(pg)? {
        let (unit, kind): (String, String) = (row.get(0), row.get(1));
        let (first, last, n): (i64, i64, i64) = (row.get(2), row.get(3), row.get(4));
        let max_task: Option<i64> = row.get(5);
        let acc = units.entry(unit).or_insert_with(|| Acc {
            first_seq: i64::MAX,
            last_seq: i64::MIN,
            ..Acc::default()
        });
        acc.first_seq = acc.first_seq.min(first);
        acc.last_seq = acc.last_seq.max(last);
        acc.events += n;
        if UNIT_STATES.iter().any(|(t, _)| *t == kind)
            && acc.state.as_ref().is_none_or(|(seq, _)| last > *seq)
        {
            acc.state = Some((last, kind.clone()));
        }
        match kind.as_str() {
            "unit.started" => acc.started_seq = Some(first),
            "pr.created" => acc.pr_seq = Some(last),
            "task.completed" => acc.tasks_done = max_task.unwrap_or(0).max(0),
            "task.retry" => acc.retries = n,
            _ => {}
        }
    }

    // The times of every seq the summaries name, in one query.
    let mut seqs: Vec<i64> = units
        .values()
        .flat_map(|a| [Some(a.first_seq), Some(a.last_seq), a.started_seq])
        .flatten()
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let times: HashMap<i64, String> = c
        .query(
            "SELECT seq, time FROM events WHERE run_id = $1 AND seq = ANY($2)",
            &[&run_id, &seqs],
        )
        .map_err(pg)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let time = |seq: i64| times.get(&seq).cloned().unwrap_or_default();
    let count = |n: i64| n.max(0) as u64;

    let mut out: Vec<UnitSummary> = units
        .into_iter()
        .map(|(unit, acc)| {
            let state_seq = acc.state.as_ref().map(|(seq, _)| *seq);
            let pr_after = matches!((acc.pr_seq, state_seq), (Some(pr), Some(st)) if pr > st);
            let status_event = acc.state.map(|(_, kind)| kind);
            UnitSummary {
                status: status_after(status_event.as_deref(), pr_after).to_owned(),
                status_event,
                first_seq: count(acc.first_seq),
                first_time: time(acc.first_seq),
                last_seq: count(acc.last_seq),
                last_time: time(acc.last_seq),
                started_time: acc.started_seq.map(time),
                events: count(acc.events),
                tasks_done: count(acc.tasks_done),
                retries: count(acc.retries),
                unit,
            }
        })
        .collect();
    out.sort_by_key(|u| u.first_seq);
    Ok(out)
}
