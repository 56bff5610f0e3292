//! The write commands, each a function of a connection that is inside a
//! write transaction (the writer wraps every command in its own SAVEPOINT).
//! A command either does all of its work or returns an error; the caller
//! rolls the savepoint back on error.
//!
//! Summary columns on `runs` are updated here, by the same statements'
//! transaction as the events they summarise.

use otto_hooks_plugin_api::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::{DbError, Result};
use crate::executions;
use crate::model::{
    Completion, DeleteReport, ExpirePreview, ImportOutcome, ImportedRun, NewEvent, NewRun, RunRow,
    SeqRange,
};
use crate::query;
use crate::summary;
use crate::time::{format_time, millis_between, parse_time};
use crate::validate;

/// Ids per `IN (…)` statement when deleting (well under SQLite's variable limit).
const DELETE_BATCH: usize = 500;

/// The state of a run a command needs.
struct RunState {
    status: String,
    last_seq: u64,
    active_since: Option<String>,
    updated_at: Option<String>,
}

fn run_state(conn: &Connection, run_id: &str) -> Result<RunState> {
    conn.prepare_cached(
        "SELECT status, last_seq, active_since, updated_at FROM runs WHERE id = ?1",
    )?
    .query_row([run_id], |r| {
        Ok(RunState {
            status: r.get(0)?,
            last_seq: r.get::<_, i64>(1)?.max(0) as u64,
            active_since: r.get(2)?,
            updated_at: r.get(3)?,
        })
    })
    .optional()?
    .ok_or_else(|| not_found(run_id))
}

fn not_found(run_id: &str) -> DbError {
    DbError::NotFound(format!("no run {run_id:?} in history.db"))
}

/// The later of two stored times (stored times sort as text).
fn later(a: Option<String>, b: &str) -> String {
    match a {
        Some(a) if a.as_str() > b => a,
        _ => b.to_owned(),
    }
}

/// `active_ms` to add when a running period that began at `since` ends at `at`.
fn period_ms(since: Option<&str>, at: Timestamp) -> i64 {
    since
        .and_then(|s| parse_time(s).ok())
        .map_or(0, |s| millis_between(s, at))
}

/// Records a new run, status `running`.
pub fn start_run(conn: &Connection, run: &NewRun) -> Result<()> {
    validate::new_run(run)?;
    let exists = conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([&run.id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Err(DbError::AlreadyExists(format!(
            "run {:?} already exists in history.db",
            run.id
        )));
    }
    let started = format_time(run.started_at)?;
    conn.prepare_cached(
        "INSERT INTO runs (id, project, repo_path, started_at, status, parallelism, total_units,
                           completed_units, failed_units, blocked_units, tasks_dir, dry_run,
                           last_seq, event_count, resume_count, active_ms, active_since, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, 0, 0, 0, ?7, ?8, 0, 0, 0, 0, ?4, ?4)",
    )?
    .execute(params![
        run.id,
        run.project,
        run.repo_path,
        started,
        run.parallelism,
        run.total_units,
        run.tasks_dir,
        run.dry_run,
    ])?;
    Ok(())
}

/// Records a new run, like [`start_run`], with the dependency graph of an
/// `orch.started`-shaped payload (`{"graph": {nodes, edges, levels}}`) in
/// the same transaction: choo's `RunConfig.graph`, given at creation.
pub fn start_run_with_graph(conn: &Connection, run: &NewRun, graph: Option<&str>) -> Result<()> {
    start_run(conn, run)?;
    store_graph(conn, &run.id, graph)
}

/// Appends `events` to `run_id` with contiguous sequence numbers after the
/// run's `last_seq`. Validates every event before writing any.
///
/// A `run.stopped` or `run.resumed` event among them changes the run the way
/// [`stop_run`] and [`resume_run`] do (choo's HISTORY-API posts them as plain
/// events); see [`apply_run_marker`].
pub fn append_events(conn: &Connection, run_id: &str, events: &[NewEvent]) -> Result<SeqRange> {
    let range = insert_events(conn, run_id, events)?;
    for ev in events {
        if matches!(ev.kind.as_str(), "run.stopped" | "run.resumed") {
            apply_run_marker(conn, run_id, &ev.kind, ev.time)?;
        }
    }
    Ok(range)
}

/// The run change a posted `run.stopped` / `run.resumed` event records:
///
/// - `run.stopped` on a running run: status `stopped`, `completed_at` the
///   event's time, its running period closed into `active_ms` (as
///   [`stop_run`]). On a run that is not running it changes nothing (the
///   event is kept: a late or repeated marker must not lose history).
/// - `run.resumed`: one more `resume_count`, status `running`,
///   `completed_at` and `error` cleared, a running period opened (as
///   [`resume_run`]). On a run still marked running (its stop was never
///   recorded: a crash, or a Ctrl-C that could not reach the daemon) the
///   resume is counted and the open period kept.
fn apply_run_marker(conn: &Connection, run_id: &str, kind: &str, at: Timestamp) -> Result<()> {
    let state = run_state(conn, run_id)?;
    let at_text = format_time(at)?;
    match (kind, state.status.as_str()) {
        ("run.stopped", "running") => {
            mark_stopped(conn, run_id, at, &at_text, state.active_since.as_deref())?;
        }
        ("run.resumed", "running") => {
            conn.prepare_cached("UPDATE runs SET resume_count = resume_count + 1 WHERE id = ?1")?
                .execute([run_id])?;
        }
        ("run.resumed", _) => mark_resumed(conn, run_id, &at_text)?,
        _ => {}
    }
    Ok(())
}

/// Marks a running run stopped at `at`.
fn mark_stopped(
    conn: &Connection,
    run_id: &str,
    at: Timestamp,
    at_text: &str,
    active_since: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET status = 'stopped', completed_at = ?1, active_ms = active_ms + ?2,
                active_since = NULL, updated_at = MAX(COALESCE(updated_at, ''), ?1)
         WHERE id = ?3",
    )?
    .execute(params![at_text, period_ms(active_since, at), run_id])?;
    Ok(())
}

/// Marks a run running again from `at_text`, counting the resume.
fn mark_resumed(conn: &Connection, run_id: &str, at_text: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', completed_at = NULL, error = NULL,
                resume_count = resume_count + 1, active_since = ?1,
                updated_at = MAX(COALESCE(updated_at, ''), ?1)
         WHERE id = ?2",
    )?
    .execute(params![at_text, run_id])?;
    Ok(())
}

/// [`append_events`] without the run changes of `run.*` markers: for the
/// commands that record those changes themselves.
fn insert_events(conn: &Connection, run_id: &str, events: &[NewEvent]) -> Result<SeqRange> {
    let mut times = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        validate::event(i, ev)?;
        times.push(
            format_time(ev.time)
                .map_err(|e| DbError::Invalid(format!("event {i} of the batch: {e}")))?,
        );
    }
    let state = run_state(conn, run_id)?;
    let first = state.last_seq + 1;
    if events.is_empty() {
        return Ok(SeqRange {
            first,
            last: state.last_seq,
        });
    }

    let mut insert = conn.prepare_cached(
        "INSERT INTO events (run_id, seq, time, type, unit, task, pr, payload, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let (mut completed, mut failed, mut blocked) = (0i64, 0i64, 0i64);
    let mut latest = state.updated_at;
    let mut seq = state.last_seq;
    for (ev, time) in events.iter().zip(&times) {
        seq += 1;
        insert.execute(params![
            run_id, seq as i64, time, ev.kind, ev.unit, ev.task, ev.pr, ev.payload, ev.error,
        ])?;
        // The unit's execution summary changes with its event.
        executions::record(
            conn,
            run_id,
            seq as i64,
            ev.time,
            &ev.kind,
            ev.unit.as_deref(),
            ev.payload.as_deref(),
        )?;
        match ev.kind.as_str() {
            "unit.completed" => completed += 1,
            "unit.failed" => failed += 1,
            "unit.blocked" => blocked += 1,
            // A dry run carries its graph in `orch.dryrun.started`.
            "orch.started" | "orch.dryrun.started" => {
                store_graph(conn, run_id, ev.payload.as_deref())?
            }
            _ => {}
        }
        latest = Some(later(latest, time));
    }
    conn.prepare_cached(
        "UPDATE runs SET last_seq = ?1, event_count = event_count + ?2,
                completed_units = COALESCE(completed_units, 0) + ?3,
                failed_units = COALESCE(failed_units, 0) + ?4,
                blocked_units = COALESCE(blocked_units, 0) + ?5,
                updated_at = ?6
         WHERE id = ?7",
    )?
    .execute(params![
        seq as i64,
        events.len() as i64,
        completed,
        failed,
        blocked,
        latest,
        run_id
    ])?;
    Ok(SeqRange { first, last: seq })
}

/// Upserts the graph of an `orch.started` (or `orch.dryrun.started`) payload
/// (`{graph: {nodes, edges, levels}}`); a payload without a graph object is
/// ignored (choo's own allow-list redaction may have turned it into a string).
fn store_graph(conn: &Connection, run_id: &str, payload: Option<&str>) -> Result<()> {
    let Some(payload) = payload else {
        return Ok(());
    };
    let value: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| DbError::Invalid(format!("a graph payload is not valid JSON ({e})")))?;
    let Some(graph) = value.get("graph").filter(|g| g.is_object()) else {
        return Ok(());
    };
    let part = |name: &str| -> String {
        graph
            .get(name)
            .map_or_else(|| "[]".to_owned(), |v| v.to_string())
    };
    conn.prepare_cached(
        "INSERT INTO graphs (run_id, nodes, edges, levels) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(run_id) DO UPDATE SET
            nodes = excluded.nodes, edges = excluded.edges, levels = excluded.levels",
    )?
    .execute(params![
        run_id,
        part("nodes"),
        part("edges"),
        part("levels")
    ])?;
    Ok(())
}

/// Records how a run ended.
pub fn complete_run(conn: &Connection, c: &Completion) -> Result<()> {
    validate::completion_status(&c.status)?;
    let state = run_state(conn, &c.run_id)?;
    let ended = format_time(c.ended_at)?;
    let add_ms = period_ms(state.active_since.as_deref(), c.ended_at);
    conn.prepare_cached(
        "UPDATE runs SET status = ?1, completed_at = ?2, active_ms = active_ms + ?3,
                active_since = NULL,
                completed_units = COALESCE(?4, completed_units),
                failed_units = COALESCE(?5, failed_units),
                blocked_units = COALESCE(?6, blocked_units),
                error = ?7, updated_at = ?8
         WHERE id = ?9",
    )?
    .execute(params![
        c.status,
        ended,
        add_ms,
        c.completed_units,
        c.failed_units,
        c.blocked_units,
        c.error,
        later(state.updated_at, &ended),
        c.run_id,
    ])?;
    Ok(())
}

/// Records how a run ended, like [`complete_run`], and appends the event
/// that says so, in the same transaction: `run.completed`, `run.failed` or
/// `run.stopped`, its payload `{"status", "completed_units"?,
/// "failed_units"?, "blocked_units"?}` (plus `"reason"` for `run.stopped`),
/// its `error` the completion's. Returns the event's sequence number.
pub fn complete_run_recorded(conn: &Connection, c: &Completion) -> Result<u64> {
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
    let range = insert_events(conn, &c.run_id, &[ev])?;
    complete_run(conn, c)?;
    Ok(range.last)
}

/// Stops a running run: appends `run.stopped {reason}` and marks it stopped.
/// Returns the event's sequence number.
pub fn stop_run(
    conn: &Connection,
    run_id: &str,
    at: Timestamp,
    reason: Option<&str>,
) -> Result<u64> {
    let state = run_state(conn, run_id)?;
    if state.status != "running" {
        return Err(DbError::Invalid(format!(
            "run {run_id:?} is {}; only a running run can be stopped",
            state.status
        )));
    }
    let mut ev = NewEvent::new(at, "run.stopped");
    ev.payload = Some(serde_json::json!({ "reason": reason }).to_string());
    let range = insert_events(conn, run_id, &[ev])?;
    let at_text = format_time(at)?;
    mark_stopped(conn, run_id, at, &at_text, state.active_since.as_deref())?;
    Ok(range.last)
}

/// Resumes a stopped or failed run under the same id: appends
/// `run.resumed {resumed_from_seq}` and marks it running. Returns
/// `resumed_from_seq`, the run's last sequence number before the resume.
pub fn resume_run(conn: &Connection, run_id: &str, at: Timestamp) -> Result<u64> {
    let state = run_state(conn, run_id)?;
    if state.status != "stopped" && state.status != "failed" {
        return Err(DbError::Invalid(format!(
            "run {run_id:?} is {}; only a stopped or failed run can be resumed",
            state.status
        )));
    }
    let from = state.last_seq;
    let mut ev = NewEvent::new(at, "run.resumed");
    ev.payload = Some(serde_json::json!({ "resumed_from_seq": from }).to_string());
    insert_events(conn, run_id, &[ev])?;
    mark_resumed(conn, run_id, &format_time(at)?)?;
    Ok(from)
}

/// Deletes the named runs that are not running, with their events and graphs.
pub fn delete_runs(conn: &Connection, ids: &[String]) -> Result<DeleteReport> {
    let mut report = DeleteReport::default();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let status: Option<String> = conn
            .prepare_cached("SELECT status FROM runs WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        match status.as_deref() {
            None => report.not_found.push(id.clone()),
            Some("running") => report.skipped_running.push(id.clone()),
            Some(_) => report.deleted.push(id.clone()),
        }
    }
    report.events_deleted = delete_ids(conn, &report.deleted)?;
    Ok(report)
}

/// Deletes runs by id, their events first (one `IN (…)` statement per batch
/// of ids: far faster than a per-row cascade). Returns the events deleted.
pub(crate) fn delete_ids(conn: &Connection, ids: &[String]) -> Result<u64> {
    let mut events = 0u64;
    for batch in ids.chunks(DELETE_BATCH) {
        let marks = vec!["?"; batch.len()].join(",");
        let args = || params_from_iter(batch.iter());
        events += conn
            .prepare_cached(&format!("DELETE FROM events WHERE run_id IN ({marks})"))?
            .execute(args())? as u64;
        conn.prepare_cached(&format!(
            "DELETE FROM unit_executions WHERE run_id IN ({marks})"
        ))?
        .execute(args())?;
        conn.prepare_cached(&format!("DELETE FROM graphs WHERE run_id IN ({marks})"))?
            .execute(args())?;
        conn.prepare_cached(&format!("DELETE FROM runs WHERE id IN ({marks})"))?
            .execute(args())?;
    }
    Ok(events)
}

/// Which runs history retention deletes: not running, and ended
/// (`completed_at`, or `started_at` when a finished run has none) before
/// `?1`. Shared by [`expire_chunk`] and [`expire_preview`] so a dry run
/// names exactly the runs a real pass deletes.
const EXPIRED: &str =
    "FROM runs WHERE status != 'running' AND COALESCE(completed_at, started_at) < ?1";

/// Deletes up to `chunk` finished runs that ended before `cutoff` (a stored
/// time). Returns the ids deleted and the number of events deleted with them.
pub(crate) fn expire_chunk(
    conn: &Connection,
    cutoff: &str,
    chunk: usize,
) -> Result<(Vec<String>, u64)> {
    let ids: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT id {EXPIRED} ORDER BY COALESCE(completed_at, started_at) LIMIT ?2"
        ))?
        .query_map(params![cutoff, chunk as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let events = delete_ids(conn, &ids)?;
    Ok((ids, events))
}

/// The runs (oldest first) and event count a retention pass with `cutoff`
/// would delete, read from the summary columns only.
pub(crate) fn expire_preview(conn: &Connection, cutoff: &str) -> Result<ExpirePreview> {
    let mut preview = ExpirePreview::default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, last_seq {EXPIRED} ORDER BY COALESCE(completed_at, started_at)"
    ))?;
    let mut rows = stmt.query([cutoff])?;
    while let Some(row) = rows.next()? {
        preview.run_ids.push(row.get(0)?);
        preview.events += row.get::<_, Option<i64>>(1)?.unwrap_or(0).max(0) as u64;
    }
    Ok(preview)
}

/// Everything an import compares to decide `Unchanged`.
#[derive(PartialEq)]
struct Snapshot {
    run: RunRow,
    events: Vec<Vec<Value>>,
    graph: Option<Vec<Value>>,
}

fn snapshot(conn: &Connection, run_id: &str) -> Result<Option<Snapshot>> {
    let Some(run) = query::get_run(conn, run_id)? else {
        return Ok(None);
    };
    let events = conn
        .prepare_cached(
            "SELECT seq, time, type, unit, task, pr, payload, error FROM events
             WHERE run_id = ?1 ORDER BY seq",
        )?
        .query_map([run_id], |r| (0..8).map(|i| r.get::<_, Value>(i)).collect())?
        .collect::<rusqlite::Result<_>>()?;
    let graph = conn
        .prepare_cached("SELECT nodes, edges, levels FROM graphs WHERE run_id = ?1")?
        .query_row([run_id], |r| (0..3).map(|i| r.get::<_, Value>(i)).collect())
        .optional()?;
    Ok(Some(Snapshot { run, events, graph }))
}

/// Imports a whole run atomically: inserts it, or replaces the stored one
/// when its content differs, or changes nothing when it is the same.
pub fn import_run(conn: &Connection, imp: &ImportedRun) -> Result<ImportOutcome> {
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
    let before = snapshot(conn, id)?;
    conn.execute_batch("SAVEPOINT import_run")?;
    let write = || -> Result<()> {
        if before.is_some() {
            delete_ids(conn, &[id.to_owned()])?;
        }
        start_run(conn, &imp.run)?;
        // The imported completion and the recomputed summary below decide
        // the run's state, not its markers one by one.
        insert_events(conn, id, &imp.events)?;
        if let Some(c) = &imp.completion {
            complete_run(conn, c)?;
        }
        // Stop/resume events came in as plain events: derive the activity
        // summary from them.
        summary::recompute_activity(conn, id)
    };
    let outcome = write().and_then(|()| match &before {
        None => Ok(ImportOutcome::Inserted),
        Some(old) => Ok(if snapshot(conn, id)?.as_ref() == Some(old) {
            ImportOutcome::Unchanged
        } else {
            ImportOutcome::Updated
        }),
    });
    match outcome {
        Ok(ImportOutcome::Unchanged) | Err(_) => {
            // Unchanged: keep the original rows (and their event ids) untouched.
            conn.execute_batch("ROLLBACK TO import_run; RELEASE import_run")?;
        }
        Ok(_) => conn.execute_batch("RELEASE import_run")?,
    }
    outcome
}
