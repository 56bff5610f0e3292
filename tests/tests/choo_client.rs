//! choo's history client, replayed byte for byte against the real daemon.
//!
//! The requests are the ones of `CHOO-CONFORMANCE.md` §5 (choo's
//! `historical-runs-ui` design: DAEMON.md's client and HISTORY-API.md's),
//! written on a raw TCP socket as Go's `net/http` writes them: `Host`,
//! `User-Agent: Go-http-client/1.1`, `Content-Length`, `Content-Type:
//! application/json`, `Accept-Encoding: gzip`, compact JSON, and
//! `time.Time` as Go marshals it (RFC 3339 with up to nine fractional
//! digits, trailing zeros dropped, and the local offset). No token is sent:
//! the daemon runs with `[daemon] auth = "local"` in a private home. What
//! was stored is then checked through the read API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use otto_hooks_core::client::DaemonFiles;
use otto_hooks_tests::PrivateDir;
use serde_json::{Value, json};

/// A daemon in a private `$OTTO_HOOKS_HOME` on a free port, killed when the
/// test ends.
struct Daemon {
    dir: PrivateDir,
    port: u16,
}

impl Daemon {
    /// Starts one; `auth` is written to the global config as
    /// `[daemon] auth = …` when given.
    fn start(auth: Option<&str>) -> Self {
        let dir = PrivateDir::new();
        let home = dir.path().join("hooks");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(dir.path().join("src/app")).unwrap();
        if let Some(auth) = auth {
            std::fs::write(
                home.join("config.toml"),
                format!("[daemon]\nauth = \"{auth}\"\n"),
            )
            .unwrap();
        }
        let out = Command::new(otto_hooks_tests::otto_hooks_binary())
            .args(["--set", "daemon.port=0", "daemon", "start"])
            .env_clear()
            .env("HOME", dir.path())
            .env("OTTO_HOOKS_HOME", &home)
            .env("OTTO_HOME", dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .bounded_output()
            .unwrap();
        assert!(
            out.status.success(),
            "daemon start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = DaemonFiles::new(&home).running_port().expect("a port");
        Daemon { dir, port }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    /// The repository choo runs in (absolute, canonical).
    fn repo(&self) -> String {
        self.dir.path().join("src/app").to_str().unwrap().to_owned()
    }

    fn go(&self) -> GoClient {
        GoClient::connect(self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = DaemonFiles::new(&self.home()).live_pid() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// An answer: status and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Go's `http.Client` on one kept-alive connection.
struct GoClient {
    port: u16,
    reader: BufReader<TcpStream>,
}

impl GoClient {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        GoClient {
            port,
            reader: BufReader::new(stream),
        }
    }

    /// `http.NewRequest` + `req.Header.Set("Content-Type",
    /// "application/json")` + `client.Do`, as choo's client sends a write.
    fn post(&mut self, path: &str, body: &str) -> Answer {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: {len}\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n{body}",
            port = self.port,
            len = body.len()
        );
        self.send(request.as_bytes())
    }

    /// `client.Get`.
    fn get(&mut self, path: &str) -> Answer {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
            port = self.port
        );
        self.send(request.as_bytes())
    }

    /// Writes raw request bytes and reads one answer (its body by
    /// `Content-Length`).
    fn send(&mut self, request: &[u8]) -> Answer {
        self.reader.get_mut().write_all(request).unwrap();
        let (status, headers) = self.head();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("a Content-Length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Writes a request and reads only the answer's head (for streams).
    fn head_of(&mut self, request: &str) -> Answer {
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let (status, headers) = self.head();
        Answer {
            status,
            headers,
            body: Vec::new(),
        }
    }

    fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        (status, headers)
    }
}

/// The graph choo's `orch.started` carries (`internal/events` on main).
fn graph() -> Value {
    json!({
        "edges": [{"from": "api", "to": "app-shell"}, {"from": "web", "to": "api"}],
        "levels": [["app-shell"], ["api"], ["web"]],
        "nodes": [
            {"id": "app-shell", "level": 0, "status": "pending", "tasks": 2, "completed_tasks": 0},
            {"id": "api", "level": 1, "status": "pending", "tasks": 3, "completed_tasks": 0},
            {"id": "web", "level": 2, "status": "pending", "tasks": 1, "completed_tasks": 0}
        ]
    })
}

/// Compact JSON, as `json.Marshal` writes it.
fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

fn seqs(events: &Value) -> Vec<u64> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_history_api_client_records_its_own_run_id_single_events_and_stop_resume_markers() {
    let d = Daemon::start(Some("local"));
    let repo = d.repo();
    let mut go = d.go();
    let id = "run_20260122_101530_beef";

    // CreateRun (HISTORY-API CreateRunRequest): the client picks the id.
    let create = format!(
        r#"{{"id":"{id}","repo_path":"{repo}","parallelism":2,"total_units":3,"tasks_dir":"{repo}/.choo/tasks","dry_run":false}}"#
    );
    let a = go.post("/api/runs", &create);
    assert_eq!(a.status, 201, "{:?}", a.json());
    let run = a.json();
    assert_eq!(run["id"], id, "the Run carries the client's id");
    assert_eq!(run["run_id"], id, "and DAEMON.md's run_id");
    assert_eq!(run["repo_path"], repo.as_str());
    assert_eq!(run["status"], "running");
    assert_eq!(run["total_units"], 3);
    assert_eq!(run["completed_at"], Value::Null);
    // The same id again: 409.
    let again = go.post("/api/runs", &create);
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "ALREADY_EXISTS");
    // An id that is not a run id is refused, not minted around.
    let bad = go.post(
        "/api/runs",
        &format!(r#"{{"id":"../x","repo_path":"{repo}","parallelism":1,"total_units":1,"tasks_dir":"","dry_run":false}}"#),
    );
    assert_eq!(bad.status, 400);

    // CreateEvent: one event with its seq; 201 and the StoredEvent.
    let path = format!("/api/runs/{id}/events");
    let bodies = [
        format!(
            r#"{{"seq":1,"time":"2026-01-22T10:15:30.123456789-05:00","type":"orch.started","payload":{{"graph":{},"parallelism":2,"unit_count":3}}}}"#,
            compact(&graph())
        ),
        r#"{"seq":2,"time":"2026-01-22T10:15:30.5-05:00","type":"unit.queued","unit":"app-shell"}"#.to_owned(),
        r#"{"seq":3,"time":"2026-01-22T10:15:31.000000001-05:00","type":"unit.started","unit":"app-shell","payload":{"worktree":"/var/choo-work/app-shell","auth":"hunter2","author":"ann"}}"#.to_owned(),
        // A gap in the client's numbering, then a repeat: both stored, in
        // the order received.
        r#"{"seq":10,"time":"2026-01-22T10:15:32-05:00","type":"task.started","unit":"app-shell","task":1}"#.to_owned(),
        r#"{"seq":3,"time":"2026-01-22T10:15:33-05:00","type":"task.completed","unit":"app-shell","task":1}"#.to_owned(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let a = go.post(&path, body);
        assert_eq!(a.status, 201, "{body}: {:?}", a.json());
        let stored = a.json();
        assert_eq!(stored["run_id"], id);
        assert_eq!(stored["seq"], i as u64 + 1, "the daemon numbers by receipt");
        assert!(stored["id"].as_i64().unwrap() > 0);
    }
    let stored = go.post(
        &path,
        r#"{"seq":11,"time":"2026-01-22T10:15:34.25+01:00","type":"unit.completed","unit":"app-shell","pr":12}"#,
    );
    assert_eq!(stored.status, 201);
    let stored = stored.json();
    assert_eq!(stored["type"], "unit.completed");
    assert_eq!(stored["unit"], "app-shell");
    assert_eq!(stored["pr"], 12);
    assert_eq!(stored["time"], "2026-01-22T09:15:34.250000000Z");
    assert_eq!(stored["payload"], Value::Null);
    assert_eq!(stored["first_seq"], 6);

    // Stop and resume, posted as plain events (HISTORY-API "Resume Event
    // Handling").
    let a = go.post(
        &path,
        r#"{"seq":12,"time":"2026-01-22T10:20:00-05:00","type":"run.stopped","payload":{"reason":"user_interrupt"}}"#,
    );
    assert_eq!(a.status, 201);
    let run = go.get(&format!("/api/runs/{id}")).json();
    assert_eq!(run["status"], "stopped");
    assert_eq!(run["completed_at"], "2026-01-22T15:20:00.000000000Z");
    assert_eq!(run["resume_count"], 0);
    let a = go.post(
        &path,
        r#"{"seq":13,"time":"2026-01-22T10:30:00-05:00","type":"run.resumed","payload":{"resumed_from_seq":12}}"#,
    );
    assert_eq!(a.status, 201);
    let run = go.get(&format!("/api/runs/{id}")).json();
    assert_eq!(run["status"], "running");
    assert_eq!(run["completed_at"], Value::Null);
    assert_eq!(run["resume_count"], 1);

    // CompleteRun: the updated Run (and DAEMON.md's ok).
    let a = go.post(
        &format!("/api/runs/{id}/complete"),
        r#"{"status":"completed","completed_units":3,"failed_units":0,"blocked_units":0}"#,
    );
    assert_eq!(a.status, 200);
    let done = a.json();
    assert_eq!(done["id"], id);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["completed_units"], 3);
    assert_eq!(done["resume_count"], 1);
    assert_eq!(done["ok"], true);
    assert_eq!(done["seq"], 9);

    // The stored history, through both spellings of the reads.
    let run = go.get(&format!("/api/history/runs/{id}")).json();
    assert_eq!(run, go.get(&format!("/api/runs/{id}")).json());
    assert_eq!(run["last_seq"], 9);
    assert_eq!(run["event_count"], 9);
    let events = go.get(&format!("/api/runs/{id}/events")).json();
    assert_eq!(
        events,
        go.get(&format!("/api/history/runs/{id}/events")).json()
    );
    assert_eq!(seqs(&events), (1..=9).collect::<Vec<_>>());
    let list = events["events"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "orch.started",
            "unit.queued",
            "unit.started",
            "task.started",
            "task.completed",
            "unit.completed",
            "run.stopped",
            "run.resumed",
            "run.completed"
        ]
    );
    // Go's local-offset nanosecond times, stored in UTC to the nanosecond.
    assert_eq!(list[0]["time"], "2026-01-22T15:15:30.123456789Z");
    assert_eq!(list[1]["time"], "2026-01-22T15:15:30.500000000Z");
    assert_eq!(list[2]["time"], "2026-01-22T15:15:31.000000001Z");
    assert_eq!(list[3]["task"], 1);
    // The design's deny-list key `auth` is redacted; `author` is not.
    assert_eq!(
        list[2]["payload"],
        json!({"worktree": "/var/choo-work/app-shell", "auth": "[REDACTED]", "author": "ann"})
    );
    assert_eq!(list[7]["payload"], json!({"resumed_from_seq": 12}));
    // The graph of orch.started.
    let g = go.get(&format!("/api/history/runs/{id}/graph")).json();
    assert_eq!(g["levels"], graph()["levels"]);
    assert_eq!(g["nodes"], graph()["nodes"]);
    assert_eq!(go.get(&format!("/api/runs/{id}/graph")).json(), g);

    // The History UI's repository comes from /api/state.
    let state = go.get("/api/state").json();
    assert_eq!(state["repoPath"], repo.as_str());
    assert_eq!(state["runId"], id);
    assert_eq!(state["status"], "completed");
    assert_eq!(state["connected"], false);
    assert_eq!(state["units"][0]["id"], "app-shell");
    assert_eq!(state["units"][0]["status"], "complete");
    assert_eq!(state["summary"]["total"], 3);
    assert_eq!(state["summary"]["complete"], 1);
    assert_eq!(state["summary"]["pending"], 2);
    assert_eq!(go.get("/api/graph").json()["levels"], graph()["levels"]);
    // And the runs list finds it by repository.
    let runs = go
        .get(&format!("/api/history/runs?repo={repo}&limit=10"))
        .json();
    assert_eq!(runs["total"], 1);
    assert_eq!(runs["runs"][0]["id"], id);
}

#[test]
fn the_daemon_md_client_batches_events_with_the_graph_given_at_start() {
    let d = Daemon::start(Some("local"));
    let repo = d.repo();
    let mut go = d.go();

    // A2: StartRun, Go's RunConfig marshals `id: ""` and the graph.
    let a = go.post(
        "/api/runs",
        &format!(
            r#"{{"id":"","repo_path":"{repo}","parallelism":4,"total_units":3,"tasks_dir":"specs/tasks","dry_run":false,"graph":{}}}"#,
            compact(&graph())
        ),
    );
    assert_eq!(a.status, 201, "{:?}", a.json());
    let run_id = a.json()["run_id"].as_str().unwrap().to_owned();
    assert!(run_id.starts_with("run_") && run_id.len() == 24, "{run_id}");
    assert_eq!(a.json()["id"], run_id.as_str());
    // The graph given at creation is the run's graph before any event.
    let g = go.get(&format!("/api/history/runs/{run_id}/graph"));
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["edges"], graph()["edges"]);

    // B5: SendEvents, real choo events in a batch; choo's own allow-list
    // redaction turned the orch.started graph into a string (G2): the
    // graph given at start stays.
    let batch = r#"{"events":[{"time":"2026-12-02T13:12:00.564717123-05:00","type":"orch.started","payload":{"graph":"[redacted]","parallelism":4,"unit_count":3}},{"time":"2026-12-02T13:12:00.6-05:00","type":"unit.queued","unit":"app-shell"},{"time":"2026-12-02T13:12:01.001-05:00","type":"unit.started","unit":"app-shell"},{"time":"0001-01-01T00:00:00Z","type":"task.started","unit":"app-shell","task":1}]}"#;
    let a = go.post(&format!("/api/runs/{run_id}/events"), batch);
    assert_eq!(a.status, 200);
    let range = a.json();
    assert_eq!(
        (&range["first_seq"], &range["last_seq"], &range["accepted"]),
        (&json!(1), &json!(4), &json!(4))
    );
    let g = go.get(&format!("/api/history/runs/{run_id}/graph")).json();
    assert_eq!(g["nodes"], graph()["nodes"]);
    // B7: Go's zero time (HISTORY-STORE's handler never sets `Time`) is
    // stored as the time of receipt, not as year 1.
    let events = go
        .get(&format!("/api/runs/{run_id}/events?type=task"))
        .json();
    let stored = events["events"][0]["time"].as_str().unwrap().to_owned();
    let started = go.get(&format!("/api/runs/{run_id}")).json()["started_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        stored >= started,
        "{stored} before the run's start {started}"
    );

    // B11: CompleteRun(stopped) then AppendResumeMarker.
    let a = go.post(
        &format!("/api/runs/{run_id}/complete"),
        r#"{"status":"stopped","completed_units":1,"failed_units":1,"blocked_units":1}"#,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["status"], "stopped");
    assert_eq!(a.json()["seq"], 5);
    let a = go.post(&format!("/api/runs/{run_id}/resume"), r#"{"resume_seq":5}"#);
    assert_eq!(a.status, 200, "{:?}", a.json());
    assert_eq!(a.json()["resumed_from_seq"], 5);
    let run = go.get(&format!("/api/runs/{run_id}")).json();
    assert_eq!(run["status"], "running");
    assert_eq!(run["resume_count"], 1);
    assert_eq!(run["last_seq"], 6);

    // A dry run carries its graph in orch.dryrun.started.
    let a = go.post(
        "/api/runs",
        &format!(r#"{{"id":"","repo_path":"{repo}","parallelism":4,"total_units":1,"tasks_dir":"specs/tasks","dry_run":true,"graph":null}}"#),
    );
    assert_eq!(a.status, 201);
    let dry = a.json()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(a.json()["dry_run"], true);
    assert_eq!(
        go.get(&format!("/api/history/runs/{dry}/graph")).status,
        404
    );
    let a = go.post(
        &format!("/api/runs/{dry}/events"),
        r#"{"events":[{"time":"2026-01-22T10:15:30.123456789-05:00","type":"orch.dryrun.started","payload":{"graph":{"nodes":[{"id":"a","level":0,"status":"pending","tasks":1,"completed_tasks":0}],"edges":[],"levels":[["a"]]},"parallelism":4,"unit_count":1}}]}"#,
    );
    assert_eq!(a.status, 200);
    let g = go.get(&format!("/api/history/runs/{dry}/graph"));
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["levels"], json!([["a"]]));

    // /api/state follows the newest running run.
    let state = go.get("/api/state").json();
    assert_eq!(state["connected"], true);
    assert_eq!(state["runId"], dry.as_str());
    assert_eq!(state["runningRuns"], 2);
}

#[test]
fn choo_s_other_endpoints_answer_health_state_and_the_event_stream() {
    let d = Daemon::start(Some("local"));
    let mut go = d.go();
    let health = go.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["port"], d.port);

    // No run yet: choo's "waiting" state and the empty graph.
    let state = go.get("/api/state").json();
    assert_eq!(state["status"], "waiting");
    assert_eq!(state["repoPath"], Value::Null);
    assert_eq!(
        go.get("/api/graph").json(),
        json!({"nodes": [], "edges": [], "levels": []})
    );

    // /api/events is the all-runs live stream (an SSE alias of /api/stream).
    let mut stream = GoClient::connect(d.port);
    let head = stream.head_of(&format!(
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
        d.port
    ));
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        head.headers
    );
}

#[test]
fn without_auth_local_a_tokenless_write_is_401_and_nothing_is_stored() {
    let d = Daemon::start(None);
    let repo = d.repo();
    let mut go = d.go();
    let a = go.post(
        "/api/runs",
        &format!(r#"{{"id":"","repo_path":"{repo}","parallelism":4,"total_units":3,"tasks_dir":"specs/tasks","dry_run":false}}"#),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["code"], "UNAUTHORIZED");
    // With the token of daemon.token it is accepted (on a new connection:
    // a refused write's connection is closed, its body unread).
    let mut go = d.go();
    let token = std::fs::read_to_string(DaemonFiles::new(&d.home()).token()).unwrap();
    let body = format!(r#"{{"repo_path":"{repo}","parallelism":1,"total_units":1}}"#);
    let a = go.send(
        format!(
            "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            d.port,
            token.trim(),
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(a.status, 201);
    assert_eq!(go.get("/api/history/runs").json()["total"], 1);
}

#[test]
fn in_local_mode_browser_shaped_writes_are_refused() {
    let d = Daemon::start(Some("local"));
    let repo = d.repo();
    let body = format!(
        r#"{{"id":"","repo_path":"{repo}","parallelism":4,"total_units":3,"tasks_dir":"specs/tasks","dry_run":false}}"#
    );
    let write = |extra: &str| -> Answer {
        let mut go = d.go();
        go.send(
            format!(
                "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                d.port,
                body.len()
            )
            .as_bytes(),
        )
    };
    // What a cross-site page can send without a preflight.
    for content_type in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
    ] {
        let a = write(&format!("Content-Type: {content_type}\r\n"));
        assert_eq!(a.status, 415, "{content_type}");
        assert_eq!(a.json()["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(write("").status, 415, "no Content-Type");
    // JSON from a foreign page, or through a foreign Host name.
    let a = write("Content-Type: application/json\r\nOrigin: http://evil.example\r\n");
    assert_eq!(a.status, 403);
    let mut go = d.go();
    let a = go.send(
        format!(
            "POST /api/runs HTTP/1.1\r\nHost: rebound.example:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            d.port,
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(a.status, 403);
    // None of them stored anything; the same write as choo sends it does.
    assert_eq!(d.go().get("/api/history/runs").json()["total"], 0);
    assert_eq!(
        write("Content-Type: application/json\r\nOrigin: http://localhost:1\r\n").status,
        403,
        "another local port is another origin"
    );
    assert_eq!(write("Content-Type: application/json\r\n").status, 201);
    assert_eq!(d.go().get("/api/history/runs").json()["total"], 1);
}
