//! The plugin API's hook and query types turned into this crate's model,
//! and back: one definition for every storage plugin built on it (the
//! `sqlite` plugin here, the `postgres` plugin in its own crate).

use otto_hooks_plugin_api::{Event, EventQuery, PluginError, RunResult, RunStart, StoredEvent};

use crate::plugin::choo_status;
use crate::query::EventFilter;
use crate::{Completion, DbError, EventRow, NewEvent, NewRun};

/// A store error as the plugin API reports it (not found, already exists
/// and invalid keep their kind; the rest is a failure).
pub fn plugin_error(e: DbError) -> PluginError {
    match e {
        DbError::NotFound(m) => PluginError::not_found(m),
        DbError::AlreadyExists(m) => PluginError::already_exists(m),
        DbError::Invalid(m) => PluginError::invalid(m),
        other => PluginError::failed(other.to_string()),
    }
}

/// The run a `run_start` hook records (no repository: the project stands
/// for it; no parallelism: 1).
pub fn new_run(start: &RunStart<'_>) -> NewRun {
    NewRun {
        id: start.run_id.to_owned(),
        project: start.project.to_owned(),
        repo_path: start.repo_path.unwrap_or(start.project).to_owned(),
        started_at: start.started_at,
        parallelism: start.parallelism.unwrap_or(1),
        total_units: start.total_units.unwrap_or(0),
        tasks_dir: start.tasks_dir.map(str::to_owned),
        dry_run: start.dry_run,
    }
}

/// The events an `events` hook appends.
pub fn new_events(events: &[Event<'_>]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| NewEvent {
            time: e.time,
            kind: e.kind.to_owned(),
            unit: e.unit.map(str::to_owned),
            task: e.task,
            pr: e.pr,
            payload: e.payload.map(str::to_owned),
            error: e.error.map(str::to_owned),
        })
        .collect()
}

/// The ending a `run_complete` hook records, in choo's status words.
pub fn completion(result: &RunResult<'_>) -> Completion {
    Completion {
        run_id: result.run_id.to_owned(),
        ended_at: result.ended_at,
        status: choo_status(result.status).to_owned(),
        completed_units: result.completed_units,
        failed_units: result.failed_units,
        blocked_units: result.blocked_units,
        error: result.error.map(str::to_owned),
    }
}

/// The filter of a storage `events` query.
pub fn event_filter(query: &EventQuery<'_>) -> EventFilter {
    EventFilter {
        run_id: query.run_id.to_owned(),
        type_prefix: query.type_prefix.map(str::to_owned),
        unit: query.unit.map(str::to_owned),
        after_seq: query.after_seq,
        limit: query.limit,
    }
}

/// A stored event as the plugin API hands it out.
pub fn stored_event(e: EventRow) -> StoredEvent {
    StoredEvent {
        seq: e.seq,
        time: e.time,
        kind: e.kind,
        unit: e.unit,
        task: e.task,
        pr: e.pr,
        payload: e.payload.map(|p| p.get().to_owned()),
        error: e.error,
    }
}
