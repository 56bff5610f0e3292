//! Locks: otto's per-run `.lock` (taken to prove a run is not live, and held
//! while it is deleted) and our own `clean.lock` (two cleanups never run at
//! once).
//!
//! Both are `flock(2)` locks, which belong to an open file description:
//! the kernel releases them when the holder exits, however it exits, so a
//! crashed otto or a crashed cleanup never leaves a stale lock behind.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::sys;

/// The name of otto's run lock inside a run directory.
pub(crate) const RUN_LOCK: &CStr = c".lock";

/// The reason given for a run whose `.lock` somebody holds.
pub const LIVE: &str = "live: its .lock is held";

/// Our hold on a run's `.lock`, if it has one. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) enum RunLock {
    /// We hold `flock(LOCK_EX)` on the run's `.lock`: otto is not running it
    /// and cannot start using it while we hold it.
    Held(OwnedFd),
    /// The run has no `.lock` (a legacy run, or one whose otto died before
    /// creating it): nothing holds it.
    Absent,
}

impl RunLock {
    /// Releases the lock (closing the descriptor): called once the run is
    /// gone, so that the hold visibly spans the rename and the purge.
    pub(crate) fn release(self) {
        match self {
            RunLock::Held(fd) => drop(fd),
            RunLock::Absent => {}
        }
    }
}

/// Takes the `.lock` of the open run directory `run`.
///
/// The file is opened relative to the run's descriptor with `O_RDONLY |
/// O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY` and never `O_CREAT`: the
/// probe never creates it, never follows a symlink planted in its place, and
/// cannot block on a FIFO. Then `flock(LOCK_EX | LOCK_NB)`: held by anyone
/// (otto holds it for the whole run) → refused as [`LIVE`]. A missing
/// `.lock` is fine; anything else — a symlink, a directory, an open or lock
/// error — is refused: when in doubt the run is treated as live.
///
/// The error is the refusal reason.
pub(crate) fn lock_run(run: BorrowedFd<'_>) -> Result<RunLock, String> {
    match sys::lstat_at(run, RUN_LOCK) {
        Ok(st) if sys::is_file(&st) => {}
        Ok(st) if sys::is_symlink(&st) => {
            return Err("its .lock is a symlink (never followed): treated as live".into());
        }
        Ok(_) => return Err("its .lock is not a regular file: treated as live".into()),
        Err(Errno::NOENT) => return Ok(RunLock::Absent),
        Err(e) => {
            return Err(format!(
                "cannot examine its .lock ({}): treated as live",
                sys::describe(e)
            ));
        }
    }
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(run, RUN_LOCK, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(RunLock::Absent),
        Err(e) => {
            return Err(format!(
                "cannot open its .lock ({}): treated as live",
                sys::describe(e)
            ));
        }
    };
    match rustix::fs::fstat(&fd) {
        Ok(st) if sys::is_file(&st) => {}
        Ok(_) => return Err("its .lock is not a regular file: treated as live".into()),
        Err(e) => {
            return Err(format!(
                "cannot examine its .lock ({}): treated as live",
                sys::describe(e)
            ));
        }
    }
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(RunLock::Held(fd)),
        Err(Errno::WOULDBLOCK) => Err(LIVE.into()),
        Err(e) => Err(format!(
            "cannot lock its .lock ({}): treated as live",
            sys::describe(e)
        )),
    }
}

/// The name of our own lock in the otto-hooks home.
pub const CLEAN_LOCK: &str = "clean.lock";

/// Our own lock: while a `CleanLock` is alive no other `otto-hooks clean`
/// (in this or any process) can take it. Released on drop or exit.
#[derive(Debug)]
pub struct CleanLock {
    file: File,
    path: PathBuf,
}

impl CleanLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Clears the pid before the lock is released, so that it never names a
/// process that no longer holds the lock.
impl Drop for CleanLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

impl AsFd for CleanLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Takes our clean lock: `flock(LOCK_EX | LOCK_NB)` on
/// `<hooks_home>/clean.lock`.
///
/// `hooks_home` is created (0700) if missing; the lock file is one of our
/// own state files ([`crate::own_files`]): created 0600, never followed.
/// The holder writes its pid into it, so that a refused second cleanup can
/// say which process holds it.
pub fn lock_clean(hooks_home: &Path) -> Result<CleanLock, String> {
    use std::os::unix::fs::DirBuilderExt;
    let path = hooks_home.join(CLEAN_LOCK);
    let shown = sys::show(&path);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(hooks_home)
        .map_err(|e| format!("cannot create {}: {e}", sys::show(hooks_home)))?;
    // Created exclusively when missing; an existing one must be a regular
    // file of ours with one link (a hard link to another file would have
    // that file truncated and written), never reached through a symlink.
    let file = crate::own_files::open(&path, crate::own_files::Access::ReadWrite, Some(0o600))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            let holder = holder_pid(&file)
                .map(|pid| format!("pid {pid}"))
                .unwrap_or_else(|| "pid unknown".into());
            return Err(format!(
                "another otto-hooks clean is running ({holder}; it holds {shown}): try again when it has finished"
            ));
        }
        Err(e) => return Err(format!("cannot lock {shown}: {}", sys::describe(e))),
    }
    // Best effort: the pid only improves the message a second cleanup shows.
    let pid = format!("{}\n", std::process::id());
    if file.set_len(0).is_err() || file.write_all_at(pid.as_bytes(), 0).is_err() {
        tracing::debug!("could not record our pid in {shown}");
    }
    Ok(CleanLock { file, path })
}

/// The pid a holder wrote into the clean lock, if readable.
fn holder_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(buf.get(..n)?).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn open_dir(path: &Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn a_run_without_a_lock_is_absent_and_the_probe_never_creates_one() {
        let tmp = tempfile::tempdir().unwrap();
        let run = open_dir(tmp.path());
        assert!(matches!(lock_run(run.as_fd()), Ok(RunLock::Absent)));
        assert!(!tmp.path().join(".lock").exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_held_lock_is_live_and_ours_blocks_otto() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(".lock"), "").unwrap();
        let run = open_dir(tmp.path());
        let otto = File::open(tmp.path().join(".lock")).unwrap();
        rustix::fs::flock(&otto, FlockOperation::LockShared).unwrap();
        assert_eq!(lock_run(run.as_fd()).unwrap_err(), LIVE);
        rustix::fs::flock(&otto, FlockOperation::Unlock).unwrap();
        let held = lock_run(run.as_fd()).unwrap();
        assert!(matches!(held, RunLock::Held(_)));
        assert_eq!(
            rustix::fs::flock(&otto, FlockOperation::NonBlockingLockExclusive),
            Err(Errno::WOULDBLOCK)
        );
        drop(held);
        rustix::fs::flock(&otto, FlockOperation::NonBlockingLockExclusive).unwrap();
    }

    #[test]
    fn a_symlinked_or_odd_lock_fails_closed_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("outside-lock");
        let run_dir = tmp.path().join("run");
        std::fs::create_dir(&run_dir).unwrap();
        symlink(&target, run_dir.join(".lock")).unwrap();
        let run = open_dir(&run_dir);
        assert!(lock_run(run.as_fd()).unwrap_err().contains("symlink"));
        assert!(
            !target.exists(),
            "the dangling symlink's target was created"
        );
        std::fs::remove_file(run_dir.join(".lock")).unwrap();
        std::fs::create_dir(run_dir.join(".lock")).unwrap();
        assert!(
            lock_run(run.as_fd())
                .unwrap_err()
                .contains("not a regular file")
        );
    }

    #[test]
    fn the_clean_lock_refuses_a_second_holder_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("hooks-home");
        let first = lock_clean(&home).unwrap();
        let mode = std::fs::metadata(home.join(CLEAN_LOCK))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = lock_clean(&home).unwrap_err();
        assert!(
            err.starts_with("another otto-hooks clean is running"),
            "{err}"
        );
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lock_clean(&home).unwrap();
    }

    #[test]
    fn the_clean_lock_is_never_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        symlink(&target, tmp.path().join(CLEAN_LOCK)).unwrap();
        let err = lock_clean(tmp.path()).unwrap_err();
        assert!(err.contains("refused: it is a symbolic link"), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn the_clean_lock_is_never_a_hard_link_to_another_file() {
        let tmp = tempfile::tempdir().unwrap();
        let other = tmp.path().join("other");
        std::fs::write(&other, "precious").unwrap();
        std::fs::hard_link(&other, tmp.path().join(CLEAN_LOCK)).unwrap();
        let err = lock_clean(tmp.path()).unwrap_err();
        assert!(err.contains("2 hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious");
    }
}
