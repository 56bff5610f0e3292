#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use otto_hooks_sqlite::{
    DbError, HistoryDb, MIGRATIONS, Migration, Options, connection, current_version, migrate_with,
};
use rusqlite::Connection;

#[test]
fn a_new_database_is_wal_with_incremental_auto_vacuum() {
    let t = open();
    let conn = Connection::open(t.path()).unwrap();
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "INCREMENTAL");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(current_version(&conn).unwrap(), 4);

    let w = connection::open_write(&t.path(), &Options::default()).unwrap();
    let one = |sql: &str| w.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(one("PRAGMA synchronous"), 1, "NORMAL");
    assert_eq!(one("PRAGMA foreign_keys"), 1);
    assert_eq!(one("PRAGMA busy_timeout"), 5000);
}

#[test]
fn open_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/history.db");
    HistoryDb::open(&path, &Options::default())
        .unwrap()
        .close()
        .unwrap();
    assert!(path.exists());
}

/// The FORMATS.md design, written independently of the crate's copy.
const CHOO_V1: &str = "
PRAGMA journal_mode=WAL;
CREATE TABLE runs(id TEXT PRIMARY KEY, repo_path TEXT NOT NULL, started_at DATETIME NOT NULL,
  completed_at DATETIME, status TEXT NOT NULL DEFAULT 'running', parallelism INTEGER NOT NULL,
  total_units INTEGER NOT NULL, completed_units INTEGER DEFAULT 0, failed_units INTEGER DEFAULT 0,
  blocked_units INTEGER DEFAULT 0, error TEXT, tasks_dir TEXT, dry_run BOOLEAN DEFAULT FALSE);
CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
  time DATETIME NOT NULL, type TEXT NOT NULL, unit TEXT, task INTEGER, pr INTEGER,
  payload TEXT, error TEXT);
CREATE TABLE graphs(run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  nodes TEXT NOT NULL, edges TEXT NOT NULL, levels TEXT NOT NULL);
CREATE INDEX idx_events_run_seq ON events(run_id, seq);
CREATE INDEX idx_runs_started_at ON runs(started_at DESC);
CREATE INDEX idx_runs_repo ON runs(repo_path, started_at DESC);

INSERT INTO runs VALUES ('run_done', '/src/app', '2025-01-20 10:00:00+00:00',
  '2025-01-20 10:05:00.5+00:00', 'completed', 2, 3, 3, 0, 0, NULL, '/t', 0);
INSERT INTO events (run_id, seq, time, type, unit, payload) VALUES
  ('run_done', 1, '2025-01-20T10:00:01Z', 'orch.started', NULL, '{\"unit_count\":3}'),
  ('run_done', 2, '2025-01-20T10:01:00Z', 'unit.completed', 'a', NULL),
  ('run_done', 3, '2025-01-20T10:05:00Z', 'orch.completed', NULL, NULL);

INSERT INTO runs (id, repo_path, started_at, status, parallelism, total_units)
  VALUES ('run_resumed', '/src/app', '2025-01-20T11:00:00Z', 'running', 1, 1);
INSERT INTO events (run_id, seq, time, type, payload) VALUES
  ('run_resumed', 1, '2025-01-20T11:00:01Z', 'unit.started', NULL),
  ('run_resumed', 2, '2025-01-20T11:02:00Z', 'unit.queued', NULL),
  ('run_resumed', 3, '2025-01-20T11:10:00Z', 'run.stopped', '{\"reason\":\"ctrl-c\"}'),
  ('run_resumed', 4, '2025-01-20T11:30:00Z', 'run.resumed', '{\"resumed_from_seq\":3}'),
  ('run_resumed', 5, '2025-01-20T11:31:00Z', 'unit.started', NULL);
";

#[test]
fn a_version_1_database_from_another_tool_is_migrated_and_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(CHOO_V1)
        .unwrap();

    let db = HistoryDb::open(&path, &Options::default()).unwrap();
    let done = db.get_run("run_done").unwrap().unwrap();
    assert_eq!(done.project, "/src/app");
    assert_eq!(
        (done.last_seq, done.event_count, done.resume_count),
        (3, 3, 0)
    );
    assert_eq!(done.active_ms, 300_500);
    assert_eq!(done.active_since, None);
    assert_eq!(done.completed_units, 3);
    assert_eq!(done.started_at, ts(0));
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["started_at"], "2025-01-20T10:00:00.000000000Z");
    assert_eq!(json["completed_at"], "2025-01-20T10:05:00.500000000Z");
    assert_eq!(json["updated_at"], "2025-01-20T10:05:00.500000000Z");

    let resumed = db.get_run("run_resumed").unwrap().unwrap();
    assert_eq!((resumed.last_seq, resumed.event_count), (5, 5));
    assert_eq!(resumed.resume_count, 1);
    assert_eq!(
        resumed.active_ms,
        10 * 60 * 1000,
        "11:00 → 11:10; stopped time excluded"
    );
    assert_eq!(resumed.active_since, Some(ts(3600 + 30 * 60)));
    // Appending continues the run's numbering.
    let r = db
        .append_events("run_resumed", vec![event(3600 + 40 * 60, "unit.completed")])
        .unwrap();
    assert_eq!((r.first, r.last), (6, 6));
    // Listing by project uses the backfilled column.
    let page = db
        .list_runs(&otto_hooks_sqlite::RunFilter {
            project: Some("/src/app".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.runs.len(), 2);
    db.close().unwrap();

    let conn = Connection::open(&path).unwrap();
    assert_eq!(current_version(&conn).unwrap(), 4);
    let v: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 4);
}

#[test]
fn a_database_newer_than_this_code_is_refused() {
    let t = open();
    let path = t.path();
    drop(t.db);
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_version VALUES (5, '2030-01-01T00:00:00.000000000Z')",
            [],
        )
        .unwrap();
    let err = HistoryDb::open(&path, &Options::default()).unwrap_err();
    assert!(matches!(err, DbError::Schema(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "history.db is schema version 5; this otto-hooks knows up to 4 — upgrade otto-hooks"
    );
}

fn broken_v4(conn: &Connection) -> otto_hooks_sqlite::Result<()> {
    conn.execute_batch("CREATE TABLE extra (x); UPDATE runs SET status = 'mangled';")?;
    Err(DbError::Invalid("boom".into()))
}

#[test]
fn a_failing_migration_names_its_version_and_changes_nothing() {
    let t = open();
    let path = t.path();
    t.db.start_run(new_run("r1", "/p", 0)).unwrap();
    t.db.complete_run(completion("r1", 60, "completed"))
        .unwrap();
    drop(t.db);

    let mut conn = Connection::open(&path).unwrap();
    let list = [
        MIGRATIONS[0],
        MIGRATIONS[1],
        MIGRATIONS[2],
        MIGRATIONS[3],
        Migration {
            version: 5,
            description: "break things",
            apply: broken_v4,
        },
    ];
    let err = migrate_with(&mut conn, &list).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DbError::Schema(_)));
    assert!(msg.contains("schema version 5 (break things)"), "{msg}");
    assert!(
        msg.contains("left at version 4") && msg.contains("boom"),
        "{msg}"
    );

    assert_eq!(current_version(&conn).unwrap(), 4);
    let extra: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(extra, 0);
    let status: String = conn
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "completed");
    drop(conn);
    // And the database still opens normally.
    let db = HistoryDb::open(&path, &Options::default()).unwrap();
    assert_eq!(db.get_run("r1").unwrap().unwrap().status, "completed");
}

#[test]
fn a_failing_second_step_keeps_the_first_and_a_retry_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connection::open_write(&dir.path().join("h.db"), &Options::default()).unwrap();
    fn broken_v2(_: &Connection) -> otto_hooks_sqlite::Result<()> {
        Err(DbError::Invalid("nope".into()))
    }
    let list = [
        MIGRATIONS[0],
        Migration {
            version: 2,
            description: "fails",
            apply: broken_v2,
        },
    ];
    assert!(migrate_with(&mut conn, &list).is_err());
    assert_eq!(current_version(&conn).unwrap(), 1);
    assert_eq!(migrate_with(&mut conn, MIGRATIONS).unwrap(), 4);
    assert_eq!(migrate_with(&mut conn, MIGRATIONS).unwrap(), 4);
}

#[test]
fn schema_3_indexes_unit_events_by_unit_and_time_for_one_units_history() {
    let t = open();
    let conn = Connection::open(t.path()).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'idx_events_unit_time'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        sql.contains("(unit, time)") && sql.contains("WHERE unit IS NOT NULL"),
        "{sql}"
    );
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT run_id FROM events
             WHERE unit = 'api' AND type >= 'unit.' AND type < 'unit/' ORDER BY time DESC",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("idx_events_unit_time"), "{plan}");
}

/// A `unit_executions` row: run, unit, status, exit code, start, end,
/// duration (ms).
type UnitRow = (
    String,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<f64>,
);

/// The rows of `unit_executions`, ordered, as comparable tuples.
fn unit_rows(conn: &Connection) -> Vec<UnitRow> {
    conn.prepare(
        "SELECT run_id, unit, status, exit_code, started_at, ended_at, duration_ms
         FROM unit_executions ORDER BY run_id, unit",
    )
    .unwrap()
    .query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// Writes through the writer the events of two runs: `a` built, failed
/// `test` (exit 3) and left `lint` running; `b` imported figures.
fn write_units(db: &HistoryDb) {
    db.start_run(new_run("a", "/p", 0)).unwrap();
    let mut failed = event(30, "unit.failed");
    failed.unit = Some("test".into());
    failed.payload = Some(r#"{"exit_code":3}"#.into());
    let with_unit = |t, kind: &str, unit: &str| {
        let mut e = event(t, kind);
        e.unit = Some(unit.into());
        e
    };
    db.append_events(
        "a",
        vec![
            event(0, "orch.started"),
            with_unit(1, "unit.queued", "build"),
            with_unit(2, "unit.started", "build"),
            with_unit(12, "unit.completed", "build"),
            with_unit(12, "unit.started", "test"),
            failed,
            with_unit(31, "unit.started", "lint"),
            with_unit(32, "unit.note", "lint"),
        ],
    )
    .unwrap();
    db.start_run(new_run("b", "/p", 100)).unwrap();
    let mut done = with_unit(105, "unit.completed", "build");
    done.payload = Some(r#"{"exit_code":0,"duration_ms":4500}"#.into());
    db.append_events("b", vec![done]).unwrap();
}

#[test]
fn the_writer_keeps_one_execution_row_per_unit_and_run_with_its_events() {
    let t = open();
    write_units(&t.db);
    let conn = Connection::open(t.path()).unwrap();
    let rows = unit_rows(&conn);
    let stored = |s| otto_hooks_sqlite::time::format_time(ts(s)).unwrap();
    assert_eq!(
        rows,
        [
            (
                "a".into(),
                "build".into(),
                "success".into(),
                None,
                stored(2),
                Some(stored(12)),
                Some(10_000.0)
            ),
            (
                "a".into(),
                "lint".into(),
                "running".into(),
                None,
                stored(31),
                None,
                None
            ),
            (
                "a".into(),
                "test".into(),
                "failed".into(),
                Some(3),
                stored(12),
                Some(stored(30)),
                Some(18_000.0)
            ),
            (
                "b".into(),
                "build".into(),
                "success".into(),
                Some(0),
                stored(105),
                Some(stored(105)),
                Some(4500.0)
            ),
        ]
    );
    // Deleting a run deletes its rows.
    drop(conn);
    t.db.complete_run(completion("a", 40, "failed")).unwrap();
    t.db.delete_runs(vec!["a".into()]).unwrap();
    let conn = Connection::open(t.path()).unwrap();
    let left: Vec<String> = unit_rows(&conn).into_iter().map(|r| r.0).collect();
    assert_eq!(left, ["b"]);
}

#[test]
fn migrating_a_schema_3_database_backfills_the_same_execution_rows_the_writer_keeps() {
    // The writer's rows, then the same database taken back to schema 3
    // (the table dropped) and migrated again: the backfill must agree.
    let t = open();
    write_units(&t.db);
    let path = t.path();
    drop(t.db);
    let mut conn = Connection::open(&path).unwrap();
    let kept = unit_rows(&conn);
    conn.execute_batch("DROP TABLE unit_executions; DELETE FROM schema_version WHERE version = 4;")
        .unwrap();
    assert_eq!(current_version(&conn).unwrap(), 3);
    assert_eq!(migrate_with(&mut conn, MIGRATIONS).unwrap(), 4);
    assert_eq!(unit_rows(&conn), kept);
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT run_id FROM unit_executions
             WHERE unit = 'test' ORDER BY started_at DESC LIMIT 50",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("idx_unit_executions_unit"), "{plan}");
}
