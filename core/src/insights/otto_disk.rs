//! otto runs that have no otto.db row — otto.db missing, the row pruned,
//! a run of an otto that kept none — read from their directories, so that
//! `history TASK`, `stats` and `flaky` count them with the rest.
//!
//! Runs are found as the rest of otto-hooks finds them: `$OTTO_HOME/<name>-
//! <hash8>/<ts>[-<n>]` (otto-fs's [`ProjectName`] and [`RunName`]), never
//! through a symbolic link. Their statuses are the `default` status
//! plugin's ([`DefaultStatus::detect_details`]): the live `.lock`, else what
//! the task directories show — a task that wrote `output.<task>.json`
//! exited 0; one that started and wrote none failed (or, in a run that
//! died, was interrupted); where the files say nothing, the stderr
//! heuristic. No exit code or duration survives on disk: those are `null`.
//! A task's script hash is its `script.sh` link's target, its log
//! `tasks/<task>/stdout.log`.

use std::path::{Path, PathBuf};

use otto_hooks_otto_fs::layout::{ProjectName, RunName};
use otto_hooks_plugin_api::{
    Run, RunDetails, RunStatus, StatusDetector, Task, TaskStatus, Timestamp,
};
use otto_hooks_status_default::{DefaultStatus, Settings};

use super::{Execution, RunRecord, Scope};
use crate::run_ref;

/// A run directory found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskRun {
    /// Its project directory (`web-6b20a2e4`).
    pub project: String,
    /// Its name (`1795342500`, `1795342500-1`).
    pub run: String,
    /// Its start second (from its name).
    pub started_at: i64,
    /// Its path.
    pub dir: PathBuf,
}

/// The names of the real (not symlinked) directories in `dir`.
fn subdirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect()
}

/// Every run directory of `home` whose start (its name) is inside `scope`
/// and whose project `scope` selects, newest first.
pub fn list(home: &Path, scope: &Scope) -> Vec<DiskRun> {
    let mut out = Vec::new();
    for project in subdirs(home) {
        if ProjectName::parse(&project).is_none() || !scope.has_project(&project) {
            continue;
        }
        let project_dir = home.join(&project);
        for run in subdirs(&project_dir) {
            let Some(name) = RunName::parse(&run) else {
                continue;
            };
            let started_at = name.start_secs();
            if !scope.contains(started_at) {
                continue;
            }
            out.push(DiskRun {
                dir: project_dir.join(&run),
                project: project.clone(),
                run,
                started_at,
            });
        }
    }
    out.sort_by(|a, b| {
        let key = |r: &DiskRun| RunName::parse(&r.run).map(|n| (n.secs, n.suffix));
        key(b).cmp(&key(a)).then_with(|| a.project.cmp(&b.project))
    });
    out
}

/// The statuses of runs without rows: the `default` status plugin over
/// `<home>/otto.db` (which has no row for them: it decides from the lock
/// and the task directories).
pub fn detector(home: &Path) -> DefaultStatus {
    DefaultStatus::with_settings(Settings {
        otto_db: Some(home.join("otto.db")),
        heuristic: true,
    })
}

/// The names of the task directories of `dir`, sorted.
fn task_names(dir: &Path) -> Vec<String> {
    let mut names = subdirs(&dir.join("tasks"));
    names.sort();
    names
}

/// Whether run `dir` ran `task` (has its task directory).
pub fn has_task(dir: &Path, task: &str) -> bool {
    std::fs::symlink_metadata(dir.join("tasks").join(task)).is_ok_and(|m| m.is_dir())
}

/// The run record and executions (of `task` only, when given) of `run`,
/// statuses decided by `status`.
pub fn read(
    run: &DiskRun,
    task: Option<&str>,
    status: &DefaultStatus,
) -> (RunRecord, Vec<Execution>) {
    let tasks_dir = run.dir.join("tasks");
    let names = task_names(&run.dir);
    let details = RunDetails {
        run: Run {
            id: run.run.clone(),
            project: run.project.clone(),
            started_at: Timestamp::from_secs(run.started_at),
            task_count: u32::try_from(names.len()).unwrap_or(u32::MAX),
            location: run.dir.display().to_string(),
            ..Run::default()
        },
        tasks: names
            .iter()
            .map(|name| Task {
                name: name.clone(),
                status: TaskStatus::Unknown,
                stdout_path: Some(
                    tasks_dir
                        .join(name)
                        .join("stdout.log")
                        .display()
                        .to_string(),
                ),
                ..Task::default()
            })
            .collect(),
    };
    // The plugin's error is a run it cannot judge: unknown, as `info` shows.
    let judged = status.detect_details(&details).unwrap_or(details);
    let record = RunRecord {
        project: run.project.clone(),
        run: run_ref::run_ref(&run.project, &run.run),
        started_at: run.started_at,
        status: match judged.run.status {
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stopped => "stopped",
            _ => "unknown",
        }
        .to_owned(),
        duration_seconds: None,
        size_bytes: None,
    };
    let executions = judged
        .tasks
        .into_iter()
        .filter(|t| task.is_none_or(|want| t.name == want))
        .map(|t| {
            let task_dir = tasks_dir.join(&t.name);
            let log = std::fs::symlink_metadata(task_dir.join("stdout.log"))
                .is_ok_and(|m| m.is_file())
                .then(|| task_dir.join("stdout.log").display().to_string());
            Execution {
                project: run.project.clone(),
                run: record.run.clone(),
                started_at: run.started_at,
                duration_seconds: None,
                status: t.status,
                exit_code: None,
                script_hash: super::otto::script_hash_on_disk(&task_dir),
                log,
                task: t.name,
            }
        })
        .collect();
    (record, executions)
}
