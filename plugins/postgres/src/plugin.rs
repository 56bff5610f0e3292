//! The `postgres` storage plugin: [`PgHistory`] behind the otto-hooks
//! `Storage` trait, so hooks record into a team's PostgreSQL history and
//! `list`, `info`, `events`, `usage` and `clean` read it.
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `url` | (required) | `postgres://user@host:port/database`, without password |
//! | `password_file` | — | a file holding the password, readable by its owner only |
//! | `password_env` | `PGPASSWORD` | the environment variable holding the password |
//! | `sslmode` | `prefer` | `disable`, `prefer`, `require`, `verify-ca` or `verify-full` (module [`tls`](crate::tls)) |
//! | `sslrootcert` | — | a PEM file of the CA that signed the server's certificate, or `system` |
//! | `retention_days` | `90` | finished runs older than this are deleted by `run-policies` (0 keeps everything) |
//!
//! The database is connected to (and migrated) on first use.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use otto_hooks_plugin_api as api;
use otto_hooks_plugin_api::{
    Event, EventPage, EventQuery, ExpireRequest, HookContext, Plugin, PluginConfig, PluginError,
    ProjectUsage, Run, RunDetails, RunQuery, RunResult, RunResume, RunStart, RunStop, Storage,
};
use otto_hooks_sqlite::hook_model::{
    completion, event_filter, new_events, new_run, plugin_error, stored_event,
};
use otto_hooks_sqlite::{
    DEFAULT_RETENTION_DAYS, DbError, HistoryStore, RunFilter, listed_run, run_of,
};
use serde::Deserialize;
use serde_json::Value;

use crate::settings::PgTarget;
use crate::store::PgHistory;

/// Runs deleted per transaction by a retention pass.
const EXPIRE_CHUNK: usize = 500;

/// The `postgres` storage plugin: one instance per configuration entry.
#[derive(Debug)]
pub struct PostgresHistory {
    target: PgTarget,
    retention_days: u32,
    db: OnceLock<Result<PgHistory, String>>,
}

/// The `[storage]` settings of the `postgres` plugin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgSettings {
    /// `postgres://user@host:port/database`.
    pub url: Option<String>,
    /// A file holding the password.
    pub password_file: Option<PathBuf>,
    /// The variable holding the password.
    pub password_env: Option<String>,
    /// History retention in days.
    pub retention_days: Option<u32>,
    /// TLS: libpq's `sslmode`.
    pub sslmode: Option<String>,
    /// TLS: the CA file (or `system`).
    pub sslrootcert: Option<PathBuf>,
}

impl PgSettings {
    /// The target these settings name; `data_dir` anchors a relative
    /// `password_file`.
    pub fn target(&self, instance: &str, data_dir: &Path) -> Result<PgTarget, DbError> {
        let url = self.url.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
            DbError::Invalid(format!(
                "settings of `{instance}`: `url` is required (postgres://user@host:port/database)"
            ))
        })?;
        // `~/` expands to $HOME; a relative path is taken from OTTO_HOOKS_HOME.
        let file = self
            .password_file
            .as_ref()
            .map(|p| otto_hooks_sqlite::db_path(Some(&p.to_string_lossy()), data_dir));
        let url = crate::tls::with_settings(
            url,
            self.sslmode.as_deref(),
            self.sslrootcert.as_deref(),
            data_dir,
        )
        .map_err(|e| DbError::Invalid(format!("settings of `{instance}`: {e}")))?;
        PgTarget::resolve(&url, file.as_deref(), self.password_env.as_deref())
            .map_err(|e| DbError::Invalid(format!("settings of `{instance}`: {e}")))
    }
}

impl PostgresHistory {
    /// The configured history retention in days (0: keep everything).
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The database, connected and migrated on first use.
    pub fn db(&self) -> Result<&PgHistory, PluginError> {
        self.db
            .get_or_init(|| PgHistory::open(self.target.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| PluginError::failed(e.clone()))
    }

    fn location(&self) -> PathBuf {
        PathBuf::from(self.target.describe())
    }
}

impl Plugin for PostgresHistory {
    const NAME: &'static str = "postgres";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Run history and full event logs in a PostgreSQL database shared by a team";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: PgSettings = config.parse()?;
        let target = settings
            .target(config.instance(), config.data_dir())
            .map_err(plugin_error)?;
        Ok(PostgresHistory {
            target,
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
            .map(drop)
            .map_err(plugin_error)
    }

    fn run_complete(&self, result: &RunResult<'_>) -> Result<(), PluginError> {
        self.db()?
            .complete_run_recorded(completion(result))
            .map(drop)
            .map_err(plugin_error)
    }

    fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
        self.db()?
            .stop_run(stop.run_id, stop.at, stop.reason.map(str::to_owned))
            .map(drop)
            .map_err(plugin_error)
    }

    fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
        self.db()?
            .resume_run(resume.run_id, resume.at)
            .map(drop)
            .map_err(plugin_error)
    }
}

impl Storage for PostgresHistory {
    fn events(&self, query: &EventQuery<'_>) -> Result<EventPage, PluginError> {
        let db = self.db()?;
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
        let report = self
            .db()?
            .delete_runs(runs.iter().map(|r| (*r).to_owned()).collect())
            .map_err(plugin_error)?;
        Ok(api::DeleteReport {
            deleted: report
                .deleted
                .into_iter()
                .map(|run_id| api::DeletedRun {
                    run_id,
                    bytes_freed: 0,
                })
                .collect(),
            refused: report
                .skipped_running
                .into_iter()
                .map(|run_id| api::RefusedDeletion {
                    run_id,
                    reason: "running: never deleted".to_owned(),
                })
                .collect(),
            ..Default::default()
        })
    }

    fn expire(&self, request: &ExpireRequest) -> Result<api::ExpireReport, PluginError> {
        let db = self.db()?;
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
        let db = self.db()?;
        let location = self.location();
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
                out.push(listed_run(row, &location));
            }
            match page.next {
                Some(next) if page.has_more => filter.before = Some(next),
                _ => return Ok(out),
            }
        }
    }

    fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, PluginError> {
        let missing = || PluginError::not_found(format!("no run `{}` in the history", run.run_id));
        let db = self.db()?;
        let row = db
            .get_run(run.run_id)
            .map_err(plugin_error)?
            .ok_or_else(missing)?;
        let mut details = RunDetails {
            run: run_of(row, &self.location()),
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
                    "time": otto_hooks_sqlite::time::format_time(e.time).unwrap_or_default(),
                    "payload": payload,
                })
            })
            .collect();
        attrs.insert("stop_resume".to_owned(), Value::Array(points));
        Ok(details)
    }

    fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, PluginError> {
        self.db()?
            .project_usage(query.project)
            .map_err(plugin_error)
    }
}
