//! The values that go in and come out of the history store.

use otto_hooks_plugin_api::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::time::serde_rfc3339;

/// A run to record ([`HistoryDb::start_run`](crate::HistoryDb::start_run)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The run id, e.g. `run_20250120_143052_a1b2`.
    pub id: String,
    /// The otto-hooks project key (for choo runs: the repository path).
    pub project: String,
    /// The canonical repository path.
    pub repo_path: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// How many units may run at once.
    pub parallelism: u32,
    /// How many units are planned.
    pub total_units: u32,
    /// The orchestrator's tasks directory, when any.
    pub tasks_dir: Option<String>,
    /// A dry run records but changes nothing.
    pub dry_run: bool,
}

/// One event to append ([`HistoryDb::append_events`](crate::HistoryDb::append_events)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// When it happened.
    pub time: Timestamp,
    /// The event type (`type` column), e.g. `unit.started`: 1–128 characters,
    /// no control characters.
    pub kind: String,
    /// The unit it concerns (at most 256 characters), when any.
    pub unit: Option<String>,
    /// The task number, when any.
    pub task: Option<i64>,
    /// The pull-request number, when any.
    pub pr: Option<i64>,
    /// The payload as JSON text, already redacted by the caller; must be valid JSON.
    pub payload: Option<String>,
    /// The error message, when any.
    pub error: Option<String>,
}

impl NewEvent {
    /// An event with only a time and a type.
    pub fn new(time: Timestamp, kind: impl Into<String>) -> Self {
        NewEvent {
            time,
            kind: kind.into(),
            unit: None,
            task: None,
            pr: None,
            payload: None,
            error: None,
        }
    }
}

/// The sequence numbers given to appended events: `first..=last`
/// (empty, `first == last + 1`, when nothing was appended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeqRange {
    /// Sequence number of the first event appended.
    pub first: u64,
    /// Sequence number of the last event appended.
    pub last: u64,
}

impl SeqRange {
    /// Whether no event was appended.
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }
}

/// How a run ended ([`HistoryDb::complete_run`](crate::HistoryDb::complete_run)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The run.
    pub run_id: String,
    /// When it ended.
    pub ended_at: Timestamp,
    /// `completed`, `failed` or `stopped`.
    pub status: String,
    /// Replaces the counted completed units when given.
    pub completed_units: Option<u32>,
    /// Replaces the counted failed units when given.
    pub failed_units: Option<u32>,
    /// Replaces the counted blocked units when given.
    pub blocked_units: Option<u32>,
    /// The error that ended it, when any.
    pub error: Option<String>,
}

/// What [`HistoryDb::delete_runs`](crate::HistoryDb::delete_runs) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// Runs deleted (with their events and graph).
    pub deleted: Vec<String>,
    /// Runs left alone because they are running.
    pub skipped_running: Vec<String>,
    /// Ids that matched no run.
    pub not_found: Vec<String>,
    /// Events deleted with the runs.
    pub events_deleted: u64,
}

/// What [`HistoryDb::expire`](crate::HistoryDb::expire) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpireReport {
    /// Runs deleted.
    pub runs_deleted: u64,
    /// Their ids, oldest first.
    pub run_ids: Vec<String>,
    /// Events deleted with them.
    pub events_deleted: u64,
    /// Bytes the database gave back to the file system:
    /// `(page_count before − page_count after) × page_size`, measured around
    /// the deletion and `PRAGMA incremental_vacuum`. In WAL mode the file
    /// itself shrinks at the checkpoint that follows, which `expire` runs
    /// (passive: a long-open reader can delay it).
    pub bytes_freed: u64,
    /// Write transactions used (one per chunk).
    pub chunks: u64,
}

/// What a retention pass would delete
/// ([`HistoryDb::expire_preview`](crate::HistoryDb::expire_preview)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpirePreview {
    /// The runs, oldest first.
    pub run_ids: Vec<String>,
    /// Their events.
    pub events: u64,
}

/// A whole run to import ([`HistoryDb::import_run`](crate::HistoryDb::import_run)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRun {
    /// The run.
    pub run: NewRun,
    /// All its events, in order (they get seq 1..=n).
    pub events: Vec<NewEvent>,
    /// How it ended, when it has.
    pub completion: Option<Completion>,
}

/// What [`HistoryDb::import_run`](crate::HistoryDb::import_run) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportOutcome {
    /// The run was new.
    Inserted,
    /// The run existed with different content and was replaced.
    Updated,
    /// The run existed with exactly this content.
    Unchanged,
}

/// A run as stored: the FORMATS.md run shape plus the summary columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// Run id.
    pub id: String,
    /// The otto-hooks project key.
    pub project: String,
    /// The repository path.
    pub repo_path: String,
    /// When it started.
    #[serde(with = "serde_rfc3339")]
    pub started_at: Timestamp,
    /// When it ended (or was stopped); `None` while running.
    #[serde(with = "serde_rfc3339::option")]
    pub completed_at: Option<Timestamp>,
    /// `running`, `completed`, `failed` or `stopped`.
    pub status: String,
    /// Parallelism.
    pub parallelism: u32,
    /// Units planned.
    pub total_units: u32,
    /// Units completed.
    pub completed_units: u32,
    /// Units failed.
    pub failed_units: u32,
    /// Units blocked.
    pub blocked_units: u32,
    /// The error that ended it, when any.
    pub error: Option<String>,
    /// The tasks directory, when any.
    pub tasks_dir: Option<String>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Sequence number of its last event (0: none).
    pub last_seq: u64,
    /// Number of events stored.
    pub event_count: u64,
    /// How many times it was resumed.
    pub resume_count: u32,
    /// Time spent running, in ms: running periods only, stopped time excluded
    /// (a period still open is not included; see `active_since`).
    pub active_ms: u64,
    /// When the current running period began; `None` unless running.
    #[serde(with = "serde_rfc3339::option")]
    pub active_since: Option<Timestamp>,
    /// Time of the latest thing recorded (event, start, stop, completion).
    #[serde(with = "serde_rfc3339::option")]
    pub updated_at: Option<Timestamp>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Database id (global, increasing).
    pub id: i64,
    /// Its run.
    pub run_id: String,
    /// Sequence number within the run, from 1, contiguous.
    pub seq: u64,
    /// When it happened.
    #[serde(with = "serde_rfc3339")]
    pub time: Timestamp,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit, when any.
    pub unit: Option<String>,
    /// Task number, when any.
    pub task: Option<i64>,
    /// Pull-request number, when any.
    pub pr: Option<i64>,
    /// Payload JSON, unchanged (text that is not JSON, from an older tool,
    /// comes back as a JSON string).
    pub payload: Option<Box<RawValue>>,
    /// Error message, when any.
    pub error: Option<String>,
}

impl PartialEq for EventRow {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.run_id == other.run_id
            && self.seq == other.seq
            && self.time == other.time
            && self.kind == other.kind
            && self.unit == other.unit
            && self.task == other.task
            && self.pr == other.pr
            && self.payload.as_ref().map(|p| p.get()) == other.payload.as_ref().map(|p| p.get())
            && self.error == other.error
    }
}

/// A run's dependency graph, from its `orch.started` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    /// `[{id, level, tasks, status, completed_tasks}, …]`.
    pub nodes: serde_json::Value,
    /// `[{from, to}, …]` (`from` depends on `to`).
    pub edges: serde_json::Value,
    /// `[[id, …], …]`.
    pub levels: serde_json::Value,
}

/// Size and shape of the database ([`HistoryDb::stats`](crate::HistoryDb::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DbStats {
    /// Runs stored.
    pub runs: u64,
    /// Events stored.
    pub events: u64,
    /// Schema version.
    pub schema_version: u32,
    /// Size of the database file in bytes.
    pub file_bytes: u64,
    /// Size of the `-wal` file in bytes (0 when absent).
    pub wal_bytes: u64,
    /// Page size in bytes.
    pub page_size: u64,
    /// Pages in the database.
    pub page_count: u64,
    /// Pages free (given back by `incremental_vacuum`).
    pub free_pages: u64,
}
