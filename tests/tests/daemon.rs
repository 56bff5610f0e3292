//! The history daemon's lifecycle through the real binary: start, status,
//! stop, restart; a stale pid file after `kill -9`; a port in use; the hook
//! commands starting it; `kill -9` during ingest losing nothing
//! acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use otto_hooks_core::client::{Client, DaemonFiles, NewRun, WireEvent};
use otto_hooks_tests::PrivateDir;
use rusqlite::Connection;
use serde_json::Value;

/// A private `$OTTO_HOOKS_HOME`; the daemon listens on any free port
/// (`daemon.port = 0`: clients read the port it got from its files), or on
/// `port` when a test holds that port itself. The daemon is killed when the
/// test ends, whatever happened.
struct World {
    dir: PrivateDir,
    port: u16,
}

impl World {
    fn new() -> Self {
        Self::on_port(0)
    }

    fn on_port(port: u16) -> Self {
        let dir = PrivateDir::new();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        World { dir, port }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn files(&self) -> DaemonFiles {
        DaemonFiles::new(&self.home())
    }

    fn repo(&self) -> String {
        self.dir.path().join("repo").to_str().unwrap().to_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(otto_hooks_tests::otto_hooks_binary());
        c.arg("--set")
            .arg(format!("daemon.port={}", self.port))
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.home())
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).bounded_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}\n--- daemon.log ---\n{}",
            text(&out.stdout),
            text(&out.stderr),
            std::fs::read_to_string(self.home().join("daemon.log")).unwrap_or_default()
        );
        out
    }

    fn status(&self) -> Value {
        let out = self.run(&["daemon", "status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn client(&self) -> Client {
        Client::discover(&self.home())
            .unwrap()
            .expect("a daemon runs")
    }

    /// Starts a run of this world's repository through `client`: its id.
    fn start_run(&self, client: &Client, parallelism: u32, total_units: u32) -> String {
        client
            .start_run(&NewRun {
                repo_path: self.repo(),
                parallelism,
                total_units,
                ..NewRun::default()
            })
            .unwrap()
    }

    fn db(&self) -> Connection {
        Connection::open(self.home().join("history.db")).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(pid) = self.files().live_pid() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// A port this test holds (so no other test can take it).
fn held_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn kill9(pid: i32) {
    let target = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::kill_process(target, rustix::process::Signal::KILL).unwrap();
    // The daemon is not our child (it runs in its own process group under
    // init once `daemon start` returned): wait until it is gone.
    for _ in 0..500 {
        if !otto_hooks_core::client::process_alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} survived kill -9");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn start_status_restart_stop() {
    let w = World::new();
    let out = w.ok(&["daemon", "start"]);
    assert!(
        text(&out.stderr).contains("history daemon started"),
        "{}",
        text(&out.stderr)
    );
    let status = w.status();
    assert_eq!(status["running"], true);
    assert_eq!(
        status["port"].as_u64().unwrap(),
        u64::from(w.files().running_port().unwrap())
    );
    let pid = status["pid"].as_i64().unwrap() as i32;
    assert_eq!(w.files().live_pid(), Some(pid));
    assert_eq!(mode(&w.files().token()), 0o600);
    assert!(status["database"].as_str().unwrap().ends_with("history.db"));

    // Starting again finds it.
    let out = w.ok(&["daemon", "start"]);
    assert!(
        text(&out.stderr).contains("already runs"),
        "{}",
        text(&out.stderr)
    );

    // Something recorded through it survives a restart.
    let client = w.client();
    let id = w.start_run(&client, 1, 1);
    client
        .post_events(&id, &[WireEvent::now("unit.started").unit("a")])
        .unwrap();

    w.ok(&["daemon", "restart"]);
    let again = w.status();
    assert_eq!(again["running"], true);
    assert_ne!(again["pid"].as_i64().unwrap() as i32, pid, "a new process");
    assert_eq!(again["runs"], 1);
    assert_eq!(
        w.client().events(&id, &Default::default()).unwrap().total,
        1
    );

    let out = w.ok(&["daemon", "stop"]);
    assert!(
        text(&out.stderr).contains("stopped"),
        "{}",
        text(&out.stderr)
    );
    assert!(!w.files().pid().exists(), "the pid file went with it");
    assert!(!w.files().port().exists());
    let wal = w.home().join("history.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "checkpointed (TRUNCATE) on the way out"
    );
    let out = w.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("not running"));
    // Stopping what does not run is fine.
    let out = w.ok(&["daemon", "stop"]);
    assert!(text(&out.stderr).contains("not running"));
    // The log says what happened.
    let logs = w.ok(&["daemon", "logs", "-n", "100"]);
    assert!(
        text(&logs.stdout).contains("history daemon serving"),
        "{}",
        text(&logs.stdout)
    );
}

#[test]
fn a_stale_pid_file_after_kill_9_is_replaced() {
    let w = World::new();
    w.ok(&["daemon", "start"]);
    let pid = w.files().live_pid().unwrap();
    kill9(pid);
    assert_eq!(
        w.files().recorded_pid(),
        Some(pid),
        "kill -9 leaves the pid file"
    );

    let status = w.status();
    assert_eq!(status["running"], false);
    assert_eq!(status["stale_pid"], pid);

    let out = w.ok(&["daemon", "start"]);
    assert!(
        text(&out.stderr).contains("started"),
        "{}",
        text(&out.stderr)
    );
    let new = w.files().live_pid().unwrap();
    assert_ne!(new, pid);
    assert_eq!(w.status()["running"], true);
    w.ok(&["daemon", "stop"]);
}

#[test]
fn a_port_in_use_is_a_one_line_error_and_leaves_nothing() {
    let (_taken, port) = held_port();
    let w = World::on_port(port);
    let out = w.run(&["daemon", "start"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("port {} is already in use", w.port)),
        "{err}"
    );
    assert!(!w.files().pid().exists());
    assert!(!w.files().token().exists());

    // In the foreground too.
    let out = w.run(&["daemon", "start", "--foreground"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already in use"));
    assert!(!w.files().pid().exists());
}

#[test]
fn hook_run_start_starts_the_daemon_and_the_hooks_record_through_it() {
    let w = World::new();
    assert_eq!(w.status()["running"], false);
    let out = w.ok(&[
        "hook",
        "run-start",
        "--repo",
        &w.repo(),
        "--total-units",
        "2",
    ]);
    let id = text(&out.stdout).trim().to_owned();
    assert!(id.starts_with("run_"), "{id}");
    assert_eq!(w.status()["running"], true, "auto_start is on by default");

    let mut child = w
        .command(&["hook", "event", "--run", &id])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..50 {
            writeln!(stdin, r#"{{"type":"task.started","unit":"a","task":{i}}}"#).unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    w.ok(&[
        "hook",
        "run-complete",
        "--run",
        &id,
        "--status",
        "completed",
    ]);

    // The daemon wrote them: its API sees them at once.
    let run = w.client().run(&id).unwrap();
    assert_eq!(run.status, "completed");
    let page = w
        .client()
        .events(
            &id,
            &otto_hooks_core::client::EventsQuery {
                type_prefix: Some("task".into()),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .unwrap();
    let tasks: Vec<i64> = page.events.iter().map(|e| e.task.unwrap()).collect();
    assert_eq!(tasks, (0..50).collect::<Vec<_>>(), "in order");

    // --no-history records nothing; the run id still comes back.
    let out = w.ok(&["hook", "run-start", "--repo", &w.repo(), "--no-history"]);
    let quiet = text(&out.stdout).trim().to_owned();
    assert!(w.client().run(&quiet).is_err(), "not recorded");

    // With auto_start off and no daemon, the hooks write history.db directly.
    w.ok(&["daemon", "stop"]);
    let out = w.ok(&[
        "--set",
        "daemon.auto_start=false",
        "hook",
        "run-start",
        "--repo",
        &w.repo(),
    ]);
    let direct = text(&out.stdout).trim().to_owned();
    assert_eq!(w.status()["running"], false, "not started");
    let stored: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM runs WHERE id = ?1", [&direct], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, 1);
}

#[test]
fn a_daemon_that_cannot_start_is_a_warning_or_with_strict_an_error() {
    let (_taken, port) = held_port();
    let w = World::on_port(port);
    let out = w.ok(&["hook", "run-start", "--repo", &w.repo()]);
    let err = text(&out.stderr);
    assert!(
        err.contains("already in use") && err.contains("directly"),
        "{err}"
    );
    let id = text(&out.stdout).trim().to_owned();
    let stored: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM runs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, 1, "recorded directly instead");

    let out = w.run(&["hook", "run-start", "--repo", &w.repo(), "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already in use"));
}

#[test]
fn kill_9_during_ingest_loses_nothing_acknowledged() {
    let w = World::new();
    w.ok(&["daemon", "start"]);
    let client = w.client();
    let id = w.start_run(&client, 4, 10);
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, id, acked, stop) = (client.clone(), id.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let payload = serde_json::json!({"file": "x".repeat(180)});
            let mut sent = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<WireEvent> = (0..100)
                    .map(|i| {
                        WireEvent::now("task.started")
                            .unit(&format!("u{}", (sent + i) % 7))
                            .payload(&payload)
                    })
                    .collect();
                match client.post_events(&id, &batch) {
                    Ok(range) => {
                        assert_eq!(range.first_seq, sent + 1, "contiguous");
                        sent = range.last_seq;
                        acked.store(sent, Ordering::SeqCst);
                    }
                    Err(_) => break, // the daemon is gone
                }
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 3_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(w.files().live_pid().unwrap());
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let acked = acked.load(Ordering::SeqCst);

    w.ok(&["daemon", "start"]);
    let page = w
        .client()
        .events(
            &id,
            &otto_hooks_core::client::EventsQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        page.total >= acked,
        "{} stored < {acked} acknowledged",
        page.total
    );
    w.ok(&["daemon", "stop"]);
    let db = w.db();
    let (count, max): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), MAX(seq) FROM events WHERE run_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(count, max, "seq contiguous from 1");
    assert!(count as u64 >= acked);
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_stale_pid_file_naming_another_process_never_gets_it_signalled() {
    let w = World::new();
    // After a crash the pid was reused by an unrelated process.
    let mut bystander = Command::new("sleep").arg("100").spawn().unwrap();
    std::fs::write(w.files().pid(), format!("{}\n", bystander.id())).unwrap();
    assert_eq!(w.status()["running"], false, "no daemon holds the pid file");
    let out = w.ok(&["daemon", "stop"]);
    assert!(text(&out.stderr).contains("stale"), "{}", text(&out.stderr));
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the bystander was not signalled"
    );
    // And it does not block a start.
    std::fs::write(w.files().pid(), format!("{}\n", bystander.id())).unwrap();
    w.ok(&["daemon", "start"]);
    assert_eq!(w.status()["running"], true);
    assert!(bystander.try_wait().unwrap().is_none());
    w.ok(&["daemon", "stop"]);
    assert!(bystander.try_wait().unwrap().is_none());
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

#[test]
fn concurrent_starts_give_one_daemon() {
    let w = World::new();
    // A stale pid file makes the race harder: every starter takes it over.
    std::fs::write(w.files().pid(), "999999\n").unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            w.command(&["daemon", "start"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = otto_hooks_tests::bounded::finish("otto-hooks daemon start", child);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let pid = w.files().live_pid().expect("one daemon");
    // The one holding the lock answers its health check with its pid.
    assert_eq!(w.status()["pid"], pid);
    // Every starter that lost said so or found the winner: the token on
    // disk is the winner's (its writes are accepted).
    let client = w.client();
    let id = w.start_run(&client, 1, 1);
    client
        .post_events(&id, &[WireEvent::now("unit.started")])
        .unwrap();
    w.ok(&["daemon", "stop"]);
    assert_eq!(w.files().live_pid(), None);
}

#[test]
fn a_stalled_client_does_not_keep_the_daemon_from_stopping() {
    let w = World::new();
    w.ok(&["daemon", "start"]);
    let port = w.files().running_port().unwrap();
    // Half a request, never finished.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut stalled, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1")
        .unwrap();
    let started = std::time::Instant::now();
    let out = w.ok(&["daemon", "stop"]);
    assert!(
        text(&out.stderr).contains("stopped"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "stopped before stop gave up"
    );
    assert_eq!(w.files().live_pid(), None);
}

#[test]
fn an_auto_started_daemon_takes_no_configuration_from_the_repository() {
    let w = World::new();
    // A repository whose project file would shorten the daemon's schedule.
    std::fs::write(
        w.dir.path().join("repo/.otto-hooks.toml"),
        "[policies]\ninterval = \"1h\"\n",
    )
    .unwrap();
    let out = w
        .command(&["hook", "run-start", "--repo", "."])
        .current_dir(w.dir.path().join("repo"))
        .bounded_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.status()["running"], true);
    let log = std::fs::read_to_string(w.files().log()).unwrap();
    assert!(log.contains("policies_every=86400s"), "{log}");
    w.ok(&["daemon", "stop"]);
}

/// The seqs of `run`'s events in history.db, in order.
fn stored_seqs(w: &World, run: &str) -> Vec<i64> {
    let db = w.db();
    let mut stmt = db
        .prepare("SELECT seq FROM events WHERE run_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([run], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_thousand_ten_kilobyte_events_through_the_daemon_are_all_stored() {
    // 10 MB in one pipe: over the daemon's 8 MiB body cap as one batch.
    // Before, the whole batch got 413 and all 1,000 were lost with exit 0.
    let w = World::new();
    let out = w.ok(&["hook", "run-start", "--repo", &w.repo()]);
    let id = text(&out.stdout).trim().to_owned();
    let blob = "x".repeat(10_000);
    let mut child = w
        .command(&["hook", "event", "--run", &id])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let mut all = String::new();
        for i in 0..1000 {
            all.push_str(&format!(
                r#"{{"type":"task.started","unit":"a","task":{i},"payload":{{"file":"{blob}"}}}}"#
            ));
            all.push('\n');
        }
        stdin.write_all(all.as_bytes()).unwrap();
    }
    let out = otto_hooks_tests::bounded::finish("otto-hooks hook event", child);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok(&["daemon", "stop"]);
    assert_eq!(stored_seqs(&w, &id), (1..=1000).collect::<Vec<_>>());
}

#[test]
fn events_the_daemon_never_acknowledged_are_written_directly_when_it_is_killed() {
    // Before, killing the daemon while `hook event` streamed lost the events
    // sent after the kill, with exit 0.
    let w = World::new();
    let out = w.ok(&["hook", "run-start", "--repo", &w.repo()]);
    let id = text(&out.stdout).trim().to_owned();
    let mut child = w
        .command(&[
            "--set",
            "daemon.auto_start=false",
            "hook",
            "event",
            "--run",
            &id,
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..10 {
        writeln!(stdin, r#"{{"type":"task.started","unit":"a","task":{i}}}"#).unwrap();
    }
    stdin.flush().unwrap();
    // Wait until the daemon has stored the first ten.
    for _ in 0..500 {
        if stored_seqs(&w, &id).len() >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill9(w.files().live_pid().expect("the daemon runs"));
    for i in 10..20 {
        writeln!(stdin, r#"{{"type":"task.started","unit":"a","task":{i}}}"#).unwrap();
    }
    drop(stdin);
    let out = otto_hooks_tests::bounded::finish("otto-hooks hook event", child);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("directly"),
        "says where they went: {}",
        text(&out.stderr)
    );
    assert_eq!(stored_seqs(&w, &id), (1..=20).collect::<Vec<_>>());
    let tasks: Vec<i64> = {
        let db = w.db();
        let mut stmt = db
            .prepare("SELECT task FROM events WHERE run_id = ?1 ORDER BY seq")
            .unwrap();
        stmt.query_map([&id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(tasks, (0..20).collect::<Vec<_>>(), "each once, in order");
}

#[test]
fn ui_starts_the_daemon_prints_the_url_and_the_page_is_served_there() {
    let w = World::new();
    // No browser anywhere: the URL is printed and the command succeeds.
    let out = w
        .command(&["ui"])
        .env("PATH", "/nonexistent")
        .env("BROWSER", "/nonexistent/browser")
        .bounded_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let port = w.files().running_port().expect("the daemon runs");
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(text(&out.stdout), format!("{url}\n"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("history daemon started") && stderr.contains(&format!("web UI {url}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("no browser opened (") && stderr.contains(&format!("open {url} yourself")),
        "{stderr}"
    );
    // The page is at that URL.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut page = String::new();
    std::io::Read::read_to_string(&mut stream, &mut page).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("ui/app.js"),
        "{page}"
    );
    // `daemon open --no-browser` finds the running daemon and only prints.
    let out = w.ok(&["daemon", "open", "--no-browser"]);
    assert_eq!(text(&out.stdout), format!("{url}\n"));
    // `daemon start` names the UI when it is already running.
    let out = w.ok(&["daemon", "start"]);
    assert!(text(&out.stderr).contains(&url), "{}", text(&out.stderr));
}

/// `GET path` on the daemon at `port`: the JSON of a 200 answer.
fn get_json(port: u16, path: &str) -> Value {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{path}: {reply}");
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn the_daemon_answers_stats_through_the_insights_cache_in_its_home() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.ok(&["daemon", "start"]);
    let client = w.client();
    let id = w.start_run(&client, 1, 1);
    client
        .post_events(
            &id,
            &[
                WireEvent::now("unit.started").unit("build"),
                WireEvent::now("unit.completed").unit("build"),
            ],
        )
        .unwrap();
    let port = w.files().running_port().unwrap();
    let api = get_json(port, "/api/history/stats?since=all");
    assert_eq!(api["source"], "history.db", "{api}");
    assert_eq!(api["tasks"]["total"], 1, "{api}");

    // The cache is the commands' one, under the daemon's home: made by the
    // daemon (its warming at start, or the call above), private.
    let dir = w.home().join("insights");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("history-") && name.ends_with(".db")
            })
        });
        if let Some(file) = found {
            break file;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no insights cache file in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    let blocks: i64 = Connection::open(&file)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM days", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blocks, 1, "today's block");

    // The command reads the same history (and cache): the same figures.
    let out = w.ok(&["stats", "--backend", "sqlite", "--since", "all", "--json"]);
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["tasks"], api["tasks"]);
    assert_eq!(cli["per_task"], api["per_task"]);
    w.ok(&["daemon", "stop"]);
}
