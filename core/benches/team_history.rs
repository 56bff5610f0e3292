//! The team history on PostgreSQL against history.db, on this machine, in
//! the same run (docs/BENCHMARKS.md, docs/TEAM-HISTORY.md):
//!
//! 1. ingest through the daemon's HTTP API, 4 clients each posting batches
//!    of 100 events to its own run: the SQLite daemon, then a daemon on
//!    PostgreSQL (goal: at least half the SQLite rate);
//! 2. a page of 100 events deep in a run of `--events` events (default
//!    1,000,000) read from PostgreSQL (goal: under 2 ms);
//! 3. listing `--runs` runs (default 10,000) in one page from PostgreSQL
//!    (goal: under 50 ms).
//!
//! `cargo bench -p otto-hooks --bench team_history [-- --events N --runs N --batches N]`.
//! The PostgreSQL server is the throw-away cluster of
//! `otto_hooks_postgres::test_cluster` (fsync off: a throughput ceiling,
//! not a durable server's). Nothing is asserted.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use otto_hooks_core::daemon::{ServerOptions, serve};
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::{EventFilter, HistoryStore, NewEvent, NewRun, RunFilter};
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const BATCH: usize = 100;
const TOKEN: &str = "bench-token-0123456789";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn body(client: usize, b: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..BATCH)
        .map(|k| {
            let i = b * BATCH + k;
            json!({"time": "2025-01-20T14:30:52.123456789Z", "type": "task.completed",
                   "unit": format!("unit-{client}-{}", i % 8), "task": i % 12,
                   "payload": {"file": format!("src/module_{}/handler_{}.rs", i % 17, i % 101),
                               "branch": "feature/history-daemon", "duration_ms": i * 7 % 10_000,
                               "title": "Implement the history daemon ingest path and its tests"}})
        })
        .collect();
    json!({ "events": events }).to_string().into_bytes()
}

/// Events per second through a daemon serving `options`.
fn ingest(options: ServerOptions, batches: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        serve(options, listener, async move {
            let _ = rx.await;
        })
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let auth = format!("Bearer {TOKEN}");
    let mut ids = Vec::new();
    for c in 0..CLIENTS {
        let reply: Value = agent
            .post(&format!("http://{addr}/api/runs"))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(
                json!({"repo_path": format!("/bench/{c}"), "parallelism": 4, "total_units": 8})
                    .to_string()
                    .as_bytes(),
            )
            .expect("start run")
            .body_mut()
            .read_json()
            .expect("run json");
        ids.push(reply["run_id"].as_str().expect("run_id").to_owned());
    }
    let started = Instant::now();
    std::thread::scope(|s| {
        for (c, id) in ids.iter().enumerate() {
            let (agent, auth) = (agent.clone(), auth.clone());
            s.spawn(move || {
                for b in 0..batches {
                    agent
                        .post(&format!("http://{addr}/api/runs/{id}/events"))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .send(&body(c, b)[..])
                        .expect("append");
                }
            });
        }
    });
    let rate = (CLIENTS * batches * BATCH) as f64 / started.elapsed().as_secs_f64();
    let _ = tx.send(());
    let _ = server.join();
    rate
}

fn run(id: &str, at: i64) -> NewRun {
    NewRun {
        id: id.into(),
        project: "/bench".into(),
        repo_path: "/bench".into(),
        started_at: Timestamp::from_secs(1_737_367_200 + at),
        parallelism: 4,
        total_units: 8,
        tasks_dir: None,
        dry_run: false,
    }
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn main() {
    let batches = arg("--batches", 100);
    let events = arg("--events", 1_000_000);
    let runs = arg("--runs", 10_000);
    let Some(cluster) = TestCluster::shared() else {
        eprintln!("no PostgreSQL: nothing measured");
        return;
    };

    // 1. Ingest, SQLite then PostgreSQL, same batches.
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = ingest(
        ServerOptions::new(dir.path().join("history.db"), TOKEN),
        batches,
    );
    let target = cluster.fresh_database();
    let mut options = ServerOptions::new(dir.path().join("unused.db"), TOKEN);
    let pg_target = target.clone();
    options.open_store = Some(Box::new(move || {
        PgHistory::open(pg_target)
            .map(|db| Box::new(db) as Box<dyn HistoryStore>)
            .map_err(|e| e.to_string())
    }));
    let postgres = ingest(options, batches);
    println!(
        "ingest, {CLIENTS} clients x {batches} batches of {BATCH}: sqlite daemon {sqlite:.0} events/s, \
         postgres daemon {postgres:.0} events/s ({:.0}%)",
        postgres / sqlite * 100.0
    );

    // 2. A page of 100 events deep in a big run.
    let db = PgHistory::open(cluster.fresh_database()).expect("open");
    db.start_run(run("big", 0)).expect("start");
    let seeding = Instant::now();
    let chunk = 5_000;
    for from in (0..events).step_by(chunk) {
        let batch = (from..(from + chunk).min(events))
            .map(|i| {
                let mut e = NewEvent::new(Timestamp::from_secs(1_737_367_200), "task.completed");
                e.unit = Some(format!("unit-{}", i % 8));
                e.payload = Some(format!(r#"{{"i":{i},"file":"src/module_{}.rs"}}"#, i % 17));
                e
            })
            .collect();
        db.append_events("big", batch).expect("append");
    }
    eprintln!(
        "seeded {events} events in {:.1}s",
        seeding.elapsed().as_secs_f64()
    );
    let mut samples = Vec::new();
    for k in 0..200u64 {
        let after = (k * 4_999) % (events as u64).saturating_sub(100).max(1);
        let t = Instant::now();
        let page = db
            .events(&EventFilter {
                run_id: "big".into(),
                after_seq: Some(after),
                limit: 100,
                ..EventFilter::default()
            })
            .expect("page");
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.events.len(), 100);
    }
    println!(
        "page of 100 events in a {events}-event run: median {:.2} ms",
        median_ms(samples)
    );

    // 3. Listing many runs in one page.
    std::thread::scope(|s| {
        for w in 0..4 {
            let db = &db;
            s.spawn(move || {
                for i in (w..runs).step_by(4) {
                    db.start_run(run(&format!("run-{i:06}"), i as i64))
                        .expect("run");
                }
            });
        }
    });
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let page = db
            .list_runs(&RunFilter {
                limit: runs as u32,
                ..RunFilter::default()
            })
            .expect("list");
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.runs.len(), runs);
    }
    println!(
        "list {runs} runs in one page: median {:.1} ms",
        median_ms(samples)
    );
}
