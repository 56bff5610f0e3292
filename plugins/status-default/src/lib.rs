//! # The built-in otto-hooks status plugin `default`
//!
//! Decides whether an otto run succeeded, failed, is still running, or died,
//! from the best witness available, in this order:
//!
//! 1. **the live lock** — otto holds `flock(LOCK_EX)` on `<run>/.lock` for
//!    the whole run: held means [`Running`](RunStatus::Running) whatever
//!    otto.db says (source `lock`);
//! 2. **the run's row in `otto.db`** — `success` and `failed` are final
//!    (source `otto.db`); a row stuck at `running` whose lock is not held is
//!    a run that died: [`Interrupted`](RunStatus::Interrupted) (source
//!    `otto.db + no live lock`);
//! 3. **the recorded exit codes** of the row's tasks, when the row's status
//!    is none of those (source `exit codes`);
//! 4. **what the task directories show** (unless `heuristic = false`), a
//!    *guess* (see below): a task that started and wrote no
//!    `output.<task>.json` failed or was killed, so the run is `failed?`;
//!    every task that ran having written it, the run is `success?`, even
//!    when tasks wrote to stderr (compilers, cargo and npm do). Only when
//!    the output files say nothing (no task started, or an otto older than
//!    output files) does the **stderr heuristic** decide: every
//!    `tasks/*/stderr.log` empty means success. A run without tasks is
//!    [`Unknown`](RunStatus::Unknown) (source `no tasks`).
//!
//! ## Facts and guesses
//!
//! The lock, the row and the exit codes are facts otto recorded. What the
//! task directories show is a guess (no exit code survives on disk): its
//! verdict is made with [`StatusVerdict::guess`], so its source reads
//! `guess: <why>; <source>: <evidence>`, e.g. `guess: no otto.db row;
//! task outputs: task build started and wrote no output.build.json (otto
//! writes it only when a task exits 0): it failed or was killed`. Reporters
//! show it as `failed?`, and retention never deletes it sooner than an
//! `unknown` run. See [`heuristic`] for what otto writes and when.
//!
//! Runs whose location is not an otto run directory
//! (`<otto_home>/<name>-<hash8>/<ts>[-<n>]`) belong to another storage: their
//! recorded status comes back unchanged (source `storage`).
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `otto_db` | `<otto_home>/otto.db`, `otto_home` being each run's grandparent directory | the otto database to read (an absolute path) |
//! | `heuristic` | `true` | guess from the task directories (output files, then stderr) when otto.db decides nothing |
//!
//! ## Cost
//!
//! `otto-hooks list` calls [`detect`](StatusDetector::detect) for every run.
//! otto.db is read once per instance (per otto home), whole, in one short
//! read-only transaction that is never left open; afterwards a detect costs
//! one lock probe (open, flock, close) and a hash lookup. Only two cases go
//! back to the database, with one indexed query each: a row still `running`
//! whose lock is free (the run may have ended since the read; a row found
//! stuck that way long after its start is remembered and not read again),
//! and a run that started around or after the read (its row may be newer).
//! A run that otto.db decides nothing about is guessed from its task
//! directories: one `openat` and one directory read per task, and an
//! `fstatat` of its `stderr.log` — unless storage gave the run a
//! `task_outputs` attribute (otto-fs does: it walked the run, or keeps
//! what it found in its size index), which says the same by the same
//! rules and is used instead, with no system call. Storage's
//! `stderr_bytes` attribute alone is used only when the directories cannot
//! be read, since it says nothing of output files.
//! A missing or unreadable otto.db, or a schema newer than version 5, is
//! skipped (one debug line) and tried again at most every 30 seconds. The
//! instance is `Sync`: the host may call it from several threads.

pub mod heuristic;
mod layout;
pub mod lock;
mod ottodb;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use otto_hooks_plugin_api::{
    Plugin, PluginConfig, PluginError, Run, RunDetails, RunStatus, StatusDetector, StatusVerdict,
    Task, TaskStatus, Timestamp,
};
use serde::Deserialize;

use crate::layout::OttoRun;
use crate::lock::LockState;
use crate::ottodb::{OttoDb, RowStatus, RowTaskStatus, RunRow, Snapshot, TaskRow};

pub use crate::ottodb::{
    Access, RowKey, SUPPORTED_SCHEMA, open_otto_db, project_hash, read_row_keys, run_dir_key,
};

otto_hooks_plugin_api::plugin_module! {
    /// The status plugin of this crate: `default`.
    pub static MODULE = [status(DefaultStatus)];
}

/// A row stuck at `running` whose lock is not held, re-read at least this
/// long after the run started, stays stuck: it is not read again.
const STUCK_AFTER_SECS: i64 = 600;

/// The settings of the `default` status plugin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The otto database to read; by default `<otto_home>/otto.db`, where
    /// `otto_home` is the grandparent of each run's directory.
    #[serde(default)]
    pub otto_db: Option<PathBuf>,
    /// Whether to fall back to the stderr heuristic (default `true`).
    #[serde(default = "default_heuristic")]
    pub heuristic: bool,
}

/// `heuristic`'s default.
fn default_heuristic() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            otto_db: None,
            heuristic: default_heuristic(),
        }
    }
}

/// The source that decided a run's status, as named in
/// [`StatusVerdict::source`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Not an otto run: the status storage recorded (`storage`).
    Storage,
    /// The run's `.lock` is held (`lock`).
    Lock,
    /// The run's row in otto.db says `success` or `failed` (`otto.db`).
    OttoDb,
    /// The row says `running` but the lock is not held
    /// (`otto.db + no live lock`).
    OttoDbNoLock,
    /// The exit codes of the row's tasks (`exit codes`).
    ExitCodes,
    /// The tasks' output files: a guess (`task outputs`).
    TaskOutputs,
    /// The sizes of the tasks' `stderr.log`: a guess (`stderr heuristic`).
    StderrHeuristic,
    /// The run has no tasks to judge (`no tasks`).
    NoTasks,
    /// Nothing decided (the heuristic is off) (`undecided`).
    Undecided,
}

impl Source {
    /// The name shown as the verdict's source.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Storage => "storage",
            Source::Lock => "lock",
            Source::OttoDb => "otto.db",
            Source::OttoDbNoLock => "otto.db + no live lock",
            Source::ExitCodes => "exit codes",
            Source::TaskOutputs => "task outputs",
            Source::StderrHeuristic => "stderr heuristic",
            Source::NoTasks => "no tasks",
            Source::Undecided => "undecided",
        }
    }
}

impl Source {
    /// Whether a verdict of this source is a guess (made from what the run
    /// left behind, not from a record).
    pub const fn is_guess(self) -> bool {
        matches!(self, Source::TaskOutputs | Source::StderrHeuristic)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `default` status plugin: live lock → otto.db row → exit codes →
/// stderr heuristic.
#[derive(Debug)]
pub struct DefaultStatus {
    /// Its settings.
    settings: Settings,
    /// The database named by `otto_db`, when set.
    fixed: Option<Arc<OttoDb>>,
    /// Otherwise one database per otto home, opened on first use.
    by_home: RwLock<HashMap<PathBuf, Arc<OttoDb>>>,
}

/// A run's row: in the shared snapshot, or freshly read.
#[derive(Debug)]
enum RowRef {
    /// Row `index` of a snapshot.
    Snapshot(Arc<Snapshot>, usize),
    /// A row read after the snapshot.
    Fresh(Box<RunRow>),
}

impl RowRef {
    fn get(&self) -> Option<&RunRow> {
        match self {
            RowRef::Snapshot(s, i) => s.row(*i),
            RowRef::Fresh(row) => Some(row),
        }
    }
}

/// What the decision chain found for one run.
#[derive(Debug)]
struct Outcome {
    status: RunStatus,
    source: Source,
    /// For a guess: why no fact decided, and the evidence.
    evidence: Option<String>,
    lock: LockState,
    row: Option<RowRef>,
}

impl Outcome {
    /// The verdict: a fact, or for a guess `guess: <evidence>`.
    fn verdict(&self) -> StatusVerdict {
        match &self.evidence {
            Some(evidence) if self.source.is_guess() => StatusVerdict::guess(self.status, evidence),
            _ => StatusVerdict::fact(self.status, self.source.as_str()),
        }
    }
}

impl DefaultStatus {
    /// An instance with these settings.
    pub fn with_settings(settings: Settings) -> Self {
        let fixed = settings
            .otto_db
            .clone()
            .map(|path| Arc::new(OttoDb::new(path)));
        DefaultStatus {
            settings,
            fixed,
            by_home: RwLock::new(HashMap::new()),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The database for a run of `otto_home`.
    fn db_for(&self, otto_home: &Path) -> Arc<OttoDb> {
        if let Some(db) = &self.fixed {
            return Arc::clone(db);
        }
        if let Some(db) = self
            .by_home
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(otto_home)
        {
            return Arc::clone(db);
        }
        let mut map = self.by_home.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            map.entry(otto_home.to_path_buf())
                .or_insert_with(|| Arc::new(OttoDb::new(otto_home.join("otto.db")))),
        )
    }

    /// Finds the run's row. For details the row is read afresh with all
    /// its tasks, from the rows of its start second only (no snapshot of
    /// the whole database for one run); otherwise from the snapshot, where
    /// a row that says `running` while the lock is not held is read again,
    /// as is a run that may have started after the snapshot.
    fn find_row(&self, run: &OttoRun<'_>, lock: LockState, details: bool) -> Option<RowRef> {
        let db = self.db_for(run.home);
        if details {
            // One run (`info`): its own rows, read now, every task row with
            // them — never a snapshot of every run for one.
            let fresh = db.read_one(run)?;
            self.note_stuck(&db, &fresh, run, lock);
            return Some(RowRef::Fresh(Box::new(fresh)));
        }
        let snapshot = db.snapshot()?;
        let Some(index) = snapshot.find(run) else {
            if snapshot.may_postdate(run) {
                return db.read_second(run).map(|r| RowRef::Fresh(Box::new(r)));
            }
            return None;
        };
        let row = snapshot.row(index)?;
        // A row stuck at `running` with its lock free may have finished
        // since the snapshot: read it afresh.
        if row.status == RowStatus::Running && !lock.is_held() && !db.is_stuck(row.id) {
            if let Some(fresh) = db.reread_row(row.id) {
                self.note_stuck(&db, &fresh, run, lock);
                return Some(RowRef::Fresh(Box::new(fresh)));
            }
        }
        Some(RowRef::Snapshot(snapshot, index))
    }

    /// Remembers a row still `running` though its lock is free and the run
    /// is old enough: it is stuck for good (otto was killed), and is not
    /// read again.
    fn note_stuck(&self, db: &OttoDb, fresh: &RunRow, run: &OttoRun<'_>, lock: LockState) {
        let old_enough = i64::try_from(run.ts)
            .is_ok_and(|ts| ts < ottodb::now_secs().saturating_sub(STUCK_AFTER_SECS));
        if fresh.status == RowStatus::Running && !lock.is_held() && old_enough {
            db.mark_stuck(fresh.id);
        }
    }

    /// The decision chain. `details` asks for the row even when the lock
    /// decides (to fill in task details).
    fn decide(&self, run: &Run, details: bool) -> Outcome {
        let Some(otto) = OttoRun::parse(&run.location) else {
            return Outcome {
                status: run.status,
                source: Source::Storage,
                evidence: None,
                lock: LockState::Unknown,
                row: None,
            };
        };
        // Storage that saw the run finished (its lock free after it settled;
        // otto never runs in a finished run's directory again) saves a probe.
        let finished = run.attributes.get("finished") == Some(&serde_json::Value::Bool(true));
        let lock = if finished && !details {
            LockState::Free
        } else {
            lock::probe(Path::new(otto.dir))
        };
        let row = if lock.is_held() && !details {
            None
        } else {
            self.find_row(&otto, lock, details)
        };
        let fact = |status, source| (status, source, None);
        let (status, source, evidence) = if lock.is_held() {
            fact(RunStatus::Running, Source::Lock)
        } else {
            match row.as_ref().and_then(RowRef::get) {
                Some(r) if r.status == RowStatus::Success => {
                    fact(RunStatus::Success, Source::OttoDb)
                }
                Some(r) if r.status == RowStatus::Failed => fact(RunStatus::Failed, Source::OttoDb),
                Some(r) if r.status == RowStatus::Running => {
                    fact(RunStatus::Interrupted, Source::OttoDbNoLock)
                }
                Some(r) => match exit_codes(&r.tasks) {
                    Some(status) => fact(status, Source::ExitCodes),
                    None => self.guess(run, &otto, "otto.db row decides nothing"),
                },
                None => self.guess(run, &otto, "no otto.db row"),
            }
        };
        Outcome {
            status,
            source,
            evidence,
            lock,
            row,
        }
    }

    /// The guess from the task directories (or `undecided` when guessing
    /// is off): their output files, else their stderr. `why` says why no
    /// fact decided.
    fn guess(
        &self,
        run: &Run,
        otto: &OttoRun<'_>,
        why: &str,
    ) -> (RunStatus, Source, Option<String>) {
        if !self.settings.heuristic {
            return (RunStatus::Unknown, Source::Undecided, None);
        }
        // Storage that walked the run already (otto-fs) says what its task
        // directories show: they are not read again.
        let stored = run
            .attributes
            .get("task_outputs")
            .and_then(heuristic::from_attribute);
        let files = match stored.map_or_else(|| heuristic::summarize(Path::new(otto.dir)), Ok) {
            Ok(files) => files,
            Err(e) => {
                tracing::debug!(run = otto.dir, error = %e, "cannot read the run's task directories");
                // Storage's own count of stderr bytes, when it gave one.
                let bytes = run
                    .attributes
                    .get("stderr_bytes")
                    .and_then(serde_json::Value::as_u64);
                return match bytes {
                    Some(bytes) if run.task_count > 0 => {
                        let status = if bytes == 0 {
                            RunStatus::Success
                        } else {
                            RunStatus::Failed
                        };
                        let evidence = format!(
                            "{why}; stderr heuristic: the task directories are unreadable, \
                             storage counted {bytes} bytes of stderr"
                        );
                        (status, Source::StderrHeuristic, Some(evidence))
                    }
                    _ => (RunStatus::Unknown, Source::Undecided, None),
                };
            }
        };
        if files.tasks == 0 {
            return (RunStatus::Unknown, Source::NoTasks, None);
        }
        let (status, source, evidence) = judge(&files);
        (status, source, Some(format!("{why}; {source}: {evidence}")))
    }
}

/// The guess from what a run's task directories show, and the evidence in
/// words (without the source's name).
fn judge(files: &heuristic::RunFiles) -> (RunStatus, Source, String) {
    const ONLY_ON_0: &str = "otto writes it only when a task exits 0";
    if let Some(first) = files.unfinished.first() {
        let more = match files.unfinished.len() - 1 {
            0 => String::new(),
            1 => " (and 1 more task)".to_owned(),
            n => format!(" (and {n} more tasks)"),
        };
        let evidence = format!(
            "task {first}{more} started and wrote no output.{first}.json ({ONLY_ON_0}): \
             it failed or was killed"
        );
        return (RunStatus::Failed, Source::TaskOutputs, evidence);
    }
    if files.exited_0 > 0 {
        let ran = if files.exited_0 == files.tasks {
            format!("every task ({}) wrote", files.tasks)
        } else {
            format!(
                "every task that started ({} of {}; the rest never did) wrote",
                files.exited_0, files.tasks
            )
        };
        let stderr = match files.tasks_with_stderr {
            0 => String::new(),
            n => format!("; {n} wrote to stderr, which says nothing about an exit code"),
        };
        let evidence = format!("{ran} its output.<task>.json ({ONLY_ON_0}){stderr}");
        return (RunStatus::Success, Source::TaskOutputs, evidence);
    }
    // No output files either way: an otto older than them, or no task
    // started. Only stderr is left.
    match files.tasks_with_stderr {
        0 => (
            RunStatus::Success,
            Source::StderrHeuristic,
            format!(
                "no output files; none of {} tasks wrote to stderr",
                files.tasks
            ),
        ),
        n => (
            RunStatus::Failed,
            Source::StderrHeuristic,
            format!(
                "no output files; {n} of {} tasks wrote to stderr ({} bytes)",
                files.tasks, files.stderr_bytes
            ),
        ),
    }
}

/// The run status its tasks' recorded exit codes imply: any failure fails
/// it; every task completed, exited 0 or skipped makes it a success;
/// anything else (no tasks, tasks pending or running) decides nothing.
fn exit_codes(tasks: &[TaskRow]) -> Option<RunStatus> {
    if tasks.is_empty() {
        return None;
    }
    if tasks
        .iter()
        .any(|t| t.status == RowTaskStatus::Failed || t.exit_code.is_some_and(|c| c != 0))
    {
        return Some(RunStatus::Failed);
    }
    tasks
        .iter()
        .all(|t| {
            matches!(t.status, RowTaskStatus::Completed | RowTaskStatus::Skipped)
                || t.exit_code == Some(0)
        })
        .then_some(RunStatus::Success)
}

/// A task's status from its files, when they say it: its output file
/// means success; started without one, it failed — or, when its run died,
/// was interrupted. A task whose files say nothing is judged by its stderr
/// only when the stderr heuristic decided the run.
fn task_status(files: &heuristic::TaskFiles, outcome: &Outcome) -> Option<TaskStatus> {
    match files.trace() {
        heuristic::Trace::Exited0 => Some(TaskStatus::Success),
        heuristic::Trace::Unfinished if outcome.status == RunStatus::Interrupted => {
            Some(TaskStatus::Interrupted)
        }
        heuristic::Trace::Unfinished => Some(TaskStatus::Failed),
        heuristic::Trace::Silent if outcome.source == Source::StderrHeuristic => {
            Some(if files.stderr_bytes == 0 {
                TaskStatus::Success
            } else {
                TaskStatus::Failed
            })
        }
        heuristic::Trace::Silent => None,
    }
}

/// Fills `task` in from its row.
fn apply_row(task: &mut Task, row: &TaskRow, lock: LockState) {
    let status = match row.status {
        RowTaskStatus::Completed => Some(TaskStatus::Success),
        RowTaskStatus::Failed => Some(TaskStatus::Failed),
        RowTaskStatus::Running if lock.is_held() => Some(TaskStatus::Running),
        // Its run is over (the lock is free) and it never finished: otto
        // died under it, or left it behind when another task failed.
        RowTaskStatus::Running => Some(TaskStatus::Interrupted),
        RowTaskStatus::Pending => Some(TaskStatus::Pending),
        RowTaskStatus::Skipped => Some(TaskStatus::Skipped),
        RowTaskStatus::Other => None,
    };
    if let Some(status) = status {
        task.status = status;
    }
    if let Some(code) = row.exit_code.and_then(|c| i32::try_from(c).ok()) {
        task.exit_code = Some(code);
    }
    if let Some(ms) = duration_ms(row) {
        task.duration_ms = Some(ms);
    }
}

/// A task row's duration: `duration_seconds`, else `ended_at − started_at`.
fn duration_ms(row: &TaskRow) -> Option<u64> {
    if let Some(secs) = row.duration_seconds.filter(|s| *s >= 0.0) {
        let ms = (secs * 1000.0).round();
        if ms < u64::MAX as f64 {
            return Some(ms as u64);
        }
    }
    let (start, end) = (row.started_at?, row.ended_at?);
    u64::try_from(end.checked_sub(start)?)
        .ok()?
        .checked_mul(1000)
}

impl Plugin for DefaultStatus {
    const NAME: &'static str = "default";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "otto run status from the live .lock, the otto.db row, recorded exit codes, then stderr.";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: Settings = config.parse()?;
        if let Some(path) = settings.otto_db.as_deref().filter(|p| !p.is_absolute()) {
            return Err(PluginError::invalid(format!(
                "settings of `{}`: `otto_db` must be an absolute path (got `{}`)",
                config.instance(),
                path.display()
            )));
        }
        Ok(DefaultStatus::with_settings(settings))
    }
}

impl StatusDetector for DefaultStatus {
    fn detect(&self, run: &Run) -> Result<StatusVerdict, PluginError> {
        Ok(self.decide(run, false).verdict())
    }

    fn detect_details(&self, details: &RunDetails) -> Result<RunDetails, PluginError> {
        let outcome = self.decide(&details.run, true);
        let mut out = details.clone();
        let verdict = outcome.verdict();
        out.run.status = verdict.status;
        out.run.status_source = Some(verdict.source);
        let row = outcome.row.as_ref().and_then(RowRef::get);
        let mut has_row: Vec<bool> = vec![false; out.tasks.len()];
        if let Some(row) = row {
            if let Some(ended) = row.ended_at {
                out.run.ended_at = Some(Timestamp::from_secs(ended));
            }
            // The last row of a name wins (a task recorded twice).
            let by_name: HashMap<&str, &TaskRow> =
                row.tasks.iter().map(|t| (&*t.name, t)).collect();
            for (task, seen) in out.tasks.iter_mut().zip(has_row.iter_mut()) {
                if let Some(task_row) = by_name.get(task.name.as_str()) {
                    apply_row(task, task_row, outcome.lock);
                    *seen = true;
                }
            }
        }
        // Tasks without a row are judged by their files when the files
        // decided the run, or when the run died (a task it left unfinished
        // was interrupted with it).
        let judge_files = outcome.source.is_guess()
            || (outcome.status == RunStatus::Interrupted && has_row.iter().any(|s| !s));
        let otto = judge_files
            .then(|| OttoRun::parse(&details.run.location))
            .flatten();
        if let Some(otto) = otto {
            match heuristic::files_by_task(Path::new(otto.dir)) {
                Ok(files) => {
                    for (task, _) in out.tasks.iter_mut().zip(&has_row).filter(|(_, s)| !**s) {
                        if let Some(files) = files.get(&task.name) {
                            if let Some(status) = task_status(files, &outcome) {
                                task.status = status;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(run = otto.dir, error = %e, "cannot read the task directories");
                }
            }
        }
        Ok(out)
    }
}
