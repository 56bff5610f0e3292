//! Ingest through the history daemon's HTTP API: four clients, each with
//! its own run, posting batches of 100 events with ~200-byte payloads.
//!
//! `cargo bench -p otto-hooks --bench daemon_ingest [-- --batches N]`
//! (or `OTTO_DAEMON_BENCH_BATCHES=N`; default 250 batches per client, so
//! 100,000 events). Prints the sustained rate, the batch latency
//! percentiles, and the same batches appended straight into `HistoryDb`
//! by four threads (no HTTP) as the baseline. Goals: ≥ 20,000 events/s,
//! p99 batch latency under 20 ms. Then the real binary's lifecycle:
//! `otto-hooks daemon start` until it answers its health check (goal
//! < 300 ms; `true`'s spawn time is the baseline) and the idle daemon's
//! memory, `VmRSS`/`VmHWM` from `/proc` (goal < 30 MB). Nothing is
//! asserted: timings depend on the machine and on what else runs on it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use otto_hooks_core::daemon::{ServerOptions, serve};
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{HistoryDb, NewEvent, NewRun, Options};
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const BATCH: usize = 100;
const TOKEN: &str = "bench-token-0123456789";

fn batches_per_client() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .windows(2)
        .find(|w| w[0] == "--batches")
        .and_then(|w| w[1].parse().ok());
    from_args
        .or_else(|| {
            std::env::var("OTTO_DAEMON_BENCH_BATCHES")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(250)
}

/// The payload of event `i`: about 200 bytes of JSON.
fn payload(i: usize) -> Value {
    json!({
        "file": format!("src/module_{}/handler_{}.rs", i % 17, i % 101),
        "branch": "feature/history-daemon",
        "duration_ms": i * 7 % 10_000,
        "exit_code": 0,
        "title": "Implement the history daemon ingest path and its tests",
        "attempt": i % 3,
    })
}

fn body(client: usize, b: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..BATCH)
        .map(|k| {
            let i = b * BATCH + k;
            json!({"time": "2025-01-20T14:30:52.123456789Z", "type": "task.completed",
                   "unit": format!("unit-{client}-{}", i % 8), "task": i % 12, "payload": payload(i)})
        })
        .collect();
    serde_json::to_vec(&json!({ "events": events })).expect("json")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Four HTTP clients against a daemon: (events/s, sorted latencies in ms).
fn through_daemon(batches: usize) -> (f64, Vec<f64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ServerOptions::new(dir.path().join("history.db"), TOKEN);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        serve(options, listener, async move {
            let _ = stopped.await;
        })
    });
    let bodies: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|c| (0..batches).map(|b| body(c, b)).collect())
        .collect();
    let auth = format!("Bearer {TOKEN}");
    let started = Instant::now();
    let mut latencies: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(c, mine)| {
                let auth = auth.as_str();
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let mut resp = agent
                        .post(&format!("http://{addr}/api/runs"))
                        .header("Authorization", auth)
                        .send_json(json!({"repo_path": format!("/bench/repo{c}"), "parallelism": 4, "total_units": 8}))
                        .expect("start run");
                    let started: Value = resp.body_mut().read_json().expect("run id");
                    let url = format!("http://{addr}/api/runs/{}/events", started["run_id"].as_str().expect("id"));
                    let mut lat = Vec::with_capacity(mine.len());
                    for body in mine {
                        let t = Instant::now();
                        let mut resp = agent
                            .post(&url)
                            .header("Authorization", auth)
                            .header("Content-Type", "application/json")
                            .send(&body[..])
                            .expect("post batch");
                        let _ = resp.body_mut().read_to_string().expect("ack");
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.join().expect("server thread").expect("serve");
    latencies.sort_by(f64::total_cmp);
    ((CLIENTS * batches * BATCH) as f64 / elapsed, latencies)
}

/// The same batches appended straight into a HistoryDb by four threads.
fn straight_into_the_engine(batches: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = HistoryDb::open(dir.path().join("history.db"), &Options::default()).expect("open");
    let now = Timestamp::now();
    let runs: Vec<String> = (0..CLIENTS)
        .map(|c| {
            let id = format!("run_engine_{c}");
            db.start_run(NewRun {
                id: id.clone(),
                project: format!("/bench/repo{c}"),
                repo_path: format!("/bench/repo{c}"),
                started_at: now,
                parallelism: 4,
                total_units: 8,
                tasks_dir: None,
                dry_run: false,
            })
            .expect("start");
            id
        })
        .collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for (c, run) in runs.iter().enumerate() {
            let db = &db;
            s.spawn(move || {
                for b in 0..batches {
                    let events = (0..BATCH)
                        .map(|k| {
                            let i = b * BATCH + k;
                            let mut e = NewEvent::new(now, "task.completed");
                            e.unit = Some(format!("unit-{c}-{}", i % 8));
                            e.task = Some((i % 12) as i64);
                            e.payload = Some(payload(i).to_string());
                            e
                        })
                        .collect();
                    db.append_events(run, events).expect("append");
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    db.close().expect("close");
    (CLIENTS * batches * BATCH) as f64 / elapsed
}

/// A `VmRSS:`-style line of `/proc/<pid>/status`, in MB.
fn proc_mb(pid: i32, key: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `daemon start` to healthy (median of `rounds`, ms), the same for
/// spawning `true` (the baseline), and the idle daemon's (VmRSS, VmHWM) in MB.
fn lifecycle(rounds: usize) -> (f64, f64, f64, f64) {
    let exe = env!("CARGO_BIN_EXE_otto-hooks");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let cmd = |args: &[&str]| {
        let out = std::process::Command::new(exe)
            .args(args)
            .env("OTTO_HOOKS_HOME", dir.path())
            .output()
            .expect("run otto-hooks");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut start = Vec::new();
    let mut spawn = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let _ = std::process::Command::new("true").status();
        spawn.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        cmd(&["daemon", "start", "--port", &port]);
        start.push(t.elapsed().as_secs_f64() * 1000.0);
        cmd(&["daemon", "stop"]);
    }
    cmd(&["daemon", "start", "--port", &port]);
    std::thread::sleep(Duration::from_secs(3));
    let pid: i32 = std::fs::read_to_string(dir.path().join("daemon.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let (rss, hwm) = (proc_mb(pid, "VmRSS:"), proc_mb(pid, "VmHWM:"));
    cmd(&["daemon", "stop"]);
    (median(start), median(spawn), rss, hwm)
}

fn main() {
    let batches = batches_per_client();
    println!(
        "daemon ingest: {CLIENTS} clients x {batches} batches x {BATCH} events (~200-byte payloads)"
    );
    let engine = straight_into_the_engine(batches);
    let (rate, lat) = through_daemon(batches);
    let (p50, p90, p99) = (
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
    );
    let max = lat.last().copied().unwrap_or(0.0);
    println!("  baseline, HistoryDb without HTTP: {engine:>9.0} events/s");
    println!(
        "  through the daemon (HTTP):        {rate:>9.0} events/s  ({:.2}x the baseline)",
        rate / engine
    );
    println!("  batch latency: p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
    println!(
        "  goals: >= 20000 events/s: {}; p99 < 20 ms: {}",
        if rate >= 20_000.0 { "met" } else { "NOT met" },
        if p99 < 20.0 { "met" } else { "NOT met" }
    );
    let (start, spawn, rss, hwm) = lifecycle(10);
    println!("daemon lifecycle (the release binary):");
    println!(
        "  `daemon start` until healthy: median {start:.1} ms over 10 starts (spawning `true`: {spawn:.2} ms); goal < 300 ms: {}",
        if start < 300.0 { "met" } else { "NOT met" }
    );
    println!(
        "  idle daemon memory: VmRSS {rss:.1} MB, peak VmHWM {hwm:.1} MB; goal < 30 MB: {}",
        if rss < 30.0 { "met" } else { "NOT met" }
    );
}
