//! A real daemon (the binary) on a PostgreSQL history while the database
//! server restarts under ingest. Its own test binary, so its own
//! throw-away cluster: the restart cuts every connection of the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pg_daemon.rs"]
mod pg_daemon;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use otto_hooks_core::client::{EventsQuery, NewRun};
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use pg_daemon::{Home, StopOnDrop, assert_every_acknowledged_event_once, ingest, numbered};

/// The server restarts twice (fast shutdown: every connection cut) while
/// a writer posts through one daemon: the same daemon process keeps
/// serving — it reconnects by itself — every acknowledged event is stored
/// once at its seq, and the posts that failed were reported to the writer.
#[test]
fn every_acknowledged_event_survives_server_restarts_and_the_daemon_reconnects_by_itself() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let home = Home::new(&target);
    let mut daemon = home.start();
    let client = daemon.client();
    let run = client
        .start_run(&NewRun {
            repo_path: "/src/team".into(),
            parallelism: 1,
            total_units: 1,
            ..Default::default()
        })
        .unwrap();
    let db = PgHistory::open(target).unwrap();

    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let writer = s.spawn(|| ingest(home.path(), &run, &db, &stop, 100));
        // Stops the writer even if this thread panics (the scope joins it).
        let _stop_writer = StopOnDrop(&stop);
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(500));
            cluster.restart().unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    assert!(daemon.alive(), "the daemon survived:\n{}", daemon.log());
    // The daemon that was started before the restarts answers now: reads
    // and writes through new connections of its own.
    let after = client.post_events(&run, &[numbered(u64::MAX)]).unwrap();
    assert_eq!(after.first_seq, result.acked.len() as u64 + 1);
    let served = client.events(&run, &EventsQuery::default()).unwrap();
    assert_eq!(served.total, after.first_seq);

    let mut with_last = result;
    with_last.acked.push((u64::MAX, after.first_seq));
    assert_every_acknowledged_event_once(&db, &run, &with_last);
    eprintln!(
        "{} events acknowledged, {} posts failed and were reported across 2 server restarts",
        with_last.acked.len(),
        with_last.failures.len()
    );
}
