//! # A real `$OTTO_HOME`, built the way otto lays it out
//!
//! Every otto-related test builds its fixture with this module, so that the
//! code under test meets the layout of `shared/docs/FORMATS.md` and nothing
//! invented:
//!
//! ```text
//! $OTTO_HOME/
//!   otto.db (+ -wal, -shm)      OttoHome::db()
//!   .last_prune, backups/       OttoHome::new()
//!   <name>-<hash8>/             OttoHome::project(name, source_dir)
//!     .cache/<hash8>.sh|.py     written before any run links to it
//!     <ts>/, <ts>-<n>/          ProjectHandle::run(ts)[.suffix(n)] ... .write()
//!       .lock, run.yaml, tasks/<task>/{stdout.log, stderr.log, builtins.sh,
//!       script.sh -> ../../../.cache/<hash8>.sh, output.<task>.json,
//!       output.<task>.env, input.<dep>.json -> ../<dep>/output.<dep>.json,
//!       input.<dep>.env}
//! ```
//!
//! plus the forms cleanup tools got wrong: legacy runs ([`RunBuilder::legacy`],
//! [`RunBuilder::legacy_task_cache`]), same-second runs, symlinks leading out
//! of the root ([`OttoHome::symlinked_project_to`],
//! [`ProjectHandle::symlinked_run_to`]), names that are not projects or runs
//! ([`OttoHome::non_project_dirs`], [`ProjectHandle::non_run_entries`]),
//! orphaned cache files, a held `.lock` ([`RunHandle::hold_lock`]) and
//! database rows of every kind ([`OttoDb`]).
//!
//! [`generate`] uses the same builder to make large trees for benchmarks
//! (the `otto-fixture` binary is its command line).
//!
//! Like the rest of this crate, these helpers panic with a message saying
//! what failed: they are for tests only.

// Test-support code: a fixture that cannot be built leaves the test nothing to
// do but stop, so failures panic (with a message) instead of returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use rustix::fs::{AtFlags, FlockOperation, Timestamps};
use sha2::{Digest, Sha256};

/// The otto.db schema version this module writes.
pub const SCHEMA_VERSION: i64 = 5;
/// The file every "victim" directory outside the root contains.
pub const VICTIM_FILE: &str = "victim.txt";
/// What run.yaml's `user` says unless [`RunBuilder::user`] changes it.
pub const DEFAULT_USER: &str = "dev";
/// The `hostname` database rows carry.
pub const HOSTNAME: &str = "devbox";
/// The content of every task's `builtins.sh`.
pub const BUILTINS_SH: &str = r#"#!/bin/bash
# otto builtins: sourced by every task script
otto_log() { printf '[otto] %s\n' "$*" >&2; }
otto_set_output() {
    local key="$1" value="$2"
    printf '%s=%s\n' "$key" "$value" >> "$OTTO_OUTPUT_ENV"
}
otto_get_input() {
    local task="$1" key="$2"
    grep -E "^${key}=" "input.${task}.env" 2>/dev/null | tail -n1 | cut -d= -f2-
}
otto_fail() { otto_log "$*"; exit 1; }
"#;

const DAY: u64 = 86_400;

// ---------------------------------------------------------------------------
// Names and hashes
// ---------------------------------------------------------------------------

/// Unwraps `result` or panics with `what` and the error.
fn check<T, E: Display>(result: Result<T, E>, what: impl FnOnce() -> String) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", what()),
    }
}

/// Lowercase hex of the SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// The project key on disk: the first 8 lowercase hex chars of the SHA-256
/// of the (canonical) directory path of the ottofile.
pub fn dir_hash(source_dir: &str) -> String {
    sha256_hex(source_dir.as_bytes())[..8].to_owned()
}

/// The name of a cache file's stem: 8 lowercase hex chars of the SHA-256 of
/// the rendered script.
pub fn script_hash(script: &str) -> String {
    sha256_hex(script.as_bytes())[..8].to_owned()
}

/// `<name>-<dir_hash(source_dir)>`.
pub fn project_dir_name(name: &str, source_dir: &str) -> String {
    format!("{name}-{}", dir_hash(source_dir))
}

/// Splits a project directory name into `(name, hash)`: on the LAST `-`,
/// with a non-empty name and exactly 8 lowercase hex chars.
pub fn parse_project_dir(dir_name: &str) -> Option<(&str, &str)> {
    let (name, hash) = dir_name.rsplit_once('-')?;
    let hex = hash.len() == 8 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (!name.is_empty() && hex).then_some((name, hash))
}

/// `<ts>` or `<ts>-<n>`; `suffix` 0 is written as no suffix.
pub fn run_dir_name(timestamp: u64, suffix: Option<u32>) -> String {
    match suffix {
        Some(n) if n > 0 => format!("{timestamp}-{n}"),
        _ => timestamp.to_string(),
    }
}

/// Parses a run directory name: `<u64>` or `<u64>-<u32>` (digits only).
pub fn parse_run_dir(dir_name: &str) -> Option<(u64, Option<u32>)> {
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    match dir_name.split_once('-') {
        None => digits(dir_name)
            .then(|| dir_name.parse().ok())
            .flatten()
            .map(|ts| (ts, None)),
        Some((ts, n)) if digits(ts) && digits(n) => Some((ts.parse().ok()?, Some(n.parse().ok()?))),
        Some(_) => None,
    }
}

/// Resolves `target` (a symlink's text) against the directory holding the
/// link, lexically: `..` removes a component, nothing on disk is followed.
pub fn resolve_lexically(link_dir: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() {
        PathBuf::new()
    } else {
        link_dir.to_path_buf()
    };
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Sets the modification (and access) time of `path` without following a
/// final symlink.
pub fn set_mtime(path: &Path, unix_secs: u64) {
    let at = rustix::fs::Timespec {
        tv_sec: i64::try_from(unix_secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: at,
        last_modification: at,
    };
    check(
        rustix::fs::utimensat(rustix::fs::CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW),
        || format!("cannot set the mtime of {}", path.display()),
    );
}

/// Whether some open file description holds `flock()` on `lock_path`: probes
/// with `LOCK_EX | LOCK_NB` from a fresh read-only open (never creating it).
pub fn lock_is_held(lock_path: &Path) -> bool {
    let file = check(File::open(lock_path), || {
        format!("cannot open {} to probe its lock", lock_path.display())
    });
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => false,
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => true,
        Err(e) => panic!("cannot probe the lock on {}: {e}", lock_path.display()),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_file(path: &Path, content: &[u8]) {
    check(fs::write(path, content), || {
        format!("cannot write {}", path.display())
    });
}

fn make_dir(path: &Path) {
    check(fs::create_dir_all(path), || {
        format!("cannot create {}", path.display())
    });
}

fn make_symlink(target: &Path, link: &Path) {
    check(symlink(target, link), || {
        format!("cannot link {} -> {}", link.display(), target.display())
    });
}

/// A YAML scalar as serde_yaml would write it: plain when unambiguous,
/// otherwise quoted.
fn yaml_scalar(s: &str) -> String {
    let plain_char = |c: char| c.is_ascii_alphanumeric() || "_./@+=-:".contains(c);
    let lower = s.to_ascii_lowercase();
    let keyword = matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    let numeric = s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o");
    if !s.is_empty()
        && s.chars().all(plain_char)
        && s != "-"
        && !s.starts_with([':', '@'])
        && !s.ends_with(':')
        && !keyword
        && !numeric
    {
        s.to_owned()
    } else if !s.chars().any(char::is_control) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        // A JSON string is a valid double-quoted YAML scalar.
        serde_json::to_string(s).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// $OTTO_HOME
// ---------------------------------------------------------------------------

/// A directory laid out as otto's `$OTTO_HOME`.
#[derive(Debug, Clone)]
pub struct OttoHome {
    root: PathBuf,
}

/// A symlink placed inside the root that leads OUTSIDE it.
#[derive(Debug, Clone)]
pub struct Symlinked {
    /// The symlink, inside the root.
    pub link: PathBuf,
    /// Where it points: a directory outside the root.
    pub target: PathBuf,
    /// A file in `target` that must survive whatever the code under test does.
    pub victim: PathBuf,
}

impl OttoHome {
    /// Creates `$OTTO_HOME` at `root` (made absolute) with its non-project
    /// entries: an empty `.last_prune` and `backups/`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = check(std::path::absolute(&root), || {
            format!("cannot make {} absolute", root.display())
        });
        make_dir(&root);
        let last_prune = root.join(".last_prune");
        if !last_prune.exists() {
            write_file(&last_prune, b"");
        }
        make_dir(&root.join("backups"));
        OttoHome { root }
    }

    /// `$OTTO_HOME`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `$OTTO_HOME/otto.db`.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("otto.db")
    }

    /// The project whose ottofile is `<source_dir>/otto.yml`: its directory
    /// `<name>-<dir_hash(source_dir)>` and its `.cache/` are created.
    pub fn project(&self, name: &str, source_dir: &str) -> ProjectHandle {
        let hash = dir_hash(source_dir);
        let dir = self.root.join(format!("{name}-{hash}"));
        make_dir(&dir.join(".cache"));
        let ottofile = format!("{}/otto.yml", source_dir.trim_end_matches('/'));
        let ottofile_content = format!(
            "# ottofile of {name}\notto:\n  api: 1\n  tasks: [build, test]\ntasks:\n  build:\n    action: make\n"
        );
        ProjectHandle {
            name: name.to_owned(),
            hash,
            dir,
            source_dir: source_dir.to_owned(),
            ottofile,
            ottofile_hash: sha256_hex(ottofile_content.as_bytes()),
            root: self.root.clone(),
        }
    }

    /// Opens (creating at schema version 5 when absent) `otto.db` for writing
    /// rows.
    pub fn db(&self) -> OttoDb {
        OttoDb::open(&self.db_path())
    }

    /// A symlink `evil-<hash8>` in the root to `outside` (created), which
    /// receives [`VICTIM_FILE`] and an old run-shaped directory
    /// (`1600000000/` with run.yaml and a victim file), bait for a scanner
    /// that follows the link.
    pub fn symlinked_project_to(&self, outside: &Path) -> Symlinked {
        let victim = plant_victim(outside);
        let bait = outside.join("1600000000");
        make_dir(&bait.join("tasks"));
        write_file(
            &bait.join("run.yaml"),
            b"prog: otto\ntimestamp: 1600000000\n",
        );
        write_file(&bait.join(VICTIM_FILE), b"not otto's\n");
        let link = self
            .root
            .join(format!("evil-{}", dir_hash(&outside.to_string_lossy())));
        make_symlink(outside, &link);
        Symlinked {
            link,
            target: outside.to_path_buf(),
            victim,
        }
    }

    /// Creates the root-level entries that are NOT projects: `backups/` (with
    /// a file), directories `proj-ABCDEF12`, `proj-abc123`, `-6b20a2e4`,
    /// `notes-xyz` (each holding an old run-shaped `1600000000/` and a file)
    /// and a file `README`. Returns their paths.
    pub fn non_project_dirs(&self) -> Vec<PathBuf> {
        let mut made = Vec::new();
        let backups = self.root.join("backups");
        make_dir(&backups);
        write_file(&backups.join("otto.db.v4.bak"), b"SQLite format 3\0");
        made.push(backups);
        for name in ["proj-ABCDEF12", "proj-abc123", "-6b20a2e4", "notes-xyz"] {
            let dir = self.root.join(name);
            make_dir(&dir.join("1600000000").join("tasks"));
            write_file(&dir.join("keep.txt"), b"not a project\n");
            made.push(dir);
        }
        let readme = self.root.join("README");
        write_file(&readme, b"otto's home\n");
        made.push(readme);
        made
    }
}

fn plant_victim(outside: &Path) -> PathBuf {
    make_dir(outside);
    let victim = outside.join(VICTIM_FILE);
    write_file(
        &victim,
        b"this file is outside $OTTO_HOME and must survive\n",
    );
    victim
}

// ---------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------

/// A project directory `<name>-<hash>` in an [`OttoHome`].
#[derive(Debug, Clone)]
pub struct ProjectHandle {
    /// The basename of the ottofile's directory.
    pub name: String,
    /// 8 lowercase hex: [`dir_hash`] of `source_dir`.
    pub hash: String,
    /// `$OTTO_HOME/<name>-<hash>`.
    pub dir: PathBuf,
    /// The directory of the ottofile (run.yaml's `cwd`).
    pub source_dir: String,
    /// `<source_dir>/otto.yml`.
    pub ottofile: String,
    /// SHA-256 hex of the ottofile's content (run.yaml's and
    /// `projects.hash`): NOT the directory hash.
    pub ottofile_hash: String,
    root: PathBuf,
}

impl ProjectHandle {
    /// `<dir>/.cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join(".cache")
    }

    /// The directory name `<name>-<hash>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.hash)
    }

    /// Starts a current-layout run started at `timestamp`.
    pub fn run(&self, timestamp: u64) -> RunBuilder {
        RunBuilder {
            project: self.clone(),
            timestamp,
            suffix: None,
            layout: RunLayout::Current,
            lock: true,
            pinned: false,
            user: DEFAULT_USER.to_owned(),
            args: vec!["otto".to_owned(), "ci".to_owned()],
            tasks: Vec::new(),
        }
    }

    /// Writes `.cache/<name>`, a cache file no run references, and returns
    /// its path (mtime: now, like a file a concurrent run has just written).
    pub fn orphan_cache_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.cache_dir().join(name);
        make_dir(&self.cache_dir());
        write_file(&path, bytes);
        path
    }

    /// A run-named symlink `<timestamp>` in the project to `outside`
    /// (created, with [`VICTIM_FILE`], `run.yaml` and `tasks/`).
    pub fn symlinked_run_to(&self, outside: &Path, timestamp: u64) -> Symlinked {
        let victim = plant_victim(outside);
        make_dir(&outside.join("tasks").join("victim"));
        write_file(
            &outside.join("run.yaml"),
            format!("prog: otto\ntimestamp: {timestamp}\n").as_bytes(),
        );
        let link = self.dir.join(timestamp.to_string());
        make_symlink(outside, &link);
        Symlinked {
            link,
            target: outside.to_path_buf(),
            victim,
        }
    }

    /// Creates the project entries that are NOT runs: `.cache/` (real),
    /// directories `notes`, `17x`, `1700000000-` (each with a file) and a
    /// FILE named `1700000001`. Returns their paths.
    pub fn non_run_entries(&self) -> Vec<PathBuf> {
        let cache = self.cache_dir();
        make_dir(&cache);
        let mut made = vec![cache];
        for name in ["notes", "17x", "1700000000-"] {
            let dir = self.dir.join(name);
            make_dir(&dir);
            write_file(&dir.join("keep.txt"), b"not a run\n");
            made.push(dir);
        }
        let file = self.dir.join("1700000001");
        write_file(&file, b"a file named like a run\n");
        made.push(file);
        made
    }

    /// `$OTTO_HOME` of this project.
    pub fn home_root(&self) -> &Path {
        &self.root
    }
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

/// What one task of a run wrote (and how it ended, for database rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// stdout.log.
    pub stdout: String,
    /// stderr.log (empty unless something went wrong).
    pub stderr: String,
    /// The exit code otto.db records; not on disk.
    pub exit_code: i32,
    /// The script body; `None` renders a default from the task name.
    pub script: Option<String>,
    /// A Python task: `script.py -> ../../../.cache/<hash8>.py`.
    pub python: bool,
    /// `output.<task>.json`, written only when the task exited 0 (otto
    /// writes it after the task's exit; a task that fails never reaches
    /// the epilogue that writes its `.env`).
    pub output_json: String,
    /// `output.<task>.env`, written only when the task exited 0.
    pub output_env: String,
    /// Seconds it ran.
    pub duration_secs: u64,
}

impl TaskSpec {
    /// A task that exited 0 with empty logs and outputs.
    pub fn ok() -> Self {
        TaskSpec {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 0,
            script: None,
            python: false,
            output_json: "{}".to_owned(),
            output_env: String::new(),
            duration_secs: 2,
        }
    }

    /// A task that exited 1 after writing `stderr`.
    pub fn failed(stderr: &str) -> Self {
        TaskSpec {
            stderr: stderr.to_owned(),
            exit_code: 1,
            ..Self::ok()
        }
    }

    /// A task killed mid-run (otto was killed, SIGKILL is 128 + 9): no
    /// output file. A row written with `OttoDb::stuck_running` records the
    /// run's last task as still `running`.
    pub fn killed() -> Self {
        TaskSpec {
            exit_code: 137,
            ..Self::ok()
        }
    }

    /// Sets stdout.log.
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout = text.to_owned();
        self
    }

    /// Sets stderr.log.
    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr = text.to_owned();
        self
    }

    /// Sets the exit code.
    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }

    /// Sets the script body (the cache file holds it rendered).
    pub fn script(mut self, body: &str) -> Self {
        self.script = Some(body.to_owned());
        self
    }

    /// Makes it a Python task.
    pub fn python(mut self) -> Self {
        self.python = true;
        self
    }

    /// Sets `output.<task>.json`.
    pub fn output_json(mut self, json: &str) -> Self {
        self.output_json = json.to_owned();
        self
    }

    /// Sets `output.<task>.env`.
    pub fn output_env(mut self, env: &str) -> Self {
        self.output_env = env.to_owned();
        self
    }

    /// Sets how long it ran.
    pub fn duration(mut self, secs: u64) -> Self {
        self.duration_secs = secs;
        self
    }

    /// Whether it failed (exit code not 0).
    pub fn is_failed(&self) -> bool {
        self.exit_code != 0
    }
}

/// The script text otto would render for `task` (what the cache file holds).
pub fn render_script(task: &str, spec: &TaskSpec) -> String {
    if spec.python {
        let body = spec
            .script
            .clone()
            .unwrap_or_else(|| format!("print(\"{task}\")\n"));
        format!("#!/usr/bin/env python3\n# otto task: {task}\n{body}")
    } else {
        let body = spec
            .script
            .clone()
            .unwrap_or_else(|| format!("echo \"{task}\"\n"));
        format!("#!/bin/bash\n# otto task: {task}\nset -euo pipefail\nsource ./builtins.sh\n{body}")
    }
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/// Which generation of otto wrote a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunLayout {
    /// `.lock`; `script.sh -> ../../../.cache/<hash8>.sh`.
    Current,
    /// No `.lock`; ABSOLUTE `script.sh -> <project>/.cache/<hash8>.sh`.
    Legacy,
    /// No `.lock`; `script.sh -> ../../../.cache/<task>/<hash8>`.
    LegacyTaskCache,
}

#[derive(Debug, Clone)]
struct TaskDef {
    name: String,
    deps: Vec<String>,
    spec: TaskSpec,
}

/// A run being described; [`RunBuilder::write`] writes it.
#[derive(Debug, Clone)]
#[must_use = "a run is only written by .write()"]
pub struct RunBuilder {
    project: ProjectHandle,
    timestamp: u64,
    suffix: Option<u32>,
    layout: RunLayout,
    lock: bool,
    pinned: bool,
    user: String,
    args: Vec<String>,
    tasks: Vec<TaskDef>,
}

impl RunBuilder {
    /// The `n`th extra run in the same second: directory `<ts>-<n>`.
    pub fn suffix(mut self, n: u32) -> Self {
        self.suffix = (n > 0).then_some(n);
        self
    }

    /// A legacy run: no `.lock`, ABSOLUTE script links into the flat cache.
    pub fn legacy(mut self) -> Self {
        self.layout = RunLayout::Legacy;
        self.lock = false;
        self
    }

    /// An older legacy run: no `.lock`, script links to
    /// `../../../.cache/<task>/<hash8>`.
    pub fn legacy_task_cache(mut self) -> Self {
        self.layout = RunLayout::LegacyTaskCache;
        self.lock = false;
        self
    }

    /// A current-layout run whose `.lock` is missing (a dead run).
    pub fn without_lock(mut self) -> Self {
        self.lock = false;
        self
    }

    /// Adds a `.keep` file.
    pub fn pinned(mut self) -> Self {
        self.pinned = true;
        self
    }

    /// run.yaml's `user`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_owned();
        self
    }

    /// run.yaml's `args` (default `otto ci`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Adds a task.
    pub fn task(self, name: &str, spec: TaskSpec) -> Self {
        self.task_with_deps(name, &[], spec)
    }

    /// Adds a task depending on earlier tasks `deps`: `input.<dep>.json ->
    /// ../<dep>/output.<dep>.json` and `input.<dep>.env`.
    pub fn task_with_deps(mut self, name: &str, deps: &[&str], spec: TaskSpec) -> Self {
        for dep in deps {
            assert!(
                self.tasks.iter().any(|t| t.name == *dep),
                "task `{name}` depends on `{dep}`, which this run does not have yet: add it first"
            );
        }
        assert!(
            !self.tasks.iter().any(|t| t.name == name),
            "the run already has a task `{name}`"
        );
        self.tasks.push(TaskDef {
            name: name.to_owned(),
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            spec,
        });
        self
    }

    /// Adds a Python task that succeeded (`script.py`).
    pub fn python_task(self, name: &str) -> Self {
        self.task(name, TaskSpec::ok().python())
    }

    /// The run directory name this will write.
    pub fn id(&self) -> String {
        run_dir_name(self.timestamp, self.suffix)
    }

    /// Writes the run: directory, `.lock` (current layout), run.yaml, tasks
    /// (cache files before links), `.keep` when pinned; mtimes follow the
    /// run's clock (directory and run.yaml at the start, task files at each
    /// task's end).
    ///
    /// # Panics
    /// When the directory exists (use [`RunBuilder::suffix`] for a
    /// same-second run) or cannot be written.
    pub fn write(self) -> RunHandle {
        let id = self.id();
        let project = self.project;
        let dir = project.dir.join(&id);
        make_dir(&project.dir);
        if let Err(e) = fs::create_dir(&dir) {
            panic!(
                "cannot create run {} ({e}); a second run in the same second needs .suffix(n)",
                dir.display()
            );
        }
        let mut size_bytes = 0u64;
        let ts = self.timestamp;
        if self.lock {
            write_file(&dir.join(".lock"), b"");
        }
        let yaml = render_run_yaml(&project, ts, &self.user, &self.args);
        write_file(&dir.join("run.yaml"), yaml.as_bytes());
        size_bytes += yaml.len() as u64;
        let tasks_dir = dir.join("tasks");
        make_dir(&tasks_dir);

        let mut records: Vec<TaskRecord> = Vec::with_capacity(self.tasks.len());
        let mut clock = ts;
        for def in &self.tasks {
            let record = write_task(&project, &tasks_dir, self.layout, def, clock, &self.tasks);
            size_bytes += record.bytes;
            clock = record.ended_at;
            records.push(record);
        }
        if self.pinned {
            write_file(&dir.join(".keep"), b"");
        }
        // Last, since creating entries bumps the directories' mtimes.
        for record in &records {
            set_mtime(&record.dir, record.ended_at);
        }
        for path in [dir.join("run.yaml"), tasks_dir, dir.clone()] {
            set_mtime(&path, ts);
        }
        if self.lock {
            set_mtime(&dir.join(".lock"), ts);
        }
        RunHandle {
            id,
            dir,
            timestamp: ts,
            suffix: self.suffix,
            layout: self.layout,
            has_lock: self.lock,
            pinned: self.pinned,
            user: self.user,
            args: self.args,
            tasks: records,
            size_bytes,
            project,
        }
    }
}

fn render_run_yaml(project: &ProjectHandle, ts: u64, user: &str, args: &[String]) -> String {
    let mut yaml = format!(
        "prog: otto\ncwd: {}\nuser: {}\ntimestamp: {ts}\nhash: {}\nottofile: {}\n",
        yaml_scalar(&project.source_dir),
        yaml_scalar(user),
        yaml_scalar(&project.ottofile_hash),
        yaml_scalar(&project.ottofile),
    );
    if args.is_empty() {
        yaml.push_str("args: []\n");
    } else {
        yaml.push_str("args:\n");
        for arg in args {
            yaml.push_str("- ");
            yaml.push_str(&yaml_scalar(arg));
            yaml.push('\n');
        }
    }
    yaml
}

/// Writes `cache` with `content` unless it exists (another run wrote the same
/// script); a new file gets mtime `ts`.
fn ensure_cache_file(cache: &Path, content: &str, ts: u64) {
    match OpenOptions::new().write(true).create_new(true).open(cache) {
        Ok(mut file) => {
            check(file.write_all(content.as_bytes()), || {
                format!("cannot write {}", cache.display())
            });
            drop(file);
            set_mtime(cache, ts);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("cannot create {}: {e}", cache.display()),
    }
}

fn write_task(
    project: &ProjectHandle,
    tasks_dir: &Path,
    layout: RunLayout,
    def: &TaskDef,
    started_at: u64,
    all: &[TaskDef],
) -> TaskRecord {
    let name = &def.name;
    let spec = &def.spec;
    let dir = tasks_dir.join(name);
    make_dir(&dir);
    let ended_at = started_at + spec.duration_secs;

    // The rendered script goes to the cache first; the link comes last.
    let script = render_script(name, spec);
    let hash = script_hash(&script);
    let ext = if spec.python { "py" } else { "sh" };
    let cache_dir = project.cache_dir();
    let (cache_file, target) = match layout {
        RunLayout::Current => (
            cache_dir.join(format!("{hash}.{ext}")),
            PathBuf::from(format!("../../../.cache/{hash}.{ext}")),
        ),
        RunLayout::Legacy => {
            let file = cache_dir.join(format!("{hash}.{ext}"));
            (file.clone(), file)
        }
        RunLayout::LegacyTaskCache => {
            make_dir(&cache_dir.join(name));
            (
                cache_dir.join(name).join(&hash),
                PathBuf::from(format!("../../../.cache/{name}/{hash}")),
            )
        }
    };
    ensure_cache_file(&cache_file, &script, started_at);

    let mut bytes = 0u64;
    let mut files: Vec<(PathBuf, &[u8])> = vec![
        (dir.join("stdout.log"), spec.stdout.as_bytes()),
        (dir.join("stderr.log"), spec.stderr.as_bytes()),
        (dir.join("builtins.sh"), BUILTINS_SH.as_bytes()),
    ];
    // otto's epilogue writes the `.env` as the script's last step, and otto
    // the `.json` after a 0 exit: a task that failed (or was killed) has
    // neither.
    if !spec.is_failed() {
        files.push((
            dir.join(format!("output.{name}.json")),
            spec.output_json.as_bytes(),
        ));
        files.push((
            dir.join(format!("output.{name}.env")),
            spec.output_env.as_bytes(),
        ));
    }
    // otto links a dependency's output only when it exists: a failed
    // dependency wrote none.
    let has_output = |dep: &String| {
        all.iter()
            .find(|t| &t.name == dep)
            .is_none_or(|t| !t.spec.is_failed())
    };
    let deps: Vec<&String> = def.deps.iter().filter(|d| has_output(d)).collect();
    for dep in &deps {
        let dep_env = all
            .iter()
            .find(|t| &t.name == *dep)
            .map_or("", |t| t.spec.output_env.as_str());
        files.push((dir.join(format!("input.{dep}.env")), dep_env.as_bytes()));
    }
    for (path, content) in &files {
        write_file(path, content);
        set_mtime(path, ended_at);
        bytes += content.len() as u64;
    }
    for dep in deps {
        let link = dir.join(format!("input.{dep}.json"));
        make_symlink(Path::new(&format!("../{dep}/output.{dep}.json")), &link);
        set_mtime(&link, started_at);
    }
    let script_link = dir.join(format!("script.{ext}"));
    make_symlink(&target, &script_link);
    set_mtime(&script_link, started_at);

    TaskRecord {
        name: name.clone(),
        dir,
        deps: def.deps.clone(),
        exit_code: spec.exit_code,
        python: spec.python,
        script_hash: hash,
        script_link,
        cache_file,
        started_at,
        ended_at,
        duration_secs: spec.duration_secs,
        bytes,
    }
}

/// A task as written.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// Its name (may contain `:`).
    pub name: String,
    /// `tasks/<name>`.
    pub dir: PathBuf,
    /// The tasks it depends on.
    pub deps: Vec<String>,
    /// Its exit code (for database rows).
    pub exit_code: i32,
    /// A Python task.
    pub python: bool,
    /// 8 hex: [`script_hash`] of the rendered script.
    pub script_hash: String,
    /// `tasks/<name>/script.sh` (or `.py`): the symlink.
    pub script_link: PathBuf,
    /// The cache file the link points at.
    pub cache_file: PathBuf,
    /// When it started.
    pub started_at: u64,
    /// When it ended.
    pub ended_at: u64,
    /// How long it ran.
    pub duration_secs: u64,
    /// Bytes of the regular files in its directory.
    pub bytes: u64,
}

impl TaskRecord {
    /// Whether it failed.
    pub fn is_failed(&self) -> bool {
        self.exit_code != 0
    }
}

/// A run as written.
#[derive(Debug, Clone)]
pub struct RunHandle {
    /// Its directory name: `<ts>` or `<ts>-<n>`.
    pub id: String,
    /// `<project>/<id>`.
    pub dir: PathBuf,
    /// Start, unix seconds.
    pub timestamp: u64,
    /// The same-second number, if any.
    pub suffix: Option<u32>,
    /// Which otto wrote it.
    pub layout: RunLayout,
    /// Whether it has a `.lock`.
    pub has_lock: bool,
    /// Whether it has a `.keep`.
    pub pinned: bool,
    /// run.yaml's user.
    pub user: String,
    /// run.yaml's args.
    pub args: Vec<String>,
    /// Its tasks, in order.
    pub tasks: Vec<TaskRecord>,
    /// Bytes of its regular files (symlinks not followed).
    pub size_bytes: u64,
    /// Its project.
    pub project: ProjectHandle,
}

impl RunHandle {
    /// `<dir>/.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    /// `<dir>/run.yaml`.
    pub fn run_yaml_path(&self) -> PathBuf {
        self.dir.join("run.yaml")
    }

    /// `<dir>/tasks/<name>`.
    pub fn task_dir(&self, name: &str) -> PathBuf {
        self.dir.join("tasks").join(name)
    }

    /// The task named `name`.
    pub fn task(&self, name: &str) -> &TaskRecord {
        match self.tasks.iter().find(|t| t.name == name) {
            Some(t) => t,
            None => panic!("run {} has no task `{name}`", self.id),
        }
    }

    /// Failed when any task failed, success otherwise.
    pub fn status(&self) -> RowStatus {
        if self.tasks.iter().any(TaskRecord::is_failed) {
            RowStatus::Failed
        } else {
            RowStatus::Success
        }
    }

    /// Total seconds its tasks ran.
    pub fn duration_secs(&self) -> u64 {
        self.tasks.iter().map(|t| t.duration_secs).sum()
    }

    /// Takes `flock(LOCK_EX)` on `.lock` the way a live otto does, until the
    /// guard is dropped. Opens read-only; never creates the file.
    ///
    /// # Panics
    /// When the run has no `.lock` or someone else holds it.
    pub fn hold_lock(&self) -> LockGuard {
        LockGuard::hold(&self.lock_path())
    }
}

/// `flock(LOCK_EX)` held on a run's `.lock` until dropped.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    _file: File,
}

impl LockGuard {
    /// Locks `lock_path` (opened read-only, never created); fails rather than
    /// wait when another holder has it.
    pub fn hold(lock_path: &Path) -> Self {
        let file = check(File::open(lock_path), || {
            format!("cannot open {} to lock it", lock_path.display())
        });
        check(
            rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive),
            || format!("cannot lock {}", lock_path.display()),
        );
        LockGuard {
            path: lock_path.to_path_buf(),
            _file: file,
        }
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// ---------------------------------------------------------------------------
// otto.db
// ---------------------------------------------------------------------------

/// A run row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowStatus {
    /// `success`.
    Success,
    /// `failed`.
    Failed,
    /// `running`: ended_at, duration and size NULL, the last task `running`.
    Running,
}

impl RowStatus {
    /// The lowercase text otto stores.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Success => "success",
            RowStatus::Failed => "failed",
            RowStatus::Running => "running",
        }
    }
}

/// The DDL of otto.db at schema version 5 (one file for every fixture).
pub const SCHEMA_DDL: &str = include_str!("../fixtures/otto-db-v5.sql");

/// A writer of otto.db rows (WAL mode, busy_timeout 5 s), as otto records
/// runs. Runs never passed to it have no row (orphan directories).
#[derive(Debug)]
pub struct OttoDb {
    conn: Connection,
    path: PathBuf,
}

impl OttoDb {
    /// Opens `path`, creating the schema (version 5) when absent.
    pub fn open(path: &Path) -> Self {
        let conn = check(Connection::open(path), || {
            format!("cannot open {}", path.display())
        });
        check(conn.busy_timeout(Duration::from_secs(5)), || {
            "cannot set busy_timeout".to_owned()
        });
        let mode: String = check(
            conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0)),
            || format!("cannot switch {} to WAL", path.display()),
        );
        assert_eq!(
            mode.to_ascii_lowercase(),
            "wal",
            "{} is not in WAL mode",
            path.display()
        );
        check(conn.execute_batch("BEGIN IMMEDIATE"), || {
            "cannot begin".to_owned()
        });
        check(conn.execute_batch(SCHEMA_DDL), || {
            format!("cannot create the schema in {}", path.display())
        });
        check(
            conn.execute(
                "INSERT OR IGNORE INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                params![SCHEMA_VERSION, i64::try_from(now_secs()).unwrap_or(0)],
            ),
            || "cannot record the schema version".to_owned(),
        );
        check(conn.execute_batch("COMMIT"), || "cannot commit".to_owned());
        OttoDb {
            conn,
            path: path.to_path_buf(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for queries a test needs.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one transaction (fast bulk inserts).
    pub fn batch<T>(&self, f: impl FnOnce(&Self) -> T) -> T {
        check(self.conn.execute_batch("BEGIN IMMEDIATE"), || {
            "cannot begin".to_owned()
        });
        let out = f(self);
        check(self.conn.execute_batch("COMMIT"), || {
            "cannot commit".to_owned()
        });
        out
    }

    /// Records `run` as otto v5 does (with `run_dir`); returns the row id.
    pub fn row(&self, run: &RunHandle, status: RowStatus) -> i64 {
        self.insert(run, status, true)
    }

    /// Records `run` as otto before schema v5 did: `run_dir` NULL, so only
    /// (project, timestamp) can match it to a directory.
    pub fn row_pre_v5(&self, run: &RunHandle, status: RowStatus) -> i64 {
        self.insert(run, status, false)
    }

    /// A row stuck at `running` (the run was SIGKILLed): no lock is held.
    ///
    /// # Panics
    /// When the run's `.lock` is held.
    pub fn stuck_running(&self, run: &RunHandle) -> i64 {
        if run.has_lock {
            assert!(
                !lock_is_held(&run.lock_path()),
                "{} is locked: a stuck row needs a run nobody holds",
                run.dir.display()
            );
        }
        self.insert(run, RowStatus::Running, true)
    }

    fn project_id(&self, project: &ProjectHandle, ts: i64) -> i64 {
        let sql =
            "INSERT INTO projects (hash, name, ottofile_path, first_seen, last_seen, run_count)
                   VALUES (?1, ?2, ?3, ?4, ?4, 1)
                   ON CONFLICT(hash) DO UPDATE SET
                     first_seen = min(first_seen, excluded.first_seen),
                     last_seen = max(last_seen, excluded.last_seen),
                     run_count = run_count + 1";
        check(
            self.conn.execute(
                sql,
                params![project.ottofile_hash, project.name, project.ottofile, ts],
            ),
            || "cannot record a project".to_owned(),
        );
        let id: Option<i64> = check(
            self.conn
                .query_row(
                    "SELECT id FROM projects WHERE hash = ?1",
                    [&project.ottofile_hash],
                    |row| row.get(0),
                )
                .optional(),
            || "cannot read a project id".to_owned(),
        );
        id.expect("the project row just written")
    }

    fn insert(&self, run: &RunHandle, status: RowStatus, with_run_dir: bool) -> i64 {
        let ts = i64::try_from(run.timestamp).unwrap_or(i64::MAX);
        let project_id = self.project_id(&run.project, ts);
        let running = status == RowStatus::Running;
        let duration = run.duration_secs();
        let args = serde_json::to_string(&run.args).unwrap_or_else(|_| "[]".to_owned());
        let run_dir = with_run_dir.then(|| run.dir.to_string_lossy().into_owned());
        check(
            self.conn.execute(
                "INSERT INTO runs (project_id, timestamp, status, duration_seconds, size_bytes,
                                   ottofile_path, cwd, user, hostname, args, ended_at, run_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    project_id,
                    ts,
                    status.as_str(),
                    (!running).then_some(duration as f64),
                    (!running).then_some(i64::try_from(run.size_bytes).unwrap_or(i64::MAX)),
                    run.project.ottofile,
                    run.project.source_dir,
                    run.user,
                    HOSTNAME,
                    args,
                    (!running).then_some(ts + i64::try_from(duration).unwrap_or(0)),
                    run_dir,
                ],
            ),
            || format!("cannot record run {}", run.dir.display()),
        );
        let run_id = self.conn.last_insert_rowid();
        let last = run.tasks.len().saturating_sub(1);
        for (i, task) in run.tasks.iter().enumerate() {
            let unfinished = running && i == last;
            let task_status = if unfinished {
                "running"
            } else if task.is_failed() {
                "failed"
            } else {
                "completed"
            };
            check(
                self.conn.execute(
                    "INSERT INTO tasks (run_id, name, status, script_hash, exit_code, started_at,
                                        ended_at, duration_seconds, stdout_path, stderr_path,
                                        script_path, skip_reason, skip_kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL)",
                    params![
                        run_id,
                        task.name,
                        task_status,
                        task.script_hash,
                        (!unfinished).then_some(task.exit_code),
                        i64::try_from(task.started_at).unwrap_or(i64::MAX),
                        (!unfinished).then_some(i64::try_from(task.ended_at).unwrap_or(i64::MAX)),
                        (!unfinished).then_some(task.duration_secs as f64),
                        task.dir.join("stdout.log").to_string_lossy(),
                        task.dir.join("stderr.log").to_string_lossy(),
                        task.script_link.to_string_lossy(),
                    ],
                ),
                || format!("cannot record task {} of {}", task.name, run.dir.display()),
            );
        }
        run_id
    }
}

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// A tiny xorshift64 PRNG: deterministic, no dependency.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// Seeded through splitmix64 (any seed, 0 included, is fine).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Xorshift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// What [`generate`] builds.
#[derive(Debug, Clone)]
pub struct GenSpec {
    /// Projects.
    pub projects: usize,
    /// Runs, over all projects.
    pub runs: usize,
    /// Tasks per run.
    pub tasks: usize,
    /// Also write otto.db rows (most runs; some orphans, pre-v5 and stuck rows).
    pub with_db: bool,
    /// PRNG seed.
    pub seed: u64,
    /// "Now": runs start within the 120 days before it.
    pub now: u64,
    /// Average stdout.log size.
    pub stdout_bytes: usize,
    /// Writer threads (the result does not depend on it, mtimes of shared
    /// cache files aside).
    pub jobs: usize,
}

impl GenSpec {
    /// `runs` over `projects` with 10 tasks, no database, seed 1, now = the
    /// start of the current UTC day, 2 KiB stdout, one job per CPU.
    pub fn new(projects: usize, runs: usize) -> Self {
        GenSpec {
            projects,
            runs,
            tasks: 10,
            with_db: false,
            seed: 1,
            now: now_secs() / DAY * DAY,
            stdout_bytes: 2048,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What [`generate`] built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// The root.
    pub root: PathBuf,
    /// Project directories.
    pub projects: usize,
    /// Run directories.
    pub runs: usize,
    /// Task directories.
    pub tasks: usize,
    /// Runs with a `-<n>` suffix.
    pub same_second: usize,
    /// Runs in a legacy layout.
    pub legacy: usize,
    /// Runs with a failed task.
    pub failed: usize,
    /// Pinned runs.
    pub pinned: usize,
    /// Rows in `runs`.
    pub db_rows: usize,
    /// Regular files under the root (a walk, symlinks not followed).
    pub files: u64,
    /// Directories under the root.
    pub dirs: u64,
    /// Symlinks under the root.
    pub symlinks: u64,
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Display for GenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "otto-fixture: {} projects, {} runs ({} same-second, {} legacy, {} failed, {} pinned), \
             {} tasks, {} db rows; {} files, {} dirs, {} symlinks, {} bytes under {} in {:.1}s",
            self.projects,
            self.runs,
            self.same_second,
            self.legacy,
            self.failed,
            self.pinned,
            self.tasks,
            self.db_rows,
            self.files,
            self.dirs,
            self.symlinks,
            self.bytes,
            self.root.display(),
            self.elapsed.as_secs_f64()
        )
    }
}

const PROJECT_NAMES: &[&str] = &[
    "web", "api", "my-app", "infra", "otto", "docs", "mobile", "data", "auth", "billing",
];
const TASK_NAMES: &[&str] = &[
    "build",
    "test",
    "lint",
    "check:db",
    "check:api",
    "fmt",
    "docs",
    "bench",
    "package",
    "deploy",
    "e2e",
    "audit",
    "coverage",
    "release",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKind {
    None,
    Row,
    PreV5,
    Stuck,
}

#[derive(Debug, Clone)]
struct Plan {
    project: usize,
    ts: u64,
    suffix: Option<u32>,
    layout: RunLayout,
    pinned: bool,
    row: RowKind,
    seed: u64,
}

struct ProjectPlan {
    handle: ProjectHandle,
    tasks: Vec<(String, Vec<String>, bool)>,
}

fn project_name(i: usize) -> String {
    let base = PROJECT_NAMES[i % PROJECT_NAMES.len()];
    match i / PROJECT_NAMES.len() {
        0 => base.to_owned(),
        n => format!("{base}{n}"),
    }
}

fn task_list(project: usize, count: usize) -> Vec<(String, Vec<String>, bool)> {
    let names: Vec<String> = (0..count)
        .map(|i| match TASK_NAMES.get(i) {
            Some(n) => (*n).to_owned(),
            None => format!("step{i}"),
        })
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let deps = match i {
                0 => vec![],
                i if i % 2 == 1 => vec![names[0].clone()],
                i => vec![names[i - 1].clone()],
            };
            let python = name == "lint" && project % 2 == 0;
            (name.clone(), deps, python)
        })
        .collect()
}

/// Deterministic text for logs: cargo-like lines, sliced per file.
fn log_corpus() -> String {
    let mut rng = Xorshift::new(0x10c5);
    let mut text = String::with_capacity(80 * 1024);
    let mut n = 0u64;
    while text.len() < 64 * 1024 {
        n += 1;
        let line = match rng.below(6) {
            0 => format!(
                "   Compiling crate-{} v0.{}.{} (/home/dev/src/crate-{})\n",
                rng.below(400),
                rng.below(20),
                rng.below(10),
                rng.below(400)
            ),
            1 => format!(
                "test module_{}::case_{} ... ok\n",
                rng.below(90),
                rng.below(900)
            ),
            2 => format!(
                "[{n:05}] step {} of {}: done in {}ms\n",
                n % 50,
                50,
                rng.below(5000)
            ),
            3 => format!(
                "   Downloaded dep-{} v{}.{}.0\n",
                rng.below(999),
                rng.below(5),
                rng.below(30)
            ),
            4 => format!(
                "info: checked {} files, {} warnings\n",
                rng.below(2000),
                rng.below(4)
            ),
            _ => "    Finished `dev` profile [unoptimized + debuginfo] target(s)\n".to_owned(),
        };
        text.push_str(&line);
    }
    text
}

fn slice_of(corpus: &str, rng: &mut Xorshift, avg: usize) -> String {
    if avg == 0 {
        return String::new();
    }
    let len = (avg / 2 + rng.below(avg as u64 + 1) as usize).min(corpus.len());
    let start = rng.below((corpus.len() - len + 1) as u64) as usize;
    // The corpus is ASCII: every index is a char boundary.
    corpus[start..start + len].to_owned()
}

fn build_run(project: &ProjectPlan, plan: &Plan, corpus: &str, stdout_bytes: usize) -> RunBuilder {
    let mut rng = Xorshift::new(plan.seed);
    let version = rng.below(3);
    let fail_at = rng
        .chance(60)
        .then(|| rng.below(project.tasks.len() as u64) as usize);
    let args_task = project.tasks.first().map_or("ci", |t| t.0.as_str());
    let mut run = project.handle.run(plan.ts).suffix(plan.suffix.unwrap_or(0));
    run = if rng.chance(700) {
        run.args(&["otto", "ci"])
    } else {
        run.args(&["otto", args_task])
    };
    run = match plan.layout {
        RunLayout::Current => run,
        RunLayout::Legacy => run.legacy(),
        RunLayout::LegacyTaskCache => run.legacy_task_cache(),
    };
    if plan.pinned {
        run = run.pinned();
    }
    for (k, (name, deps, python)) in project.tasks.iter().enumerate() {
        let mut spec = if fail_at == Some(k) {
            let code = [1, 2, 101][rng.below(3) as usize];
            TaskSpec::failed(&format!(
                "error[E0{:03}]: {name} failed\n  --> src/lib.rs:{}:{}\n   |\n   = note: exit status {code}\n",
                rng.below(800),
                rng.below(900) + 1,
                rng.below(80) + 1
            ))
            .exit_code(code)
        } else {
            let mut ok = TaskSpec::ok();
            if rng.chance(50) {
                ok.stderr = format!("warning: unused variable `x{}`\n", rng.below(100));
            }
            ok
        };
        spec.stdout = slice_of(corpus, &mut rng, stdout_bytes);
        spec.script = Some(format!(
            "{}# revision {version}\n",
            if *python {
                format!("import subprocess\nsubprocess.run([\"{name}\"], check=True)\n")
            } else {
                format!(
                    "otto_log \"running {name}\"\nmake {}\n",
                    name.replace(':', "-")
                )
            }
        ));
        spec.python = *python;
        if rng.chance(200) {
            spec.output_json = format!("{{\"version\":\"1.{version}.{}\"}}", rng.below(50));
            spec.output_env = format!("VERSION=1.{version}.{}\n", rng.below(50));
        }
        spec.duration_secs = 1 + rng.below(120);
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        run = run.task_with_deps(name, &deps, spec);
    }
    run
}

fn plan_runs(spec: &GenSpec) -> Vec<Plan> {
    let mut rng = Xorshift::new(spec.seed);
    let span = 120 * DAY;
    let projects = spec.projects.max(1);
    let mut last_ts: Vec<Option<u64>> = vec![None; projects];
    let mut taken: HashMap<(usize, u64), u32> = HashMap::new();
    let mut plans = Vec::with_capacity(spec.runs);
    for i in 0..spec.runs {
        let project = if i < projects {
            i
        } else {
            rng.below(projects as u64) as usize
        };
        let ts = match last_ts[project] {
            Some(prev) if i >= projects && rng.chance(20) => prev,
            _ => spec.now.saturating_sub(1 + rng.below(span)),
        };
        let n = taken.entry((project, ts)).or_insert(0);
        let suffix = (*n > 0).then_some(*n);
        *n += 1;
        last_ts[project] = Some(ts);
        let age = spec.now.saturating_sub(ts);
        let layout = if age > 60 * DAY && rng.chance(50) {
            if rng.chance(800) {
                RunLayout::Legacy
            } else {
                RunLayout::LegacyTaskCache
            }
        } else {
            RunLayout::Current
        };
        let roll = rng.below(1000);
        let row = if !spec.with_db {
            RowKind::None
        } else if layout != RunLayout::Current {
            if roll < 500 {
                RowKind::PreV5
            } else {
                RowKind::None
            }
        } else if roll < 20 {
            RowKind::Stuck
        } else if roll < 100 {
            RowKind::None
        } else if roll < 250 && age > 90 * DAY {
            RowKind::PreV5
        } else {
            RowKind::Row
        };
        let pinned = rng.chance(5);
        plans.push(Plan {
            project,
            ts,
            suffix,
            layout,
            pinned,
            row,
            seed: rng.next_u64(),
        });
    }
    // Chronological, as otto would have written them (row ids follow time).
    plans.sort_by_key(|p| (p.ts, p.project, p.suffix));
    // Small trees still get each special case at least once.
    if spec.runs > projects && !plans.iter().any(|p| p.suffix.is_some()) {
        let (project, ts) = (plans[0].project, plans[0].ts);
        let n = taken.entry((project, ts)).or_insert(1);
        let last = plans.len() - 1;
        plans[last].project = project;
        plans[last].ts = ts;
        plans[last].suffix = Some(*n);
        *n += 1;
    }
    if spec.runs >= 10 && !plans.iter().any(|p| p.layout != RunLayout::Current) {
        let mut order: Vec<usize> = (0..plans.len())
            .filter(|&i| plans[i].suffix.is_none())
            .collect();
        order.sort_by_key(|&i| (plans[i].ts, i));
        for (&i, layout) in order
            .iter()
            .zip([RunLayout::Legacy, RunLayout::LegacyTaskCache])
        {
            plans[i].layout = layout;
            if plans[i].row != RowKind::None {
                plans[i].row = RowKind::PreV5;
            }
        }
    }
    plans
}

fn count_tree(root: &Path, summary: &mut GenSummary) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = check(fs::read_dir(&dir), || {
            format!("cannot list {}", dir.display())
        });
        for entry in entries {
            let entry = check(entry, || format!("cannot list {}", dir.display()));
            let kind = check(entry.file_type(), || {
                format!("cannot stat {}", entry.path().display())
            });
            if kind.is_dir() {
                summary.dirs += 1;
                stack.push(entry.path());
            } else if kind.is_symlink() {
                summary.symlinks += 1;
            } else {
                summary.files += 1;
                summary.bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
    }
}

/// Builds a large realistic `$OTTO_HOME` at `root` (which should be empty or
/// absent): `spec.runs` runs spread over `spec.projects` projects, each with
/// `spec.tasks` tasks, deterministic for `spec.seed` and `spec.now`.
///
/// Every project has at least one run; a few runs share a second (`<ts>-<n>`),
/// runs older than 60 days are sometimes legacy, ~6% have a failed task (with
/// stderr), ~5% of other tasks wrote warnings to stderr, scripts come from 3
/// revisions per task shared through the flat cache, each project has one
/// orphan cache file. With `with_db`: most current runs have a v5 row, ~8%
/// none, ~2% are stuck `running`, some old ones pre-v5 rows.
pub fn generate(root: &Path, spec: &GenSpec) -> GenSummary {
    let started = Instant::now();
    let home = OttoHome::new(root);
    let projects: Vec<ProjectPlan> = (0..spec.projects.max(1))
        .map(|i| {
            let name = project_name(i);
            ProjectPlan {
                handle: home.project(&name, &format!("/home/dev/src/{name}")),
                tasks: task_list(i, spec.tasks),
            }
        })
        .collect();
    for (i, project) in projects.iter().enumerate() {
        let mut rng = Xorshift::new(spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let name = format!("{:08x}.sh", rng.next_u64() & 0xffff_ffff);
        let orphan = project
            .handle
            .orphan_cache_file(&name, b"#!/bin/bash\necho orphaned\n");
        set_mtime(&orphan, spec.now.saturating_sub(30 * DAY));
    }
    let plans = plan_runs(spec);
    let corpus = log_corpus();
    let jobs = spec.jobs.max(1);
    let db = spec.with_db.then(|| home.db());
    let mut failed = 0usize;
    let mut db_rows = 0usize;

    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<(usize, RunHandle)>(256);
        let mut workers = Vec::new();
        for job in 0..jobs {
            let sender = sender.clone();
            let (plans, projects, corpus) = (&plans, &projects, &corpus);
            workers.push(scope.spawn(move || {
                let mut failed = 0usize;
                for i in (job..plans.len()).step_by(jobs) {
                    let plan = &plans[i];
                    let run =
                        build_run(&projects[plan.project], plan, corpus, spec.stdout_bytes).write();
                    if run.status() == RowStatus::Failed {
                        failed += 1;
                    }
                    if plan.row != RowKind::None && sender.send((i, run)).is_err() {
                        break;
                    }
                }
                failed
            }));
        }
        drop(sender);
        // Rows go in plan order whatever order the writers finish in.
        if let Some(db) = &db {
            let mut pending: BTreeMap<usize, RunHandle> = BTreeMap::new();
            let mut next = 0usize;
            let mut in_txn = 0usize;
            check(db.conn.execute_batch("BEGIN IMMEDIATE"), || {
                "cannot begin".to_owned()
            });
            for (i, run) in receiver.iter() {
                pending.insert(i, run);
                while next < plans.len() {
                    if plans[next].row == RowKind::None {
                        next += 1;
                        continue;
                    }
                    let Some(run) = pending.remove(&next) else {
                        break;
                    };
                    match plans[next].row {
                        RowKind::Row => db.row(&run, run.status()),
                        RowKind::PreV5 => db.row_pre_v5(&run, run.status()),
                        RowKind::Stuck => db.stuck_running(&run),
                        RowKind::None => unreachable!(),
                    };
                    db_rows += 1;
                    in_txn += 1;
                    next += 1;
                    if in_txn >= 2000 {
                        check(db.conn.execute_batch("COMMIT; BEGIN IMMEDIATE"), || {
                            "cannot commit".to_owned()
                        });
                        in_txn = 0;
                    }
                }
            }
            check(db.conn.execute_batch("COMMIT"), || {
                "cannot commit".to_owned()
            });
        }
        for worker in workers {
            failed += worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
    });
    drop(db);

    let mut summary = GenSummary {
        root: home.root().to_path_buf(),
        projects: projects.len(),
        runs: plans.len(),
        tasks: plans.len() * spec.tasks,
        same_second: plans.iter().filter(|p| p.suffix.is_some()).count(),
        legacy: plans
            .iter()
            .filter(|p| p.layout != RunLayout::Current)
            .count(),
        failed,
        pinned: plans.iter().filter(|p| p.pinned).count(),
        db_rows,
        ..GenSummary::default()
    };
    count_tree(home.root(), &mut summary);
    summary.elapsed = started.elapsed();
    summary
}
