//! Opening connections: the pragmas every history.db connection gets.
//!
//! The bundled SQLite must be 3.51.2 or later ([`MIN_SQLITE`]): 3.51.1's
//! unix VFS could deadlock when two connections to one WAL database
//! closed at once on two threads (`unixClose` holding the global VFS mutex
//! and waiting for the file's lock mutex, a WAL close holding that one and
//! waiting for the global one; rusqlite issue 1860). The daemon's stop hung
//! on it once on CI. `HistoryDb` also closes its readers before its writer.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::error::{DbError, Result};

/// The oldest SQLite these connections are made with (3.51.2, as
/// `sqlite3_libversion_number` writes it): see the module docs.
pub const MIN_SQLITE: i32 = 3_051_002;

/// How a [`HistoryDb`](crate::HistoryDb) behaves. `Options::default()` is
/// what otto-hooks uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to wait for another process's write lock (`busy_timeout`).
    pub busy_timeout: Duration,
    /// Most commands committed in one write transaction.
    pub max_group_commands: usize,
    /// Most events committed in one write transaction (a command is never split).
    pub max_group_events: usize,
    /// Run `wal_checkpoint(PASSIVE)` after this many commits (0: never; SQLite's
    /// own auto-checkpoint still runs).
    pub checkpoint_every: u32,
    /// Read-only connections kept open for reuse.
    pub read_pool: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: Duration::from_millis(5000),
            max_group_commands: 64,
            max_group_events: 10_000,
            checkpoint_every: 256,
            read_pool: 4,
        }
    }
}

/// Opens (creating it when missing) the read-write connection: `busy_timeout`,
/// `auto_vacuum=INCREMENTAL` when the file is new, `journal_mode=WAL`,
/// `synchronous=NORMAL`, `foreign_keys=ON`.
pub fn open_write(path: &Path, options: &Options) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError::from(e).at(path))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| DbError::from(e).at(path))?;
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| DbError::from(e).at(path))?;
    if pages == 0 {
        // Must come before the first table exists (and before WAL writes the
        // header): afterwards only a full VACUUM could change it.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .map_err(|e| DbError::from(e).at(path))?;
    }
    set_wal(&conn, options.busy_timeout).map_err(|e| e.at(path))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(|e| DbError::from(e).at(path))?;
    Ok(conn)
}

/// Opens a read-only connection (`query_only`, same `busy_timeout`).
pub fn open_read(path: &Path, options: &Options) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError::from(e).at(path))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| DbError::from(e).at(path))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")
        .map_err(|e| DbError::from(e).at(path))?;
    Ok(conn)
}

/// Switches to WAL. Changing the journal mode can fail with SQLITE_BUSY
/// without calling the busy handler while another process opens the same new
/// file, so it is retried here until the busy timeout.
fn set_wal(conn: &Connection, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(DbError::Sqlite(format!(
                    "could not switch to WAL (journal mode stays {mode}); is the file on a network file system?"
                )));
            }
            Err(e) => {
                let err = DbError::from(e);
                if matches!(err, DbError::Busy(_)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod sqlite_version {
    use super::MIN_SQLITE;

    #[test]
    fn the_bundled_sqlite_has_the_close_deadlock_fixed() {
        assert!(
            rusqlite::version_number() >= MIN_SQLITE,
            "SQLite {} deadlocks when two WAL connections close at once; bundle {MIN_SQLITE} or later (rusqlite 0.39+)",
            rusqlite::version()
        );
    }
}
