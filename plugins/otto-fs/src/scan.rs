//! Listing projects and their runs: one `getdents64` pass over `$OTTO_HOME`
//! and over each selected project, with an `lstat` of each candidate.
//!
//! A name that parses as a project (or run) but is a symlink is never taken
//! for one: it is reported once and skipped. A name that disappears
//! between the listing and the `lstat` or `open` is skipped silently.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Dir, Stat};
use rustix::io::Errno;

use crate::layout::{ProjectName, RunName};
use crate::walk::{self, Identity};

/// Whether warnings stay off stderr (the host's `-q`): see [`crate::set_quiet`].
static QUIET: AtomicBool = AtomicBool::new(false);

/// Keeps this process's otto-fs warnings off stderr, or lets them through.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Reports symlinks found where a project or run would be, once per path.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    seen: Mutex<HashSet<(PathBuf, String)>>,
}

impl Warnings {
    /// Warns on stderr that `path` is a symlink and was skipped, unless
    /// this was already said.
    pub fn symlink(&self, path: &Path) {
        self.once(path, "is a symlink; skipped");
    }

    /// Warns `warning: otto-fs: <path> <what>` on stderr, once per path and
    /// message.
    pub fn once(&self, path: &Path, what: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert((path.to_path_buf(), what.to_owned())) && !QUIET.load(Ordering::Relaxed) {
            eprintln!("warning: otto-fs: {} {what}", path.display());
        }
    }

    /// The paths warned about so far, sorted.
    #[cfg(test)]
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        v.sort();
        v
    }
}

/// A run directory found in a project.
#[derive(Debug)]
pub(crate) struct ScannedRun {
    /// Its directory name (the run id).
    pub name: Box<str>,
    /// The name parsed.
    pub key: RunName,
    /// The directory's identity when scanned.
    pub identity: Identity,
}

/// A project directory, open, with its runs and everything else it holds.
#[derive(Debug)]
pub(crate) struct Project {
    /// The directory name, `<name>-<hash>`.
    pub dir: String,
    /// The directory, opened without following symlinks.
    pub fd: OwnedFd,
    /// The directory's own `fstat`.
    pub stat: Stat,
    /// Its run directories, in directory order.
    pub runs: Vec<ScannedRun>,
    /// Every other entry but `.cache`: stray files, `builtins.sh`, symlinks
    /// with run names… (what `usage` reports as other bytes).
    pub others: Vec<CString>,
}

impl Project {
    /// The project's name and hash.
    pub fn name(&self) -> ProjectName<'_> {
        // `dir` was accepted by `ProjectName::parse`; the fallback is never used.
        ProjectName::parse(&self.dir).unwrap_or(ProjectName {
            dir: &self.dir,
            name: &self.dir,
            hash: "",
        })
    }
}

/// Opens `$OTTO_HOME`; `Ok(None)` when it does not exist or is not a
/// directory (no runs, not an error).
pub(crate) fn open_root(home: &Path) -> Result<Option<OwnedFd>, Errno> {
    match walk::open_root(home) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names of the projects under `root` that `filter` selects (all when
/// `None`), in directory order. Symlinks are included: callers `lstat`.
pub(crate) fn project_names(root: &OwnedFd, filter: Option<&str>) -> Result<Vec<String>, Errno> {
    let mut names = Vec::new();
    for entry in Dir::read_from(root)? {
        let Ok(entry) = entry else { break };
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        let Some(project) = ProjectName::parse(name) else {
            continue;
        };
        if filter.is_none_or(|f| project.matches(f)) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Opens the project `dir` under `root`; `None` (after a warning for a
/// symlink) when it is not a directory any more.
pub(crate) fn open_project(
    root: &OwnedFd,
    home: &Path,
    dir: &str,
    warnings: &Warnings,
) -> Option<(OwnedFd, Stat)> {
    let st = walk::lstat_at(root.as_fd(), dir).ok()?;
    if walk::is_symlink(&st) {
        warnings.symlink(&home.join(dir));
        return None;
    }
    if !walk::is_dir(&st) {
        return None;
    }
    match walk::open_dir_at(root.as_fd(), dir) {
        Ok(fd) => {
            let stat = rustix::fs::fstat(&fd).ok()?;
            Some((fd, stat))
        }
        Err(Errno::LOOP | Errno::NOTDIR) => {
            // Replaced since the `lstat`: warn only if by a symlink.
            if walk::lstat_at(root.as_fd(), dir).is_ok_and(|st| walk::is_symlink(&st)) {
                warnings.symlink(&home.join(dir));
            }
            None
        }
        Err(_) => None,
    }
}

/// Every project under `root` that `filter` selects, with its runs, sorted
/// by directory name.
pub(crate) fn scan(
    root: &OwnedFd,
    home: &Path,
    filter: Option<&str>,
    warnings: &Warnings,
) -> Result<Vec<Project>, Errno> {
    let mut names = project_names(root, filter)?;
    names.sort();
    let mut projects = Vec::with_capacity(names.len());
    for dir in names {
        let Some((fd, stat)) = open_project(root, home, &dir, warnings) else {
            continue;
        };
        let Ok((runs, others)) = list_project(&fd, &home.join(&dir), warnings) else {
            continue;
        };
        projects.push(Project {
            dir,
            fd,
            stat,
            runs,
            others,
        });
    }
    Ok(projects)
}

/// The runs of an open project, and its other entries but `.cache`.
fn list_project(
    fd: &OwnedFd,
    path: &Path,
    warnings: &Warnings,
) -> Result<(Vec<ScannedRun>, Vec<CString>), Errno> {
    let mut runs = Vec::new();
    let mut others = Vec::new();
    for entry in Dir::read_from(fd)? {
        let Ok(entry) = entry else { break };
        let raw = entry.file_name();
        let bytes = raw.to_bytes();
        if matches!(bytes, b"." | b".." | b".cache") {
            continue;
        }
        let run = raw
            .to_str()
            .ok()
            .and_then(|name| Some((name, RunName::parse(name)?)));
        let Some((name, key)) = run else {
            others.push(raw.to_owned());
            continue;
        };
        let Ok(st) = walk::lstat_at(fd.as_fd(), raw) else {
            continue;
        };
        if walk::is_dir(&st) {
            runs.push(ScannedRun {
                name: name.into(),
                key,
                identity: Identity::of(&st),
            });
        } else {
            if walk::is_symlink(&st) {
                warnings.symlink(&path.join(name));
            }
            others.push(raw.to_owned());
        }
    }
    runs.shrink_to_fit();
    Ok((runs, others))
}
