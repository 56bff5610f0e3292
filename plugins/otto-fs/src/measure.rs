//! What is measured of one run, and measuring many runs in parallel.
//!
//! A run is identified by the device, inode, mtime and ctime of the run
//! directory (from the scan's `lstat`); when the size
//! index holds an entry with the same identity, the entry is used as is
//! (no system call): only finished runs are indexed. Otherwise the run is
//! opened relative to its project's descriptor and walked
//! ([`crate::walk`]) and, on the way, its task count, the size of its
//! `tasks/*/stderr.log` files, its `.lock` and `.keep` markers and the
//! targets of its `tasks/*/script.*` symlinks are recorded.

use std::ffi::CStr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use rustix::fs::Stat;
use rustix::io::Errno;

use crate::strings::Strings;
use crate::walk::{self, Du, Identity, Linked, LockProbe, Sizes, Visitor};

/// Everything measured of one run: what the size index keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunFacts {
    /// The run directory's identity when it was measured.
    pub identity: Identity,
    /// `du -sb` / `du -sB1` of the run directory.
    pub sizes: Sizes,
    /// The directories under `tasks/`.
    pub task_count: u32,
    /// The apparent bytes of every `tasks/*/stderr.log`.
    pub stderr_bytes: u64,
    /// Whether `.lock` exists (or could not be probed: see
    /// [`walk::probe_lock_at`]).
    pub lock_file: bool,
    /// Whether `.keep` exists.
    pub pinned: bool,
    /// The targets of `tasks/*/script.*` symlinks, as [`Strings`] ids.
    pub targets: Box<[u32]>,
    /// The hard-linked files of the run (counted once in `sizes`).
    pub links: Box<[Linked]>,
    /// What its task directories show of how each task ended; `None` when
    /// the walk was incomplete (an entry unreadable or vanishing) or the
    /// run was not settled (its `.lock` held, or too young): what a live
    /// run shows is never given as final.
    pub outputs: Option<TaskOutputs>,
}

/// What a run's task directories show of how their tasks ended, counted
/// by the rules of the status plugin's `heuristic::summarize` (so that it
/// need not read them again): a task exited 0 when its directory holds a
/// regular file `output.<task>.json` or `output.<task>.env`; it started
/// when it holds a regular `builtins.sh` or `builtins.py`; its stderr is
/// the size of a regular `stderr.log`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskOutputs {
    /// Tasks that wrote their output file (exited 0).
    pub exited_0: u32,
    /// Tasks whose `stderr.log` is not empty.
    pub tasks_with_stderr: u32,
    /// Tasks that started and wrote no output file, by name (sorted; a
    /// name that is not UTF-8 is converted lossily, as the plugin does).
    pub unfinished: Box<[Box<str>]>,
}

/// The figures of a run that `list` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// `du -sb` / `du -sB1`.
    pub sizes: Sizes,
    /// Directories under `tasks/`.
    pub task_count: u32,
    /// Bytes of `tasks/*/stderr.log`.
    pub stderr_bytes: u64,
    /// `.keep` exists.
    pub pinned: bool,
    /// The run is known to be finished: its `.lock` was free (or absent)
    /// after it settled. Set by the survey, not kept in the index.
    pub finished: bool,
    /// How its tasks ended, when known (see [`TaskOutputs`]).
    pub outputs: Option<TaskOutputs>,
}

impl RunFacts {
    /// What `list` reports of the run.
    pub fn summary(&self) -> Summary {
        Summary {
            sizes: self.sizes,
            task_count: self.task_count,
            stderr_bytes: self.stderr_bytes,
            pinned: self.pinned,
            finished: false,
            outputs: self.outputs.clone(),
        }
    }
}

/// The outcome of measuring one run.
#[derive(Debug)]
pub(crate) enum Measured {
    /// Walked now; `indexable` when the walk was complete and the run has
    /// no `.lock` (so it may be kept in the size index).
    Walked {
        /// What was measured (boxed: most outcomes of a listing are
        /// `Cached`, and a slot is kept per run).
        facts: Box<RunFacts>,
        /// Whether the figures may go into the index.
        indexable: bool,
    },
    /// The index entry given is still valid.
    Cached,
    /// The directory is gone, or is not a directory any more.
    Gone,
    /// The name is now a symlink (swapped in since the scan): skipped.
    Symlink,
    /// The directory could not be opened (permissions…).
    Unreadable(Errno),
}

/// One run to measure: its project's descriptor, its name, the index entry
/// to validate when there is one, and where its outcome goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Job<'a> {
    /// Where the outcome goes (see [`measure_all`]).
    pub slot: usize,
    /// The project directory.
    pub project: BorrowedFd<'a>,
    /// The run directory's name.
    pub name: &'a str,
    /// The run directory's identity as scanned, when known.
    pub identity: Option<Identity>,
    /// The index entry for this run, when any.
    pub cached: Option<&'a RunFacts>,
}

/// Whether the index entry of `job` still describes the run: the run
/// directory has the identity it had when it was measured (as the scan's
/// `lstat` saw it). Adding or removing anything in it (a `.keep` pin, a
/// task's replacement, …) or replacing it changes that identity. Only
/// finished runs are indexed, and otto never runs in a finished run's
/// directory again. No system call: the scan already made the `lstat`.
fn still_valid(job: &Job<'_>) -> bool {
    matches!((job.cached, job.identity), (Some(cached), Some(identity)) if cached.identity == identity)
}

/// How young a run may be and still be indexed: otto creates `.lock` and
/// then takes it, so a run seconds old may not hold it yet.
const SETTLE_SECS: i64 = 120;

/// Whether a finished walk of a run may go into the index, given what the
/// probe of its `.lock` found before the walk: the lock is not held (otto
/// is done with it) and the run is not so young that otto may not have
/// taken the lock yet. (A run dated in the future — a skewed clock — is
/// judged by its lock alone.)
fn settled(name: &str, lock: LockProbe) -> bool {
    let Some(run) = crate::layout::RunName::parse(name) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let age = now.saturating_sub(run.start_secs());
    !(0..SETTLE_SECS).contains(&age) && lock != LockProbe::Held
}

/// Measures one run (see the module docs).
pub(crate) fn measure_run(job: &Job<'_>, strings: &Mutex<Strings>) -> Measured {
    if still_valid(job) {
        return Measured::Cached;
    }
    let fd = match walk::open_dir_at(job.project, job.name) {
        Ok(fd) => fd,
        // `O_NOFOLLOW | O_DIRECTORY` on a symlink fails with `ENOTDIR` or
        // `ELOOP`: tell a symlink from a file by looking at the entry.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_link =
                walk::lstat_at(job.project, job.name).is_ok_and(|st| walk::is_symlink(&st));
            return if is_link {
                Measured::Symlink
            } else {
                Measured::Gone
            };
        }
        Err(e) if walk::is_gone(e) => return Measured::Gone,
        Err(e) => return Measured::Unreadable(e),
    };
    let Ok(own) = rustix::fs::fstat(&fd) else {
        return Measured::Gone;
    };
    let identity = Identity::of(&own);
    // Probed before the walk: figures of a run that was live are never kept.
    let lock = walk::probe_lock_at(&fd, ".lock");
    let may_index = settled(job.name, lock);

    let mut du = Du::new(true);
    du.add(&own);
    let mut seen = RunVisitor::default();
    walk::walk(fd, &mut du, &mut seen);
    let outputs = seen.task_outputs();
    let targets = if seen.targets.is_empty() {
        Box::default()
    } else {
        let mut strings = strings.lock().unwrap_or_else(|e| e.into_inner());
        seen.targets.iter().map(|t| strings.intern(t)).collect()
    };
    let lock_file = lock != LockProbe::Absent || seen.lock_file;
    let facts = RunFacts {
        identity,
        sizes: du.sizes,
        task_count: seen.task_count,
        stderr_bytes: seen.stderr_bytes,
        lock_file,
        pinned: seen.pinned,
        targets,
        links: du.links.into_boxed_slice(),
        // A walk that missed entries may have missed a task's files, and a
        // run that was (or may have been) live may have changed since:
        // only what the index may keep is given to the status plugin.
        outputs: (du.complete && may_index).then_some(outputs),
    };
    Measured::Walked {
        facts: Box::new(facts),
        indexable: du.complete && may_index,
    }
}

/// Records the facts of a run while it is walked.
#[derive(Debug, Default)]
struct RunVisitor {
    task_count: u32,
    stderr_bytes: u64,
    lock_file: bool,
    pinned: bool,
    targets: Vec<Vec<u8>>,
    /// The task directory being walked: its name and what it shows so far
    /// (the walk is depth first, so a task's entries come together).
    task: Option<(Vec<u8>, TaskSeen)>,
    /// The tasks walked so far.
    outputs: TaskOutputs,
    /// Unfinished tasks, unsorted.
    unfinished: Vec<Box<str>>,
}

/// What one task directory showed.
#[derive(Clone, Copy, Debug, Default)]
struct TaskSeen {
    output: bool,
    builtins: bool,
    stderr_bytes: u64,
}

impl RunVisitor {
    /// Counts the task directory being walked, if any.
    fn end_task(&mut self) {
        let Some((name, seen)) = self.task.take() else {
            return;
        };
        let outputs = &mut self.outputs;
        outputs.tasks_with_stderr = outputs
            .tasks_with_stderr
            .saturating_add(u32::from(seen.stderr_bytes > 0));
        if seen.output {
            outputs.exited_0 = outputs.exited_0.saturating_add(1);
        } else if seen.builtins {
            self.unfinished
                .push(String::from_utf8_lossy(&name).into_owned().into());
        }
    }

    /// How the run's tasks ended, once the walk is over.
    fn task_outputs(&mut self) -> TaskOutputs {
        self.end_task();
        let mut unfinished = std::mem::take(&mut self.unfinished);
        unfinished.sort();
        TaskOutputs {
            unfinished: unfinished.into_boxed_slice(),
            ..std::mem::take(&mut self.outputs)
        }
    }
}

impl Visitor for RunVisitor {
    fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        dir: &[u8],
        name: &CStr,
        st: &Stat,
        _counted: bool,
    ) {
        let name_bytes = name.to_bytes();
        match dir {
            b"" => match name_bytes {
                b".lock" => self.lock_file = true,
                b".keep" => self.pinned = true,
                _ => {}
            },
            b"tasks" => {
                if walk::is_dir(st) {
                    self.task_count = self.task_count.saturating_add(1);
                    self.end_task();
                    self.task = Some((name_bytes.to_vec(), TaskSeen::default()));
                }
            }
            _ => {
                // Directly inside a task directory: `tasks/<task>`.
                let Some(task) = dir.strip_prefix(b"tasks/") else {
                    return;
                };
                if task.contains(&b'/') {
                    return;
                }
                let regular = walk::file_type(st) == rustix::fs::FileType::RegularFile;
                // The same rules as the status plugin's `heuristic` module.
                if regular {
                    if let Some((_, seen)) = self.task.as_mut().filter(|(t, _)| t == task) {
                        let output = name_bytes
                            .strip_prefix(b"output.")
                            .and_then(|rest| rest.strip_prefix(task))
                            .is_some_and(|ext| ext == b".json" || ext == b".env");
                        seen.output |= output;
                        seen.builtins |=
                            name_bytes == b"builtins.sh" || name_bytes == b"builtins.py";
                        if name_bytes == b"stderr.log" {
                            seen.stderr_bytes = walk::apparent(st);
                        }
                    }
                }
                if name_bytes == b"stderr.log" && regular {
                    self.stderr_bytes = self.stderr_bytes.saturating_add(walk::apparent(st));
                } else if name_bytes.starts_with(b"script.") && walk::is_symlink(st) {
                    if let Ok(target) = rustix::fs::readlinkat(parent, name, Vec::new()) {
                        self.targets.push(target.into_bytes());
                    }
                }
            }
        }
    }
}

/// Measures every job, on up to `threads` threads (the calling thread
/// included), storing each outcome in `slots[job.slot]`.
///
/// Threads take the next job from a shared counter, so a slow run never
/// holds up the others; more threads than cores hide I/O latency when the
/// cache is cold. Outcomes go straight to their slot: no per-thread lists.
pub(crate) fn measure_all(
    jobs: &[Job<'_>],
    slots: &[OnceLock<Measured>],
    threads: usize,
    strings: &Mutex<Strings>,
) {
    // Index hits cost nothing: settle them here, and start threads only for
    // the runs that must be walked.
    let jobs: Vec<Job<'_>> = jobs
        .iter()
        .filter(|job| {
            if !still_valid(job) {
                return true;
            }
            if let Some(slot) = slots.get(job.slot) {
                let _ = slot.set(Measured::Cached);
            }
            false
        })
        .copied()
        .collect();
    let shared = Walkers {
        jobs: jobs.as_slice(),
        slots,
        strings,
        next: AtomicUsize::new(0),
        started: AtomicUsize::new(0),
        most: threads.clamp(1, jobs.len().max(1)),
    };
    // Start with about one walker per core: on a warm cache the walk is CPU
    // bound and more threads only contend. A walker whose run took long
    // (the disk, not the CPU) adds another, up to `threads`: on a cold cache
    // many outstanding reads hide the latency.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let first = cores.clamp(1, shared.most);
    shared.started.store(first, Ordering::Relaxed);
    std::thread::scope(|scope| {
        for _ in 1..first {
            let shared = &shared;
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || walker(scope, shared));
        }
        walker(scope, &shared);
        // Scoped threads are joined when the scope ends. A panicking walker
        // loses only the run it was on: its slot stays empty and reads as gone.
    });
}

/// What the walkers of [`measure_all`] share.
struct Walkers<'a> {
    jobs: &'a [Job<'a>],
    slots: &'a [OnceLock<Measured>],
    strings: &'a Mutex<Strings>,
    /// The next job to take.
    next: AtomicUsize,
    /// Walkers started so far.
    started: AtomicUsize,
    /// The most walkers allowed.
    most: usize,
}

/// A run that took longer than this to walk waited for the disk.
const SLOW_RUN: std::time::Duration = std::time::Duration::from_millis(4);

/// Takes jobs until none is left, adding a walker after a slow run.
fn walker<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    shared: &'env Walkers<'env>,
) {
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = shared.jobs.get(i) else { break };
        let start = std::time::Instant::now();
        if let Some(slot) = shared.slots.get(job.slot) {
            // A slot is measured once; a repeated job is ignored.
            let _ = slot.set(measure_run(job, shared.strings));
        }
        let more_jobs = i + 1 < shared.jobs.len();
        if more_jobs
            && start.elapsed() > SLOW_RUN
            && shared
                .started
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < shared.most).then_some(n + 1)
                })
                .is_ok()
        {
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || walker(scope, shared));
        }
    }
}
