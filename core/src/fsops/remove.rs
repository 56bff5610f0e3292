//! Descriptor-relative recursive removal: the purge phase.
//!
//! # Why this cannot be tricked into deleting outside the tree
//!
//! The removal never resolves a path. It holds an open descriptor for each
//! directory on the way down, and every operation names one entry of one of
//! those descriptors:
//!
//! - an entry is examined with `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`;
//! - anything that is not a directory — a file, a symlink (to anywhere), a
//!   FIFO, a socket, a device node — is removed with `unlinkat(dir, name,
//!   0)`, which removes the entry itself and never follows a symlink;
//! - a directory is entered with `openat(dir, name, O_DIRECTORY |
//!   O_NOFOLLOW)`, so a symlink swapped in after the `fstatat` (the
//!   CVE-2022-21658 race) makes the open fail with `ELOOP`/`ENOTDIR`
//!   instead of following it; the entry is then examined again and
//!   unlinked as the symlink it now is;
//! - the opened directory is checked to be the inode the `fstatat` saw
//!   (otherwise it is examined again) and to be on the root's device and
//!   mount ([`Fence`]): a mount point is never entered, it is reported and
//!   left, with every directory above it;
//! - an emptied directory is removed with `unlinkat(parent, name,
//!   AT_REMOVEDIR)`, which can only remove an empty directory.
//!
//! Whatever is renamed or swapped concurrently, every entry removed was
//! reached through descriptors of directories that were inside the tree
//! when they were opened. If somebody moves such a directory elsewhere
//! while it is being emptied, what is removed is still that directory's
//! content — the run's own files — never what a symlink points to.
//!
//! # Bytes freed
//!
//! The total is the `st_size` of every entry this removal unlinked whose
//! inode lost its last link: directories (size taken before they were
//! emptied, as `du` sees them) and symlinks (their own size) always count;
//! a file with several hard links counts once, when its last link is
//! removed, and not at all if a link outside the tree survives. For a tree
//! with no links to the outside this equals `du -sb` of the tree before
//! the removal.
//!
//! # Limits
//!
//! Open descriptors grow with depth; a tree deeper than [`MAX_DEPTH`] is
//! reported as a failure and left. A concurrent writer adding entries is
//! followed for a few passes ([`MAX_PASSES`]), a swapper for a bounded
//! number of retries ([`MAX_RETRIES`]); past that the removal reports a
//! failure rather than loop forever.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, Stat};
use rustix::io::Errno;

use super::sys::{self, DirId, Fence};

/// Deepest directory nesting entered (one descriptor per level).
pub(crate) const MAX_DEPTH: usize = 256;
/// Times a directory is read again when entries appear while it is emptied.
pub(crate) const MAX_PASSES: u32 = 8;
/// Times one entry is examined again because it changed under us.
pub(crate) const MAX_RETRIES: u32 = 16;

/// What a removal did.
#[derive(Debug, Default)]
pub(crate) struct Removal {
    /// Bytes freed, as the module docs define them.
    pub bytes: u64,
    /// The first failure, one line naming the path.
    pub first_failure: Option<String>,
    /// How many entries could not be removed (their parents are kept too,
    /// and not counted).
    pub failures: usize,
}

impl Removal {
    /// Whether everything was removed.
    pub(crate) fn complete(&self) -> bool {
        self.failures == 0
    }

    /// The failures as one line.
    pub(crate) fn summary(&self) -> String {
        let first = self.first_failure.as_deref().unwrap_or("unknown failure");
        match self.failures {
            0 | 1 => first.to_owned(),
            n => format!("{first} (and {} more)", n - 1),
        }
    }

    fn fail(&mut self, message: String) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(message);
        }
    }
}

/// Hard-linked inodes seen: how many of their links are still to be
/// removed before their bytes count.
#[derive(Debug, Default)]
struct Links(HashMap<(u64, u64), u64>);

impl Links {
    /// The bytes that unlinking the entry `st` described freed.
    fn unlinked(&mut self, st: &Stat) -> u64 {
        let links = sys::nlink(st);
        if links <= 1 {
            return sys::size(st);
        }
        let left = self.0.entry(sys::dev_ino(st)).or_insert(links);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.0.remove(&sys::dev_ino(st));
            sys::size(st)
        } else {
            0
        }
    }
}

/// One directory being emptied.
#[derive(Debug)]
struct Frame {
    /// Its open descriptor, read with `getdents64`.
    dir: Dir,
    /// Its name in its parent.
    name: CString,
    /// What it is.
    id: DirId,
    /// Its `st_size` before it was emptied.
    size: u64,
    /// Something below could not be removed: keep this directory.
    failed: bool,
    /// Times it was read again.
    passes: u32,
}

/// What examining one entry led to.
enum Visit {
    /// Removed, or already gone.
    Done,
    /// A directory to empty first.
    Enter(Frame),
    /// Could not be removed (the failure is recorded).
    Failed,
}

/// The removal of one tree.
struct Remover<'a> {
    fence: Fence,
    /// Path of the top directory, for messages only.
    base: &'a Path,
    links: Links,
    out: Removal,
}

/// Removes the entry `name` of `parent` and, if it is a directory,
/// everything below it, without ever following a symlink or leaving the
/// `fence`. `base` is the path of `parent`, used only in messages.
pub(crate) fn remove_tree(
    parent: BorrowedFd<'_>,
    base: &Path,
    name: &CStr,
    fence: Fence,
) -> Removal {
    let mut r = Remover {
        fence,
        base,
        links: Links::default(),
        out: Removal::default(),
    };
    let mut stack: Vec<Frame> = Vec::new();
    match r.visit(parent, &[], name) {
        Visit::Enter(frame) => stack.push(frame),
        Visit::Done | Visit::Failed => return r.out,
    }
    while let Some(top) = stack.last_mut() {
        match top.dir.read() {
            Some(Ok(entry)) => {
                let child = entry.file_name();
                if matches!(child.to_bytes(), b"." | b"..") {
                    continue;
                }
                let child = child.to_owned();
                let fd = match stack.last() {
                    Some(top) => top.dir.fd(),
                    None => break,
                };
                let visit = match fd {
                    Ok(fd) => r.visit(fd, &stack, &child),
                    Err(e) => {
                        let path = r.path(&stack, Some(&child));
                        r.out.fail(format!(
                            "cannot read {}: {}",
                            sys::show(&path),
                            sys::describe(e)
                        ));
                        Visit::Failed
                    }
                };
                match visit {
                    Visit::Done => {}
                    Visit::Failed => mark_failed(&mut stack),
                    Visit::Enter(frame) if stack.len() >= MAX_DEPTH => {
                        let path = r.path(&stack, Some(&frame.name));
                        r.out.fail(format!(
                            "cannot remove {}: nested deeper than {MAX_DEPTH} directories",
                            sys::show(&path)
                        ));
                        mark_failed(&mut stack);
                    }
                    Visit::Enter(frame) => stack.push(frame),
                }
            }
            Some(Err(e)) => {
                let path = r.path(&stack, None);
                r.out.fail(format!(
                    "cannot read {}: {}",
                    sys::show(&path),
                    sys::describe(e)
                ));
                mark_failed(&mut stack);
                // `Dir` stops after an error: the next read ends the frame.
            }
            None => {
                let Some(frame) = stack.pop() else { break };
                if frame.failed {
                    mark_failed(&mut stack);
                    continue;
                }
                let grand = match stack.last() {
                    Some(f) => f.dir.fd(),
                    None => Ok(parent),
                };
                let next = match grand {
                    Ok(grand) => r.remove_dir(grand, &stack, frame),
                    Err(e) => {
                        let path = r.path(&stack, Some(&frame.name));
                        r.out.fail(format!(
                            "cannot remove {}: {}",
                            sys::show(&path),
                            sys::describe(e)
                        ));
                        Visit::Failed
                    }
                };
                match next {
                    Visit::Done => {}
                    Visit::Failed => mark_failed(&mut stack),
                    Visit::Enter(frame) => stack.push(frame),
                }
            }
        }
    }
    r.out
}

/// Keeps the directory on top of the stack: one of its entries stayed.
fn mark_failed(stack: &mut [Frame]) {
    if let Some(top) = stack.last_mut() {
        top.failed = true;
    }
}

impl Remover<'_> {
    /// The path of `name` in the directory on top of `stack` (or of that
    /// directory), for messages.
    fn path(&self, stack: &[Frame], name: Option<&CStr>) -> PathBuf {
        let mut path = self.base.to_path_buf();
        for f in stack {
            path = sys::join(&path, &f.name);
        }
        match name {
            Some(n) => sys::join(&path, n),
            None => path,
        }
    }

    /// Examines the entry `name` of `dir` (the directory on top of `stack`,
    /// or the top's parent): removes it unless it is a directory, which it
    /// opens to be emptied first.
    fn visit(&mut self, dir: BorrowedFd<'_>, stack: &[Frame], name: &CStr) -> Visit {
        let mut last = Errno::AGAIN;
        for _ in 0..MAX_RETRIES {
            let st = match sys::lstat_at(dir, name) {
                Ok(st) => st,
                Err(Errno::NOENT) => return Visit::Done,
                Err(e) => return self.failed(stack, name, "examine", e),
            };
            if !sys::is_dir(&st) {
                match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                    Ok(()) => {
                        self.out.bytes = self.out.bytes.saturating_add(self.links.unlinked(&st));
                        return Visit::Done;
                    }
                    Err(Errno::NOENT) => return Visit::Done,
                    Err(e) => {
                        // A directory swapped in (EISDIR/EPERM) is examined
                        // again; anything else is a failure.
                        last = e;
                        match sys::lstat_at(dir, name) {
                            Ok(now) if sys::is_dir(&now) => continue,
                            _ => return self.failed(stack, name, "remove", e),
                        }
                    }
                }
            }
            if sys::dev_ino(&st).0 != self.fence.dev {
                return self.mount_point(stack, name);
            }
            let fd = match sys::open_dir_at(dir, name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Visit::Done,
                // Replaced by a symlink or a file since the fstatat: look again.
                Err(e) if sys::not_a_dir(e) => {
                    last = e;
                    continue;
                }
                Err(e) => return self.failed(stack, name, "open", e),
            };
            let id = match DirId::of(fd.as_fd()) {
                Ok(id) => id,
                Err(e) => return self.failed(stack, name, "examine", e),
            };
            if !id.is(&st) {
                // Another directory swapped in since the fstatat: look again.
                continue;
            }
            if !self.fence.holds(&id) {
                return self.mount_point(stack, name);
            }
            return match Dir::new(fd) {
                Ok(dir) => Visit::Enter(Frame {
                    dir,
                    name: name.to_owned(),
                    id,
                    size: sys::size(&st),
                    failed: false,
                    passes: 0,
                }),
                Err(e) => self.failed(stack, name, "read", e),
            };
        }
        let path = self.path(stack, Some(name));
        self.out.fail(format!(
            "cannot remove {}: it kept changing while being removed ({})",
            sys::show(&path),
            sys::describe(last)
        ));
        Visit::Failed
    }

    /// Removes the emptied directory `frame`, an entry of `parent`.
    fn remove_dir(&mut self, parent: BorrowedFd<'_>, stack: &[Frame], mut frame: Frame) -> Visit {
        match rustix::fs::unlinkat(parent, &frame.name, AtFlags::REMOVEDIR) {
            Ok(()) => {
                self.out.bytes = self.out.bytes.saturating_add(frame.size);
                Visit::Done
            }
            // Moved away by somebody else after we emptied it.
            Err(Errno::NOENT) => Visit::Done,
            Err(e @ (Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR)) => {
                let same = sys::lstat_at(parent, &frame.name)
                    .map(|st| frame.id.is(&st))
                    .unwrap_or(false);
                if same && frame.passes < MAX_PASSES {
                    // Entries were added while we emptied it: read it again.
                    frame.passes += 1;
                    frame.dir.rewind();
                    Visit::Enter(frame)
                } else if !same && frame.passes < MAX_PASSES {
                    // Something else now has its name: examine that afresh.
                    frame.passes += 1;
                    let name = frame.name.clone();
                    self.visit(parent, stack, &name)
                } else {
                    self.failed(stack, &frame.name, "remove", e)
                }
            }
            Err(e) => self.failed(stack, &frame.name, "remove", e),
        }
    }

    fn failed(&mut self, stack: &[Frame], name: &CStr, what: &str, e: Errno) -> Visit {
        let path = self.path(stack, Some(name));
        self.out.fail(format!(
            "cannot {what} {}: {}",
            sys::show(&path),
            sys::describe(e)
        ));
        Visit::Failed
    }

    fn mount_point(&mut self, stack: &[Frame], name: &CStr) -> Visit {
        let path = self.path(stack, Some(name));
        self.out.fail(format!(
            "{} is on another filesystem or mount (a mount point): not entered, left in place",
            sys::show(&path)
        ));
        Visit::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::symlink;
    use std::process::Command;

    fn open(path: &Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    fn fence_of(fd: &OwnedFd) -> Fence {
        let id = DirId::of(fd).unwrap();
        Fence {
            dev: id.dev,
            mnt: id.mnt,
        }
    }

    fn du_sb(path: &Path) -> u64 {
        let out = Command::new("du").arg("-sb").arg(path).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn remove(parent: &Path, name: &str) -> Removal {
        let fd = open(parent);
        let fence = fence_of(&fd);
        let name = CString::new(name).unwrap();
        remove_tree(fd.as_fd(), parent, &name, fence)
    }

    #[test]
    fn a_tree_is_removed_and_its_bytes_equal_du_sb() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("tree");
        std::fs::create_dir_all(top.join("a/b/c/d")).unwrap();
        std::fs::create_dir_all(top.join("empty")).unwrap();
        std::fs::write(top.join("a/one"), vec![1u8; 12_345]).unwrap();
        std::fs::write(top.join("a/b/two"), "two").unwrap();
        std::fs::write(top.join("a/b/c/d/zero"), "").unwrap();
        std::fs::hard_link(top.join("a/one"), top.join("a/b/one-again")).unwrap();
        symlink("../../../outside/target", top.join("a/b/rel")).unwrap();
        symlink("/", top.join("abs")).unwrap();
        let before = du_sb(&top);
        let r = remove(tmp.path(), "tree");
        assert!(r.complete(), "{r:?}");
        assert_eq!(r.bytes, before);
        assert!(!top.exists());
    }

    #[test]
    fn a_file_hard_linked_from_outside_frees_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("tree");
        std::fs::create_dir(&top).unwrap();
        std::fs::write(top.join("shared"), vec![0u8; 50_000]).unwrap();
        std::fs::write(top.join("own"), vec![0u8; 1_000]).unwrap();
        std::fs::hard_link(top.join("shared"), tmp.path().join("survivor")).unwrap();
        let dir_size = std::fs::symlink_metadata(&top).unwrap().len();
        let r = remove(tmp.path(), "tree");
        assert!(r.complete(), "{r:?}");
        assert_eq!(r.bytes, dir_size + 1_000);
        assert_eq!(
            std::fs::read(tmp.path().join("survivor")).unwrap().len(),
            50_000
        );
    }

    #[test]
    fn a_symlink_at_the_top_is_removed_as_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("keep"), "keep").unwrap();
        symlink(&victim, tmp.path().join("link")).unwrap();
        let r = remove(tmp.path(), "link");
        assert!(r.complete(), "{r:?}");
        assert_eq!(r.bytes, victim.as_os_str().len() as u64);
        assert_eq!(
            std::fs::read_to_string(victim.join("keep")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn a_missing_entry_frees_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let r = remove(tmp.path(), "nothing");
        assert!(r.complete());
        assert_eq!(r.bytes, 0);
    }

    #[test]
    fn a_directory_outside_the_fence_is_not_entered() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("tree");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::write(top.join("sub/keep"), "x").unwrap();
        std::fs::write(top.join("gone"), "y").unwrap();
        let fd = open(tmp.path());
        let mut fence = fence_of(&fd);
        fence.dev = fence.dev.wrapping_add(1);
        let r = remove_tree(fd.as_fd(), tmp.path(), c"tree", fence);
        assert_eq!(r.failures, 1, "{r:?}");
        assert!(r.summary().contains("mount point"), "{}", r.summary());
        assert!(top.join("sub/keep").exists());
    }

    #[test]
    fn a_tree_deeper_than_the_limit_is_left_with_a_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let mut deep = tmp.path().join("tree");
        for _ in 0..(MAX_DEPTH + 4) {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let r = remove(tmp.path(), "tree");
        assert_eq!(r.failures, 1, "{r:?}");
        assert!(r.summary().contains("nested deeper"), "{}", r.summary());
        assert!(tmp.path().join("tree").exists());
    }
}
