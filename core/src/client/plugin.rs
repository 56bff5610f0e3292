//! The `daemon` storage plugin: the hooks' records sent to the history
//! daemon instead of written to `history.db` by each hook process, so the
//! daemon stays the only writer while it runs.
//!
//! The hook commands choose it themselves when a daemon runs (or was just
//! started); it is not meant to be configured by hand.
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `url` | the daemon whose files are under `$OTTO_HOOKS_HOME` | the daemon's base URL (`http://127.0.0.1:8080`) |
//! | `token` | from `$OTTO_HOOKS_HOME/daemon.token` | the bearer token for writes |

use otto_hooks_plugin_api::{
    Event, HookContext, Plugin, PluginConfig, PluginError, Run, RunQuery, RunResult, RunResume,
    RunStart, RunStop, Storage, Timestamp,
};
use serde::Deserialize;

use super::fallback::DirectWriter;
use super::{Client, ClientError, Completion, NewRun, RunsQuery, WireEvent};
use crate::hooks::wire::{parse_rfc3339, rfc3339};
use otto_hooks_sqlite::{choo_status, run_status};

/// The most events sent in one request.
const MAX_BATCH: usize = 1000;

/// The most bytes of event text sent in one request: half the daemon's
/// default body cap, for the JSON around them. A daemon configured with a
/// smaller cap answers 413, and the batch is split further.
const MAX_BATCH_BYTES: usize = crate::daemon::DEFAULT_MAX_BODY_BYTES / 2;

/// The `daemon` storage plugin.
#[derive(Debug)]
pub struct DaemonStorage {
    client: Client,
    /// For a daemon found under `$OTTO_HOOKS_HOME`: its `history.db`, where
    /// events it does not acknowledge are written directly.
    direct: Option<DirectWriter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: Option<String>,
    token: Option<String>,
}

fn plugin_error(e: ClientError) -> PluginError {
    match &e {
        ClientError::Api { code, .. } => match code.as_str() {
            "NOT_FOUND" => PluginError::not_found(e.to_string()),
            "ALREADY_EXISTS" => PluginError::already_exists(e.to_string()),
            "INVALID_JSON" | "INVALID_PARAM" | "MISSING_PARAM" => {
                PluginError::invalid(e.to_string())
            }
            _ => PluginError::failed(e.to_string()),
        },
        _ => PluginError::failed(e.to_string()),
    }
}

impl Plugin for DaemonStorage {
    const NAME: &'static str = "daemon";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Records runs through the history daemon (the only writer of history.db while it runs)";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: Settings = config.parse()?;
        let direct = settings
            .url
            .is_none()
            .then(|| DirectWriter::new(otto_hooks_sqlite::db_path(None, config.data_dir())));
        let client = match settings.url {
            Some(url) => Client::with_base(url, settings.token),
            None => Client::discover(config.data_dir())
                .map_err(plugin_error)?
                .ok_or_else(|| {
                    PluginError::failed(format!(
                        "no history daemon runs for {} (start one with `otto-hooks daemon start`)",
                        config.data_dir().display()
                    ))
                })?,
        };
        Ok(DaemonStorage { client, direct })
    }

    fn run_start(&self, start: &RunStart<'_>) -> Result<(), PluginError> {
        let run = NewRun {
            repo_path: start.repo_path.unwrap_or(start.project).to_owned(),
            project: Some(start.project.to_owned()),
            run_id: Some(start.run_id.to_owned()),
            parallelism: start.parallelism.unwrap_or(1),
            total_units: start.total_units.unwrap_or(0),
            tasks_dir: start.tasks_dir.map(str::to_owned),
            dry_run: start.dry_run,
            started_at: Some(rfc3339(start.started_at)),
        };
        self.client.start_run(&run).map(drop).map_err(plugin_error)
    }

    fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
        Plugin::events(self, ctx, std::slice::from_ref(event))
    }

    fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), PluginError> {
        let owned: Vec<WireEvent> = events
            .iter()
            .map(|e| WireEvent {
                time: e.time,
                kind: e.kind.to_owned(),
                unit: e.unit.map(str::to_owned),
                task: e.task,
                pr: e.pr,
                payload: e.payload.map(str::to_owned),
                error: e.error.map(str::to_owned),
            })
            .collect();
        for chunk in batches(&owned, MAX_BATCH, MAX_BATCH_BYTES) {
            self.deliver(ctx.run_id, chunk)?;
        }
        Ok(())
    }

    fn run_complete(&self, result: &RunResult<'_>) -> Result<(), PluginError> {
        let completion = Completion {
            status: choo_status(result.status).to_owned(),
            completed_units: result.completed_units.unwrap_or(0),
            failed_units: result.failed_units.unwrap_or(0),
            blocked_units: result.blocked_units.unwrap_or(0),
            error: result.error.map(str::to_owned),
            completed_at: Some(rfc3339(result.ended_at)),
        };
        self.client
            .complete_run(result.run_id, &completion)
            .map_err(plugin_error)
    }

    fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), PluginError> {
        self.client
            .stop_run(stop.run_id, stop.reason, Some(&rfc3339(stop.at)))
            .map_err(plugin_error)
    }

    fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), PluginError> {
        self.client
            .resume_run(resume.run_id, Some(&rfc3339(resume.at)))
            .map_err(plugin_error)
    }
}

impl DaemonStorage {
    /// Sends one batch; a batch over the daemon's body cap is split in
    /// halves, and one the daemon did not acknowledge is written to
    /// `history.db` directly (see [`super::fallback`]).
    fn deliver(&self, run_id: &str, batch: &[WireEvent]) -> Result<(), PluginError> {
        if let Some(direct) = &self.direct
            && direct.in_use()
        {
            return write_directly(direct, run_id, batch, None);
        }
        match self.client.post_events(run_id, batch) {
            Ok(_) => Ok(()),
            Err(ClientError::Api { status: 413, .. }) if batch.len() > 1 => {
                let (first, second) = batch.split_at(batch.len() / 2);
                self.deliver(run_id, first)?;
                self.deliver(run_id, second)
            }
            Err(ClientError::Unreachable(why)) => match &self.direct {
                Some(direct) => write_directly(direct, run_id, batch, Some(&why)),
                None => Err(plugin_error(ClientError::Unreachable(why))),
            },
            Err(e) => Err(plugin_error(e)),
        }
    }
}

/// Writes `batch` to `history.db`, saying so once per process.
fn write_directly(
    direct: &DirectWriter,
    run_id: &str,
    batch: &[WireEvent],
    why: Option<&str>,
) -> Result<(), PluginError> {
    if let Some(why) = why {
        tracing::warn!(
            "the history daemon did not acknowledge {} event(s) ({why}); writing to {} directly",
            batch.len(),
            direct.path().display()
        );
    }
    direct
        .deliver(run_id, batch)
        .map(drop)
        .map_err(PluginError::failed)
}

/// `events` cut into batches of at most `max_events` events and about
/// `max_bytes` bytes of text each (an event larger than that goes alone).
fn batches(events: &[WireEvent], max_events: usize, max_bytes: usize) -> Vec<&[WireEvent]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, e) in events.iter().enumerate() {
        // The JSON keys, numbers and escapes around the text: generous.
        let size = 160
            + 2 * (e.kind.len()
                + e.unit.as_ref().map_or(0, String::len)
                + e.payload.as_ref().map_or(0, String::len)
                + e.error.as_ref().map_or(0, String::len));
        if i > start && (i - start >= max_events || bytes + size > max_bytes) {
            out.push(&events[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

impl Storage for DaemonStorage {
    /// Runs read back through the API (newest first), for completeness;
    /// the history commands read `history.db` directly.
    fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
        let wanted = query.limit.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .client
                .runs(&RunsQuery {
                    repo: query.project.map(str::to_owned),
                    limit: Some(100),
                    cursor: cursor.take(),
                    ..RunsQuery::default()
                })
                .map_err(plugin_error)?;
            for run in page.runs {
                if out.len() as u64 >= wanted {
                    return Ok(out);
                }
                let time = |t: &str| parse_rfc3339(t).unwrap_or(Timestamp::from_secs(0));
                out.push(Run {
                    status: run_status(&run.status),
                    status_source: Some("history".to_owned()),
                    location: format!("{}/api/history/runs/{}", self.client.base(), run.id),
                    project: run.repo_path.clone(),
                    started_at: time(&run.started_at),
                    ended_at: run.completed_at.as_deref().map(time),
                    task_count: run.total_units,
                    size_bytes: None,
                    allocated_bytes: None,
                    pinned: false,
                    attributes: serde_json::Map::new(),
                    id: run.id,
                });
            }
            match page.next_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

otto_hooks_plugin_api::plugin_module! {
    /// The plugins of the core crate: the `daemon` storage.
    pub static MODULE = [storage(DaemonStorage)];
}
