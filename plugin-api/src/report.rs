//! The documents reporters render: exactly the `--json` output shapes.
//!
//! These shapes are a stable interface (documented in `docs/JSON.md`):
//! fields are only ever added. A reporter deserialises the document it was
//! given with [`crate::Document::parse`]; unknown fields are ignored, so a
//! reporter built today keeps working when a later host adds fields.
//!
//! Times are carried twice, as epoch seconds (`timestamp`) and RFC 3339 UTC
//! (`started_at`); sizes are integers in bytes.

use serde::{Deserialize, Serialize};

use crate::{PluginKind, RunStatus, TaskStatus};

/// `otto-hooks list`: the runs, newest first.
pub type RunList = Vec<RunEntry>;

/// One run of a [`RunList`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// The run's name on the command line, which `info`, `why` and `events`
    /// accept: `<project-key>/<ts>[-n]` for an otto run (in otto's
    /// directories or imported into the history), the id alone for a run
    /// the hooks recorded. Empty when the document predates it.
    #[serde(default)]
    pub id: String,
    /// The project key (otto: `<name>-<hash>`).
    pub project: String,
    /// The run id.
    pub run: String,
    /// Start, epoch seconds.
    pub timestamp: i64,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// Number of tasks.
    pub tasks: u32,
    /// Status.
    pub status: RunStatus,
    /// Which source decided the status.
    #[serde(default)]
    pub status_source: Option<String>,
    /// Whether the status is a guess (`status_source` starts with
    /// `guess: `): shown as `failed?`.
    #[serde(default)]
    pub status_guessed: bool,
    /// Apparent bytes (`du -sb`), when measured.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Allocated bytes (`du -sB1`), when measured.
    #[serde(default)]
    pub allocated_bytes: Option<u64>,
    /// Where the run lives.
    pub path: String,
}

/// `otto-hooks info`: one run and its tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's name on the command line (see [`RunEntry::id`]).
    #[serde(default)]
    pub id: String,
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// Start, epoch seconds.
    pub timestamp: i64,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC, when known.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Duration in seconds, when known.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Status.
    pub status: RunStatus,
    /// Which source decided the status; for a guess, `guess: ` and why.
    pub status_source: String,
    /// Whether the status is a guess: shown as `failed?`.
    #[serde(default)]
    pub status_guessed: bool,
    /// Apparent bytes, when measured.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Where the run lives.
    pub path: String,
    /// Storage-specific attributes (otto: `user`, `cwd`, `ottofile`, `args`).
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The tasks.
    pub tasks: Vec<TaskInfo>,
}

/// One task of a [`RunInfo`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// Status.
    pub status: TaskStatus,
    /// Exit code, when recorded.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Duration in seconds, when known.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// stdout log path.
    #[serde(default)]
    pub stdout: Option<String>,
    /// stderr log path.
    #[serde(default)]
    pub stderr: Option<String>,
    /// Script path.
    #[serde(default)]
    pub script: Option<String>,
    /// Where the script link points.
    #[serde(default)]
    pub script_target: Option<String>,
}

/// `otto-hooks usage`: where the bytes are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Everything, in apparent bytes (`du -sb`).
    pub total_bytes: u64,
    /// Everything, in allocated bytes (`du -sB1`: what it takes on disk),
    /// when storage measures it for every project.
    #[serde(default)]
    pub total_allocated_bytes: Option<u64>,
    /// Per project, largest first.
    pub projects: Vec<ProjectUsage>,
    /// The largest runs, largest first.
    pub largest_runs: Vec<RunSize>,
    /// Cache files no run references, in bytes.
    pub orphaned_cache_bytes: u64,
    /// Entries an interrupted clean left in `$OTTO_HOME`'s trash
    /// (`.otto-hooks-trash`), which the next `clean` or `run-policies`
    /// finishes deleting; 0 when there are none. Not in `total_bytes`.
    #[serde(default)]
    pub trash_entries: u64,
    /// Their apparent bytes (`du -sb`).
    #[serde(default)]
    pub trash_bytes: u64,
    /// What cleaning would free.
    pub recommendations: Vec<Recommendation>,
}

/// One project of a [`UsageReport`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectUsage {
    /// The project key.
    pub project: String,
    /// Runs plus cache, in bytes.
    pub bytes: u64,
    /// Runs, in bytes.
    pub runs_bytes: u64,
    /// Script cache, in bytes.
    pub cache_bytes: u64,
    /// Cache files no run references, in bytes (part of `cache_bytes`).
    #[serde(default)]
    pub orphaned_cache_bytes: u64,
    /// Allocated bytes of the runs (`du -sB1`).
    #[serde(default)]
    pub runs_allocated_bytes: u64,
    /// Allocated bytes of the whole project (`du -sB1`: runs, cache and
    /// the rest), beside `bytes`, when storage measures it.
    #[serde(default)]
    pub allocated_bytes: Option<u64>,
    /// Number of runs.
    pub runs: u64,
    /// The oldest run's start, epoch seconds, when there are runs.
    #[serde(default)]
    pub oldest_timestamp: Option<i64>,
}

/// A run and its size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSize {
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// Apparent bytes.
    pub size_bytes: u64,
}

/// One recommendation of a [`UsageReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// What to do, for people: `cleaning runs older than 30 days would free 812 MB`.
    pub message: String,
    /// The command that does it.
    #[serde(default)]
    pub command: Option<String>,
    /// Bytes it would free.
    pub bytes: u64,
}

/// `otto-hooks clean`: the plan, and after execution what happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CleanPlan {
    /// Nothing was (or will be) changed.
    pub dry_run: bool,
    /// Per group (project): counts and bytes.
    #[serde(default)]
    pub groups: Vec<GroupPlan>,
    /// Runs deleted (or to delete).
    pub deleted: Vec<PlannedRun>,
    /// Runs kept, with why.
    pub kept: Vec<PlannedRun>,
    /// Runs that could not be deleted, with why.
    pub refused: Vec<RefusedRun>,
    /// Bytes actually freed (0 on a dry run).
    pub bytes_freed: u64,
    /// Cache garbage collection, when asked for.
    #[serde(default)]
    pub cache: Option<CachePlan>,
    /// History retention of a storage that keeps run histories (the
    /// `sqlite` history), when it was applied.
    #[serde(default)]
    pub history: Option<HistoryExpiry>,
    /// otto's own database of each `$OTTO_HOME` cleaned: the rows that go
    /// with the runs, and rows whose run directory is gone. Empty when
    /// there is no otto.db (or the runs are not otto's).
    #[serde(default)]
    pub otto_db: Vec<OttoDbRows>,
    /// Runs the policy would delete but a guard holds (the share guard,
    /// "every run of a project"): the plan is shown whole, the guard only
    /// blocks the deletion. Each carries the guard's verdict in `held`.
    #[serde(default)]
    pub held: Vec<PlannedRun>,
    /// The flag that lets every held run through (`--max-share 76`,
    /// `--force`), when runs are held.
    #[serde(default)]
    pub allow: Option<String>,
}

/// What a clean does (or would do) to otto's `otto.db` (a [`CleanPlan`]
/// part): the rows of each deleted run go with it, in one transaction
/// committed only once the directory is out of its project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OttoDbRows {
    /// The database file.
    pub path: String,
    /// Its schema version, when it could be read.
    #[serde(default)]
    pub schema_version: Option<i64>,
    /// Why nothing is (or was) written to it, when nothing is: one line
    /// (an unknown schema, an unreadable file). The run directories still go.
    #[serde(default)]
    pub not_written: Option<String>,
    /// The rows deleted (on a dry run: to delete) with the runs deleted.
    #[serde(default)]
    pub rows: Vec<OttoDbRow>,
    /// Rows whose run directory is gone (`otto History` still lists them).
    #[serde(default)]
    pub orphan_rows: Vec<OttoDbRow>,
    /// The orphan rows are (on a dry run: would be) deleted: `--prune-rows`.
    #[serde(default)]
    pub prune_orphans: bool,
}

/// One `runs` row of otto.db (an [`OttoDbRows`] part).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OttoDbRow {
    /// `runs.id`.
    pub id: i64,
    /// The project directory of its run, when known.
    #[serde(default)]
    pub project: Option<String>,
    /// Its run directory's name, when known.
    #[serde(default)]
    pub run: Option<String>,
    /// `runs.run_dir` (NULL before schema 5).
    #[serde(default)]
    pub run_dir: Option<String>,
    /// `runs.timestamp`, epoch seconds.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Its `tasks` rows, which go with it.
    pub tasks: u64,
}

/// History retention of one storage instance (a [`CleanPlan`] part): the
/// runs that ended before `cutoff` — `retention_days` ago — go with their
/// events. Running runs never do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryExpiry {
    /// The storage instance (`storage.sqlite`).
    pub storage: String,
    /// The retention in days.
    pub retention_days: u32,
    /// Runs that ended before this go (RFC 3339).
    pub cutoff: String,
    /// Runs deleted (or, on a dry run, to delete).
    pub runs: u64,
    /// Events deleted with them (or to delete).
    pub events: u64,
    /// Bytes the database gave back to the file system (0 on a dry run).
    pub bytes_freed: u64,
    /// The runs' ids, oldest first.
    pub run_ids: Vec<String>,
}

/// One group of a [`CleanPlan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupPlan {
    /// The group (project key).
    pub project: String,
    /// The retention plugin that decided.
    #[serde(default)]
    pub policy: Option<String>,
    /// Runs kept.
    pub kept: u64,
    /// Bytes kept.
    pub kept_bytes: u64,
    /// Runs deleted (or to delete).
    pub deleted: u64,
    /// Bytes deleted (or to delete).
    pub deleted_bytes: u64,
    /// Runs the policy would delete that a guard holds (counted in `kept`).
    #[serde(default)]
    pub held: u64,
    /// Their bytes.
    #[serde(default)]
    pub held_bytes: u64,
    /// The guard's verdict when it holds this group's deletions:
    /// `would delete 361 of 480 runs of web-… (76%, more than max_share 50%)`.
    #[serde(default)]
    pub guard: Option<String>,
    /// The flag that lets this group's deletions through (`--max-share 76`,
    /// `--force`), when held.
    #[serde(default)]
    pub allow: Option<String>,
}

/// A run in a [`CleanPlan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// Apparent bytes, when measured.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Every rule that matched.
    pub reasons: Vec<String>,
    /// Start, epoch seconds, when known.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Start, RFC 3339 UTC, when known.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The guard's verdict, for a run the policy would delete but a guard
    /// holds (a [`CleanPlan::held`] run).
    #[serde(default)]
    pub held: Option<String>,
}

/// A run a [`CleanPlan`] could not delete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefusedRun {
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// Why.
    pub error: String,
}

/// Cache garbage collection in a [`CleanPlan`].
///
/// The roots are the `script.*` links of every run that stays (kept or
/// live); a cache file no root references, last modified longer ago than
/// the grace period, is an orphan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachePlan {
    /// Cache files deleted (or, on a dry run, to delete): the orphans.
    pub deleted: Vec<CacheFile>,
    /// Bytes actually freed (0 on a dry run).
    pub bytes_freed: u64,
    /// The grace period: an unreferenced file younger than this stays.
    #[serde(default)]
    pub grace_seconds: u64,
    /// Orphans found: count.
    #[serde(default)]
    pub orphaned_files: u64,
    /// Orphans found: apparent bytes.
    #[serde(default)]
    pub orphaned_bytes: u64,
    /// Unreferenced files kept because they are younger than the grace
    /// period (a run may have written one and not linked it yet): count.
    #[serde(default)]
    pub recent_files: u64,
    /// Those files' apparent bytes.
    #[serde(default)]
    pub recent_bytes: u64,
    /// Cache files some remaining run references.
    #[serde(default)]
    pub referenced_files: u64,
    /// Script links whose target would be in the project's `.cache` but
    /// does not exist.
    #[serde(default)]
    pub dangling: Vec<CacheLink>,
    /// Script links whose target is outside the project's `.cache`
    /// (they protect nothing there).
    #[serde(default)]
    pub outside: Vec<CacheLink>,
}

/// A script link, in a [`CachePlan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheLink {
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// The task.
    pub task: String,
    /// The link's name (`script.sh`, `script.py`).
    pub link: String,
    /// The link's target, as written.
    pub target: String,
}

/// A cache file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheFile {
    /// The project key.
    pub project: String,
    /// The file, relative to the project's `.cache`.
    pub file: String,
    /// Apparent bytes.
    pub size_bytes: u64,
}

/// `otto-hooks hook run-complete`: a summary of a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The project key.
    pub project: String,
    /// The run id.
    pub run: String,
    /// Status.
    pub status: RunStatus,
    /// Start, RFC 3339 UTC, when known.
    #[serde(default)]
    pub started_at: Option<String>,
    /// End, RFC 3339 UTC.
    pub ended_at: String,
    /// Duration in seconds, when known.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Units completed, when known.
    #[serde(default)]
    pub completed_units: Option<u32>,
    /// Units failed, when known.
    #[serde(default)]
    pub failed_units: Option<u32>,
    /// Units blocked, when known.
    #[serde(default)]
    pub blocked_units: Option<u32>,
    /// The error that ended it, when any.
    #[serde(default)]
    pub error: Option<String>,
    /// Plugins that failed during the run (one line each).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `otto-hooks plugins list`.
pub type PluginList = Vec<PluginEntry>;

/// One plugin of a [`PluginList`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginEntry {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: PluginKind,
    /// Its own version.
    pub version: String,
    /// The ABI it was built for, `major.minor`.
    pub abi: String,
    /// `built-in`, or the library's path.
    pub source: String,
    /// `ok`, `refused: …`, `disabled: …`.
    pub state: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// The entries it offers.
    #[serde(default)]
    pub offers: Vec<String>,
}

/// `otto-hooks config show`: every effective setting and its origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// The files read, in the order they were layered.
    pub files: Vec<String>,
    /// Each setting.
    pub values: Vec<ConfigValue>,
}

/// One setting of a [`ConfigReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// Dotted key, e.g. `projects."web-*".retention.plugin`.
    pub key: String,
    /// The value, as TOML.
    pub value: String,
    /// Where it came from: `default`, a `file:line`, `env OTTO_HOOKS_…`, `flag --…`.
    pub source: String,
}
