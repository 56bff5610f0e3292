//! A derived cache of otto.db's task rows, for `stats` and `flaky`:
//! `$OTTO_HOOKS_HOME/insights/otto-<hash of otto.db's path>.db`, one row
//! per finished otto run (keyed by otto.db's `runs.id`) holding that run's
//! task rows in a compact encoding.
//!
//! **Why.** otto.db's task rows carry three paths each; a window of
//! 1,000,000 executions is some 300 MB of pages to read through otto's
//! `idx_tasks_run`, and otto.db is otto's: no index or table of ours may be
//! added to it. The cache holds only what the figures read, ten tasks to a
//! row, so a window is read as its runs' rows plus one cached row a run.
//!
//! **Never stale.** otto.db's run rows of the window are read every time
//! (the figures need them anyway), and a cached entry is used only when its
//! key — the row's `id`, `timestamp`, `status`, `ended_at`,
//! `duration_seconds` and `run_dir` — equals the row read now. Only rows of
//! finished runs (`success`, `failed`) are cached: otto writes a run's task
//! rows while the run runs (`record_task_start`, `record_task_complete`)
//! and then completes the run row (`record_run_complete` sets its status,
//! `ended_at` and duration); a finished run's task rows change only by
//! being deleted with their run row (otto's clean, ours). A run row that
//! changed, a row id reused by a new run, a run still running: read from
//! otto.db, as without a cache. Entries of rows otto.db no longer has are
//! never matched, and are dropped when a whole-history read sees them
//! gone. The cache also records otto.db's schema version: another
//! version empties it.
//!
//! **Never in the way.** The cache is an optimisation: if it cannot be
//! opened, read or written (a full disk, a file that is not ours), the
//! answer comes from otto.db alone and a debug line says why. It is opened
//! without following a symbolic link, in a 0700 directory of ours.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::TaskStatus;
use rusqlite::{Connection, OpenFlags, params};

/// The cache's own format: a change empties it.
const FORMAT: i64 = 1;

/// What a cached entry must equal to be used: the otto.db run row's
/// columns that otto changes when it records anything about the run.
#[derive(Clone, Debug, PartialEq)]
pub struct RowKey {
    /// `runs.timestamp`.
    pub timestamp: i64,
    /// `runs.status`.
    pub status: String,
    /// `runs.ended_at`.
    pub ended_at: Option<i64>,
    /// `runs.duration_seconds`.
    pub duration_seconds: Option<f64>,
    /// `runs.run_dir`.
    pub run_dir: Option<String>,
}

impl RowKey {
    /// Whether the run is finished: its task rows no longer change.
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "success" | "failed")
    }
}

/// One task row, as the figures read it.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedTask {
    /// `tasks.name`.
    pub name: String,
    /// `tasks.status`, read.
    pub status: TaskStatus,
    /// `tasks.exit_code`.
    pub exit_code: Option<i32>,
    /// `tasks.started_at`.
    pub started_at: Option<i64>,
    /// `tasks.duration_seconds`.
    pub duration_seconds: Option<f64>,
    /// `tasks.script_hash`.
    pub script_hash: Option<String>,
}

/// The cache of one otto.db, open.
pub struct Cache {
    conn: Connection,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

/// The cache file of `otto_db` under `dir`.
pub fn path_for(dir: &Path, otto_db: &Path) -> PathBuf {
    use sha2::Digest;
    let canonical = otto_db
        .canonicalize()
        .unwrap_or_else(|_| otto_db.to_path_buf());
    let digest = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("otto-{hex}.db"))
}

impl Cache {
    /// Opens (creating it, and `dir` 0700) the cache of the otto.db whose
    /// schema version is `otto_schema`, emptied when it was made for
    /// another schema or format.
    pub fn open(dir: &Path, otto_db: &Path, otto_schema: i64) -> Result<Cache, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = path_for(dir, otto_db);
        let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NOFOLLOW
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS runs (
                 id INTEGER PRIMARY KEY,
                 timestamp INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 ended_at INTEGER,
                 duration_seconds REAL,
                 run_dir TEXT,
                 tasks BLOB NOT NULL
             );",
        )
        .map_err(err)?;
        let meta = |key: &str| -> Option<i64> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .ok()
        };
        if meta("format") != Some(FORMAT) || meta("otto_schema") != Some(otto_schema) {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; DELETE FROM runs;
                 INSERT OR REPLACE INTO meta VALUES ('format', {FORMAT}), ('otto_schema', {otto_schema});
                 COMMIT;"
            ))
            .map_err(err)?;
        }
        Ok(Cache { conn })
    }

    /// Calls `each` with every cached task of the rows `wanted` (id → the
    /// key read from otto.db now) whose entry matches its key; returns the
    /// ids so answered, and how many entries in their id range matched no
    /// row (rows gone or changed). Tasks are decoded straight into `each`:
    /// a window of a million is not held twice.
    pub fn read(
        &self,
        wanted: &HashMap<i64, RowKey>,
        mut each: impl FnMut(i64, CachedTask),
    ) -> Result<(std::collections::HashSet<i64>, usize), String> {
        let err = |e: rusqlite::Error| format!("cannot read the insights cache: {e}");
        let mut hits = std::collections::HashSet::with_capacity(wanted.len());
        let mut stale = 0;
        let (Some(lo), Some(hi)) = (wanted.keys().min(), wanted.keys().max()) else {
            return Ok((hits, stale));
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, timestamp, status, ended_at, duration_seconds, run_dir, tasks
                 FROM runs WHERE id BETWEEN ?1 AND ?2",
            )
            .map_err(err)?;
        let mut rows = stmt.query([lo, hi]).map_err(err)?;
        let mut tasks = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let id: i64 = row.get(0).map_err(err)?;
            let Some(want) = wanted.get(&id) else {
                stale += 1;
                continue;
            };
            let same = want.timestamp == row.get::<_, i64>(1).map_err(err)?
                && row.get_ref(2).map_err(err)?.as_str().ok() == Some(want.status.as_str())
                && want.ended_at == row.get::<_, Option<i64>>(3).map_err(err)?
                && want.duration_seconds == row.get::<_, Option<f64>>(4).map_err(err)?
                && row.get_ref(5).map_err(err)?.as_str_or_null().ok().flatten()
                    == want.run_dir.as_deref();
            if !same {
                stale += 1;
                continue;
            }
            let blob = row
                .get_ref(6)
                .map_err(err)?
                .as_blob()
                .map_err(|e| err(e.into()))?;
            // An entry that does not decode is not used (and is replaced).
            tasks.clear();
            if decode_into(blob, &mut tasks).is_some() {
                hits.insert(id);
                for t in tasks.drain(..) {
                    each(id, t);
                }
            }
        }
        Ok((hits, stale))
    }

    /// Stores the tasks of finished runs (id, key, tasks), replacing what
    /// was there, in one transaction.
    pub fn write(&mut self, entries: &[(i64, &RowKey, &[CachedTask])]) -> Result<(), String> {
        let err = |e: rusqlite::Error| format!("cannot write the insights cache: {e}");
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO runs
                        (id, timestamp, status, ended_at, duration_seconds, run_dir, tasks)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            for (id, key, tasks) in entries {
                if !key.finished() {
                    continue;
                }
                stmt.execute(params![
                    id,
                    key.timestamp,
                    key.status,
                    key.ended_at,
                    key.duration_seconds,
                    key.run_dir,
                    encode(tasks),
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Drops the entries of rows otto.db no longer has (`present`: every
    /// run id it has now).
    pub fn retain(&mut self, present: &std::collections::HashSet<i64>) -> Result<(), String> {
        let err = |e: rusqlite::Error| format!("cannot write the insights cache: {e}");
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM runs")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        let gone: Vec<i64> = ids.into_iter().filter(|id| !present.contains(id)).collect();
        if gone.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx.prepare("DELETE FROM runs WHERE id = ?1").map_err(err)?;
            for id in gone {
                stmt.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

/// A task status as one byte.
fn status_code(status: TaskStatus) -> u8 {
    match status {
        TaskStatus::Success => 1,
        TaskStatus::Failed => 2,
        TaskStatus::Running => 3,
        TaskStatus::Pending => 4,
        TaskStatus::Skipped => 5,
        TaskStatus::Interrupted => 6,
        _ => 0,
    }
}

fn status_of(code: u8) -> TaskStatus {
    match code {
        1 => TaskStatus::Success,
        2 => TaskStatus::Failed,
        3 => TaskStatus::Running,
        4 => TaskStatus::Pending,
        5 => TaskStatus::Skipped,
        6 => TaskStatus::Interrupted,
        _ => TaskStatus::Unknown,
    }
}

/// Presence bits of a task's optional fields.
const HAS_EXIT: u8 = 1;
const HAS_START: u8 = 2;
const HAS_DURATION: u8 = 4;
const HAS_HASH: u8 = 8;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

/// `tasks` in the cache's encoding: a count, then per task its name, a
/// status byte, a presence byte and the fields present (little endian).
pub fn encode(tasks: &[CachedTask]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + tasks.len() * 48);
    out.extend_from_slice(&u32::try_from(tasks.len()).unwrap_or(0).to_le_bytes());
    for t in tasks {
        put_str(&mut out, &t.name);
        out.push(status_code(t.status));
        let mut flags = 0;
        for (bit, on) in [
            (HAS_EXIT, t.exit_code.is_some()),
            (HAS_START, t.started_at.is_some()),
            (HAS_DURATION, t.duration_seconds.is_some()),
            (HAS_HASH, t.script_hash.is_some()),
        ] {
            if on {
                flags |= bit;
            }
        }
        out.push(flags);
        if let Some(c) = t.exit_code {
            out.extend_from_slice(&c.to_le_bytes());
        }
        if let Some(s) = t.started_at {
            out.extend_from_slice(&s.to_le_bytes());
        }
        if let Some(d) = t.duration_seconds {
            out.extend_from_slice(&d.to_le_bytes());
        }
        if let Some(h) = &t.script_hash {
            put_str(&mut out, h);
        }
    }
    out
}

/// Reads what [`encode`] wrote; `None` for anything else.
pub fn decode(b: &[u8]) -> Option<Vec<CachedTask>> {
    let mut out = Vec::new();
    decode_into(b, &mut out)?;
    Some(out)
}

/// [`decode`] into `out` (appended; `None`: not an encoding, `out` then
/// partly filled).
fn decode_into(mut b: &[u8], out: &mut Vec<CachedTask>) -> Option<()> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = b.split_at_checked(n)?;
        *b = rest;
        Some(head)
    }
    fn u32_at(b: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
    }
    fn str_at(b: &mut &[u8]) -> Option<String> {
        let n = u32_at(b)? as usize;
        String::from_utf8(take(b, n)?.to_vec()).ok()
    }
    let n = u32_at(&mut b)? as usize;
    out.reserve(n.min(4096));
    for _ in 0..n {
        let name = str_at(&mut b)?;
        let status = status_of(*take(&mut b, 1)?.first()?);
        let flags = *take(&mut b, 1)?.first()?;
        let exit_code = if flags & HAS_EXIT != 0 {
            Some(i32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?))
        } else {
            None
        };
        let started_at = if flags & HAS_START != 0 {
            Some(i64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?))
        } else {
            None
        };
        let duration_seconds = if flags & HAS_DURATION != 0 {
            Some(f64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?))
        } else {
            None
        };
        let script_hash = if flags & HAS_HASH != 0 {
            Some(str_at(&mut b)?)
        } else {
            None
        };
        out.push(CachedTask {
            name,
            status,
            exit_code,
            started_at,
            duration_seconds,
            script_hash,
        });
    }
    b.is_empty().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_read_back_as_they_were_written_and_garbage_reads_as_nothing() {
        let tasks = vec![
            CachedTask {
                name: "check:db".into(),
                status: TaskStatus::Failed,
                exit_code: Some(-3),
                started_at: Some(1_790_000_000),
                duration_seconds: Some(2.5),
                script_hash: Some("0d39fdb2".into()),
            },
            CachedTask {
                name: "lint".into(),
                status: TaskStatus::Skipped,
                exit_code: None,
                started_at: None,
                duration_seconds: None,
                script_hash: None,
            },
        ];
        let blob = encode(&tasks);
        assert_eq!(decode(&blob), Some(tasks));
        assert_eq!(decode(&blob[..blob.len() - 1]), None, "truncated");
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None, "trailing bytes");
        assert_eq!(decode(&[]), None);
    }
}
