//! Reading otto's history, `otto.db`, read-only and without getting in
//! otto's way.
//!
//! The database is opened once per [`OttoDb`], lazily, by [`open_otto_db`]
//! (read-write but `query_only`, never created; see there for why) with a
//! 5-second busy timeout. Every `runs` row, and the `tasks` rows of runs
//! whose own status decides nothing, are read in one short deferred
//! transaction into a [`Snapshot`]; no read transaction
//! stays open afterwards, so otto's writer and checkpoints never wait on us.
//! After that, finding a run's row is a hash lookup.
//!
//! Two cases go back to the database, each with one indexed query: a row the
//! snapshot saw as `running` whose lock is not held (the run may have ended
//! since the snapshot: re-read that row by id), and a run that started
//! around or after the snapshot was taken (its row may not have existed yet:
//! read the rows of that second). One run's details (`info`) never take a
//! snapshot: the rows of its second are read, with their tasks
//! ([`OttoDb::read_one`]).
//!
//! A missing or unreadable database, or a schema newer than version 5, makes
//! the source unavailable: logged once at debug level, retried at most every
//! 30 seconds, never an error for the caller. Older schemas are read as far
//! as their columns go (`run_dir` appeared in version 5).

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use crate::layout::{OttoRun, parse_run_name, trim_slashes};

/// The newest `otto.db` schema this reader knows.
pub const SUPPORTED_SCHEMA: i64 = 5;

/// How long a read waits for otto's writer (otto's own setting too).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an unavailable database stays unavailable before a new attempt.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// A run that started this many seconds before the snapshot, or later, may
/// have been recorded after it.
const FRESH_SLACK_SECS: i64 = 5;

/// What a connection opened by [`open_otto_db`] may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only read: the connection is `PRAGMA query_only`.
    Read,
    /// Read and write (deleting the rows of deleted runs).
    Write,
}

/// Opens otto's `otto.db` at `path` so that closing the connection leaves
/// `$OTTO_HOME` as it was found: never created, never left with a
/// `otto.db-wal` or `otto.db-shm` of ours.
///
/// otto keeps otto.db in WAL mode. Any connection to a WAL database creates
/// `-wal` and `-shm` next to it; SQLite removes both when the *last*
/// connection closes — after checkpointing, under an exclusive lock on the
/// database file that no other open connection allows — but only if that
/// connection may write. A read-only connection (`SQLITE_OPEN_READ_ONLY`)
/// can remove neither, so every read used to leave them behind. Hence:
///
/// - The file is opened `SQLITE_OPEN_READ_WRITE` without `CREATE` (a
///   missing otto.db stays missing); with [`Access::Read`] the connection
///   is then `PRAGMA query_only`, so it cannot write even by mistake. A file
///   we may not write is opened read-only as before (nothing else works).
/// - When neither `-wal` nor `-shm` existed before the open, they are ours:
///   SQLite's close removes them, and only if no other connection — otto's —
///   has the database open at that moment (otherwise they are otto's now
///   and stay). We never unlink anything ourselves.
/// - When either existed (otto is running, or ended without its last
///   close), they are otto's: `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` makes our
///   close neither checkpoint (otto.db's bytes are not rewritten by a read)
///   nor remove them. (A `-wal` found without its `-shm` gets one, as it
///   would from any reader, otto included.)
///
/// The busy timeout is otto's own, 5 s. The error is one line.
pub fn open_otto_db(path: &Path, access: Access) -> Result<Connection, String> {
    // Opening never creates the file, but says so less clearly.
    if !path.is_file() {
        return Err("there is no such file".into());
    }
    let side = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::symlink_metadata(PathBuf::from(name)).is_ok()
    };
    let pre_existing = side("-wal") || side("-shm");
    let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    // SQLite opens lazily: the probe reads the schema, which opens the
    // file and its -wal/-shm for real.
    let probe =
        |conn: &Connection| conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()));
    let conn = match Connection::open_with_flags(path, base | OpenFlags::SQLITE_OPEN_READ_WRITE)
        .and_then(|conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            probe(&conn).map(|()| conn)
        }) {
        Ok(conn) => conn,
        Err(e) if access == Access::Write => return Err(format!("cannot open it: {e}")),
        // Not ours to write (another user's otto home, a read-only
        // directory): read-only, as before.
        Err(_) => Connection::open_with_flags(path, base | OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("cannot open it: {e}"))?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| format!("cannot set its busy timeout: {e}"))?;
    if pre_existing {
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(|e| format!("cannot keep its close from checkpointing: {e}"))?;
    }
    if access == Access::Read {
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| format!("cannot make the connection query-only: {e}"))?;
    }
    Ok(conn)
}

/// One `runs` row as a clean matches it to a run directory: the way
/// [`Snapshot`] does (by `run_dir`, else by project hash, start second and
/// same-second index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowKey {
    /// `runs.id`.
    pub id: i64,
    /// `runs.timestamp`.
    pub timestamp: Option<i64>,
    /// `runs.run_dir`, without trailing `/` (NULL before schema 5).
    pub run_dir: Option<String>,
    /// (project directory hash, start second, same-second index), when the
    /// row has an absolute `ottofile_path` and a timestamp.
    pub key: Option<(u32, u64, u32)>,
    /// The project directory name otto derives from `ottofile_path`
    /// (`<basename of its directory>-<hash8>`), when it has one.
    pub project_dir: Option<String>,
    /// Its `tasks` rows.
    pub tasks: u64,
}

/// The key of the run directory `<project_dir>/<run_name>` (see
/// [`RowKey::key`]); `None` when the names are not otto's.
pub fn run_dir_key(project_dir: &str, run_name: &str) -> Option<(u32, u64, u32)> {
    let hash = crate::layout::parse_project_name(project_dir)?;
    let (ts, seq) = parse_run_name(run_name)?;
    Some((hash, ts, seq))
}

/// Reads every `runs` row's key (and its tasks' count) in one deferred
/// transaction. Works on every schema with `runs(id, timestamp)`; older
/// schemas lack `run_dir` (and perhaps `ottofile_path`).
pub fn read_row_keys(conn: &Connection) -> Result<Vec<RowKey>, String> {
    let runs = columns(conn, "runs")?;
    for needed in ["id", "timestamp"] {
        if !runs.contains(needed) {
            return Err(format!("its `runs` table has no `{needed}` column"));
        }
    }
    let tasks = columns(conn, "tasks")?;
    let sql = format!(
        "SELECT id, timestamp, {}, {}, {} FROM runs ORDER BY id",
        col(runs.contains("ottofile_path"), "ottofile_path"),
        col(runs.contains("run_dir"), "run_dir"),
        if tasks.contains("run_id") {
            "(SELECT COUNT(*) FROM tasks WHERE tasks.run_id = runs.id)"
        } else {
            "0"
        },
    );
    let sql_err = |e: rusqlite::Error| format!("cannot read it: {e}");
    let tx = conn.unchecked_transaction().map_err(sql_err)?;
    let mut out = Vec::new();
    let mut next_seq: HashMap<(u32, u64), u32> = HashMap::new();
    {
        let mut stmt = tx.prepare(&sql).map_err(sql_err)?;
        let mut cursor = stmt.query([]).map_err(sql_err)?;
        while let Some(r) = cursor.next().map_err(sql_err)? {
            let Some(id) = int(r.get_ref(0).map_err(sql_err)?) else {
                continue;
            };
            let timestamp = int(r.get_ref(1).map_err(sql_err)?);
            let ottofile = text(r.get_ref(2).map_err(sql_err)?);
            let run_dir = text(r.get_ref(3).map_err(sql_err)?).map(|d| trim_slashes(d).to_owned());
            let tasks = int(r.get_ref(4).map_err(sql_err)?).unwrap_or(0);
            let hash = ottofile.and_then(project_hash);
            let project_dir = ottofile.and_then(|path| {
                let name = Path::new(path).parent()?.file_name()?.to_str()?;
                Some(format!("{name}-{:08x}", hash?))
            });
            // As in `Snapshot::build`: same-second rows of a project are
            // `<ts>`, `<ts>-1`, … in id order, unless `run_dir` names one.
            let key = match (hash, timestamp.and_then(|t| u64::try_from(t).ok())) {
                (Some(hash), Some(ts)) => {
                    let counter = next_seq.entry((hash, ts)).or_insert(0);
                    let positional = *counter;
                    *counter = counter.saturating_add(1);
                    let named = run_dir
                        .as_deref()
                        .and_then(|d| Path::new(d).file_name()?.to_str())
                        .and_then(parse_run_name)
                        .filter(|(named_ts, _)| *named_ts == ts)
                        .map(|(_, seq)| seq);
                    Some((hash, ts, named.unwrap_or(positional)))
                }
                _ => None,
            };
            out.push(RowKey {
                id,
                timestamp,
                run_dir,
                key,
                project_dir,
                tasks: u64::try_from(tasks).unwrap_or(0),
            });
        }
    }
    tx.commit().map_err(sql_err)?;
    Ok(out)
}

/// A run's `status` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowStatus {
    /// `running`.
    Running,
    /// `success`.
    Success,
    /// `failed`.
    Failed,
    /// Anything else, or NULL.
    Other,
}

/// A task's `status` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowTaskStatus {
    /// `pending`.
    Pending,
    /// `running`.
    Running,
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// `skipped`.
    Skipped,
    /// Anything else, or NULL.
    Other,
}

/// One `tasks` row, as far as status detection needs it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TaskRow {
    /// `name`.
    pub name: Box<str>,
    /// `status`.
    pub status: RowTaskStatus,
    /// `exit_code`.
    pub exit_code: Option<i64>,
    /// `started_at`, epoch seconds.
    pub started_at: Option<i64>,
    /// `ended_at`, epoch seconds.
    pub ended_at: Option<i64>,
    /// `duration_seconds`.
    pub duration_seconds: Option<f64>,
}

/// One `runs` row with its tasks.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunRow {
    /// `id`.
    pub id: i64,
    /// `timestamp`: the run's start second.
    pub timestamp: Option<i64>,
    /// `status`.
    pub status: RowStatus,
    /// `ended_at`, epoch seconds.
    pub ended_at: Option<i64>,
    /// `run_dir` without trailing `/` (NULL before schema 5).
    pub run_dir: Option<Box<str>>,
    /// The project directory hash derived from `ottofile_path`.
    pub project_hash: Option<u32>,
    /// Its `tasks` rows, in `id` order.
    pub tasks: Vec<TaskRow>,
}

/// The first 8 hex digits (as a number) of the sha256 of the directory of
/// `ottofile_path`, as stored: otto's project directory hash. `None` for a
/// relative or empty path.
pub fn project_hash(ottofile_path: &str) -> Option<u32> {
    let dir = Path::new(ottofile_path).parent()?;
    if !dir.is_absolute() {
        return None;
    }
    let digest = Sha256::digest(dir.as_os_str().as_bytes());
    let first: [u8; 4] = digest.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(first))
}

/// Every row of one read of otto.db, indexed for lookups by run.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The rows, in `id` order.
    rows: Vec<RunRow>,
    /// Row index by `run_dir`.
    by_dir: HashMap<Box<str>, usize>,
    /// Row index by (project hash, start second, same-second index).
    by_key: HashMap<(u32, u64, u32), usize>,
    /// When it was read, epoch seconds.
    pub taken_at: i64,
}

impl Snapshot {
    /// Indexes `rows` (in `id` order).
    ///
    /// Rows with the same project and start second are same-second runs:
    /// the first by `id` is `<ts>`, the next `<ts>-1`, and so on — unless a
    /// row's `run_dir` names its directory, which then decides.
    pub fn build(rows: Vec<RunRow>, taken_at: i64) -> Self {
        let mut by_dir = HashMap::with_capacity(rows.len());
        let mut by_key = HashMap::with_capacity(rows.len());
        let mut next_seq: HashMap<(u32, u64), u32> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            if let Some(dir) = &row.run_dir {
                by_dir.insert(dir.clone(), i);
            }
            let (Some(hash), Some(ts)) = (
                row.project_hash,
                row.timestamp.and_then(|t| u64::try_from(t).ok()),
            ) else {
                continue;
            };
            let counter = next_seq.entry((hash, ts)).or_insert(0);
            let positional = *counter;
            *counter = counter.saturating_add(1);
            let named = row
                .run_dir
                .as_deref()
                .and_then(|d| Path::new(d).file_name()?.to_str())
                .and_then(parse_run_name)
                .filter(|(named_ts, _)| *named_ts == ts)
                .map(|(_, seq)| seq);
            by_key.insert((hash, ts, named.unwrap_or(positional)), i);
        }
        Snapshot {
            rows,
            by_dir,
            by_key,
            taken_at,
        }
    }

    /// The index of `run`'s row: by `run_dir` first, then by project and
    /// timestamp.
    pub fn find(&self, run: &OttoRun<'_>) -> Option<usize> {
        self.by_dir
            .get(run.dir)
            .or_else(|| self.by_key.get(&(run.project_hash, run.ts, run.seq)))
            .copied()
    }

    /// The row at `index` (from [`Snapshot::find`]).
    pub fn row(&self, index: usize) -> Option<&RunRow> {
        self.rows.get(index)
    }

    /// Whether `run` may have been recorded after this snapshot was read.
    pub fn may_postdate(&self, run: &OttoRun<'_>) -> bool {
        i64::try_from(run.ts).is_ok_and(|ts| ts >= self.taken_at.saturating_sub(FRESH_SLACK_SECS))
    }

    /// How many runs it holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Which columns the database has (older schemas lack some).
#[derive(Clone, Debug, Default)]
struct Schema {
    runs_ended_at: bool,
    runs_ottofile_path: bool,
    runs_run_dir: bool,
    /// `None` when there is no usable `tasks` table.
    tasks: Option<TaskColumns>,
}

/// The optional columns of `tasks`.
#[derive(Clone, Copy, Debug, Default)]
struct TaskColumns {
    exit_code: bool,
    started_at: bool,
    ended_at: bool,
    duration_seconds: bool,
}

/// Which rows a read fetches.
#[derive(Clone, Copy, Debug)]
enum Filter {
    /// Every row.
    All,
    /// The run with this `id`.
    RunId(i64),
    /// The runs that started in this second.
    Second(i64),
}

impl Filter {
    fn runs_where(self) -> &'static str {
        match self {
            Filter::All => "",
            Filter::RunId(_) => "WHERE id = ?1",
            Filter::Second(_) => "WHERE timestamp = ?1",
        }
    }

    fn tasks_where(self) -> &'static str {
        match self {
            // The snapshot serves `detect`, which looks at tasks only when a
            // row's own status decides nothing; `detect_details` re-reads its
            // one row with every task.
            Filter::All => {
                "WHERE run_id IN (SELECT id FROM runs WHERE status IS NULL OR status NOT IN ('success', 'failed'))"
            }
            Filter::RunId(_) => "WHERE run_id = ?1",
            Filter::Second(_) => "WHERE run_id IN (SELECT id FROM runs WHERE timestamp = ?1)",
        }
    }

    fn param(self) -> Option<i64> {
        match self {
            Filter::All => None,
            Filter::RunId(v) | Filter::Second(v) => Some(v),
        }
    }
}

/// `name` when the table has it, else `NULL`.
fn col(present: bool, name: &'static str) -> &'static str {
    if present { name } else { "NULL" }
}

impl Schema {
    /// Reads the schema version and the columns; refuses a newer schema and
    /// one without the columns this reader needs.
    fn detect(conn: &Connection) -> Result<Schema, String> {
        let version: Option<i64> =
            match conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
                Ok(int(r.get_ref(0)?))
            }) {
                Ok(v) => v,
                // No `schema_version` table: an early otto; go by the columns.
                Err(rusqlite::Error::SqliteFailure(_, Some(msg)))
                    if msg.contains("no such table") =>
                {
                    None
                }
                Err(e) => return Err(format!("cannot read its schema version: {e}")),
            };
        if let Some(v) = version.filter(|v| *v > SUPPORTED_SCHEMA) {
            return Err(format!(
                "its schema version is {v}; this plugin reads up to version {SUPPORTED_SCHEMA}"
            ));
        }
        let runs = columns(conn, "runs")?;
        for needed in ["id", "timestamp", "status"] {
            if !runs.contains(needed) {
                return Err(format!("its `runs` table has no `{needed}` column"));
            }
        }
        let tasks = columns(conn, "tasks")?;
        let tasks = ["run_id", "name", "status"]
            .iter()
            .all(|c| tasks.contains(*c))
            .then(|| TaskColumns {
                exit_code: tasks.contains("exit_code"),
                started_at: tasks.contains("started_at"),
                ended_at: tasks.contains("ended_at"),
                duration_seconds: tasks.contains("duration_seconds"),
            });
        Ok(Schema {
            runs_ended_at: runs.contains("ended_at"),
            runs_ottofile_path: runs.contains("ottofile_path"),
            runs_run_dir: runs.contains("run_dir"),
            tasks,
        })
    }

    /// Reads the rows `filter` selects, with their tasks, in one transaction.
    fn read(&self, conn: &Connection, filter: Filter) -> Result<Vec<RunRow>, String> {
        let runs_sql = format!(
            "SELECT id, timestamp, status, {}, {}, {} FROM runs {} ORDER BY id",
            col(self.runs_ended_at, "ended_at"),
            col(self.runs_ottofile_path, "ottofile_path"),
            col(self.runs_run_dir, "run_dir"),
            filter.runs_where(),
        );
        let params: Vec<i64> = filter.param().into_iter().collect();
        let sql_err = |e: rusqlite::Error| format!("cannot read it: {e}");

        // A deferred transaction: both reads see the same state, and the
        // read lock is taken at the first SELECT and dropped at the end.
        let tx = conn.unchecked_transaction().map_err(sql_err)?;
        let mut rows = Vec::new();
        let mut hashes: HashMap<Box<str>, Option<u32>> = HashMap::new();
        {
            let mut stmt = tx.prepare(&runs_sql).map_err(sql_err)?;
            let mut cursor = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(sql_err)?;
            while let Some(r) = cursor.next().map_err(sql_err)? {
                let Some(id) = int(r.get_ref(0).map_err(sql_err)?) else {
                    continue;
                };
                let project_hash = match text(r.get_ref(4).map_err(sql_err)?) {
                    Some(path) => match hashes.get(path) {
                        Some(h) => *h,
                        None => {
                            let h = project_hash(path);
                            hashes.insert(path.into(), h);
                            h
                        }
                    },
                    None => None,
                };
                rows.push(RunRow {
                    id,
                    timestamp: int(r.get_ref(1).map_err(sql_err)?),
                    status: run_status(r.get_ref(2).map_err(sql_err)?),
                    ended_at: int(r.get_ref(3).map_err(sql_err)?),
                    run_dir: text(r.get_ref(5).map_err(sql_err)?)
                        .map(|d| Box::<str>::from(trim_slashes(d))),
                    project_hash,
                    tasks: Vec::new(),
                });
            }
        }
        if let Some(tc) = self.tasks {
            let tasks_sql = format!(
                "SELECT run_id, name, status, {}, {}, {}, {} FROM tasks {} ORDER BY rowid",
                col(tc.exit_code, "exit_code"),
                col(tc.started_at, "started_at"),
                col(tc.ended_at, "ended_at"),
                col(tc.duration_seconds, "duration_seconds"),
                filter.tasks_where(),
            );
            let index: HashMap<i64, usize> =
                rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
            let mut stmt = tx.prepare(&tasks_sql).map_err(sql_err)?;
            let mut cursor = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(sql_err)?;
            while let Some(r) = cursor.next().map_err(sql_err)? {
                let Some(run) = int(r.get_ref(0).map_err(sql_err)?).and_then(|id| index.get(&id))
                else {
                    continue;
                };
                let Some(name) = text(r.get_ref(1).map_err(sql_err)?) else {
                    continue;
                };
                let task = TaskRow {
                    name: name.into(),
                    status: task_status(r.get_ref(2).map_err(sql_err)?),
                    exit_code: int(r.get_ref(3).map_err(sql_err)?),
                    started_at: int(r.get_ref(4).map_err(sql_err)?),
                    ended_at: int(r.get_ref(5).map_err(sql_err)?),
                    duration_seconds: real(r.get_ref(6).map_err(sql_err)?),
                };
                if let Some(row) = rows.get_mut(*run) {
                    row.tasks.push(task);
                }
            }
        }
        tx.commit().map_err(sql_err)?;
        Ok(rows)
    }
}

/// The column names of `table` (empty when there is no such table).
fn columns(conn: &Connection, table: &str) -> Result<HashSet<String>, String> {
    let err = |e: rusqlite::Error| format!("cannot read the columns of `{table}`: {e}");
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .map_err(err)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(err)?
        .collect::<Result<HashSet<_>, _>>()
        .map_err(err)?;
    Ok(names)
}

/// An integer column, tolerating REAL and numeric TEXT.
fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) if f.is_finite() => Some(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A REAL column, tolerating INTEGER and numeric TEXT.
fn real(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// A TEXT column (not UTF-8: absent).
fn text(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

/// A run's status text.
fn run_status(v: ValueRef<'_>) -> RowStatus {
    match text(v) {
        Some("running") => RowStatus::Running,
        Some("success") => RowStatus::Success,
        Some("failed") => RowStatus::Failed,
        _ => RowStatus::Other,
    }
}

/// A task's status text.
fn task_status(v: ValueRef<'_>) -> RowTaskStatus {
    match text(v) {
        Some("pending") => RowTaskStatus::Pending,
        Some("running") => RowTaskStatus::Running,
        Some("completed") => RowTaskStatus::Completed,
        Some("failed") => RowTaskStatus::Failed,
        Some("skipped") => RowTaskStatus::Skipped,
        _ => RowTaskStatus::Other,
    }
}

/// The current time, epoch seconds.
pub(crate) fn now_secs() -> i64 {
    otto_hooks_plugin_api::Timestamp::now().secs
}

/// Where the snapshot stands.
#[derive(Debug)]
enum State {
    /// Not read yet.
    NotLoaded,
    /// Read.
    Ready(Arc<Snapshot>),
    /// The last attempt failed at this instant.
    Unavailable(Instant),
}

/// One `otto.db`: its connection, its snapshot, and what is known of its
/// stuck rows. Safe to share between threads.
#[derive(Debug)]
pub(crate) struct OttoDb {
    /// The database file.
    path: PathBuf,
    /// The snapshot (read often, written once per load).
    state: RwLock<State>,
    /// The open connection and its schema; also serialises loads.
    conn: Mutex<Option<(Connection, Schema)>>,
    /// Rows known to be stuck at `running` for good (their lock is free,
    /// re-read after the run was long started).
    stuck: Mutex<HashSet<i64>>,
    /// Whether the unavailability was logged already.
    logged: AtomicBool,
    /// How many reads went to the database (tests check the hot path).
    reads: AtomicU64,
}

impl OttoDb {
    /// A database at `path`, not opened yet.
    pub fn new(path: PathBuf) -> Self {
        OttoDb {
            path,
            state: RwLock::new(State::NotLoaded),
            conn: Mutex::new(None),
            stuck: Mutex::new(HashSet::new()),
            logged: AtomicBool::new(false),
            reads: AtomicU64::new(0),
        }
    }

    /// How many reads went to the database so far.
    #[cfg(test)]
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The snapshot, reading the database the first time (and again after
    /// a failure, at most every 30 seconds). `None` when unavailable.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        if let Some(ready) = self.peek() {
            return ready;
        }
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have loaded it while this one waited.
        if let Some(ready) = self.peek() {
            return ready;
        }
        let started = Instant::now();
        let loaded = self.open_and_read(&mut conn);
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        match loaded {
            Ok(snapshot) => {
                tracing::debug!(
                    db = %self.path.display(),
                    runs = snapshot.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "read otto.db"
                );
                let snapshot = Arc::new(snapshot);
                *state = State::Ready(Arc::clone(&snapshot));
                Some(snapshot)
            }
            Err(why) => {
                *conn = None;
                if !self.logged.swap(true, Ordering::Relaxed) {
                    tracing::debug!(
                        "not using otto.db {}: {why}; falling back to the next sources",
                        self.path.display()
                    );
                }
                *state = State::Unavailable(Instant::now());
                None
            }
        }
    }

    /// `Some(result)` when no load is due now.
    fn peek(&self) -> Option<Option<Arc<Snapshot>>> {
        match &*self.state.read().unwrap_or_else(PoisonError::into_inner) {
            State::Ready(s) => Some(Some(Arc::clone(s))),
            State::Unavailable(at) if at.elapsed() < RETRY_AFTER => Some(None),
            State::Unavailable(_) | State::NotLoaded => None,
        }
    }

    /// Opens the database (unless open) and reads every row.
    fn open_and_read(&self, conn: &mut Option<(Connection, Schema)>) -> Result<Snapshot, String> {
        if conn.is_none() {
            *conn = Some(self.open()?);
        }
        let Some((c, schema)) = conn.as_ref() else {
            return Err("no connection".into());
        };
        let taken_at = now_secs();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let rows = schema.read(c, Filter::All)?;
        Ok(Snapshot::build(rows, taken_at))
    }

    /// Opens the database read-only and checks its schema.
    fn open(&self) -> Result<(Connection, Schema), String> {
        // Opening read-only never creates the file, but says so less clearly.
        if !self.path.is_file() {
            return Err("there is no such file".into());
        }
        let conn = open_otto_db(&self.path, Access::Read)?;
        let schema = Schema::detect(&conn)?;
        Ok((conn, schema))
    }

    /// Reads rows again through the open connection (never opens one).
    fn reread(&self, filter: Filter) -> Option<Vec<RunRow>> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let (c, schema) = conn.as_ref()?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        match schema.read(c, filter) {
            Ok(rows) => Some(rows),
            Err(why) => {
                tracing::debug!(db = %self.path.display(), "re-reading otto.db failed: {why}");
                None
            }
        }
    }

    /// The current state of the row with this `id`.
    pub fn reread_row(&self, id: i64) -> Option<RunRow> {
        self.reread(Filter::RunId(id))?.into_iter().next()
    }

    /// The row of `run` among the rows of its start second, read now.
    pub fn read_second(&self, run: &OttoRun<'_>) -> Option<RunRow> {
        let ts = i64::try_from(run.ts).ok()?;
        let rows = self.reread(Filter::Second(ts))?;
        let snapshot = Snapshot::build(rows, now_secs());
        let i = snapshot.find(run)?;
        snapshot.rows.into_iter().nth(i)
    }

    /// The row of `run`, read now from the rows of its start second — one
    /// run's worth, not the whole database (which is opened if need be).
    pub fn read_one(&self, run: &OttoRun<'_>) -> Option<RunRow> {
        {
            let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            if conn.is_none() {
                match self.open() {
                    Ok(opened) => *conn = Some(opened),
                    Err(why) => {
                        tracing::debug!(
                            "not using otto.db {}: {why}; falling back to the next sources",
                            self.path.display()
                        );
                        return None;
                    }
                }
            }
        }
        self.read_second(run)
    }

    /// Whether the row is known to be stuck at `running` for good.
    pub fn is_stuck(&self, id: i64) -> bool {
        self.stuck
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id)
    }

    /// Remembers that the row is stuck at `running` for good.
    pub fn mark_stuck(&self, id: i64) {
        self.stuck
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_hash_is_sha256_of_the_ottofile_directory() {
        // `printf %s /home/user/proj | sha256sum` starts with 7d73bf4f.
        assert_eq!(project_hash("/home/user/proj/otto.yml"), Some(0x7d73_bf4f));
        assert_eq!(project_hash("otto.yml"), None);
        assert_eq!(project_hash(""), None);
    }

    #[test]
    fn columns_of_odd_types_are_tolerated() {
        assert_eq!(int(ValueRef::Text(b" 42 ")), Some(42));
        assert_eq!(int(ValueRef::Real(3.9)), Some(3));
        assert_eq!(int(ValueRef::Null), None);
        assert_eq!(real(ValueRef::Integer(2)), Some(2.0));
        assert_eq!(real(ValueRef::Text(b"nan")), None);
        assert_eq!(run_status(ValueRef::Text(b"SUCCESS")), RowStatus::Other);
        assert_eq!(task_status(ValueRef::Null), RowTaskStatus::Other);
    }
}
