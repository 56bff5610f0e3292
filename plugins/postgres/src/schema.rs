//! The PostgreSQL schema, as versioned migrations applied exactly once.
//!
//! Same tables as history.db (`runs` with its summary columns, `events`,
//! `graphs`, `schema_version`), with two differences that matter:
//!
//! - Times are TEXT in history.db's stored form (RFC 3339 UTC, nine
//!   fractional digits, fixed width) with `COLLATE "C"`, so text order is
//!   time order whatever the database's locale, and nanoseconds survive a
//!   copy (`timestamptz` keeps microseconds only). Ids and paths are
//!   `COLLATE "C"` too: keyset pages order exactly as in SQLite.
//! - `events` has `UNIQUE (run_id, seq)`: the per-run row lock keeps seq
//!   contiguous, and the constraint makes a duplicate impossible even so.
//!
//! [`migrate`] runs under a session advisory lock ([`MIGRATION_LOCK`]), so
//! several daemons starting at once against one database apply each
//! migration exactly once: the first takes the lock and migrates, the
//! others wait, then find the schema current.

use otto_hooks_sqlite::DbError;
use postgres::Client;

use crate::error::pg;

/// The advisory lock key migrations hold (`pg_advisory_lock`): "otto-hooks"
/// in ASCII, so it is recognisable in `pg_locks`.
pub const MIGRATION_LOCK: i64 = 0x6f74_746f_2d68_6f6f;

/// One step of the schema, applied in a transaction that also records it.
#[derive(Debug, Clone, Copy)]
pub struct PgMigration {
    /// The version the database has once it is applied (1, 2, …).
    pub version: i32,
    /// What it does, for messages.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[PgMigration] = &[
    PgMigration {
        version: 1,
        description: "create runs, events and graphs",
        sql: V1_SQL,
    },
    PgMigration {
        version: 2,
        description: "commit-ordered feed positions and unit-event indexes",
        sql: V2_SQL,
    },
];

/// The newest schema version this code knows.
pub const LATEST_VERSION: i32 = 2;

const V1_SQL: &str = r#"
CREATE TABLE runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    project TEXT COLLATE "C" NOT NULL,
    repo_path TEXT COLLATE "C" NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL,
    completed_at TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL DEFAULT 'running',
    parallelism BIGINT NOT NULL,
    total_units BIGINT NOT NULL,
    completed_units BIGINT NOT NULL DEFAULT 0,
    failed_units BIGINT NOT NULL DEFAULT 0,
    blocked_units BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    tasks_dir TEXT,
    dry_run BOOLEAN NOT NULL DEFAULT FALSE,
    last_seq BIGINT NOT NULL DEFAULT 0,
    event_count BIGINT NOT NULL DEFAULT 0,
    resume_count BIGINT NOT NULL DEFAULT 0,
    active_ms BIGINT NOT NULL DEFAULT 0,
    active_since TEXT COLLATE "C",
    updated_at TEXT COLLATE "C"
);
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    time TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    unit TEXT COLLATE "C",
    task BIGINT,
    pr BIGINT,
    payload TEXT,
    error TEXT,
    CONSTRAINT events_run_seq UNIQUE (run_id, seq)
);
CREATE TABLE graphs (
    run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    nodes TEXT NOT NULL,
    edges TEXT NOT NULL,
    levels TEXT NOT NULL
);
CREATE INDEX idx_runs_started_at ON runs (started_at DESC, id DESC);
CREATE INDEX idx_runs_project ON runs (project, started_at DESC, id DESC);
CREATE INDEX idx_runs_repo ON runs (repo_path, started_at DESC, id DESC);
CREATE INDEX idx_runs_ended ON runs ((COALESCE(completed_at, started_at))) WHERE status <> 'running';
"#;

/// Version 2 (the all-runs feed, the insights):
///
/// - `events.tx`, the id of the transaction that stored the event
///   (`pg_current_xact_id()`): the feed is ordered by `(tx, id)` and shows
///   only events whose transaction is older than every open one
///   (module `feed`). Rows stored before it get `tx` 1 (older than any real
///   transaction) without rewriting the table: a constant default is
///   recorded once, then the default becomes the function for new rows.
/// - Two partial indexes over the `unit.*` events only (a few per unit in
///   a run, not the task events that make most of the table): by run and
///   seq (a window's executions), by unit and time (one task's history).
///
/// Needs PostgreSQL 13 or later (`xid8`).
const V2_SQL: &str = r#"
ALTER TABLE events ADD COLUMN tx xid8 NOT NULL DEFAULT '1';
ALTER TABLE events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE INDEX idx_events_feed ON events (tx, id);
CREATE INDEX idx_events_unit_run ON events (run_id, seq)
    WHERE unit IS NOT NULL AND type >= 'unit.' AND type < 'unit/';
CREATE INDEX idx_events_unit_time ON events (unit, time)
    WHERE unit IS NOT NULL AND type >= 'unit.' AND type < 'unit/';
"#;

/// The schema version of the database (0 when it has none).
pub fn current_version(client: &mut Client) -> Result<i32, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(pg)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .map_err(pg)?
        .get(0))
}

/// Brings the database to [`LATEST_VERSION`], each missing migration in its
/// own transaction, under [`MIGRATION_LOCK`]. Fails with `Schema` when the
/// database is newer than this code.
pub fn migrate(client: &mut Client) -> Result<(), DbError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    let result = migrate_locked(client);
    // Unlock even after a failure; a lost connection releases it anyway.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result?;
    unlocked.map_err(pg)?;
    Ok(())
}

fn migrate_locked(client: &mut Client) -> Result<(), DbError> {
    // Only when missing: `CREATE TABLE IF NOT EXISTS` needs CREATE on the
    // schema even when the table exists, which a DML-only role (the guide's
    // least privilege) does not have.
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(pg)?
        .get(0);
    if !exists {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (
                    version INTEGER PRIMARY KEY,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    applied_by TEXT NOT NULL DEFAULT ''
                )",
            )
            .map_err(|e| needs_owner(&e).unwrap_or_else(|| pg(e)))?;
    }
    let current = current_version(client)?;
    if current > LATEST_VERSION {
        return Err(DbError::Schema(format!(
            "the PostgreSQL history has schema version {current}, newer than this otto-hooks \
             knows ({LATEST_VERSION}): upgrade otto-hooks"
        )));
    }
    let by = format!(
        "otto-hooks {} pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |e: postgres::Error| {
            if let Some(owner) = needs_owner(&e) {
                return owner;
            }
            DbError::Schema(format!(
                "PostgreSQL history migration {} ({}) failed: {}",
                m.version,
                m.description,
                crate::error::describe(&e)
            ))
        };
        let mut tx = client.transaction().map_err(failed)?;
        tx.batch_execute(m.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_by) VALUES ($1, $2)",
            &[&m.version, &by],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(
            version = m.version,
            "PostgreSQL history: applied migration {}",
            m.description
        );
    }
    Ok(())
}

/// A migration refused for lack of privilege: the role is a DML-only one
/// (docs/TEAM-HISTORY.md, "Least privilege"), and the owner must migrate.
fn needs_owner(e: &postgres::Error) -> Option<DbError> {
    let db = e.as_db_error()?;
    (*db.code() == postgres::error::SqlState::INSUFFICIENT_PRIVILEGE).then(|| {
        DbError::Schema(format!(
            "the PostgreSQL history needs its tables created or migrated to version \
             {LATEST_VERSION}, and this role may not ({}): start otto-hooks once as the \
             database's owner role (docs/TEAM-HISTORY.md)",
            db.message()
        ))
    })
}
