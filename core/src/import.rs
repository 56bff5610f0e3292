//! Importing otto's runs into the SQLite history (`history.db`).
//!
//! otto keeps its runs as directories (read by the `otto-fs` storage) and
//! their outcome in `otto.db` (read by the status plugin). `import otto`
//! turns each run into one history run in choo's vocabulary, so that otto
//! users get the same history and queries as choo users:
//!
//! - id `<project-dir>:<run>` (`web-9d9de448:1787254856-1`), project the
//!   project directory, `repo_path` run.yaml's `cwd` (else the project),
//!   parallelism 1, one unit per task, `tasks_dir` the run's `tasks/`;
//! - events `orch.started {unit_count, parallelism}`, per task
//!   `unit.started {total_tasks: 1}` then `unit.completed` / `unit.failed`
//!   (`{exit_code, duration_ms}` when known), and `orch.completed` /
//!   `orch.failed` — in time order, seq 1..n;
//! - a completion from the run's status (`success` → `completed`, `failed`,
//!   `interrupted` and `unknown` → `failed` with an error), none while the
//!   run is live (its `.lock` held): a later import updates it.
//!
//! Runs are read exactly as `list` and `info` read them: the storage lists
//! them and gives each one's details, the status plugin configured for its
//! project decides its status and its tasks'. Importing is idempotent
//! ([`HistoryDb::import_run`]): a run stored with the same content is left
//! untouched.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use otto_hooks_plugin_api::{Run, RunDetails, RunStatus, TaskStatus, Timestamp};
use otto_hooks_sqlite::{Completion, HistoryDb, ImportOutcome, ImportedRun, NewEvent, NewRun};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{Config, InstanceSpec};
use crate::history::{History, HistoryError};
use crate::registry::Registry;

/// The error of a run otto left without finishing.
pub const INTERRUPTED_ERROR: &str = "interrupted: otto exited without finishing";
/// The error of a run whose status nothing decided.
pub const UNKNOWN_ERROR: &str = "status unknown";

/// A run that could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The history id (`<project-dir>:<run>`).
    pub run: String,
    /// Why, in one line.
    pub error: String,
}

/// What an import did: the document `import otto --json` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Runs found (and attempted).
    pub runs: usize,
    /// Runs new to the history.
    pub inserted: usize,
    /// Runs stored before with other content (a live run since finished…).
    pub updated: usize,
    /// Runs stored before with exactly this content.
    pub unchanged: usize,
    /// The history database.
    pub db: String,
    /// Runs that could not be imported.
    pub skipped: Vec<Skipped>,
}

/// The history id of an otto run: `<project-dir>:<run>`.
pub fn history_id(project: &str, run: &str) -> String {
    format!("{project}:{run}")
}

/// The history database to write by default: the `db` setting of a
/// configured `sqlite` storage (`~/` expands; relative to `hooks_home`),
/// else `<hooks_home>/history.db`.
pub fn default_db_path(config: &Config, hooks_home: &Path) -> PathBuf {
    let setting = config
        .default_selection()
        .storage
        .into_iter()
        .find(|s| s.plugin == "sqlite")
        .and_then(|s| {
            s.settings
                .get("db")
                .and_then(|v| v.as_str().map(str::to_owned))
        });
    match setting {
        None => hooks_home.join("history.db"),
        Some(s) => {
            let expanded = match s.strip_prefix("~/") {
                Some(rest) => crate::paths::home_dir().join(rest),
                None => PathBuf::from(s),
            };
            if expanded.is_absolute() {
                expanded
            } else {
                hooks_home.join(expanded)
            }
        }
    }
}

fn plus_ms(t: Timestamp, ms: u64) -> Timestamp {
    let total_nanos = u64::from(t.nanos) + (ms % 1000) * 1_000_000;
    let secs = i64::try_from(ms / 1000)
        .ok()
        .and_then(|s| t.secs.checked_add(s))
        .and_then(|s| s.checked_add((total_nanos / 1_000_000_000) as i64));
    match secs {
        Some(secs) => Timestamp {
            secs,
            nanos: (total_nanos % 1_000_000_000) as u32,
        },
        None => t,
    }
}

fn payload(map: Map<String, Value>) -> Option<String> {
    (!map.is_empty()).then(|| Value::Object(map).to_string())
}

/// How one task ends up in the history.
enum TaskOutcome {
    Completed,
    Failed(String),
    /// Started, not finished (the run is live).
    Started,
    /// Never started.
    NotStarted,
    Skipped,
}

fn exit_error(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "failed".to_owned(),
    }
}

fn task_outcome(status: TaskStatus, exit_code: Option<i32>, run: RunStatus) -> TaskOutcome {
    match status {
        TaskStatus::Success => TaskOutcome::Completed,
        TaskStatus::Failed => TaskOutcome::Failed(exit_error(exit_code)),
        TaskStatus::Running => TaskOutcome::Started,
        TaskStatus::Pending => TaskOutcome::NotStarted,
        TaskStatus::Skipped => TaskOutcome::Skipped,
        TaskStatus::Interrupted => TaskOutcome::Failed("interrupted".to_owned()),
        _ => match (exit_code, run) {
            (Some(0), _) => TaskOutcome::Completed,
            (Some(c), _) => TaskOutcome::Failed(exit_error(Some(c))),
            (None, RunStatus::Success) => TaskOutcome::Completed,
            (None, RunStatus::Running) => TaskOutcome::Started,
            (None, RunStatus::Interrupted) => TaskOutcome::Failed("interrupted".to_owned()),
            (None, _) => TaskOutcome::Failed(UNKNOWN_ERROR.to_owned()),
        },
    }
}

/// The history run for an otto run's details (status already decided).
///
/// Task start times are not recorded by the storage: a task starts with
/// its run, and ends `duration_ms` later when that is known, else when the
/// run ended.
pub fn imported_run(details: &RunDetails) -> ImportedRun {
    let run = &details.run;
    let id = history_id(&run.project, &run.id);
    let start = run.started_at;
    let task_end = |ms: Option<u64>| ms.map(|ms| plus_ms(start, ms));
    let last_task_end = details
        .tasks
        .iter()
        .filter_map(|t| task_end(t.duration_ms))
        .max();
    let ended_at = run.ended_at.or(last_task_end).unwrap_or(start).max(start);
    let unit_count = u32::try_from(details.tasks.len()).unwrap_or(u32::MAX);

    let mut events = Vec::with_capacity(details.tasks.len() * 2 + 2);
    let mut started = NewEvent::new(start, "orch.started");
    started.payload =
        Some(serde_json::json!({"unit_count": unit_count, "parallelism": 1}).to_string());
    events.push(started);
    let mut failed_tasks: Vec<&str> = Vec::new();
    for task in &details.tasks {
        let outcome = task_outcome(task.status, task.exit_code, run.status);
        let unit = |kind: &str, time: Timestamp| {
            let mut e = NewEvent::new(time, kind);
            e.unit = Some(task.name.clone());
            e
        };
        match outcome {
            TaskOutcome::NotStarted => continue,
            TaskOutcome::Skipped => {
                events.push(unit("unit.skipped", start));
                continue;
            }
            _ => {}
        }
        let mut e = unit("unit.started", start);
        e.payload = Some(serde_json::json!({"total_tasks": 1}).to_string());
        events.push(e);
        let end = task_end(task.duration_ms).unwrap_or(ended_at);
        let mut figures = Map::new();
        if let Some(code) = task.exit_code {
            figures.insert("exit_code".into(), Value::from(code));
        }
        if let Some(ms) = task.duration_ms {
            figures.insert("duration_ms".into(), Value::from(ms));
        }
        match outcome {
            TaskOutcome::Completed => {
                let mut e = unit("unit.completed", end);
                e.payload = payload(figures);
                events.push(e);
            }
            TaskOutcome::Failed(error) => {
                let mut e = unit("unit.failed", end);
                e.payload = payload(figures);
                e.error = Some(error);
                events.push(e);
                failed_tasks.push(&task.name);
            }
            _ => {}
        }
    }

    let (status, error) = match run.status {
        RunStatus::Running => (None, None),
        RunStatus::Success => (Some("completed"), None),
        RunStatus::Stopped => (Some("stopped"), None),
        RunStatus::Failed => (Some("failed"), Some(failure_summary(&failed_tasks))),
        RunStatus::Interrupted => (Some("failed"), Some(INTERRUPTED_ERROR.to_owned())),
        _ => (Some("failed"), Some(UNKNOWN_ERROR.to_owned())),
    };
    let last_event = events.iter().map(|e| e.time).max().unwrap_or(start);
    if let Some(status) = status {
        let kind = match status {
            "completed" => "orch.completed",
            "stopped" => "run.stopped",
            _ => "orch.failed",
        };
        let mut e = NewEvent::new(ended_at.max(last_event), kind);
        e.error = error.clone();
        events.push(e);
    }
    // Time order; a stable sort keeps each task's start before its end and
    // `orch.started` first (nothing is earlier than the run's start).
    events.sort_by_key(|e| e.time);

    let completion = status.map(|status| Completion {
        run_id: id.clone(),
        ended_at,
        status: status.to_owned(),
        completed_units: None,
        failed_units: None,
        blocked_units: None,
        error,
    });
    let repo_path = run
        .attributes
        .get("cwd")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&run.project)
        .to_owned();
    let tasks_dir = (!run.location.is_empty()).then(|| {
        Path::new(&run.location)
            .join("tasks")
            .to_string_lossy()
            .into_owned()
    });
    ImportedRun {
        run: NewRun {
            id,
            project: run.project.clone(),
            repo_path,
            started_at: start,
            parallelism: 1,
            total_units: unit_count,
            tasks_dir,
            dry_run: false,
        },
        events,
        completion,
    }
}

fn failure_summary(failed: &[&str]) -> String {
    const SHOWN: usize = 5;
    match failed.len() {
        0 => "failed".to_owned(),
        n => {
            let mut names = failed
                .iter()
                .take(SHOWN)
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if n > SHOWN {
                names.push_str(&format!(" and {} more", n - SHOWN));
            }
            format!("{n} task(s) failed: {names}")
        }
    }
}

/// `run` with every text redacted as the hooks redact what they record: the
/// project, paths, each event's type, unit, payload and error, the final error.
/// (otto's task names and exit statuses rarely hold a secret; a path or an
/// error text may.) A payload that is not JSON is dropped.
pub fn redacted(mut run: ImportedRun, redactor: &otto_hooks_redact::Redactor) -> ImportedRun {
    let text = |s: &mut String| {
        if let std::borrow::Cow::Owned(new) = redactor.redact_error(s) {
            *s = new;
        }
    };
    text(&mut run.run.project);
    text(&mut run.run.repo_path);
    if let Some(t) = &mut run.run.tasks_dir {
        text(t);
    }
    for event in &mut run.events {
        text(&mut event.kind);
        if let Some(u) = &mut event.unit {
            text(u);
        }
        if let Some(e) = &mut event.error {
            text(e);
        }
        if let Some(p) = &event.payload {
            event.payload = redactor.redact_payload(p).ok().map(|r| r.into_string());
        }
    }
    if let Some(e) = run.completion.as_mut().and_then(|c| c.error.as_mut()) {
        text(e);
    }
    run
}

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Only this project: its directory name, its name or its hash, exactly.
    pub project: Option<String>,
}

/// The runs of one storage, read for importing: its runs with their
/// details, statuses decided as `info` decides them.
#[derive(Debug)]
pub struct OttoSource<'a> {
    history: History<'a>,
    /// The configured redaction: an imported run is redacted like a recorded
    /// one before it is written.
    redactor: otto_hooks_redact::Redactor,
}

impl<'a> OttoSource<'a> {
    /// Runs through the storage `spec` (normally `otto-fs`).
    pub fn open(
        config: &'a Config,
        registry: &'a Registry,
        data_dir: &Path,
        spec: &InstanceSpec,
    ) -> Result<Self, HistoryError> {
        Ok(OttoSource {
            history: History::open(config, registry, data_dir, spec)?,
            redactor: crate::hooks::configured_redactor(config),
        })
    }

    /// Plugin problems met so far (each once), for stderr.
    pub fn take_warnings(&self) -> Vec<String> {
        self.history.take_warnings()
    }

    /// Every run matching `project`, oldest first.
    pub fn runs(&self, project: Option<&str>) -> Result<Vec<Run>, HistoryError> {
        let mut runs = self.history.raw_runs(project, None)?;
        runs.reverse();
        Ok(runs)
    }

    /// Imports `runs` into `db`, several at a time; `progress(done, total)`
    /// is called as runs complete.
    pub fn import(
        &self,
        runs: &[Run],
        db: &HistoryDb,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> ImportSummary {
        let results: Vec<Mutex<Option<Result<ImportOutcome, String>>>> =
            runs.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8)
            .min(runs.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(run) = runs.get(i) else { break };
                        let result =
                            self.history
                                .details(run)
                                .map_err(|e| e.message)
                                .and_then(|details| {
                                    db.import_run(redacted(imported_run(&details), &self.redactor))
                                        .map_err(|e| e.to_string())
                                });
                        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1, runs.len());
                    }
                });
            }
        });
        let mut summary = ImportSummary {
            runs: runs.len(),
            db: db.path().display().to_string(),
            ..ImportSummary::default()
        };
        for (run, result) in runs.iter().zip(results) {
            match result.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok(ImportOutcome::Inserted)) => summary.inserted += 1,
                Some(Ok(ImportOutcome::Updated)) => summary.updated += 1,
                Some(Ok(ImportOutcome::Unchanged)) => summary.unchanged += 1,
                Some(Err(error)) => summary.skipped.push(Skipped {
                    run: history_id(&run.project, &run.id),
                    error,
                }),
                None => summary.skipped.push(Skipped {
                    run: history_id(&run.project, &run.id),
                    error: "not attempted".to_owned(),
                }),
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otto_hooks_plugin_api::Task;

    fn details(status: RunStatus, tasks: Vec<Task>) -> RunDetails {
        let mut attributes = Map::new();
        attributes.insert("cwd".into(), Value::from("/src/web"));
        RunDetails {
            run: Run {
                id: "100-1".into(),
                project: "web-0123abcd".into(),
                started_at: Timestamp::from_secs(100),
                ended_at: None,
                status,
                location: "/o/web-0123abcd/100-1".into(),
                task_count: u32::try_from(tasks.len()).unwrap_or(0),
                attributes,
                ..Run::default()
            },
            tasks,
        }
    }

    fn task(name: &str, status: TaskStatus, exit: Option<i32>, ms: Option<u64>) -> Task {
        Task {
            name: name.into(),
            status,
            exit_code: exit,
            duration_ms: ms,
            ..Task::default()
        }
    }

    fn kinds(imp: &ImportedRun) -> Vec<(String, Option<String>)> {
        imp.events
            .iter()
            .map(|e| (e.kind.clone(), e.unit.clone()))
            .collect()
    }

    #[test]
    fn an_imported_run_is_redacted_like_a_recorded_one() {
        let token = format!("ghp_{}", "Xq7Rk2Vb9Lm4Tz8Wc3Hn6Pd5Jf1Gs0YaEuOi");
        let mut run = imported_run(&details(
            RunStatus::Failed,
            vec![task(
                &format!("deploy-{token}"),
                TaskStatus::Failed,
                Some(1),
                Some(5),
            )],
        ));
        run.run.repo_path = format!("/src/{token}");
        run.run.tasks_dir = Some(format!("/src/{token}/tasks"));
        if let Some(c) = run.completion.as_mut() {
            c.error = Some(format!("died with {token}"));
        }
        let out = redacted(run, &otto_hooks_redact::Redactor::default());
        let all = format!("{out:?}");
        assert!(!all.contains(&token), "{all}");
        assert!(all.contains("[REDACTED]"), "{all}");
    }

    #[test]
    fn a_failed_run_maps_to_choo_events_in_time_order() {
        let imp = imported_run(&details(
            RunStatus::Failed,
            vec![
                task("a", TaskStatus::Success, Some(0), Some(3000)),
                task("b", TaskStatus::Failed, Some(2), Some(1500)),
            ],
        ));
        assert_eq!(imp.run.id, "web-0123abcd:100-1");
        assert_eq!(imp.run.repo_path, "/src/web");
        assert_eq!(imp.run.total_units, 2);
        assert_eq!(
            imp.run.tasks_dir.as_deref(),
            Some("/o/web-0123abcd/100-1/tasks")
        );
        let k = kinds(&imp);
        let unit = |s: &str| Some(s.to_owned());
        assert_eq!(
            k,
            [
                ("orch.started".into(), None),
                ("unit.started".into(), unit("a")),
                ("unit.started".into(), unit("b")),
                ("unit.failed".into(), unit("b")),
                ("unit.completed".into(), unit("a")),
                ("orch.failed".into(), None),
            ]
        );
        let failed = &imp.events[3];
        assert_eq!(failed.error.as_deref(), Some("exit code 2"));
        assert_eq!(
            failed.payload.as_deref(),
            Some(r#"{"exit_code":2,"duration_ms":1500}"#)
        );
        assert_eq!(
            failed.time,
            Timestamp {
                secs: 101,
                nanos: 500_000_000
            }
        );
        let c = imp.completion.unwrap();
        assert_eq!(c.status, "failed");
        assert_eq!(c.ended_at, Timestamp::from_secs(103));
        assert_eq!(c.error.as_deref(), Some("1 task(s) failed: `b`"));
    }

    #[test]
    fn a_live_run_has_no_completion_and_unknown_fails() {
        let live = imported_run(&details(
            RunStatus::Running,
            vec![
                task("a", TaskStatus::Success, Some(0), Some(1000)),
                task("b", TaskStatus::Running, None, None),
                task("c", TaskStatus::Pending, None, None),
            ],
        ));
        assert!(live.completion.is_none());
        assert_eq!(live.events.len(), 4, "{:?}", kinds(&live));
        let unknown = imported_run(&details(RunStatus::Unknown, vec![]));
        let c = unknown.completion.unwrap();
        assert_eq!(
            (c.status.as_str(), c.error.as_deref()),
            ("failed", Some(UNKNOWN_ERROR))
        );
        assert_eq!(c.ended_at, Timestamp::from_secs(100));
        let interrupted = imported_run(&details(RunStatus::Interrupted, vec![]));
        assert_eq!(
            interrupted.completion.unwrap().error.as_deref(),
            Some(INTERRUPTED_ERROR)
        );
    }
}
