//! Connection loss: the server restarts (every connection cut) while a
//! writer ingests. Its own test binary, so its own cluster: the restart
//! must not cut other tests' connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::{DbError, HistoryStore, NewEvent, NewRun, all_events};

/// A writer appends one event at a time and records what was acknowledged;
/// the server restarts twice meanwhile. Every acknowledged event is stored
/// exactly once, seq stays contiguous, a failed write is reported (never
/// silently dropped) and the store reconnects by itself.
#[test]
fn every_acknowledged_event_survives_server_restarts_during_ingest() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let db = PgHistory::open(target).unwrap();
    db.start_run(NewRun {
        id: "r".into(),
        project: "/p".into(),
        repo_path: "/p".into(),
        started_at: Timestamp::from_secs(1_737_367_200),
        parallelism: 1,
        total_units: 1,
        tasks_dir: None,
        dry_run: false,
    })
    .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (acked, failures) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut acked = Vec::new();
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 200 {
                let mut e = NewEvent::new(Timestamp::from_secs(1_737_367_200), "task.started");
                e.payload = Some(format!(r#"{{"n":{n}}}"#));
                match db.append_events("r", vec![e]) {
                    Ok(range) => {
                        acked.push((n, range.first));
                        n += 1;
                    }
                    Err(err) => {
                        assert!(matches!(err, DbError::Server(_)), "{err:?}");
                        failures.push(err.to_string());
                        // As the error says: read before retrying, so a
                        // write that landed is not written twice.
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        if let Ok(events) = all_events(&db, "r") {
                            if let Some(last) = events.last() {
                                if last.payload.as_ref().unwrap().get() == format!(r#"{{"n":{n}}}"#)
                                {
                                    acked.push((n, last.seq));
                                    n += 1;
                                }
                            }
                        }
                    }
                }
            }
            (acked, failures)
        });
        for _ in 0..2 {
            std::thread::sleep(std::time::Duration::from_millis(400));
            cluster.restart().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.join().unwrap()
    });
    let events = all_events(&db, "r").unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "contiguous"
    );
    assert_eq!(
        events.len(),
        acked.len(),
        "each acknowledged event once, nothing else"
    );
    for (n, seq) in &acked {
        let e = &events[*seq as usize - 1];
        assert_eq!(e.payload.as_ref().unwrap().get(), format!(r#"{{"n":{n}}}"#));
    }
    eprintln!(
        "{} writes failed and were reported during 2 restarts",
        failures.len()
    );
    assert!(db.get_run("r").unwrap().is_some(), "reconnected by itself");
}
