//! What the history daemon builds on: the event listener called after each
//! COMMIT, the all-runs feed by event id, recorded completions, offset
//! paging and the explicit WAL checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use otto_hooks_sqlite::{DbError, EventRow, HistoryDb, Options, RunFilter, mint_run_id};

fn listened() -> (TestDb, Arc<Mutex<Vec<EventRow>>>) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = HistoryDb::open(dir.path().join("history.db"), &Options::default()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    db.set_event_listener(move |rows| sink.lock().unwrap().extend_from_slice(rows));
    (TestDb { dir, db }, seen)
}

#[test]
fn the_listener_gets_every_stored_event_in_commit_order_before_the_writer_is_answered() {
    let (t, seen) = listened();
    let db = Arc::new(t.db);
    for r in ["a", "b", "c"] {
        db.start_run(new_run(r, "/p", 0)).unwrap();
    }
    std::thread::scope(|s| {
        for r in ["a", "b", "c"] {
            let (db, seen) = (Arc::clone(&db), Arc::clone(&seen));
            s.spawn(move || {
                for i in 0..20 {
                    let range = db
                        .append_events(
                            r,
                            (0..5).map(|k| event(i * 5 + k, "task.started")).collect(),
                        )
                        .unwrap();
                    // Answered after the listener ran: its events are there.
                    let seen = seen.lock().unwrap();
                    assert!(seen.iter().any(|e| e.run_id == r && e.seq == range.last));
                }
            });
        }
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 300);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    for r in ["a", "b", "c"] {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|e| e.run_id == r)
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }
    // The feed by id reads back exactly what the listener saw.
    let page = db.events_after_id(0, 1000).unwrap();
    assert!(!page.has_more);
    assert_eq!(page.events, *seen);
    assert_eq!(db.last_event_id().unwrap(), seen.last().unwrap().id);
    let tail = db.events_after_id(seen[297].id, 2).unwrap();
    assert_eq!(tail.events, seen[298..]);
    assert!(!tail.has_more);
    assert!(db.events_after_id(seen[10].id, 5).unwrap().has_more);
}

#[test]
fn refused_commands_are_not_reported_and_run_changes_are() {
    let (t, seen) = listened();
    let db = &t.db;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let mut bad = event(1, "x");
    bad.payload = Some("{not json".into());
    assert!(matches!(
        db.append_events("r", vec![event(1, "ok"), bad]),
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.append_events("nope", vec![event(1, "ok")]),
        Err(DbError::NotFound(_))
    ));
    assert!(seen.lock().unwrap().is_empty());

    assert_eq!(db.stop_run("r", ts(2), Some("why".into())).unwrap(), 1);
    assert_eq!(db.resume_run("r", ts(3)).unwrap(), 1);
    let mut done = completion("r", 4, "failed");
    done.failed_units = Some(2);
    done.error = Some("boom".into());
    assert_eq!(db.complete_run_recorded(done).unwrap(), 3);
    let seen = seen.lock().unwrap();
    let kinds: Vec<(&str, u64)> = seen.iter().map(|e| (e.kind.as_str(), e.seq)).collect();
    assert_eq!(
        kinds,
        [("run.stopped", 1), ("run.resumed", 2), ("run.failed", 3)]
    );
    assert_eq!(
        seen[2].payload.as_ref().unwrap().get(),
        r#"{"status":"failed","failed_units":2}"#
    );
    assert_eq!(seen[2].error.as_deref(), Some("boom"));
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.failed_units), ("failed", 2));
    assert_eq!(run.last_seq, 3);
    assert!(matches!(
        db.complete_run_recorded(completion("r", 5, "running")),
        Err(DbError::Invalid(_))
    ));
    assert_eq!(
        db.get_run("r").unwrap().unwrap().last_seq,
        3,
        "nothing stored"
    );
}

#[test]
fn offset_paging_matches_cursor_paging() {
    let t = open();
    for i in 0..9 {
        t.db.start_run(new_run(&format!("r{i}"), "/p", i)).unwrap();
    }
    let filter = RunFilter {
        limit: 4,
        ..RunFilter::default()
    };
    let first = t.db.list_runs(&filter).unwrap();
    let second =
        t.db.list_runs(&RunFilter {
            before: first.next.clone(),
            ..filter.clone()
        })
        .unwrap();
    assert_eq!(t.db.list_runs_offset(&filter, 4).unwrap(), second);
    let last = t.db.list_runs_offset(&filter, 8).unwrap();
    assert_eq!(last.runs.len(), 1);
    assert!(!last.has_more && last.next.is_none());
}

#[test]
fn checkpoint_truncate_empties_the_wal() {
    let t = open();
    t.db.start_run(new_run("r", "/p", 0)).unwrap();
    t.db.append_events("r", (0..500).map(|i| event(i, "x")).collect())
        .unwrap();
    let wal = t.path().with_file_name("history.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    assert!(t.db.checkpoint_truncate().unwrap());
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    assert_eq!(t.db.get_run("r").unwrap().unwrap().event_count, 500);
}

#[test]
fn minted_run_ids_are_free_of_collisions_in_practice() {
    let at = ts(0);
    let ids: std::collections::HashSet<String> = (0..50).map(|_| mint_run_id(at)).collect();
    assert!(ids.len() > 40, "4 random hex digits");
    assert!(ids.iter().all(|id| id.starts_with("run_20250120_100000_")));
}
