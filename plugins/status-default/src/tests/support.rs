//! Fixtures: temporary otto homes with projects and run directories, and
//! otto.db files built with the schema version 5 DDL of FORMATS.md.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::{Plugin, PluginConfig, Run, RunStatus, Timestamp};
use rusqlite::{Connection, params};
use rustix::fs::{FlockOperation, Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::DefaultStatus;

/// otto.db, schema version 5 (FORMATS.md): the workspace's one DDL file,
/// and the versions applied.
pub const SCHEMA_V5: &str = concat!(
    include_str!("../../../../tests/fixtures/otto-db-v5.sql"),
    "INSERT INTO schema_version (version, applied_at) VALUES (1, 1700000000), (5, 1750000000);\n"
);

/// The first 8 lowercase hex digits of sha256(`s`).
pub fn sha8(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A temporary otto home (`<tmp>/otto`) beside a source tree (`<tmp>/src`).
pub struct Home {
    _tmp: tempfile::TempDir,
    /// The canonical temporary root.
    pub root: PathBuf,
    /// `$OTTO_HOME`.
    pub home: PathBuf,
}

impl Home {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("otto");
        std::fs::create_dir_all(&home).unwrap();
        Home {
            _tmp: tmp,
            root,
            home,
        }
    }

    /// `<home>/otto.db`.
    pub fn db_path(&self) -> PathBuf {
        self.home.join("otto.db")
    }

    /// Creates otto.db with `ddl`.
    pub fn create_db_with(&self, ddl: &str) -> Db {
        let conn = Connection::open(self.db_path()).unwrap();
        conn.execute_batch(ddl).unwrap();
        Db { conn }
    }

    /// Creates otto.db, schema version 5.
    pub fn create_db(&self) -> Db {
        self.create_db_with(SCHEMA_V5)
    }

    /// A project whose ottofile is `<root>/src/<name>/otto.yml`.
    pub fn project(&self, name: &str) -> Project {
        let src = self.root.join("src").join(name);
        std::fs::create_dir_all(&src).unwrap();
        let src = src.canonicalize().unwrap();
        let ottofile = src.join("otto.yml");
        std::fs::write(&ottofile, "tasks: {}\n").unwrap();
        let key = format!("{name}-{}", sha8(src.to_str().unwrap()));
        let dir = self.home.join(&key);
        std::fs::create_dir_all(&dir).unwrap();
        Project {
            key,
            dir,
            ottofile: ottofile.to_str().unwrap().to_owned(),
        }
    }
}

/// A project directory of an otto home.
pub struct Project {
    /// `<name>-<hash8>`.
    pub key: String,
    /// `<home>/<key>`.
    pub dir: PathBuf,
    /// The ottofile's canonical path.
    pub ottofile: String,
}

impl Project {
    /// Creates run directory `id` with an (unlocked) `.lock` and these
    /// tasks (name, stderr content), and the `Run` otto-fs would report
    /// (no `stderr_bytes` attribute).
    pub fn run(&self, id: &str, tasks: &[(&str, &str)]) -> Run {
        let dir = self.dir.join(id);
        std::fs::create_dir_all(dir.join("tasks")).unwrap();
        std::fs::write(dir.join(".lock"), "").unwrap();
        for (name, stderr) in tasks {
            let t = dir.join("tasks").join(name);
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("stdout.log"), "out\n").unwrap();
            std::fs::write(t.join("stderr.log"), stderr).unwrap();
        }
        let ts: i64 = id.split('-').next().unwrap().parse().unwrap();
        let mut attributes = serde_json::Map::new();
        attributes.insert("lock_file".into(), true.into());
        Run {
            id: id.to_owned(),
            project: self.key.clone(),
            started_at: Timestamp::from_secs(ts),
            status: RunStatus::Unknown,
            task_count: tasks.len() as u32,
            location: dir.to_str().unwrap().to_owned(),
            attributes,
            ..Run::default()
        }
    }
}

/// How a task of [`Project::otto_run`] ended, as otto leaves it on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Exited 0: otto turned the epilogue's `output.<task>.env` into
    /// `output.<task>.json` (both stay).
    Exited0,
    /// Exited 0, and otto died before converting: only the `.env`.
    Exited0EnvOnly,
    /// Started (builtins, script) and exited non-zero or was killed: no
    /// output file.
    Unfinished,
    /// Never started: the directory and empty logs otto's terminal UI
    /// creates up front.
    NotStarted,
}

impl Project {
    /// Creates run directory `id` as otto leaves it: for each task (name,
    /// stderr content, how it ended) its logs, and once started its
    /// `builtins.sh`, its `script.sh` link into `.cache` and, when it exited
    /// 0, its output files. Returns the `Run` otto-fs would report.
    pub fn otto_run(&self, id: &str, tasks: &[(&str, &str, Ended)]) -> Run {
        let logs: Vec<(&str, &str)> = tasks.iter().map(|(n, e, _)| (*n, *e)).collect();
        let run = self.run(id, &logs);
        let cache = self.dir.join(".cache");
        std::fs::create_dir_all(&cache).unwrap();
        for (name, _, ended) in tasks {
            let t = Path::new(&run.location).join("tasks").join(name);
            if *ended == Ended::NotStarted {
                std::fs::write(t.join("stdout.log"), "").unwrap();
                continue;
            }
            std::fs::write(t.join("builtins.sh"), "#!/bin/bash\n# Otto Bash Builtins\n").unwrap();
            let hash = &sha8(name);
            std::fs::write(cache.join(format!("{hash}.sh")), "set -euo pipefail\n").unwrap();
            std::os::unix::fs::symlink(format!("../../../.cache/{hash}.sh"), t.join("script.sh"))
                .unwrap();
            if matches!(ended, Ended::Exited0 | Ended::Exited0EnvOnly) {
                std::fs::write(
                    t.join(format!("output.{name}.env")),
                    format!(
                        "# Auto-generated by Otto task: {name}\n\
                         # Otto will convert this to JSON after task completion\n\n"
                    ),
                )
                .unwrap();
            }
            if *ended == Ended::Exited0 {
                std::fs::write(t.join(format!("output.{name}.json")), "{}").unwrap();
            }
        }
        run
    }
}

/// A writable connection to a fixture otto.db.
pub struct Db {
    pub conn: Connection,
}

impl Db {
    /// Inserts the project row (content hash differs from the directory hash).
    pub fn project(&self, p: &Project) -> i64 {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO projects (hash, name, ottofile_path, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, 0, 0)",
                params![
                    format!("content-{}", p.key),
                    p.key.rsplit_once('-').unwrap().0,
                    p.ottofile
                ],
            )
            .unwrap();
        self.conn
            .query_row(
                "SELECT id FROM projects WHERE hash = ?1",
                [format!("content-{}", p.key)],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Inserts a run row; `run_dir` NULL when `None`. Returns its id.
    pub fn run(
        &self,
        p: &Project,
        timestamp: i64,
        status: &str,
        ended_at: Option<i64>,
        run_dir: Option<&str>,
    ) -> i64 {
        let project_id = self.project(p);
        self.conn
            .execute(
                "INSERT INTO runs (project_id, timestamp, status, ottofile_path, cwd, user,
                                   hostname, args, ended_at, run_dir)
                 VALUES (?1, ?2, ?3, ?4, '/', 'me', 'host', '[\"otto\",\"ci\"]', ?5, ?6)",
                params![project_id, timestamp, status, p.ottofile, ended_at, run_dir],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    /// Inserts a task row.
    #[allow(clippy::too_many_arguments)]
    pub fn task(
        &self,
        run_id: i64,
        name: &str,
        status: &str,
        exit_code: Option<i64>,
        started_at: Option<i64>,
        ended_at: Option<i64>,
        duration_seconds: Option<f64>,
    ) {
        self.conn
            .execute(
                "INSERT INTO tasks (run_id, name, status, exit_code, started_at, ended_at,
                                    duration_seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run_id,
                    name,
                    status,
                    exit_code,
                    started_at,
                    ended_at,
                    duration_seconds
                ],
            )
            .unwrap();
    }
}

/// Holds `flock(LOCK_EX)` on `<run>/.lock` through a separate open file
/// description, as otto does, until the returned descriptor is dropped.
pub fn hold_lock(run: &Run) -> OwnedFd {
    let path = Path::new(&run.location).join(".lock");
    let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).unwrap();
    fd
}

/// A plugin instance from TOML settings.
pub fn plugin(settings: &str) -> DefaultStatus {
    DefaultStatus::new(&PluginConfig::from_toml("status.default", settings, "/tmp").unwrap())
        .unwrap()
}

impl Db {
    /// Inserts a run row into a schema without `run_dir`. Returns its id.
    pub fn run_v4(&self, p: &Project, timestamp: i64, status: &str) -> i64 {
        let project_id = self.project(p);
        self.conn
            .execute(
                "INSERT INTO runs (project_id, timestamp, status, ottofile_path)
                 VALUES (?1, ?2, ?3, ?4)",
                params![project_id, timestamp, status, p.ottofile],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }
}
