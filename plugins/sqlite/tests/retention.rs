//! What only history.db does on retention: the pages of expired runs go
//! back to the file system (`incremental_vacuum`), `bytes_freed` is what
//! the file shrank by, the file stays sound. Which runs expire, in chunks,
//! never running ones, and `delete_runs` are in the storage conformance
//! suite, run against history.db and PostgreSQL
//! (plugins/postgres/tests/conformance/retention.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use otto_hooks_sqlite::HistoryDb;

fn fill(db: &HistoryDb, id: &str, started: i64, events: usize) {
    db.start_run(new_run(id, "/p", started)).unwrap();
    let payload = format!(r#"{{"file":"{}"}}"#, "x".repeat(200));
    let batch = (0..events)
        .map(|i| event_with(started + i as i64, "task.started", None, &payload))
        .collect();
    db.append_events(id, batch).unwrap();
}

#[test]
fn expire_gives_the_pages_back_and_reports_the_bytes_the_file_shrank_by() {
    let t = open();
    let db = &t.db;
    for i in 0..5 {
        fill(db, &format!("old-done-{i}"), i, 400);
        db.complete_run(completion(&format!("old-done-{i}"), 1000, "completed"))
            .unwrap();
    }
    fill(db, "old-stopped", 0, 400);
    db.stop_run("old-stopped", ts(1000), None).unwrap();
    fill(db, "old-running", 0, 400);
    fill(db, "new-done", 5000, 10);
    db.complete_run(completion("new-done", 9000, "failed"))
        .unwrap();
    let before = db.stats().unwrap();

    let report = db.expire(ts(2000), 2).unwrap();
    assert_eq!(report.runs_deleted, 6);
    assert_eq!(report.chunks, 4, "2 + 2 + 2 + an empty last look");
    assert!(report.bytes_freed > 6 * 400 * 200, "{report:?}");
    let after = db.stats().unwrap();
    assert_eq!(after.events, before.events - report.events_deleted);
    assert_eq!(
        after.free_pages, 0,
        "incremental_vacuum gave the pages back"
    );
    assert_eq!(
        (before.page_count - after.page_count) * after.page_size,
        report.bytes_freed
    );
    db.integrity_check().unwrap();
    // Graphs and events of deleted runs are gone too (no orphans).
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE run_id NOT IN (SELECT id FROM runs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);

    // Nothing left to expire: a second pass frees nothing.
    let again = db.expire(ts(2000), 2).unwrap();
    assert_eq!(
        (again.runs_deleted, again.events_deleted, again.bytes_freed),
        (0, 0, 0)
    );
}
