//! What the daemon builds on: the listener after COMMIT, the all-runs feed
//! by event id, recorded completions, offset paging (from
//! otto-hooks-sqlite's tests/feed.rs, on any backend).

use std::sync::{Arc, Mutex};

use otto_hooks_sqlite::{DbError, EventRow, HistoryStore, RunFilter};

use super::backends::*;

fn listened(b: &dyn Backend) -> (Box<dyn HistoryStore>, Arc<Mutex<Vec<EventRow>>>) {
    let mut db = b.open();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    db.set_listener(Arc::new(move |rows: &[EventRow]| {
        sink.lock().unwrap().extend_from_slice(rows)
    }));
    (db, seen)
}

/// Every stored event reaches the listener once, before its writer is
/// answered, in seq order per run; the feed by id reads back the same rows.
/// (Across runs written at once, history.db reports in id order; PostgreSQL
/// commits concurrent transactions in parallel, so only per-run order holds.)
pub fn the_listener_gets_every_stored_event_before_the_writer_is_answered(b: &dyn Backend) {
    let (db, seen) = listened(b);
    let db: Arc<dyn HistoryStore> = Arc::from(db);
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
                    let seen = seen.lock().unwrap();
                    assert!(seen.iter().any(|e| e.run_id == r && e.seq == range.last));
                }
            });
        }
    });
    let mut seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 300);
    for r in ["a", "b", "c"] {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|e| e.run_id == r)
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }
    seen.sort_by_key(|e| e.id);
    let page = db.events_after_id(0, 1000).unwrap();
    assert!(!page.has_more);
    assert_eq!(page.events, seen);
    assert_eq!(db.last_event_id().unwrap(), seen[299].id);
    let tail = db.events_after_id(seen[297].id, 2).unwrap();
    assert_eq!(tail.events, seen[298..]);
    assert!(!tail.has_more);
    assert!(db.events_after_id(seen[10].id, 5).unwrap().has_more);
}

pub fn refused_commands_are_not_reported_and_run_changes_are(b: &dyn Backend) {
    let (db, seen) = listened(b);
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
    assert_eq!(db.get_run("r").unwrap().unwrap().last_seq, 3);
}

pub fn offset_paging_matches_cursor_paging(b: &dyn Backend) {
    let t = b.open();
    for i in 0..9 {
        t.start_run(new_run(&format!("r{i}"), "/p", i)).unwrap();
    }
    let filter = RunFilter {
        limit: 4,
        ..RunFilter::default()
    };
    let first = t.list_runs(&filter).unwrap();
    let second = t
        .list_runs(&RunFilter {
            before: first.next.clone(),
            ..filter.clone()
        })
        .unwrap();
    assert_eq!(t.list_runs_offset(&filter, 4).unwrap(), second);
    let last = t.list_runs_offset(&filter, 8).unwrap();
    assert_eq!(last.runs.len(), 1);
    assert!(!last.has_more && last.next.is_none());
}
