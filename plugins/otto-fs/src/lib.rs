//! # `otto-fs`: otto's run directories as an otto-hooks storage
//!
//! The storage plugin [`OttoFs`] reads the runs otto keeps under
//! `$OTTO_HOME` (default `~/.otto`) — read-only: it never writes there.
//! It lists runs with their sizes, shows one run with its tasks, and
//! reports disk usage per project. The lifecycle hooks do nothing: otto
//! writes its own directories.
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `otto_home` | `$OTTO_HOME` if set and non-empty, else `$HOME/.otto` | otto's directory; `~/` expands |
//! | `index` | `true` | keep a size index of finished runs in a file (see below); with `false` nothing is written and an instance remembers only what it measured itself, so one command still walks the tree once |
//! | `threads` | `min(64, 8 × cores)` | threads walking runs, 1 to 256: more threads than cores hide I/O latency on a cold cache |
//!
//! Any other key is refused, naming it. A missing or empty `otto_home` is
//! not an error: there are no runs.
//!
//! ## The layout, and what is taken for a project or a run
//!
//! ```text
//! $OTTO_HOME/
//!   otto.db  .last_prune  backups/          not projects
//!   <name>-<hash8>/                         a project ([`layout::ProjectName`])
//!     .cache/<hash8>.sh | .py               flat script cache (legacy: .cache/<task>/<hash>)
//!     <ts>/  <ts>-<n>/                      runs ([`layout::RunName`])
//!       .lock  .keep  run.yaml
//!       tasks/<task>/{stdout.log, stderr.log, script.sh -> ../../../.cache/<hash8>.sh, …}
//! ```
//!
//! - A project is `<non-empty name>-<8 lowercase hex>`, split on the last
//!   `-` (`otto-6b20a2e4` is project `otto`); `proj-ABCDEF12`, `backups`,
//!   `notes-xyz` are not projects. Every such directory is a project, not
//!   only `otto-*` ones.
//! - A run is `<u64>` or `<u64>-<u32>`: a second run in the same second is
//!   `<ts>-1`. The run id is the directory name. Runs list newest first by
//!   (seconds, suffix).
//! - A project filter matches a project's directory name, its name or its
//!   hash exactly — `abc` never selects `fabc1234`.
//! - A symlink where a project or run would be is never followed nor taken
//!   for one: `warning: otto-fs: <path> is a symlink; skipped`, once per
//!   path. A directory that disappears while it is read is skipped.
//!
//! ## The walk, and what is measured
//!
//! `$OTTO_HOME` is opened once by its path (a symlinked `~/.otto` is the
//! user's own choice and is resolved, once, by that open); every directory
//! below it is opened relative to its parent's descriptor with
//! `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`, read with `getdents64`, and each
//! entry examined with `fstatat(…, AT_SYMLINK_NOFOLLOW)`: no path is
//! resolved twice and no symlink followed, so a script link into `.cache`
//! counts as the link, and a cache file referenced by every run counts
//! once, in the cache. Runs are measured in parallel (scoped threads taking
//! the next run from an atomic counter).
//!
//! Per run: apparent bytes exactly as `du -sb <run>` (every entry's
//! `st_size`, directories and symlinks included, hard links once) and
//! allocated bytes as `du -sB1` (`st_blocks × 512`); the task count (the
//! directories under `tasks/`); the bytes of `tasks/*/stderr.log`; whether
//! `.lock` and `.keep` exist; the targets of `tasks/*/script.*` links (for
//! cache references); and the files with several hard links, so that
//! `usage` counts a file linked from two runs once, as `du` does.
//!
//! ## The size index
//!
//! Finished runs never change, so their figures are kept, valid while the
//! run directory keeps its identity (device, inode, mtime, ctime to the
//! nanosecond; anything added, removed or renamed in it changes them): the
//! scan's `lstat` of the run decides, with no other system call. `list` and `usage` walk
//! only new or changed runs. A run is indexed only when it is finished: its
//! `.lock` is not held (a non-blocking `flock` probe before the walk, which
//! never creates the file) and it is more than two minutes old (otto
//! creates `.lock` before it takes it). Live runs are walked every time, as
//! are walks that met an unreadable or vanishing entry. Entries of runs
//! that are gone are dropped. (A legacy otto, which writes no `.lock`,
//! appending to a log of a run already indexed, or adding a task to it, is
//! not seen.)
//!
//! ### File
//!
//! `<data_dir>/index/otto-fs-<h>.idx`, where `<h>` is 16 hex digits of a
//! 64-bit hash of the `otto_home` path (the path itself is in the header,
//! so a hash collision reads as "no index"). It is read in one `read`, and
//! written whole to a temporary file in the same directory, `fsync`ed, and
//! renamed over the old one (then the directory is `fsync`ed): a reader sees
//! the old file or the new one, never a mix.
//!
//! ### Format (version 2)
//!
//! Binary, little-endian; `str` is a `u32` length then that many bytes;
//! `ident` is `u64 dev, u64 ino, i64 mtime_s, u32 mtime_ns, i64 ctime_s,
//! u32 ctime_ns` (40 bytes).
//!
//! ```text
//! "OTTOFSIX"                    8-byte magic
//! u32 version                   3
//! u64 checksum                  hash of every byte after this field
//! str otto_home                 the root this index describes
//! u32 S, S × str                script-link targets, referred to by number
//! u32 P, P × project:
//!   str dir                     the project directory name
//!   u32 R, R × run:
//!     str name                  the run directory name
//!     ident run                 the run directory's identity
//!     u64 apparent, u64 allocated, u32 task_count, u64 stderr_bytes
//!     u8 flags                  bit 0: `.keep` (pinned), bit 1: `.lock`,
//!                               bit 2: task outputs known
//!     u32 T, T × u32            script-link targets (string numbers)
//!     u32 L, L × (u64 dev, u64 ino, u64 apparent, u64 allocated)
//!                               hard-linked files, to count once per project
//!     u32 exited_0, u32 tasks_with_stderr
//!     u32 U, U × str            unfinished tasks (see `task_outputs`;
//!                               zeros when bit 2 is clear)
//! ```
//!
//! About 145 bytes a run: 100,000 runs make a 14.5 MB file. A file that
//! cannot be read, is corrupt (checksum, truncation, out-of-range
//! numbers), has another version or describes another root is ignored and
//! rebuilt, silently. Nothing is ever written under `otto_home`: a data
//! directory there turns the index off.
//!
//! ## What each call returns
//!
//! - [`Storage::list_runs`]: per run, status `unknown` (the status plugin
//!   decides), sizes, task count, `pinned` from `.keep`, the run directory
//!   as `location`, and attributes `stderr_bytes`, `finished` (present
//!   and true when the run is known finished: its `.lock` was found free
//!   after the run settled, or it came from the index) and `task_outputs`
//!   (present only for runs the index may keep — walked completely, `.lock`
//!   not held, older than two minutes — or that came from it; a live run's
//!   files are never given as final): `{"tasks", "exited_0", "unfinished", "tasks_with_stderr",
//!   "stderr_bytes"}` — the task directories, those holding a regular
//!   `output.<task>.json` or `output.<task>.env` (exited 0), the sorted
//!   names of those holding a regular `builtins.sh` or `builtins.py` and
//!   no output file (started, unfinished), those with a non-empty regular
//!   `stderr.log`, and the bytes of those logs. It is what the status
//!   plugin would read in the task directories, which it then does not
//!   read again — what status
//!   detection needs, nothing more: each attribute of a listing of 100,000
//!   runs costs megabytes. `run.yaml` is
//!   not read. `limit` is applied newest first, and
//!   only the runs returned are measured.
//! - [`Storage::run_details`]: the same run plus the project's `name` and
//!   `hash`, and `run.yaml`'s `user`, `cwd`,
//!   `ottofile`, `args` (an array), `prog` and `hash` (as `ottofile_hash`,
//!   a hash of the ottofile's content), or `run_yaml_error` when it is
//!   malformed; and every task under `tasks/` sorted by name, with its log
//!   paths, script path and script link target as written.
//! - [`Storage::usage`]: per project, runs and their bytes, the cache's
//!   bytes and files, the cache files no run's script link refers to
//!   (resolved lexically; relative, absolute and legacy links alike; only
//!   targets inside that project's `.cache` count), and the rest, so that
//!   runs + cache + other = `du -sb <project>`.

mod details;
#[doc(hidden)]
pub mod fuzzing;
mod index;
pub mod layout;
mod measure;
mod runyaml;
mod scan;
mod settings;
mod strings;
mod survey;
mod usage;
mod walk;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use otto_hooks_plugin_api::{
    HookContext, Plugin, PluginConfig, PluginError, ProjectUsage, Run, RunDetails, RunQuery,
    RunStatus, Storage, Timestamp,
};
use serde_json::{Map, Value};

use crate::index::Index;
use crate::layout::{ProjectName, RunName};
use crate::measure::{Job, Measured, Summary};
use crate::scan::Warnings;
use crate::survey::{Context, Survey};
pub use crate::usage::Roots;
use crate::usage::UsedRun;

/// Keeps the `warning: otto-fs: …` lines (symlinks skipped, directories
/// unreadable) off stderr for the rest of the process, or lets them through
/// again: the `otto-hooks` binary calls it for `-q`. The warnings are
/// otherwise written as they are met, once per path.
pub fn set_quiet(quiet: bool) {
    scan::set_quiet(quiet);
}

otto_hooks_plugin_api::plugin_module! {
    /// The plugins of this crate: the `otto-fs` storage.
    pub static MODULE = [storage(OttoFs)];
}

/// The `otto-fs` storage plugin: one instance per configuration entry.
#[derive(Debug)]
pub struct OttoFs {
    /// `$OTTO_HOME`, absolute.
    home: PathBuf,
    /// The forms of `home` script links may name.
    roots: Roots,
    /// The size index file, when the index is on.
    index_path: Option<PathBuf>,
    /// Threads for walking runs.
    threads: usize,
    /// Runs walked (not taken from the index) by this instance.
    walked: AtomicU64,
    /// Symlinks and unreadable directories already reported.
    warnings: Warnings,
    /// One listing at a time per instance: they share the index file.
    busy: Mutex<()>,
    /// With the index off, what this instance measured, so that the calls of
    /// one command (`usage` lists runs too) walk the tree once.
    memory: Mutex<Option<Index>>,
}

impl Plugin for OttoFs {
    const NAME: &'static str = "otto-fs";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Reads otto's run directories under $OTTO_HOME (read-only), with du-exact sizes and a size index of finished runs";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let raw: settings::Raw = config.parse()?;
        let env = settings::Environment::current();
        let settings = settings::resolve(raw, &env).map_err(|e| {
            PluginError::invalid(format!("settings of `{}`: {e}", config.instance()))
        })?;
        Ok(OttoFs::with_settings(
            settings,
            config.data_dir(),
            env.cwd.as_deref(),
        ))
    }
}

/// The `$OTTO_HOME` an `otto-fs` instance with these settings reads (the
/// `otto_home` setting, else `$OTTO_HOME`, else `~/.otto`), made absolute.
pub fn otto_home_of(config: &PluginConfig) -> Result<PathBuf, PluginError> {
    let raw: settings::Raw = config.parse()?;
    settings::resolve(raw, &settings::Environment::current())
        .map(|s| s.otto_home)
        .map_err(|e| PluginError::invalid(format!("settings of `{}`: {e}", config.instance())))
}

impl OttoFs {
    fn with_settings(settings: settings::Settings, data_dir: &Path, cwd: Option<&Path>) -> Self {
        let home = settings.otto_home;
        let roots = Roots::new(&home);
        let index_path = settings
            .index
            .then(|| settings::absolute(data_dir, cwd))
            .flatten()
            .filter(|_| !data_dir.as_os_str().is_empty())
            .filter(|dir| !roots.contains(dir))
            .map(|dir| index::path_for(&dir, &home));
        OttoFs {
            home,
            roots,
            index_path,
            threads: settings.threads,
            walked: AtomicU64::new(0),
            warnings: Warnings::default(),
            busy: Mutex::new(()),
            memory: Mutex::new(None),
        }
    }

    /// The `$OTTO_HOME` this instance reads (absolute).
    pub fn otto_home(&self) -> &Path {
        &self.home
    }

    /// The size index file, or `None` when the index is off (by `index =
    /// false`, for want of a data directory, or because that directory lies
    /// under `otto_home`).
    pub fn index_path(&self) -> Option<&Path> {
        self.index_path.as_deref()
    }

    /// How many run directories this instance has walked rather than taken
    /// from the size index: for tests and diagnostics.
    pub fn walked_runs(&self) -> u64 {
        self.walked.load(Ordering::Relaxed)
    }

    /// Opens `$OTTO_HOME`; `None` when it is missing.
    fn open_root(&self) -> Result<Option<OwnedFd>, PluginError> {
        scan::open_root(&self.home).map_err(|e| PluginError::io(self.home.display(), &e.into()))
    }

    /// Scans the projects `filter` selects, with the index loaded.
    fn survey(&self, filter: Option<&str>) -> Result<Option<Survey>, PluginError> {
        let Some(root) = self.open_root()? else {
            return Ok(None);
        };
        let projects = scan::scan(&root, &self.home, filter, &self.warnings)
            .map_err(|e| PluginError::io(self.home.display(), &e.into()))?;
        let index = match &self.index_path {
            Some(path) => Index::load(path, &self.home),
            None => self
                .memory
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default(),
        };
        Ok(Some(Survey::new(projects, index, filter.is_none())))
    }

    /// What a survey needs of this instance.
    fn context(&self) -> Context<'_> {
        Context {
            home: &self.home,
            threads: self.threads,
            walked: &self.walked,
            warnings: &self.warnings,
        }
    }

    /// A run as `list` reports it.
    fn run(&self, project: &ProjectName<'_>, id: &str, key: RunName, summary: &Summary) -> Run {
        // What status detection needs, and no more: at 100,000 runs, every
        // attribute of a listing costs megabytes.
        let mut attributes = Map::with_capacity(3);
        attributes.insert("stderr_bytes".into(), Value::from(summary.stderr_bytes));
        if summary.finished {
            // The status plugin may skip its own lock probe.
            attributes.insert("finished".into(), Value::from(true));
        }
        if let Some(outputs) = &summary.outputs {
            // The status plugin judges a run without an otto.db row from
            // these, instead of reading its task directories again.
            attributes.insert(
                "task_outputs".into(),
                serde_json::json!({
                    "tasks": summary.task_count,
                    "exited_0": outputs.exited_0,
                    "unfinished": outputs.unfinished,
                    "tasks_with_stderr": outputs.tasks_with_stderr,
                    "stderr_bytes": summary.stderr_bytes,
                }),
            );
        }
        Run {
            id: id.to_owned(),
            project: project.dir.to_owned(),
            started_at: Timestamp::from_secs(key.start_secs()),
            ended_at: None,
            status: RunStatus::Unknown,
            status_source: None,
            task_count: summary.task_count,
            size_bytes: Some(summary.sizes.apparent),
            allocated_bytes: Some(summary.sizes.allocated),
            location: self
                .home
                .join(project.dir)
                .join(id)
                .to_string_lossy()
                .into_owned(),
            pinned: summary.pinned,
            attributes,
        }
    }

    fn not_found(&self, ctx: &HookContext<'_>) -> PluginError {
        PluginError::not_found(format!(
            "no run {} in project {} (under {})",
            ctx.run_id,
            ctx.project,
            self.home.display()
        ))
    }
}

impl Storage for OttoFs {
    fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, PluginError> {
        let mut runs = Vec::new();
        self.list_runs_into(query, &mut |run| runs.push(run))?;
        Ok(runs)
    }

    fn list_runs_into(
        &self,
        query: &RunQuery<'_>,
        emit: &mut dyn FnMut(Run),
    ) -> Result<(), PluginError> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let Some(survey) = self.survey(query.project)? else {
            return Ok(());
        };
        let order = survey.newest_first();
        let limit = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        // Measure only as many runs as are returned; runs that vanished
        // meanwhile make room for the next ones.
        let mut picked: Vec<((usize, usize), Summary)> = Vec::with_capacity(order.len().min(limit));
        let mut next = 0;
        while picked.len() < limit && next < order.len() {
            let batch = &order[next..order.len().min(next + (limit - picked.len()))];
            next += batch.len();
            survey.measure(batch, self.context());
            picked.extend(batch.iter().filter_map(|&pick| {
                let mut summary = survey.facts(pick)?.summary();
                summary.finished = survey.finished(pick);
                Some((pick, summary))
            }));
        }
        drop(order);
        // The index is written and freed before the runs are built, and each
        // run goes to the host as soon as it is: at 100,000 runs, holding
        // them together would double the peak.
        let projects = survey.finish(self.index_path.as_deref(), &self.memory, self.context());
        for ((p, r), summary) in &picked {
            if let Some(run) = projects.get(*p).and_then(|project| {
                let run = project.runs.get(*r)?;
                Some(self.run(&project.name(), &run.name, run.key, summary))
            }) {
                emit(run);
            }
        }
        Ok(())
    }

    fn run_details(&self, ctx: &HookContext<'_>) -> Result<RunDetails, PluginError> {
        let Some(root) = self.open_root()? else {
            return Err(self.not_found(ctx));
        };
        let names = scan::project_names(&root, Some(ctx.project))
            .map_err(|e| PluginError::io(self.home.display(), &e.into()))?;
        let dir = match names.iter().find(|n| *n == ctx.project) {
            Some(exact) => exact,
            None => match names.as_slice() {
                [one] => one,
                [] => return Err(self.not_found(ctx)),
                many => {
                    return Err(PluginError::invalid(format!(
                        "project `{}` is ambiguous under {}: {}; give the full directory name",
                        ctx.project,
                        self.home.display(),
                        many.join(", ")
                    )));
                }
            },
        };
        let (Some(project), Some(key)) = (ProjectName::parse(dir), RunName::parse(ctx.run_id))
        else {
            return Err(self.not_found(ctx));
        };
        let Some((project_fd, _)) = scan::open_project(&root, &self.home, dir, &self.warnings)
        else {
            return Err(self.not_found(ctx));
        };
        let run_path = self.home.join(dir).join(ctx.run_id);
        let strings = Mutex::default();
        let job = Job {
            slot: 0,
            project: project_fd.as_fd(),
            name: ctx.run_id,
            identity: None,
            cached: None,
        };
        let facts = match measure::measure_run(&job, &strings) {
            Measured::Walked { facts, .. } => *facts,
            Measured::Symlink => {
                self.warnings.symlink(&run_path);
                return Err(self.not_found(ctx));
            }
            Measured::Unreadable(e) => return Err(PluginError::io(run_path.display(), &e.into())),
            Measured::Gone | Measured::Cached => return Err(self.not_found(ctx)),
        };
        self.walked.fetch_add(1, Ordering::Relaxed);
        let mut run = self.run(&project, ctx.run_id, key, &facts.summary());
        // Derivable from the project key, so only details carry them: a
        // listing of 100,000 runs stays small.
        run.attributes
            .insert("lock_file".into(), Value::from(facts.lock_file));
        run.attributes
            .insert("name".into(), Value::from(project.name));
        run.attributes
            .insert("hash".into(), Value::from(project.hash));
        let run_fd =
            walk::open_dir_at(project_fd.as_fd(), ctx.run_id).map_err(|_| self.not_found(ctx))?;
        runyaml::add_attributes(run_fd.as_fd(), &mut run.attributes);
        let tasks = details::tasks(run_fd.as_fd(), &run_path);
        Ok(RunDetails { run, tasks })
    }

    fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, PluginError> {
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let Some(survey) = self.survey(query.project)? else {
            return Ok(Vec::new());
        };
        let all = survey.newest_first();
        survey.measure(&all, self.context());
        let usages = {
            let strings = survey
                .index
                .strings
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let one = |p: usize| {
                let project = &survey.projects[p];
                let runs: Vec<UsedRun<'_>> = (0..project.runs.len())
                    .filter_map(|r| {
                        Some(UsedRun {
                            key: project.runs[r].key,
                            facts: survey.facts((p, r))?,
                        })
                    })
                    .collect();
                usage::project_usage(
                    project,
                    &runs,
                    &strings,
                    &self.roots,
                    &self.warnings,
                    &self.home,
                )
            };
            // Projects are independent (each walks its own cache): one
            // worker per core takes the next project until none is left.
            let count = survey.projects.len();
            let workers = std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(count);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let mut done: Vec<(usize, ProjectUsage)> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let p = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if p >= count {
                                    return mine;
                                }
                                mine.push((p, one(p)));
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            });
            done.sort_unstable_by_key(|(p, _)| *p);
            done.into_iter().map(|(_, u)| u).collect::<Vec<_>>()
        };
        survey.finish(self.index_path.as_deref(), &self.memory, self.context());
        Ok(usages)
    }
}
