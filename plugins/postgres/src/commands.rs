//! The write commands, each inside one transaction the caller commits.
//!
//! **Seq under concurrent writers.** Every command that touches a run first
//! locks its `runs` row (`SELECT … FOR UPDATE`) and numbers events after its
//! `last_seq`, which it raises in the same transaction. A second writer of
//! the same run — another connection, another daemon, another machine —
//! waits on that row lock until the first commits, then reads the new
//! `last_seq`: seq stays contiguous with no gap and no duplicate, and
//! writers of different runs never wait for each other. `UNIQUE (run_id,
//! seq)` backs it up.

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::time::{format_time, millis_between, parse_time};
use otto_hooks_sqlite::{
    Completion, DbError, DeleteReport, EventRow, ExpirePreview, ImportOutcome, ImportedRun,
    NewEvent, NewRun, RunRow, SeqRange, validate,
};
use postgres::Transaction;

use crate::error::pg;
use crate::query::{self, raw_payload};

type Result<T> = std::result::Result<T, DbError>;

/// The state of a run a command needs, read under its row lock.
struct RunState {
    status: String,
    last_seq: u64,
    active_since: Option<String>,
    updated_at: Option<String>,
}

fn not_found(run_id: &str) -> DbError {
    DbError::NotFound(format!("no run {run_id:?} in the PostgreSQL history"))
}

/// Locks the run's row until the transaction ends, and reads its state.
fn lock_run(tx: &mut Transaction<'_>, run_id: &str) -> Result<RunState> {
    let row = tx
        .query_opt(
            "SELECT status, last_seq, active_since, updated_at FROM runs WHERE id = $1 FOR UPDATE",
            &[&run_id],
        )
        .map_err(pg)?
        .ok_or_else(|| not_found(run_id))?;
    Ok(RunState {
        status: row.get(0),
        last_seq: row.get::<_, i64>(1).max(0) as u64,
        active_since: row.get(2),
        updated_at: row.get(3),
    })
}

/// The later of two stored times (they sort as text).
fn later(a: Option<String>, b: &str) -> String {
    match a {
        Some(a) if a.as_str() > b => a,
        _ => b.to_owned(),
    }
}

fn period_ms(since: Option<&str>, at: Timestamp) -> i64 {
    since
        .and_then(|s| parse_time(s).ok())
        .map_or(0, |s| millis_between(s, at))
}

/// Records a new run, status `running`.
pub(crate) fn start_run(tx: &mut Transaction<'_>, run: &NewRun) -> Result<()> {
    validate::new_run(run)?;
    let started = format_time(run.started_at)?;
    let inserted = tx
        .execute(
            "INSERT INTO runs (id, project, repo_path, started_at, status, parallelism, total_units,
                               tasks_dir, dry_run, active_since, updated_at)
             VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $4, $4)
             ON CONFLICT (id) DO NOTHING",
            &[
                &run.id,
                &run.project,
                &run.repo_path,
                &started,
                &i64::from(run.parallelism),
                &i64::from(run.total_units),
                &run.tasks_dir,
                &run.dry_run,
            ],
        )
        .map_err(pg)?;
    if inserted == 0 {
        return Err(DbError::AlreadyExists(format!(
            "run {:?} already exists in the PostgreSQL history",
            run.id
        )));
    }
    Ok(())
}

/// Records a new run with the dependency graph of an `orch.started`-shaped
/// payload (`{"graph": {nodes, edges, levels}}`) in the same transaction
/// (history.db's `start_run_with_graph`).
pub(crate) fn start_run_with_graph(
    tx: &mut Transaction<'_>,
    run: &NewRun,
    graph: Option<&str>,
) -> Result<()> {
    start_run(tx, run)?;
    store_graph(tx, &run.id, graph)
}

/// Appends `events` after the run's `last_seq` (under its row lock); returns
/// their range and the stored rows (for live streams).
pub(crate) fn append_events(
    tx: &mut Transaction<'_>,
    run_id: &str,
    events: &[NewEvent],
) -> Result<(SeqRange, Vec<EventRow>)> {
    let mut times = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        validate::event(i, ev)?;
        times.push(
            format_time(ev.time)
                .map_err(|e| DbError::Invalid(format!("event {i} of the batch: {e}")))?,
        );
    }
    let state = lock_run(tx, run_id)?;
    let first = state.last_seq + 1;
    if events.is_empty() {
        return Ok((
            SeqRange {
                first,
                last: state.last_seq,
            },
            Vec::new(),
        ));
    }
    let seqs: Vec<i64> = (0..events.len() as u64)
        .map(|i| (first + i) as i64)
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let units: Vec<Option<&str>> = events.iter().map(|e| e.unit.as_deref()).collect();
    let tasks: Vec<Option<i64>> = events.iter().map(|e| e.task).collect();
    let prs: Vec<Option<i64>> = events.iter().map(|e| e.pr).collect();
    let payloads: Vec<Option<&str>> = events.iter().map(|e| e.payload.as_deref()).collect();
    let errors: Vec<Option<&str>> = events.iter().map(|e| e.error.as_deref()).collect();
    // One statement for the whole batch (one round trip).
    let ids = tx
        .query(
            "INSERT INTO events (run_id, seq, time, type, unit, task, pr, payload, error)
             SELECT $1, s, t, ty, u, ta, p, pl, er
             FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[],
                         $7::BIGINT[], $8::TEXT[], $9::TEXT[])
                  WITH ORDINALITY AS x(s, t, ty, u, ta, p, pl, er, n)
             ORDER BY n
             RETURNING id, seq",
            &[
                &run_id, &seqs, &times, &kinds, &units, &tasks, &prs, &payloads, &errors,
            ],
        )
        .map_err(pg)?;
    let mut by_seq: Vec<(i64, i64)> = ids.iter().map(|r| (r.get(1), r.get(0))).collect();
    by_seq.sort_unstable();

    let (mut completed, mut failed, mut blocked) = (0i64, 0i64, 0i64);
    let mut latest = state.updated_at;
    let mut rows = Vec::with_capacity(events.len());
    for ((ev, time), (seq, id)) in events.iter().zip(&times).zip(by_seq) {
        match ev.kind.as_str() {
            "unit.completed" => completed += 1,
            "unit.failed" => failed += 1,
            "unit.blocked" => blocked += 1,
            // A dry run carries its graph in `orch.dryrun.started`.
            "orch.started" | "orch.dryrun.started" => {
                store_graph(tx, run_id, ev.payload.as_deref())?;
            }
            _ => {}
        }
        latest = Some(later(latest, time));
        rows.push(EventRow {
            id,
            run_id: run_id.to_owned(),
            seq: seq as u64,
            time: ev.time,
            kind: ev.kind.clone(),
            unit: ev.unit.clone(),
            task: ev.task,
            pr: ev.pr,
            payload: raw_payload(ev.payload.clone())?,
            error: ev.error.clone(),
        });
    }
    let last = state.last_seq + events.len() as u64;
    tx.execute(
        "UPDATE runs SET last_seq = $1, event_count = event_count + $2,
                completed_units = completed_units + $3,
                failed_units = failed_units + $4,
                blocked_units = blocked_units + $5,
                updated_at = $6
         WHERE id = $7",
        &[
            &(last as i64),
            &(events.len() as i64),
            &completed,
            &failed,
            &blocked,
            &latest,
            &run_id,
        ],
    )
    .map_err(pg)?;
    Ok((SeqRange { first, last }, rows))
}

/// [`append_events`] for a posted batch: a `run.stopped` or `run.resumed`
/// event among them changes the run as history.db's rule says (choo's
/// HISTORY-API posts these markers as plain events):
///
/// - `run.stopped` on a running run: status `stopped`, `completed_at` the
///   event's time, its running period closed into `active_ms`; on a run
///   that is not running, nothing (the event is kept);
/// - `run.resumed`: one more `resume_count`; a run not marked running
///   becomes running (`completed_at` and `error` cleared, a running period
///   opened at the event's time); one still marked running (its stop never
///   arrived) keeps its open period.
pub(crate) fn append_posted(
    tx: &mut Transaction<'_>,
    run_id: &str,
    events: &[NewEvent],
) -> Result<(SeqRange, Vec<EventRow>)> {
    let stored = append_events(tx, run_id, events)?;
    for ev in events {
        if matches!(ev.kind.as_str(), "run.stopped" | "run.resumed") {
            apply_run_marker(tx, run_id, &ev.kind, ev.time)?;
        }
    }
    Ok(stored)
}

/// The run change of one posted marker (see [`append_posted`]).
fn apply_run_marker(
    tx: &mut Transaction<'_>,
    run_id: &str,
    kind: &str,
    at: Timestamp,
) -> Result<()> {
    let state = lock_run(tx, run_id)?;
    let at_text = format_time(at)?;
    match (kind, state.status.as_str()) {
        ("run.stopped", "running") => {
            tx.execute(
                "UPDATE runs SET status = 'stopped', completed_at = $1,
                        active_ms = active_ms + $2, active_since = NULL,
                        updated_at = GREATEST(COALESCE(updated_at, ''), $1)
                 WHERE id = $3",
                &[
                    &at_text,
                    &period_ms(state.active_since.as_deref(), at),
                    &run_id,
                ],
            )
            .map_err(pg)?;
        }
        ("run.resumed", "running") => {
            tx.execute(
                "UPDATE runs SET resume_count = resume_count + 1 WHERE id = $1",
                &[&run_id],
            )
            .map_err(pg)?;
        }
        ("run.resumed", _) => {
            tx.execute(
                "UPDATE runs SET status = 'running', completed_at = NULL, error = NULL,
                        resume_count = resume_count + 1, active_since = $1,
                        updated_at = GREATEST(COALESCE(updated_at, ''), $1)
                 WHERE id = $2",
                &[&at_text, &run_id],
            )
            .map_err(pg)?;
        }
        _ => {}
    }
    Ok(())
}

/// Upserts the graph of an `orch.started` payload; no graph, nothing.
fn store_graph(tx: &mut Transaction<'_>, run_id: &str, payload: Option<&str>) -> Result<()> {
    let Some(payload) = payload else {
        return Ok(());
    };
    let value: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| DbError::Invalid(format!("orch.started payload is not valid JSON ({e})")))?;
    let Some(graph) = value.get("graph").filter(|g| g.is_object()) else {
        return Ok(());
    };
    let part = |name: &str| -> String {
        graph
            .get(name)
            .map_or_else(|| "[]".to_owned(), |v| v.to_string())
    };
    tx.execute(
        "INSERT INTO graphs (run_id, nodes, edges, levels) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run_id) DO UPDATE SET
            nodes = excluded.nodes, edges = excluded.edges, levels = excluded.levels",
        &[&run_id, &part("nodes"), &part("edges"), &part("levels")],
    )
    .map_err(pg)?;
    Ok(())
}

/// Records how a run ended.
pub(crate) fn complete_run(tx: &mut Transaction<'_>, c: &Completion) -> Result<()> {
    validate::completion_status(&c.status)?;
    let state = lock_run(tx, &c.run_id)?;
    let ended = format_time(c.ended_at)?;
    let add_ms = period_ms(state.active_since.as_deref(), c.ended_at);
    let opt = |n: Option<u32>| n.map(i64::from);
    tx.execute(
        "UPDATE runs SET status = $1, completed_at = $2, active_ms = active_ms + $3,
                active_since = NULL,
                completed_units = COALESCE($4, completed_units),
                failed_units = COALESCE($5, failed_units),
                blocked_units = COALESCE($6, blocked_units),
                error = $7, updated_at = $8
         WHERE id = $9",
        &[
            &c.status,
            &ended,
            &add_ms,
            &opt(c.completed_units),
            &opt(c.failed_units),
            &opt(c.blocked_units),
            &c.error,
            &later(state.updated_at, &ended),
            &c.run_id,
        ],
    )
    .map_err(pg)?;
    Ok(())
}

/// [`complete_run`] plus its `run.<status>` event (history.db's payload).
pub(crate) fn complete_run_recorded(
    tx: &mut Transaction<'_>,
    c: &Completion,
) -> Result<(u64, Vec<EventRow>)> {
    validate::completion_status(&c.status)?;
    let mut payload = serde_json::Map::new();
    payload.insert("status".into(), c.status.clone().into());
    for (key, value) in [
        ("completed_units", c.completed_units),
        ("failed_units", c.failed_units),
        ("blocked_units", c.blocked_units),
    ] {
        if let Some(n) = value {
            payload.insert(key.into(), n.into());
        }
    }
    if c.status == "stopped" {
        payload.insert("reason".into(), c.error.clone().into());
    }
    let mut ev = NewEvent::new(c.ended_at, format!("run.{}", c.status));
    ev.payload = Some(serde_json::Value::Object(payload).to_string());
    ev.error = c.error.clone();
    let (range, rows) = append_events(tx, &c.run_id, &[ev])?;
    complete_run(tx, c)?;
    Ok((range.last, rows))
}

/// Stops a running run; returns the `run.stopped` seq.
pub(crate) fn stop_run(
    tx: &mut Transaction<'_>,
    run_id: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<(u64, Vec<EventRow>)> {
    let state = lock_run(tx, run_id)?;
    if state.status != "running" {
        return Err(DbError::Invalid(format!(
            "run {run_id:?} is {}; only a running run can be stopped",
            state.status
        )));
    }
    let mut ev = NewEvent::new(at, "run.stopped");
    ev.payload = Some(serde_json::json!({ "reason": reason }).to_string());
    let (range, rows) = append_events(tx, run_id, &[ev])?;
    let at_text = format_time(at)?;
    let updated = later(
        tx.query_one("SELECT updated_at FROM runs WHERE id = $1", &[&run_id])
            .map_err(pg)?
            .get(0),
        &at_text,
    );
    tx.execute(
        "UPDATE runs SET status = 'stopped', completed_at = $1, active_ms = active_ms + $2,
                active_since = NULL, updated_at = $3
         WHERE id = $4",
        &[
            &at_text,
            &period_ms(state.active_since.as_deref(), at),
            &updated,
            &run_id,
        ],
    )
    .map_err(pg)?;
    Ok((range.last, rows))
}

/// Resumes a stopped or failed run; returns its last seq before.
pub(crate) fn resume_run(
    tx: &mut Transaction<'_>,
    run_id: &str,
    at: Timestamp,
) -> Result<(u64, Vec<EventRow>)> {
    let state = lock_run(tx, run_id)?;
    if state.status != "stopped" && state.status != "failed" {
        return Err(DbError::Invalid(format!(
            "run {run_id:?} is {}; only a stopped or failed run can be resumed",
            state.status
        )));
    }
    let from = state.last_seq;
    let mut ev = NewEvent::new(at, "run.resumed");
    ev.payload = Some(serde_json::json!({ "resumed_from_seq": from }).to_string());
    let (_, rows) = append_events(tx, run_id, &[ev])?;
    let at_text = format_time(at)?;
    let updated = later(
        tx.query_one("SELECT updated_at FROM runs WHERE id = $1", &[&run_id])
            .map_err(pg)?
            .get(0),
        &at_text,
    );
    tx.execute(
        "UPDATE runs SET status = 'running', completed_at = NULL, error = NULL,
                resume_count = resume_count + 1, active_since = $1, updated_at = $2
         WHERE id = $3",
        &[&at_text, &updated, &run_id],
    )
    .map_err(pg)?;
    Ok((from, rows))
}

/// Deletes the named runs that are not running, with their events and graphs.
pub(crate) fn delete_runs(tx: &mut Transaction<'_>, ids: &[String]) -> Result<DeleteReport> {
    let mut report = DeleteReport::default();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let status: Option<String> = tx
            .query_opt("SELECT status FROM runs WHERE id = $1 FOR UPDATE", &[id])
            .map_err(pg)?
            .map(|r| r.get(0));
        match status.as_deref() {
            None => report.not_found.push(id.clone()),
            Some("running") => report.skipped_running.push(id.clone()),
            Some(_) => report.deleted.push(id.clone()),
        }
    }
    report.events_deleted = delete_ids(tx, &report.deleted)?;
    Ok(report)
}

/// Deletes runs by id with their events and graphs; returns the events deleted.
fn delete_ids(tx: &mut Transaction<'_>, ids: &[String]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let events = tx
        .execute("DELETE FROM events WHERE run_id = ANY($1)", &[&ids])
        .map_err(pg)?;
    tx.execute("DELETE FROM graphs WHERE run_id = ANY($1)", &[&ids])
        .map_err(pg)?;
    tx.execute("DELETE FROM runs WHERE id = ANY($1)", &[&ids])
        .map_err(pg)?;
    Ok(events)
}

/// Which runs retention deletes: not running, ended before `$1`. Shared by
/// [`expire_chunk`] and [`expire_preview`].
const EXPIRED: &str =
    "FROM runs WHERE status <> 'running' AND COALESCE(completed_at, started_at) < $1";

/// Deletes up to `chunk` expired runs, oldest first. Rows another writer
/// holds are skipped (`SKIP LOCKED`): the next pass gets them.
pub(crate) fn expire_chunk(
    tx: &mut Transaction<'_>,
    cutoff: &str,
    chunk: usize,
) -> Result<(Vec<String>, u64)> {
    let ids: Vec<String> = tx
        .query(
            &format!(
                "SELECT id {EXPIRED} ORDER BY COALESCE(completed_at, started_at), id \
                 LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&cutoff, &(chunk.max(1) as i64)],
        )
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let events = delete_ids(tx, &ids)?;
    Ok((ids, events))
}

/// What a retention pass with `cutoff` would delete.
pub(crate) fn expire_preview(
    c: &mut impl postgres::GenericClient,
    cutoff: &str,
) -> Result<ExpirePreview> {
    let mut preview = ExpirePreview::default();
    for row in c
        .query(
            &format!(
                "SELECT id, last_seq {EXPIRED} ORDER BY COALESCE(completed_at, started_at), id"
            ),
            &[&cutoff],
        )
        .map_err(pg)?
    {
        preview.run_ids.push(row.get(0));
        preview.events += row.get::<_, i64>(1).max(0) as u64;
    }
    Ok(preview)
}

/// Everything an import compares to decide `Unchanged`.
#[derive(PartialEq)]
struct Snapshot {
    run: RunRow,
    events: Vec<EventKey>,
    graph: Option<(String, String, String)>,
}

type EventKey = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn snapshot(tx: &mut Transaction<'_>, run_id: &str) -> Result<Option<Snapshot>> {
    let Some(run) = query::get_run(tx, run_id)? else {
        return Ok(None);
    };
    let events = tx
        .query(
            "SELECT seq, time, type, unit, task, pr, payload, error FROM events
             WHERE run_id = $1 ORDER BY seq",
            &[&run_id],
        )
        .map_err(pg)?
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect();
    let graph = tx
        .query_opt(
            "SELECT nodes, edges, levels FROM graphs WHERE run_id = $1",
            &[&run_id],
        )
        .map_err(pg)?
        .map(|r| (r.get(0), r.get(1), r.get(2)));
    Ok(Some(Snapshot { run, events, graph }))
}

/// Imports a whole run: inserted, replaced when its content differs, left
/// alone (same event ids) when the same.
pub(crate) fn import_run(tx: &mut Transaction<'_>, imp: &ImportedRun) -> Result<ImportOutcome> {
    validate::new_run(&imp.run)?;
    if let Some(c) = &imp.completion {
        if c.run_id != imp.run.id {
            return Err(DbError::Invalid(format!(
                "import of run {:?}: its completion names run {:?}",
                imp.run.id, c.run_id
            )));
        }
        validate::completion_status(&c.status)?;
    }
    let id = imp.run.id.as_str();
    // Lock an existing row first: two imports of one run queue up.
    tx.execute("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", &[&id])
        .map_err(pg)?;
    let before = snapshot(tx, id)?;
    let mut sp = tx.savepoint("import_run").map_err(pg)?;
    if before.is_some() {
        delete_ids(&mut sp, &[id.to_owned()])?;
    }
    start_run(&mut sp, &imp.run)?;
    append_events(&mut sp, id, &imp.events)?;
    if let Some(c) = &imp.completion {
        complete_run(&mut sp, c)?;
    }
    recompute_activity(&mut sp, id)?;
    let outcome = match &before {
        None => ImportOutcome::Inserted,
        Some(old) if snapshot(&mut sp, id)?.as_ref() == Some(old) => ImportOutcome::Unchanged,
        Some(_) => ImportOutcome::Updated,
    };
    if outcome == ImportOutcome::Unchanged {
        // Keep the original rows (and their event ids) untouched.
        sp.rollback().map_err(pg)?;
    } else {
        sp.commit().map_err(pg)?;
    }
    Ok(outcome)
}

/// Recomputes `resume_count`, `active_ms` and `active_since` from the run's
/// stop/resume events (history.db's rule: running periods only; a running
/// run's open period goes to `active_since`).
fn recompute_activity(tx: &mut Transaction<'_>, run_id: &str) -> Result<()> {
    let row = tx
        .query_one(
            "SELECT status, started_at, completed_at FROM runs WHERE id = $1",
            &[&run_id],
        )
        .map_err(pg)?;
    let status: String = row.get(0);
    let Ok(started) = parse_time(row.get(1)) else {
        return Ok(());
    };
    let completed = row
        .get::<_, Option<String>>(2)
        .and_then(|c| parse_time(&c).ok());
    let points = tx
        .query(
            "SELECT type, time FROM events
             WHERE run_id = $1 AND type IN ('run.stopped', 'run.resumed') ORDER BY seq",
            &[&run_id],
        )
        .map_err(pg)?;
    let mut running = true;
    let mut since = started;
    let mut active_ms: i64 = 0;
    let mut resumes: i64 = 0;
    for p in points {
        let Ok(t) = parse_time(p.get(1)) else {
            continue;
        };
        if p.get::<_, &str>(0) == "run.stopped" {
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
    tx.execute(
        "UPDATE runs SET resume_count = $1, active_ms = $2, active_since = $3 WHERE id = $4",
        &[&resumes, &active_ms, &active_since, &run_id],
    )
    .map_err(pg)?;
    Ok(())
}
