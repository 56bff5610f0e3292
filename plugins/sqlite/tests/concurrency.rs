#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use common::*;
use otto_hooks_sqlite::{DbError, EventFilter, HistoryDb, Options};

const THREADS: usize = 8;
const EVENTS_PER_THREAD: usize = 2_000;
const BATCH: usize = 50;

/// Eight independent `HistoryDb`s (as eight processes would) open the same
/// new file at once and append to a shared run and to their own runs.
#[test]
fn eight_writers_on_one_new_file_lose_nothing_and_number_contiguously() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("history.db"));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let path = Arc::clone(&path);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let db = HistoryDb::open(&*path, &Options::default()).unwrap();
                match db.start_run(new_run("shared", "/p", 0)) {
                    Ok(()) | Err(DbError::AlreadyExists(_)) => {}
                    Err(e) => panic!("{e}"),
                }
                let own = format!("own-{i}");
                db.start_run(new_run(&own, "/p", i as i64)).unwrap();
                for b in 0..EVENTS_PER_THREAD / BATCH {
                    let run = if b % 2 == 0 { "shared" } else { own.as_str() };
                    let events = (0..BATCH)
                        .map(|k| {
                            let n = b * BATCH + k;
                            event_with(
                                n as i64,
                                "task.started",
                                None,
                                &format!(r#"{{"thread":{i},"n":{n}}}"#),
                            )
                        })
                        .collect();
                    let r = db.append_events(run, events).unwrap();
                    assert_eq!(r.last - r.first + 1, BATCH as u64);
                }
                db.close().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    let db = HistoryDb::open(&*path, &Options::default()).unwrap();
    db.integrity_check().unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(stats.events, (THREADS * EVENTS_PER_THREAD) as u64);
    assert_eq!(stats.runs, THREADS as u64 + 1);
    assert_eq!(stats.schema_version, 4);
    let raw = rusqlite::Connection::open(&*path).unwrap();
    let auto_vacuum: i64 = raw
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        auto_vacuum, 2,
        "set before the first table, even when eight open it at once"
    );

    let mut runs = vec!["shared".to_owned()];
    runs.extend((0..THREADS).map(|i| format!("own-{i}")));
    for run in runs {
        let events = db
            .events(&EventFilter {
                run_id: run.clone(),
                limit: 1_000_000,
                ..Default::default()
            })
            .unwrap()
            .events;
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{run}");
        let row = db.get_run(&run).unwrap().unwrap();
        assert_eq!(
            (row.last_seq, row.event_count),
            (events.len() as u64, events.len() as u64)
        );
        // Each writer's events keep their order within the run.
        let mut last: HashMap<u64, i64> = HashMap::new();
        for e in &events {
            let p: serde_json::Value =
                serde_json::from_str(e.payload.as_ref().unwrap().get()).unwrap();
            let (thread, n) = (p["thread"].as_u64().unwrap(), p["n"].as_i64().unwrap());
            assert!(
                last.get(&thread).is_none_or(|&prev| prev < n),
                "{run}: thread {thread} out of order"
            );
            last.insert(thread, n);
        }
        let expected = if run == "shared" {
            THREADS * EVENTS_PER_THREAD / 2
        } else {
            EVENTS_PER_THREAD / 2
        };
        assert_eq!(events.len(), expected, "{run}");
    }
}
