//! Reads: runs from the summary columns only, events by keyset on
//! `(run_id, seq)`, graphs, repositories, usage. Never OFFSET for pages
//! (except [`list_runs_offset`], which the HTTP API's `offset` needs).

use otto_hooks_plugin_api::{ProjectUsage, Timestamp};
use otto_hooks_sqlite::time::{format_time, parse_time};
use otto_hooks_sqlite::{
    DbError, EventFilter, EventPage, EventRow, Graph, RepoSummary, RunCursor, RunFilter, RunPage,
    RunRow,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use serde_json::value::RawValue;

use crate::error::pg;

type Result<T> = std::result::Result<T, DbError>;

/// The `runs` columns, in the order [`run_from_row`] reads them.
pub(crate) const RUN_COLUMNS: &str = "id, project, repo_path, started_at, completed_at, status, \
     parallelism, total_units, completed_units, failed_units, blocked_units, error, tasks_dir, \
     dry_run, last_seq, event_count, resume_count, active_ms, active_since, updated_at";

pub(crate) const EVENT_COLUMNS: &str =
    "id, run_id, seq, time, type, unit, task, pr, payload, error";

/// A stored time as a timestamp: the stored form
/// (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`) read by position, without a date
/// library — a page of 10,000 runs reads 30,000 of them — and any other
/// form through [`parse_time`].
fn time_of(text: &str) -> Result<Timestamp> {
    match stored_time(text) {
        Some(t) => Ok(t),
        None => parse_time(text),
    }
}

/// The stored form, when `s` is in it (else `None`).
fn stored_time(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 30 || b[4] != b'-' || b[10] != b'T' || b[19] != b'.' || b[29] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&m) || !(1..=month_days).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let nanos = u32::try_from(num(20..29)?).ok()?;
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Timestamp {
        secs: days * 86_400 + hh * 3600 + mm * 60 + ss,
        nanos,
    })
}

fn opt_time(text: Option<String>) -> Result<Option<Timestamp>> {
    match text {
        Some(t) if !t.is_empty() => parse_time(&t).map(Some),
        _ => Ok(None),
    }
}

pub(crate) fn count(n: i64) -> u64 {
    n.max(0) as u64
}

fn small(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Reads a run from a row of `SELECT {RUN_COLUMNS}`.
pub(crate) fn run_from_row(row: &Row) -> Result<RunRow> {
    Ok(RunRow {
        id: row.get(0),
        project: row.get(1),
        repo_path: row.get(2),
        started_at: time_of(row.get(3))?,
        completed_at: opt_time(row.get(4))?,
        status: row.get(5),
        parallelism: small(row.get(6)),
        total_units: small(row.get(7)),
        completed_units: small(row.get(8)),
        failed_units: small(row.get(9)),
        blocked_units: small(row.get(10)),
        error: row.get(11),
        tasks_dir: row.get(12),
        dry_run: row.get(13),
        last_seq: count(row.get(14)),
        event_count: count(row.get(15)),
        resume_count: small(row.get(16)),
        active_ms: count(row.get(17)),
        active_since: opt_time(row.get(18))?,
        updated_at: opt_time(row.get(19))?,
    })
}

/// A payload as stored, as raw JSON (text that is not JSON comes back as a
/// JSON string, as from history.db).
pub(crate) fn raw_payload(text: Option<String>) -> Result<Option<Box<RawValue>>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<Box<RawValue>>(&text) {
        Ok(raw) => Ok(Some(raw)),
        Err(_) => serde_json::value::to_raw_value(&text)
            .map(Some)
            .map_err(|e| DbError::Invalid(e.to_string())),
    }
}

pub(crate) fn event_from_row(row: &Row) -> Result<EventRow> {
    event_from_row_at(row, 0)
}

/// Reads an event whose [`EVENT_COLUMNS`] start at column `at`.
pub(crate) fn event_from_row_at(row: &Row, at: usize) -> Result<EventRow> {
    Ok(EventRow {
        id: row.get(at),
        run_id: row.get(at + 1),
        seq: count(row.get(at + 2)),
        time: time_of(row.get(at + 3))?,
        kind: row.get(at + 4),
        unit: row.get(at + 5),
        task: row.get(at + 6),
        pr: row.get(at + 7),
        payload: raw_payload(row.get(at + 8))?,
        error: row.get(at + 9),
    })
}

/// Builds `$n` placeholders while collecting their arguments.
#[derive(Default)]
pub(crate) struct Args {
    values: Vec<Box<dyn ToSql + Sync>>,
}

impl Args {
    pub(crate) fn push(&mut self, v: impl ToSql + Sync + 'static) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.values.len())
    }

    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values.iter().map(|v| v.as_ref()).collect()
    }
}

fn run_conditions(filter: &RunFilter, args: &mut Args) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(p) = &filter.project {
        conds.push(format!("project = {}", args.push(p.clone())));
    }
    if let Some(r) = &filter.repo_path {
        conds.push(format!("repo_path = {}", args.push(r.clone())));
    }
    if let Some(s) = &filter.status {
        conds.push(format!("status = {}", args.push(s.clone())));
    }
    conds
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// A page of runs, newest first (`started_at DESC, id DESC`), after the
/// cursor and `offset` more.
pub(crate) fn list_runs_offset(
    c: &mut impl GenericClient,
    filter: &RunFilter,
    offset: u64,
) -> Result<RunPage> {
    let mut args = Args::default();
    let mut conds = run_conditions(filter, &mut args);
    if let Some(cur) = &filter.before {
        let t = args.push(format_time(cur.started_at)?);
        let id = args.push(cur.id.clone());
        conds.push(format!("(started_at, id) < ({t}, {id})"));
    }
    let limit = filter.limit.max(1) as usize;
    let lim = args.push(limit as i64 + 1);
    let off = args.push(offset.min(i64::MAX as u64) as i64);
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs{} ORDER BY started_at DESC, id DESC LIMIT {lim} OFFSET {off}",
        where_clause(&conds)
    );
    let rows = c.query(&sql, &args.refs()).map_err(pg)?;
    let mut runs = rows.iter().map(run_from_row).collect::<Result<Vec<_>>>()?;
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

/// How many runs match (its `limit` and `before` ignored).
pub(crate) fn count_runs(c: &mut impl GenericClient, filter: &RunFilter) -> Result<u64> {
    let mut args = Args::default();
    let conds = run_conditions(filter, &mut args);
    let sql = format!("SELECT COUNT(*) FROM runs{}", where_clause(&conds));
    let n: i64 = c.query_one(&sql, &args.refs()).map_err(pg)?.get(0);
    Ok(count(n))
}

/// One run, when it exists.
pub(crate) fn get_run(c: &mut impl GenericClient, id: &str) -> Result<Option<RunRow>> {
    c.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
        &[&id],
    )
    .map_err(pg)?
    .as_ref()
    .map(run_from_row)
    .transpose()
}

pub(crate) fn require_run(c: &mut impl GenericClient, id: &str) -> Result<i64> {
    c.query_opt("SELECT event_count FROM runs WHERE id = $1", &[&id])
        .map_err(pg)?
        .map(|r| r.get::<_, i64>(0))
        .ok_or_else(|| DbError::NotFound(format!("no run {id:?} in the PostgreSQL history")))
}

pub(crate) fn event_conditions(filter: &EventFilter, args: &mut Args) -> String {
    let mut sql = String::new();
    if let Some(prefix) = &filter.type_prefix {
        // starts_with, not LIKE: `_` and `%` in a type are plain characters.
        if prefix.ends_with('.') {
            sql.push_str(&format!(
                " AND starts_with(type, {})",
                args.push(prefix.clone())
            ));
        } else {
            let exact = args.push(prefix.clone());
            let family = args.push(format!("{prefix}."));
            sql.push_str(&format!(
                " AND (type = {exact} OR starts_with(type, {family}))"
            ));
        }
    }
    if let Some(unit) = &filter.unit {
        sql.push_str(&format!(" AND unit = {}", args.push(unit.clone())));
    }
    sql
}

/// A page of a run's events after `after_seq`; `NotFound` for an unknown run.
pub(crate) fn events(c: &mut impl GenericClient, filter: &EventFilter) -> Result<EventPage> {
    require_run(c, &filter.run_id)?;
    let mut args = Args::default();
    let run = args.push(filter.run_id.clone());
    let after = args.push(filter.after_seq.unwrap_or(0).min(i64::MAX as u64) as i64);
    let extra = event_conditions(filter, &mut args);
    let limit = filter.limit.max(1) as usize;
    let lim = args.push(limit as i64 + 1);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = {run} AND seq > {after}{extra} \
         ORDER BY seq LIMIT {lim}"
    );
    let rows = c.query(&sql, &args.refs()).map_err(pg)?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// How many of a run's events match (`after_seq`, `limit` ignored); without
/// type or unit filter, the run's summary only.
pub(crate) fn count_events(c: &mut impl GenericClient, filter: &EventFilter) -> Result<u64> {
    let total = require_run(c, &filter.run_id)?;
    if filter.type_prefix.is_none() && filter.unit.is_none() {
        return Ok(count(total));
    }
    let mut args = Args::default();
    let run = args.push(filter.run_id.clone());
    let extra = event_conditions(filter, &mut args);
    let n: i64 = c
        .query_one(
            &format!("SELECT COUNT(*) FROM events WHERE run_id = {run}{extra}"),
            &args.refs(),
        )
        .map_err(pg)?
        .get(0);
    Ok(count(n))
}

/// Events of every run after id `after_id`, in id order.
pub(crate) fn events_after_id(
    c: &mut impl GenericClient,
    after_id: i64,
    limit: u32,
) -> Result<EventPage> {
    let limit = limit.max(1) as usize;
    let rows = c
        .query(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after_id, &(limit as i64 + 1)],
        )
        .map_err(pg)?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// The largest event id (0 when none).
pub(crate) fn last_event_id(c: &mut impl GenericClient) -> Result<i64> {
    Ok(
        c.query_one("SELECT COALESCE(MAX(id), 0)::BIGINT FROM events", &[])
            .map_err(pg)?
            .get(0),
    )
}

/// The run's graph, when it has one.
pub(crate) fn graph(c: &mut impl GenericClient, run_id: &str) -> Result<Option<Graph>> {
    let Some(row) = c
        .query_opt(
            "SELECT nodes, edges, levels FROM graphs WHERE run_id = $1",
            &[&run_id],
        )
        .map_err(pg)?
    else {
        return Ok(None);
    };
    let parse = |what: &str, text: String| {
        serde_json::from_str(&text).map_err(|e| {
            DbError::Invalid(format!(
                "stored graph {what} of run {run_id:?} is not JSON ({e})"
            ))
        })
    };
    Ok(Some(Graph {
        nodes: parse("nodes", row.get(0))?,
        edges: parse("edges", row.get(1))?,
        levels: parse("levels", row.get(2))?,
    }))
}

/// The run's `run.stopped` and `run.resumed` events, in order.
pub(crate) fn stop_resume_points(
    c: &mut impl GenericClient,
    run_id: &str,
) -> Result<Vec<EventRow>> {
    c.query(
        &format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE run_id = $1 AND type IN ('run.stopped', 'run.resumed') ORDER BY seq"
        ),
        &[&run_id],
    )
    .map_err(pg)?
    .iter()
    .map(event_from_row)
    .collect()
}

/// Every repository with runs, most recently used first.
pub(crate) fn repos(c: &mut impl GenericClient) -> Result<Vec<RepoSummary>> {
    let rows = c
        .query(
            "SELECT repo_path, COUNT(*), \
                    COUNT(*) FILTER (WHERE status = 'running'), \
                    COUNT(*) FILTER (WHERE status = 'completed'), \
                    COUNT(*) FILTER (WHERE status = 'failed'), \
                    COUNT(*) FILTER (WHERE status = 'stopped'), MAX(started_at) \
             FROM runs GROUP BY repo_path ORDER BY MAX(started_at) DESC, repo_path",
            &[],
        )
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| RepoSummary {
            repo_path: r.get(0),
            runs: count(r.get(1)),
            running: count(r.get(2)),
            completed: count(r.get(3)),
            failed: count(r.get(4)),
            stopped: count(r.get(5)),
            last_started_at: r.get(6),
        })
        .collect())
}

/// Per project: runs, characters of event text (type, unit, payload,
/// error: what history.db counts), oldest run.
pub(crate) fn project_usage(
    c: &mut impl GenericClient,
    project: Option<&str>,
) -> Result<Vec<ProjectUsage>> {
    let rows = c
        .query(
            "SELECT r.project, r.runs, r.oldest, \
                    COALESCE((SELECT SUM(length(e.type) + COALESCE(length(e.unit), 0) \
                        + COALESCE(length(e.payload), 0) + COALESCE(length(e.error), 0)) \
                     FROM runs x JOIN events e ON e.run_id = x.id WHERE x.project = r.project), 0)::BIGINT \
             FROM (SELECT project, COUNT(*) AS runs, MIN(started_at) AS oldest FROM runs \
                   WHERE $1::TEXT IS NULL OR project = $1 GROUP BY project) r \
             ORDER BY r.project",
            &[&project],
        )
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| ProjectUsage {
            project: r.get(0),
            runs: count(r.get(1)),
            runs_bytes: count(r.get(3)),
            oldest_run: r
                .get::<_, Option<String>>(2)
                .as_deref()
                .and_then(|t| parse_time(t).ok()),
            ..Default::default()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_read_by_position_agree_with_the_parser() {
        for t in [
            "1970-01-01T00:00:00.000000000Z",
            "2000-02-29T23:59:59.999999999Z",
            "2025-01-20T14:30:52.123456789Z",
            "2100-03-01T00:00:00.000000001Z",
            "1969-12-31T23:59:59.500000000Z",
        ] {
            let parsed = parse_time(t).unwrap();
            assert_eq!(stored_time(t), Some(parsed), "{t}");
        }
        for other in [
            "2025-01-20T14:30:52Z",
            "2025-13-20T14:30:52.123456789Z",
            "2025-02-29T14:30:52.123456789Z",
            "2025-1x-20T14:30:52.123456789Z",
        ] {
            assert_eq!(stored_time(other), None, "{other}");
        }
        assert_eq!(
            time_of("2025-01-20T14:30:52Z").unwrap(),
            parse_time("2025-01-20T14:30:52Z").unwrap()
        );
    }
}
