//! Deleting otto run directories and cache files, safely.
//!
//! This is the only code in otto-hooks that removes anything under
//! `$OTTO_HOME`. Everything it does follows from four rules.
//!
//! 1. **Descriptors, not paths.** [`OttoRoot::open`] opens the root once
//!    (following a symlink the user configured as `$OTTO_HOME`); every
//!    later step opens or removes exactly one entry relative to an open
//!    directory descriptor, with `O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW` and
//!    `unlinkat`. No symlink is ever followed at any depth, so a symlink
//!    planted anywhere — a project, a run, a subdirectory swapped for a
//!    symlink halfway through (CVE-2022-21658) — can only ever be removed as
//!    a link; its target is never touched. Every directory entered is
//!    checked to be on the root's device and mount (`st_dev`, and the
//!    `statx` mount id, which also catches bind mounts): a mount point is
//!    refused and left.
//! 2. **Only names that parse.** A project must parse as otto's
//!    `<name>-<8 lowercase hex>`, a run as `<u64>` or `<u64>-<u32>`
//!    (`otto_hooks_otto_fs::layout`). `..`, `.`, the empty name, anything
//!    with `/`, `.cache`, `17x` are refused before any system call; the
//!    root and a project directory can therefore never be what is deleted.
//! 3. **Liveness is the lock.** A run whose `.lock` is held by otto is
//!    refused; we take that lock ourselves (never creating the file) and
//!    hold it until the run is gone. Our own [`lock_clean`] keeps two
//!    cleanups from running at once.
//! 4. **Two phases.** A run is first moved, in one atomic `renameat`, into
//!    the trash `<root>/.otto-hooks-trash/` and both directories are
//!    `fsync`ed; only then is it purged. A command killed at any instant
//!    leaves each run either whole in its project or in the trash, never
//!    half-deleted in place; [`OttoRoot::purge_trash`] finishes the trash,
//!    and [`OttoRoot::remove_trash_if_empty`] leaves no trash behind. What
//!    must go in step with a run (its otto.db rows, [`crate::ottodb_rows`])
//!    is a [`Companion`] of [`OttoRoot::delete_run_with`]: prepared with
//!    the run's lock held, committed once the rename is on disk.
//!
//! Results are [`Outcome`]s, never panics: `Deleted` carries the bytes
//! actually freed (see [`OttoRoot::delete_run`]), `AlreadyGone` is never
//! reported as freed space, and refusals and failures carry one line of
//! explanation naming the path.

mod cache;
mod lock;
mod names;
mod remove;
mod root;
mod sys;
mod trash;

pub use cache::{CacheEntry, CacheSurvey, ScriptLink};
pub use lock::{CLEAN_LOCK, CleanLock, LIVE, lock_clean};
pub use root::OttoRoot;
pub use trash::TRASH_DIR;

/// What must go in step with a run directory (otto's rows of the run):
/// see [`OttoRoot::delete_run_with`]. Errors are one line, the reason.
pub trait Companion {
    /// The run's lock is held and it is still in its project: take what
    /// must go (begin a transaction, delete in it). An error refuses the
    /// deletion; nothing was touched.
    fn prepare(&mut self) -> Result<(), String>;
    /// The run is out of its project (renamed into the trash, on disk):
    /// make the companion deletion final. An error puts the run back.
    fn commit(&mut self) -> Result<(), String>;
    /// The run stays where it is: undo [`Companion::prepare`].
    fn abort(&mut self);
}

/// Nothing goes with the run.
#[derive(Debug, Default)]
pub struct NoCompanion;

impl Companion for NoCompanion {
    fn prepare(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn commit(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn abort(&mut self) {}
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Removed; `bytes_freed` counts the `st_size` of every entry removed
    /// whose inode lost its last link (directories and symlinks included).
    Deleted {
        /// Bytes freed.
        bytes_freed: u64,
    },
    /// It did not exist (any more): nothing was freed.
    AlreadyGone,
    /// Not deleted, on purpose, and left untouched: the reason.
    Refused(String),
    /// An error stopped the deletion: one line naming the path. After the
    /// move into the trash the message says so: the run is then gone from
    /// its project and the rest waits in the trash.
    Failed(String),
}

impl Outcome {
    /// The bytes freed (0 unless `Deleted`).
    pub fn bytes_freed(&self) -> u64 {
        match self {
            Outcome::Deleted { bytes_freed } => *bytes_freed,
            _ => 0,
        }
    }
}
