//! Reads, on read-only connections: run listing from the summary columns
//! only (never `events`), events by keyset on `(run_id, seq)`, graphs, stats.
//! Nothing here paginates with OFFSET.

use std::path::Path;

use otto_hooks_plugin_api::Timestamp;
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::cursor::RunCursor;
use crate::error::{DbError, Result};
use crate::migrate;
use crate::model::{DbStats, EventRow, Graph, RunRow};
use crate::time::{format_time, parse_time};

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this project.
    pub project: Option<String>,
    /// Only runs of this repository path.
    pub repo_path: Option<String>,
    /// Only runs with this status (`running`, `completed`, `failed`, `stopped`).
    pub status: Option<String>,
    /// Most runs per page (0 is taken as 1).
    pub limit: u32,
    /// Only runs after this cursor in the listing order (the previous page's `next`).
    pub before: Option<RunCursor>,
}

/// A page of runs, newest first (`started_at DESC, id DESC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRow>,
    /// The cursor for the next page, when there is one.
    pub next: Option<RunCursor>,
    /// Whether more runs follow.
    pub has_more: bool,
}

/// Which events of a run to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The run.
    pub run_id: String,
    /// Only types in this dotted family: `unit` matches `unit` and
    /// `unit.started` (not `units.x`); `task.validation` matches
    /// `task.validation.ok`; a prefix ending in `.` matches what starts with it.
    pub type_prefix: Option<String>,
    /// Only events of this unit.
    pub unit: Option<String>,
    /// Only events with `seq` greater than this (the previous page's last seq).
    pub after_seq: Option<u64>,
    /// Most events per page (0 is taken as 1).
    pub limit: u32,
}

/// A page of events, in `seq` order.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<EventRow>,
    /// Whether more events follow (ask again with `after_seq` = the last seq).
    pub has_more: bool,
}

/// The `runs` columns, in the order [`run_from_row`] reads them.
pub(crate) const RUN_COLUMNS: &str = "id, project, repo_path, started_at, completed_at, status, \
     parallelism, total_units, completed_units, failed_units, blocked_units, error, tasks_dir, \
     dry_run, last_seq, event_count, resume_count, active_ms, active_since, updated_at";

pub(crate) const EVENT_COLUMNS: &str =
    "id, run_id, seq, time, type, unit, task, pr, payload, error";

fn conversion(idx: usize, e: DbError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let text: String = row.get(idx)?;
    parse_time(&text).map_err(|e| conversion(idx, e))
}

fn opt_time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    match row.get::<_, Option<String>>(idx)? {
        Some(text) if !text.is_empty() => {
            parse_time(&text).map(Some).map_err(|e| conversion(idx, e))
        }
        _ => Ok(None),
    }
}

fn count_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, Option<i64>>(idx)?.unwrap_or(0).max(0) as u64)
}

fn small_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<u32> {
    Ok(u32::try_from(count_at(row, idx)?).unwrap_or(u32::MAX))
}

/// Reads a run from a row of `SELECT {RUN_COLUMNS}`.
pub(crate) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    let repo_path: String = row.get(2)?;
    Ok(RunRow {
        id: row.get(0)?,
        project: row
            .get::<_, Option<String>>(1)?
            .unwrap_or_else(|| repo_path.clone()),
        repo_path,
        started_at: time_at(row, 3)?,
        completed_at: opt_time_at(row, 4)?,
        status: row.get(5)?,
        parallelism: small_at(row, 6)?,
        total_units: small_at(row, 7)?,
        completed_units: small_at(row, 8)?,
        failed_units: small_at(row, 9)?,
        blocked_units: small_at(row, 10)?,
        error: row.get(11)?,
        tasks_dir: row.get(12)?,
        dry_run: row.get::<_, Option<i64>>(13)?.unwrap_or(0) != 0,
        last_seq: count_at(row, 14)?,
        event_count: count_at(row, 15)?,
        resume_count: small_at(row, 16)?,
        active_ms: count_at(row, 17)?,
        active_since: opt_time_at(row, 18)?,
        updated_at: opt_time_at(row, 19)?,
    })
}

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    let payload = match row.get::<_, Option<String>>(8)? {
        None => None,
        Some(text) => Some(match serde_json::from_str::<Box<RawValue>>(&text) {
            Ok(raw) => raw,
            // Not JSON (an older tool): hand it back as a JSON string.
            Err(_) => serde_json::value::to_raw_value(&text)
                .map_err(|e| conversion(8, DbError::Invalid(e.to_string())))?,
        }),
    };
    Ok(EventRow {
        id: row.get(0)?,
        run_id: row.get(1)?,
        seq: count_at(row, 2)?,
        time: time_at(row, 3)?,
        kind: row.get(4)?,
        unit: row.get(5)?,
        task: row.get(6)?,
        pr: row.get(7)?,
        payload,
        error: row.get(9)?,
    })
}

/// The `WHERE` conditions and arguments of a run filter (without the cursor).
fn run_conditions(filter: &RunFilter) -> (Vec<&'static str>, Vec<Value>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(p) = &filter.project {
        conds.push("project = ?");
        args.push(Value::Text(p.clone()));
    }
    if let Some(r) = &filter.repo_path {
        conds.push("repo_path = ?");
        args.push(Value::Text(r.clone()));
    }
    if let Some(s) = &filter.status {
        conds.push("status = ?");
        args.push(Value::Text(s.clone()));
    }
    (conds, args)
}

fn where_clause(conds: &[&str]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// One page of runs, newest first, from the cursor on.
pub fn list_runs(conn: &Connection, filter: &RunFilter) -> Result<RunPage> {
    list_runs_offset(conn, filter, 0)
}

/// Like [`list_runs`], after skipping `offset` runs (from the cursor on,
/// when there is one). For APIs that must keep `offset` paging; the cost
/// grows with `offset`, so prefer the cursor.
pub fn list_runs_offset(conn: &Connection, filter: &RunFilter, offset: u64) -> Result<RunPage> {
    let (mut conds, mut args) = run_conditions(filter);
    if let Some(c) = &filter.before {
        conds.push("(started_at, id) < (?, ?)");
        args.push(Value::Text(format_time(c.started_at)?));
        args.push(Value::Text(c.id.clone()));
    }
    let limit = filter.limit.max(1) as usize;
    args.push(Value::Integer(limit as i64 + 1));
    args.push(Value::Integer(offset.min(i64::MAX as u64) as i64));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs{} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
        where_clause(&conds)
    );
    let mut runs: Vec<RunRow> = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), run_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let has_more = runs.len() > limit;
    runs.truncate(limit);
    let next = if has_more {
        runs.last().map(|r| RunCursor {
            started_at: r.started_at,
            id: r.id.clone(),
        })
    } else {
        None
    };
    Ok(RunPage {
        runs,
        next,
        has_more,
    })
}

/// How many runs match the filter (its `limit` and `before` are ignored).
pub fn count_runs(conn: &Connection, filter: &RunFilter) -> Result<u64> {
    let (conds, args) = run_conditions(filter);
    let sql = format!("SELECT COUNT(*) FROM runs{}", where_clause(&conds));
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// One run, when it exists.
pub fn get_run(conn: &Connection, id: &str) -> Result<Option<RunRow>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?
        .query_row([id], run_from_row)
        .optional()?)
}

pub(crate) fn require_run(conn: &Connection, id: &str) -> Result<i64> {
    conn.prepare_cached("SELECT event_count FROM runs WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .map(|n| n.unwrap_or(0))
        .ok_or_else(|| DbError::NotFound(format!("no run {id:?} in history.db")))
}

/// The type/unit conditions of an event filter.
pub(crate) fn event_conditions(filter: &EventFilter) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    if let Some(prefix) = &filter.type_prefix {
        // substr() keeps the (run_id, seq) index walk; LIKE would treat `_` as a wildcard.
        if prefix.ends_with('.') {
            sql.push_str(" AND substr(type, 1, ?) = ?");
            args.push(Value::Integer(prefix.chars().count() as i64));
            args.push(Value::Text(prefix.clone()));
        } else {
            sql.push_str(" AND (type = ? OR substr(type, 1, ?) = ?)");
            args.push(Value::Text(prefix.clone()));
            args.push(Value::Integer(prefix.chars().count() as i64 + 1));
            args.push(Value::Text(format!("{prefix}.")));
        }
    }
    if let Some(unit) = &filter.unit {
        sql.push_str(" AND unit = ?");
        args.push(Value::Text(unit.clone()));
    }
    (sql, args)
}

/// One page of a run's events in `seq` order after `after_seq`.
/// Fails with `NotFound` for an unknown run.
pub fn events(conn: &Connection, filter: &EventFilter) -> Result<EventPage> {
    let tx = conn.unchecked_transaction()?;
    require_run(&tx, &filter.run_id)?;
    let (extra, extra_args) = event_conditions(filter);
    let limit = filter.limit.max(1) as usize;
    let mut args = vec![
        Value::Text(filter.run_id.clone()),
        Value::Integer(filter.after_seq.unwrap_or(0).min(i64::MAX as u64) as i64),
    ];
    args.extend(extra_args);
    args.push(Value::Integer(limit as i64 + 1));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ?{extra} ORDER BY seq LIMIT ?"
    );
    let mut events: Vec<EventRow> = tx
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), event_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    tx.finish()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// The run's events with `first <= seq <= last`, in `seq` order.
pub(crate) fn events_between(
    conn: &Connection,
    run_id: &str,
    first: u64,
    last: u64,
) -> Result<Vec<EventRow>> {
    let as_int = |n: u64| n.min(i64::MAX as u64) as i64;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq"
        ))?
        .query_map(
            rusqlite::params![run_id, as_int(first), as_int(last)],
            event_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?)
}

/// Events of every run with a database id greater than `after_id`, in id
/// (storage) order: at most `limit` (0 is taken as 1). Walks the primary key.
pub fn events_after_id(conn: &Connection, after_id: i64, limit: u32) -> Result<EventPage> {
    let limit = limit.max(1) as usize;
    let mut events: Vec<EventRow> = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?
        .query_map(
            rusqlite::params![after_id, limit as i64 + 1],
            event_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// The largest event id stored (0 when there is none).
pub fn last_event_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
}

/// How many events of the run match the filter (`after_seq` and `limit` are
/// ignored). Without type or unit filter this reads the run's summary only.
pub fn count_events(conn: &Connection, filter: &EventFilter) -> Result<u64> {
    let tx = conn.unchecked_transaction()?;
    let total = require_run(&tx, &filter.run_id)?;
    if filter.type_prefix.is_none() && filter.unit.is_none() {
        return Ok(total.max(0) as u64);
    }
    let (extra, extra_args) = event_conditions(filter);
    let mut args = vec![Value::Text(filter.run_id.clone())];
    args.extend(extra_args);
    let n: i64 = tx
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM events WHERE run_id = ?{extra}"
        ))?
        .query_row(params_from_iter(args), |r| r.get(0))?;
    tx.finish()?;
    Ok(n.max(0) as u64)
}

/// The run's dependency graph, when it has one.
pub fn graph(conn: &Connection, run_id: &str) -> Result<Option<Graph>> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached("SELECT nodes, edges, levels FROM graphs WHERE run_id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((nodes, edges, levels)) = row else {
        return Ok(None);
    };
    let parse = |what: &str, text: &str| {
        serde_json::from_str(text).map_err(|e| {
            DbError::Invalid(format!(
                "stored graph {what} of run {run_id:?} is not JSON ({e})"
            ))
        })
    };
    Ok(Some(Graph {
        nodes: parse("nodes", &nodes)?,
        edges: parse("edges", &edges)?,
        levels: parse("levels", &levels)?,
    }))
}

/// The run's `run.stopped` and `run.resumed` events, in order.
pub fn stop_resume_points(conn: &Connection, run_id: &str) -> Result<Vec<EventRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE run_id = ?1 AND type IN ('run.stopped', 'run.resumed') ORDER BY seq"
        ))?
        .query_map([run_id], event_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Counts and sizes.
pub fn stats(conn: &Connection, path: &Path) -> Result<DbStats> {
    let tx = conn.unchecked_transaction()?;
    let one = |sql: &str| -> Result<u64> {
        Ok(tx.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    };
    let stats = DbStats {
        runs: one("SELECT COUNT(*) FROM runs")?,
        events: one("SELECT COUNT(*) FROM events")?,
        schema_version: migrate::current_version(&tx)?,
        file_bytes: file_len(path),
        wal_bytes: file_len(&wal_path(path)),
        page_size: one("PRAGMA page_size")?,
        page_count: one("PRAGMA page_count")?,
        free_pages: one("PRAGMA freelist_count")?,
    };
    tx.finish()?;
    Ok(stats)
}

/// Per project: runs, the bytes of text their events hold (type, unit,
/// payload, error) and the oldest run; only `project` when given.
pub fn project_usage(
    conn: &Connection,
    project: Option<&str>,
) -> Result<Vec<otto_hooks_plugin_api::ProjectUsage>> {
    let tx = conn.unchecked_transaction()?;
    let mut out = Vec::new();
    {
        let mut runs = tx.prepare(
            "SELECT project, COUNT(*), MIN(started_at) FROM runs \
             WHERE ?1 IS NULL OR project = ?1 GROUP BY project ORDER BY project",
        )?;
        let mut bytes = tx.prepare_cached(
            "SELECT COALESCE(SUM(length(e.type) + COALESCE(length(e.unit), 0) \
             + COALESCE(length(e.payload), 0) + COALESCE(length(e.error), 0)), 0) \
             FROM runs r JOIN events e ON e.run_id = r.id WHERE r.project = ?1",
        )?;
        let rows = runs.query_map([project], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (name, count, oldest) = row?;
            let stored: i64 = bytes.query_row([&name], |r| r.get(0))?;
            out.push(otto_hooks_plugin_api::ProjectUsage {
                project: name,
                runs: count.max(0) as u64,
                runs_bytes: stored.max(0) as u64,
                oldest_run: oldest.as_deref().and_then(|t| parse_time(t).ok()),
                ..Default::default()
            });
        }
    }
    tx.finish()?;
    Ok(out)
}

/// Runs `PRAGMA integrity_check`; an error lists the first problems found.
pub fn integrity_check(conn: &Connection, path: &Path) -> Result<()> {
    let lines: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    let first: Vec<&str> = lines.iter().take(5).map(String::as_str).collect();
    Err(DbError::Sqlite(format!(
        "{}: integrity check failed ({} problems: {}); restore it from a backup or move it aside",
        path.display(),
        lines.len(),
        first.join("; ")
    )))
}

pub(crate) fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-wal");
    std::path::PathBuf::from(s)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
