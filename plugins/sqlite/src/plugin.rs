//! The `sqlite` storage plugin: [`HistoryDb`] behind the otto-hooks
//! `Storage` trait, so the hooks record into it and `list`, `info`,
//! `events`, `usage` and `clean` read it like any other storage.
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `db` | `<OTTO_HOOKS_HOME>/history.db` | the database file; `~/` expands to `$HOME`, a relative path is taken from `OTTO_HOOKS_HOME` |
//! | `retention_days` | `90` | history retention: finished runs whose completion is older than this are deleted by `run-policies` and `clean --backend sqlite` (0 keeps everything) |
//!
//! The database is opened (and created, and migrated) on the first write;
//! a read of a database that does not exist yet finds no runs and creates
//! nothing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use otto_hooks_plugin_api as api;
use otto_hooks_plugin_api::{
    Event, EventPage, EventQuery, ExpireRequest, HookContext, Plugin, PluginConfig, PluginError,
    ProjectUsage, Run, RunDetails, RunQuery, RunResult, RunResume, RunStart, RunStatus, RunStop,
    Storage, Timestamp,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::hook_model::{
    completion, event_filter, new_events, new_run, plugin_error, stored_event,
};
use crate::query::RunFilter;
use crate::{HistoryDb, Options, RunRow};

/// The `sqlite` storage plugin: one instance per configuration entry.
#[derive(Debug)]
pub struct SqliteHistory {
    path: PathBuf,
    retention_days: u32,
    db: OnceLock<Result<HistoryDb, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    db: Option<String>,
    retention_days: Option<u32>,
}

/// The default retention of the history, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Runs deleted per write transaction by a retention pass: short enough
/// that a hook waiting to write is never held up for long.
const EXPIRE_CHUNK: usize = 500;

impl SqliteHistory {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured history retention in days (0: keep everything).
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The database, opened (created, migrated) on first use.
    pub fn db(&self) -> Result<&HistoryDb, PluginError> {
        self.db
            .get_or_init(|| {
                HistoryDb::open(&self.path, &Options::default()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| PluginError::failed(e.clone()))
    }

    /// The database for a read: `None` when the file does not exist yet.
    fn db_for_reading(&self) -> Result<Option<&HistoryDb>, PluginError> {
        if self.db.get().is_none() && !self.path.exists() {
            return Ok(None);
        }
        self.db().map(Some)
    }
}

/// The database path for the `db` setting, relative to `data_dir`.
pub fn db_path(setting: Option<&str>, data_dir: &Path) -> PathBuf {
    match setting {
        None => data_dir.join("history.db"),
        Some(s) => {
            let expanded = match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
                (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
                _ => PathBuf::from(s),
            };
            if expanded.is_absolute() {
                expanded
            } else {
                data_dir.join(expanded)
            }
        }
    }
}

/// choo's run statuses from ours.
pub fn choo_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "completed",
        RunStatus::Stopped => "stopped",
        RunStatus::Running => "running",
        RunStatus::Failed | RunStatus::Interrupted | RunStatus::Unknown => "failed",
    }
}

/// Ours from choo's.
pub fn run_status(status: &str) -> RunStatus {
    match status {
        "completed" => RunStatus::Success,
        "failed" => RunStatus::Failed,
        "running" => RunStatus::Running,
        "stopped" => RunStatus::Stopped,
        _ => RunStatus::Unknown,
    }
}

/// choo's status names accepted in a status filter, from ours or theirs.
pub fn status_filter(s: &str) -> Option<&'static str> {
    match s {
        "completed" | "success" => Some("completed"),
        "failed" => Some("failed"),
        "running" => Some("running"),
        "stopped" => Some("stopped"),
        _ => None,
    }
}

/// A history row as an otto-hooks run; the columns `Run` has no field for
/// go to its attributes (what `info` shows).
pub fn run_of(row: RunRow, db: &Path) -> Run {
    let attributes = attributes_of(&row);
    Run {
        attributes,
        ..listed_run(row, db)
    }
}

/// A history row as `list_runs` gives it: the fields of `Run`, without the
/// attributes — every attribute crosses the plugin ABI as JSON, which for a
/// list of 10,000 runs costs more than the query itself.
pub fn listed_run(row: RunRow, db: &Path) -> Run {
    Run {
        status: run_status(&row.status),
        status_source: Some("history".to_owned()),
        location: format!("{}#{}", db.display(), row.id),
        id: row.id,
        project: row.project,
        started_at: row.started_at,
        ended_at: row.completed_at,
        task_count: row.total_units,
        size_bytes: None,
        allocated_bytes: None,
        pinned: false,
        attributes: Map::new(),
    }
}

/// The columns `Run` has no field for.
fn attributes_of(row: &RunRow) -> Map<String, Value> {
    let mut attributes = Map::new();
    let mut put = |k: &str, v: Value| {
        attributes.insert(k.to_owned(), v);
    };
    put("repo_path", Value::from(row.repo_path.clone()));
    put("history_status", Value::from(row.status.clone()));
    put("parallelism", Value::from(row.parallelism));
    put("total_units", Value::from(row.total_units));
    put("completed_units", Value::from(row.completed_units));
    put("failed_units", Value::from(row.failed_units));
    put("blocked_units", Value::from(row.blocked_units));
    put("dry_run", Value::from(row.dry_run));
    put("event_count", Value::from(row.event_count));
    put("last_seq", Value::from(row.last_seq));
    put("resume_count", Value::from(row.resume_count));
    put("active_seconds", Value::from(row.active_ms as f64 / 1000.0));
    if let Some(e) = &row.error {
        put("error", Value::from(e.clone()));
    }
    if let Some(t) = &row.tasks_dir {
        put("tasks_dir", Value::from(t.clone()));
    }
    attributes
}

impl Plugin for SqliteHistory {
    const NAME: &'static str = "sqlite";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Run history and full event logs in SQLite ($OTTO_HOOKS_HOME/history.db): choo's history store";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: Settings = config.parse()?;
        if settings.db.as_deref() == Some("") {
            return Err(PluginError::invalid(format!(
                "settings of `{}`: `db` is empty",
                config.instance()
            )));
        }
        Ok(SqliteHistory {
            path: db_path(settings.db.as_deref(), config.data_dir()),
            retention_days: settings.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
            db: OnceLock::new(),
        })
    }

    fn run_start(&self, start: &RunStart<'_>) -> Result<(), PluginError> {
        self.db()?.start_run(new_run(start)).map_err(plugin_error)
    }

    fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
        Plugin::events(self, ctx, std::slice::from_ref(event))
    }

    fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), PluginError> {
        self.db()?
            .append_events(ctx.run_id, new_events(events))
            .map(|_| ())
            .map_err(plugin_error)
    }

    /// Records the ending and its `run.completed|failed|stopped` event in
    /// one transaction, as the history daemon does.
    fn run_complete(&self, result: &RunResult<'_>) -> Result<(), PluginError> {
        self.db()?
            .complete_run_recorded(completion(result))
            .map(drop)
            .map_err(plugin_error)
    }

    fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
        self.db()?
            .stop_run(stop.run_id, stop.at, stop.reason.map(str::to_owned))
            .map(|_| ())
            .map_err(plugin_error)
    }

    fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
        self.db()?
            .resume_run(resume.run_id, resume.at)
            .map(|_| ())
            .map_err(plugin_error)
    }
}

impl Storage for SqliteHistory {
    fn events(&self, query: &EventQuery<'_>) -> Result<EventPage, PluginError> {
        let missing =
            || PluginError::not_found(format!("no run `{}` in the history", query.run_id));
        let db = self.db_for_reading()?.ok_or_else(missing)?;
        let filter = event_filter(query);
        let page = db.events(&filter).map_err(plugin_error)?;
        let total = db.count_events(&filter).map_err(plugin_error)?;
        Ok(EventPage {
            events: page.events.into_iter().map(stored_event).collect(),
            has_more: page.has_more,
            total: Some(total),
        })
    }

    fn delete_runs(&self, runs: &[&str]) -> Result<api::DeleteReport, PluginError> {
        let Some(db) = self.db_for_reading()? else {
            return Ok(api::DeleteReport::default());
        };
        let before = db.stats().map_err(plugin_error)?;
        let report = db
            .delete_runs(runs.iter().map(|r| (*r).to_owned()).collect())
            .map_err(plugin_error)?;
        let after = db.stats().map_err(plugin_error)?;
        let mut out = api::DeleteReport {
            bytes_freed: before
                .page_count
                .saturating_sub(after.page_count)
                .saturating_mul(after.page_size),
            ..Default::default()
        };
        out.deleted = report
            .deleted
            .into_iter()
            .map(|run_id| api::DeletedRun {
                run_id,
                bytes_freed: 0,
            })
            .collect();
        out.refused = report
            .skipped_running
            .into_iter()
            .map(|run_id| api::RefusedDeletion {
                run_id,
                reason: "running: never deleted".to_owned(),
            })
            .collect();
        Ok(out)
    }

    fn expire(&self, request: &ExpireRequest) -> Result<api::ExpireReport, PluginError> {
        let Some(db) = self.db_for_reading()? else {
            return Ok(api::ExpireReport::default());
        };
        if request.dry_run {
            let preview = db.expire_preview(request.cutoff).map_err(plugin_error)?;
            return Ok(api::ExpireReport {
                runs: preview.run_ids.len() as u64,
                events: preview.events,
                bytes_freed: 0,
                run_ids: preview.run_ids,
            });
        }
        let report = db
            .expire(request.cutoff, EXPIRE_CHUNK)
            .map_err(plugin_error)?;
        Ok(api::ExpireReport {
            runs: report.runs_deleted,
            events: report.events_deleted,
            bytes_freed: report.bytes_freed,
            run_ids: report.run_ids,
        })
    }

    fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
        let Some(db) = self.db_for_reading()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut filter = RunFilter {
            project: query.project.map(str::to_owned),
            limit: 1000,
            ..RunFilter::default()
        };
        let wanted = query.limit.unwrap_or(u64::MAX);
        loop {
            let page = db.list_runs(&filter).map_err(plugin_error)?;
            for row in page.runs {
                if out.len() as u64 >= wanted {
                    return Ok(out);
                }
                out.push(listed_run(row, db.path()));
            }
            match page.next {
                Some(next) if page.has_more => filter.before = Some(next),
                _ => return Ok(out),
            }
        }
    }

    fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, PluginError> {
        let missing = || PluginError::not_found(format!("no run `{}` in the history", run.run_id));
        let db = self.db_for_reading()?.ok_or_else(missing)?;
        let row = db
            .get_run(run.run_id)
            .map_err(plugin_error)?
            .ok_or_else(missing)?;
        let mut details = RunDetails {
            run: run_of(row, db.path()),
            tasks: Vec::new(),
        };
        let attrs = &mut details.run.attributes;
        if let Some(graph) = db.graph(run.run_id).map_err(plugin_error)? {
            attrs.insert(
                "graph".to_owned(),
                serde_json::json!({"nodes": graph.nodes, "edges": graph.edges, "levels": graph.levels}),
            );
        }
        let points: Vec<Value> = db
            .stop_resume_points(run.run_id)
            .map_err(plugin_error)?
            .into_iter()
            .map(|e| {
                let payload = e
                    .payload
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                    .unwrap_or(Value::Null);
                serde_json::json!({
                    "seq": e.seq,
                    "type": e.kind,
                    "time": crate::time::format_time(e.time).unwrap_or_default(),
                    "payload": payload,
                })
            })
            .collect();
        attrs.insert("stop_resume".to_owned(), Value::Array(points));
        Ok(details)
    }

    fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, PluginError> {
        let Some(db) = self.db_for_reading()? else {
            return Ok(Vec::new());
        };
        db.project_usage(query.project).map_err(plugin_error)
    }
}

/// Now, for the history's own retention.
pub fn retention_cutoff(now: Timestamp, days: u32) -> Timestamp {
    Timestamp::from_secs(now.secs - i64::from(days) * 86_400)
}
