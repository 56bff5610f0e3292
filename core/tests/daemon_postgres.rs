//! Two history daemons serving one PostgreSQL history (a team's), over
//! real HTTP, against the throw-away cluster of
//! `otto_hooks_postgres::test_cluster` (skipped with one line without
//! PostgreSQL; a failure under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::all_events;
use serde_json::{Value, json};

#[path = "support/served.rs"]
mod served;
use served::Served;

fn batch(writer: usize, from: usize, n: usize) -> Value {
    json!({"events": (from..from + n).map(|i| json!({
        "time": "2025-01-20T14:30:52Z", "type": "task.completed",
        "payload": {"writer": writer, "i": i}
    })).collect::<Vec<_>>()})
}

/// Both daemons take writes for the same run at once: seq stays 1..=N with
/// nothing lost, each daemon reads what the other stored, redaction
/// happens before the database, and `/api/health` names the server.
#[test]
fn two_daemons_on_one_database_share_a_run_with_contiguous_seq() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let a = Served::on_postgres(&target);
    let b = Served::on_postgres(&target);
    let (status, started) = a.post(
        "/api/runs",
        &json!({"repo_path": "/src/team", "parallelism": 2, "total_units": 3}),
    );
    assert_eq!(status, 201, "{started}");
    let id = started["run_id"].as_str().unwrap().to_owned();

    const BATCHES: usize = 15;
    const SIZE: usize = 10;
    std::thread::scope(|s| {
        for (w, daemon) in [&a, &b].into_iter().enumerate() {
            let id = &id;
            s.spawn(move || {
                for k in 0..BATCHES {
                    let (status, r) =
                        daemon.post(&format!("/api/runs/{id}/events"), &batch(w, k * SIZE, SIZE));
                    assert_eq!(status, 200, "{r}");
                }
            });
        }
    });
    let secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
    let (status, r) = b.post(
        &format!("/api/runs/{id}/stop"),
        &json!({"reason": format!("ctrl-c with {secret}")}),
    );
    assert_eq!(status, 200, "{r}");

    let total = 2 * BATCHES * SIZE + 1;
    let (status, run) = a.get(&format!("/api/history/runs/{id}"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["last_seq"], total);
    assert_eq!(run["status"], "stopped", "a sees b's stop");
    let (_, page) = b.get(&format!("/api/history/runs/{id}/events?limit=1000"));
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
    let (_, health) = a.get("/api/health");
    assert!(
        health["database"]
            .as_str()
            .unwrap()
            .starts_with("postgres://"),
        "{health}"
    );
    a.shutdown().unwrap();
    b.shutdown().unwrap();

    // Straight from the database: every event once, the secret never there.
    let db = PgHistory::open(target).unwrap();
    let events = all_events(&db, &id).unwrap();
    assert_eq!(events.len(), total);
    for w in 0..2 {
        let mine: Vec<u64> = events
            .iter()
            .filter_map(|e| {
                let p: Value = serde_json::from_str(e.payload.as_ref()?.get()).ok()?;
                (p["writer"] == w).then(|| p["i"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(mine, (0..(BATCHES * SIZE) as u64).collect::<Vec<_>>());
    }
    let stop = events.last().unwrap();
    assert_eq!(stop.kind, "run.stopped");
    assert!(!stop.payload.as_ref().unwrap().get().contains("ghp_"));
}
