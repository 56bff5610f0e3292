//! The insight routes of the daemon (`/api/history/stats`, `tasks/{name}`,
//! `compare`, `flaky`) over real HTTP on 127.0.0.1, runs recorded through
//! the API into a real history.db; figures checked by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use otto_hooks_core::daemon::{ServerOptions, serve};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

/// A daemon over a fresh history.db, stopped when dropped.
struct Daemon {
    addr: SocketAddr,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let options = ServerOptions::new(dir.path().join("history.db"), TOKEN);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            serve(options, listener, async move {
                let _ = rx.await;
            })
        });
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

    fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .agent
            .get(format!("http://{}{path}", self.addr))
            .call()
            .unwrap();
        reply(resp)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .agent
            .post(format!("http://{}{path}", self.addr))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send(body.to_string().as_bytes())
            .unwrap();
        reply(resp)
    }

    /// Records a run whose units end as `units` says: (name, ok, seconds).
    fn run(&self, id: &str, start: &str, units: &[(&str, bool, u32)]) {
        let (status, r) = self.post(
            "/api/runs",
            &json!({"run_id": id, "repo_path": "/src/app", "started_at": start,
                    "parallelism": 2, "total_units": units.len()}),
        );
        assert_eq!(status, 201, "{r}");
        let t0 = chrono::DateTime::parse_from_rfc3339(start).unwrap();
        let mut events = Vec::new();
        for (unit, ok, secs) in units {
            events.push(json!({"time": start, "type": "unit.started", "unit": unit}));
            let end = (t0 + chrono::Duration::seconds(i64::from(*secs))).to_rfc3339();
            events.push(if *ok {
                json!({"time": end, "type": "unit.completed", "unit": unit})
            } else {
                json!({"time": end, "type": "unit.failed", "unit": unit,
                       "payload": {"exit_code": 2}})
            });
        }
        let (status, r) = self.post(
            &format!("/api/runs/{id}/events"),
            &json!({ "events": events }),
        );
        assert_eq!(status, 200, "{r}");
        let failed = units.iter().any(|u| !u.1);
        let (status, r) = self.post(
            &format!("/api/runs/{id}/complete"),
            &json!({"status": if failed { "failed" } else { "completed" }}),
        );
        assert_eq!(status, 200, "{r}");
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

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

fn three_runs(d: &Daemon) {
    d.run("run_a", &ago(3), &[("api", true, 30), ("web", true, 4)]);
    d.run("run_b", &ago(2), &[("api", false, 10), ("web", true, 6)]);
    d.run("run_c", &ago(1), &[("api", true, 20), ("web", true, 8)]);
}

#[test]
fn the_insight_routes_answer_what_the_commands_answer() {
    let d = Daemon::start();
    three_runs(&d);

    let (status, stats) = d.get("/api/history/stats?since=7d&trend=true");
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["source"], "history.db");
    assert_eq!(stats["runs"]["total"], 3);
    assert_eq!(stats["runs"]["failed"], 1);
    assert_eq!(stats["tasks"]["total"], 6);
    let api = stats["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "api")
        .unwrap();
    // 30, 10, 20 → p50 20; the failure counts: 2 of 3.
    assert_eq!(api["p50_seconds"], 20.0);
    assert_eq!(api["failed"], 1);
    assert_eq!(api["series"].as_array().unwrap().len(), 20);
    assert_eq!(stats["previous"]["runs"]["total"], 0);

    let (status, h) = d.get("/api/history/tasks/api?status=failed");
    assert_eq!(status, 200, "{h}");
    let runs: Vec<&str> = h["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["run"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["run_b"]);
    assert_eq!(h["executions"][0]["exit_code"], 2);
    let (_, all) = d.get("/api/history/tasks/web?limit=2");
    let runs: Vec<&str> = all["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["run"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["run_c", "run_b"], "newest first");

    let (status, c) = d.get("/api/history/compare?a=run_a&b=run_b");
    assert_eq!(status, 200, "{c}");
    let api = c["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "api")
        .unwrap();
    assert_eq!(api["status_changed"], true);
    assert_eq!(api["duration_delta_seconds"], -20.0);
    // web: 4 s → 6 s is 2 s and 50 %: beyond noise.
    assert!(
        c["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task"] == "web" && t["duration_changed"] == true)
    );

    let (status, f) = d.get("/api/history/flaky?since=30d");
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["tasks"][0]["task"], "api");
    assert_eq!(f["tasks"][0]["flips"], 2);
    assert_eq!(f["tasks"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_or_unknown_parameters_are_400_and_unknown_names_404() {
    let d = Daemon::start();
    three_runs(&d);
    for (path, status, code) in [
        ("/api/history/stats?offset=3", 400, "INVALID_PARAM"),
        ("/api/history/stats?since=30x", 400, "INVALID_PARAM"),
        ("/api/history/stats?trend=maybe", 400, "INVALID_PARAM"),
        ("/api/history/flaky?limit=3", 400, "INVALID_PARAM"),
        ("/api/history/tasks/api?status=green", 400, "INVALID_PARAM"),
        ("/api/history/tasks/api?limit=0", 400, "INVALID_PARAM"),
        ("/api/history/compare?a=run_a", 400, "MISSING_PARAM"),
        ("/api/history/tasks/aip", 404, "NOT_FOUND"),
        ("/api/history/stats?task=wbe", 404, "NOT_FOUND"),
        ("/api/history/compare?a=run_a&b=run_zzz", 404, "NOT_FOUND"),
        ("/api/history/flaky?project=/src/nope", 404, "NOT_FOUND"),
    ] {
        let (got, body) = d.get(path);
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    let (_, body) = d.get("/api/history/tasks/aip");
    assert!(body["error"].as_str().unwrap().contains("`api`"), "{body}");
}
