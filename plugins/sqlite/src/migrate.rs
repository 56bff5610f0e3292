//! Bringing a database to the schema this code knows, one migration per
//! write transaction.
//!
//! Each step runs inside `BEGIN IMMEDIATE` and re-reads the version inside
//! that transaction, so several processes opening the same new (or old)
//! database at once each see either "not yet" (and apply the step, holding
//! the write lock) or "already done" (and skip it). A step that fails is
//! rolled back: the database stays exactly as it was before that step.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{DbError, Result};
use crate::schema::{MIGRATIONS, Migration};
use crate::time;

/// Migrates `conn` to [`LATEST_VERSION`](crate::schema::LATEST_VERSION) with
/// the built-in [`MIGRATIONS`]. Returns the version reached.
pub fn migrate(conn: &mut Connection) -> Result<u32> {
    migrate_with(conn, MIGRATIONS)
}

/// Migrates `conn` with `migrations` (versions 1, 2, … in order). Returns the
/// version reached. Fails, changing nothing, on a database newer than the
/// last migration; a failing step is rolled back and named in the error.
pub fn migrate_with(conn: &mut Connection, migrations: &[Migration]) -> Result<u32> {
    let latest = migrations.last().map_or(0, |m| m.version);
    // The common case (already current) takes no write lock.
    let found = current_version(conn)?;
    check_not_newer(found, latest)?;
    if found == latest {
        return Ok(found);
    }
    for m in migrations {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = current_version(&tx)?;
        check_not_newer(version, latest)?;
        if version >= m.version {
            continue; // another process got here first; dropping `tx` rolls back nothing
        }
        if version + 1 != m.version {
            return Err(DbError::Schema(format!(
                "history.db is schema version {version} but the next migration is to version {}; \
                 the migration list has a gap",
                m.version
            )));
        }
        let applied = (m.apply)(&tx).and_then(|()| record_version(&tx, m.version));
        match applied {
            Ok(()) => tx.commit()?,
            Err(e) => {
                // Dropping the transaction rolls it back; say so explicitly.
                tx.rollback()?;
                return Err(DbError::Schema(format!(
                    "migrating history.db to schema version {} ({}) failed, database left at version {version}: {e}",
                    m.version, m.description
                )));
            }
        }
        tracing::debug!(version = m.version, "history.db migrated");
    }
    Ok(latest)
}

/// The schema version of the database behind `conn`: the highest version in
/// `schema_version`; 1 for a database with the version-1 tables but no
/// `schema_version` (one written by another tool to the FORMATS.md design);
/// 0 for an empty database.
pub fn current_version(conn: &Connection) -> Result<u32> {
    if table_exists(conn, "schema_version")? {
        let v: Option<i64> =
            conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
        if let Some(v) = v {
            return u32::try_from(v).map_err(|_| {
                DbError::Schema(format!("history.db has an impossible schema version {v}"))
            });
        }
    }
    Ok(if table_exists(conn, "runs")? { 1 } else { 0 })
}

fn check_not_newer(found: u32, latest: u32) -> Result<()> {
    if found > latest {
        return Err(DbError::Schema(format!(
            "history.db is schema version {found}; this otto-hooks knows up to {latest} — upgrade otto-hooks"
        )));
    }
    Ok(())
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn record_version(conn: &Connection, version: u32) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        )",
    )?;
    let now = time::format_time(otto_hooks_plugin_api::Timestamp::now())?;
    conn.execute(
        "INSERT OR REPLACE INTO schema_version (version, applied_at) VALUES (?1, ?2)",
        rusqlite::params![version, now],
    )?;
    Ok(())
}
