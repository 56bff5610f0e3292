//! Surveying a project's script cache: which files the remaining runs
//! still reference, and which are orphans.
//!
//! The *roots* are the `script.*` links under `<run>/tasks/<task>/` of
//! every run directory present in the project — minus the runs a plan is
//! about to delete. A link's target is resolved lexically, never followed
//! ([`otto_hooks_otto_fs::Roots::cache_path`]): relative targets
//! (`../../../.cache/<hash8>.sh`), absolute ones (legacy runs) and the
//! legacy per-task layout (`.cache/<task>/<hash>`) alike, and it refers to a
//! cache file only when it lands inside *that project's* `.cache`.
//!
//! Reading a link can only ever *add* a root, which keeps a file; a root
//! that was missed could delete a file in use. So the survey errs on the
//! side of roots: a run it cannot read makes the whole project's survey
//! fail (nothing of that project's cache is deleted), and the survey is
//! made at execution time, after the runs are deleted, from the directories
//! on disk — not from the listing the plan was made from — so a run that
//! started since is a root too. What remains is a run that starts between
//! the survey and a file's deletion *and* links an old cache file without
//! rewriting it; [`OttoRoot::run_names`] lets the caller re-check that no
//! run appeared just before deleting, and the grace period covers every
//! file a run wrote itself.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use otto_hooks_otto_fs::Roots;
use otto_hooks_otto_fs::layout::RunName;
use rustix::fs::{FileType, Mode, OFlags, RawDir, ResolveFlags};
use rustix::io::Errno;

use super::names;
use super::root::{OttoRoot, Step};
use super::sys;

/// One regular file of a project's `.cache`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// Its path below `.cache`: `<hash8>.sh`, or legacy `<task>/<hash>`.
    pub rel: String,
    /// Apparent bytes (`st_size`).
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
    /// Its device and inode: a link that resolves to the same pair refers
    /// to it, whatever spelling of the path the link uses.
    pub file_id: (u64, u64),
}

/// A `script.*` link of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptLink {
    /// The run.
    pub run: String,
    /// The task.
    pub task: String,
    /// The link's name (`script.sh`, `script.py`).
    pub link: String,
    /// The target as written.
    pub target: String,
    /// What the kernel resolves the link to.
    pub resolved: Resolved,
}

/// What a script link resolves to when the kernel follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A file: its device and inode.
    File(u64, u64),
    /// Nothing (a dangling link).
    Missing,
    /// It could not be resolved (a loop, a permission, an I/O error): the
    /// reason. Whatever it may point at must be kept.
    Unknown(String),
}

/// What [`OttoRoot::survey_cache`] found in one project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheSurvey {
    /// The runs whose links were read (the roots' runs).
    pub runs: BTreeSet<String>,
    /// Every regular file of `.cache`, by path below it.
    pub files: BTreeMap<String, CacheEntry>,
    /// Paths below `.cache` some root references.
    pub referenced: BTreeSet<String>,
    /// Links into the project's `.cache` whose target does not exist.
    pub dangling: Vec<ScriptLink>,
    /// Links whose target is not inside the project's `.cache`.
    pub outside: Vec<ScriptLink>,
    /// Entries of `.cache` that are neither regular files nor legacy task
    /// directories (symlinks, sockets…): never candidates, named here.
    pub ignored: Vec<String>,
}

impl CacheSurvey {
    /// Records what `link` keeps: the cache file it names lexically, and the
    /// file the kernel resolves it to (by device and inode, so another
    /// spelling of `$OTTO_HOME` — a symlinked parent — is recognised). A
    /// link that cannot be resolved and does not name a cache file
    /// lexically fails the survey: its target is unknown, so nothing of the
    /// project's cache may go.
    fn add_root(
        &mut self,
        project: &str,
        link: ScriptLink,
        roots: &Roots,
        by_file_id: &BTreeMap<(u64, u64), String>,
    ) -> Result<(), String> {
        let lexical = roots
            .cache_path(project, link.target.as_bytes())
            .map(|rel| String::from_utf8_lossy(&rel).into_owned());
        let resolved = match &link.resolved {
            Resolved::File(dev, ino) => by_file_id.get(&(*dev, *ino)).cloned(),
            Resolved::Missing => None,
            Resolved::Unknown(why) if lexical.is_none() => {
                return Err(format!(
                    "cannot resolve the script link {}/tasks/{}/{} ({why}); \
                     nothing of this project's cache is deleted",
                    link.run, link.task, link.link
                ));
            }
            Resolved::Unknown(_) => None,
        };
        let found = lexical.is_some() || resolved.is_some();
        if let Some(rel) = resolved {
            self.referenced.insert(rel);
        }
        match lexical {
            Some(rel) => {
                let exists = self.files.contains_key(&rel);
                self.referenced.insert(rel);
                if !exists && link.resolved == Resolved::Missing {
                    self.dangling.push(link);
                }
            }
            None if !found => self.outside.push(link),
            None => {}
        }
        Ok(())
    }

    /// Files no root references, split into orphans (last modified at
    /// least `grace` before `now`) and recent ones, each sorted by path.
    pub fn unreferenced(
        &self,
        grace: Duration,
        now: SystemTime,
    ) -> (Vec<&CacheEntry>, Vec<&CacheEntry>) {
        self.files
            .values()
            .filter(|f| !self.referenced.contains(&f.rel))
            .partition(|f| now.duration_since(f.modified).unwrap_or(Duration::ZERO) >= grace)
    }
}

/// A run's name and its script links.
type RunLinks = (String, Vec<ScriptLink>);

/// The script link names otto writes.
const SCRIPT_LINKS: [&str; 2] = ["script.sh", "script.py"];

impl OttoRoot {
    /// The project directories under the root: names that parse as otto
    /// projects, real directories (a symlink is not a project), sorted.
    pub fn project_names(&self) -> Result<Vec<String>, String> {
        let fd = sys::open_dir_at(self.fd(), c".").map_err(|e| {
            format!(
                "cannot read {}: {}",
                sys::show(self.path()),
                sys::describe(e)
            )
        })?;
        let mut projects = Vec::new();
        for_each_entry(fd, self.path(), |dir, name, kind| {
            let Some(text) = name
                .to_str()
                .ok()
                .filter(|n| otto_hooks_otto_fs::layout::ProjectName::parse(n).is_some())
            else {
                return Ok(());
            };
            if entry_is_dir(dir, name, kind)? {
                projects.push(text.to_owned());
            }
            Ok(())
        })
        .map_err(|e| {
            format!(
                "cannot read {}: {}",
                sys::show(self.path()),
                sys::describe(e)
            )
        })?;
        projects.sort();
        Ok(projects)
    }

    /// The run directories of `project` (names that parse as runs, real
    /// directories — a symlink is not a run).
    pub fn run_names(&self, project: &str) -> Result<BTreeSet<String>, String> {
        names::check_project(project)?;
        let (proj, proj_path) = self.open_project(project).map_err(Step::message)?;
        let mut runs = BTreeSet::new();
        for_each_entry(proj, &proj_path, |dir, name, kind| {
            let Some(text) = name.to_str().ok().filter(|n| RunName::parse(n).is_some()) else {
                return Ok(());
            };
            if entry_is_dir(dir, name, kind)? {
                runs.insert(text.to_owned());
            }
            Ok(())
        })
        .map_err(|e| {
            format!(
                "cannot read {}: {}",
                sys::show(&proj_path),
                sys::describe(e)
            )
        })?;
        Ok(runs)
    }

    /// Surveys `project`'s cache: its files, and the links of every run
    /// directory in the project except those in `excluded` (see the module
    /// docs). `roots` resolves link targets; it must be made for this
    /// root's path.
    ///
    /// Fails — and the caller then deletes nothing of this project's cache
    /// — when a run's links cannot be read for any reason other than the
    /// run vanishing meanwhile.
    pub fn survey_cache(
        &self,
        project: &str,
        excluded: &BTreeSet<String>,
        roots: &Roots,
    ) -> Result<CacheSurvey, String> {
        let runs: Vec<String> = self
            .run_names(project)?
            .into_iter()
            .filter(|r| !excluded.contains(r))
            .collect();
        let (proj, proj_path) = self.open_project(project).map_err(Step::message)?;
        let mut survey = CacheSurvey::default();
        self.list_cache(proj.as_fd(), &proj_path, &mut survey)?;

        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8)
            .min(runs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Vec<RunLinks>, String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(run) = runs.get(i) else { break };
                            match read_run_links(proj.as_fd(), &proj_path, run) {
                                Ok(Some(links)) => out.push((run.clone(), links)),
                                Ok(None) => {} // gone meanwhile
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(out)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err("a survey thread panicked".to_owned()))
                })
                .collect()
        });
        let by_file_id: BTreeMap<(u64, u64), String> = survey
            .files
            .values()
            .map(|f| (f.file_id, f.rel.clone()))
            .collect();
        for result in results {
            for (run, links) in result? {
                survey.runs.insert(run);
                for link in links {
                    survey.add_root(project, link, roots, &by_file_id)?;
                }
            }
        }
        survey
            .dangling
            .sort_by(|a, b| (&a.run, &a.task).cmp(&(&b.run, &b.task)));
        survey
            .outside
            .sort_by(|a, b| (&a.run, &a.task).cmp(&(&b.run, &b.task)));
        Ok(survey)
    }

    /// Lists `.cache` (flat files, and one level of legacy task
    /// directories) into `survey.files`. A missing `.cache` is empty.
    fn list_cache(
        &self,
        proj: BorrowedFd<'_>,
        proj_path: &Path,
        survey: &mut CacheSurvey,
    ) -> Result<(), String> {
        let (cache, _) = match self.open_below(proj, proj_path, ".cache", "the cache directory") {
            Ok(opened) => opened,
            Err(Step::Gone) => return Ok(()),
            Err(step) => return Err(step.message()),
        };
        let cache_path = proj_path.join(".cache");
        let mut subdirs = Vec::new();
        let read = |fd: OwnedFd,
                    dir_path: &Path,
                    prefix: Option<&str>,
                    survey: &mut CacheSurvey,
                    subdirs: &mut Vec<String>| {
            for_each_entry(fd, dir_path, |dir, name, _| {
                let text = name.to_string_lossy();
                let rel = match prefix {
                    Some(p) => format!("{p}/{text}"),
                    None => text.clone().into_owned(),
                };
                let st = match sys::lstat_at(dir, name) {
                    Ok(st) => st,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(e),
                };
                if sys::is_file(&st) && name.to_str().is_ok() {
                    survey.files.insert(
                        rel.clone(),
                        CacheEntry {
                            rel,
                            size: sys::size(&st),
                            modified: sys::mtime(&st),
                            file_id: (st.st_dev, st.st_ino),
                        },
                    );
                } else if sys::is_dir(&st) && prefix.is_none() && name.to_str().is_ok() {
                    subdirs.push(rel);
                } else {
                    survey.ignored.push(rel);
                }
                Ok(())
            })
            .map_err(|e| format!("cannot read {}: {}", sys::show(dir_path), sys::describe(e)))
        };
        read(cache, &cache_path, None, survey, &mut subdirs)?;
        let cache_fd = self
            .open_below(proj, proj_path, ".cache", "the cache directory")
            .map_err(Step::message)?
            .0;
        for sub in subdirs {
            match self.open_below(cache_fd.as_fd(), &cache_path, &sub, "the cache directory") {
                Ok((fd, _)) => read(
                    fd,
                    &cache_path.join(&sub),
                    Some(&sub),
                    survey,
                    &mut Vec::new(),
                )?,
                Err(Step::Gone) => {}
                Err(step) => {
                    // Not entered (a mount point, replaced): its files are
                    // never candidates.
                    survey.ignored.push(format!("{sub} ({})", step.message()));
                }
            }
        }
        Ok(())
    }
}

/// The `script.*` links of run `run`: `None` when the run is gone.
fn read_run_links(
    proj: BorrowedFd<'_>,
    proj_path: &Path,
    run: &str,
) -> Result<Option<Vec<ScriptLink>>, String> {
    let tasks_path = proj_path.join(run).join("tasks");
    let tasks = match open_beneath(proj, &format!("{run}/tasks")) {
        Ok(fd) => fd,
        // No tasks directory yet (a run just starting), or the run is gone.
        Err(Errno::NOENT) => {
            return match sys::lstat_at(proj, run) {
                Ok(_) => Ok(Some(Vec::new())),
                Err(Errno::NOENT) => Ok(None),
                Err(e) => Err(format!(
                    "cannot examine {}: {}",
                    sys::show(&proj_path.join(run)),
                    sys::describe(e)
                )),
            };
        }
        // A symlink at `<run>` or `tasks`: not a run's tasks, nothing to read.
        Err(Errno::LOOP | Errno::NOTDIR) => return Ok(Some(Vec::new())),
        Err(e) => {
            return Err(format!(
                "cannot open {}: {}",
                sys::show(&tasks_path),
                sys::describe(e)
            ));
        }
    };
    let mut links = Vec::new();
    let result = for_each_entry(tasks, &tasks_path, |dir, name, kind| {
        if !entry_is_dir(dir, name, kind)? {
            return Ok(());
        }
        // The name as bytes: a task whose name is not UTF-8 is read like
        // any other (a lossy copy would name no entry, and lose its links).
        let task = name.to_string_lossy();
        for link in SCRIPT_LINKS {
            let mut path = name.to_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(link.as_bytes());
            // `<task>/script.sh`: the task was a directory when listed; if
            // a symlink replaced it since, reading through it can only add
            // a root (keep a file), never lose one.
            match rustix::fs::readlinkat(dir, path.as_slice(), Vec::new()) {
                Ok(target) => links.push(ScriptLink {
                    run: run.to_owned(),
                    task: task.clone().into_owned(),
                    link: link.to_owned(),
                    target: target.to_string_lossy().into_owned(),
                    resolved: resolve(dir, &path),
                }),
                // Missing, or a regular file (EINVAL): no link.
                Err(Errno::NOENT | Errno::INVAL | Errno::NOTDIR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(Some(links)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(format!(
            "cannot read the script links of {}: {}",
            sys::show(&tasks_path),
            sys::describe(e)
        )),
    }
}

/// Follows the link `path` of `dir` as the kernel will when otto runs the
/// script: the device and inode it lands on. Only metadata is read.
fn resolve(dir: BorrowedFd<'_>, path: &[u8]) -> Resolved {
    match rustix::fs::statat(dir, path, rustix::fs::AtFlags::empty()) {
        Ok(st) => Resolved::File(st.st_dev, st.st_ino),
        Err(Errno::NOENT) => Resolved::Missing,
        Err(e) => Resolved::Unknown(sys::describe(e)),
    }
}

/// Opens the directory `path` (a few components) below `dir` without
/// following any symlink or crossing a mount: `openat2` with
/// `RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_BENEATH`, or on kernels
/// without it (before 5.6) one `O_NOFOLLOW` open per component.
fn open_beneath(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
    match rustix::fs::openat2(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV | ResolveFlags::BENEATH,
    ) {
        Err(Errno::NOSYS) => {
            let mut fd: Option<OwnedFd> = None;
            for part in path.split('/') {
                let parent = fd.as_ref().map_or(dir, |f| f.as_fd());
                fd = Some(sys::open_dir_at(parent, part)?);
            }
            fd.ok_or(Errno::INVAL)
        }
        other => other,
    }
}

/// Whether entry `name` of `dir` is a directory (not a symlink to one):
/// from `d_type` when the filesystem gives it, else `fstatat`.
fn entry_is_dir(dir: BorrowedFd<'_>, name: &CStr, kind: FileType) -> Result<bool, Errno> {
    match kind {
        FileType::Directory => Ok(true),
        FileType::Unknown => match sys::lstat_at(dir, name) {
            Ok(st) => Ok(sys::is_dir(&st)),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e),
        },
        _ => Ok(false),
    }
}

/// Calls `f(dir, name, d_type)` for every entry of the open directory `fd`
/// but `.` and `..` (`getdents64` on the descriptor itself).
fn for_each_entry(
    fd: OwnedFd,
    _path: &Path,
    mut f: impl FnMut(BorrowedFd<'_>, &CStr, FileType) -> Result<(), Errno>,
) -> Result<(), Errno> {
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut dir = RawDir::new(fd.as_fd(), &mut buf);
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        f(fd.as_fd(), name, entry.file_type())?;
    }
    Ok(())
}
