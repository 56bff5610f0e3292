//! [`OttoRoot`]: the opened `$OTTO_HOME`, and the deletions made through it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::Outcome;
use super::lock;
use super::names;
use super::sys::{self, DirId, Fence};
use super::trash::{self, TRASH_DIR};

/// The opened `$OTTO_HOME`.
///
/// The root is opened once, by its path, following symlinks in that path
/// (a user may point `$OTTO_HOME` at a symlink). Everything below it is
/// reached from this descriptor, one entry at a time, never following a
/// symlink and never leaving the root's device and mount; the path is only
/// used in messages.
#[derive(Debug)]
pub struct OttoRoot {
    fd: OwnedFd,
    path: PathBuf,
    fence: Fence,
}

/// Why walking down stopped (internal; becomes an [`Outcome`]).
#[derive(Debug)]
pub(crate) enum Step {
    /// The entry does not exist.
    Gone,
    /// Not something we may touch: the reason.
    Refuse(String),
    /// An error: one line naming the path.
    Fail(String),
}

impl Step {
    /// A message for the step.
    pub(crate) fn message(self) -> String {
        match self {
            Step::Gone => "already gone".into(),
            Step::Refuse(m) | Step::Fail(m) => m,
        }
    }
}

impl From<Step> for Outcome {
    fn from(step: Step) -> Outcome {
        match step {
            Step::Gone => Outcome::AlreadyGone,
            Step::Refuse(m) => Outcome::Refused(m),
            Step::Fail(m) => Outcome::Failed(m),
        }
    }
}

/// `?` for functions returning an [`Outcome`].
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(step) => return Outcome::from(step),
        }
    };
}

impl OttoRoot {
    /// Opens `$OTTO_HOME` at `path` (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`,
    /// symlinks in `path` itself followed) and records its device and mount.
    pub fn open(path: &Path) -> std::io::Result<OttoRoot> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let id = DirId::of(&fd)?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(OttoRoot {
            fd,
            path,
            fence: Fence {
                dev: id.dev,
                mnt: id.mnt,
            },
        })
    }

    /// The root's path, as opened (made absolute, symlinks kept).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn fence(&self) -> Fence {
        self.fence
    }

    pub(crate) fn trash_path(&self) -> PathBuf {
        self.path.join(TRASH_DIR)
    }

    /// Opens the directory `name` of `parent` (whose path is `parent_path`,
    /// for messages) as `what`: refused when it is a symlink, not a
    /// directory, replaced between the look and the open, or outside the
    /// root's device and mount.
    pub(crate) fn open_below(
        &self,
        parent: BorrowedFd<'_>,
        parent_path: &Path,
        name: &str,
        what: &str,
    ) -> Result<(OwnedFd, DirId), Step> {
        let path = parent_path.join(name);
        let st = match sys::lstat_at(parent, name) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Err(Step::Gone),
            Err(e) => {
                return Err(Step::Fail(format!(
                    "cannot examine {}: {}",
                    sys::show(&path),
                    sys::describe(e)
                )));
            }
        };
        if sys::is_symlink(&st) {
            return Err(Step::Refuse(format!(
                "{what} {} is a symlink: never followed",
                sys::show(&path)
            )));
        }
        if !sys::is_dir(&st) {
            return Err(Step::Refuse(format!(
                "{what} {} is not a directory",
                sys::show(&path)
            )));
        }
        let fd = match sys::open_dir_at(parent, name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Err(Step::Gone),
            Err(e) if sys::not_a_dir(e) => {
                return Err(Step::Refuse(format!(
                    "{what} {} changed into a symlink or file as it was opened",
                    sys::show(&path)
                )));
            }
            Err(e) => {
                return Err(Step::Fail(format!(
                    "cannot open {}: {}",
                    sys::show(&path),
                    sys::describe(e)
                )));
            }
        };
        let id = DirId::of(&fd).map_err(|e| {
            Step::Fail(format!(
                "cannot examine {}: {}",
                sys::show(&path),
                sys::describe(e)
            ))
        })?;
        if !id.is(&st) {
            return Err(Step::Refuse(format!(
                "{what} {} was replaced as it was opened",
                sys::show(&path)
            )));
        }
        if !self.fence.holds(&id) {
            return Err(Step::Refuse(format!(
                "{what} {} is on another filesystem or mount (a mount point): left alone",
                sys::show(&path)
            )));
        }
        Ok((fd, id))
    }

    /// Opens the project directory `project` (already checked by name).
    pub(crate) fn open_project(&self, project: &str) -> Result<(OwnedFd, PathBuf), Step> {
        let (fd, _) = self.open_below(self.fd(), &self.path, project, "the project directory")?;
        Ok((fd, self.path.join(project)))
    }

    /// Two-phase delete of run `run` of project `project`.
    ///
    /// 1. Both names must parse (a project `<name>-<8 hex>`, a run `<u64>`
    ///    or `<u64>-<u32>`), so neither can be `.`, `..`, empty, contain `/`,
    ///    or name the root, a project, `.cache` or the trash.
    /// 2. The project and then the run are opened relative to the root's
    ///    descriptor with `O_DIRECTORY | O_NOFOLLOW` after an
    ///    `fstatat(AT_SYMLINK_NOFOLLOW)`; a symlink at either level, a
    ///    non-directory, a directory replaced between the look and the open,
    ///    or one on another device or mount is refused and left untouched.
    /// 3. The run's `.lock` is taken (`flock(LOCK_EX | LOCK_NB)`, never
    ///    created); held by otto → `Refused("live: its .lock is held")`. Our
    ///    lock is held until the run is gone, so otto cannot take it over in
    ///    between. A run with a `.keep` entry is refused as pinned.
    /// 4. Phase one: `renameat` of the run into the trash (same directory as
    ///    the projects' parent, so the same filesystem), then a check that
    ///    what moved is the directory we opened and locked — otherwise it is
    ///    put back and the deletion refused — and a check, on the moved
    ///    directory's descriptor, that no `.keep` appeared since the plan
    ///    was made (a late pin puts it back, refused) — then `fsync` of the
    ///    project and the trash. From here the run is gone from its project.
    /// 5. Phase two: the trash entry is purged by a descriptor-relative
    ///    removal that never follows a symlink and never enters a mount.
    ///
    /// Returns `Deleted` with the bytes freed (the `st_size` of every entry
    /// removed whose inode lost its last link: `du -sb` of the run when
    /// nothing in it is hard-linked from outside), `AlreadyGone` (0 bytes)
    /// when the project or the run does not exist, `Refused` with the
    /// reason, or `Failed` with one line naming the path. A `Failed` after
    /// phase one says so: the run is gone from the listing and what is left
    /// of it stays in the trash for [`OttoRoot::purge_trash`].
    ///
    /// Cleanups must not run concurrently: hold [`lock_clean`](super::lock_clean).
    pub fn delete_run(&self, project: &str, run: &str) -> Outcome {
        self.delete_run_with(project, run, &mut super::NoCompanion)
    }

    /// [`OttoRoot::delete_run`], with `companion` — what must go in step
    /// with the run (otto's rows of it) — prepared once the run's lock is
    /// held and before the move (a failure refuses the deletion, the run
    /// untouched), committed once the run is out of its project and the
    /// move is on disk (a failure puts the run back and refuses), and
    /// aborted whenever the run stays. The purge follows the commit.
    pub fn delete_run_with(
        &self,
        project: &str,
        run: &str,
        companion: &mut dyn super::Companion,
    ) -> Outcome {
        if let Err(reason) = names::check_project(project) {
            return Outcome::Refused(reason);
        }
        if let Err(reason) = names::check_run(run) {
            return Outcome::Refused(reason);
        }
        let (proj, proj_path) = step!(self.open_project(project));
        let run_path = proj_path.join(run);
        let (run_fd, run_id) =
            step!(self.open_below(proj.as_fd(), &proj_path, run, "the run directory"));
        let held = match lock::lock_run(run_fd.as_fd()) {
            Ok(held) => held,
            Err(reason) => return Outcome::Refused(reason),
        };
        if let Some(why) = pinned(run_fd.as_fd()) {
            return Outcome::Refused(why);
        }
        let Some(trash) = step!(trash::open(self, true)) else {
            return Outcome::Failed(format!("cannot open {}", sys::show(&self.trash_path())));
        };
        if let Err(reason) = companion.prepare() {
            return Outcome::Refused(reason);
        }
        let entry = match trash::move_in(proj.as_fd(), run, trash.as_fd(), project, run) {
            Ok(entry) => entry,
            Err(Errno::NOENT) => {
                companion.abort();
                return Outcome::AlreadyGone;
            }
            Err(e) => {
                companion.abort();
                return Outcome::Failed(format!(
                    "cannot move {} into {}: {}",
                    sys::show(&run_path),
                    sys::show(&self.trash_path()),
                    sys::describe(e)
                ));
            }
        };
        let entry_path = sys::join(&self.trash_path(), &entry);
        // What moved must be the directory we opened and locked.
        let moved = sys::lstat_at(trash.as_fd(), &entry);
        if !matches!(&moved, Ok(st) if run_id.is(st)) {
            companion.abort();
            return match trash::put_back(trash.as_fd(), &entry, proj.as_fd(), run) {
                Ok(()) => Outcome::Refused(format!(
                    "the run directory {} was replaced as it was being deleted: put back untouched",
                    sys::show(&run_path)
                )),
                Err(e) => Outcome::Failed(format!(
                    "the run directory {} was replaced as it was being deleted and could not be put back ({}): it is at {}",
                    sys::show(&run_path),
                    sys::describe(e),
                    sys::show(&entry_path)
                )),
            };
        }
        // A pin made after the plan was shown — up to this instant, when the
        // run is out of reach in the trash — puts it back.
        if let Some(why) = pinned(run_fd.as_fd()) {
            // Its rows stay too: the transaction is rolled back now, not
            // left holding otto.db's write lock.
            companion.abort();
            return match trash::put_back(trash.as_fd(), &entry, proj.as_fd(), run) {
                Ok(()) => Outcome::Refused(format!("{why}: put back untouched")),
                Err(e) => Outcome::Failed(format!(
                    "{why}, and it could not be put back ({}): it is at {}",
                    sys::describe(e),
                    sys::show(&entry_path)
                )),
            };
        }
        trash::sync(proj.as_fd(), &proj_path);
        trash::sync(trash.as_fd(), &self.trash_path());
        if let Err(reason) = companion.commit() {
            // What goes with the run could not go: neither does the run.
            return match trash::put_back(trash.as_fd(), &entry, proj.as_fd(), run) {
                Ok(()) => {
                    trash::sync(proj.as_fd(), &proj_path);
                    Outcome::Refused(format!("{reason}: the run is kept"))
                }
                Err(e) => Outcome::Failed(format!(
                    "{reason}, and {} could not be put back ({}): it is at {}",
                    sys::show(&run_path),
                    sys::describe(e),
                    sys::show(&entry_path)
                )),
            };
        }
        let removal = trash::purge_entry(self, trash.as_fd(), &entry);
        held.release();
        if removal.complete() {
            // Leave nothing of ours in otto's home: the trash exists only
            // while something is in it.
            trash::remove_if_empty(self);
            Outcome::Deleted {
                bytes_freed: removal.bytes,
            }
        } else {
            Outcome::Failed(format!(
                "{} is gone from its project but not fully removed ({} bytes freed): {}; the rest stays in {} for the next purge",
                sys::show(&run_path),
                removal.bytes,
                removal.summary(),
                sys::show(&self.trash_path())
            ))
        }
    }

    /// Deletes one cache file `<project>/.cache/<rel>` (`rel` = `<hash>.sh`,
    /// `<hash>.py`, or the legacy `<task>/<hash>`), only if it is a regular
    /// file last modified at least `min_age` ago.
    ///
    /// Every directory on the way (project, `.cache`, the legacy task
    /// directory) is opened as in [`OttoRoot::delete_run`]. The file is
    /// opened with `O_PATH | O_NOFOLLOW` (no side effect, a symlink is
    /// refused as the link itself) and checked on that descriptor: a regular
    /// file on the root's device, old enough. It is then renamed into the
    /// trash, and the renamed entry is checked to be that same inode, still
    /// a regular file, still old enough (a writer that touched it in between
    /// wins: it is put back and the deletion refused). Only then is it
    /// unlinked — in the trash, where nobody else writes. `Deleted`'s bytes
    /// are its size if that was its last link (checked on the descriptor
    /// after the unlink), else 0.
    pub fn delete_cache_file(&self, project: &str, rel: &str, min_age: Duration) -> Outcome {
        if let Err(reason) = names::check_project(project) {
            return Outcome::Refused(reason);
        }
        let (task, file) = match names::split_cache_rel(rel) {
            Ok(parts) => parts,
            Err(reason) => return Outcome::Refused(reason),
        };
        let (proj, proj_path) = step!(self.open_project(project));
        let (cache, cache_path) = {
            let (fd, _) =
                step!(self.open_below(proj.as_fd(), &proj_path, ".cache", "the cache directory"));
            (fd, proj_path.join(".cache"))
        };
        let (dir, dir_path) = match task {
            None => (cache, cache_path),
            Some(task) => {
                let (fd, _) =
                    step!(self.open_below(cache.as_fd(), &cache_path, task, "the cache directory"));
                (fd, cache_path.join(task))
            }
        };
        let path = dir_path.join(file);
        let fd = match rustix::fs::openat(
            &dir,
            file,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Outcome::AlreadyGone,
            Err(e) => {
                return Outcome::Failed(format!(
                    "cannot open {}: {}",
                    sys::show(&path),
                    sys::describe(e)
                ));
            }
        };
        if let Err(reason) = self.check_cache_file(&fd, &path, min_age) {
            return reason;
        }
        let Some(trash) = step!(trash::open(self, true)) else {
            return Outcome::Failed(format!("cannot open {}", sys::show(&self.trash_path())));
        };
        let entry = match trash::move_in(dir.as_fd(), file, trash.as_fd(), project, "cache") {
            Ok(entry) => entry,
            Err(Errno::NOENT) => return Outcome::AlreadyGone,
            Err(e) => {
                return Outcome::Failed(format!(
                    "cannot move {} into {}: {}",
                    sys::show(&path),
                    sys::show(&self.trash_path()),
                    sys::describe(e)
                ));
            }
        };
        let entry_path = sys::join(&self.trash_path(), &entry);
        // Re-check, on the descriptor, what we are about to unlink.
        let same = match (sys::lstat_at(trash.as_fd(), &entry), rustix::fs::fstat(&fd)) {
            (Ok(moved), Ok(now)) => sys::dev_ino(&moved) == sys::dev_ino(&now),
            _ => false,
        };
        let recheck = if same {
            self.check_cache_file(&fd, &path, min_age)
        } else {
            Err(Outcome::Refused(format!(
                "{} was replaced as it was being deleted",
                sys::show(&path)
            )))
        };
        if let Err(outcome) = recheck {
            return match trash::put_back(trash.as_fd(), &entry, dir.as_fd(), file) {
                Ok(()) => outcome,
                Err(e) => Outcome::Failed(format!(
                    "{} changed as it was being deleted and could not be put back ({}): it is at {}",
                    sys::show(&path),
                    sys::describe(e),
                    sys::show(&entry_path)
                )),
            };
        }
        trash::sync(dir.as_fd(), &dir_path);
        match rustix::fs::unlinkat(&trash, &entry, AtFlags::empty()) {
            Ok(()) => {}
            Err(e) => {
                return Outcome::Failed(format!(
                    "{} is gone from the cache but cannot be removed from {}: {}",
                    sys::show(&path),
                    sys::show(&entry_path),
                    sys::describe(e)
                ));
            }
        }
        let bytes_freed = match rustix::fs::fstat(&fd) {
            Ok(st) if sys::nlink(&st) == 0 => sys::size(&st),
            _ => 0,
        };
        trash::remove_if_empty(self);
        Outcome::Deleted { bytes_freed }
    }

    /// Checks the cache file open at `fd`: a regular file on the root's
    /// device, last modified at least `min_age` ago.
    fn check_cache_file(
        &self,
        fd: &OwnedFd,
        path: &Path,
        min_age: Duration,
    ) -> Result<(), Outcome> {
        let st = rustix::fs::fstat(fd).map_err(|e| {
            Outcome::Failed(format!(
                "cannot examine {}: {}",
                sys::show(path),
                sys::describe(e)
            ))
        })?;
        if sys::is_symlink(&st) {
            return Err(Outcome::Refused(format!(
                "{} is a symlink: never followed",
                sys::show(path)
            )));
        }
        if !sys::is_file(&st) {
            return Err(Outcome::Refused(format!(
                "{} is not a regular file",
                sys::show(path)
            )));
        }
        if sys::dev_ino(&st).0 != self.fence.dev {
            return Err(Outcome::Refused(format!(
                "{} is on another filesystem (a mount point): left alone",
                sys::show(path)
            )));
        }
        let age = SystemTime::now()
            .duration_since(sys::mtime(&st))
            .unwrap_or(Duration::ZERO);
        if age < min_age {
            return Err(Outcome::Refused(format!(
                "{} was modified {}s ago, less than the {}s a cache file is kept",
                sys::show(path),
                age.as_secs(),
                min_age.as_secs()
            )));
        }
        Ok(())
    }

    /// Finishes purging whatever an interrupted earlier command left in the
    /// trash, whatever the entries' names; returns the bytes freed (as for
    /// [`OttoRoot::delete_run`]). A missing trash is `Ok(0)` and is not
    /// created. If some entry cannot be fully removed (a permission error, a
    /// mount point inside it) everything else is still purged, the rest
    /// stays in the trash, and the error names the first failure and the
    /// bytes that were freed.
    ///
    /// Cleanups must not run concurrently: hold [`lock_clean`](super::lock_clean).
    pub fn purge_trash(&self) -> std::io::Result<u64> {
        trash::purge(self)
    }

    /// Removes the trash directory if it is empty (`unlinkat(AT_REMOVEDIR)`,
    /// which fails on a non-empty directory: never recursive, so nothing
    /// put there meanwhile is lost). A clean leaves nothing of ours in
    /// `$OTTO_HOME`. A trash that stays (not empty, or an error) is logged.
    pub fn remove_trash_if_empty(&self) {
        trash::remove_if_empty(self)
    }

    /// How many entries an interrupted earlier command left in the trash
    /// (0 when there is no trash). Reads only.
    pub fn trash_entries(&self) -> Result<usize, String> {
        trash::entries(self)
    }

    /// The entries an interrupted earlier command left in the trash and
    /// their apparent bytes (`du -sb`), for `usage`. Reads only.
    pub fn trash_usage(&self) -> Result<(usize, u64), String> {
        trash::measure(self)
    }

    /// Finishes what an interrupted earlier command left in the trash —
    /// every entry there is garbage by construction (see the trash module)
    /// — and removes the emptied trash directory. Returns the entries found
    /// and the bytes freed; `(0, 0)` when there was nothing. The caller
    /// holds the clean lock (`_lock`).
    pub fn finish_interrupted(&self, _lock: &super::CleanLock) -> Result<(usize, u64), String> {
        let entries = trash::entries(self)?;
        if entries == 0 {
            trash::remove_if_empty(self);
            return Ok((0, 0));
        }
        let bytes = trash::purge(self).map_err(|e| e.to_string())?;
        // Entries another live otto-hooks is deleting, and pinned runs that
        // could not be put back, stay: only what went is reported.
        let left = trash::entries(self)?;
        trash::remove_if_empty(self);
        Ok((entries.saturating_sub(left), bytes))
    }
}

/// Why the run whose directory is `run` is pinned, if it is: it has a
/// `.keep` entry (of any type, as the listing counts it). Read on the
/// descriptor; a pin that cannot be checked counts as a pin.
fn pinned(run: BorrowedFd<'_>) -> Option<String> {
    match sys::lstat_at(run, c".keep") {
        Ok(_) => Some("pinned: a .keep file appeared after the plan was made".to_owned()),
        Err(Errno::NOENT) => None,
        Err(e) => Some(format!(
            "cannot check for a .keep pin ({}): kept",
            sys::describe(e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_missing_or_non_directory_root_fails() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(OttoRoot::open(&tmp.path().join("missing")).is_err());
        std::fs::write(tmp.path().join("file"), "").unwrap();
        assert!(OttoRoot::open(&tmp.path().join("file")).is_err());
    }

    #[test]
    fn the_root_may_be_a_symlink_and_keeps_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
        let root = OttoRoot::open(&tmp.path().join("link")).unwrap();
        assert_eq!(root.path(), tmp.path().join("link"));
    }

    /// A companion that fails where told and records what was called.
    #[derive(Default)]
    struct Scripted {
        fail_prepare: bool,
        fail_commit: bool,
        calls: Vec<&'static str>,
    }

    impl crate::fsops::Companion for Scripted {
        fn prepare(&mut self) -> Result<(), String> {
            self.calls.push("prepare");
            if self.fail_prepare {
                Err("no".into())
            } else {
                Ok(())
            }
        }
        fn commit(&mut self) -> Result<(), String> {
            self.calls.push("commit");
            if self.fail_commit {
                Err("otto.db refused".into())
            } else {
                Ok(())
            }
        }
        fn abort(&mut self) {
            self.calls.push("abort");
        }
    }

    fn one_run() -> (tempfile::TempDir, OttoRoot, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("web-6b20a2e4").join("1700000000");
        std::fs::create_dir_all(run.join("tasks")).unwrap();
        std::fs::write(run.join("run.yaml"), "prog: otto\n").unwrap();
        let root = OttoRoot::open(tmp.path()).unwrap();
        (tmp, root, run)
    }

    #[test]
    fn a_companion_that_cannot_prepare_refuses_the_deletion_untouched() {
        let (tmp, root, run) = one_run();
        let mut c = Scripted {
            fail_prepare: true,
            ..Scripted::default()
        };
        let out = root.delete_run_with("web-6b20a2e4", "1700000000", &mut c);
        assert_eq!(out, Outcome::Refused("no".into()));
        assert!(run.join("run.yaml").is_file());
        assert_eq!(c.calls, ["prepare"]);
        root.remove_trash_if_empty();
        assert!(!tmp.path().join(TRASH_DIR).exists());
    }

    #[test]
    fn a_companion_that_cannot_commit_gets_the_run_put_back() {
        let (tmp, root, run) = one_run();
        let mut c = Scripted {
            fail_commit: true,
            ..Scripted::default()
        };
        let out = root.delete_run_with("web-6b20a2e4", "1700000000", &mut c);
        assert!(
            matches!(&out, Outcome::Refused(m) if m.starts_with("otto.db refused")),
            "{out:?}"
        );
        assert!(run.join("run.yaml").is_file());
        assert_eq!(c.calls, ["prepare", "commit"]);
        root.remove_trash_if_empty();
        assert!(!tmp.path().join(TRASH_DIR).exists());
    }

    #[test]
    fn a_committed_companion_goes_with_the_run_and_only_an_empty_trash_is_removed() {
        let (tmp, root, run) = one_run();
        let mut c = Scripted::default();
        let out = root.delete_run_with("web-6b20a2e4", "1700000000", &mut c);
        assert!(matches!(out, Outcome::Deleted { .. }), "{out:?}");
        assert!(!run.exists());
        assert_eq!(c.calls, ["prepare", "commit"]);
        // The deletion itself leaves no trash behind.
        assert!(!tmp.path().join(TRASH_DIR).exists());
        // Something left in the trash (an interrupted purge) keeps it.
        std::fs::create_dir(tmp.path().join(TRASH_DIR)).unwrap();
        std::fs::write(tmp.path().join(TRASH_DIR).join("left"), "x").unwrap();
        root.remove_trash_if_empty();
        assert!(tmp.path().join(TRASH_DIR).join("left").is_file());
        std::fs::remove_file(tmp.path().join(TRASH_DIR).join("left")).unwrap();
        root.remove_trash_if_empty();
        assert!(!tmp.path().join(TRASH_DIR).exists());
    }

    #[test]
    fn the_trash_is_created_private_and_only_when_deleting() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = OttoRoot::open(tmp.path()).unwrap();
        assert_eq!(root.purge_trash().unwrap(), 0);
        assert!(!tmp.path().join(TRASH_DIR).exists());
        let fd = trash::open(&root, true).unwrap();
        assert!(fd.is_some());
        let mode = std::fs::metadata(tmp.path().join(TRASH_DIR))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
