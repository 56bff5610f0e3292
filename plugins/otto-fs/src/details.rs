//! The tasks of one run, for `info`: every directory under `tasks/`, with
//! its logs and its script link.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use otto_hooks_plugin_api::{Task, TaskStatus};
use rustix::fs::Dir;

use crate::walk;

/// The tasks of the open run directory `run` at `run_path`, sorted by name.
pub(crate) fn tasks(run: BorrowedFd<'_>, run_path: &Path) -> Vec<Task> {
    let Ok(tasks_fd) = walk::open_dir_at(run, "tasks") else {
        return Vec::new();
    };
    let Ok(entries) = Dir::read_from(&tasks_fd) else {
        return Vec::new();
    };
    let mut tasks = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else { break };
        let raw = entry.file_name();
        if matches!(raw.to_bytes(), b"." | b"..") {
            continue;
        }
        let Ok(st) = walk::lstat_at(tasks_fd.as_fd(), raw) else {
            continue;
        };
        if !walk::is_dir(&st) {
            continue;
        }
        let name = raw.to_string_lossy().into_owned();
        let dir = run_path.join("tasks").join(&name);
        let mut task = Task {
            name,
            status: TaskStatus::Unknown,
            ..Task::default()
        };
        if let Ok(task_fd) = walk::open_dir_at(tasks_fd.as_fd(), raw) {
            fill(&mut task, task_fd.as_fd(), &dir);
        }
        tasks.push(task);
    }
    tasks.sort_by(|a, b| a.name.cmp(&b.name));
    tasks
}

/// Fills in a task's log paths and script from its open directory.
fn fill(task: &mut Task, fd: BorrowedFd<'_>, dir: &Path) {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    if walk::exists_at(fd, "stdout.log") {
        task.stdout_path = Some(path("stdout.log"));
    }
    if walk::exists_at(fd, "stderr.log") {
        task.stderr_path = Some(path("stderr.log"));
    }
    let Some(script) = script_name(fd) else {
        return;
    };
    task.script_path = Some(path(&script));
    if let Ok(st) = walk::lstat_at(fd, script.as_str()) {
        if walk::is_symlink(&st) {
            task.script_target = rustix::fs::readlinkat(fd, script.as_str(), Vec::new())
                .ok()
                .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned());
        }
    }
}

/// The task's script entry: `script.sh`, else `script.py`, else the first
/// other `script.*` by name.
fn script_name(fd: BorrowedFd<'_>) -> Option<String> {
    for name in ["script.sh", "script.py"] {
        if walk::exists_at(fd, name) {
            return Some(name.to_owned());
        }
    }
    let mut others: Vec<String> = Dir::read_from(fd)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
        .filter(|n| n.starts_with("script.") && n.len() > "script.".len())
        .collect();
    others.sort();
    others.into_iter().next()
}
