//! Opening otto-hooks' own state files, and reading files we are pointed at,
//! without being tricked into touching something else.
//!
//! `$OTTO_HOOKS_HOME` holds files we create and rewrite: `clean.lock`,
//! `daemon.pid`, `daemon.log`, the port and token files, the active-run
//! records, the policies stamp. Whoever can plant an entry there (a shared
//! or restored home, a backup tool, another program of the user's) could
//! turn a write of ours into a write elsewhere: a symlink `daemon.log ->
//! ~/.bashrc`, or a hard link `clean.lock` to a file we would truncate. So
//! a state file is:
//!
//! - opened with `O_NOFOLLOW` (a symlink is refused, never followed),
//!   `O_NONBLOCK` (a FIFO never blocks the open) and `O_CLOEXEC`;
//! - created with `O_CREAT | O_EXCL` when missing, so a creation never
//!   lands on an entry planted between a check and the open;
//! - refused, after the open and on the descriptor, unless it is a regular
//!   file with exactly one link, owned by the user running otto-hooks.
//!
//! Files the user points us at (config files) may be symlinks — dotfile
//! managers link them — but must be regular files of a bounded size, read
//! through a non-blocking open so that a FIFO is an error, not a hang.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// How a state file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write, at any offset.
    ReadWrite,
    /// Written at the end only (logs).
    Append,
}

/// Opens our state file `path`, creating it with `create_mode` when it is
/// missing and a mode is given. The error is one line naming the file and
/// what to do.
pub fn open(path: &Path, access: Access, create_mode: Option<u32>) -> Result<File, String> {
    let base = match access {
        Access::Read => OFlags::RDONLY,
        Access::ReadWrite => OFlags::RDWR,
        Access::Append => OFlags::WRONLY | OFlags::APPEND,
    } | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC
        | OFlags::NOCTTY;
    let opened = match create_mode {
        Some(mode) => {
            match rustix::fs::open(
                path,
                base | OFlags::CREATE | OFlags::EXCL,
                Mode::from_raw_mode(mode),
            ) {
                // Someone (another otto-hooks) created it first: open what
                // is there, and check it like any existing file.
                Err(Errno::EXIST) => rustix::fs::open(path, base, Mode::empty()),
                other => other,
            }
        }
        None => rustix::fs::open(path, base, Mode::empty()),
    };
    let fd = opened.map_err(|e| match e {
        Errno::LOOP => format!(
            "{}: refused: it is a symbolic link; otto-hooks' own files are never followed (remove it)",
            path.display()
        ),
        e => format!("cannot open {}: {}", path.display(), io_error(e)),
    })?;
    check_own(&fd, path)?;
    Ok(File::from(fd))
}

/// Reads our state file `path` whole: `Ok(None)` when it does not exist.
/// Refused like [`open`] when it is not ours, and when it is larger than
/// `max_bytes`.
pub fn read(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>, String> {
    let file = match open(path, Access::Read, None) {
        Ok(file) => file,
        Err(_) if !exists_no_follow(path) => return Ok(None),
        Err(e) => return Err(e),
    };
    read_capped(file, path, max_bytes).map(Some)
}

/// Reads a file the user pointed us at (a config file): symlinks are
/// followed, but the file must be a regular file of at most `max_bytes`;
/// the open never blocks (a FIFO is refused at once).
pub fn read_regular(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot read {}: {}", path.display(), io_error(e)))?;
    let st = rustix::fs::fstat(&fd)
        .map_err(|e| format!("cannot read {}: {}", path.display(), io_error(e)))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(format!(
            "cannot read {}: it is {}, not a regular file",
            path.display(),
            describe_type(FileType::from_raw_mode(st.st_mode))
        ));
    }
    read_capped(File::from(fd), path, max_bytes)
}

/// Checks, on the descriptor, that the file is a regular file with one
/// link, owned by us.
pub(crate) fn check_own(fd: impl AsFd, path: &Path) -> Result<(), String> {
    let st = rustix::fs::fstat(fd)
        .map_err(|e| format!("cannot examine {}: {}", path.display(), io_error(e)))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(format!(
            "{}: refused: it is {}, not a regular file (remove it)",
            path.display(),
            describe_type(kind)
        ));
    }
    if st.st_nlink != 1 {
        return Err(format!(
            "{}: refused: it has {} hard links; otto-hooks' own files must have exactly one, \
             or a write to it would change another file (remove it)",
            path.display(),
            st.st_nlink
        ));
    }
    let uid = rustix::process::geteuid().as_raw();
    if st.st_uid != uid {
        return Err(format!(
            "{}: refused: it is owned by uid {}, not by you (uid {uid}) (remove it)",
            path.display(),
            st.st_uid
        ));
    }
    Ok(())
}

/// Reads `file` to its end, refusing more than `max_bytes`.
fn read_capped(file: File, path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "cannot read {}: it is larger than {max_bytes} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Whether anything (a link included) is at `path`.
fn exists_no_follow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn describe_type(kind: FileType) -> &'static str {
    match kind {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Symlink => "a symbolic link",
        _ => "not a regular file",
    }
}

fn io_error(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
    }

    #[test]
    fn a_missing_state_file_is_created_exclusively_and_reopened() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("daemon.pid");
        let f = open(&path, Access::ReadWrite, Some(0o600)).unwrap();
        drop(f);
        open(&path, Access::ReadWrite, Some(0o600)).unwrap();
        assert_eq!(read(&path, 10).unwrap(), Some(Vec::new()));
        assert_eq!(read(&tmp.path().join("none"), 10).unwrap(), None);
    }

    #[test]
    fn a_symlinked_state_file_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("bashrc");
        std::fs::write(&target, "precious").unwrap();
        let path = tmp.path().join("daemon.log");
        symlink(&target, &path).unwrap();
        for access in [Access::Read, Access::ReadWrite, Access::Append] {
            let e = open(&path, access, Some(0o600)).unwrap_err();
            assert!(e.contains("symbolic link"), "{e}");
        }
        assert!(read(&path, 100).unwrap_err().contains("symbolic link"));
        // A dangling link is refused too (never created through).
        let dangling = tmp.path().join("clean.lock");
        symlink(tmp.path().join("elsewhere"), &dangling).unwrap();
        assert!(open(&dangling, Access::ReadWrite, Some(0o600)).is_err());
        assert!(!tmp.path().join("elsewhere").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn a_hard_linked_state_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let other = tmp.path().join("other");
        std::fs::write(&other, "precious").unwrap();
        let path = tmp.path().join("clean.lock");
        std::fs::hard_link(&other, &path).unwrap();
        let e = open(&path, Access::ReadWrite, Some(0o600)).unwrap_err();
        assert!(e.contains("2 hard links"), "{e}");
        assert!(!e.contains('\n'));
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious");
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        fifo(&path);
        let e = read_regular(&path, 100).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        let e = open(&path, Access::Read, None).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
    }

    #[test]
    fn read_regular_follows_a_symlink_but_caps_the_size() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real.toml");
        std::fs::write(&real, "a = 1\n").unwrap();
        let link = tmp.path().join("config.toml");
        symlink(&real, &link).unwrap();
        assert_eq!(read_regular(&link, 100).unwrap(), b"a = 1\n");
        let e = read_regular(&link, 3).unwrap_err();
        assert!(e.contains("larger than 3 bytes"), "{e}");
        let e = read_regular(tmp.path(), 100).unwrap_err();
        assert!(e.contains("directory"), "{e}");
    }
}
