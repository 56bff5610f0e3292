//! What the history tells: task history, stats, run comparison, flaky
//! tasks and duration trends, as library calls over both storages.
//!
//! - otto: its own `otto.db` (runs and task rows, opened read-only: it is
//!   otto's, never written here), with the run directories for what the rows
//!   lack (log paths, the script cache, runs without a row in `compare`).
//! - the SQLite history (`history.db`): runs, and their units folded from
//!   the stored `unit.*` events (module [`recorded`]).
//! - a team history on PostgreSQL: the same runs and events, read by the
//!   `postgres` storage and folded by the same code (module [`team`]).
//!
//! Both are read through the [`Source`] trait, which answers with
//! [`Execution`]s (one task or unit in one run) and [`RunRecord`]s; the
//! figures (module [`stats`], [`flaky`], [`compare`]) are computed the same
//! way whichever storage answered. Sources query SQL directly rather than
//! listing runs through the storage plugins: `stats` over 100,000 runs must
//! answer in under a second (docs/BENCHMARKS.md).

pub mod compare;
pub mod flaky;
pub mod frame;
pub mod otto;
pub mod otto_cache;
pub mod otto_disk;
pub mod recorded;
mod rows;
pub mod stats;
pub mod team;
pub mod window;

use otto_hooks_plugin_api::TaskStatus;
use serde::Serialize;

pub use window::Window;

/// A failure: one line, and whether the caller asked for something that
/// does not exist (exit 2, HTTP 400/404) or the storage failed (exit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsightError {
    /// The message.
    pub message: String,
    /// The caller's mistake (an unknown task, run or project; a bad window).
    pub bad_input: bool,
    /// The thing named does not exist (a 404 over the API).
    pub not_found: bool,
}

impl InsightError {
    /// A storage failure.
    pub fn failed(message: impl Into<String>) -> Self {
        InsightError {
            message: message.into(),
            bad_input: false,
            not_found: false,
        }
    }

    /// Bad input (a malformed value).
    pub fn bad_input(message: impl Into<String>) -> Self {
        InsightError {
            message: message.into(),
            bad_input: true,
            not_found: false,
        }
    }

    /// Something named that the storage does not have.
    pub fn not_found(message: impl Into<String>) -> Self {
        InsightError {
            message: message.into(),
            bad_input: true,
            not_found: true,
        }
    }
}

impl std::fmt::Display for InsightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InsightError {}

impl From<rusqlite::Error> for InsightError {
    fn from(e: rusqlite::Error) -> Self {
        InsightError::failed(format!("cannot read the history: {e}"))
    }
}

impl From<rusqlite::types::FromSqlError> for InsightError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        InsightError::failed(format!("cannot read the history: {e}"))
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, InsightError>;

/// One execution of a task (otto) or unit (the history) in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Execution {
    /// The project key (`web-9d9de448`, or the history's project).
    pub project: String,
    /// The task or unit name.
    pub task: String,
    /// The run, named as `list` names it (`<project>/<ts>[-n]` or `run_…`).
    pub run: String,
    /// When it started (epoch seconds); the run's start when unknown.
    pub started_at: i64,
    /// How long it ran, when it finished.
    pub duration_seconds: Option<f64>,
    /// How it ended.
    pub status: TaskStatus,
    /// Its exit code, when recorded.
    pub exit_code: Option<i32>,
    /// The hash of the script it ran (otto's cache name), when known.
    pub script_hash: Option<String>,
    /// Its stdout log, when there is one.
    pub log: Option<String>,
}

/// One run, as the run-level figures need it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    /// The project key.
    pub project: String,
    /// The run, named as `list` names it.
    pub run: String,
    /// When it started (epoch seconds).
    pub started_at: i64,
    /// `success`, `failed`, `running` or another status the storage keeps
    /// (the history's `completed` reads as `success`).
    pub status: String,
    /// How long it ran, when it finished.
    pub duration_seconds: Option<f64>,
    /// Its size on disk, when the storage knows it.
    pub size_bytes: Option<u64>,
}

/// Which runs a question is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only this project (its key, name or hash, as `--project` reads it).
    pub project: Option<String>,
    /// Runs started at or after this (epoch seconds).
    pub from: Option<i64>,
    /// Runs started before this (epoch seconds).
    pub to: Option<i64>,
}

impl Scope {
    /// Whether run-start `t` is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|to| t < to)
    }

    /// Whether project key `key` is the one asked for.
    pub fn has_project(&self, key: &str) -> bool {
        self.project
            .as_deref()
            .is_none_or(|p| crate::run_ref::project_matches(key, p))
    }
}

/// The tasks of one run, for `compare`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunTasks {
    /// The run.
    pub run: RunRecord,
    /// Its tasks, in the order they ran.
    pub tasks: Vec<Execution>,
    /// Where its scripts are cached (otto: `<project>/.cache`), if anywhere.
    #[serde(skip)]
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Which executions `history TASK` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The task or unit.
    pub task: String,
    /// Only this project.
    pub project: Option<String>,
    /// Only executions that ended so.
    pub status: Option<TaskStatus>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// A storage the insights read: otto's otto.db, or the SQLite history.
pub trait Source {
    /// What it is, for documents: `otto.db` or `history.db`.
    fn kind(&self) -> &'static str;
    /// Its file.
    fn path(&self) -> String;
    /// The runs started inside `scope`.
    fn runs(&self, scope: &Scope) -> Result<Vec<RunRecord>>;
    /// Every execution in the runs started inside `scope` (of `task` only,
    /// when given), in no particular order. What the figures need: a
    /// source may leave `log` out.
    fn executions(&self, scope: &Scope, task: Option<&str>) -> Result<Vec<Execution>>;
    /// The runs and the executions of `scope` together (what `stats`
    /// reads): a source that reads both in one pass overrides it.
    fn window(
        &self,
        scope: &Scope,
        task: Option<&str>,
    ) -> Result<(Vec<RunRecord>, Vec<Execution>)> {
        Ok((self.runs(scope)?, self.executions(scope, task)?))
    }
    /// The window of `scope` in compact form (its runs, and their
    /// executions of `task` only, when given): what `stats` and `flaky`
    /// compute from. A source that reads its rows straight into a frame
    /// overrides it; by default [`Source::window`]'s answer is converted.
    fn frame(&self, scope: &Scope, task: Option<&str>) -> Result<frame::Frame> {
        let (runs, executions) = self.window(scope, task)?;
        Ok(frame::Frame::from_parts(runs, executions))
    }
    /// `history TASK`: the newest executions of one task.
    fn task_history(&self, query: &HistoryQuery) -> Result<Vec<Execution>>;
    /// Every task (unit) name the storage has, for "did you mean".
    fn task_names(&self) -> Result<Vec<String>>;
    /// Every project key the storage has runs of.
    fn projects(&self) -> Result<Vec<String>>;
    /// The tasks of the run `spec` names (any form `list` accepts).
    fn run_tasks(&self, spec: &str) -> Result<RunTasks>;
}

/// The error for a task nobody ran: the closest names.
pub fn unknown_task(source: &dyn Source, task: &str) -> InsightError {
    let names = source.task_names().unwrap_or_default();
    let close = crate::run_ref::closest(task, names.iter().map(String::as_str));
    let hint = if !close.is_empty() {
        format!(
            "; did you mean {}?",
            close
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if names.is_empty() {
        " (it records no tasks)".to_owned()
    } else {
        " (see `otto-hooks stats` for the tasks it has)".to_owned()
    };
    InsightError::not_found(format!(
        "no task `{task}` in {} {}{hint}",
        source.kind(),
        source.path()
    ))
}

/// Checks that `project` is one the storage has runs of: an unknown one is
/// an error naming the closest, not an empty answer.
pub fn check_project(source: &dyn Source, project: Option<&str>) -> Result<()> {
    let Some(project) = project else {
        return Ok(());
    };
    let known = source.projects()?;
    if known
        .iter()
        .any(|k| crate::run_ref::project_matches(k, project))
    {
        return Ok(());
    }
    let close = crate::run_ref::closest(project, known.iter().map(String::as_str));
    let hint = if close.is_empty() {
        format!("; projects: {}", known.join(", "))
    } else {
        format!(
            "; did you mean {}?",
            close
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(InsightError::not_found(format!(
        "no project `{project}` in {} {}{hint}",
        source.kind(),
        source.path()
    )))
}

/// `history TASK`: the newest executions of `query.task`, checked: an
/// unknown task or project is an error naming the closest ones.
pub fn history(source: &dyn Source, query: &HistoryQuery) -> Result<HistoryReport> {
    check_project(source, query.project.as_deref())?;
    let executions = source.task_history(query)?;
    if executions.is_empty() && !source.task_names()?.iter().any(|n| n == &query.task) {
        return Err(unknown_task(source, &query.task));
    }
    Ok(HistoryReport {
        source: source.kind(),
        path: source.path(),
        task: query.task.clone(),
        project: query.project.clone(),
        status: query.status,
        limit: query.limit,
        executions: executions.into_iter().map(ExecutionDoc::from).collect(),
    })
}

/// The document of `history TASK`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryReport {
    /// `otto.db` or `history.db`.
    pub source: &'static str,
    /// The file read.
    pub path: String,
    /// The task.
    pub task: String,
    /// The project filter, if any.
    pub project: Option<String>,
    /// The status filter, if any.
    pub status: Option<TaskStatus>,
    /// The limit applied.
    pub limit: usize,
    /// Newest first.
    pub executions: Vec<ExecutionDoc>,
}

/// An execution as documents show it (times in both forms).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionDoc {
    /// The run (`list`'s name).
    pub run: String,
    /// The project key.
    pub project: String,
    /// How it ended.
    pub status: TaskStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Start, epoch seconds.
    pub started_at: i64,
    /// Start, RFC 3339 UTC.
    pub started_at_rfc3339: String,
    /// How long it ran.
    pub duration_seconds: Option<f64>,
    /// The script's cache hash.
    pub script_hash: Option<String>,
    /// Its stdout log.
    pub log: Option<String>,
}

impl From<Execution> for ExecutionDoc {
    fn from(e: Execution) -> Self {
        ExecutionDoc {
            started_at_rfc3339: rfc3339(e.started_at),
            run: e.run,
            project: e.project,
            status: e.status,
            exit_code: e.exit_code,
            started_at: e.started_at,
            duration_seconds: e.duration_seconds,
            script_hash: e.script_hash,
            log: e.log,
        }
    }
}

/// Epoch seconds as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    crate::hooks::wire::rfc3339(otto_hooks_plugin_api::Timestamp::from_secs(secs))
}

/// Whether a status counts as an attempt that ended (success or failure):
/// what success rates and flip rates count.
pub fn finished(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Success | TaskStatus::Failed)
}
