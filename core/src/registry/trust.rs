//! Trust checks on a plugin library before anything of it is loaded.
//!
//! A plugin runs with the user's privileges inside the host, so the host
//! loads only files that nobody else could have put or changed there:
//!
//! - the path is absolute and the file itself is not a symlink;
//! - it is a regular file owned by the user running otto-hooks;
//! - neither the file nor any directory above it is group- or
//!   world-writable (a root-owned sticky directory such as `/tmp` is
//!   accepted as an ancestor: nobody else can rename entries in it);
//! - every directory above it is owned by the user or by root.
//!
//! The file is opened once, with `O_NOFOLLOW`, checked through that
//! descriptor, and then loaded through the same descriptor
//! (`/proc/self/fd/N`), so the file checked is the file loaded.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A file that passed the checks, held open for loading.
#[derive(Debug)]
pub struct TrustedFile {
    /// The open descriptor; load through `/proc/self/fd/<fd>`.
    pub file: File,
}

const GROUP_OR_WORLD_WRITABLE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Runs every check on `path` and returns the open file. The error is the
/// reason, one line, without the path (the caller prefixes it).
pub fn check(path: &Path) -> Result<TrustedFile, String> {
    if !path.is_absolute() {
        return Err("plugin paths must be absolute (configure the full path)".into());
    }
    let uid = rustix::process::geteuid().as_raw();
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err("it is a symlink; configure the real file's path instead".into());
    }
    // Check the directories that really hold the file: a symlinked parent
    // is resolved first, and the file is then opened through the resolved
    // chain, which nobody else can change once it passed the checks.
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err("it is not a file path".into());
    };
    let parent = std::fs::canonicalize(parent)
        .map_err(|e| format!("cannot resolve directory {}: {e}", parent.display()))?;
    let real_path = parent.join(name);
    check_ancestors(&real_path, uid)?;
    // O_NONBLOCK: opening a FIFO (or a device) named like a library must
    // not wait for a writer; it is refused below as not a regular file.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&real_path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                "it is a symlink; configure the real file's path instead".to_owned()
            }
            _ => format!("cannot open it: {e}"),
        })?;
    // Everything below reads the descriptor we will load, not the path.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.uid() != uid {
        return Err(format!(
            "it is owned by uid {}, not by you (uid {uid}); only your own files are loaded",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & GROUP_OR_WORLD_WRITABLE != 0 {
        return Err(format!(
            "it is {} (mode {mode:04o}); fix with `chmod go-w {}`",
            writable_by(mode),
            path.display()
        ));
    }
    Ok(TrustedFile { file })
}

/// Checks every directory from the file's parent up to `/`.
fn check_ancestors(path: &Path, uid: u32) -> Result<(), String> {
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let meta = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        let owner = meta.uid();
        if owner != uid && owner != 0 {
            return Err(format!(
                "directory {} is owned by uid {owner}, neither you (uid {uid}) nor root",
                dir.display()
            ));
        }
        let sticky_root = mode & STICKY != 0 && owner == 0;
        if mode & GROUP_OR_WORLD_WRITABLE != 0 && !sticky_root {
            return Err(format!(
                "directory {} is {} (mode {mode:04o}); fix with `chmod go-w {}`",
                dir.display(),
                writable_by(mode),
                dir.display()
            ));
        }
    }
    Ok(())
}

fn writable_by(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "group- and world-writable",
        (true, false) => "group-writable",
        _ => "world-writable",
    }
}

/// Checks a configured plugin directory (it will be listed, then each file
/// checked on its own).
pub fn check_dir(dir: &Path) -> Result<(), String> {
    if !dir.is_absolute() {
        return Err("plugin directories must be absolute".into());
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err("it is a symlink; configure the real directory instead".into());
    }
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    let uid = rustix::process::geteuid().as_raw();
    let real = std::fs::canonicalize(dir).map_err(|e| format!("cannot resolve it: {e}"))?;
    // The directory itself and its ancestors: reuse the ancestor walk on a
    // path one level below it.
    check_ancestors(&real.join("x"), uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    fn file(dir: &Path, name: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b"not really a library").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_private_file_passes() {
        let d = private_dir();
        assert!(check(&file(d.path(), "ok.so", 0o644)).is_ok());
    }

    #[test]
    fn a_relative_path_is_refused() {
        let err = check(Path::new("plugins/x.so")).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn a_world_writable_file_is_refused_with_the_fix() {
        let d = private_dir();
        let p = file(d.path(), "ww.so", 0o646);
        let err = check(&p).unwrap_err();
        assert!(
            err.contains("world-writable") && err.contains("chmod go-w"),
            "{err}"
        );
    }

    #[test]
    fn a_group_writable_file_is_refused() {
        let d = private_dir();
        let err = check(&file(d.path(), "gw.so", 0o664)).unwrap_err();
        assert!(err.contains("group-writable"), "{err}");
    }

    #[test]
    fn a_symlink_is_refused_even_to_a_good_file() {
        let d = private_dir();
        let target = file(d.path(), "real.so", 0o644);
        let link = d.path().join("link.so");
        symlink(&target, &link).unwrap();
        let err = check(&link).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
    }

    #[test]
    fn a_file_in_a_world_writable_directory_is_refused() {
        let d = private_dir();
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let p = file(&open, "x.so", 0o644);
        let err = check(&p).unwrap_err();
        assert!(
            err.contains("directory") && err.contains("world-writable"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_is_not_a_plugin() {
        let d = private_dir();
        let sub = d.path().join("sub.so");
        std::fs::create_dir(&sub).unwrap();
        let err = check(&sub).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        let d = private_dir();
        let p = if rustix::process::geteuid().is_root() {
            let p = file(d.path(), "theirs.so", 0o644);
            std::os::unix::fs::chown(&p, Some(12345), None).unwrap();
            p
        } else {
            // Not root: a root-owned file is "another user's".
            std::path::PathBuf::from("/etc/passwd")
        };
        let err = check(&p).unwrap_err();
        assert!(
            err.contains("owned by uid") && err.contains("not by you"),
            "{err}"
        );
    }

    #[test]
    fn errors_are_one_line() {
        let d = private_dir();
        for p in [file(d.path(), "a.so", 0o666), d.path().join("missing.so")] {
            let err = check(&p).unwrap_err();
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
