//! What a run's task directories say when otto.db does not: the files each
//! task left behind.
//!
//! otto keeps no exit code on disk, but it leaves a trace of every task that
//! exited 0. Every task script otto writes starts with `set -euo pipefail`
//! and ends with an epilogue, `otto_serialize_output "<task>"`, which writes
//! `output.<task>.env` (bash) or `output.<task>.json` (python). After a task
//! exits 0, otto converts the `.env` into `output.<task>.json`, or writes
//! `{}` there when the task wrote neither. A task that exits non-zero never
//! reaches its epilogue, and otto writes nothing for it (the error goes to
//! otto's own terminal, not to the task's `stderr.log`). So:
//!
//! - `output.<task>.json` or `output.<task>.env` present: the task ran to
//!   its end — it exited 0, whatever its `stderr.log` holds (compilers,
//!   cargo and npm write warnings there);
//! - `builtins.sh` / `builtins.py` present (written when the task starts,
//!   by every otto that writes outputs) and no output file: the task failed
//!   or was killed mid-task;
//! - neither: the task never started (otto's terminal UI creates every
//!   task's directory and logs up front), or an otto older than output
//!   files ran it. Only `stderr.log`'s size is left: the stderr heuristic.
//!
//! Nothing here follows a symbolic link: the run directory, `tasks` and
//! each task directory are opened with `O_NOFOLLOW`, relative to the
//! directory above; each task directory is read once (`getdents64`) and
//! only `stderr.log` is stat'ed, with `AT_SYMLINK_NOFOLLOW`. A name that is
//! not a regular file (a symlink, a directory) counts as absent.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What one task directory shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskFiles {
    /// `output.<task>.json` or `output.<task>.env` is there: the task ran
    /// to its end (exited 0).
    pub output: bool,
    /// `builtins.sh` or `builtins.py` is there: the task started, under an
    /// otto that writes output files.
    pub builtins: bool,
    /// The size of `stderr.log` (0 when missing or not a regular file).
    pub stderr_bytes: u64,
}

/// What a task's files say about how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trace {
    /// It wrote its output file: it exited 0.
    Exited0,
    /// It started and wrote no output file: it failed or was killed.
    Unfinished,
    /// Its files say nothing (never started, or an otto older than output
    /// files): only its stderr is left.
    Silent,
}

impl TaskFiles {
    /// How the task ended, as far as its files say.
    pub fn trace(&self) -> Trace {
        if self.output {
            Trace::Exited0
        } else if self.builtins {
            Trace::Unfinished
        } else {
            Trace::Silent
        }
    }
}

/// What a run's task directories show, together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunFiles {
    /// How many task directories there are.
    pub tasks: u64,
    /// The sum of their `stderr.log` sizes.
    pub stderr_bytes: u64,
    /// How many of them wrote to stderr.
    pub tasks_with_stderr: u64,
    /// How many wrote their output file.
    pub exited_0: u64,
    /// The tasks that started and wrote no output file, by name (sorted).
    pub unfinished: Vec<String>,
}

/// Flags for opening a directory without following a symlink.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens the run directory itself (a symlinked run directory is refused).
pub(crate) fn open_run_dir(run_dir: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(run_dir, dir_flags(), Mode::empty())?)
}

/// Opens `tasks` under the run directory; `None` when there is none.
fn open_tasks(run_fd: impl AsFd) -> io::Result<Option<OwnedFd>> {
    match rustix::fs::openat(run_fd, "tasks", dir_flags(), Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `name` in the directory is a regular file (`d_type`, or an
/// `lstat` when the file system does not fill it in).
fn is_regular(dir_fd: impl AsFd, name: &CStr, file_type: FileType) -> io::Result<bool> {
    match file_type {
        FileType::RegularFile => Ok(true),
        FileType::Unknown => match rustix::fs::statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(FileType::from_raw_mode(st.st_mode) == FileType::RegularFile),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        },
        _ => Ok(false),
    }
}

/// Reads one task directory: its output file, its builtins, the size of
/// its `stderr.log`.
fn task_files(task_fd: OwnedFd, task: &[u8]) -> io::Result<TaskFiles> {
    let mut files = TaskFiles::default();
    let mut dir = Dir::new(task_fd)?;
    let mut has_stderr = false;
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        let output = bytes
            .strip_prefix(b"output.")
            .and_then(|rest| rest.strip_prefix(task))
            .is_some_and(|ext| ext == b".json" || ext == b".env");
        let builtins = bytes == b"builtins.sh" || bytes == b"builtins.py";
        let stderr = bytes == b"stderr.log";
        if !(output || builtins || stderr) || !is_regular(dir.fd()?, name, entry.file_type())? {
            continue;
        }
        files.output |= output;
        files.builtins |= builtins;
        has_stderr |= stderr;
    }
    if has_stderr {
        files.stderr_bytes =
            match rustix::fs::statat(dir.fd()?, "stderr.log", AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    u64::try_from(st.st_size).unwrap_or(0)
                }
                Ok(_) | Err(Errno::NOENT) => 0,
                Err(e) => return Err(e.into()),
            };
    }
    Ok(files)
}

/// Calls `each(task name, its files)` for every task directory of the run.
///
/// Entries of `tasks/` that are not directories (files, symlinks) are not
/// tasks. A run without `tasks/` has no tasks.
pub(crate) fn scan(run_dir: &Path, mut each: impl FnMut(&CStr, TaskFiles)) -> io::Result<()> {
    let run_fd = open_run_dir(run_dir)?;
    let Some(tasks_fd) = open_tasks(&run_fd)? else {
        return Ok(());
    };
    let mut dir = Dir::new(tasks_fd)?;
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        if !matches!(entry.file_type(), FileType::Directory | FileType::Unknown) {
            continue;
        }
        let task_fd = match rustix::fs::openat(dir.fd()?, name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            // Gone meanwhile, or not a directory after all (d_type unknown).
            Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
            Err(e) => return Err(e.into()),
        };
        each(name, task_files(task_fd, name.to_bytes())?);
    }
    Ok(())
}

/// What the run's task directories show, together.
pub(crate) fn summarize(run_dir: &Path) -> io::Result<RunFiles> {
    let mut run = RunFiles::default();
    scan(run_dir, |name, files| {
        run.tasks += 1;
        run.stderr_bytes = run.stderr_bytes.saturating_add(files.stderr_bytes);
        run.tasks_with_stderr += u64::from(files.stderr_bytes > 0);
        match files.trace() {
            Trace::Exited0 => run.exited_0 += 1,
            Trace::Unfinished => run.unfinished.push(name.to_string_lossy().into_owned()),
            Trace::Silent => {}
        }
    })?;
    run.unfinished.sort();
    Ok(run)
}

/// What a run's task directories show, as storage that walked them gave
/// it in the run's `task_outputs` attribute (see otto-fs's crate docs):
/// `{"tasks", "exited_0", "unfinished", "tasks_with_stderr",
/// "stderr_bytes"}`, counted by the rules of [`summarize`]. `None` when
/// the attribute is not of that shape: the directories are read instead.
pub(crate) fn from_attribute(value: &serde_json::Value) -> Option<RunFiles> {
    let count = |key: &str| value.get(key).and_then(serde_json::Value::as_u64);
    let mut unfinished = value
        .get("unfinished")?
        .as_array()?
        .iter()
        .map(|task| task.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()?;
    // Sorted as `summarize` sorts, whatever the storage did.
    unfinished.sort();
    Some(RunFiles {
        tasks: count("tasks")?,
        stderr_bytes: count("stderr_bytes")?,
        tasks_with_stderr: count("tasks_with_stderr")?,
        exited_0: count("exited_0")?,
        unfinished,
    })
}

/// The files of each task directory, by task name (names that are not
/// UTF-8 are left out: no task of the model can have them).
pub(crate) fn files_by_task(run_dir: &Path) -> io::Result<HashMap<String, TaskFiles>> {
    let mut tasks = HashMap::new();
    scan(run_dir, |name, files| {
        if let Ok(name) = name.to_str() {
            tasks.insert(name.to_owned(), files);
        }
    })?;
    Ok(tasks)
}
