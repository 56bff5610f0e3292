//! The few descriptor-relative system calls every other part of [`fsops`]
//! is built from, and the checks they share.
//!
//! Nothing here takes a path that is resolved from the current directory or
//! from `/`: every call names one entry (`name`, never containing `/`) of a
//! directory that is already open. Symlinks are never followed:
//! `fstatat(AT_SYMLINK_NOFOLLOW)` describes the link itself, `openat` always
//! carries `O_NOFOLLOW` (a symlink fails with `ELOOP`, or `ENOTDIR` with
//! `O_DIRECTORY`), and `unlinkat` removes the link, not its target.
//!
//! [`fsops`]: super

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, StatxFlags};
use rustix::io::Errno;

/// Flags for opening a directory below the root: read-only, must be a
/// directory, never through a symlink, not inherited by children.
pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` of `dirfd`: fails with `ELOOP`/`ENOTDIR` for a
/// symlink or anything that is not a directory.
pub(crate) fn open_dir_at<P: rustix::path::Arg>(
    dirfd: BorrowedFd<'_>,
    name: P,
) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(dirfd, name, DIR_FLAGS, Mode::empty())
}

/// `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, a symlink
/// described as a symlink.
pub(crate) fn lstat_at<P: rustix::path::Arg>(
    dirfd: BorrowedFd<'_>,
    name: P,
) -> Result<Stat, Errno> {
    rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW)
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

/// Whether `st` describes a regular file.
pub(crate) fn is_file(st: &Stat) -> bool {
    file_type(st) == FileType::RegularFile
}

/// Apparent size (`st_size`, what `du -b` adds up).
#[allow(clippy::unnecessary_cast)] // field types differ between architectures
pub(crate) fn size(st: &Stat) -> u64 {
    (st.st_size as i64).max(0) as u64
}

/// Number of hard links.
#[allow(clippy::unnecessary_cast)] // as above
pub(crate) fn nlink(st: &Stat) -> u64 {
    st.st_nlink as u64
}

/// (device, inode): what names a file whatever its path.
#[allow(clippy::unnecessary_cast)] // as above
pub(crate) fn dev_ino(st: &Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// Modification time.
#[allow(clippy::unnecessary_cast)] // as above
pub(crate) fn mtime(st: &Stat) -> SystemTime {
    let secs = st.st_mtime as i64;
    let nanos = (st.st_mtime_nsec as u32).min(999_999_999);
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    }
}

/// Identity of an open directory: device, inode and, when the kernel tells
/// (`STATX_MNT_ID`, Linux 5.8), the id of the mount it belongs to.
///
/// The device alone misses a bind mount of a directory of the same
/// filesystem; the mount id does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DirId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Mount id, when known.
    pub mnt: Option<u64>,
}

impl DirId {
    /// The identity of the open directory `fd` (`statx(fd, "", AT_EMPTY_PATH)`).
    pub(crate) fn of(fd: impl AsFd) -> Result<DirId, Errno> {
        let stx = rustix::fs::statx(
            fd,
            c"",
            AtFlags::EMPTY_PATH,
            StatxFlags::TYPE | StatxFlags::INO | StatxFlags::MNT_ID,
        )?;
        let mnt = StatxFlags::from_bits_retain(stx.stx_mask)
            .contains(StatxFlags::MNT_ID)
            .then_some(stx.stx_mnt_id);
        Ok(DirId {
            dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
            mnt,
        })
    }

    /// Whether this is the directory `st` described (same device and inode).
    pub(crate) fn is(&self, st: &Stat) -> bool {
        (self.dev, self.ino) == dev_ino(st)
    }
}

/// The boundary of everything we may touch: the root's device and mount.
/// A directory outside it is a mount point (or something moved in from
/// another mount) and is never entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fence {
    /// The root's device.
    pub dev: u64,
    /// The root's mount id, when known.
    pub mnt: Option<u64>,
}

impl Fence {
    /// Whether the directory `id` is on the root's device and mount.
    pub(crate) fn holds(&self, id: &DirId) -> bool {
        id.dev == self.dev
            && match (self.mnt, id.mnt) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Whether an `openat(O_DIRECTORY|O_NOFOLLOW)` failed because the entry is a
/// symlink or not a directory.
pub(crate) fn not_a_dir(e: Errno) -> bool {
    matches!(e, Errno::LOOP | Errno::NOTDIR)
}

/// An error as a message (`Permission denied (os error 13)`).
pub(crate) fn describe(e: Errno) -> String {
    std::io::Error::from(e).to_string()
}

/// A path on one line: control characters (a newline in a file name) are
/// escaped, so that a message naming it stays one line.
pub(crate) fn show(path: &Path) -> String {
    one_line(&path.to_string_lossy())
}

/// `s` with its control characters escaped.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `dir/name` for messages (the name may be any bytes).
pub(crate) fn join(dir: &Path, name: &CStr) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(name.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line_whatever_the_file_name() {
        let p = Path::new("/x/evil\nname\r\tend");
        let s = show(p);
        assert!(
            !s.contains('\n') && !s.contains('\r') && !s.contains('\t'),
            "{s}"
        );
        assert!(s.starts_with("/x/evil"));
    }

    #[test]
    fn the_fence_compares_device_and_mount_when_known() {
        let f = Fence {
            dev: 1,
            mnt: Some(7),
        };
        let id = |dev, mnt| DirId { dev, ino: 5, mnt };
        assert!(f.holds(&id(1, Some(7))));
        assert!(!f.holds(&id(1, Some(8))), "a bind mount of the same device");
        assert!(!f.holds(&id(2, Some(7))));
        assert!(f.holds(&id(1, None)));
        assert!(!f.holds(&id(2, None)));
    }

    #[test]
    fn mtime_reads_seconds_and_nanoseconds() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(when)
            .unwrap();
        let dir = rustix::fs::open(
            tmp.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(mtime(&lstat_at(dir.as_fd(), "f").unwrap()), when);
    }
}
