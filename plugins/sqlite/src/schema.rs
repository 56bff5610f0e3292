//! The history.db schema, as a list of versioned [`Migration`]s.
//!
//! - **Version 1** is the design of FORMATS.md exactly (`runs`, `events`,
//!   `graphs` and their three indexes): what choo's own history store would
//!   have created, so that such a database opens here unchanged.
//! - **Version 2** adds summary columns on `runs` (`project`, `last_seq`,
//!   `event_count`, `resume_count`, `active_ms`, `active_since`,
//!   `updated_at`) so that listing runs never reads `events`, an index on
//!   `(project, started_at DESC)`, rewrites times into the stored form (see
//!   [`crate::time`]) and backfills the summaries from the events already
//!   there.
//! - **Version 3** adds a partial index on the unit events,
//!   `(unit, time)` where `unit` is set, so that one unit's executions
//!   across runs (`otto-hooks history TASK`, the history insights) are read
//!   without scanning every event.
//! - **Version 4** adds `unit_executions`, one row per unit per run (status,
//!   exit code, start, end, duration; module [`crate::executions`]), kept by
//!   the writer with the events and backfilled here from the events already
//!   stored, so that the insights read ten rows a run instead of every unit
//!   event.

use rusqlite::Connection;

use crate::error::Result;
use crate::summary;
use crate::time;

/// One step of the schema: applied inside a write transaction that also
/// records `version` in `schema_version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the database has once this step is applied (1, 2, …).
    pub version: u32,
    /// What the step does, for error messages.
    pub description: &'static str,
    /// Applies the step. It must not commit or roll back.
    pub apply: fn(&Connection) -> Result<()>,
}

/// Every migration this code knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create runs, events and graphs",
        apply: v1,
    },
    Migration {
        version: 2,
        description: "add run summary columns and backfill them",
        apply: v2,
    },
    Migration {
        version: 3,
        description: "index unit events by unit and time",
        apply: v3,
    },
    Migration {
        version: 4,
        description: "add the per-unit execution summary and backfill it",
        apply: v4,
    },
];

/// The newest schema version this code knows.
pub const LATEST_VERSION: u32 = 4;

/// The version-1 schema (FORMATS.md, "The planned history store").
pub const V1_SQL: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    repo_path TEXT NOT NULL,
    started_at DATETIME NOT NULL,
    completed_at DATETIME,
    status TEXT NOT NULL DEFAULT 'running',
    parallelism INTEGER NOT NULL,
    total_units INTEGER NOT NULL,
    completed_units INTEGER DEFAULT 0,
    failed_units INTEGER DEFAULT 0,
    blocked_units INTEGER DEFAULT 0,
    error TEXT,
    tasks_dir TEXT,
    dry_run BOOLEAN DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    time DATETIME NOT NULL,
    type TEXT NOT NULL,
    unit TEXT,
    task INTEGER,
    pr INTEGER,
    payload TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS graphs (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    nodes TEXT NOT NULL,
    edges TEXT NOT NULL,
    levels TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_events_run_seq ON events(run_id, seq);
CREATE INDEX IF NOT EXISTS idx_runs_started_at ON runs(started_at DESC);
CREATE INDEX IF NOT EXISTS idx_runs_repo ON runs(repo_path, started_at DESC);
";

/// The columns and index version 2 adds.
pub const V2_SQL: &str = "
ALTER TABLE runs ADD COLUMN project TEXT;
ALTER TABLE runs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN event_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN resume_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN active_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN active_since TEXT;
ALTER TABLE runs ADD COLUMN updated_at TEXT;
CREATE INDEX idx_runs_project ON runs(project, started_at DESC);
";

/// The index version 3 adds.
pub const V3_SQL: &str = "
CREATE INDEX IF NOT EXISTS idx_events_unit_time ON events(unit, time) WHERE unit IS NOT NULL;
";

fn v1(conn: &Connection) -> Result<()> {
    conn.execute_batch(V1_SQL)?;
    Ok(())
}

fn v2(conn: &Connection) -> Result<()> {
    conn.execute_batch(V2_SQL)?;
    normalise_times(conn, "runs", "id", &["started_at", "completed_at"])?;
    normalise_times(conn, "events", "id", &["time"])?;
    conn.execute_batch(
        "UPDATE runs SET
            project = COALESCE(project, repo_path),
            last_seq = COALESCE((SELECT MAX(seq) FROM events e WHERE e.run_id = runs.id), 0),
            event_count = (SELECT COUNT(*) FROM events e WHERE e.run_id = runs.id),
            updated_at = MAX(started_at,
                             COALESCE(completed_at, ''),
                             COALESCE((SELECT MAX(time) FROM events e WHERE e.run_id = runs.id), ''));",
    )?;
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM runs")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        summary::recompute_activity(conn, &id)?;
    }
    Ok(())
}

fn v3(conn: &Connection) -> Result<()> {
    conn.execute_batch(V3_SQL)?;
    Ok(())
}

fn v4(conn: &Connection) -> Result<()> {
    conn.execute_batch(crate::executions::V4_SQL)?;
    let rows = crate::executions::rebuild(conn)?;
    tracing::debug!(rows, "history.db: unit executions backfilled");
    Ok(())
}

/// Rewrites the time columns of `table` into the stored form. Values that
/// cannot be read as a time are left as they are (with a warning) rather
/// than blocking the upgrade.
fn normalise_times(conn: &Connection, table: &str, key: &str, columns: &[&str]) -> Result<()> {
    for column in columns {
        // Only rows not already in the stored form: a database written by
        // this code is not rewritten.
        let select = format!(
            "SELECT {key}, {column} FROM {table}
             WHERE {column} IS NOT NULL AND (typeof({column}) != 'text' OR length({column}) != {len}
                   OR substr({column}, 11, 1) != 'T' OR substr({column}, {len}, 1) != 'Z')",
            len = time::STORED_TIME_LEN
        );
        let update = format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2");
        let rows: Vec<(rusqlite::types::Value, String)> = {
            let mut stmt = conn.prepare(&select)?;
            stmt.query_map([], |r| {
                let text = match r.get_ref(1)? {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    _ => String::new(),
                };
                Ok((r.get::<_, rusqlite::types::Value>(0)?, text))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let mut stmt = conn.prepare(&update)?;
        for (k, text) in rows {
            match time::parse_time(&text).and_then(time::format_time) {
                Ok(stored) => {
                    stmt.execute(rusqlite::params![stored, k])?;
                }
                Err(_) => tracing::warn!(
                    table = table,
                    column = column,
                    value = %text,
                    "history.db: leaving an unreadable time as it is"
                ),
            }
        }
    }
    Ok(())
}
