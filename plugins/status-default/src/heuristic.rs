//! The stderr heuristic: a run whose tasks wrote nothing to stderr succeeded.
//!
//! otto keeps no exit code on disk, so when otto.db knows nothing about a
//! run, the sizes of `tasks/*/stderr.log` are the last witness. Nothing here
//! follows a symbolic link: the run directory, `tasks`, each task directory
//! and each `stderr.log` are opened or stat'ed with `O_NOFOLLOW` /
//! `AT_SYMLINK_NOFOLLOW`, relative to the directory above; a `stderr.log`
//! that is not a regular file counts as empty.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What the heuristic saw in a run's task directories.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StderrSummary {
    /// How many task directories there are.
    pub tasks: u64,
    /// The sum of their `stderr.log` sizes.
    pub bytes: u64,
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

/// The size of `<task dir>/stderr.log`: 0 when missing or not a regular file.
fn stderr_size(task_fd: impl AsFd) -> io::Result<u64> {
    match rustix::fs::statat(task_fd, "stderr.log", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
            Ok(u64::try_from(st.st_size).unwrap_or(0))
        }
        Ok(_) | Err(Errno::NOENT) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Calls `each(task name, stderr bytes)` for every task directory of the run.
///
/// Entries of `tasks/` that are not directories (files, symlinks) are not
/// tasks. A run without `tasks/` has no tasks.
pub(crate) fn scan(run_dir: &Path, mut each: impl FnMut(&CStr, u64)) -> io::Result<()> {
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
        each(name, stderr_size(&task_fd)?);
    }
    Ok(())
}

/// Counts the run's tasks and sums their stderr sizes.
pub(crate) fn summarize(run_dir: &Path) -> io::Result<StderrSummary> {
    let mut summary = StderrSummary::default();
    scan(run_dir, |_, bytes| {
        summary.tasks += 1;
        summary.bytes = summary.bytes.saturating_add(bytes);
    })?;
    Ok(summary)
}

/// The stderr size of each task directory, by task name (names that are
/// not UTF-8 are left out: no task of the model can have them).
pub(crate) fn sizes_by_task(run_dir: &Path) -> io::Result<std::collections::HashMap<String, u64>> {
    let mut sizes = std::collections::HashMap::new();
    scan(run_dir, |name, bytes| {
        if let Ok(name) = name.to_str() {
            sizes.insert(name.to_owned(), bytes);
        }
    })?;
    Ok(sizes)
}
