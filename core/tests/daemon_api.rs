//! The history daemon's HTTP API, over real HTTP on 127.0.0.1 with a real
//! history.db in a temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use otto_hooks_core::daemon::{Schedule, ServerOptions};
use otto_hooks_sqlite::{EventFilter, HistoryDb, Options};
use serde_json::{Value, json};

#[path = "support/served.rs"]
mod served;
use served::{Served as Daemon, TOKEN, reply};

/// The run calls these tests make often.
trait Runs {
    /// Starts a run: its id.
    fn start_run(&self, body: Value) -> String;
    /// The run `id` as the API shows it.
    fn run(&self, id: &str) -> Value;
}

impl Runs for Daemon {
    fn start_run(&self, body: Value) -> String {
        let (status, reply) = self.post("/api/runs", &body);
        assert_eq!(status, 201, "{reply}");
        reply["run_id"].as_str().expect("run_id").to_owned()
    }

    fn run(&self, id: &str) -> Value {
        let (status, run) = self.get(&format!("/api/history/runs/{id}"));
        assert_eq!(status, 200, "{run}");
        run
    }
}

fn run_body(repo: &str) -> Value {
    json!({"repo_path": repo, "parallelism": 2, "total_units": 3})
}

fn event(i: usize) -> Value {
    json!({"time": "2025-01-20T14:30:52Z", "type": "task.completed", "unit": format!("u{}", i % 4),
           "task": i, "payload": {"i": i, "pad": "x".repeat(150)}})
}

fn batch(from: usize, n: usize) -> Value {
    json!({"events": (from..from + n).map(event).collect::<Vec<_>>()})
}

#[test]
fn a_token_in_any_field_is_neither_stored_nor_echoed_in_an_error() {
    // Built from pieces: no token-shaped literal in the source.
    let token = format!("ghp_{}", "Xq7Rk2Vb9Lm4Tz8Wc3Hn6Pd5Jf1Gs0YaEuOi");
    let daemon = Daemon::start();
    let id = daemon.start_run(json!({
        "repo_path": format!("/srv/{token}/repo"), "tasks_dir": format!("/srv/{token}/tasks"),
        "project": format!("proj-{token}"), "parallelism": 1, "total_units": 1,
    }));
    let events = json!({"events": [
        {"type": format!("unit.{token}"), "unit": token, "error": format!("died: {token}")},
    ]});
    let (status, reply) = daemon.post(&format!("/api/runs/{id}/events"), &events);
    assert_eq!(status, 200, "{reply}");
    let run = daemon.run(&id);
    assert!(!run.to_string().contains(&token), "{run}");

    let refused = [
        (
            "/api/runs".to_owned(),
            json!({"repo_path": format!("rel/{token}"), "parallelism": 1, "total_units": 1}),
        ),
        (
            "/api/runs".to_owned(),
            json!({"repo_path": "/r", "parallelism": 1, "total_units": 1, "run_id": token}),
        ),
        (
            "/api/runs".to_owned(),
            json!({"repo_path": "/r", "parallelism": 1, "total_units": 1, "started_at": token}),
        ),
        (
            format!("/api/runs/{id}/events"),
            json!({"events": [{"time": token, "type": "x"}]}),
        ),
        (
            format!("/api/runs/{id}/events"),
            json!({"events": [{"type": "x", "task": token}]}),
        ),
        (format!("/api/runs/{id}/stop"), json!({"at": token})),
    ];
    for (path, body) in refused {
        let (status, reply) = daemon.post(&path, &body);
        assert_eq!(status, 400, "{path}: {reply}");
        assert!(
            !reply.to_string().contains(&token),
            "{path} echoed it: {reply}"
        );
    }
    daemon.shutdown().expect("clean shutdown");
    for suffix in ["", "-wal"] {
        let path = PathBuf::from(format!("{}{suffix}", daemon.db_path().display()));
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "the token is in {}",
                path.display()
            );
        }
    }
}

/// Sends `request` as it is on a fresh connection; returns the status and body.
fn raw(addr: SocketAddr, request: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn assert_refused(got: (u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(got.1["error"].as_str().is_some_and(|e| !e.is_empty()));
}

// ---- ingest -------------------------------------------------------------------

#[test]
fn four_clients_posting_ten_thousand_events_each_are_all_stored_in_order() {
    let daemon = Daemon::start();
    let daemon_ref = &daemon;
    let runs: Vec<String> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|c| {
                s.spawn(move || {
                    let id = daemon_ref.start_run(run_body(&format!("/src/repo{c}")));
                    for b in 0..100 {
                        let (status, ack) = daemon_ref
                            .post(&format!("/api/runs/{id}/events"), &batch(b * 100, 100));
                        assert_eq!(status, 200, "{ack}");
                        assert_eq!(ack["first_seq"], b * 100 + 1);
                        assert_eq!(ack["last_seq"], b * 100 + 100);
                    }
                    id
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("client"))
            .collect()
    });
    let (_, health) = daemon.get("/api/health");
    assert_eq!(health["runs"], 4);
    assert!(
        health["events_ingested"].as_u64() == Some(40_000),
        "{health}"
    );
    daemon.shutdown().expect("serve");

    let db = daemon.open_db();
    db.integrity_check().expect("integrity");
    for id in &runs {
        let mut after = 0;
        loop {
            let page = db
                .events(&EventFilter {
                    run_id: id.clone(),
                    after_seq: Some(after),
                    limit: 1000,
                    ..EventFilter::default()
                })
                .expect("events");
            for e in &page.events {
                assert_eq!(e.seq, after + 1, "seq contiguous");
                let payload: Value =
                    serde_json::from_str(e.payload.as_ref().expect("payload").get()).expect("json");
                assert_eq!(payload["i"], e.seq - 1, "stored in the order sent");
                after = e.seq;
            }
            if !page.has_more {
                break;
            }
        }
        assert_eq!(after, 10_000, "run {id}");
    }
}

#[test]
fn bad_writes_are_refused_with_their_code_and_store_nothing() {
    let daemon = Daemon::start_with(|o| o.max_body_bytes = 64 * 1024);
    let id = daemon.start_run(run_body("/src/app"));
    let events = format!("/api/runs/{id}/events");
    let auth = format!("Bearer {TOKEN}");
    let host = daemon.addr().to_string();

    assert_refused(
        daemon.post_with(
            &events,
            b"{\"events\": [{\"type\":",
            &[("Authorization", &auth)],
        ),
        400,
        "INVALID_JSON",
    );
    let bad_third = json!({"events": [event(0), event(1), {"unit": "no type"}, event(3)]});
    let refused = daemon.post(&events, &bad_third);
    assert!(
        refused.1["error"].as_str().unwrap().contains("events[2]"),
        "{}",
        refused.1
    );
    assert_refused(refused, 400, "INVALID_PARAM");
    let bad_time = json!({"events": [event(0), {"type": "x", "time": "yesterday"}]});
    assert_refused(daemon.post(&events, &bad_time), 400, "INVALID_PARAM");
    // Refused by the engine's own checks, inside the transaction.
    let long_type = json!({"events": [event(0), {"type": "t".repeat(200)}]});
    assert_refused(daemon.post(&events, &long_type), 400, "INVALID_PARAM");
    assert_refused(daemon.post(&events, &json!({})), 400, "MISSING_PARAM");
    assert_refused(
        daemon.post("/api/runs/run_nope/events", &batch(0, 3)),
        404,
        "NOT_FOUND",
    );
    let body = batch(0, 3).to_string();
    assert_refused(
        daemon.post_with(&events, body.as_bytes(), &[]),
        401,
        "UNAUTHORIZED",
    );
    assert_refused(
        daemon.post_with(
            &events,
            body.as_bytes(),
            &[("Authorization", "Bearer not-the-token")],
        ),
        401,
        "UNAUTHORIZED",
    );
    assert_refused(
        daemon.post_with(
            &events,
            body.as_bytes(),
            &[("Authorization", &auth), ("Origin", "http://evil.example")],
        ),
        403,
        "FORBIDDEN",
    );
    // DNS rebinding: the right address, a foreign name.
    assert_refused(
        raw(
            daemon.addr(),
            &format!(
                "POST {events} HTTP/1.1\r\nHost: evil.example:{}\r\nAuthorization: {auth}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                daemon.addr().port(),
                body.len()
            ),
        ),
        403,
        "FORBIDDEN",
    );
    assert_refused(
        raw(
            daemon.addr(),
            &format!(
                "GET /api/history/runs HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
                daemon.addr().port()
            ),
        ),
        403,
        "FORBIDDEN",
    );
    // Over the cap, announced: refused before the body is read.
    assert_refused(
        raw(
            daemon.addr(),
            &format!(
                "POST {events} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
                 Content-Length: 10000000\r\nConnection: close\r\n\r\n"
            ),
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    );
    // Over the cap, chunked: cut off while it is read.
    let big = batch(0, 400).to_string();
    assert!(big.len() > 64 * 1024);
    let mut reader = big.as_bytes();
    let chunked = daemon
        .agent()
        .post(&daemon.url(&events))
        .header("Authorization", &auth)
        .send(ureq::SendBody::from_reader(&mut reader))
        .expect("PROBE chunked");
    // The rest of the body is never read: the connection is closed, and
    // says so, so that no client sends its next request down it.
    assert_eq!(
        chunked
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    assert_refused(reply(chunked), 413, "PAYLOAD_TOO_LARGE");
    // A start without what it needs creates nothing.
    assert_refused(
        daemon.post("/api/runs", &json!({"parallelism": 1, "total_units": 1})),
        400,
        "MISSING_PARAM",
    );
    assert_refused(
        daemon.post("/api/runs", &run_body("relative/path")),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.post(
            "/api/runs",
            &json!({"repo_path": "/x", "parallelism": "two", "total_units": 1}),
        ),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.post(
            "/api/runs",
            &json!({"repo_path": "/x", "parallelism": 1, "total_units": 1, "run_id": "../x"}),
        ),
        400,
        "INVALID_PARAM",
    );

    assert_eq!(daemon.run(&id)["event_count"], 0, "nothing stored");
    assert_eq!(daemon.run(&id)["last_seq"], 0);
    let (_, list) = daemon.get("/api/history/runs");
    assert_eq!(list["total"], 1, "{list}");
    // And the connection still works for a good batch.
    let (status, ack) = daemon.post(&events, &batch(0, 3));
    assert_eq!((status, ack["first_seq"].clone()), (200, json!(1)), "{ack}");
}

#[test]
fn a_taken_run_id_is_already_exists_and_minted_ids_have_chooss_shape() {
    let daemon = Daemon::start();
    let mut body = run_body("/src/app");
    body["run_id"] = json!("run_20250120_143052_a1b2");
    assert_eq!(daemon.start_run(body.clone()), "run_20250120_143052_a1b2");
    assert_refused(daemon.post("/api/runs", &body), 409, "ALREADY_EXISTS");
    let minted = daemon.start_run(run_body("/src/app"));
    assert!(minted.starts_with("run_") && minted.len() == 24, "{minted}");
    let run = daemon.run(&minted);
    assert_eq!(run["status"], "running");
    assert_eq!(run["repo_path"], "/src/app");
    assert_eq!(
        (run["parallelism"].clone(), run["total_units"].clone()),
        (json!(2), json!(3))
    );
}

// ---- reads --------------------------------------------------------------------

#[test]
fn runs_and_events_page_by_keyset_and_offset() {
    let daemon = Daemon::start();
    for i in 0..7 {
        let repo = if i % 2 == 0 { "/src/even" } else { "/src/odd" };
        let mut body = run_body(repo);
        body["run_id"] = json!(format!("run_{i}"));
        body["started_at"] = json!(format!("2025-01-2{i}T10:00:00Z"));
        daemon.start_run(body);
    }
    // Newest first, three at a time, by cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = daemon.get(&format!("/api/history/runs?limit=3&cursor={cursor}"));
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 7);
        seen.extend(
            page["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        if !page["has_more"].as_bool().unwrap() {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        seen,
        [
            "run_6", "run_5", "run_4", "run_3", "run_2", "run_1", "run_0"
        ]
    );
    let (_, by_offset) = daemon.get("/api/history/runs?limit=3&offset=3");
    let ids: Vec<&str> = by_offset["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["run_3", "run_2", "run_1"]);
    let (_, even) = daemon.get("/api/history/runs?repo=/src/even&limit=100");
    assert_eq!(even["total"], 4);
    assert!(
        even["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["repo_path"] == "/src/even")
    );
    let (_, first) = daemon.get("/api/history/runs?limit=1");
    assert_eq!(
        first["runs"][0]["started_at"],
        "2025-01-26T10:00:00.000000000Z"
    );
    assert_refused(
        daemon.get("/api/history/runs?cursor=garbage"),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.get("/api/history/runs?status=done"),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.get("/api/history/runs?limit=0"),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.get("/api/history/runs?repo=relative"),
        400,
        "INVALID_PARAM",
    );
    let (_, clamped) = daemon.get("/api/history/runs?limit=5000");
    assert_eq!(clamped["runs"].as_array().unwrap().len(), 7);
    let (_, running) = daemon.get("/api/history/runs?status=running");
    assert_eq!(running["total"], 7);

    // Events: 25, of types unit.* and task.*, three pages of 10.
    let events: Vec<Value> = (0..25)
        .map(|i| {
            let kind = if i % 5 == 0 {
                "unit.started"
            } else {
                "task.completed"
            };
            json!({"type": kind, "unit": if i < 10 { "a" } else { "b" }, "payload": {"i": i}})
        })
        .collect();
    let (status, _) = daemon.post("/api/runs/run_0/events", &json!({"events": events}));
    assert_eq!(status, 200);
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = daemon.get(&format!(
            "/api/history/runs/run_0/events?limit=10&after_seq={after}"
        ));
        assert_eq!(page["total"], 25);
        for e in page["events"].as_array().unwrap() {
            assert!(
                e["payload"].is_object(),
                "payload is JSON, not a string: {e}"
            );
            assert_eq!(e["run_id"], "run_0");
            seqs.push(e["seq"].as_u64().unwrap());
        }
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        after = page["next_after_seq"].as_u64().unwrap();
    }
    assert_eq!(seqs, (1..=25).collect::<Vec<u64>>());
    let (_, units) = daemon.get("/api/history/runs/run_0/events?type=unit");
    assert_eq!(units["total"], 5);
    assert!(
        units["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] == "unit.started")
    );
    let (_, b_tasks) = daemon.get("/api/history/runs/run_0/events?type=task&unit=b");
    assert_eq!(b_tasks["total"], 12);
    let (_, default_page) = daemon.get("/api/history/runs/run_0/events");
    assert_eq!(default_page["events"].as_array().unwrap().len(), 25);
    assert_refused(
        daemon.get("/api/history/runs/nope/events"),
        404,
        "NOT_FOUND",
    );
    assert_refused(daemon.get("/api/history/runs/nope"), 404, "NOT_FOUND");
    assert_refused(
        daemon.get("/api/history/runs/run_0/events?after_seq=x"),
        400,
        "INVALID_PARAM",
    );
}

#[test]
fn run_level_changes_are_recorded_as_events() {
    let daemon = Daemon::start();
    let id = daemon.start_run(run_body("/src/app"));
    let graph = json!({"nodes": [{"id": "a", "level": 0, "status": "pending"}, {"id": "b", "level": 1, "status": "pending"}],
                       "edges": [{"from": "b", "to": "a"}], "levels": [["a"], ["b"]]});
    let started = json!({"events": [{"type": "orch.started", "payload": {"unit_count": 2, "parallelism": 2, "graph": graph}},
                                    {"type": "unit.completed", "unit": "a"}]});
    assert_eq!(
        daemon.post(&format!("/api/runs/{id}/events"), &started).0,
        200
    );
    let (_, g) = daemon.get(&format!("/api/history/runs/{id}/graph"));
    assert_eq!(g["edges"], json!([{"from": "b", "to": "a"}]));
    assert_eq!(g["nodes"][1]["id"], "b");

    let (status, stopped) = daemon.post(
        &format!("/api/runs/{id}/stop"),
        &json!({"reason": "ctrl-c with ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}),
    );
    assert_eq!(
        (status, stopped["seq"].clone()),
        (200, json!(3)),
        "{stopped}"
    );
    assert_refused(
        daemon.post(&format!("/api/runs/{id}/stop"), &json!({})),
        400,
        "INVALID_PARAM",
    );
    let auth = format!("Bearer {TOKEN}");
    let (status, resumed) = daemon.post_with(
        &format!("/api/runs/{id}/resume"),
        b"",
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(
        (resumed["seq"].clone(), resumed["resumed_from_seq"].clone()),
        (json!(4), json!(3))
    );
    let (status, done) = daemon.post(
        &format!("/api/runs/{id}/complete"),
        &json!({"status": "completed", "completed_units": 2, "failed_units": 0, "blocked_units": 0}),
    );
    assert_eq!((status, done["seq"].clone()), (200, json!(5)), "{done}");
    assert_refused(
        daemon.post(&format!("/api/runs/{id}/complete"), &json!({})),
        400,
        "MISSING_PARAM",
    );
    assert_refused(
        daemon.post(
            &format!("/api/runs/{id}/complete"),
            &json!({"status": "done"}),
        ),
        400,
        "INVALID_PARAM",
    );
    assert_refused(
        daemon.post("/api/runs/nope/complete", &json!({"status": "failed"})),
        404,
        "NOT_FOUND",
    );

    let (_, page) = daemon.get(&format!("/api/history/runs/{id}/events?type=run"));
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["run.stopped", "run.resumed", "run.completed"]);
    let reason = page["events"][0]["payload"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ctrl-c with ") && !reason.contains("ghp_"),
        "redacted: {reason}"
    );
    assert_eq!(page["events"][1]["payload"]["resumed_from_seq"], 3);
    assert_eq!(page["events"][2]["payload"]["completed_units"], 2);
    let run = daemon.run(&id);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["resume_count"], 1);
    assert_eq!(run["completed_units"], 2);
    assert!(run["completed_at"].is_string());

    let other = daemon.start_run(run_body("/src/app"));
    assert_refused(
        daemon.get(&format!("/api/history/runs/{other}/graph")),
        404,
        "NOT_FOUND",
    );
    assert_refused(daemon.get("/api/history/runs/nope/graph"), 404, "NOT_FOUND");
}

#[test]
fn health_unknown_routes_and_methods() {
    let daemon = Daemon::start();
    daemon.start_run(run_body("/src/app"));
    let (status, health) = daemon.get("/api/health");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["runs"], 1);
    assert_eq!(health["pid"], std::process::id());
    assert_eq!(health["port"], daemon.addr().port());
    assert!(health["version"].is_string() && health["uptime_seconds"].is_u64());
    assert!(health["database"].as_str().unwrap().ends_with("history.db"));
    assert!(health["events_per_second"].is_number());
    assert_refused(daemon.get("/api/nope"), 404, "NOT_FOUND");
    assert_refused(daemon.get("/api/runs"), 405, "METHOD_NOT_ALLOWED");
}

#[test]
fn the_schedule_runs_its_pass_every_interval_until_shutdown() {
    let passes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&passes);
    let daemon = Daemon::start_with(move |o| {
        o.schedule = Some(Schedule {
            interval: Duration::from_millis(50),
            pass: Box::new(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                format!("pass {n}: nothing to do")
            }),
        })
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while passes.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the schedule did not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon.shutdown().expect("serve");
    let after = passes.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        passes.load(Ordering::SeqCst),
        after,
        "no pass after shutdown"
    );
}

// ---- live streams ---------------------------------------------------------------

/// A Server-Sent Events reader: `(id, data)` per message.
struct SseReader {
    lines: BufReader<ureq::BodyReader<'static>>,
}

impl SseReader {
    fn open(daemon: &Daemon, path: &str, last_event_id: Option<&str>) -> SseReader {
        let mut req = daemon.agent().get(&daemon.url(path));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.call().expect("stream");
        assert_eq!(resp.status().as_u16(), 200);
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        SseReader {
            lines: BufReader::new(resp.into_body().into_reader()),
        }
    }

    /// The next message, `None` when the stream ended.
    fn next(&mut self) -> Option<(String, Value)> {
        let (mut id, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return Some((id, serde_json::from_str(&data).expect("data is JSON")));
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if line.starts_with("event:") {
                panic!("messages carry no event name: {line}");
            }
        }
    }
}

/// Posts `batches` batches of `size` events to `run`, one every `pause`.
fn poster(daemon: &Daemon, run: &str, batches: usize, size: usize, pause: Duration) {
    for b in 0..batches {
        let (status, ack) = daemon.post(&format!("/api/runs/{run}/events"), &batch(b * size, size));
        assert_eq!(status, 200, "{ack}");
        std::thread::sleep(pause);
    }
}

#[test]
fn a_run_stream_resumed_with_last_event_id_delivers_every_later_event_once_in_order() {
    let daemon = Daemon::start();
    let id = daemon.start_run(run_body("/src/app"));
    // Some history before anyone listens.
    poster(&daemon, &id, 2, 10, Duration::ZERO);
    let total = 20 + 30 * 10;
    let mut seqs = Vec::new();
    std::thread::scope(|s| {
        let daemon_ref = &daemon;
        let run = id.clone();
        let writer = s.spawn(move || poster(daemon_ref, &run, 30, 10, Duration::from_millis(15)));
        let path = format!("/api/history/runs/{id}/stream");
        let mut last = None;
        // Three connections: cut twice mid-stream, resumed from the last id.
        for cut in [45, 160, usize::MAX] {
            let mut stream = SseReader::open(&daemon, &path, last.as_deref());
            while seqs.len() < total.min(cut) {
                let (sse_id, e) = stream.next().expect("stream ended early");
                assert_eq!(e["run_id"], id.as_str());
                assert_eq!(sse_id, e["seq"].to_string(), "the SSE id is the seq");
                seqs.push(e["seq"].as_u64().unwrap());
                last = Some(sse_id);
            }
        }
        writer.join().expect("writer");
    });
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());

    // `?after=` works like the header; the header wins.
    let mut stream = SseReader::open(
        &daemon,
        &format!("/api/history/runs/{id}/stream?after=318"),
        None,
    );
    assert_eq!(stream.next().unwrap().1["seq"], 319);
    let mut stream = SseReader::open(
        &daemon,
        &format!("/api/history/runs/{id}/stream?after=1"),
        Some("319"),
    );
    assert_eq!(stream.next().unwrap().1["seq"], 320);
    assert_refused(
        daemon.get("/api/history/runs/nope/stream"),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn the_all_runs_stream_follows_every_run_in_storage_order() {
    let daemon = Daemon::start();
    let a = daemon.start_run(run_body("/src/a"));
    let b = daemon.start_run(run_body("/src/b"));
    poster(&daemon, &a, 1, 5, Duration::ZERO); // before connecting: not sent
    let mut stream = SseReader::open(&daemon, "/api/stream", None);
    let mut got: Vec<(u64, String, u64)> = Vec::new();
    std::thread::scope(|s| {
        let d = &daemon;
        let (ra, rb) = (a.clone(), b.clone());
        let wa = s.spawn(move || poster(d, &ra, 20, 5, Duration::from_millis(5)));
        let wb = s.spawn(move || poster(d, &rb, 20, 5, Duration::from_millis(5)));
        let mut last = String::new();
        while got.len() < 80 {
            let (id, e) = stream.next().expect("stream");
            got.push((
                id.parse().unwrap(),
                e["run_id"].as_str().unwrap().to_owned(),
                e["seq"].as_u64().unwrap(),
            ));
            assert_eq!(id, e["id"].to_string(), "the SSE id is the event id");
            last = id;
        }
        drop(stream);
        let mut resumed = SseReader::open(d, "/api/stream", Some(&last));
        while got.len() < 200 {
            let (id, e) = resumed.next().expect("stream");
            got.push((
                id.parse().unwrap(),
                e["run_id"].as_str().unwrap().to_owned(),
                e["seq"].as_u64().unwrap(),
            ));
        }
        wa.join().unwrap();
        wb.join().unwrap();
    });
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "ids only grow");
    for (run, first) in [(&a, 6), (&b, 1)] {
        let seqs: Vec<u64> = got.iter().filter(|g| &g.1 == run).map(|g| g.2).collect();
        assert_eq!(
            seqs,
            (first..first + 100).collect::<Vec<u64>>(),
            "run {run}"
        );
    }
}

// ---- shutdown ---------------------------------------------------------------------

#[test]
fn shutdown_ends_streams_and_keeps_every_acknowledged_event_with_the_wal_truncated() {
    let daemon = Daemon::start();
    let runs: Vec<String> = (0..2)
        .map(|i| daemon.start_run(run_body(&format!("/src/{i}"))))
        .collect();
    let mut stream = SseReader::open(&daemon, "/api/stream", None);
    let stop = AtomicBool::new(false);
    let acked: Vec<u64> = std::thread::scope(|s| {
        let writers: Vec<_> = runs
            .iter()
            .map(|run| {
                let (d, stop) = (&daemon, &stop);
                s.spawn(move || {
                    let mut last = 0;
                    let agent_url = d.url(&format!("/api/runs/{run}/events"));
                    let auth = format!("Bearer {TOKEN}");
                    for b in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let sent = d
                            .agent()
                            .post(&agent_url)
                            .header("Authorization", &auth)
                            .send(batch(b * 50, 50).to_string().as_bytes());
                        match sent.map(reply) {
                            Ok((200, ack)) => last = ack["last_seq"].as_u64().unwrap(),
                            _ => break, // the server is gone
                        }
                    }
                    last
                })
            })
            .collect();
        // Let the stream see some, then stop the server under load.
        for _ in 0..100 {
            stream.next().expect("stream");
        }
        std::thread::sleep(Duration::from_millis(100));
        daemon.shutdown().expect("serve returns Ok");
        stop.store(true, Ordering::SeqCst);
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // The open stream ended (after what was already in flight).
    while stream.next().is_some() {}

    let wal = PathBuf::from(format!("{}-wal", daemon.db_path().display()));
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "WAL truncated at shutdown"
    );
    let db = daemon.open_db();
    db.integrity_check().expect("integrity");
    for (run, acked) in runs.iter().zip(acked) {
        assert!(acked > 0, "some batches were acknowledged");
        let stored = db.get_run(run).unwrap().unwrap();
        assert!(
            stored.last_seq >= acked,
            "run {run}: acked {acked}, stored {}",
            stored.last_seq
        );
        assert_eq!(stored.event_count, stored.last_seq);
    }
}

/// A raw `GET /api/health` on a fresh connection: the status line, or the
/// error; never waits more than 20 s.
fn raw_health(addr: SocketAddr) -> Result<String, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(
        tcp,
        "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// Whether the server closed `tcp` (EOF) within 20 s.
fn closed_by_server(tcp: &mut TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    matches!(tcp.read(&mut buf), Ok(0))
        || matches!(tcp.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[test]
fn idle_and_stalled_connections_are_closed_after_the_header_timeout() {
    let daemon = Daemon::start_with(|o| o.limits.header_timeout = Duration::from_millis(500));
    // Never sends a byte.
    let mut idle = TcpStream::connect(daemon.addr()).expect("connect");
    // Sends half a header and stalls (slowloris).
    let mut stalled = TcpStream::connect(daemon.addr()).expect("connect");
    write!(
        stalled,
        "GET /api/health HTTP/1.1\r\nHost: {}\r\n",
        daemon.addr()
    )
    .expect("write");
    // Keeps the connection alive after one request, then goes quiet.
    let mut kept = TcpStream::connect(daemon.addr()).expect("connect");
    write!(
        kept,
        "GET /api/health HTTP/1.1\r\nHost: {}\r\n\r\n",
        daemon.addr()
    )
    .expect("write");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).expect("a reply");
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut rest = Vec::new();
    kept.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // Reads the rest of the reply, then EOF when the idle connection is closed.
    let _ = kept.read_to_end(&mut rest);
    assert!(
        closed_by_server(&mut idle),
        "an idle connection stayed open"
    );
    assert!(
        closed_by_server(&mut stalled),
        "a stalled header stayed open"
    );
    assert_eq!(raw_health(daemon.addr()).as_deref(), Ok("HTTP/1.1 200 OK"));
}

#[test]
fn connections_over_the_cap_get_503_at_once_and_health_answers_when_they_go() {
    let daemon = Daemon::start_with(|o| {
        o.limits.max_connections = Some(8);
        o.limits.header_timeout = Duration::from_secs(5);
    });
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(daemon.addr()).expect("connect"))
        .collect();
    // Once the server has accepted all eight (how soon depends on the
    // machine's load: polled, not slept), the ninth is refused at once.
    // The header timeout is long enough that the eight are still held.
    let deadline = Instant::now() + Duration::from_secs(4);
    let status = loop {
        let status = raw_health(daemon.addr()).expect("an answer, not a hang");
        if status.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    // The idle eight are closed by the header timeout; health answers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match raw_health(daemon.addr()) {
            Ok(s) if s == "HTTP/1.1 200 OK" => break,
            other if Instant::now() > deadline => panic!("health never answered: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    drop(held);
}

#[test]
fn eleven_hundred_idle_sockets_never_silence_the_daemon() {
    // Before the limits, 1,100 idle sockets exhausted 1,024 descriptors and
    // the daemon answered nothing. Client and server share this process:
    // raise our limit so the clients' sockets can be opened at all.
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum {
        limit.current = Some(hard.min(8192));
        let _ = setrlimit(Resource::Nofile, limit);
    }
    let daemon = Daemon::start_with(|o| o.limits.header_timeout = Duration::from_secs(2));
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(daemon.addr()) {
            Ok(tcp) => idle.push(tcp),
            Err(e) => panic!("could only open {} sockets: {e}", idle.len()),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match raw_health(daemon.addr()) {
            Ok(s) if s == "HTTP/1.1 200 OK" => break,
            other if Instant::now() > deadline => panic!("health never answered: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    // And every idle one is closed in the end.
    let still_open = idle
        .iter_mut()
        .take(50)
        .map(closed_by_server)
        .filter(|closed| !closed)
        .count();
    assert_eq!(still_open, 0);
}

#[test]
fn a_live_stream_outlives_the_header_timeout() {
    // The header timeout closes connections waiting for a request, never a
    // stream being answered.
    let daemon = Daemon::start_with(|o| o.limits.header_timeout = Duration::from_millis(300));
    let id = daemon.start_run(run_body("/src/a"));
    let mut stream = SseReader::open(&daemon, "/api/stream", None);
    std::thread::sleep(Duration::from_millis(1500));
    poster(&daemon, &id, 1, 3, Duration::ZERO);
    for seq in 1..=3u64 {
        let (_, e) = stream.next().expect("the stream is still open");
        assert_eq!(e["seq"].as_u64(), Some(seq));
    }
}

// ---- the web UI and its API additions ------------------------------------------

/// Sends a raw request and returns the whole response head (lower-cased) and body.
fn raw_text(addr: SocketAddr, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn repos_lists_every_repository_newest_first_with_counts_per_status() {
    let d = Daemon::start();
    let (status, empty) = d.get("/api/history/repos");
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({"repos": []}));
    let run = |repo: &str, at: &str| {
        d.start_run(
            json!({"repo_path": repo, "parallelism": 1, "total_units": 1, "started_at": at}),
        )
    };
    let a1 = run("/src/a", "2026-01-01T10:00:00Z");
    let _a2 = run("/src/a", "2026-01-03T10:00:00Z");
    let b1 = run("/src/b", "2026-01-02T10:00:00Z");
    let b2 = run("/src/b", "2026-01-01T09:00:00Z");
    assert_eq!(
        d.post(
            &format!("/api/runs/{a1}/complete"),
            &json!({"status": "failed"})
        )
        .0,
        200
    );
    assert_eq!(
        d.post(
            &format!("/api/runs/{b1}/complete"),
            &json!({"status": "completed"})
        )
        .0,
        200
    );
    assert_eq!(d.post(&format!("/api/runs/{b2}/stop"), &json!({})).0, 200);
    let (status, reply) = d.get("/api/history/repos");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({"repos": [
            {"repo_path": "/src/a", "runs": 2, "running": 1, "completed": 0, "failed": 1, "stopped": 0,
             "last_started_at": "2026-01-03T10:00:00.000000000Z"},
            {"repo_path": "/src/b", "runs": 2, "running": 0, "completed": 1, "failed": 0, "stopped": 1,
             "last_started_at": "2026-01-02T10:00:00.000000000Z"}
        ]})
    );
}

#[test]
fn repos_refuses_query_parameters_it_does_not_know() {
    let d = Daemon::start();
    let (status, reply) = d.get("/api/history/repos?limit=5");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["code"], "INVALID_PARAM");
}

#[test]
fn the_web_ui_is_served_with_a_strict_content_security_policy() {
    let d = Daemon::start();
    let port = d.addr().port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (head, body) = raw_text(
            d.addr(),
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert!(head.starts_with("http/1.1 200"), "{host}: {head}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(
            head.contains(
                "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'"
            ),
            "{head}"
        );
        assert!(head.contains("frame-ancestors 'none'"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(head.contains("referrer-policy: no-referrer"), "{head}");
        assert!(
            body.contains("<script type=\"module\" src=\"ui/app.js\"></script>"),
            "{body}"
        );
    }
    // Assets: the right type, the same headers; unknown files are 404.
    let (head, body) = raw_text(
        d.addr(),
        &format!("GET /ui/app.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(body.contains("import"), "{body}");
    let (head, _) = raw_text(
        d.addr(),
        &format!(
            "GET /ui/vendor/d3.v7.9.2.min.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_owned();
    let (head, body) = raw_text(
        d.addr(),
        &format!(
            "GET /ui/vendor/d3.v7.9.2.min.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(body.is_empty());
    for missing in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/index.html"] {
        let (status, reply) = d.get(missing);
        assert_eq!(status, 404, "{missing}: {reply}");
        assert_eq!(reply["code"], "NOT_FOUND");
    }
}

#[test]
fn the_web_ui_obeys_the_host_rule() {
    let d = Daemon::start();
    let (status, reply) = raw(
        d.addr(),
        &format!(
            "GET / HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
            d.addr().port()
        ),
    );
    assert_refused((status, reply), 403, "FORBIDDEN");
}

#[test]
fn unknown_query_parameters_are_refused_not_ignored() {
    let d = Daemon::start();
    let id = d.start_run(run_body("/src/app"));
    for path in [
        format!("/api/history/runs/{id}/events?page=2"),
        "/api/history/runs?repo=/src/app&page=2".to_owned(),
        format!("/api/history/runs/{id}/stream?since=3"),
    ] {
        let (status, reply) = d.get(&path);
        assert_eq!(status, 400, "{path}: {reply}");
        assert_eq!(reply["code"], "INVALID_PARAM", "{path}");
        let message = reply["error"].as_str().unwrap_or_default();
        assert!(message.contains("unknown field"), "{path}: {message}");
    }
    // The known ones still work.
    let (status, reply) = d.get(&format!(
        "/api/history/runs/{id}/events?after_seq=0&limit=5&type=unit&unit=a"
    ));
    assert_eq!(status, 200, "{reply}");
}

#[test]
fn every_ui_file_goes_gzipped_to_clients_that_accept_it_and_unpacks_to_the_same_bytes() {
    use std::io::Read as _;
    let d = Daemon::start();
    let port = d.addr().port();
    let ask = |path: &str, extra: &str| {
        let mut stream = TcpStream::connect(d.addr()).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("write");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
        (head, out[split + 4..].to_vec())
    };
    let etag = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("etag: "))
            .map(str::to_owned)
            .expect("an etag")
    };
    let mut plain_total = 0;
    let mut gz_total = 0;
    for path in [
        "/",
        "/ui/app.js",
        "/ui/app.css",
        "/ui/timeline.js",
        "/ui/detail.js",
        "/ui/vendor/d3.v7.9.2.min.js",
        "/ui/vendor/LICENSE-d3.txt",
    ] {
        // Without Accept-Encoding (curl, scripts): the plain bytes.
        let (plain_head, plain) = ask(path, "");
        assert!(
            plain_head.starts_with("http/1.1 200"),
            "{path}: {plain_head}"
        );
        assert!(
            !plain_head.contains("content-encoding"),
            "{path}: {plain_head}"
        );
        assert!(
            plain_head.contains("vary: accept-encoding"),
            "{path}: {plain_head}"
        );
        // A browser: gzip, smaller (a script: half or less), the same bytes unpacked.
        let (gz_head, gz) = ask(path, "Accept-Encoding: gzip, deflate, br, zstd\r\n");
        assert!(gz_head.starts_with("http/1.1 200"), "{path}: {gz_head}");
        assert!(
            gz_head.contains("content-encoding: gzip"),
            "{path}: {gz_head}"
        );
        assert!(
            gz_head.contains("vary: accept-encoding"),
            "{path}: {gz_head}"
        );
        assert!(
            gz_head.contains(&format!("content-length: {}", gz.len())),
            "{path}: {gz_head}"
        );
        assert!(
            gz.len() < plain.len() && (plain.len() < 4096 || gz.len() * 2 < plain.len()),
            "{path}: {} vs {}",
            gz.len(),
            plain.len()
        );
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unpacked)
            .expect("gunzip");
        assert!(
            unpacked == plain,
            "{path}: the gzip does not unpack to the file"
        );
        // The same headers either way; one entity tag per encoding.
        for h in [
            "content-security-policy:",
            "x-content-type-options: nosniff",
            "content-type:",
        ] {
            assert!(gz_head.contains(h) && plain_head.contains(h), "{path}: {h}");
        }
        let (plain_tag, gz_tag) = (etag(&plain_head), etag(&gz_head));
        assert_ne!(plain_tag, gz_tag, "{path}: one tag per encoding");
        // Revalidation: each tag is current for its own encoding only.
        let (head, body) = ask(
            path,
            &format!("Accept-Encoding: gzip\r\nIf-None-Match: {gz_tag}\r\n"),
        );
        assert!(head.starts_with("http/1.1 304"), "{path}: {head}");
        assert!(body.is_empty());
        let (head, body) = ask(path, &format!("If-None-Match: {gz_tag}\r\n"));
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(body == plain, "{path}");
        let (head, _) = ask(
            path,
            &format!("Accept-Encoding: gzip\r\nIf-None-Match: {plain_tag}\r\n"),
        );
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        // gzip refused (q=0): plain.
        let (head, body) = ask(path, "Accept-Encoding: gzip;q=0, br\r\n");
        assert!(!head.contains("content-encoding"), "{path}: {head}");
        assert!(body == plain, "{path}");
        plain_total += plain.len();
        gz_total += gz.len();
    }
    eprintln!("plain {plain_total} bytes, gzipped {gz_total} bytes");
}

// ---- events: both directions, search, offset, export -------------------------------

/// A run of 30 events: seq n has type `unit.started` when n % 5 == 1, else
/// `task.completed`; unit `a` for seqs 1..=10, `b` after; seq 7 carries an
/// error and seq 12 a payload with "Timeout".
fn searchable_run(daemon: &Daemon) -> String {
    let id = daemon.start_run(run_body("/src/app"));
    let events: Vec<Value> = (1..=30)
        .map(|n| {
            let kind = if n % 5 == 1 {
                "unit.started"
            } else {
                "task.completed"
            };
            let mut e = json!({"time": "2025-01-20T14:30:52Z", "type": kind,
                               "unit": if n <= 10 { "a" } else { "b" }, "payload": {"n": n}});
            if n == 7 {
                e["error"] = json!("exit status 1");
            }
            if n == 12 {
                e["payload"] = json!({"n": n, "output": "Request TIMEOUT after 30s"});
            }
            e
        })
        .collect();
    let (status, ack) = daemon.post(
        &format!("/api/runs/{id}/events"),
        &json!({"events": events}),
    );
    assert_eq!(status, 200, "{ack}");
    id
}

fn seqs_of(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn events_page_backwards_by_before_seq_newest_first_with_filters() {
    let d = Daemon::start();
    let id = searchable_run(&d);
    let (status, page) = d.get(&format!("/api/history/runs/{id}/events?order=desc&limit=4"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(seqs_of(&page), [30, 29, 28, 27]);
    assert_eq!(page["total"], 30);
    assert_eq!(page["next_before_seq"], 27);
    assert!(page["next_after_seq"].is_null());
    // Follow next_before_seq to the start: every seq once, newest first.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let (_, page) = d.get(&format!(
            "/api/history/runs/{id}/events?order=desc&limit=7&type=task&unit=b{before}"
        ));
        assert_eq!(page["total"], 16, "task.* of unit b");
        seen.extend(seqs_of(&page));
        if !page["has_more"].as_bool().unwrap() {
            assert!(page["next_before_seq"].is_null());
            break;
        }
        before = format!("&before_seq={}", page["next_before_seq"]);
    }
    let want: Vec<u64> = (11..=30).rev().filter(|n| n % 5 != 1).collect();
    assert_eq!(seen, want);
    // before_seq in ascending order: the events just before, oldest first.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?before_seq=10&after_seq=4&limit=3"
    ));
    assert_eq!(seqs_of(&page), [5, 6, 7]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["next_after_seq"], 7);
    let (_, page) = d.get(&format!("/api/history/runs/{id}/events?before_seq=1"));
    assert_eq!(seqs_of(&page), Vec::<u64>::new());
    assert_eq!(page["has_more"], false);
}

#[test]
fn events_search_q_uses_the_uis_grammar_on_the_server() {
    let d = Daemon::start();
    let id = searchable_run(&d);
    let search = |q: &str| {
        let (status, page) = d.get(&format!(
            "/api/history/runs/{id}/events?q={}",
            q.replace(' ', "%20")
                .replace('"', "%22")
                .replace(':', "%3A")
        ));
        assert_eq!(status, 200, "{q}: {page}");
        (seqs_of(&page), page["total"].as_u64().unwrap())
    };
    assert_eq!(search("unit:a type:unit"), (vec![1, 6], 2));
    assert_eq!(
        search("unit:b unit:a type:unit.started"),
        (vec![1, 6, 11, 16, 21, 26], 6)
    );
    assert_eq!(
        search("type:unit.start"),
        (vec![], 0),
        "whole segments only"
    );
    assert_eq!(
        search("timeout"),
        (vec![12], 1),
        "payload text, any ASCII case"
    );
    assert_eq!(
        search("\"EXIT status\" unit:a"),
        (vec![7], 1),
        "errors, a quoted phrase"
    );
    assert_eq!(search("exit status"), (vec![7], 1), "every word");
    assert_eq!(search("exit missing"), (vec![], 0));
    assert_eq!(
        search("   "),
        ((1..=30).collect(), 30),
        "an empty query is no filter"
    );
    // q combines with type=, unit=, the bounds and the order.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?q=task&unit=b&order=desc&limit=2&before_seq=20"
    ));
    assert_eq!(seqs_of(&page), [19, 18]);
    assert_eq!(page["total"], 16);
}

#[test]
fn events_failed_true_reads_only_failures_the_way_the_ui_counts_them() {
    let d = Daemon::start();
    let id = searchable_run(&d);
    // After the 30: seq 31 unit.failed, 32 task.fail, 33 a type that only
    // says "Failed" in upper case (not a failure), 34 run.failed.
    let more: Vec<Value> = ["unit.failed", "task.fail", "unit.Failed", "run.failed"]
        .iter()
        .map(|t| json!({"time": "2025-01-20T14:31:00Z", "type": t, "unit": "b"}))
        .collect();
    let (status, ack) = d.post(&format!("/api/runs/{id}/events"), &json!({"events": more}));
    assert_eq!(status, 200, "{ack}");
    let (status, page) = d.get(&format!("/api/history/runs/{id}/events?failed=true"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        seqs_of(&page),
        [7, 31, 32, 34],
        "an error, or a failing type"
    );
    assert_eq!(page["total"], 4);
    // It combines with the other filters, the bounds and the order.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?failed=true&unit=b&order=desc&limit=1"
    ));
    assert_eq!(seqs_of(&page), [34]);
    assert_eq!(
        (page["total"].as_u64(), page["has_more"].as_bool()),
        (Some(3), Some(true))
    );
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?failed=true&q=type%3Atask&after_seq=7&limit=1"
    ));
    assert_eq!(seqs_of(&page), [32]);
    // The NDJSON export narrows the same way.
    let (status, _, text) = get_text(
        &d,
        &format!("/api/history/runs/{id}/events.ndjson?failed=true"),
    );
    assert_eq!(status, 200, "{text}");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, [7, 31, 32, 34]);
    let (_, page) = d.get(&format!("/api/history/runs/{id}/events?failed=false"));
    assert_eq!(page["total"], 34, "false is no filter");
    let (status, reply) = d.get(&format!("/api/history/runs/{id}/events?failed=yes"));
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("INVALID_PARAM")),
        "{reply}"
    );
}

#[test]
fn events_offset_is_honoured_and_combines_with_filters() {
    let d = Daemon::start();
    let id = searchable_run(&d);
    // choo's client pages by offset until has_more is false: it ends.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (status, page) = d.get(&format!(
            "/api/history/runs/{id}/events?limit=8&offset={offset}"
        ));
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 30);
        let got = seqs_of(&page);
        offset += got.len();
        seen.extend(got);
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        assert!(seen.len() < 30, "has_more after the last event");
    }
    assert_eq!(seen, (1..=30).collect::<Vec<u64>>());
    let (_, past) = d.get(&format!("/api/history/runs/{id}/events?offset=999"));
    assert_eq!(seqs_of(&past), Vec::<u64>::new());
    assert_eq!(past["has_more"], false);
    // With a filter, the offset counts matches, not seqs.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?type=unit&offset=2&limit=2"
    ));
    assert_eq!(seqs_of(&page), [11, 16]);
    assert_eq!(page["has_more"], true);
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?type=unit&offset=4&limit=2"
    ));
    assert_eq!(seqs_of(&page), [21, 26]);
    assert_eq!(page["has_more"], false);
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?q=unit%3Ab&offset=3&limit=2&after_seq=12"
    ));
    assert_eq!(seqs_of(&page), [16, 17], "after seq 12, skip 13..15");
    // Newest first, with and without a filter.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?order=desc&offset=5&limit=3"
    ));
    assert_eq!(seqs_of(&page), [25, 24, 23]);
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?order=desc&type=unit&offset=5&limit=3"
    ));
    assert_eq!(seqs_of(&page), [1]);
    assert_eq!(page["has_more"], false);
}

#[test]
fn bad_events_parameters_are_refused_with_the_error_envelope() {
    let d = Daemon::start();
    let id = searchable_run(&d);
    let long = "x".repeat(1001);
    let many = vec!["w"; 33].join("%20");
    for query in [
        "order=up".to_owned(),
        "before_seq=x".to_owned(),
        "before_seq=-1".to_owned(),
        "offset=abc".to_owned(),
        "offset=-2".to_owned(),
        format!("q={long}"),
        format!("q={many}"),
    ] {
        let path = format!("/api/history/runs/{id}/events?{query}");
        let (status, reply) = d.get(&path);
        assert_eq!(status, 400, "{query}: {reply}");
        assert_eq!(reply["code"], "INVALID_PARAM", "{query}");
        assert!(
            reply["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{query}"
        );
    }
    assert_refused(
        d.get("/api/history/runs/nope/events?order=desc"),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn a_new_run_is_announced_on_the_all_runs_stream_before_its_first_event() {
    let d = Daemon::start();
    let mut stream = SseReader::open(&d, "/api/stream", None);
    let id = d.start_run(run_body("/src/new"));
    let (sse_id, notice) = stream.next().expect("the run.started notice");
    assert_eq!(sse_id, "", "a notice carries no SSE id: {notice}");
    assert_eq!(notice["type"], "run.started");
    assert_eq!(notice["run_id"], id.as_str());
    assert_eq!(notice["seq"], 0);
    assert_eq!(notice["payload"]["id"], id.as_str());
    assert_eq!(notice["payload"]["repo_path"], "/src/new");
    assert_eq!(notice["payload"]["status"], "running");
    assert_eq!(notice["time"], notice["payload"]["started_at"]);
    // It is not stored: the run's first event is still seq 1, and the
    // stream goes on with it.
    let (status, _) = d.post(&format!("/api/runs/{id}/events"), &batch(0, 1));
    assert_eq!(status, 200);
    let (sse_id, e) = stream.next().expect("the first event");
    assert_eq!(e["seq"], 1);
    assert_eq!(sse_id, e["id"].to_string());
    assert_eq!(d.run(&id)["event_count"], 1);
}

/// Reads a GET's status, headers and body as text.
fn get_text(d: &Daemon, path: &str) -> (u16, ureq::http::HeaderMap, String) {
    let mut resp = d.agent().get(&d.url(path)).call().expect("GET");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .unwrap_or_default();
    (status, headers, text)
}

#[test]
fn the_ndjson_export_streams_every_event_as_an_attachment() {
    let d = Daemon::start();
    let id = d.start_run(run_body("/src/app"));
    // 2,500 events: three pages of the export's reads.
    for b in 0..5 {
        let (status, _) = d.post(&format!("/api/runs/{id}/events"), &batch(b * 500, 500));
        assert_eq!(status, 200);
    }
    let (status, headers, text) = get_text(&d, &format!("/api/history/runs/{id}/events.ndjson"));
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{id}.ndjson\"").as_str()
    );
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2500);
    let seqs: Vec<u64> = lines.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=2500).collect::<Vec<u64>>());
    // Each line is the event as the events route returns it.
    let (_, page) = d.get(&format!(
        "/api/history/runs/{id}/events?after_seq=1200&limit=1"
    ));
    assert_eq!(lines[1200], page["events"][0]);
    // Filters and search narrow it; paging parameters are refused.
    let (_, _, some) = get_text(
        &d,
        &format!("/api/history/runs/{id}/events.ndjson?unit=u1&q=task.completed&after_seq=2000"),
    );
    let n = some.lines().count();
    assert_eq!(n, 125, "units u1 after seq 2000");
    for query in ["limit=5", "order=desc", "offset=1", "format=csv"] {
        assert_refused(
            d.get(&format!("/api/history/runs/{id}/events.ndjson?{query}")),
            400,
            "INVALID_PARAM",
        );
    }
    assert_refused(
        d.get("/api/history/runs/nope/events.ndjson"),
        404,
        "NOT_FOUND",
    );
    // An empty run is an empty file.
    let empty = d.start_run(run_body("/src/app"));
    let (status, _, text) = get_text(&d, &format!("/api/history/runs/{empty}/events.ndjson"));
    assert_eq!((status, text.as_str()), (200, ""));
}

/// This process's resident memory, in KiB (Linux `/proc`), or 0.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// The NDJSON export of a run of a million events: its time and the
/// daemon's (this process's) resident memory while it streams. A
/// measurement, not a test: `cargo test -p otto-hooks --test daemon_api
/// measure_the_ndjson_export -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; prints numbers"]
fn measure_the_ndjson_export_of_a_million_events() {
    use otto_hooks_plugin_api::Timestamp;
    use otto_hooks_sqlite::{NewEvent, NewRun};
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("history.db");
    {
        let db = HistoryDb::open(&db_path, &Options::default()).expect("open");
        db.start_run(NewRun {
            id: "run_big".into(),
            project: "/src/big".into(),
            repo_path: "/src/big".into(),
            started_at: Timestamp::from_secs(1_700_000_000),
            parallelism: 4,
            total_units: 8,
            tasks_dir: None,
            dry_run: false,
        })
        .expect("start");
        for chunk in 0..N / 10_000 {
            let events = (0..10_000)
                .map(|i| {
                    let mut e = NewEvent::new(
                        Timestamp::from_secs(1_700_000_000 + chunk as i64),
                        "task.completed",
                    );
                    e.unit = Some(format!("u{}", i % 8));
                    e.task = Some(i);
                    e.payload = Some(format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(80)));
                    e
                })
                .collect();
            db.append_events("run_big", events).expect("append");
        }
        db.close().expect("close");
    }
    let daemon = Daemon::start_with(|o| *o = ServerOptions::new(&db_path, TOKEN));
    let before = rss_kib();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let resp = daemon
        .agent()
        .get(&daemon.url("/api/history/runs/run_big/events.ndjson"))
        .call()
        .expect("GET");
    let mut reader = BufReader::new(resp.into_body().into_reader());
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut line = String::new();
    while reader.read_line(&mut line).expect("read") > 0 {
        lines += 1;
        bytes += line.len() as u64;
        line.clear();
    }
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert_eq!(lines, N);
    println!(
        "NDJSON export of {N} events: {:.1} MB in {:.2} s ({:.0} events/s); resident memory {} MiB before, peak {} MiB while streaming",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64(),
        before / 1024,
        peak.load(Ordering::Relaxed) / 1024
    );
}

#[test]
fn units_summarises_each_unit_with_its_span_counts_and_final_state() {
    let d = Daemon::start();
    let id = d.start_run(run_body("/src/app"));
    let at = |s: u32| format!("2026-01-01T10:00:{s:02}Z");
    let ev = |s: u32, kind: &str, unit: &str| json!({"time": at(s), "type": kind, "unit": unit});
    let events = json!({"events": [
        {"time": at(0), "type": "orch.started"},
        ev(1, "unit.queued", "api"),
        ev(2, "unit.queued", "web"),
        ev(3, "unit.started", "api"),
        {"time": at(4), "type": "task.completed", "unit": "api", "task": 1},
        {"time": at(5), "type": "task.retry", "unit": "api", "task": 2},
        ev(6, "unit.started", "web"),
        ev(7, "pr.created", "web"),
        {"time": at(8), "type": "unit.failed", "unit": "api", "error": "exit 1"},
        ev(9, "unit.started", "api"),
        {"time": at(10), "type": "task.completed", "unit": "api", "task": 2},
        ev(11, "unit.completed", "api"),
        ev(12, "unit.blocked", "db"),
        ev(13, "unit.queued", "docs"),
        {"time": at(14), "type": "note", "unit": ""},
        ev(15, "claude.invoke", "lint"),
    ]});
    let (status, reply) = d.post(&format!("/api/runs/{id}/events"), &events);
    assert_eq!(status, 200, "{reply}");

    let (status, reply) = d.get(&format!("/api/history/runs/{id}/units"));
    assert_eq!(status, 200, "{reply}");
    let t = |s: u32| format!("2026-01-01T10:00:{s:02}.000000000Z");
    assert_eq!(
        reply,
        json!({"units": [
            {"unit": "api", "status": "complete", "status_event": "unit.completed",
             "first_seq": 2, "first_time": t(1), "last_seq": 12, "last_time": t(11),
             "started_time": t(3), "events": 8, "tasks_done": 2, "retries": 1},
            {"unit": "web", "status": "pr_open", "status_event": "unit.started",
             "first_seq": 3, "first_time": t(2), "last_seq": 8, "last_time": t(7),
             "started_time": t(6), "events": 3, "tasks_done": 0, "retries": 0},
            {"unit": "db", "status": "blocked", "status_event": "unit.blocked",
             "first_seq": 13, "first_time": t(12), "last_seq": 13, "last_time": t(12),
             "started_time": null, "events": 1, "tasks_done": 0, "retries": 0},
            {"unit": "docs", "status": "ready", "status_event": "unit.queued",
             "first_seq": 14, "first_time": t(13), "last_seq": 14, "last_time": t(13),
             "started_time": null, "events": 1, "tasks_done": 0, "retries": 0},
            {"unit": "lint", "status": "pending", "status_event": null,
             "first_seq": 16, "first_time": t(15), "last_seq": 16, "last_time": t(15),
             "started_time": null, "events": 1, "tasks_done": 0, "retries": 0},
        ]})
    );
}

#[test]
fn units_of_an_unknown_run_is_404_and_of_a_run_without_units_is_empty() {
    let d = Daemon::start();
    let (status, reply) = d.get("/api/history/runs/run_20260101_000000_dead/units");
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["code"], "NOT_FOUND");
    let id = d.start_run(run_body("/src/app"));
    let (status, reply) = d.get(&format!("/api/history/runs/{id}/units"));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, json!({"units": []}));
}

#[test]
fn units_refuses_query_parameters_it_does_not_know() {
    let d = Daemon::start();
    let id = d.start_run(run_body("/src/app"));
    for query in ["limit=5", "unit=api", "after_seq=0"] {
        let (status, reply) = d.get(&format!("/api/history/runs/{id}/units?{query}"));
        assert_eq!(status, 400, "{query}: {reply}");
        assert_eq!(reply["code"], "INVALID_PARAM", "{query}");
    }
}

#[test]
fn runs_before_a_run_are_the_ones_started_before_it_in_its_repository() {
    let daemon = Daemon::start();
    for i in 0..5 {
        let repo = if i % 2 == 0 { "/src/even" } else { "/src/odd" };
        let mut body = run_body(repo);
        body["run_id"] = json!(format!("run_{i}"));
        body["started_at"] = json!(format!("2025-01-2{i}T10:00:00Z"));
        daemon.start_run(body);
    }
    let ids = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // The run before run_4 in /src/even is run_2, then run_0.
    let (status, page) = daemon.get("/api/history/runs?repo=/src/even&before=run_4");
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["run_2", "run_0"]);
    let (_, page) = daemon.get("/api/history/runs?repo=/src/even&before=run_4&limit=1");
    assert_eq!(ids(&page), ["run_2"]);
    assert_eq!(page["has_more"], true);
    // Its next_cursor goes on from there.
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = daemon.get(&format!("/api/history/runs?repo=/src/even&cursor={cursor}"));
    assert_eq!(ids(&page), ["run_0"]);
    // Every repository; the oldest run has none before it.
    let (_, page) = daemon.get("/api/history/runs?before=run_3");
    assert_eq!(ids(&page), ["run_2", "run_1", "run_0"]);
    let (_, page) = daemon.get("/api/history/runs?before=run_0");
    assert_eq!(ids(&page), Vec::<String>::new());
    // An unknown run is 404; with a cursor too, 400.
    let (status, body) = daemon.get("/api/history/runs?before=run_9");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, body) = daemon.get(&format!("/api/history/runs?before=run_3&cursor={cursor}"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_PARAM");
}
