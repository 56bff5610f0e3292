//! A derived cache of otto.db's task rows, for `stats` and `flaky`:
//! `$OTTO_HOOKS_HOME/insights/otto-<hash of otto.db's path>.db`, one
//! *block* per UTC day holding the task rows of that day's finished runs
//! (by the run's `timestamp`) in a compact columnar encoding.
//!
//! **Why.** otto.db's task rows carry three paths each; a window of
//! 1,000,000 executions is some 300 MB of pages to read through otto's
//! `idx_tasks_run`, and otto.db is otto's: no index or table of ours may be
//! added to it. A block holds only what the figures read — per execution
//! 34 bytes and numbers into the block's own name table — so a window is
//! read as its run rows plus one row per day, decoded without an
//! allocation per execution (module [`super::frame`]).
//!
//! **Never stale.** otto.db's run rows of the window's days are read every
//! time (the figures need them anyway), in the same read transaction as
//! anything read from otto.db's task rows. A block records a *fingerprint*
//! of the day's finished runs (`success`, `failed`): SHA-256 over each
//! run's `id`, `timestamp`, `status`, `ended_at`, `duration_seconds` and
//! `run_dir`, in start (then id) order. A block is used only when the fingerprint of the
//! rows read now is the same; a day where a run was added, changed (its row
//! completed, its status rewritten), deleted, or an id reused is read from
//! otto.db again and its block replaced. Runs not finished are never in a
//! block: they are read from otto.db every time. otto writes a run's task
//! rows while the run runs (`record_task_start`, `record_task_complete`)
//! and then completes the run row (`record_run_complete` sets its status,
//! `ended_at` and duration); a finished run's task rows change only by
//! being deleted with their run row (otto's clean, ours), which changes
//! the day's fingerprint. Blocks of days a read finds without finished runs
//! are dropped. The cache also records otto.db's schema version and its
//! own format: another version empties it.
//!
//! **history.db too.** The same blocks, [`Cache`] and encoding serve the
//! SQLite history's cache (`history-<hash of history.db's path>.db`, module
//! [`super::recorded`]): a block per UTC day of the day's `unit_executions`
//! rows, checked against the day's runs rows (`id`, `started_at`, `status`,
//! `last_seq`, `event_count`); there a block's run "ids" are numbers of the
//! run id texts in the block's names.
//!
//! **Never in the way.** The cache is an optimisation: if it cannot be
//! opened, read or written (a full disk, a file that is not ours), the
//! answer comes from otto.db alone and a debug line says why. It is one of
//! our own state files: 0600 (its `-journal`, `-wal` and `-shm` too) in a 0700
//! directory of ours, a link or FIFO planted there refused, never followed
//! or written through.

use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::TaskStatus;
use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

use super::frame::{FastMap, Interner, NONE};

/// The cache's own format: a change empties it (1: a row per run).
const FORMAT: i64 = 2;

/// A day, in seconds.
pub const DAY: i64 = 86_400;

/// What a run row must still be for its day's block to be used: the
/// otto.db run row's columns that otto changes when it records anything
/// about the run.
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

    /// The day its run is kept under.
    pub fn day(&self) -> i64 {
        self.timestamp.div_euclid(DAY)
    }

    /// Feeds the row `id` with this key into a day's fingerprint.
    pub fn feed(&self, id: i64, h: &mut Sha256) {
        h.update(id.to_le_bytes());
        h.update(self.timestamp.to_le_bytes());
        h.update((self.status.len() as u64).to_le_bytes());
        h.update(self.status.as_bytes());
        match self.ended_at {
            Some(e) => {
                h.update([1]);
                h.update(e.to_le_bytes());
            }
            None => h.update([0]),
        }
        match self.duration_seconds {
            Some(d) => {
                h.update([1]);
                h.update(d.to_bits().to_le_bytes());
            }
            None => h.update([0]),
        }
        match &self.run_dir {
            Some(d) => {
                h.update([1]);
                h.update((d.len() as u64).to_le_bytes());
                h.update(d.as_bytes());
            }
            None => h.update([0]),
        }
    }
}

/// One task row as read, borrowing its texts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskRow<'a> {
    /// `tasks.name`.
    pub name: &'a str,
    /// `tasks.status`, read.
    pub status: TaskStatus,
    /// `tasks.exit_code`.
    pub exit_code: Option<i32>,
    /// `tasks.started_at`.
    pub started_at: Option<i64>,
    /// `tasks.duration_seconds`.
    pub duration_seconds: Option<f64>,
    /// `tasks.script_hash`.
    pub script_hash: Option<&'a str>,
}

/// The cache of one otto.db, open.
pub struct Cache {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

/// The cache file of `otto_db` under `dir`.
pub fn path_for(dir: &Path, otto_db: &Path) -> PathBuf {
    path_of(dir, "otto", otto_db)
}

/// The cache file of the database `source` of kind `kind` (`otto`,
/// `history`) under `dir`: `<kind>-<hash of its canonical path>.db`.
pub fn path_of(dir: &Path, kind: &str, source: &Path) -> PathBuf {
    let canonical = source
        .canonicalize()
        .unwrap_or_else(|_| source.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{kind}-{hex}.db"))
}

impl Cache {
    /// Opens (creating it, and `dir` 0700) the cache of the otto.db whose
    /// schema version is `otto_schema`, emptied when it was made for
    /// another schema or format.
    pub fn open(dir: &Path, otto_db: &Path, otto_schema: i64) -> Result<Cache, String> {
        Cache::open_for(dir, "otto", otto_db, otto_schema)
    }

    /// Opens the cache of the database `source` of kind `kind` (see
    /// [`path_of`]) whose schema version is `schema`, emptied when it was
    /// made for another schema or format.
    pub fn open_for(dir: &Path, kind: &str, source: &Path, schema: i64) -> Result<Cache, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = own_cache_file(dir, &path_of(dir, kind, source))?;
        let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let ready = |path: &Path| -> rusqlite::Result<Connection> {
            let conn = connect(path)?;
            // A row missing (or not a number) is another format; an error
            // of SQLite's (the file busy past the timeout) is not, and must
            // not empty the cache.
            let meta = |key: &str| -> rusqlite::Result<Option<i64>> {
                use rusqlite::OptionalExtension;
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                    Ok(r.get::<_, i64>(0).ok())
                })
                .optional()
                .map(Option::flatten)
            };
            if meta("format")? != Some(FORMAT) || meta("source_schema")? != Some(schema) {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; DROP TABLE IF EXISTS runs; DELETE FROM days;
                     INSERT OR REPLACE INTO meta VALUES ('format', {FORMAT}), ('source_schema', {schema});
                     COMMIT;"
                ))?;
            }
            Ok(conn)
        };
        let conn = match ready(&path) {
            // Not a database (garbage, a damaged header or page): it is
            // ours and derived, so it is made again rather than left in
            // the way.
            Err(e) if damaged(&e) => {
                tracing::debug!("{}: {e}: made again", path.display());
                remove_cache_file(&path).map_err(|e| format!("cannot remove {e}"))?;
                ready(&own_cache_file(dir, &path)?).map_err(err)?
            }
            other => other.map_err(err)?,
        };
        Ok(Cache { conn, path })
    }

    /// The one-line error of a failed `what` (read, write), after removing
    /// the file when SQLite found it damaged: it is derived (made again
    /// by the next call) and written without waiting for the disk
    /// ([`connect`]), so a crash of the machine may leave it so.
    fn failed(&self, what: &str, e: &rusqlite::Error) -> String {
        if damaged(e) {
            if let Err(e) = remove_cache_file(&self.path) {
                tracing::debug!("cannot remove {e}");
            }
        }
        format!(
            "cannot {what} the insights cache {}: {e}",
            self.path.display()
        )
    }

    /// Calls `each` with every block of days `lo..=hi`: its day,
    /// fingerprint and data.
    pub fn read(
        &self,
        lo: i64,
        hi: i64,
        mut each: impl FnMut(i64, &[u8], &[u8]),
    ) -> Result<(), String> {
        self.read_rows(lo, hi, &mut each)
            .map_err(|e| self.failed("read", &e))
    }

    fn read_rows(
        &self,
        lo: i64,
        hi: i64,
        each: &mut impl FnMut(i64, &[u8], &[u8]),
    ) -> rusqlite::Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT day, fingerprint, data FROM days WHERE day BETWEEN ?1 AND ?2")?;
        let mut rows = stmt.query([lo, hi])?;
        while let Some(row) = rows.next()? {
            let day: i64 = row.get(0)?;
            let fp = row.get_ref(1)?.as_blob()?;
            let data = row.get_ref(2)?.as_blob()?;
            each(day, fp, data);
        }
        Ok(())
    }

    /// Stores blocks (day, fingerprint, data), replacing what was there,
    /// and drops the blocks of days `gone`, in one transaction.
    pub fn write(
        &mut self,
        blocks: &[(i64, [u8; 32], Vec<u8>)],
        gone: &[i64],
    ) -> Result<(), String> {
        if blocks.is_empty() && gone.is_empty() {
            return Ok(());
        }
        self.write_rows(blocks, gone)
            .map_err(|e| self.failed("write", &e))
    }

    fn write_rows(
        &mut self,
        blocks: &[(i64, [u8; 32], Vec<u8>)],
        gone: &[i64],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare(
                "INSERT OR REPLACE INTO days (day, fingerprint, data) VALUES (?1, ?2, ?3)",
            )?;
            for (day, fp, data) in blocks {
                put.execute(params![day, &fp[..], data])?;
            }
            let mut drop = tx.prepare("DELETE FROM days WHERE day = ?1")?;
            for day in gone {
                drop.execute([day])?;
            }
        }
        tx.commit()
    }
}

impl Cache {
    /// Encodes and stores `blocks` (day, fingerprint, block) and drops the
    /// blocks of days `gone` ([`Cache::write`]) on a thread of its own, so
    /// that the figures are computed from the frame meanwhile; `hold` (a
    /// filler's turn) is given back once they are written. The write is
    /// waited for when the returned [`PendingWrite`] is dropped (with the
    /// frame that carries it). A failure is a debug line: the cache is
    /// only an optimisation.
    pub fn write_in_background(
        self,
        blocks: Vec<(i64, [u8; 32], Block)>,
        gone: Vec<i64>,
        hold: impl Send + 'static,
    ) -> PendingWrite {
        if blocks.is_empty() && gone.is_empty() {
            return PendingWrite::default();
        }
        let mut cache = self;
        let job = move || {
            let encoded: Vec<(i64, [u8; 32], Vec<u8>)> = blocks
                .into_iter()
                .map(|(day, fp, block)| (day, fp, block.encode()))
                .collect();
            if let Err(e) = cache.write(&encoded, &gone) {
                tracing::debug!("{e}");
            }
            // Closed (its locks released) before the turn is given back.
            drop(cache);
            drop(hold);
        };
        match std::thread::Builder::new()
            .name("insights-cache".into())
            .spawn(job)
        {
            Ok(handle) => PendingWrite(Some(std::sync::Arc::new(Writer(Some(handle))))),
            Err(e) => {
                tracing::debug!("the insights cache is not written: cannot start a thread: {e}");
                PendingWrite::default()
            }
        }
    }
}

/// A write of blocks into a cache in progress ([`Cache::write_in_background`]),
/// waited for when the last clone of it is dropped.
#[derive(Clone, Default)]
pub struct PendingWrite(Option<std::sync::Arc<Writer>>);

impl std::fmt::Debug for PendingWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "PendingWrite(writing)"
        } else {
            "PendingWrite(none)"
        })
    }
}

/// The thread writing, joined when dropped.
struct Writer(Option<std::thread::JoinHandle<()>>);

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            if handle.join().is_err() {
                tracing::debug!("the insights cache writer panicked; the cache is not written");
            }
        }
    }
}

/// Whether SQLite found the file damaged (or not a database at all).
fn damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Removes the cache file `path` and the files SQLite keeps beside it; an
/// error names the file it could not remove.
fn remove_cache_file(path: &Path) -> Result<(), String> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", Path::new(&p).display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Opens the cache file `path` (checked by [`own_cache_file`]), its tables
/// made.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A rollback journal, not a write-ahead log: a first fill writes tens
    // of megabytes of new pages, which a log writes twice (the log, then
    // its checkpoint) and a rollback journal once (new pages past the end
    // of the file are not journaled). A file still in WAL mode from an
    // older version, open elsewhere, stays so until it is not.
    let _ = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    });
    // Nor is it written to the disk before going on (a first fill's fsync
    // of tens of megabytes costs a sixth of the call): the cache is
    // derived. A crash of the process leaves it whole (SQLite's journal
    // still rolls an unfinished write back); a crash of the machine may
    // damage it, and a damaged file is removed and made again
    // ([`Cache::open_for`], [`Cache::failed`]); a damaged block fails its
    // checksum, a damaged fingerprint matches nothing.
    conn.execute_batch(
        "PRAGMA synchronous = OFF;
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS days (
             day INTEGER PRIMARY KEY,
             fingerprint BLOB NOT NULL,
             data BLOB NOT NULL
         );",
    )?;
    Ok(conn)
}

/// Checks the cache file `path` in `dir` as one of our own state files
/// ([`crate::own_files`]) before SQLite opens it, and returns the path to
/// give SQLite: `dir` must be a directory (not a link) of ours, made
/// private (0700: group and others' bits cleared); the file, created 0600
/// when missing, and its `-journal`, `-wal` and `-shm` when present, must be regular
/// files of ours with one link, made private (0600) too (SQLite
/// creates them with the file's mode). A link or FIFO
/// planted there is refused, never written through or waited on. The path
/// returned has `dir`'s ancestors resolved: SQLite refuses any path with a
/// symbolic link in it, and a home under a linked directory (`/home ->
/// /var/home`) would never get a cache.
fn own_cache_file(dir: &Path, path: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot examine {}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return Err(format!(
            "{}: refused: not a directory of ours (remove it)",
            dir.display()
        ));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(format!(
            "{}: refused: it is owned by uid {}, not by you (remove it)",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        // Only taken from others: a user's own `chmod u-w` stays.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(meta.mode() & 0o700))
            .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
    }
    let real = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    let path = real.join(path.file_name().unwrap_or_default());
    let uid = rustix::process::geteuid().as_raw();
    // Checked on lstat, not opened: closing a descriptor of a file drops
    // this process's POSIX locks on it, SQLite's included. Only a file in
    // the way, or one to make private, is opened (as our own files are).
    let check = |p: &Path, create: bool| -> Result<(), String> {
        let own = |create_mode| {
            crate::own_files::open(p, crate::own_files::Access::ReadWrite, create_mode)
        };
        match std::fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if create {
                    drop(own(Some(0o600))?);
                }
                Ok(())
            }
            Err(e) => Err(format!("cannot examine {}: {e}", p.display())),
            Ok(m) if !m.file_type().is_file() || m.nlink() != 1 || m.uid() != uid => {
                drop(own(None)?);
                Err(format!(
                    "{}: refused: not a file of ours (remove it)",
                    p.display()
                ))
            }
            Ok(m) if m.mode() & 0o077 != 0 => {
                let file = own(None)?;
                rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(m.mode() & 0o700))
                    .map_err(|e| format!("cannot make {} private: {e}", p.display()))
            }
            Ok(_) => Ok(()),
        }
    };
    check(&path, true)?;
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut side = path.clone().into_os_string();
        side.push(suffix);
        check(Path::new(&side), false)?;
    }
    Ok(path)
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

/// The bytes of one execution in a block.
const RECORD: usize = 34;

/// The block encoding's own version (its first byte; 2: a checksum).
const BLOCK_VERSION: u8 = 2;

/// A day's block being built: the task rows of its finished runs.
#[derive(Debug, Default)]
pub struct Block {
    strings: Interner,
    runs: Vec<i64>,
    run_pos: FastMap<i64, u32>,
    records: Vec<u8>,
}

impl Block {
    /// The number of `s` in the block's names (a run id that is text is
    /// kept so: its number is its key).
    pub fn string(&mut self, s: &str) -> u32 {
        self.strings.id(s)
    }

    /// Adds task row `t` of run `id`.
    pub fn push(&mut self, id: i64, t: &TaskRow<'_>) {
        let pos = self.run(id);
        let name = self.strings.id(t.name);
        self.push_at(pos, name, t);
    }

    /// The position of run `id` in the block, added if new (for
    /// [`Block::push_at`]).
    pub fn run(&mut self, id: i64) -> u32 {
        *self.run_pos.entry(id).or_insert_with(|| {
            self.runs.push(id);
            (self.runs.len() - 1) as u32
        })
    }

    /// [`Block::push`] of the run at `pos` ([`Block::run`]), its name
    /// already numbered `name` ([`Block::string`]).
    pub fn push_at(&mut self, pos: u32, name: u32, t: &TaskRow<'_>) {
        let hash = t.script_hash.map_or(NONE, |h| self.strings.id(h));
        let mut flags = 0;
        for (bit, on) in [
            (HAS_EXIT, t.exit_code.is_some()),
            (HAS_START, t.started_at.is_some()),
            (HAS_DURATION, t.duration_seconds.is_some()),
        ] {
            if on {
                flags |= bit;
            }
        }
        let r = &mut self.records;
        r.extend_from_slice(&pos.to_le_bytes());
        r.extend_from_slice(&name.to_le_bytes());
        r.extend_from_slice(&hash.to_le_bytes());
        r.push(status_code(t.status));
        r.push(flags);
        r.extend_from_slice(&t.exit_code.unwrap_or(0).to_le_bytes());
        r.extend_from_slice(&t.started_at.unwrap_or(0).to_le_bytes());
        r.extend_from_slice(&t.duration_seconds.unwrap_or(0.0).to_bits().to_le_bytes());
    }

    /// The block's encoding: a version byte; its names (a count, then each
    /// as a length and UTF-8 bytes); its run ids (a count, then each); its
    /// executions (a count, then [`RECORD`] bytes each: run position, name,
    /// script hash (`u32::MAX`: none), status, presence bits, exit code,
    /// start, duration bits), all little endian; then the CRC-32 of all
    /// that (a block damaged on disk is not believed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.runs.len() * 8 + self.records.len());
        out.push(BLOCK_VERSION);
        out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        for i in 0..self.strings.len() {
            let s = self.strings.name(i as u32);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(self.runs.len() as u32).to_le_bytes());
        for id in &self.runs {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(&((self.records.len() / RECORD) as u32).to_le_bytes());
        out.extend_from_slice(&self.records);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// One execution of a decoded block, its names numbers of the block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTask {
    /// Its run: an index into [`BlockView::runs`].
    pub run: u32,
    /// Its name, in [`BlockView::strings`].
    pub name: u32,
    /// Its script hash, in [`BlockView::strings`] ([`NONE`]: none).
    pub hash: u32,
    /// Its status.
    pub status: TaskStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Its start.
    pub started_at: Option<i64>,
    /// Its duration.
    pub duration_seconds: Option<f64>,
}

/// A block read back, borrowing its data.
#[derive(Debug)]
pub struct BlockView<'a> {
    /// Its names.
    pub strings: Vec<&'a str>,
    /// Its run ids.
    pub runs: Vec<i64>,
    records: &'a [u8],
}

impl<'a> BlockView<'a> {
    /// Reads what [`Block::encode`] wrote; `None` for anything else (names
    /// out of range, a checksum that does not match included).
    pub fn decode(data: &'a [u8]) -> Option<BlockView<'a>> {
        let (mut b, crc) = data.split_last_chunk::<4>()?;
        if crc32fast::hash(b) != u32::from_le_bytes(*crc) {
            return None;
        }
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = b.split_at_checked(n)?;
            *b = rest;
            Some(head)
        }
        fn u32_at(b: &mut &[u8]) -> Option<u32> {
            Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
        }
        if *take(&mut b, 1)?.first()? != BLOCK_VERSION {
            return None;
        }
        let n = u32_at(&mut b)? as usize;
        let mut strings = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let len = u32_at(&mut b)? as usize;
            strings.push(std::str::from_utf8(take(&mut b, len)?).ok()?);
        }
        let n = u32_at(&mut b)? as usize;
        let ids = take(&mut b, n.checked_mul(8)?)?;
        let runs: Vec<i64> = ids
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let n = u32_at(&mut b)? as usize;
        let records = take(&mut b, n.checked_mul(RECORD)?)?;
        if !b.is_empty() {
            return None;
        }
        let view = BlockView {
            strings,
            runs,
            records,
        };
        // Every number in range: reading never fails halfway.
        let ok = view.tasks().all(|t| {
            (t.run as usize) < view.runs.len()
                && (t.name as usize) < view.strings.len()
                && (t.hash == NONE || (t.hash as usize) < view.strings.len())
        });
        ok.then_some(view)
    }

    /// How many executions it holds.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Its executions.
    pub fn tasks(&self) -> impl Iterator<Item = BlockTask> + '_ {
        self.records.chunks_exact(RECORD).map(|r| {
            let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            let u64_at = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&r[i..i + 8]);
                u64::from_le_bytes(b)
            };
            let flags = r[13];
            BlockTask {
                run: u32_at(0),
                name: u32_at(4),
                hash: u32_at(8),
                status: status_of(r[12]),
                exit_code: (flags & HAS_EXIT != 0).then(|| u32_at(14) as i32),
                started_at: (flags & HAS_START != 0).then(|| u64_at(18) as i64),
                duration_seconds: (flags & HAS_DURATION != 0).then(|| f64::from_bits(u64_at(26))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_as_it_was_written_and_garbage_reads_as_nothing() {
        let rows = [
            (
                7,
                TaskRow {
                    name: "check:db",
                    status: TaskStatus::Failed,
                    exit_code: Some(-3),
                    started_at: Some(1_790_000_000),
                    duration_seconds: Some(2.5),
                    script_hash: Some("0d39fdb2"),
                },
            ),
            (
                9,
                TaskRow {
                    name: "lint",
                    status: TaskStatus::Skipped,
                    exit_code: None,
                    started_at: None,
                    duration_seconds: None,
                    script_hash: None,
                },
            ),
            (
                7,
                TaskRow {
                    name: "lint",
                    status: TaskStatus::Success,
                    exit_code: Some(0),
                    started_at: Some(-5),
                    duration_seconds: Some(-0.0),
                    script_hash: Some("0d39fdb2"),
                },
            ),
        ];
        let mut block = Block::default();
        for (id, t) in &rows {
            block.push(*id, t);
        }
        let data = block.encode();
        let view = BlockView::decode(&data).expect("decodes");
        let back: Vec<(i64, TaskRow<'_>)> = view
            .tasks()
            .map(|t| {
                (
                    view.runs[t.run as usize],
                    TaskRow {
                        name: view.strings[t.name as usize],
                        status: t.status,
                        exit_code: t.exit_code,
                        started_at: t.started_at,
                        duration_seconds: t.duration_seconds,
                        script_hash: (t.hash != NONE).then(|| view.strings[t.hash as usize]),
                    },
                )
            })
            .collect();
        assert_eq!(back, rows);
        assert_eq!(
            back[2].1.duration_seconds.map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert!(
            BlockView::decode(&data[..data.len() - 1]).is_none(),
            "truncated"
        );
        let mut longer = data.clone();
        longer.push(0);
        assert!(BlockView::decode(&longer).is_none(), "trailing bytes");
        assert!(BlockView::decode(&[]).is_none());
        // A byte changed (a status, still well formed): the checksum.
        let mut bad = data.clone();
        let at = bad.len() - 4 - RECORD + 12;
        bad[at] = 2;
        assert!(BlockView::decode(&bad).is_none(), "a status changed");
        // A name out of range, the checksum made to match.
        let mut bad = data[..data.len() - 4].to_vec();
        let at = bad.len() - RECORD + 4;
        bad[at] = 200;
        let crc = crc32fast::hash(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert!(BlockView::decode(&bad).is_none(), "a name out of range");
    }
}
