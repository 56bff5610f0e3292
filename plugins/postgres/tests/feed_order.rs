//! The all-runs feed on PostgreSQL never skips an event that commits late:
//! a transaction holding a lower event id than one already committed keeps
//! the feed from moving past it until it ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::{FeedPosition, HistoryStore, NewEvent, NewRun};

fn run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        project: "/p".into(),
        repo_path: "/p".into(),
        started_at: Timestamp::from_secs(1_737_367_200),
        parallelism: 1,
        total_units: 1,
        tasks_dir: None,
        dry_run: false,
    }
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|_| NewEvent::new(Timestamp::from_secs(1_737_367_201), "task.started"))
        .collect()
}

/// Writer A stores an event and keeps its transaction open; writer B stores
/// one with a higher id and commits. Following ids would pass A's event for
/// good; the feed waits for A, then gives A's event and B's, in that order.
#[test]
fn an_event_committed_after_a_higher_id_is_not_skipped_by_the_feed() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let db = PgHistory::open(target.clone()).unwrap();
    db.start_run(run("a")).unwrap();
    db.start_run(run("b")).unwrap();
    let start = db.feed_head().unwrap();
    assert_eq!(start, FeedPosition::default());

    // Writer A: a transaction of its own, open while B writes.
    let mut raw = target.connect().unwrap();
    let mut a = raw.transaction().unwrap();
    let a_id: i64 = a
        .query_one(
            "INSERT INTO events (run_id, seq, time, type)
             VALUES ('a', 1, '2025-01-20T10:00:01.000000000Z', 'late') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    db.append_events("b", events(1)).unwrap();
    let b_id = db.last_event_id().unwrap();
    assert!(b_id > a_id, "B's id {b_id} is after A's {a_id}");

    // By id, B's event is there and A's is not: a reader following ids
    // would move to b_id and never read a_id.
    let by_id = db.events_after_id(0, 10).unwrap();
    assert_eq!(
        by_id.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [b_id]
    );
    // The feed holds B's event back while A is open, and says so.
    let held = db.feed_after(start, 10).unwrap();
    assert!(held.events.is_empty(), "{:?}", held.events);
    assert!(held.waiting);
    assert_eq!(db.feed_head().unwrap(), start);

    a.commit().unwrap();
    // Other tests write to the same cluster (transaction ids are the
    // cluster's): one of theirs may hold the feed back a moment longer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = db.feed_after(start, 10).unwrap();
        if page.events.len() == 2 || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ids: Vec<i64> = page.events.iter().map(|(_, e)| e.id).collect();
    assert_eq!(ids, [a_id, b_id]);
    assert!(!page.has_more);
    let positions: Vec<FeedPosition> = page.events.iter().map(|(p, _)| *p).collect();
    assert!(positions[0] < positions[1]);
    assert_eq!(db.feed_head().unwrap(), positions[1]);
    // Positions survive their text form (the SSE id).
    for p in &positions {
        assert_eq!(FeedPosition::parse(&p.to_string()), Some(*p));
    }
    assert!(db.feed_after(positions[1], 10).unwrap().events.is_empty());
}

/// Four writers on their own runs, each on its own handle, while a reader
/// follows the feed from its head: the reader gets every event exactly
/// once, positions only growing.
#[test]
fn a_reader_following_the_feed_during_concurrent_writes_gets_every_event_once() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let reader = PgHistory::open(target.clone()).unwrap();
    const WRITERS: usize = 4;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 5;
    for w in 0..WRITERS {
        reader.start_run(run(&format!("w{w}"))).unwrap();
    }
    let mut cursor = reader.feed_head().unwrap();
    let writers: Vec<Arc<PgHistory>> = (0..WRITERS)
        .map(|_| Arc::new(PgHistory::open(target.clone()).unwrap()))
        .collect();
    let total = WRITERS * BATCHES * PER_BATCH;
    let mut seen: Vec<(String, u64)> = Vec::new();
    std::thread::scope(|s| {
        for (w, db) in writers.iter().enumerate() {
            let db = Arc::clone(db);
            s.spawn(move || {
                for _ in 0..BATCHES {
                    db.append_events(&format!("w{w}"), events(PER_BATCH))
                        .unwrap();
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while seen.len() < total {
            assert!(
                Instant::now() < deadline,
                "the feed gave {} of {total} events in 120 s",
                seen.len()
            );
            let page = reader.feed_after(cursor, 37).unwrap();
            for (p, e) in page.events {
                assert!(p > cursor, "positions grow: {p} after {cursor}");
                cursor = p;
                seen.push((e.run_id, e.seq));
            }
            if !page.has_more {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let unique: HashSet<&(String, u64)> = seen.iter().collect();
    assert_eq!(unique.len(), total, "every event once");
    for w in 0..WRITERS {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|(r, _)| *r == format!("w{w}"))
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(seqs, (1..=(BATCHES * PER_BATCH) as u64).collect::<Vec<_>>());
    }
    assert!(reader.feed_after(cursor, 10).unwrap().events.is_empty());
}
