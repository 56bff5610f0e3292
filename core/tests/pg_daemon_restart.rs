//! Real daemons (the binary) on a PostgreSQL history: a daemon crashing
//! and restarting under a writer loses no acknowledged event, and four
//! daemons starting at once on an empty database apply each migration
//! exactly once. Against the throw-away cluster of
//! `otto_hooks_postgres::test_cluster` (skipped with one line without
//! PostgreSQL; a failure under CI=true). Server restarts are in
//! `pg_server_restart.rs` (their own cluster: a restart cuts every
//! connection of the process's tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pg_daemon.rs"]
mod pg_daemon;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use otto_hooks_core::client::{EventsQuery, NewRun};
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::schema::LATEST_VERSION;
use otto_hooks_postgres::test_cluster::TestCluster;
use pg_daemon::{Home, StopOnDrop, assert_every_acknowledged_event_once, ingest};

fn new_run() -> NewRun {
    NewRun {
        repo_path: "/src/team".into(),
        parallelism: 1,
        total_units: 1,
        ..Default::default()
    }
}

/// A writer posts events one at a time while its daemon is killed with
/// SIGKILL twice and stopped with SIGTERM once, a new daemon started on the
/// same home each time: every acknowledged event is in the history once,
/// at its acknowledged seq, seq contiguous; failed posts were reported.
#[test]
fn every_acknowledged_event_survives_daemon_crashes_and_restarts_during_ingest() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let home = Home::new(&target);
    let mut daemon = home.start();
    let run = daemon.client().start_run(&new_run()).unwrap();
    let db = PgHistory::open(target).unwrap();

    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let writer = s.spawn(|| ingest(home.path(), &run, &db, &stop, 100));
        // Stops the writer even if this thread panics (the scope joins it).
        let _stop_writer = StopOnDrop(&stop);
        for crash in [true, true, false] {
            std::thread::sleep(Duration::from_millis(500));
            if crash {
                daemon.kill();
            } else {
                daemon.stop();
            }
            daemon = home.start();
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    assert_every_acknowledged_event_once(&db, &run, &result);
    eprintln!(
        "{} events acknowledged, {} posts failed and were reported across 3 daemon restarts",
        result.acked.len(),
        result.failures.len()
    );
    // The last daemon serves the whole run.
    let served = daemon
        .client()
        .events(&run, &EventsQuery::default())
        .unwrap();
    assert_eq!(served.total, result.acked.len() as u64);
}

/// Four daemons start at the same moment on a new, empty database, three
/// times over: all four serve, each migration is recorded exactly once,
/// applied by one of them.
#[test]
fn four_daemons_starting_at_once_on_an_empty_database_apply_each_migration_once() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    for _ in 0..3 {
        let target = cluster.fresh_database();
        let homes: Vec<Home> = (0..4).map(|_| Home::new(&target)).collect();
        let mut daemons: Vec<_> = homes.iter().map(Home::spawn).collect();
        for d in &mut daemons {
            d.wait_ready();
        }
        let pids: Vec<String> = daemons.iter().map(|d| format!("pid {}", d.pid())).collect();
        let mut client = target.connect().unwrap();
        let rows = client
            .query(
                "SELECT version, applied_by FROM schema_version ORDER BY version",
                &[],
            )
            .unwrap();
        let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
        for r in &rows {
            let by: String = r.get(1);
            assert!(
                pids.iter().any(|p| by.ends_with(p.as_str())),
                "applied by {by:?}, not one of the daemons {pids:?}"
            );
        }
        // Each of them serves the one history.
        for d in &daemons {
            d.client().start_run(&new_run()).unwrap();
        }
        let runs: i64 = client
            .query_one("SELECT count(*) FROM runs", &[])
            .unwrap()
            .get(0);
        assert_eq!(runs, 4);
    }
}
