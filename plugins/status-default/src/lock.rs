//! The liveness probe: is a run's `.lock` held?
//!
//! otto holds `flock(LOCK_EX)` on `<run>/.lock` for the whole run. The probe
//! opens the file read-only — never creating it, never following a symlink —
//! and asks for a shared lock without blocking: `EWOULDBLOCK` means another
//! open file holds it. Otherwise the probe releases its lock and closes.

use std::path::Path;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// The name of the lock file inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// What the probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockState {
    /// Someone holds a lock on it: the run is live.
    Held,
    /// It exists and nobody holds it: whatever ran there has ended.
    Free,
    /// There is no lock file (a legacy run, or a removed one).
    Missing,
    /// It is a symbolic link, which the probe never follows.
    Symlink,
    /// The probe failed (permissions, an odd file system): treated as not held.
    Unknown,
}

impl LockState {
    /// Whether the run is live.
    pub fn is_held(self) -> bool {
        self == LockState::Held
    }
}

/// Probes `<run_dir>/.lock`.
///
/// Opens with `O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` (never
/// `O_CREAT`; `O_NONBLOCK` so that a FIFO planted there cannot block the
/// open), then `flock(LOCK_SH | LOCK_NB)`. Errors other than "missing",
/// "symlink" and "held" are logged at debug level and read as
/// [`LockState::Unknown`].
pub fn probe(run_dir: &Path) -> LockState {
    let path = run_dir.join(LOCK_FILE);
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::open(&path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return LockState::Missing,
        Err(Errno::LOOP) => return LockState::Symlink,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "cannot open the run lock; taking it as not held");
            return LockState::Unknown;
        }
    };
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            if let Err(e) = rustix::fs::flock(&fd, FlockOperation::Unlock) {
                tracing::debug!(path = %path.display(), error = %e, "cannot release the probe's lock");
            }
            LockState::Free
        }
        Err(Errno::WOULDBLOCK) => LockState::Held,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "cannot probe the run lock; taking it as not held");
            LockState::Unknown
        }
    }
}
