//! The ingest fast path: a batch of plain events in one statement.
//!
//! An append used to cost a round trip per step — lock the run, insert,
//! update the run's summary, notify — each parsed then executed (two round
//! trips per statement), between BEGIN and COMMIT. Here the steps are one
//! statement of data-modifying CTEs, sent with its parameter types
//! (`query_typed`: parse, bind and execute in one round trip):
//!
//! 1. `r` locks the run's row (`FOR UPDATE`) and reads `last_seq` — the
//!    same per-run lock as the other commands, so seq stays contiguous
//!    under concurrent writers: a second writer waits here, then reads the
//!    committed `last_seq` (READ COMMITTED re-reads a locked row's newest
//!    version);
//! 2. `ins` inserts the batch numbered after it;
//! 3. `up` raises the run's counters and `last_seq` (the row `r` locked);
//! 4. `note` sends the `NOTIFY` other daemons follow (delivered at COMMIT).
//!
//! With BEGIN and COMMIT that is three round trips per batch. Batches with
//! an event that does more — `orch.started` / `orch.dryrun.started` store
//! the graph, `run.stopped` / `run.resumed` change the run — take the
//! general path (module `commands`).

use otto_hooks_sqlite::time::format_time;
use otto_hooks_sqlite::{DbError, EventRow, NewEvent, SeqRange, validate};
use postgres::Transaction;
use postgres::types::{ToSql, Type};

use crate::error::pg;
use crate::query::raw_payload;

type Result<T> = std::result::Result<T, DbError>;

/// Whether `events` can take the fast path: some events, none with a side
/// effect beyond the run's counters (a graph, a run marker).
pub(crate) fn fits(events: &[NewEvent]) -> bool {
    !events.is_empty()
        && events.iter().all(|e| {
            !matches!(
                e.kind.as_str(),
                "orch.started" | "orch.dryrun.started" | "run.stopped" | "run.resumed"
            )
        })
}

const APPEND_SQL: &str = "WITH r AS (
    SELECT last_seq FROM runs WHERE id = $1 FOR UPDATE
), ins AS (
    INSERT INTO events (run_id, seq, time, type, unit, task, pr, payload, error)
    SELECT $1, r.last_seq + x.n, x.t, x.ty, x.u, x.ta, x.p, x.pl, x.er
    FROM r, unnest($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[],
                   $7::TEXT[], $8::TEXT[]) WITH ORDINALITY AS x(t, ty, u, ta, p, pl, er, n)
    RETURNING id, seq
), up AS (
    UPDATE runs SET last_seq = r.last_seq + $9, event_count = runs.event_count + $9,
        completed_units = runs.completed_units + $10,
        failed_units = runs.failed_units + $11,
        blocked_units = runs.blocked_units + $12,
        updated_at = GREATEST(COALESCE(runs.updated_at, ''), $13::TEXT)
    FROM r WHERE runs.id = $1
    RETURNING r.last_seq AS before
), note AS (
    SELECT pg_notify($14, $15 || ' ' || (before + 1) || ' ' || (before + $9) || ' ' || $1)
    FROM up
)
SELECT ins.id, ins.seq, (SELECT COUNT(*) FROM note) FROM ins";

/// Appends `events` (which [`fit`](fits)) to `run_id` in one statement and
/// notifies `channel` with `instance`'s note; returns their range and rows.
pub(crate) fn append(
    tx: &mut Transaction<'_>,
    run_id: &str,
    events: &[NewEvent],
    channel: &str,
    instance: &str,
) -> Result<(SeqRange, Vec<EventRow>)> {
    let mut times = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        validate::event(i, ev)?;
        times.push(
            format_time(ev.time)
                .map_err(|e| DbError::Invalid(format!("event {i} of the batch: {e}")))?,
        );
    }
    let count_of = |kind: &str| events.iter().filter(|e| e.kind == kind).count() as i64;
    let (completed, failed, blocked) = (
        count_of("unit.completed"),
        count_of("unit.failed"),
        count_of("unit.blocked"),
    );
    let latest = times.iter().max().cloned().unwrap_or_default();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let units: Vec<Option<&str>> = events.iter().map(|e| e.unit.as_deref()).collect();
    let tasks: Vec<Option<i64>> = events.iter().map(|e| e.task).collect();
    let prs: Vec<Option<i64>> = events.iter().map(|e| e.pr).collect();
    let payloads: Vec<Option<&str>> = events.iter().map(|e| e.payload.as_deref()).collect();
    let errors: Vec<Option<&str>> = events.iter().map(|e| e.error.as_deref()).collect();
    let n = events.len() as i64;
    let params: [(&(dyn ToSql + Sync), Type); 15] = [
        (&run_id, Type::TEXT),
        (&times, Type::TEXT_ARRAY),
        (&kinds, Type::TEXT_ARRAY),
        (&units, Type::TEXT_ARRAY),
        (&tasks, Type::INT8_ARRAY),
        (&prs, Type::INT8_ARRAY),
        (&payloads, Type::TEXT_ARRAY),
        (&errors, Type::TEXT_ARRAY),
        (&n, Type::INT8),
        (&completed, Type::INT8),
        (&failed, Type::INT8),
        (&blocked, Type::INT8),
        (&latest, Type::TEXT),
        (&channel, Type::TEXT),
        (&instance, Type::TEXT),
    ];
    let stored = tx.query_typed(APPEND_SQL, &params).map_err(pg)?;
    if stored.is_empty() {
        return Err(DbError::NotFound(format!(
            "no run {run_id:?} in the PostgreSQL history"
        )));
    }
    let mut by_seq: Vec<(i64, i64)> = stored.iter().map(|r| (r.get(1), r.get(0))).collect();
    by_seq.sort_unstable();
    let first = by_seq.first().map_or(0, |(s, _)| *s).max(0) as u64;
    let mut rows = Vec::with_capacity(events.len());
    for (ev, (seq, id)) in events.iter().zip(by_seq) {
        rows.push(EventRow {
            id,
            run_id: run_id.to_owned(),
            seq: seq.max(0) as u64,
            time: ev.time,
            kind: ev.kind.clone(),
            unit: ev.unit.clone(),
            task: ev.task,
            pr: ev.pr,
            payload: raw_payload(ev.payload.clone())?,
            error: ev.error.clone(),
        });
    }
    Ok((
        SeqRange {
            first,
            last: first + events.len() as u64 - 1,
        },
        rows,
    ))
}
