//! The trash: `<root>/.otto-hooks-trash/`, where a deletion first moves a
//! run (phase one, one atomic `renameat`) before purging it (phase two).
//!
//! # Why a trash
//!
//! A recursive removal takes many system calls; a command killed halfway
//! through one would leave a half-deleted run that still looks like a run
//! (and that otto, `list` and `usage` would read). Moving the run out of its
//! project first is one atomic `renameat`: at any instant the run is either
//! whole in its project or gone from it, and whatever is in the trash is
//! garbage by definition, which the next command's
//! [`OttoRoot::purge_trash`](super::OttoRoot::purge_trash) finishes.
//!
//! The trash is a direct child of the root, so a `renameat` into it stays on
//! the root's filesystem; it is created `0700`, and it is refused unless it
//! is a real directory (not a symlink) on the root's device and mount. Its
//! name never parses as an otto project (no `-<8 hex>` suffix), so nothing
//! reading `$OTTO_HOME` mistakes it for one.
//!
//! # Entry names
//!
//! `<project>__<run>__<pid>_<16 hex random>` for a run and
//! `<project>__cache__<pid>_<16 hex random>` for a cache file: what it was,
//! which process moved it, and randomness so names never collide (the move
//! also uses `RENAME_NOREPLACE`). The project part is shortened if the
//! whole would pass 255 bytes. Names are for people reading the directory
//! after a crash; [`purge`] removes every entry whatever its name, since
//! nothing but garbage is ever put there.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Dir, Mode, RenameFlags};
use rustix::io::Errno;

use super::names::{self, NAME_MAX};
use super::remove::{self, Removal};
use super::root::{OttoRoot, Step};
use super::sys;

/// The trash directory's name in the root.
pub const TRASH_DIR: &str = ".otto-hooks-trash";

/// Opens the trash of `root`, creating it (0700) when `create` is set;
/// `Ok(None)` when it does not exist and `create` is not set.
pub(crate) fn open(root: &OttoRoot, create: bool) -> Result<Option<OwnedFd>, Step> {
    let mut created = false;
    if create {
        match rustix::fs::mkdirat(root.fd(), TRASH_DIR, Mode::RWXU) {
            Ok(()) => created = true,
            Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(Step::Fail(format!(
                    "cannot create {}: {}",
                    sys::show(&root.trash_path()),
                    sys::describe(e)
                )));
            }
        }
    }
    let fd = match root.open_below(root.fd(), root.path(), TRASH_DIR, "the trash") {
        Ok((fd, _)) => fd,
        Err(Step::Gone) if !create => return Ok(None),
        Err(Step::Gone) => {
            return Err(Step::Fail(format!(
                "{} vanished as it was created",
                sys::show(&root.trash_path())
            )));
        }
        Err(other) => return Err(other),
    };
    if created {
        // umask may have taken bits we need; the trash is ours alone.
        if let Err(e) = rustix::fs::fchmod(&fd, Mode::RWXU) {
            tracing::warn!(
                "cannot chmod {}: {}",
                sys::show(&root.trash_path()),
                sys::describe(e)
            );
        }
        sync(root.fd(), root.path());
    }
    Ok(Some(fd))
}

/// A fresh entry name (see the module docs).
pub(crate) fn entry_name(project: &str, what: &str) -> String {
    let tail = format!("__{what}__{}_{:016x}", std::process::id(), random());
    let room = NAME_MAX.saturating_sub(tail.len());
    let mut cut = project.len().min(room);
    while !project.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tail}", &project[..cut])
}

/// 64 random bits (getrandom, else time and a counter: uniqueness is also
/// enforced by `RENAME_NOREPLACE`).
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut buf = [0u8; 8];
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::NONBLOCK) {
        Ok(8) => u64::from_ne_bytes(buf) ^ n,
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ n.rotate_left(32)
        }
    }
}

/// Moves the entry `name` of `from` into the trash under a fresh name
/// (`RENAME_NOREPLACE`; plain `renameat` where the filesystem lacks it, the
/// fresh name having been checked absent). Returns the trash entry's name.
pub(crate) fn move_in(
    from: BorrowedFd<'_>,
    name: &str,
    trash: BorrowedFd<'_>,
    project: &str,
    what: &str,
) -> Result<CString, Errno> {
    let mut last = Errno::EXIST;
    for _ in 0..8 {
        let entry = CString::new(entry_name(project, what)).map_err(|_| Errno::INVAL)?;
        match rustix::fs::renameat_with(from, name, trash, &entry, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(entry),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(Errno::INVAL | Errno::NOSYS) => {
                // No RENAME_NOREPLACE here.
                match sys::lstat_at(trash, &entry) {
                    Err(Errno::NOENT) => {
                        rustix::fs::renameat(from, name, trash, &entry)?;
                        return Ok(entry);
                    }
                    _ => last = Errno::EXIST,
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Moves the trash entry `entry` back to `name` in `to`, never over
/// anything (`RENAME_NOREPLACE`).
pub(crate) fn put_back(
    trash: BorrowedFd<'_>,
    entry: &CString,
    to: BorrowedFd<'_>,
    name: &str,
) -> Result<(), Errno> {
    rustix::fs::renameat_with(trash, entry, to, name, RenameFlags::NOREPLACE)
}

/// `fsync` on a directory, so that a rename in it is on disk before we go
/// on; a failure is only logged (the rename itself happened).
pub(crate) fn sync(dir: BorrowedFd<'_>, path: &Path) {
    if let Err(e) = rustix::fs::fsync(dir) {
        tracing::warn!("cannot fsync {}: {}", sys::show(path), sys::describe(e));
    }
}

/// Purges one trash entry.
pub(crate) fn purge_entry(root: &OttoRoot, trash: BorrowedFd<'_>, entry: &CString) -> Removal {
    remove::remove_tree(trash, &root.trash_path(), entry, root.fence())
}

/// How many entries the trash of `root` holds (0 when there is none).
pub(crate) fn entries(root: &OttoRoot) -> Result<usize, String> {
    let trash = match open(root, false) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(0),
        Err(step) => return Err(step.message()),
    };
    let mut dir = Dir::read_from(&trash).map_err(|e| {
        format!(
            "cannot read {}: {}",
            sys::show(&root.trash_path()),
            sys::describe(e)
        )
    })?;
    let mut n = 0;
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| {
            format!(
                "cannot read {}: {}",
                sys::show(&root.trash_path()),
                sys::describe(e)
            )
        })?;
        if !matches!(entry.file_name().to_bytes(), b"." | b"..") {
            n += 1;
        }
    }
    Ok(n)
}

/// How many entries the trash of `root` holds and their apparent bytes
/// (`du -sb`: every file, directory and symlink's `st_size`, a file with
/// several links once), `(0, 0)` when there is none. Reads only, on
/// descriptors, never through a symlink; an entry that can't be read adds
/// what could be.
pub(crate) fn measure(root: &OttoRoot) -> Result<(usize, u64), String> {
    let trash = match open(root, false) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok((0, 0)),
        Err(step) => return Err(step.message()),
    };
    let cannot = |e: Errno| {
        format!(
            "cannot read {}: {}",
            sys::show(&root.trash_path()),
            sys::describe(e)
        )
    };
    let names = names_in(trash.as_fd()).map_err(cannot)?;
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0u64;
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut add = |dir: BorrowedFd<'_>, name: &CString, dirs: &mut Vec<OwnedFd>| {
        let Ok(st) = sys::lstat_at(dir, name.as_c_str()) else {
            return;
        };
        if sys::nlink(&st) > 1 && !sys::is_dir(&st) && !seen.insert(sys::dev_ino(&st)) {
            return;
        }
        bytes = bytes.saturating_add(sys::size(&st));
        if sys::is_dir(&st) {
            if let Ok(fd) = sys::open_dir_at(dir, name.as_c_str()) {
                dirs.push(fd);
            }
        }
    };
    for name in &names {
        add(trash.as_fd(), name, &mut dirs);
    }
    // Depth-first with an explicit stack: a 400-deep tree holds one
    // descriptor per level, like the removal does.
    while let Some(dir) = dirs.pop() {
        let Ok(names) = names_in(dir.as_fd()) else {
            continue;
        };
        for name in &names {
            add(dir.as_fd(), name, &mut dirs);
        }
    }
    Ok((names.len(), bytes))
}

/// The names in the open directory `dir` but `.` and `..`.
fn names_in(dir: BorrowedFd<'_>) -> Result<Vec<CString>, Errno> {
    let mut names = Vec::new();
    let mut listing = Dir::read_from(dir)?;
    while let Some(entry) = listing.read() {
        let entry = entry?;
        let name = entry.file_name();
        if !matches!(name.to_bytes(), b"." | b"..") {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Purges every entry of the trash; see [`OttoRoot::purge_trash`].
pub(crate) fn purge(root: &OttoRoot) -> std::io::Result<u64> {
    let trash = match open(root, false) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(0),
        Err(step) => return Err(std::io::Error::other(step.message())),
    };
    let trash_path = root.trash_path();
    let mut names = Vec::new();
    let mut dir = Dir::read_from(&trash).map_err(|e| {
        std::io::Error::other(format!(
            "cannot read {}: {}",
            sys::show(&trash_path),
            sys::describe(e)
        ))
    })?;
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| {
            std::io::Error::other(format!(
                "cannot read {}: {}",
                sys::show(&trash_path),
                sys::describe(e)
            ))
        })?;
        let name = entry.file_name();
        if !matches!(name.to_bytes(), b"." | b"..") {
            names.push(name.to_owned());
        }
    }
    let mut bytes = 0u64;
    let mut failed: Vec<String> = Vec::new();
    for name in &names {
        match leftover(root, trash.as_fd(), name) {
            Leftover::Garbage => {}
            Leftover::InUse(pid) => {
                // Another otto-hooks (another OTTO_HOOKS_HOME, so another
                // clean lock) is deleting it right now: not ours to purge.
                tracing::info!(
                    "{} is being deleted by pid {pid}: left to it",
                    sys::show(&trash_path.join(name.to_string_lossy().as_ref()))
                );
                continue;
            }
            Leftover::Pinned(outcome) => {
                tracing::warn!("{outcome}");
                continue;
            }
        }
        let r = purge_entry(root, trash.as_fd(), name);
        bytes = bytes.saturating_add(r.bytes);
        if !r.complete() {
            failed.push(r.summary());
        }
    }
    if let Some(first) = failed.first() {
        tracing::warn!(
            "purged {bytes} bytes from {}, {} entries left",
            sys::show(&trash_path),
            failed.len()
        );
        let more = match failed.len() {
            1 => String::new(),
            n => format!(" (and {} more entries)", n - 1),
        };
        return Err(std::io::Error::other(format!(
            "the trash {} could not be fully purged ({bytes} bytes freed): {first}{more}",
            sys::show(&trash_path)
        )));
    }
    Ok(bytes)
}

/// What a trash entry is to a purge.
enum Leftover {
    /// Garbage by construction: purge it.
    Garbage,
    /// Moved there by this live process (not us), which is deleting it.
    InUse(i32),
    /// A run holding a `.keep`: never purged (put back when it can be); the
    /// line says what happened.
    Pinned(String),
}

/// Looks at trash entry `name` before a purge: an entry of a live process
/// other than this one is left to it, and a pinned run is put back into its
/// project (or left, when it cannot be) — never destroyed.
fn leftover(root: &OttoRoot, trash: BorrowedFd<'_>, name: &CString) -> Leftover {
    let text = name.to_string_lossy();
    // `<project>__<run>__<pid>_<random>` (see `entry_name`).
    let mut parts = text.rsplitn(3, "__");
    let owner = parts
        .next()
        .and_then(|t| t.split('_').next()?.parse::<i32>().ok());
    let run = parts.next();
    let project = parts.next();
    if let Some(pid) = owner
        && pid != std::process::id() as i32
        && crate::client::process_alive(pid)
    {
        return Leftover::InUse(pid);
    }
    let Ok(entry) = sys::open_dir_at(trash, name.as_c_str()) else {
        return Leftover::Garbage; // a file (a cache file), or gone
    };
    // A pin that cannot be checked counts as a pin.
    if let Err(Errno::NOENT) = sys::lstat_at(entry.as_fd(), c".keep") {
        return Leftover::Garbage;
    }
    let shown = sys::show(&root.trash_path().join(text.as_ref()));
    let (Some(project), Some(run)) = (project, run) else {
        return Leftover::Pinned(format!(
            "{shown} is a pinned run left in the trash: kept (its name does not say where it came from)"
        ));
    };
    if names::check_project(project).is_err() || names::check_run(run).is_err() {
        return Leftover::Pinned(format!(
            "{shown} is a pinned run left in the trash: kept (its name does not say where it came from)"
        ));
    }
    let back = root
        .open_project(project)
        .map_err(|step| step.message())
        .and_then(|(proj, _)| {
            put_back(trash, name, proj.as_fd(), run).map_err(|e| sys::describe(e).to_string())
        });
    match back {
        Ok(()) => Leftover::Pinned(format!(
            "a pinned run was left in the trash by an interrupted clean: put back as {project}/{run}"
        )),
        Err(why) => Leftover::Pinned(format!(
            "{shown} is a pinned run left in the trash: kept ({why}); move it back by hand"
        )),
    }
}

/// See [`OttoRoot::remove_trash_if_empty`].
pub(crate) fn remove_if_empty(root: &OttoRoot) {
    // The trash must be the real directory we create, not a symlink or a
    // mount: `open` checks it, and the removal is by name in the root.
    match open(root, false) {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(step) => {
            tracing::warn!("{}", step.message());
            return;
        }
    }
    match rustix::fs::unlinkat(root.fd(), TRASH_DIR, rustix::fs::AtFlags::REMOVEDIR) {
        Ok(()) => sync(root.fd(), root.path()),
        Err(Errno::NOENT) => {}
        Err(Errno::NOTEMPTY | Errno::EXIST) => tracing::info!(
            "{} is not empty: kept for the next purge",
            sys::show(&root.trash_path())
        ),
        Err(e) => tracing::warn!(
            "cannot remove {}: {}",
            sys::show(&root.trash_path()),
            sys::describe(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_say_what_and_who_and_never_collide() {
        let a = entry_name("web-6b20a2e4", "1700000000-1");
        let b = entry_name("web-6b20a2e4", "1700000000-1");
        assert_ne!(a, b);
        let prefix = format!("web-6b20a2e4__1700000000-1__{}_", std::process::id());
        assert!(a.starts_with(&prefix), "{a}");
        assert_eq!(a.len(), prefix.len() + 16);
        assert!(otto_hooks_otto_fs::layout::ProjectName::parse(&a).is_none());
    }

    #[test]
    fn entry_names_fit_name_max_even_for_long_multibyte_projects() {
        let long = format!("{}-6b20a2e4", "é".repeat(120));
        let name = entry_name(&long, "18446744073709551615-4294967295");
        assert!(name.len() <= NAME_MAX, "{}", name.len());
        assert!(name.contains("__18446744073709551615-4294967295__"));
    }

    #[test]
    fn the_trash_never_parses_as_a_project() {
        assert!(otto_hooks_otto_fs::layout::ProjectName::parse(TRASH_DIR).is_none());
    }
}
