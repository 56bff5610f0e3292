//! What the history daemon builds on, as only history.db does it: the
//! listener in commit order (ids grow), the explicit WAL checkpoint, minted
//! run ids. Refused commands, recorded completions and offset paging are in
//! the storage conformance suite, run against history.db and PostgreSQL
//! (plugins/postgres/tests/conformance/feed.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use otto_hooks_sqlite::{EventRow, HistoryDb, Options, mint_run_id};

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
