#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use otto_hooks_sqlite::{HistoryDb, RunFilter};

fn fill(db: &HistoryDb, id: &str, started: i64, events: usize) {
    db.start_run(new_run(id, "/p", started)).unwrap();
    let payload = format!(r#"{{"file":"{}"}}"#, "x".repeat(200));
    let batch = (0..events)
        .map(|i| event_with(started + i as i64, "task.started", None, &payload))
        .collect();
    db.append_events(id, batch).unwrap();
}

fn ids(db: &HistoryDb) -> Vec<String> {
    let mut ids: Vec<String> = db
        .list_runs(&RunFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .runs
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn expire_deletes_old_finished_runs_in_chunks_and_never_running_ones() {
    let t = open();
    let db = &t.db;
    for i in 0..5 {
        fill(db, &format!("old-done-{i}"), i, 400);
        db.complete_run(completion(&format!("old-done-{i}"), 1000, "completed"))
            .unwrap();
    }
    fill(db, "old-stopped", 0, 400);
    db.stop_run("old-stopped", ts(1000), None).unwrap();
    fill(db, "old-running-0", 0, 400);
    fill(db, "old-running-1", 0, 10);
    for i in 0..3 {
        fill(db, &format!("new-done-{i}"), 5000, 10);
        db.complete_run(completion(&format!("new-done-{i}"), 9000, "failed"))
            .unwrap();
    }
    let before = db.stats().unwrap();

    // A dry run names exactly the runs the pass then deletes.
    let preview = db.expire_preview(ts(2000)).unwrap();
    assert_eq!(preview.events, 6 * 400 + 1);
    assert_eq!(
        db.stats().unwrap().events,
        before.events,
        "preview deletes nothing"
    );

    let report = db.expire(ts(2000), 2).unwrap();
    assert_eq!(report.runs_deleted, 6);
    assert_eq!(report.run_ids, preview.run_ids);
    let mut expired = report.run_ids.clone();
    expired.sort();
    assert_eq!(
        expired,
        [
            "old-done-0",
            "old-done-1",
            "old-done-2",
            "old-done-3",
            "old-done-4",
            "old-stopped"
        ]
    );
    assert_eq!(
        report.events_deleted,
        6 * 400 + 1,
        "their events, incl. run.stopped"
    );
    assert_eq!(report.chunks, 4, "2 + 2 + 2 + an empty last look");
    assert!(report.bytes_freed > 6 * 400 * 200, "{report:?}");

    assert_eq!(
        ids(db),
        [
            "new-done-0",
            "new-done-1",
            "new-done-2",
            "old-running-0",
            "old-running-1"
        ]
    );
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

    // Nothing left to expire: a second pass is a no-op.
    let again = db.expire(ts(2000), 2).unwrap();
    assert_eq!(
        (again.runs_deleted, again.events_deleted, again.bytes_freed),
        (0, 0, 0)
    );
}

#[test]
fn delete_runs_skips_running_runs_and_reports_unknown_ids() {
    let t = open();
    let db = &t.db;
    fill(db, "done", 0, 20);
    db.complete_run(completion("done", 100, "completed"))
        .unwrap();
    fill(db, "live", 0, 5);
    let payload = r#"{"graph":{"nodes":[],"edges":[],"levels":[]}}"#;
    db.append_events("done", vec![event_with(50, "orch.started", None, payload)])
        .unwrap();

    let report = db
        .delete_runs(vec![
            "done".into(),
            "live".into(),
            "ghost".into(),
            "done".into(),
        ])
        .unwrap();
    assert_eq!(report.deleted, ["done"]);
    assert_eq!(report.skipped_running, ["live"]);
    assert_eq!(report.not_found, ["ghost"]);
    assert_eq!(report.events_deleted, 21);
    assert_eq!(ids(db), ["live"]);
    assert_eq!(db.graph("done").unwrap(), None);
}
