//! `/api/stream` (every run) of daemons on one PostgreSQL history, over
//! real HTTP: with writers on two daemons and a transaction that commits
//! a lower event id late, the stream sends every event exactly once, and a
//! reconnect with `Last-Event-ID` resumes without a gap or a repeat.
//! Skipped with one line without PostgreSQL; a failure under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use otto_hooks_core::daemon::{ServerOptions, serve};
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::HistoryStore;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

struct Daemon {
    addr: SocketAddr,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(target: &PgTarget) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ServerOptions::new(dir.path().join("unused.db"), TOKEN);
        let target = target.clone();
        options.open_store = Some(Box::new(move || {
            PgHistory::open(target)
                .map(|db| Box::new(db) as Box<dyn HistoryStore>)
                .map_err(|e| e.to_string())
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            serve(options, listener, async move {
                let _ = rx.await;
            })
        });
        // Every call, a stream's reading included, ends within a minute.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Daemon {
            addr,
            agent,
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let mut resp = self
            .agent
            .post(&format!("http://{}{path}", self.addr))
            .header("Content-Type", "application/json")
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(status == 200 || status == 201, "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn stream(&self, last_event_id: Option<&str>) -> Stream {
        let mut req = self.agent.get(&format!("http://{}/api/stream", self.addr));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        Stream {
            lines: BufReader::new(resp.into_body().into_reader()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Stream {
    lines: BufReader<ureq::BodyReader<'static>>,
}

impl Stream {
    /// The next stored event: (its SSE id, run, seq). Notices (no id) are
    /// passed over.
    fn next_event(&mut self) -> (String, String, u64) {
        let (mut id, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self.lines.read_line(&mut line).expect("the stream reads");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() && !id.is_empty() {
                    let v: Value = serde_json::from_str(&data).unwrap();
                    let run = v["run_id"].as_str().unwrap().to_owned();
                    return (id, run, v["seq"].as_u64().unwrap());
                }
                (id, data) = (String::new(), String::new());
                continue;
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }
}

fn batch(n: usize) -> Value {
    json!({"events": (0..n).map(|i| json!({
        "time": "2025-01-20T14:30:52Z", "type": "task.completed", "payload": {"i": i}
    })).collect::<Vec<_>>()})
}

#[test]
fn the_all_runs_stream_sends_a_late_committed_event_and_resumes_without_gaps() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let a = Daemon::start(&target);
    let b = Daemon::start(&target);
    let body = |repo: &str| json!({"repo_path": repo, "parallelism": 1, "total_units": 1});
    let r1 = a.post("/api/runs", &body("/src/one"))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r2 = b.post("/api/runs", &body("/src/two"))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r3 = a.post("/api/runs", &body("/src/three"))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = a.stream(None);

    // A writer (of a third run) whose transaction draws the lowest id and
    // commits last.
    let mut raw = target.connect().unwrap();
    let mut late = raw.transaction().unwrap();
    late.execute(
        "INSERT INTO events (run_id, seq, time, type)
         VALUES ($1, 1000, '2025-01-20T14:30:52.000000000Z', 'late.event')",
        &[&r3],
    )
    .unwrap();
    std::thread::scope(|s| {
        for (daemon, run) in [(&a, &r1), (&b, &r2)] {
            s.spawn(move || {
                for _ in 0..10 {
                    daemon.post(&format!("/api/runs/{run}/events"), &batch(5));
                }
            });
        }
    });
    late.commit().unwrap();

    let mut want: HashSet<(String, u64)> = (1..=50)
        .flat_map(|seq| [(r1.clone(), seq), (r2.clone(), seq)])
        .collect();
    want.insert((r3.clone(), 1000));
    let mut got = Vec::new();
    while got.len() < want.len() {
        got.push(stream.next_event());
    }
    // The late event's transaction is the oldest: it comes first.
    assert_eq!((got[0].1.as_str(), got[0].2), (r3.as_str(), 1000));
    assert!(got[0].0.contains('.'), "a `tx.id` position: {}", got[0].0);
    let seen: HashSet<(String, u64)> = got.iter().map(|(_, r, s)| (r.clone(), *s)).collect();
    assert_eq!(seen, want, "every event exactly once");
    assert_eq!(seen.len(), got.len());
    drop(stream);

    // Reconnect after the 40th message: the rest, then what is new, once.
    let mut resumed = a.stream(Some(&got[39].0));
    b.post(&format!("/api/runs/{r2}/events"), &batch(3));
    let mut rest = Vec::new();
    while rest.len() < got.len() - 40 + 3 {
        rest.push(resumed.next_event());
    }
    let expect: Vec<(String, u64)> = got[40..]
        .iter()
        .map(|(_, r, s)| (r.clone(), *s))
        .chain((51..=53).map(|s| (r2.clone(), s)))
        .collect();
    let rest: Vec<(String, u64)> = rest.into_iter().map(|(_, r, s)| (r, s)).collect();
    assert_eq!(rest, expect);
}
