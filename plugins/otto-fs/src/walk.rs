//! Descriptor-relative directory walks with sizes counted as `du` counts them.
//!
//! Every directory is opened relative to its parent's descriptor with
//! `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`, its entries are read with
//! `getdents64` (rustix's [`RawDir`], into buffers reused across the walk)
//! and each entry is examined once: a directory with `fstat` on the
//! descriptor just opened for it, anything else with `fstatat(parent, name,
//! AT_SYMLINK_NOFOLLOW)`. No path is resolved twice, and no symlink is ever
//! followed — a symlink counts as the link itself.
//!
//! [`Du`] adds up what `du -sb` (apparent bytes: every entry's `st_size`,
//! the directories included) and `du -sB1` (allocated bytes: `st_blocks *
//! 512`) report, counting an inode with several hard links once.

use std::collections::HashSet;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat};
use rustix::io::Errno;

/// Flags for opening a directory: never through a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` of `dirfd`, refusing a symlink (`ELOOP`) and
/// anything that is not a directory (`ENOTDIR`).
pub(crate) fn open_dir_at<P: rustix::path::Arg>(
    dirfd: BorrowedFd<'_>,
    name: P,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(dirfd, name, DIR_FLAGS, Mode::empty())
}

/// Opens the root directory (`$OTTO_HOME`) by its path.
///
/// The root is where the user pointed us, so the path's own components
/// (including a symlinked `~/.otto`) are resolved by the kernel, once;
/// nothing below it is ever followed.
pub(crate) fn open_root(path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lstat_at<P: rustix::path::Arg>(
    dirfd: BorrowedFd<'_>,
    name: P,
) -> rustix::io::Result<Stat> {
    rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// Whether an error means "the entry is gone or is not what we want any
/// more" (removed, replaced by a file or a symlink) rather than a failure.
pub(crate) fn is_gone(e: Errno) -> bool {
    matches!(e, Errno::NOENT | Errno::NOTDIR | Errno::LOOP)
}

/// The type of the entry `st` describes.
pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Whether `st` describes a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    file_type(st) == FileType::Directory
}

/// Whether `st` describes a symlink.
pub(crate) fn is_symlink(st: &Stat) -> bool {
    file_type(st) == FileType::Symlink
}

/// Apparent size (`st_size`) of an entry.
#[allow(clippy::unnecessary_cast)] // field types differ between architectures
pub(crate) fn apparent(st: &Stat) -> u64 {
    (st.st_size as i64).max(0) as u64
}

/// Allocated size (`st_blocks * 512`) of an entry.
#[allow(clippy::unnecessary_cast)] // as above
pub(crate) fn allocated(st: &Stat) -> u64 {
    ((st.st_blocks as i64).max(0) as u64).saturating_mul(512)
}

/// The (device, inode) pair that names a file.
#[allow(clippy::unnecessary_cast)] // as above
pub(crate) fn dev_ino(st: &Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

#[allow(clippy::unnecessary_cast)] // as above
fn nlink(st: &Stat) -> u64 {
    st.st_nlink as u64
}

/// What identifies a directory's state: device, inode, and the change times
/// of its entry list (mtime) and of its inode (ctime), to the nanosecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time: seconds.
    pub mtime: i64,
    /// Modification time: nanoseconds.
    pub mtime_nsec: u32,
    /// Status change time: seconds.
    pub ctime: i64,
    /// Status change time: nanoseconds.
    pub ctime_nsec: u32,
}

impl Identity {
    /// The identity of the entry `st` describes.
    #[allow(clippy::unnecessary_cast)] // as above
    pub fn of(st: &Stat) -> Self {
        let (dev, ino) = dev_ino(st);
        Identity {
            dev,
            ino,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
            ctime: st.st_ctime as i64,
            ctime_nsec: st.st_ctime_nsec as u32,
        }
    }
}

/// Apparent and allocated bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// As `du -sb`.
    pub apparent: u64,
    /// As `du -sB1`.
    pub allocated: u64,
}

/// A file with several hard links, counted once: kept so that a total over
/// several walks can count it once too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Linked {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Its apparent size.
    pub apparent: u64,
    /// Its allocated size.
    pub allocated: u64,
}

/// A `du` accumulator: totals, the hard-linked inodes already counted, and
/// whether every entry could be read.
#[derive(Debug)]
pub(crate) struct Du {
    /// The totals so far.
    pub sizes: Sizes,
    /// Inodes with more than one link already counted.
    seen: HashSet<(u64, u64)>,
    /// The same inodes, with their sizes, when `keep_links` is set.
    pub links: Vec<Linked>,
    keep_links: bool,
    /// False when some entry or directory could not be read (it vanished
    /// or is unreadable): the totals are then a lower bound.
    pub complete: bool,
}

impl Du {
    /// An empty accumulator; `keep_links` records every hard-linked inode
    /// counted in [`Du::links`].
    pub fn new(keep_links: bool) -> Self {
        Du {
            sizes: Sizes::default(),
            seen: HashSet::new(),
            links: Vec::new(),
            keep_links,
            complete: true,
        }
    }

    /// Counts one entry; returns false when it is a hard link to an inode
    /// already counted (and so adds nothing).
    pub fn add(&mut self, st: &Stat) -> bool {
        let (apparent, allocated) = (apparent(st), allocated(st));
        if !is_dir(st) && nlink(st) > 1 {
            let (dev, ino) = dev_ino(st);
            if !self.seen.insert((dev, ino)) {
                return false;
            }
            if self.keep_links {
                self.links.push(Linked {
                    dev,
                    ino,
                    apparent,
                    allocated,
                });
            }
        }
        self.add_sizes(Sizes {
            apparent,
            allocated,
        });
        true
    }

    /// Counts a hard-linked inode measured elsewhere (by an earlier walk);
    /// returns false when it was already counted.
    pub fn add_linked(&mut self, link: &Linked) -> bool {
        self.seen.insert((link.dev, link.ino))
    }

    /// Adds totals measured elsewhere.
    pub fn add_sizes(&mut self, sizes: Sizes) {
        self.sizes.apparent = self.sizes.apparent.saturating_add(sizes.apparent);
        self.sizes.allocated = self.sizes.allocated.saturating_add(sizes.allocated);
    }
}

/// Sees every entry of a walk.
pub(crate) trait Visitor {
    /// One entry: `parent` is its directory's descriptor, `dir` the path of
    /// that directory relative to the walk's root (empty for the root, `/`
    /// between components), `st` its `lstat`, and `counted` whether it added
    /// to the totals (false for a repeated hard link).
    fn entry(&mut self, parent: BorrowedFd<'_>, dir: &[u8], name: &CStr, st: &Stat, counted: bool);
}

/// A visitor that only counts.
#[derive(Debug)]
pub(crate) struct CountOnly;

impl Visitor for CountOnly {
    fn entry(&mut self, _: BorrowedFd<'_>, _: &[u8], _: &CStr, _: &Stat, _: bool) {}
}

/// Bytes of each `getdents64` buffer: a task directory in one call.
const DENTS_BYTES: usize = 8 * 1024;

/// `getdents64` buffers, one per depth of the walk (a directory's entries
/// are read while its subdirectories are walked), reused across its
/// directories.
type Buffers = Vec<Box<[MaybeUninit<u8>]>>;

/// Walks the tree under the open directory `fd` (whose own entry the caller
/// has counted), counting every entry into `du` and showing it to
/// `visitor`, depth first. Errors below the root make the walk incomplete;
/// they never stop it.
pub(crate) fn walk(fd: OwnedFd, du: &mut Du, visitor: &mut impl Visitor) {
    let mut path = Vec::new();
    let mut buffers = Buffers::new();
    walk_dir(&fd, 0, &mut path, du, visitor, &mut buffers);
}

/// Walks the directory `fd`, at `depth` below the walk's root.
///
/// Entries `getdents64` types as directories are opened first and
/// examined with `fstat` on the new descriptor — one name lookup instead
/// of two; `O_NOFOLLOW | O_DIRECTORY` still refuses whatever replaced them
/// since the listing, which is then looked at with `lstat` like any other
/// entry. Every other entry gets `fstatat(AT_SYMLINK_NOFOLLOW)`.
fn walk_dir(
    fd: &OwnedFd,
    depth: usize,
    path: &mut Vec<u8>,
    du: &mut Du,
    visitor: &mut impl Visitor,
    buffers: &mut Buffers,
) {
    if buffers.len() <= depth {
        buffers.resize_with(depth + 1, || Box::new_uninit_slice(DENTS_BYTES));
    }
    // Taken out while this directory is read, so deeper levels can use theirs.
    let mut buffer = std::mem::take(&mut buffers[depth]);
    let mut dir = RawDir::new(fd, &mut buffer);
    let parent = fd.as_fd();
    while let Some(entry) = dir.next() {
        let Ok(entry) = entry else {
            du.complete = false;
            break;
        };
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let mut cannot_open = false;
        let opened = match entry.file_type() {
            FileType::Directory => match open_dir_at(parent, name) {
                Ok(child) => match rustix::fs::fstat(&child) {
                    Ok(st) => Some((child, st)),
                    Err(_) => {
                        du.complete = false;
                        continue;
                    }
                },
                // Gone, or no longer a directory: examined below.
                Err(e) if is_gone(e) => None,
                // Unopenable (permissions, no descriptors left): counted
                // below by its `lstat`, never walked.
                Err(_) => {
                    cannot_open = true;
                    None
                }
            },
            _ => None,
        };
        let (child, st) = match opened {
            Some((child, st)) => (Some(child), st),
            None => match lstat_at(parent, name) {
                Ok(st) => (None, st),
                Err(_) => {
                    du.complete = false;
                    continue;
                }
            },
        };
        let counted = du.add(&st);
        visitor.entry(parent, path, name, &st, counted);
        if !is_dir(&st) {
            continue;
        }
        let child = match child {
            Some(child) => child,
            None if cannot_open => {
                du.complete = false;
                continue;
            }
            // Untyped by `getdents64` (or replaced by a directory since).
            None => match open_dir_at(parent, name) {
                Ok(child) => child,
                Err(_) => {
                    du.complete = false;
                    continue;
                }
            },
        };
        let len = path.len();
        if len > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(name.to_bytes());
        walk_dir(&child, depth + 1, path, du, visitor, buffers);
        path.truncate(len);
    }
    buffers[depth] = buffer;
}

/// Counts the tree at `name` of `dirfd` as `du -s` would: the entry itself
/// and, for a directory, everything below it.
pub(crate) fn du_at(dirfd: BorrowedFd<'_>, name: &CStr, du: &mut Du, visitor: &mut impl Visitor) {
    let Ok(st) = lstat_at(dirfd, name) else {
        du.complete = false;
        return;
    };
    du.add(&st);
    if is_dir(&st) {
        match open_dir_at(dirfd, name) {
            Ok(fd) => walk(fd, du, visitor),
            Err(_) => du.complete = false,
        }
    }
}

/// Whether `dirfd` has an entry `name` (of any type, symlinks not followed).
pub(crate) fn exists_at(dirfd: impl AsFd, name: &str) -> bool {
    lstat_at(dirfd.as_fd(), name).is_ok()
}

/// What a probe of a lock file found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockProbe {
    /// There is no such file.
    Absent,
    /// The file exists and nobody holds a lock on it.
    Free,
    /// Somebody holds a lock on it — or it could not be probed.
    Held,
}

/// Whether `name` in `dirfd` exists and somebody holds a `flock` on it —
/// for `.lock`, whether otto is running the run. Never creates the file,
/// never follows a symlink, never blocks (`O_NONBLOCK` also keeps a planted
/// FIFO from blocking the open). Any failure to probe reads as
/// [`LockProbe::Held`]: the run is then treated as live and simply not
/// indexed.
pub(crate) fn probe_lock_at(dirfd: impl AsFd, name: &str) -> LockProbe {
    let flags = OFlags::RDONLY
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NONBLOCK);
    match rustix::fs::openat(dirfd.as_fd(), name, flags, Mode::empty()) {
        Ok(fd) => match rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockShared) {
            Ok(()) => LockProbe::Free,
            Err(_) => LockProbe::Held,
        },
        Err(Errno::NOENT) => LockProbe::Absent,
        Err(_) => LockProbe::Held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::du;
    use std::ffi::CString;

    fn measure(path: &Path) -> (Sizes, bool) {
        let parent = open_root(path.parent().unwrap()).unwrap();
        let name = CString::new(path.file_name().unwrap().as_encoded_bytes()).unwrap();
        let mut acc = Du::new(false);
        du_at(parent.as_fd(), &name, &mut acc, &mut CountOnly);
        (acc.sizes, acc.complete)
    }

    #[test]
    fn sizes_equal_du_on_nested_dirs_empty_files_symlinks_and_hard_links() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("tree");
        std::fs::create_dir_all(top.join("a/b/c")).unwrap();
        std::fs::write(top.join("empty"), "").unwrap();
        std::fs::write(top.join("a/small"), "hello").unwrap();
        std::fs::write(top.join("a/b/big"), vec![7u8; 70_000]).unwrap();
        std::fs::hard_link(top.join("a/b/big"), top.join("a/b/c/big-again")).unwrap();
        std::os::unix::fs::symlink("../../outside/target/with/a/long/name", top.join("a/link"))
            .unwrap();
        std::os::unix::fs::symlink("/", top.join("root-link")).unwrap();
        let (sizes, complete) = measure(&top);
        assert!(complete);
        assert_eq!(sizes.apparent, du(&top, "-sb"));
        assert_eq!(sizes.allocated, du(&top, "-sB1"));
    }

    #[test]
    fn a_symlinked_directory_is_counted_as_the_link_never_walked() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("huge"), vec![1u8; 1 << 20]).unwrap();
        let top = tmp.path().join("tree");
        std::fs::create_dir(&top).unwrap();
        std::os::unix::fs::symlink(&outside, top.join("escape")).unwrap();
        let (sizes, _) = measure(&top);
        assert!(sizes.apparent < 10_000, "{sizes:?}");
        assert_eq!(sizes.apparent, du(&top, "-sb"));
    }

    #[test]
    fn opening_a_symlink_as_a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
        let root = open_root(tmp.path()).unwrap();
        assert!(open_dir_at(root.as_fd(), "real").is_ok());
        let err = open_dir_at(root.as_fd(), "link").unwrap_err();
        assert!(is_gone(err), "{err:?}");
    }
}
