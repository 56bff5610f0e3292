//! The history web UI in a real browser: headless Debian `chromium`
//! driven over WebDriver (`chromedriver`), against the daemon's real server
//! on 127.0.0.1 with a real history.db, seeded through the API.
//!
//! Without a driver these tests print one line and pass, except under
//! `CI=true`, where a missing browser is a failure. Screenshots of each
//! screen go to `target/ui-shots/`.

#[path = "ui/webdriver.rs"]
mod webdriver;

use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use otto_hooks_core::daemon::{ServerOptions, serve};
use serde_json::{Value, json};
use webdriver::{Browser, assert_accessible, browser, shot};

const TOKEN: &str = "ui-test-token-0123456789";

/// One browser at a time: the machines that run this have few cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// A daemon serving a fresh history.db until dropped.
struct Daemon {
    addr: SocketAddr,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    dir: tempfile::TempDir,
}

type Serving = (
    tokio::sync::oneshot::Sender<()>,
    JoinHandle<Result<(), String>>,
);

/// Serves `dir`'s history.db on `listener` in a thread.
fn serve_in_thread(dir: &std::path::Path, listener: TcpListener) -> Serving {
    let options = ServerOptions::new(dir.join("history.db"), TOKEN);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        serve(options, listener, async move {
            let _ = rx.await;
        })
    });
    (tx, thread)
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, thread) = serve_in_thread(dir.path(), listener);
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
            dir,
        }
    }

    /// Stops the server (its streams end) and serves the same database on
    /// the same port again.
    fn restart(&mut self) {
        self.shutdown();
        let listener = TcpListener::bind(self.addr).expect("bind the same port again");
        let (tx, thread) = serve_in_thread(self.dir.path(), listener);
        self.stop = Some(tx);
        self.thread = Some(thread);
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let mut resp = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(&body)
            .expect("POST");
        let status = resp.status().as_u16();
        let value: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status < 300, "POST {path}: {status} {value}");
        value
    }

    fn get_json(&self, path: &str) -> Value {
        let mut resp = self.agent.get(&self.url(path)).call().expect("GET");
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        resp.body_mut().read_json().expect("JSON")
    }

    fn start_run(&self, repo: &str, started_at: &str, total_units: u64) -> String {
        let reply = self.post(
            "/api/runs",
            json!({"repo_path": repo, "parallelism": 3, "total_units": total_units,
                   "started_at": started_at, "tasks_dir": "specs/tasks"}),
        );
        reply["run_id"].as_str().expect("run_id").to_owned()
    }

    fn events(&self, run: &str, events: Vec<Value>) {
        for chunk in events.chunks(2000) {
            self.post(
                &format!("/api/runs/{run}/events"),
                json!({ "events": chunk }),
            );
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Three hours ago plus `secs`, RFC 3339 UTC (recent, so running runs
/// tick from a believable start in the screenshots).
fn at(secs: u64) -> String {
    use std::sync::OnceLock;
    static BASE: OnceLock<chrono::DateTime<chrono::Utc>> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let now = chrono::Utc::now() - chrono::Duration::hours(3);
        // Whole seconds: every time in a test is exact.
        chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    });
    (*base + chrono::Duration::seconds(secs as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn ev(secs: u64, kind: &str, unit: Option<&str>) -> Value {
    json!({"time": at(secs), "type": kind, "unit": unit})
}

/// The hash route of a run.
fn run_hash(repo: &str, run: &str) -> String {
    format!("#/history?repo={}&run={run}", repo.replace('/', "%2F"))
}

#[test]
fn an_empty_history_shows_its_empty_states() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    b.goto(&d.url("/"));
    b.wait(
        "the empty run list",
        "return document.querySelector('[data-empty=runs]')",
    );
    let text = b.texts("[data-empty=runs] h2");
    assert_eq!(text, ["No runs recorded yet"]);
    assert_eq!(b.texts("[data-empty=detail] h2"), ["No run to show"]);
    assert_eq!(b.texts("#pager .where"), ["Page 1 of 1 · 0 runs"]);
    let picker = b.js("return document.getElementById('repo').value", json!([]));
    assert_eq!(picker, json!("*"));
    shot(&b, "empty");
    assert_accessible(&b, "the empty history");
}

/// 45 runs of /src/app (30 completed, 8 failed, 5 stopped, 2 running) and
/// 3 of /src/lib, started a minute apart, /src/app's the newest.
fn seed_many(d: &Daemon) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let id = d.start_run("/src/lib", &at(i * 60), 2);
        d.post(
            &format!("/api/runs/{id}/complete"),
            json!({"status": "completed", "completed_units": 2, "completed_at": at(i * 60 + 30)}),
        );
    }
    for i in 0..45u64 {
        let start = 600 + i * 60;
        let id = d.start_run("/src/app", &at(start), 12);
        let end = at(start + 20 + i);
        match i {
            0..=29 => {
                d.post(
                    &format!("/api/runs/{id}/complete"),
                    json!({"status": "completed", "completed_units": 12, "completed_at": end}),
                );
            }
            30..=37 => {
                d.post(
                    &format!("/api/runs/{id}/complete"),
                    json!({"status": "failed", "completed_units": 9, "failed_units": 2, "blocked_units": 1,
                           "error": format!("unit api-{i} failed: exit status 1"), "completed_at": end}),
                );
            }
            38..=42 => {
                d.post(
                    &format!("/api/runs/{id}/stop"),
                    json!({"reason": "interrupted", "at": end}),
                );
            }
            _ => {}
        }
        ids.push(id);
    }
    ids
}

#[test]
fn forty_five_runs_page_by_twenty_and_filter_by_status() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let ids = seed_many(&d);
    // localhost works as well as 127.0.0.1 (the Host rule accepts both).
    b.goto(&format!("http://localhost:{}/", d.addr.port()));
    b.wait(
        "the first page",
        "return document.querySelectorAll('.run-link').length === 20",
    );
    // The newest repository is chosen, and the hash says so.
    let hash = b.js("return location.hash", json!([]));
    assert_eq!(hash, json!("#/history?repo=%2Fsrc%2Fapp"));
    assert_eq!(b.texts("#pager .where"), ["Page 1 of 3 · 45 runs"]);
    let first = b.texts(".run-link .run-id");
    assert_eq!(first[0], ids[44], "newest first");
    let badges = b.texts(".run-link .badge");
    assert_eq!(&badges[..2], ["running", "running"]);
    assert!(badges[2..7].iter().all(|s| s == "stopped"), "{badges:?}");
    assert!(badges[7..15].iter().all(|s| s == "failed"), "{badges:?}");
    // Counts on the chips come from /api/history/repos.
    let chips = b.texts("#status-filter .chip");
    assert_eq!(
        chips,
        ["all45", "running2", "completed30", "failed8", "stopped5"]
    );
    // A failed row: units, failed, blocked, the error line.
    let failed_row = b.texts(&format!("[data-run='{}']", ids[37]));
    assert!(
        failed_row[0].contains("9/12 units")
            && failed_row[0].contains("2 failed")
            && failed_row[0].contains("1 blocked")
            && failed_row[0].contains("unit api-37 failed: exit status 1"),
        "{failed_row:?}"
    );
    // Nothing selected: the repository's overview.
    assert_eq!(
        b.texts("[data-empty=detail] .card"),
        ["45runs", "2running", "30completed", "8failed", "5stopped"]
    );
    let newer_disabled = b.js(
        "return document.querySelector('[data-page=newer]').disabled",
        json!([]),
    );
    assert_eq!(newer_disabled, json!(true));
    shot(&b, "history");
    assert_accessible(&b, "the run list");

    b.click("[data-page=older]");
    b.wait(
        "page 2",
        "return document.querySelector('#pager .where').textContent.startsWith('Page 2 of 3')",
    );
    assert_eq!(b.texts(".run-link .run-id")[0], ids[24]);
    b.click("[data-page=older]");
    b.wait(
        "page 3",
        "return document.querySelector('#pager .where').textContent.startsWith('Page 3 of 3')",
    );
    assert_eq!(b.texts(".run-link").len(), 5);
    assert_eq!(b.texts(".run-link .run-id")[4], ids[0], "oldest last");
    let older_disabled = b.js(
        "return document.querySelector('[data-page=older]').disabled",
        json!([]),
    );
    assert_eq!(older_disabled, json!(true));
    b.click("[data-page=newer]");
    b.wait(
        "back on page 2",
        "return document.querySelector('#pager .where').textContent.startsWith('Page 2 of 3')",
    );

    // The status filter: only failed runs, one page, in the URL.
    b.click("#status-filter [data-status=failed]");
    b.wait(
        "failed runs only",
        "return document.querySelectorAll('.run-link').length === 8",
    );
    assert!(b.texts(".run-link .badge").iter().all(|s| s == "failed"));
    assert_eq!(b.texts("#pager .where"), ["Page 1 of 1 · 8 runs"]);
    let hash = b.js("return location.hash", json!([]));
    assert_eq!(hash, json!("#/history?repo=%2Fsrc%2Fapp&status=failed"));

    // Keyboard: j focuses the first run, Enter opens it.
    b.js("document.activeElement.blur()", json!([]));
    b.keys(&["j", "j", "k", "\u{E007}"]);
    b.wait(
        "the first failed run open",
        &format!(
            "return document.querySelector('[data-field=run-id]')?.textContent === '{}'",
            ids[37]
        ),
    );

    // All repositories: 48 runs, with a repository column.
    b.js(
        "const s = document.getElementById('repo'); s.value = '*'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    b.wait(
        "all repositories",
        "return document.querySelector('#pager .where')?.textContent === 'Page 1 of 3 · 48 runs'",
    );
    assert_eq!(b.texts(".run-link .repo-tag")[0], "app");
}

/// A run with a graph of six units, a failure, a block, a stop and a resume.
fn seed_graph_run(d: &Daemon) -> String {
    let id = d.start_run("/src/app", &at(0), 6);
    let graph = json!({
        "nodes": [
            {"id": "app-shell", "level": 0, "status": "pending", "tasks": 3},
            {"id": "config", "level": 0, "status": "pending", "tasks": 2},
            {"id": "api", "level": 1, "status": "pending", "tasks": 4},
            {"id": "auth", "level": 1, "status": "pending", "tasks": 2},
            {"id": "billing", "level": 2, "status": "pending", "tasks": 3},
            {"id": "docs", "level": 2, "status": "pending", "tasks": 1}
        ],
        "edges": [
            {"from": "api", "to": "app-shell"}, {"from": "api", "to": "config"},
            {"from": "auth", "to": "app-shell"}, {"from": "billing", "to": "api"},
            {"from": "billing", "to": "auth"}, {"from": "docs", "to": "config"}
        ],
        "levels": [["app-shell", "config"], ["api", "auth"], ["billing", "docs"]]
    });
    let mut events = vec![
        json!({"time": at(1), "type": "orch.started", "payload": {"unit_count": 6, "parallelism": 3, "graph": graph}}),
    ];
    let mut t = 2;
    for (unit, tasks) in [("app-shell", 3), ("config", 2)] {
        events.push(json!({"time": at(t), "type": "unit.started", "unit": unit,
                           "payload": {"total_tasks": tasks, "completed_tasks": 0}}));
        for task in 1..=tasks {
            events.push(
                json!({"time": at(t + 1), "type": "task.started", "unit": unit, "task": task,
                               "payload": {"title": format!("task {task} of {unit}")}}),
            );
            events.push(
                json!({"time": at(t + 20), "type": "task.completed", "unit": unit, "task": task}),
            );
            t += 25;
        }
        events.push(ev(t, "unit.completed", Some(unit)));
    }
    events.push(json!({"time": at(t), "type": "unit.started", "unit": "api",
                       "payload": {"total_tasks": 4, "completed_tasks": 0}}));
    events.push(json!({"time": at(t + 5), "type": "task.started", "unit": "api", "task": 1}));
    events.push(
        json!({"time": at(t + 30), "type": "task.validation.fail", "unit": "api", "task": 1,
                       "payload": {"exit_code": 1, "output": "FAIL src/api.test.ts"}}),
    );
    d.events(&id, events);
    d.post(
        &format!("/api/runs/{id}/stop"),
        json!({"reason": "user pressed ctrl-c", "at": at(t + 40)}),
    );
    d.post(
        &format!("/api/runs/{id}/resume"),
        json!({"at": at(t + 340)}),
    );
    let t = t + 341;
    d.events(
        &id,
        vec![
            json!({"time": at(t), "type": "task.retry", "unit": "api", "task": 1,
                   "payload": {"attempt": 2, "reason": "validation failed"}}),
            json!({"time": at(t + 30), "type": "unit.failed", "unit": "api",
                   "error": "task 1 failed validation twice"}),
            json!({"time": at(t + 31), "type": "unit.blocked", "unit": "billing",
                   "payload": {"blocked_by": ["api"]}}),
            json!({"time": at(t + 32), "type": "unit.started", "unit": "auth",
                   "payload": {"total_tasks": 2, "completed_tasks": 0}}),
            json!({"time": at(t + 33), "type": "task.started", "unit": "auth", "task": 1}),
            json!({"time": at(t + 50), "type": "task.completed", "unit": "auth", "task": 1}),
            json!({"time": at(t + 51), "type": "task.started", "unit": "auth", "task": 2}),
        ],
    );
    id
}

#[test]
fn a_run_with_a_graph_shows_event_colours_and_stop_resume_markers() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_graph_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the graph",
        "return document.querySelectorAll('.node').length === 6 && document.querySelector('.ev')",
    );
    // Node colours come from the events, not from the (all pending) graph.
    let statuses = b.js(
        "return Object.fromEntries([...document.querySelectorAll('.node')].map(n => [n.dataset.unit, n.dataset.status]))",
        json!([]),
    );
    assert_eq!(
        statuses,
        json!({"app-shell": "complete", "config": "complete", "api": "failed",
               "auth": "in_progress", "billing": "blocked", "docs": "pending"})
    );
    let label = b.js(
        "return document.querySelector('.node[data-unit=auth]').getAttribute('aria-label')",
        json!([]),
    );
    assert_eq!(label, json!("unit auth, in progress, 1 of 2 tasks"));
    let graph_label = b.js(
        "return document.querySelector('svg[data-graph]').getAttribute('aria-label')",
        json!([]),
    );
    assert_eq!(
        graph_label,
        json!(
            "Dependency graph. 6 units: 1 pending, 1 in progress, 2 complete, 1 failed, 1 blocked"
        )
    );
    // STOP and RESUME rows, attempts, the resume count.
    let stop = b.texts("[data-marker=stop]");
    assert_eq!(stop.len(), 1);
    assert!(
        stop[0].starts_with("STOP") && stop[0].contains("Reason: user pressed ctrl-c"),
        "{stop:?}"
    );
    let resume = b.texts("[data-marker=resume]");
    assert!(
        resume[0].starts_with("RESUME")
            && resume[0].contains("after 5m 0s stopped")
            && resume[0].contains("from seq 19"),
        "{resume:?}"
    );
    assert_eq!(
        b.texts(".attempt-row"),
        ["Attempt 1 of 2", "Attempt 2 of 2"]
    );
    assert_eq!(b.texts("[data-field=resumes]"), ["1×"]);
    // The tab says how the run is doing.
    let tab = b.js(
        "return [document.title, document.querySelector('link[rel=icon]').dataset.status]",
        json!([]),
    );
    assert_eq!(tab, json!([format!("● {id} · app 2/6"), "running"]));
    // Rows carry their type as text, failures their error block.
    let failed = b.texts(".ev[data-type='unit.failed']");
    assert!(
        failed[0].contains("unit.failed") && failed[0].contains("task 1 failed validation twice"),
        "{failed:?}"
    );
    // The screenshot shows the stop and the resume.
    b.js(
        "document.querySelector('[data-marker=stop]').scrollIntoView({block: 'start'})",
        json!([]),
    );
    shot(&b, "run");
    assert_accessible(&b, "a run with a graph");

    // The whole payload on demand: a button, its text built when opened.
    let toggle = "const t = document.querySelector('.ev .payload-toggle'); return [t.getAttribute('aria-expanded'), t.textContent, t.parentNode.querySelector('pre')?.textContent ?? ''];";
    let closed = b.js(toggle, json!([]));
    assert_eq!(closed, json!(["false", "payload ▸", ""]));
    b.js(
        "document.querySelector('.ev .payload-toggle').click()",
        json!([]),
    );
    let open = b.js(toggle, json!([]));
    assert_eq!(open[0], "true");
    assert_eq!(open[1], "payload ▾");
    assert!(
        open[2]
            .as_str()
            .unwrap_or_default()
            .contains("\"unit_count\": 6"),
        "{open}"
    );
    b.js(
        "document.querySelector('.ev .payload-toggle').click()",
        json!([]),
    );
    assert_eq!(b.js(toggle, json!([])), closed);

    // Attempt 2 alone: the events after the RESUME, and that RESUME.
    b.js(
        "const s = document.getElementById('tl-attempt'); s.value = '2'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    b.wait(
        "attempt 2",
        "return document.querySelectorAll('.ev').length === 7",
    );
    assert_eq!(b.texts("[data-marker]"), b.texts("[data-marker=resume]"));
    assert_eq!(b.texts(".ev .ev-type")[0], "task.retry");
    b.js(
        "const s = document.getElementById('tl-attempt'); s.value = '0'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );

    // The graph as a table: the same units and states, in words.
    b.click("[data-action=table]");
    b.wait(
        "the unit table",
        "return !document.getElementById('unit-table').hidden",
    );
    assert_eq!(
        b.texts(".unit-table tbody tr[data-unit=api] td"),
        ["api", "1", "✗ failed", "0/4", "1", "app-shell, config"]
    );
    assert_eq!(b.texts(".unit-table tbody tr").len(), 6);
    assert_accessible(&b, "the unit table");
    b.click("[data-action=table]");

    // Failures only: the failing rows (types that fail, events with an
    // error), with the STOP/RESUME boundaries kept.
    b.click("[data-action=failures]");
    b.wait(
        "failures only",
        "return document.querySelector('[data-action=failures]').getAttribute('aria-pressed') === 'true' && document.querySelectorAll('.ev').length === 2",
    );
    assert_eq!(
        b.texts(".ev .ev-type"),
        ["task.validation.fail", "unit.failed"]
    );
    assert_eq!(b.texts("[data-marker]").len(), 2);
    b.click("[data-action=failures]");
    b.wait(
        "every event again",
        "return document.querySelectorAll('.ev').length > 20",
    );
    b.click("[data-action=first-failure]");
    // Read from the daemon (the whole run's first failure): wait for it.
    b.wait(
        "the first failure focused",
        "return document.activeElement.dataset.type === 'task.validation.fail' && document.activeElement.classList.contains('target')",
    );

    // Clicking a node filters the timeline to its unit, through the URL.
    b.click(".node[data-unit=api]");
    b.wait(
        "the unit filter",
        "return location.hash.includes('unit=api') && [...document.querySelectorAll('.ev')].every(r => r.querySelector('.ev-unit')?.textContent === 'api')",
    );
    let selected = b.js(
        "return document.querySelector('.node.selected')?.dataset.unit",
        json!([]),
    );
    assert_eq!(selected, json!("api"));
    // A reload of the deep link restores the run and the filter.
    b.js("location.reload()", json!([]));
    b.wait(
        "the reloaded filter",
        "return document.querySelector('.node.selected')?.dataset.unit === 'api' && document.getElementById('tl-unit')?.value === 'api'",
    );
    let rows = b.texts(".ev .ev-unit");
    assert!(
        !rows.is_empty() && rows.iter().all(|u| u == "api"),
        "{rows:?}"
    );
    // Escape clears the filter, a second Escape closes the run.
    b.keys(&["\u{E00C}"]);
    b.wait(
        "no filter",
        "return !location.hash.includes('unit=') && document.querySelectorAll('.ev-unit').length > 5",
    );
    b.keys(&["\u{E00C}"]);
    b.wait(
        "the run closed",
        "return !location.hash.includes('run=') && document.querySelector('[data-empty=detail] h2')?.textContent === 'Select a run to view details'",
    );
    // The back button reopens it.
    b.js("history.back()", json!([]));
    b.wait(
        "the run again",
        "return location.hash.includes('run=') && document.querySelectorAll('.node').length === 6",
    );
}

#[test]
fn a_run_without_a_graph_shows_a_notice_and_its_timeline() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 1);
    d.events(
        &id,
        vec![
            json!({"time": at(1), "type": "orch.dryrun.started", "payload": {"unit_count": 1}}),
            ev(2, "unit.started", Some("solo")),
            ev(9, "unit.completed", Some("solo")),
        ],
    );
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the timeline",
        "return document.querySelectorAll('.ev').length === 3",
    );
    let fit = b.js(
        "return [...document.querySelectorAll('.section-head button')].filter(b => b.textContent === 'Fit').length",
        json!([]),
    );
    assert_eq!(fit, json!(0), "no Fit button without a graph");
    let note = b.texts("[data-empty=graph]");
    assert_eq!(
        note,
        ["No dependency graph was recorded for this run (its orch.started event carried none)."]
    );
    assert_eq!(
        b.texts(".ev .ev-type"),
        ["orch.dryrun.started", "unit.started", "unit.completed"]
    );
    assert_eq!(b.texts("[data-field=event-count]"), ["3 events"]);
    // The waterfall needs no graph (nor the unit events: the daemon sums them up).
    b.wait(
        "the waterfall",
        "return document.querySelector('.gantt-row[data-unit=solo]')?.dataset.status === 'complete'",
    );
    // Times are local (this browser runs in Asia/Kolkata, UTC+5:30) until
    // UTC is chosen; the choice is remembered.
    let utc = at(0).replace('T', " ").replace('Z', "");
    let started = |b: &Browser| b.texts(".run-meta span")[0].clone();
    assert_ne!(started(&b), utc, "local time");
    b.click("#zone-utc");
    b.wait(
        "UTC times",
        &format!("return document.querySelector('.run-meta span').textContent === '{utc}'"),
    );
    b.js("location.reload()", json!([]));
    b.wait(
        "UTC after a reload",
        &format!("return document.querySelector('.run-meta span')?.textContent === '{utc}' && document.querySelectorAll('.ev').length === 3"),
    );
    b.click("#zone-local");
    b.wait(
        "local again",
        &format!("return document.querySelector('.run-meta span').textContent !== '{utc}'"),
    );
    shot(&b, "run-no-graph");
    assert_accessible(&b, "a run without a graph");

    // An unknown run in the URL says so.
    b.goto(&format!(
        "{}{}",
        d.url("/"),
        run_hash("/src/app", "run_gone")
    ));
    b.wait(
        "the missing-run notice",
        "return document.querySelector('[data-empty=missing-run]')",
    );
    let text = b.texts("[data-empty=missing-run]");
    assert!(
        text[0].contains("run_gone") && text[0].contains("retention"),
        "{text:?}"
    );
}

#[test]
fn orchestrator_text_is_rendered_as_text_never_as_markup() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let evil_unit = "<img src=x onerror=alert(1)>";
    let evil_error = "boom </script><script>alert(2)</script>";
    let id = d.start_run("/src/<b>app</b>", &at(0), 1);
    d.events(
        &id,
        vec![
            json!({"time": at(1), "type": "orch.started", "payload": {"graph": {
                "nodes": [{"id": evil_unit, "level": 0, "status": "pending"}],
                "edges": [], "levels": [[evil_unit]]}}}),
            json!({"time": at(2), "type": "unit.failed", "unit": evil_unit, "error": evil_error,
                   "payload": {"reason": "<svg onload=alert(3)>"}}),
        ],
    );
    d.post(
        &format!("/api/runs/{id}/complete"),
        json!({"status": "failed", "error": evil_error}),
    );
    b.goto(&format!(
        "{}{}",
        d.url("/"),
        run_hash("/src/<b>app</b>", &id)
    ));
    b.wait(
        "the run",
        "return document.querySelectorAll('.ev').length === 3 && document.querySelector('.node')",
    );
    // The text is there, verbatim …
    // The label is cut at 26 characters; the node's title has it whole.
    assert_eq!(
        b.texts(".node text.label .name")[0],
        "<img src=x onerror=alert(…"
    );
    assert_eq!(b.texts(".node > title")[0], format!("{evil_unit} — failed"));
    assert_eq!(b.texts(".ev .ev-unit")[0], evil_unit);
    assert_eq!(b.texts("[data-field=error]"), [evil_error]);
    assert_eq!(b.texts(".run-error"), [evil_error]);
    assert!(b.texts(".ev-error")[0].contains("</script><script>alert(2)</script>"));
    // … and no element was made of it, no script ran, no dialog opened.
    let counts = b.js(
        "return [document.querySelectorAll('img').length, document.scripts.length, document.querySelectorAll('b, svg svg').length]",
        json!([]),
    );
    assert_eq!(counts, json!([0, 2, 0]));
    assert!(!b.alert_open(), "a dialog opened");
    shot(&b, "xss");
}

#[test]
fn a_long_run_opens_at_the_tail_and_pages_earlier_by_seq() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 4);
    let events: Vec<Value> = (0..1200u64)
        .map(|i| {
            json!({"time": at(i), "type": "task.completed",
                   "unit": format!("u{}", i % 4), "task": i + 1})
        })
        .collect();
    d.events(&id, events);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250 && document.querySelector('[data-field=event-count]').textContent",
    );
    let seqs = |b: &Browser| {
        b.js(
            "const r = [...document.querySelectorAll('.ev')]; return [r[0].dataset.seq, r[r.length - 1].dataset.seq]",
            json!([]),
        )
    };
    assert_eq!(seqs(&b), json!(["951", "1200"]));
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["showing 951–1200 of 1200 events"]
    );
    // Scrolling to the top reads the page before, and the rows in view stay put.
    let anchor = b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = 0; return 0",
        json!([]),
    );
    assert_eq!(anchor, json!(0));
    b.wait(
        "the page before",
        "return document.querySelectorAll('.ev').length === 500",
    );
    assert_eq!(seqs(&b), json!(["701", "1200"]));
    let kept = b.js(
        "const t = document.querySelector('[data-timeline]'); const r = document.querySelector('.ev[data-seq=\"951\"]');          return r.getBoundingClientRect().top > t.getBoundingClientRect().top - 40",
        json!([]),
    );
    assert_eq!(kept, json!(true), "the first row read before stays in view");
    // The button does the same.
    b.js(
        "document.querySelector('[data-action=earlier]').click()",
        json!([]),
    );
    b.wait(
        "two pages before",
        "return document.querySelectorAll('.ev').length === 750",
    );
    assert_eq!(seqs(&b), json!(["451", "1200"]));
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["showing 451–1200 of 1200 events"]
    );
}

#[test]
fn a_running_run_follows_its_events_live_and_survives_a_daemon_restart() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let mut d = Daemon::start();
    let id = seed_graph_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the run, following live",
        "return document.querySelector('[data-field=live]')?.textContent === 'live' && document.querySelector('#daemon-state')?.dataset.state === 'live'",
    );
    let last = |b: &Browser| {
        b.js(
            "const r = document.querySelectorAll('[data-seq]'); return Number(r[r.length - 1].dataset.seq)",
            json!([]),
        )
        .as_u64()
        .expect("a seq")
    };
    let before = last(&b);
    assert_eq!(before, 27);
    // New events: rows appear, the node turns green, the counters follow.
    d.events(
        &id,
        vec![
            json!({"time": at(900), "type": "task.completed", "unit": "auth", "task": 2}),
            ev(901, "unit.completed", Some("auth")),
        ],
    );
    b.wait(
        "auth complete",
        "return document.querySelector('.node[data-unit=auth]')?.dataset.status === 'complete' && document.querySelectorAll('[data-seq=\"29\"]').length === 1",
    );
    b.wait(
        "the header's counters",
        "return document.querySelector('[data-field=units]')?.textContent === '3/6 complete'",
    );
    // A stop arrives as a STOP row and the badge changes.
    d.post(
        &format!("/api/runs/{id}/stop"),
        json!({"reason": "paused from the CLI", "at": at(905)}),
    );
    b.wait(
        "the live STOP",
        "return document.querySelectorAll('[data-marker=stop]').length === 2 && document.querySelector('.run-head .badge')?.textContent === 'stopped'",
    );
    // The list shows the new status too.
    b.wait(
        "the list row",
        &format!(
            "return document.querySelector(\"[data-run='{id}'] .badge\")?.textContent === 'stopped'"
        ),
    );

    // The daemon restarts: the page says so, reconnects, and misses nothing.
    d.restart();
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": at(960)}));
    d.events(&id, vec![ev(961, "unit.started", Some("docs"))]);
    b.wait(
        "the events stored while reconnecting",
        "return document.querySelector('.node[data-unit=docs]')?.dataset.status === 'in_progress' && document.querySelector('[data-field=live]')?.textContent === 'live'",
    );
    let seqs = b.js(
        "return [...document.querySelectorAll('[data-seq]')].map(r => Number(r.dataset.seq))",
        json!([]),
    );
    let seqs: Vec<u64> = serde_json::from_value(seqs).expect("seqs");
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "no row twice");
    assert_eq!(seqs.last(), Some(&32));
    assert_eq!(
        b.texts(".attempt-row").last().map(String::as_str),
        Some("Attempt 3 of 3")
    );

    // A new run of the repository appears at its first event.
    let fresh = d.start_run("/src/app", &at(1000), 1);
    d.events(&fresh, vec![ev(1001, "unit.started", Some("x"))]);
    b.wait(
        "the new run in the list",
        &format!("return document.querySelector('.run-link .run-id')?.textContent === '{fresh}'"),
    );
    shot(&b, "live");
}

#[test]
fn a_run_of_twenty_thousand_events_keeps_a_bounded_number_of_rows() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 8);
    let events: Vec<Value> = (0..20_000u64)
        .map(|i| {
            json!({"time": at(i / 4), "type": if i % 2 == 0 { "task.started" } else { "task.completed" },
                   "unit": format!("unit-{}", i % 8), "task": i / 2 + 1})
        })
        .collect();
    d.events(&id, events);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250 && document.querySelector('[data-field=event-count]').textContent",
    );
    let window = |b: &Browser| {
        b.js(
            "const r = [...document.querySelectorAll('.ev')]; return [r.length, Number(r[0].dataset.seq), Number(r[r.length - 1].dataset.seq)]",
            json!([]),
        )
    };
    assert_eq!(window(&b), json!([250, 19751, 20000]));
    // Scrolling up reads earlier pages; past 750 rows the far end is dropped.
    for expected in [
        json!([500, 19501, 20000]),
        json!([750, 19251, 20000]),
        json!([750, 19001, 19750]),
        json!([750, 18751, 19500]),
    ] {
        b.js(
            "document.querySelector('[data-timeline]').scrollTop = 0",
            json!([]),
        );
        b.wait(
            "the next page up",
            &format!(
                "const r = document.querySelectorAll('.ev'); return r.length && r[0].dataset.seq === '{}'",
                expected[1]
            ),
        );
        assert_eq!(window(&b), expected);
        // Only the rows near the view have their content (the rows in
        // view all have it); the others are empty rows of the same height.
        assert_eq!(b.js(ROWS_FILLED_JS, json!([])), json!([true, true]));
    }
    assert_eq!(
        b.texts("[data-field=newer]"),
        ["500 newer events not shown (seq 19501–20000)"]
    );
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["showing 18751–19500 of 20000 events"]
    );
    let set = b.js(
        "const r = document.querySelector('.ev'); return [r.getAttribute('aria-posinset'), r.getAttribute('aria-setsize')]",
        json!([]),
    );
    assert_eq!(set, json!(["18751", "20000"]));
    // Scrolling down reads the newer pages back, dropping the top.
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight",
        json!([]),
    );
    b.wait(
        "a newer page",
        "const r = document.querySelectorAll('.ev'); return r[r.length - 1].dataset.seq === '19750'",
    );
    assert_eq!(window(&b), json!([750, 19001, 19750]));
    shot(&b, "run-long");
}

#[test]
fn a_daemon_that_went_away_is_a_banner_with_the_command_to_start_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let mut d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 1);
    d.events(&id, vec![ev(1, "unit.started", Some("solo"))]);
    b.goto(&d.url("/"));
    b.wait(
        "the list",
        "return document.querySelectorAll('.run-link').length === 1",
    );
    d.shutdown();
    b.click(".run-link");
    b.wait(
        "the banner",
        "return !document.getElementById('banner').hidden",
    );
    let banner = b.texts("#banner");
    assert!(
        banner[0].contains("Cannot reach the history daemon")
            && banner[0].contains("otto-hooks daemon start")
            && banner[0].contains("Retry"),
        "{banner:?}"
    );
    // The list stays visible; the pane says what failed.
    assert_eq!(b.texts(".run-link .run-id"), std::slice::from_ref(&id));
    b.wait(
        "the pane's notice",
        "return document.querySelector('[data-empty=run-error]')",
    );
    shot(&b, "unreachable");
    // Back up: Retry clears the banner and opens the run.
    d.restart();
    b.click("#banner button");
    b.wait(
        "the run after retry",
        "return document.getElementById('banner').hidden && document.querySelector('[data-field=run-id]')",
    );
}

#[test]
fn the_keyboard_alone_reaches_a_run_and_a_unit_with_a_visible_focus() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_graph_run(&d);
    b.goto(&d.url("/"));
    b.wait(
        "the list",
        "return document.querySelectorAll('.run-link').length === 1",
    );
    // What has the focus, and whether its focus ring shows.
    let focus = |b: &Browser| {
        b.js(
            "const e = document.activeElement; const s = getComputedStyle(e);
             return [e.className?.baseVal ?? e.className, e.tagName, s.outlineStyle !== 'none' && s.outlineWidth !== '0px']",
            json!([]),
        )
    };
    let mut stops = Vec::new();
    for _ in 0..14 {
        b.keys(&["\u{E004}"]);
        let f = focus(&b);
        assert_eq!(f[2], json!(true), "no visible focus on {f}");
        stops.push(f[0].as_str().unwrap_or_default().to_owned());
        if f[0] == json!("run-link") {
            break;
        }
    }
    assert_eq!(
        stops,
        [
            "skip",
            "",
            "",
            "",
            "",
            "btn small",
            "btn small",
            "btn small",
            "chip",
            "chip",
            "chip",
            "chip",
            "chip",
            "run-link"
        ],
        "Tab order: skip link, Live/History/Insights, repository, Local/UTC/Relative, status chips, the first run"
    );
    b.keys(&["\u{E007}"]);
    b.wait(
        "the run",
        "return document.querySelectorAll('.node').length === 6",
    );
    // On to the graph: Tab reaches the units, Enter filters to one.
    let mut reached = false;
    for _ in 0..20 {
        b.keys(&["\u{E004}"]);
        let f = focus(&b);
        if f[1] == json!("g") {
            assert_eq!(f[0], json!("node status-complete"), "the first unit");
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached a graph unit");
    shot(&b, "keyboard");
    b.keys(&["\u{E007}"]);
    b.wait(
        "the unit filter",
        "return location.hash.includes('unit=app-shell') && document.querySelector('.node.selected')?.dataset.unit === 'app-shell'",
    );
    assert!(b.texts(".ev .ev-unit").iter().all(|u| u == "app-shell"));

    // `/` focuses the search; tokens combine with the unit filter.
    b.keys(&["\u{E00C}"]);
    b.wait("no filter", "return !location.hash.includes('unit=')");
    b.keys(&["/"]);
    let focused = b.js("return document.activeElement.id", json!([]));
    assert_eq!(focused, json!("tl-search"));
    b.keys(&["type:task.retry", " ", "VALIDATION"]);
    b.wait(
        "one match",
        "return document.querySelectorAll('.ev').length === 1 && location.hash.includes('q=type')",
    );
    assert_eq!(b.texts(".ev .ev-type"), ["task.retry"]);
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["1 matching event in the whole run"]
    );
    // Highlight instead of hide: every row, the match marked.
    b.click("[data-action=hide]");
    b.wait(
        "highlight mode",
        "return document.querySelectorAll('.ev').length > 20 && document.querySelectorAll('.ev.hit').length === 1",
    );
    shot(&b, "search");
    // The search is in the link: a reload keeps it.
    b.js("location.reload()", json!([]));
    b.wait(
        "the search after a reload",
        "return document.getElementById('tl-search')?.value === 'type:task.retry VALIDATION' && document.querySelectorAll('.ev').length === 1",
    );
    let _ = id;
}

/// Numbers for docs/BENCHMARKS.md, not a pass/fail check (run with
/// `cargo test -p otto-hooks-core --test ui_browser -- --ignored --nocapture`):
/// the first render of a 10,000-run list, the tail of a 100,000-event run,
/// a live event's trip from the POST's answer to the DOM, bytes transferred.
#[test]
#[ignore = "a measurement; prints numbers"]
fn measure_the_ui() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    for i in 0..10_000u64 {
        let id = d.start_run("/src/app", &at(i), 12);
        if i % 3 != 0 {
            d.post(
                &format!("/api/runs/{id}/complete"),
                json!({"status": if i % 7 == 0 { "failed" } else { "completed" }, "completed_units": 12}),
            );
        }
    }
    let big = d.start_run("/src/app", &at(20_000), 8);
    let events: Vec<Value> = (0..100_000u64)
        .map(|i| {
            json!({"time": at(20_000 + i / 10), "type": if i % 2 == 0 { "task.started" } else { "task.completed" },
                   "unit": format!("unit-{}", i % 8), "task": i / 2 + 1, "payload": {"title": "a task"}})
        })
        .collect();
    d.events(&big, events);
    let marks = |b: &Browser| {
        b.js(
            "return Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, Math.round(m.startTime)]))",
            json!([]),
        )
    };
    let mut report = Vec::new();
    for round in 0..3 {
        b.goto(&d.url("/#/history?repo=%2Fsrc%2Fapp"));
        b.wait(
            "the list",
            "return performance.getEntriesByName('otto:runs-rendered').length",
        );
        let bytes = b.js(
            "const n = performance.getEntriesByType('navigation')[0]; return [n.transferSize, n.encodedBodySize, performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, 0), performance.getEntriesByType('resource').reduce((a, r) => a + r.encodedBodySize, 0)]",
            json!([]),
        );
        report.push(format!("round {round}: 10,000 runs, list rendered at {} ms from navigation; bytes (page, resources, transfer/body) {bytes}", marks(&b)["otto:runs-rendered"]));
        b.goto("about:blank");
        b.goto("about:blank");
        b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &big)));
        b.wait(
            "the tail",
            "return performance.getEntriesByName('otto:timeline-tail').length",
        );
        report.push(format!(
            "round {round}: 100,000-event run, tail shown at {} ms, whole detail at {:?}",
            marks(&b)["otto:timeline-tail"],
            b.wait(
                "the detail",
                "return performance.getEntriesByName('otto:run-shown')[0]?.startTime"
            )
        ));
        // The waterfall: one `…/units` request (SQL aggregate over the 100,000 events).
        report.push(format!(
            "round {round}: 100,000-event run, waterfall: GET units took {} ms, 8 rows drawn at {} ms",
            b.wait(
                "the units request",
                "return performance.getEntriesByType('resource').find(r => r.name.endsWith('/units'))?.duration?.toFixed(1)"
            ),
            b.wait(
                "the waterfall",
                "return document.querySelectorAll('.gantt-row').length === 8 && Math.round(performance.now())"
            )
        ));
    }
    for line in &report {
        println!("{line}");
    }
    // A live event: from the moment the page's own POST is answered to the row in the DOM.
    let trips = b.js_async(
        "const [run, token, n] = arguments; const done = arguments[arguments.length - 1];
         const out = [];
         (async () => {
           try {
           for (let i = 0; i < n; i++) {
             const seen = new Promise(res => {
               const obs = new MutationObserver(() => {
                 const rows = document.querySelectorAll('.ev');
                 const last = rows[rows.length - 1];
                 if (last && last.querySelector('.ev-unit')?.textContent === 'probe-' + i) { obs.disconnect(); res(performance.now()); }
               });
               obs.observe(document.querySelector('.tl-list').parentNode, {childList: true, subtree: true});
             });
             const r = await fetch('api/runs/' + run + '/events', {method: 'POST', headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
               body: JSON.stringify({events: [{type: 'unit.started', unit: 'probe-' + i}]})});
             const acked = performance.now(); const answer = await r.json();
             const t = await Promise.race([seen, new Promise(res => setTimeout(() => res(null), 3000))]);
             out.push(t === null ? 'lost: ' + JSON.stringify(answer) + ' ' + document.querySelector('[data-field=live]')?.textContent + ' ' + [...document.querySelectorAll('.ev')].slice(-1)[0]?.textContent : Math.round(t - acked));
             await new Promise(res => setTimeout(res, 100));
           }
           done(out);
           } catch (e) { done('error: ' + e + ' after ' + JSON.stringify(out)); }
         })();",
        json!([big, TOKEN, 5]),
    );
    println!("live: POST answered -> row in the DOM, ms: {trips}");
    // Scrolling the 100,000-event timeline upwards from its tail, one step
    // of 600 px per animation frame for 240 frames (the window pages in
    // earlier events on the way): the intervals between frames (a dropped
    // frame shows as ~33 ms), and the synchronous work of each step (the
    // scroll position set and the layout it forces).
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &big)));
    b.wait(
        "the tail again",
        "return performance.getEntriesByName('otto:timeline-tail').length",
    );
    let cpu = b.cpu_ms();
    let frames = b.js_async(SCROLL_UP_JS, json!([600, 240]));
    let cpu = b.cpu_ms() - cpu;
    println!(
        "scrolling the timeline up from the tail: {frames}; Chromium CPU {cpu} ms, {:.1} ms a frame; load average {}",
        cpu as f64 / 240.0,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

#[test]
fn the_live_view_waits_for_a_run_then_opens_it_and_lists_the_others() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let done = d.start_run("/src/app", &at(0), 1);
    d.post(
        &format!("/api/runs/{done}/complete"),
        json!({"status": "completed"}),
    );
    b.goto(&format!("{}#/live?repo=%2Fsrc%2Fapp", d.url("/")));
    b.wait(
        "waiting",
        "return document.querySelector('[data-empty=live] h2')?.textContent === 'Waiting for a run' && document.querySelector('#daemon-state')?.dataset.state === 'live'",
    );
    let tabs = b.js(
        "return [...document.querySelectorAll('[role=tab]')].map(t => t.textContent + '=' + t.getAttribute('aria-selected'))",
        json!([]),
    );
    assert_eq!(
        tabs,
        json!(["Live=true", "History=false", "Insights=false"])
    );
    // A run starts: it opens by itself at its first event.
    let first = d.start_run("/src/app", &at(100), 2);
    d.events(&first, vec![ev(101, "unit.started", Some("a"))]);
    b.wait(
        "the running run",
        &format!("return document.querySelector('[data-field=run-id]')?.textContent === '{first}'"),
    );
    // A second one joins the switcher; the open run stays open.
    let second = d.start_run("/src/app", &at(200), 2);
    d.events(&second, vec![ev(201, "unit.started", Some("b"))]);
    b.wait(
        "two running runs",
        "return document.querySelectorAll('.live-run').length === 2",
    );
    assert_eq!(b.texts("[data-field=run-id]"), std::slice::from_ref(&first));
    shot(&b, "live-view");
    assert_accessible(&b, "the live view");
    // The switcher opens the other one; History comes back with the list.
    b.click(&format!(".live-run[data-run='{second}']"));
    b.wait(
        "the second run",
        &format!(
            "return document.querySelector('[data-field=run-id]')?.textContent === '{second}'"
        ),
    );
    b.click("#tab-history");
    b.wait(
        "the history list",
        "return document.querySelectorAll('.run-link').length === 3 && location.hash.startsWith('#/history')",
    );
}

/// A running run of `n` task events (seq 1..=n, one a second, units u0..u3).
fn seed_long_run(d: &Daemon, n: u64) -> String {
    let id = d.start_run("/src/app", &at(0), 4);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"time": at(i), "type": "task.completed",
                   "unit": format!("u{}", i % 4), "task": i + 1})
        })
        .collect();
    d.events(&id, events);
    id
}

/// The seq of the focused timeline row, or null.
const FOCUSED_SEQ: &str =
    "return Number(document.activeElement?.closest('li[data-seq]')?.dataset.seq ?? 0)";

/// Whether the row `seq` is highlighted and inside the timeline's box.
fn target_in_view(seq: u64) -> String {
    format!(
        "const r = document.querySelector('li[data-seq=\"{seq}\"]'); const t = document.querySelector('[data-timeline]');
         if (!r || !t || !r.classList.contains('target')) return false;
         const a = r.getBoundingClientRect(), b = t.getBoundingClientRect();
         return a.top >= b.top - 1 && a.bottom <= b.bottom + 1"
    )
}

#[test]
fn an_event_permalink_opens_the_run_at_that_event_and_survives_a_reload() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 2000);
    // seq 300 is far from the tail (1751..2000): read around it.
    let url = format!("{}{}&seq=300", d.url("/"), run_hash("/src/app", &id));
    b.goto(&url);
    b.wait("seq 300 highlighted in view", &target_in_view(300));
    assert_eq!(b.js(FOCUSED_SEQ, json!([])), json!(300));
    let range = b.js(
        "const r = [...document.querySelectorAll('.ev')]; return [Number(r[0].dataset.seq), Number(r[r.length - 1].dataset.seq)]",
        json!([]),
    );
    assert_eq!(
        range,
        json!([51, 425]),
        "a page up to it and half a page after"
    );
    shot(&b, "permalink");
    assert_accessible(&b, "a run opened at a permalinked event");
    // A reload restores the same screen.
    b.js("location.reload()", json!([]));
    b.wait("seq 300 again after the reload", &target_in_view(300));
    // The rows' times are the permalinks: following one highlights that event.
    b.click("a[data-permalink='310']");
    b.wait(
        "seq 310 in the URL",
        "return location.hash.endsWith('&seq=310')",
    );
    b.wait("seq 310 highlighted", &target_in_view(310));
    // A seq in the tail, from the list's own link: no extra read.
    b.goto(&format!(
        "{}{}&seq=1990",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait("seq 1990 in the tail", &target_in_view(1990));
}

#[test]
fn arrow_keys_and_j_k_move_between_timeline_rows() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 600);
    b.goto(&format!(
        "{}{}&seq=400",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait("seq 400", &target_in_view(400));
    assert_eq!(b.js(FOCUSED_SEQ, json!([])), json!(400));
    const DOWN: &str = "\u{E015}";
    const UP: &str = "\u{E013}";
    b.keys(&[DOWN]);
    b.wait("↓ to 401", &format!("{} === 401", FOCUSED_SEQ));
    b.keys(&[DOWN, DOWN]);
    b.wait("↓↓ to 403", &format!("{} === 403", FOCUSED_SEQ));
    b.keys(&[UP]);
    b.wait("↑ to 402", &format!("{} === 402", FOCUSED_SEQ));
    b.keys(&["k", "k"]);
    b.wait("k k to 400", &format!("{} === 400", FOCUSED_SEQ));
    b.keys(&["j"]);
    b.wait("j to 401", &format!("{} === 401", FOCUSED_SEQ));
    // The run stays open: j/k in the timeline do not move between runs.
    assert_eq!(b.texts("[data-field=run-id]"), std::slice::from_ref(&id));
    let focused_row_in_view = b.js(
        "const r = document.activeElement; const t = document.querySelector('[data-timeline]');
         const a = r.getBoundingClientRect(), c = t.getBoundingClientRect(); return a.top >= c.top - 1 && a.bottom <= c.bottom + 1",
        json!([]),
    );
    assert_eq!(focused_row_in_view, json!(true));
    // On the first loaded row, one `k` reads the page before (or waits for
    // the read under way) and moves to the row before it: no second press.
    let first = b.js(
        "const r = document.querySelector('.tl-list > li[data-seq]'); r.setAttribute('tabindex', '-1'); r.focus(); return Number(r.dataset.seq)",
        json!([]),
    );
    let first = first.as_u64().expect("a first loaded row");
    assert!(first > 1, "the window starts after seq 1: {first}");
    b.keys(&["k"]);
    b.wait(
        "one k past the first loaded row",
        &format!("{} === {}", FOCUSED_SEQ, first - 1),
    );
}

#[test]
fn the_pulses_pause_while_the_timeline_scrolls_and_resume_after() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 600);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    // The running run's badge and the live dot pulse.
    const STATES: &str = "return ['.badge.running', '.live-tag'].map(s => { const e = document.querySelector(s); return e ? getComputedStyle(e, '::before').animationPlayState + ' ' + getComputedStyle(e, '::before').animationName : 'missing ' + s; })";
    b.wait(
        "the live dot",
        "return !document.querySelector('.live-tag')?.hidden && !document.documentElement.classList.contains('scrolling')",
    );
    assert_eq!(
        b.js(STATES, json!([])),
        json!(["running pulse", "running pulse"])
    );
    // A scroll step: paused in the frames that follow it.
    let during = b.js_async(
        "const done = arguments[arguments.length - 1]; const t = document.querySelector('[data-timeline]');
         t.scrollTop = t.scrollTop - 300;
         requestAnimationFrame(() => requestAnimationFrame(() => done([document.documentElement.classList.contains('scrolling'),
           ...['.badge.running', '.live-tag'].map(s => getComputedStyle(document.querySelector(s), '::before').animationPlayState)])));",
        json!([]),
    );
    assert_eq!(during, json!([true, "paused", "paused"]));
    // Still again: they pulse again.
    b.wait(
        "the pulses resume",
        "return !document.documentElement.classList.contains('scrolling')",
    );
    assert_eq!(
        b.js(STATES, json!([])),
        json!(["running pulse", "running pulse"])
    );
    // Following live events at the bottom is not scrolling: the live dot
    // keeps pulsing.
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight",
        json!([]),
    );
    b.wait(
        "at the bottom, still",
        "return !document.documentElement.classList.contains('scrolling')",
    );
    d.events(
        &id,
        vec![json!({"time": at(700), "type": "task.completed", "unit": "u1", "task": 701})],
    );
    b.wait(
        "the live row, in view",
        "const r = document.querySelector('li[data-seq=\"601\"]'); const t = document.querySelector('[data-timeline]');
         return !!r && r.getBoundingClientRect().bottom <= t.getBoundingClientRect().bottom + 1",
    );
    let following = b.js_async(
        "const done = arguments[arguments.length - 1];
         requestAnimationFrame(() => requestAnimationFrame(() => done(document.documentElement.classList.contains('scrolling'))));",
        json!([]),
    );
    assert_eq!(
        following,
        json!(false),
        "following a live event paused the pulses"
    );
}

#[test]
fn relative_time_shows_offsets_from_the_run_start_and_is_remembered() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 2);
    d.events(
        &id,
        vec![
            ev(0, "unit.started", Some("a")),
            ev(83, "unit.completed", Some("a")),
            ev(3900, "unit.started", Some("b")),
        ],
    );
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the rows",
        "return document.querySelectorAll('.ev').length === 3",
    );
    b.click("#zone-relative");
    let times = || {
        b.wait(
            "relative times",
            "return document.querySelector('.ev .ev-time')?.textContent.startsWith('+')",
        );
        b.texts(".ev .ev-time")
    };
    assert_eq!(times(), ["+0s", "+1m 23s", "+1h 5m"]);
    // The list says how long ago runs started.
    let started = b.texts(".run-link .run-meta");
    assert!(
        started.iter().any(|t| t.contains(" ago")),
        "the list's start in relative mode: {started:?}"
    );
    shot(&b, "relative-time");
    assert_accessible(&b, "relative times");
    b.js("location.reload()", json!([]));
    assert_eq!(times(), ["+0s", "+1m 23s", "+1h 5m"]);
    assert_eq!(
        b.js(
            "return document.querySelector('#zone-relative').getAttribute('aria-pressed')",
            json!([])
        ),
        json!("true")
    );
    b.click("#zone-utc");
    b.wait(
        "clock times again",
        "return /^\\d\\d:\\d\\d:\\d\\d$/.test(document.querySelector('.ev .ev-time')?.textContent)",
    );
}

#[test]
fn live_events_away_from_the_tail_show_a_pill_and_a_failed_unit_a_toast() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 200);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the run, following live",
        "return document.querySelector('[data-field=live]')?.textContent === 'live'",
    );
    // The tab says the run is running, with a status favicon.
    assert_eq!(
        b.js(
            "return [document.title.startsWith('●'), document.querySelector('link[rel=icon]').dataset.status, document.querySelector('link[rel=icon]').href.startsWith('data:image/svg+xml,')]",
            json!([])
        ),
        json!([true, "running", true])
    );
    // At the bottom, new rows just follow: no pill.
    d.events(&id, vec![ev(300, "task.completed", Some("u1"))]);
    b.wait(
        "seq 201",
        "return document.querySelector('li[data-seq=\"201\"]') !== null",
    );
    assert_eq!(
        b.js(
            "return document.querySelector('[data-action=new-events]').hidden",
            json!([])
        ),
        json!(true)
    );
    // Scrolled away, they are counted on the pill.
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = 200; return 0",
        json!([]),
    );
    d.events(
        &id,
        vec![
            ev(301, "task.completed", Some("u2")),
            ev(302, "task.completed", Some("u3")),
            ev(303, "task.completed", Some("u0")),
        ],
    );
    b.wait(
        "the pill",
        "const p = document.querySelector('[data-action=new-events]'); return !p.hidden && p.textContent === '↓ 3 new events'",
    );
    shot(&b, "new-events-pill");
    b.click("[data-action=new-events]");
    b.wait(
        "at the tail, the pill gone",
        "const t = document.querySelector('[data-timeline]'); const p = document.querySelector('[data-action=new-events]');
         return p.hidden && t.scrollTop + t.clientHeight >= t.scrollHeight - 2 && document.querySelector('li[data-seq=\"204\"]') !== null",
    );
    // A unit fails: a toast in the polite status region says so.
    d.events(
        &id,
        vec![
            json!({"time": at(310), "type": "unit.failed", "unit": "u2", "error": "exit status 1"}),
        ],
    );
    b.wait(
        "the toast",
        "const t = document.querySelector('#toasts [data-toast=unit-failed]'); return t && t.textContent.includes('Unit u2 failed') && t.textContent.includes('exit status 1')",
    );
    assert_eq!(
        b.js(
            "const box = document.querySelector('#toasts'); return [box.getAttribute('role'), box.getAttribute('aria-live')]",
            json!([])
        ),
        json!(["status", "polite"])
    );
    shot(&b, "unit-failed-toast");
    assert_accessible(&b, "a run with the new-events pill and a toast");
    // Its "Show" opens the event.
    b.click("#toasts [data-toast=unit-failed] button");
    b.wait("the failed event", &target_in_view(205));
    assert!(
        b.js("return location.hash", json!([]))
            .as_str()
            .is_some_and(|h| h.ends_with("&seq=205"))
    );
}

#[test]
fn the_download_button_gives_the_runs_events_as_ndjson() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 1500);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the download link",
        "return document.querySelector('a[data-action=download]')?.textContent === 'Download NDJSON'",
    );
    // What the link downloads, fetched from the page (same origin).
    let got = b.js_async(
        "const done = arguments[arguments.length - 1];
         const a = document.querySelector('a[data-action=download]');
         fetch(a.href).then(async r => {
           const lines = (await r.text()).trim().split('\\n').map(l => JSON.parse(l));
           done([a.hasAttribute('download'), r.headers.get('content-disposition'), r.headers.get('content-type'),
                 lines.length, lines[0].seq, lines[lines.length - 1].seq, lines[700].unit]);
         }, e => done(String(e)));",
        json!([]),
    );
    assert_eq!(
        got,
        json!([
            true,
            format!("attachment; filename=\"{id}.ndjson\""),
            "application/x-ndjson",
            1500,
            1,
            1500,
            "u0"
        ])
    );
    // A hiding search reads its matches from the whole run (the daemon's
    // q=), not only from the loaded window: the newest 250 of 375.
    b.goto(&format!(
        "{}{}&q=unit%3Au1",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait(
        "the whole run's matches",
        "return document.querySelector('[data-field=event-count]')?.textContent === '375 matching events in the whole run · 250 shown'",
    );
}

#[test]
fn a_new_run_appears_in_the_list_and_the_live_view_before_any_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let old = d.start_run("/src/app", &at(0), 1);
    d.post(
        &format!("/api/runs/{old}/complete"),
        json!({"status": "completed"}),
    );
    b.goto(&format!("{}#/history?repo=%2Fsrc%2Fapp", d.url("/")));
    b.wait(
        "the list, live",
        "return document.querySelectorAll('.run-link').length === 1 && document.querySelector('#daemon-state')?.dataset.state === 'live'",
    );
    let posted = std::time::Instant::now();
    let fresh = d.start_run("/src/app", &at(100), 3);
    b.wait(
        "the new run at the top of the list",
        &format!("return document.querySelector('.run-link .run-id')?.textContent === '{fresh}'"),
    );
    // Measured, not asserted (a shared machine): the issue asks for 1 s.
    println!(
        "new run in the list {} ms after POST /api/runs answered",
        posted.elapsed().as_millis()
    );
    assert_eq!(
        d.get_json(&format!("/api/history/runs/{fresh}"))["event_count"],
        0
    );
    // The Live view opens a run that has no event yet.
    b.click("#tab-live");
    b.wait(
        "the live view shows it",
        &format!("return document.querySelector('[data-field=run-id]')?.textContent === '{fresh}'"),
    );
    b.wait(
        "its empty timeline says so",
        "return document.querySelector('[data-empty=events]')?.textContent === 'No events recorded for this run.'",
    );
    let second = d.start_run("/src/app", &at(200), 3);
    b.wait(
        "the switcher lists the second one",
        &format!("return document.querySelector(\".live-run[data-run='{second}']\") !== null"),
    );
    shot(&b, "live-new-run");
    // A unit of the open run fails: the toast's Show opens the event, and
    // the link names the run (the Live view's URL did not).
    d.events(
        &fresh,
        vec![json!({"time": at(110), "type": "unit.failed", "unit": "api", "error": "boom"})],
    );
    b.wait(
        "the toast",
        "return document.querySelector('#toasts [data-toast=unit-failed]')?.textContent.includes('Unit api failed')",
    );
    b.click("#toasts [data-toast=unit-failed] button");
    b.wait("the failed event highlighted", &target_in_view(1));
    let hash = b.js("return location.hash", json!([]));
    assert_eq!(
        hash.as_str(),
        Some(format!("#/live?repo=%2Fsrc%2Fapp&run={fresh}&seq=1").as_str())
    );
}

/// The graph run of `seed_graph_run`, finished (failed) a minute after its
/// last event, so that its waterfall ends there.
fn seed_finished_graph_run(d: &Daemon) -> String {
    let id = seed_graph_run(d);
    d.post(
        &format!("/api/runs/{id}/complete"),
        json!({"status": "failed", "completed_units": 2, "failed_units": 1, "blocked_units": 1,
               "error": "unit api failed", "completed_at": at(620)}),
    );
    id
}

/// The Gantt's rows as [unit, status, status text].
fn gantt_rows(b: &Browser) -> Value {
    b.js(
        "return [...document.querySelectorAll('.gantt-row')].map(r => [r.dataset.unit, r.dataset.status, r.querySelector('[data-field=status]').textContent])",
        json!([]),
    )
}

#[test]
fn the_gantt_shows_one_row_per_unit_with_its_status_in_words_and_the_stop_shaded() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_finished_graph_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the waterfall",
        "return document.querySelectorAll('.gantt-row').length === 6 && document.querySelectorAll('.node').length === 6",
    );
    // One row per unit, in the order they started; the graph's unit with
    // no event yet last, without a bar. Status as words and glyphs.
    let rows = gantt_rows(&b);
    let rows = rows.as_array().expect("rows");
    let summary: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_owned(),
                r[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("app-shell", "complete"),
            ("config", "complete"),
            ("api", "failed"),
            ("billing", "blocked"),
            // Started but cut off by the run's failure: never "in progress"
            // on a run that has ended.
            ("auth", "interrupted"),
            ("docs", "pending"),
        ]
        .map(|(u, s)| (u.to_owned(), s.to_owned()))
    );
    let text = |i: usize| rows[i][2].as_str().unwrap_or_default().to_owned();
    assert_eq!(text(0), "✓ complete · 1m 15s");
    assert!(
        text(2).starts_with("✗ failed · ") && text(2).ends_with(" · 1 retry"),
        "{}",
        text(2)
    );
    assert_eq!(text(3), "⊘ blocked", "one event: no duration");
    assert_eq!(text(4), "■ interrupted · 19s");
    assert_eq!(text(5), "○ pending");
    let bars = b.js(
        "return [...document.querySelectorAll('.gantt-row')].map(r => r.querySelectorAll('.bar').length)",
        json!([]),
    );
    assert_eq!(bars, json!([1, 1, 1, 1, 1, 0]));
    // The graph (statuses replayed from events in the page) and the
    // waterfall (statuses from the daemon's SQL) agree on every unit.
    let graph = b.js(
        "return Object.fromEntries([...document.querySelectorAll('.node')].map(n => [n.dataset.unit, n.dataset.status]))",
        json!([]),
    );
    let gantt = b.js(
        "return Object.fromEntries([...document.querySelectorAll('.gantt-row')].map(n => [n.dataset.unit, n.dataset.status]))",
        json!([]),
    );
    assert_eq!(graph, gantt);
    // The stopped stretch is shaded across every row, with its reason.
    let stop = b.js(
        "const s = document.querySelector('.gantt-rows .stop'); const band = s.querySelector('.stop-band');
         return [document.querySelectorAll('.gantt-rows .stop').length, s.dataset.reason, s.querySelector('title').textContent,
                 Number(band.getAttribute('height')) === document.querySelectorAll('.gantt-row').length * 26,
                 Number(band.getAttribute('width')) > 20,
                 document.querySelector('.axis-stop title').textContent,
                 document.querySelector('.axis-stop .stop-word').textContent]",
        json!([]),
    );
    assert_eq!(stop[0], json!(1));
    assert_eq!(stop[1], json!("user pressed ctrl-c"));
    let title = stop[2].as_str().unwrap_or_default();
    assert!(
        title.contains("(5m 0s)")
            && title.contains("Reason: user pressed ctrl-c")
            && title.contains("Ends attempt 1"),
        "{title}"
    );
    assert_eq!(stop[3], json!(true), "the band spans every row");
    assert_eq!(stop[4], json!(true));
    assert_eq!(stop[5], stop[2]);
    assert!(
        stop[6].as_str().unwrap_or_default().starts_with("STOP"),
        "{stop}"
    );
    // The rows are described for assistive technology.
    let label = b.js(
        "return [document.querySelector('svg[data-gantt]').getAttribute('aria-label'),
                 document.querySelector('.gantt-row[data-unit=api]').getAttribute('aria-label')]",
        json!([]),
    );
    assert_eq!(
        label[0],
        json!("Waterfall of 6 units over 10m 20s, stopped once (user pressed ctrl-c)")
    );
    let api = label[1].as_str().unwrap_or_default();
    assert!(
        api.starts_with("api failed · 6m 11s · 1 retry, from ") && api.ends_with(", 5 events"),
        "{api}"
    );
    // A finished run has no "now" line.
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.now-line').length",
            json!([])
        ),
        json!(0)
    );
    // Hovering a row lights the unit's neighbourhood in the graph.
    let lit = b.js(
        "document.querySelector('.gantt-row[data-unit=docs]').dispatchEvent(new MouseEvent('mouseenter'));
         return [...document.querySelectorAll('.node:not(.dim)')].map(n => n.dataset.unit).sort()",
        json!([]),
    );
    assert_eq!(lit, json!(["config", "docs"]));
    b.js(
        "document.querySelector('.gantt-row[data-unit=docs]').dispatchEvent(new MouseEvent('mouseleave'))",
        json!([]),
    );
    // By graph level: level 0, 1, 2 units in turn.
    b.click("[data-action=gantt-order]");
    b.wait(
        "rows by level",
        "return [...document.querySelectorAll('.gantt-row')].map(r => r.dataset.unit).join() === 'app-shell,config,api,auth,billing,docs'",
    );
    b.click("[data-action=gantt-order]");
    shot(&b, "gantt");
    assert_accessible(&b, "the waterfall");
}

#[test]
fn one_selected_unit_links_the_graph_the_gantt_and_the_timeline_and_survives_a_reload() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_finished_graph_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the waterfall",
        "return document.querySelectorAll('.gantt-row').length === 6 && document.querySelectorAll('.ev').length > 20",
    );
    let chip_hidden = "return document.querySelector('.selection').hidden";
    assert_eq!(b.js(chip_hidden, json!([])), json!(true));
    // What each view shows as selected.
    let selected = |b: &Browser| {
        b.js(
            "return [document.querySelector('.node.selected')?.dataset.unit ?? '',
                     document.querySelector('.gantt-row.selected')?.dataset.unit ?? '',
                     document.querySelector('.gantt-row[aria-pressed=true]')?.dataset.unit ?? '',
                     document.getElementById('tl-unit').value,
                     [...new Set([...document.querySelectorAll('.ev .ev-unit')].map(u => u.textContent))].join(),
                     document.querySelector('.selection').hidden ? '' : document.querySelector('[data-field=selected-unit]').textContent]",
            json!([]),
        )
    };

    // The graph selects: the Gantt row lights up, the timeline filters
    // (its rows are read from the daemon: waited for).
    b.click(".node[data-unit=api]");
    b.wait(
        "api selected",
        "return location.hash.includes('unit=api') && document.querySelector('.gantt-row.selected')?.dataset.unit === 'api' && [...document.querySelectorAll('.ev .ev-unit')].every(u => u.textContent === 'api')",
    );
    assert_eq!(
        selected(&b),
        json!(["api", "api", "api", "api", "api", "api"])
    );
    shot(&b, "selection");

    // The Gantt selects: the graph node lights up, the timeline filters.
    b.click(".gantt-row[data-unit=auth] .row-label");
    b.wait(
        "auth selected",
        "return location.hash.includes('unit=auth') && document.querySelector('.node.selected')?.dataset.unit === 'auth' && [...document.querySelectorAll('.ev .ev-unit')].every(u => u.textContent === 'auth')",
    );
    assert_eq!(
        selected(&b),
        json!(["auth", "auth", "auth", "auth", "auth", "auth"])
    );
    // The timeline shows the unit's first event, in view.
    let first = b.js(
        "const sc = document.querySelector('[data-timeline]').getBoundingClientRect(); const row = document.querySelector('[data-timeline] .ev');
         const r = row.getBoundingClientRect();
         return [row.dataset.type, r.top >= sc.top && r.bottom <= sc.bottom]",
        json!([]),
    );
    assert_eq!(first, json!(["unit.started", true]));

    // A timeline unit chip selects too.
    b.click("[data-action=clear-selection]");
    b.wait(
        "nothing selected",
        "return !location.hash.includes('unit=') && !document.querySelector('.gantt-row.selected') && !document.querySelector('.node.selected')",
    );
    assert_eq!(b.js(chip_hidden, json!([])), json!(true));
    // Rows away from the view get their content when the browser is idle
    // (the timeline is virtualised): wait for a `config` chip to exist.
    b.wait(
        "a config chip",
        "return [...document.querySelectorAll('.ev-unit')].some(c => c.textContent === 'config')",
    );
    b.js(
        "[...document.querySelectorAll('.ev-unit')].find(c => c.textContent === 'config').click()",
        json!([]),
    );
    b.wait(
        "config selected",
        "return document.querySelector('.gantt-row.selected')?.dataset.unit === 'config' && document.querySelector('.node.selected')?.dataset.unit === 'config'",
    );

    // The deep link: a reload restores the selection everywhere.
    b.js("location.reload()", json!([]));
    b.wait(
        "config after a reload",
        "return document.querySelector('.gantt-row.selected')?.dataset.unit === 'config' && document.querySelector('.node.selected')?.dataset.unit === 'config'",
    );
    assert_eq!(
        selected(&b),
        json!(["config", "config", "config", "config", "config", "config"])
    );
    // Back: the selection before (none), then forward again.
    b.js("history.back()", json!([]));
    b.wait(
        "no selection after back",
        "return !location.hash.includes('unit=') && !document.querySelector('.gantt-row.selected')",
    );
    b.js("history.forward()", json!([]));
    b.wait(
        "config after forward",
        "return document.querySelector('.gantt-row.selected')?.dataset.unit === 'config'",
    );
    // A second click on the selected row clears the selection.
    b.click(".gantt-row[data-unit=config] .row-label");
    b.wait(
        "cleared by a second click",
        "return !location.hash.includes('unit=') && !document.querySelector('.node.selected')",
    );
}

#[test]
fn the_keyboard_alone_selects_a_unit_in_the_gantt() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_finished_graph_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the waterfall",
        "return document.querySelectorAll('.gantt-row').length === 6",
    );
    // Tab from the page's start reaches the Gantt's one tab stop (the first row).
    let focused = |b: &Browser| {
        b.js(
            "const e = document.activeElement; const bg = e.querySelector?.('.row-bg');
             return [e.getAttribute('class') ?? '', e.dataset?.unit ?? '', bg ? getComputedStyle(bg).strokeWidth : '']",
            json!([]),
        )
    };
    let mut reached = false;
    for _ in 0..40 {
        b.keys(&["\u{E004}"]);
        let f = focused(&b);
        if f[0].as_str().unwrap_or_default().starts_with("gantt-row") {
            assert_eq!(f[1], json!("app-shell"));
            assert_eq!(f[2], json!("2px"), "a visible focus ring on the row");
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the waterfall");
    // Arrows move between rows (j/k too), Enter selects.
    b.keys(&["\u{E015}", "\u{E015}"]);
    assert_eq!(focused(&b)[1], json!("api"));
    b.keys(&["k", "j"]);
    assert_eq!(focused(&b)[1], json!("api"), "j/k stay in the waterfall");
    b.keys(&["\u{E007}"]);
    b.wait(
        "api selected, its events read",
        "return location.hash.includes('unit=api') && document.querySelector('.node.selected')?.dataset.unit === 'api'
           && [...document.querySelectorAll('.ev .ev-unit')].every(u => u.textContent === 'api')",
    );
    let rows = b.texts(".ev .ev-unit");
    assert!(
        !rows.is_empty() && rows.iter().all(|u| u == "api"),
        "{rows:?}"
    );
    // The focus stays on the row; one tab stop, on the selected row.
    assert_eq!(focused(&b)[1], json!("api"));
    let stops = b.js(
        "return [...document.querySelectorAll('.gantt-row[tabindex=\"0\"]')].map(r => r.dataset.unit)",
        json!([]),
    );
    assert_eq!(stops, json!(["api"]));
    shot(&b, "gantt-keyboard");
    // Escape clears the selection.
    b.keys(&["\u{E00C}"]);
    b.wait(
        "cleared",
        "return !location.hash.includes('unit=') && !document.querySelector('.gantt-row.selected')",
    );
}

#[test]
fn the_waterfall_of_a_running_run_follows_its_units_and_stops_live() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 2);
    d.events(
        &id,
        vec![
            ev(1, "unit.queued", Some("lint")),
            ev(4, "unit.started", Some("lint")),
        ],
    );
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the waterfall, following live",
        "return document.querySelector('.gantt-row[data-unit=lint]')?.dataset.status === 'in_progress' && document.querySelector('[data-field=live]')?.textContent === 'live'",
    );
    // A running run draws where "now" is.
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.now-line').length",
            json!([])
        ),
        json!(1)
    );
    // It waited 3 s in the queue: a paler bar before its running bar.
    let wait = b.js(
        "return document.querySelectorAll('.gantt-row[data-unit=lint] .wait').length",
        json!([]),
    );
    assert_eq!(wait, json!(1));
    // A new unit gets a row, a finished one its final status.
    d.events(
        &id,
        vec![
            ev(20, "unit.completed", Some("lint")),
            ev(21, "unit.started", Some("test")),
        ],
    );
    b.wait(
        "the new row and the finished one",
        "return document.querySelector('.gantt-row[data-unit=lint]')?.dataset.status === 'complete' && document.querySelector('.gantt-row[data-unit=test]')?.dataset.status === 'in_progress'",
    );
    // A stop is shaded at once, open (not resumed yet).
    d.post(
        &format!("/api/runs/{id}/stop"),
        json!({"reason": "paused from the CLI", "at": at(30)}),
    );
    b.wait(
        "the open stop",
        "return document.querySelector('.gantt-rows .stop.open')?.dataset.reason === 'paused from the CLI'",
    );
}

/// A running run of 20,000 events whose interesting ones all lie before
/// the tail window (19,751–20,000): unit `api` on every 5th seq of 1–5,000
/// (1,000 events), the only failure at seq 51, `task.retry` at 101, 9,001 and
/// 15,001, and the word "needle" only in seq 4,243.
fn seed_needles_run(d: &Daemon) -> String {
    let id = d.start_run("/src/app", &at(0), 9);
    let events: Vec<Value> = (1..=20_000u64)
        .map(|seq| {
            let time = at(seq / 4);
            match seq {
                51 => json!({"time": time, "type": "unit.failed", "unit": "web", "error": "exit status 1"}),
                101 | 9001 | 15_001 => json!({"time": time, "type": "task.retry", "unit": "unit-3",
                                              "payload": {"reason": "timeout"}}),
                4243 => json!({"time": time, "type": "task.completed", "unit": "unit-2",
                               "payload": {"note": "a needle in the haystack"}}),
                _ if seq % 5 == 0 && seq <= 5000 => json!({"time": time, "type": "task.completed", "unit": "api", "task": seq}),
                _ => json!({"time": time, "type": if seq % 2 == 0 { "task.started" } else { "task.completed" },
                            "unit": format!("unit-{}", seq % 8), "task": seq}),
            }
        })
        .collect();
    d.events(&id, events);
    id
}

/// `[every row in view has its content, fewer than 200 rows have it]`
/// (the timeline is virtualised: rows far from the view are empty).
const ROWS_FILLED_JS: &str = "const t = document.querySelector('[data-timeline]').getBoundingClientRect();
     const r = [...document.querySelectorAll('.ev')];
     const seen = r.filter(e => { const x = e.getBoundingClientRect(); return x.bottom > t.top && x.top < t.bottom; });
     return [seen.length > 5 && seen.every(e => e.firstChild), r.filter(e => e.firstChild).length < 200]";

/// `[rows, first seq, last seq]` of the timeline's event rows.
const WINDOW_JS: &str = "const r = [...document.querySelectorAll('.ev')]; return r.length ? [r.length, Number(r[0].dataset.seq), Number(r[r.length - 1].dataset.seq)] : [0, 0, 0]";

/// The seq of the first event row inside the timeline's box.
const SEQ_IN_VIEW: &str = "const t = document.querySelector('[data-timeline]').getBoundingClientRect();
     const r = [...document.querySelectorAll('.ev')].find(r => r.getBoundingClientRect().bottom > t.top + 1);
     return r ? Number(r.dataset.seq) : 0";

#[test]
fn a_selected_unit_reads_its_events_from_the_whole_run_not_the_loaded_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_needles_run(&d);
    let (total, last) = {
        let page = d.get_json(&format!(
            "/api/history/runs/{id}/events?unit=api&order=desc&limit=1"
        ));
        (
            page["total"].as_u64().expect("total"),
            page["events"][0]["seq"].clone(),
        )
    };
    assert_eq!((total, last), (1000, json!(5000)));
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250",
    );
    assert_eq!(b.js(WINDOW_JS, json!([])), json!([250, 19751, 20000]));
    // Selecting `api` (none of its events is loaded) reads its newest
    // matches from the server: the count is the server's total.
    b.js("location.hash += '&unit=api'", json!([]));
    b.wait(
        "the unit's newest events",
        "const r = [...document.querySelectorAll('.ev')]; const f = r.filter(e => e.firstChild); return r.length >= 250 && f.length > 5 && f.every(e => e.querySelector('.ev-unit')?.textContent === 'api') && r[r.length - 1].dataset.seq === '5000' && r[r.length - 1].firstChild",
    );
    b.wait(
        "the server's count",
        &format!("return document.querySelector('[data-field=event-count]').textContent.startsWith('{total} matching events in the whole run')"),
    );
    assert_eq!(
        b.js("return document.getElementById('tl-unit').value", json!([])),
        json!("api")
    );
    shot(&b, "filter-unit-whole-run");
    // Without a graph the waterfall is sized by its rows, up to its share
    // of the pane: its scroller stays inside it, above the events.
    assert_eq!(
        b.js(
            "const box = s => document.querySelector(s).getBoundingClientRect();
             const [viz, scroll, head] = [box('.viz'), box('.gantt-scroll'), box('.events-head')];
             return [scroll.bottom <= viz.bottom + 0.5, viz.bottom <= head.top + 0.5]",
            json!([])
        ),
        json!([true, true])
    );
    // Scrolling up reads earlier matches a page (250) at a time, the DOM
    // never above 750 rows, down to the unit's first event (seq 5). Each
    // wait is for the whole page drawn (its first row), not its first
    // chunk: a page is drawn 25 rows a frame.
    for expected in [
        json!([500, 2505, 5000]),
        json!([750, 1255, 5000]),
        json!([750, 5, 3750]),
    ] {
        b.js(
            "document.querySelector('[data-timeline]').scrollTop = 0",
            json!([]),
        );
        b.wait(
            "an earlier page of matches",
            &format!(
                "const r = document.querySelector('.ev'); return r && r.dataset.seq === '{}'",
                expected[1]
            ),
        );
        assert_eq!(b.js(WINDOW_JS, json!([])), expected);
    }
    assert_eq!(b.js(WINDOW_JS, json!([])), json!([750, 5, 3750]));
    assert!(b.texts(".ev .ev-unit").iter().all(|u| u == "api"));
    assert_eq!(
        b.texts("[data-field=event-count]"),
        [format!(
            "{total} matching events in the whole run · 750 shown"
        )]
    );
    // Clearing the selection comes back to every event, around the seq in view.
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight / 2",
        json!([]),
    );
    let in_view = b
        .js(SEQ_IN_VIEW, json!([]))
        .as_u64()
        .expect("a seq in view");
    assert!(in_view > 5 && in_view < 3750, "{in_view}");
    b.js(
        "location.hash = location.hash.replace('&unit=api', '')",
        json!([]),
    );
    b.wait(
        "every unit again, around the same seq",
        &format!(
            "const r = [...document.querySelectorAll('.ev')].filter(e => e.firstChild); const t = document.querySelector('[data-timeline]').getBoundingClientRect();
             const row = document.querySelector('.ev[data-seq=\"{in_view}\"]');
             return new Set(r.map(e => e.querySelector('.ev-unit')?.textContent)).size > 2 && row && row.firstChild
               && row.getBoundingClientRect().top >= t.top - 1 && row.getBoundingClientRect().top < t.bottom"
        ),
    );
    let [rows, first, last] =
        serde_json::from_value::<[u64; 3]>(b.js(WINDOW_JS, json!([]))).expect("window");
    assert!(
        rows <= 750 && first <= in_view && last > in_view && last - first + 1 == rows,
        "{rows} {first} {last}"
    );
    shot(&b, "filter-cleared-same-place");
}

#[test]
fn search_failures_and_next_match_reach_events_outside_the_loaded_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_needles_run(&d);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250",
    );
    // "First failure" finds seq 51 of 20,000 and opens the window around it.
    b.click("[data-action=first-failure]");
    b.wait("seq 51 highlighted in view", &target_in_view(51));
    assert_eq!(b.js(FOCUSED_SEQ, json!([])), json!(51));
    shot(&b, "first-failure-whole-run");
    // A hiding search shows the one match, far from every loaded row.
    b.click("#tl-search");
    b.keys(&["needle"]);
    b.wait(
        "the needle",
        "const r = document.querySelectorAll('.ev'); return r.length === 1 && r[0].dataset.seq === '4243'",
    );
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["1 matching event in the whole run"]
    );
    shot(&b, "search-hide-whole-run");
    // Highlight mode: every event, and Enter / Shift+Enter go to the
    // next / previous task.retry of the whole run (101, 9001, 15001).
    b.js("document.getElementById('tl-search').value = ''", json!([]));
    b.click("[data-action=hide]");
    b.click("#tl-search");
    b.keys(&["type:task.retry"]);
    b.wait(
        "every event again",
        "return document.querySelectorAll('.ev').length > 100 && location.hash.includes('q=type')",
    );
    let first_row = b.js(SEQ_IN_VIEW, json!([])).as_u64().expect("seq");
    assert!(first_row < 9001, "{first_row}");
    b.keys(&["\u{E007}"]);
    b.wait("the next retry, 9001", &target_in_view(9001));
    assert_eq!(
        b.js("return document.activeElement.id", json!([])),
        json!("tl-search"),
        "the search box keeps the keyboard"
    );
    assert!(
        b.js(
            "return document.querySelector('.ev[data-seq=\"9001\"]').classList.contains('hit')",
            json!([])
        )
        .as_bool()
        .unwrap_or(false)
    );
    b.keys(&["\u{E007}"]);
    b.wait("the next retry, 15001", &target_in_view(15_001));
    shot(&b, "next-match-whole-run");
    b.chord(&["\u{E008}", "\u{E007}"]);
    b.wait("back to 9001", &target_in_view(9001));
    b.chord(&["\u{E008}", "\u{E007}"]);
    b.wait("back to 101", &target_in_view(101));
    // Nothing before the first: said where the count is.
    b.chord(&["\u{E008}", "\u{E007}"]);
    b.wait(
        "no earlier match",
        "return document.querySelector('[data-field=event-count]').textContent === 'No earlier match in the run'",
    );
    // n / N from the timeline do the same.
    b.js(
        "document.querySelector('[data-timeline]').focus()",
        json!([]),
    );
    b.keys(&["n"]);
    b.wait("n: 9001", &target_in_view(9001));
}

#[test]
fn live_events_while_filtered_are_added_only_when_they_match() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 1200);
    b.goto(&format!(
        "{}{}&unit=u1",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait(
        "u1's newest events, at the bottom",
        "const r = [...document.querySelectorAll('.ev')]; const f = r.filter(e => e.firstChild); return r.length === 250 && r[r.length - 1].dataset.seq === '1198' && f.length > 5 && f.includes(r[r.length - 1]) && f.every(e => e.querySelector('.ev-unit').textContent === 'u1')",
    );
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight",
        json!([]),
    );
    d.events(
        &id,
        vec![
            json!({"time": at(1300), "type": "task.completed", "unit": "u2", "task": 1201}),
            json!({"time": at(1301), "type": "task.completed", "unit": "u1", "task": 1202}),
        ],
    );
    b.wait(
        "the matching one only",
        "return !!document.querySelector('.ev[data-seq=\"1202\"]')",
    );
    assert!(
        b.js(
            "return !document.querySelector('.ev[data-seq=\"1201\"]')",
            json!([])
        )
        .as_bool()
        .unwrap_or(false)
    );
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["301 matching events in the whole run · 251 shown"]
    );
}

/// The script that scrolls a timeline up from its tail by `arguments[0]`
/// px per animation frame for `arguments[1]` frames and answers the frame
/// intervals, the synchronous work of each step and the long tasks seen.
const SCROLL_UP_JS: &str = "const [step, n] = arguments; const done = arguments[arguments.length - 1];
     const box = document.querySelector('[data-timeline]');
     const gaps = [], work = [], long = [];
     const obs = new PerformanceObserver(l => { for (const e of l.getEntries()) long.push(Math.round(e.duration)); });
     try { obs.observe({type: 'longtask'}); } catch {}
     // Long animation frames: [duration, script, forced style and layout
     // in scripts, the frame's own style and layout, handlers before it
     // (scroll, rAF), the longest script's invoker].
     const loaf = [];
     const lo = new PerformanceObserver(l => { for (const e of l.getEntries()) {
       const end = e.startTime + e.duration;
       const script = e.scripts.reduce((a, s) => a + s.duration, 0);
       const forced = e.scripts.reduce((a, s) => a + s.forcedStyleAndLayoutDuration, 0);
       const top = e.scripts.slice().sort((a, b) => b.duration - a.duration)[0];
       loaf.push([Math.round(e.duration), Math.round(script), Math.round(forced), Math.round(end - e.styleAndLayoutStart), Math.round(e.renderStart ? e.styleAndLayoutStart - e.renderStart : 0), top ? (top.invoker || top.sourceFunctionName) : '']);
     } });
     try { lo.observe({type: 'long-animation-frame'}); } catch {}
     (async () => {
       let last = await new Promise(r => requestAnimationFrame(r));
       // Each frame over 20 ms: [its index, its length, frames since the
       // first row of the list last changed (a page coming in), rows in the list].
       const misses = [];
       const firstSeq = () => document.querySelector('li[data-seq]')?.dataset.seq;
       let seqWas = firstSeq(), changedAt = -1000;
       for (let i = 0; i < n; i++) {
         const t0 = performance.now();
         box.scrollTop = Math.max(0, box.scrollTop - step);
         void box.getBoundingClientRect().height; void box.scrollHeight;
         work.push(performance.now() - t0);
         const now = await new Promise(r => requestAnimationFrame(r));
         gaps.push(now - last);
         const seq = firstSeq();
         if (seq !== seqWas) { seqWas = seq; changedAt = i; }
         if (now - last > 20) misses.push([i, Math.round(now - last), i - changedAt, (box.querySelector('ol, ul') || box).children.length]);
         last = now;
       }
       obs.disconnect(); lo.disconnect();
       loaf.sort((a, b) => b[0] - a[0]);
       const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 10) / 10; };
       done({frames: gaps.length, gap_p50: q(gaps, 0.5), gap_p95: q(gaps, 0.95), gap_max: q(gaps, 1), over_20ms: gaps.filter(g => g > 20).length,
             over_50ms: gaps.filter(g => g > 50).length, work_p50: q(work, 0.5), work_p95: q(work, 0.95), work_max: q(work, 1), long_tasks: long,
             long_frames: loaf.length, longest_frames: loaf.slice(0, 5), misses,
             rows_in_dom: document.querySelectorAll('.ev').length, rows_filled: [...document.querySelectorAll('.ev')].filter(e => e.firstChild).length, first_seq: Number(document.querySelector('li[data-seq]')?.dataset.seq)});
     })();";

/// Builds the scrolling baseline on a blank page: a box of the given
/// `[width, height]` (the timeline's) holding 20,000 static one-line rows
/// like the timeline's, scrolled to its end (`data-timeline`, `.ev`: what
/// [`SCROLL_UP_JS`] reads).
const BASELINE_LIST_JS: &str = "const [w, h] = arguments;
     const box = document.createElement('ol');
     box.setAttribute('data-timeline', '');
     Object.assign(box.style, {width: w + 'px', height: h + 'px', overflow: 'auto', margin: '0', padding: '0', listStyle: 'none', font: '13px system-ui, sans-serif'});
     const rows = [];
     for (let i = 0; i < 20000; i++) rows.push('<li class=ev style=height:22px;white-space:nowrap>14:' + String(i % 60).padStart(2, '0') + ':0' + (i % 10) + '  task.' + (i % 2 ? 'completed' : 'started') + '  unit-' + (i % 8) + '  #' + (i >> 1) + '  a task</li>');
     box.innerHTML = rows.join('');
     document.body.style.margin = '0';
     document.body.append(box);
     box.scrollTop = box.scrollHeight;
     return box.children.length;";

#[test]
#[ignore = "a measurement; prints numbers"]
fn measure_the_timeline_paging() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let big = d.start_run("/src/app", &at(0), 8);
    let events: Vec<Value> = (0..100_000u64)
        .map(|i| {
            json!({"time": at(i / 10), "type": if i % 2 == 0 { "task.started" } else { "task.completed" },
                   "unit": format!("unit-{}", i % 8), "task": i / 2 + 1, "payload": {"title": "a task"}})
        })
        .collect();
    d.events(&big, events);
    let rounds = std::env::var("OTTO_HOOKS_MEASURE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // Scroll steps: a fast fling (150 px a frame, 9,000 px/s) and far
    // beyond any fling (600 px a frame: a page of earlier events comes in
    // every dozen frames).
    for step in [150u32, 600] {
        for round in 0..rounds {
            b.goto("about:blank");
            b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &big)));
            b.wait(
                "the tail",
                "return performance.getEntriesByName('otto:timeline-tail').length",
            );
            // The box the timeline scrolls in, for the baseline below.
            let size = b.js(
                "const r = document.querySelector('[data-timeline]').getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]",
                json!([]),
            );
            // The page standing still for as many frames: what the browser
            // costs without any scrolling (the live dot's animation, the clock).
            let idle = b.cpu_ms();
            b.js_async(
                "const done = arguments[arguments.length - 1]; (async () => { for (let i = 0; i < 240; i++) await new Promise(r => requestAnimationFrame(r)); done(0); })();",
                json!([]),
            );
            let idle = b.cpu_ms() - idle;
            println!(
                "{step} px, round {round}: standing still for 240 frames: Chromium CPU {idle} ms, {:.1} ms a frame",
                idle as f64 / 240.0
            );
            let cpu = b.cpu_ms();
            let frames = b.js_async(SCROLL_UP_JS, json!([step, 240]));
            let cpu = b.cpu_ms() - cpu;
            println!(
                "{step} px, round {round}: scrolling the timeline up from the tail: {frames}; Chromium CPU {cpu} ms, {:.1} ms a frame; load average {}",
                cpu as f64 / 240.0,
                std::fs::read_to_string("/proc/loadavg")
                    .unwrap_or_default()
                    .trim()
            );
            // The baseline, in the same round: the cheapest list this browser
            // can scroll — a box of the timeline's size holding 20,000 static
            // one-line rows of the same text, no script, no virtualisation —
            // scrolled the same way. What it misses is the machine's (software
            // rendering on two shared cores), not the page's.
            b.goto("about:blank");
            b.js(BASELINE_LIST_JS, size);
            let cpu = b.cpu_ms();
            let base = b.js_async(SCROLL_UP_JS, json!([step, 240]));
            let cpu = b.cpu_ms() - cpu;
            println!(
                "{step} px, round {round}: baseline, a static list of 20,000 rows scrolled the same way: {base}; Chromium CPU {cpu} ms, {:.1} ms a frame",
                cpu as f64 / 240.0
            );
        }
    }
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
    );
}

/// Every row of the timeline as `class|seq|text`, in order.
const TIMELINE_ROWS: &str = "return [...document.querySelectorAll('.tl-list > li')].map(li => li.className + '|' + (li.dataset.seq ?? '') + '|' + li.textContent)";

/// Asserts that two captures of `TIMELINE_ROWS` (what paging drew, then a
/// full redraw at the same place) are the same rows, in the same order,
/// with the same classes, and that every event row with content in both
/// says the same (which rows near the view have their content depends on
/// when the browser was idle: the timeline is virtualised).
fn assert_same_rows(paged: &Value, redrawn: &Value) {
    let rows = |v: &Value| -> Vec<(String, String)> {
        serde_json::from_value::<Vec<String>>(v.clone())
            .expect("rows")
            .into_iter()
            .map(|r| {
                let mut parts = r.splitn(3, '|');
                let (class, seq) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                (
                    format!("{class}|{seq}"),
                    parts.next().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let (paged, redrawn) = (rows(paged), rows(redrawn));
    let heads = |r: &[(String, String)]| r.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>();
    assert_eq!(
        heads(&paged),
        heads(&redrawn),
        "the rows paging drew differ from a full redraw"
    );
    let mut compared = 0;
    for ((head, a), (_, b)) in paged.iter().zip(&redrawn) {
        if !a.is_empty() && !b.is_empty() {
            assert_eq!(a, b, "row {head}: paging drew another text than a redraw");
            compared += 1;
        }
    }
    assert!(
        compared > 10,
        "only {compared} rows with content to compare"
    );
}

/// Marks the rows now drawn (a property, not an attribute: the rows look
/// the same).
const MARK_ROWS: &str =
    "for (const r of document.querySelectorAll('.tl-list > li')) r.__before = true; return 0";

#[test]
fn paging_adds_and_drops_rows_at_the_ends_without_redrawing_the_rest_or_moving_the_view() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    // 1,200 events ten seconds apart from 22:30 in the browser's zone
    // (UTC+5:30): the day changes at seq 540; a stop and a resume at seqs
    // 500 and 501 make two attempts (their rows are not `.ev` rows: a
    // window of 750 events then has 748). So the pages (250 from the tail)
    // meet in the middle of a day and of an attempt, and the date and
    // attempt rows at their seams must be made again.
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-10T17:00:00Z").expect("time");
    let time = |seq: u64| {
        (base + chrono::Duration::seconds(seq as i64 * 10))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let id = d.start_run("/src/app", &time(0), 4);
    let task = |seq: u64| json!({"time": time(seq), "type": "task.completed", "unit": format!("u{}", seq % 4), "task": seq});
    d.events(&id, (1..500).map(task).collect());
    d.post(
        &format!("/api/runs/{id}/stop"),
        json!({"reason": "paused", "at": time(500)}),
    );
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": time(501)}));
    d.events(&id, (502..=1200).map(task).collect());
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250",
    );
    let window = |b: &Browser| b.js(WINDOW_JS, json!([]));
    // A full redraw of the same window (the time zone switched away and
    // back): what incremental paging drew must be exactly that.
    let redrawn = |b: &Browser| {
        let drawn = b.js(TIMELINE_ROWS, json!([]));
        b.js(MARK_ROWS, json!([]));
        b.click("#zone-utc");
        b.click("#zone-local");
        b.wait(
            "the redraw",
            "return !document.querySelector('.tl-list > li').__before",
        );
        assert_same_rows(&drawn, &b.js(TIMELINE_ROWS, json!([])));
    };
    for (expected, kept) in [
        (json!([500, 701, 1200]), 250),
        (json!([748, 451, 1200]), 500),
        (json!([748, 201, 950]), 498),
    ] {
        b.js(MARK_ROWS, json!([]));
        // Where the first row is once scrolled to the top (the page before
        // is read meanwhile).
        let first = expected[1].as_u64().unwrap_or(0) + 250;
        let row_top = format!(
            "const t = document.querySelector('[data-timeline]').getBoundingClientRect().top; return document.querySelector('.ev[data-seq=\"{first}\"]').getBoundingClientRect().top - t"
        );
        let top = b.js(
            &format!("document.querySelector('[data-timeline]').scrollTop = 0; {row_top}"),
            json!([]),
        );
        b.wait(
            "the page before",
            &format!(
                "const r = document.querySelectorAll('.ev'); return r.length === {} && r[0].dataset.seq === '{}' && !document.querySelector('[data-edge=earlier]')?.previousElementSibling",
                expected[0], expected[1]
            ),
        );
        assert_eq!(window(&b), expected);
        // The rows that stayed are the same elements: nothing was redrawn.
        let stayed = b.js(
            "return [...document.querySelectorAll('.ev')].filter(r => r.__before).length",
            json!([]),
        );
        assert_eq!(stayed, json!(kept));
        // The row that was first is where it was on screen (the new rows
        // went above it, the view did not move).
        let at = b.js(&row_top, json!([]));
        let moved = at.as_f64().expect("top") - top.as_f64().expect("top");
        assert!(moved.abs() < 1.0, "the row in view moved by {moved} px");
    }
    redrawn(&b);
    assert_eq!(
        b.texts(".attempt-row"),
        ["Attempt 1 of 2", "Attempt 2 of 2"]
    );
    // Scrolling down reads the newer page back and drops the top rows.
    b.js(MARK_ROWS, json!([]));
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight",
        json!([]),
    );
    b.wait(
        "the page after",
        "const r = document.querySelectorAll('.ev'); return r[r.length - 1].dataset.seq === '1200'",
    );
    assert_eq!(window(&b), json!([748, 451, 1200]));
    let stayed = b.js(
        "return [...document.querySelectorAll('.ev')].filter(r => r.__before).length",
        json!([]),
    );
    assert_eq!(stayed, json!(498));
    redrawn(&b);
}

#[test]
fn picking_an_attempt_reads_it_from_the_whole_run_from_its_start() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    // Three attempts: seqs 1–601 (its STOP at 601), 602–1201 (RESUME at
    // 602, STOP at 1201), 1202–1500. The page opens at the tail (attempt
    // 3): attempt 2 is nowhere among the loaded rows.
    let id = d.start_run("/src/app", &at(0), 4);
    let task = |seq: u64| json!({"time": at(seq), "type": "task.completed", "unit": format!("u{}", seq % 4), "task": seq});
    d.events(&id, (1..=600).map(task).collect());
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(601)}));
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": at(602)}));
    d.events(&id, (603..=1200).map(task).collect());
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(1201)}));
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": at(1202)}));
    d.events(&id, (1203..=1500).map(task).collect());
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the tail",
        "return document.querySelectorAll('.ev').length === 250 && document.getElementById('tl-attempt')",
    );
    let seqs = "const r = [...document.querySelectorAll('li[data-seq]')]; return [r.length, Number(r[0].dataset.seq), Number(r[r.length - 1].dataset.seq)]";
    assert_eq!(b.js(seqs, json!([])), json!([250, 1251, 1500]));
    b.js(
        "const s = document.getElementById('tl-attempt'); s.value = '2'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    // Its first page, from its RESUME row, shown from the top.
    b.wait(
        "attempt 2's start",
        "return document.querySelector('li[data-seq]')?.dataset.seq === '602'",
    );
    assert_eq!(b.js(seqs, json!([])), json!([250, 602, 851]));
    assert_eq!(b.texts("li[data-seq='602'] .word"), ["RESUME"]);
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["Attempt 2: showing 602–851 of 600 events"]
    );
    assert_eq!(
        b.texts("[data-field=newer]"),
        ["350 newer events not shown (seq 852–1201)"]
    );
    assert_eq!(
        b.js(
            "return document.querySelector('[data-timeline]').scrollTop",
            json!([])
        ),
        json!(0)
    );
    // Scrolling down reads the rest of the attempt, and stops at its STOP.
    for last in ["1101", "1201"] {
        b.js(
            "const t = document.querySelector('[data-timeline]'); t.scrollTop = t.scrollHeight",
            json!([]),
        );
        b.wait(
            "attempt 2's next page",
            &format!(
                "const r = document.querySelectorAll('li[data-seq]'); return r[r.length - 1].dataset.seq === '{last}' && !document.querySelector('[data-edge=later]') === ({last} === 1201)"
            ),
        );
    }
    assert_eq!(b.js(seqs, json!([])), json!([600, 602, 1201]));
    assert_eq!(b.texts("li[data-seq='1201'] .word"), ["STOP"]);
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["Attempt 2: 600 events"]
    );
    // With a filter too: the matches of attempt 2 only, from the daemon.
    b.js(
        "const s = document.getElementById('tl-unit'); s.value = 'u1'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    b.wait(
        "attempt 2's u1 events",
        "const r = [...document.querySelectorAll('.ev')]; const f = r.filter(e => e.firstChild); return r.length === 149 && f.length > 5 && f.every(e => e.querySelector('.ev-unit').textContent === 'u1')",
    );
    let units = b.js(
        "const r = [...document.querySelectorAll('.ev')].map(e => Number(e.dataset.seq)); return [Math.min(...r), Math.max(...r)]",
        json!([]),
    );
    assert_eq!(units, json!([605, 1197]));
    assert_eq!(
        b.texts("[data-field=event-count]"),
        ["373 matching events in the whole run · 149 shown in attempt 2"]
    );
    shot(&b, "run-attempt");
}

/// Makes the page believe its tab was hidden (`true`) or shown again: the
/// `visibilitychange` a browser sends, with `document.hidden` to match.
fn set_hidden(b: &Browser, hidden: bool) {
    b.js(
        "Object.defineProperty(document, 'hidden', {value: arguments[0], configurable: true});
         document.dispatchEvent(new Event('visibilitychange')); return 0",
        json!([hidden]),
    );
}

#[test]
fn a_hidden_tab_closes_its_streams_and_catches_up_without_duplicates_when_shown() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_long_run(&d, 20);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait(
        "the run, following live",
        "return document.querySelector('[data-field=live]')?.textContent === 'live' && document.querySelector('#daemon-state')?.dataset.state === 'live'",
    );
    // The streams closed from now on, and those opened.
    b.js(
        "window.__streams = []; window.__closed = 0;
         const close = EventSource.prototype.close;
         EventSource.prototype.close = function () { window.__closed += 1; return close.call(this); };
         const Open = window.EventSource;
         window.EventSource = class extends Open { constructor(...a) { super(...a); window.__streams.push(this); } };
         return 0",
        json!([]),
    );
    let open_streams =
        "return window.__streams.filter(s => s.readyState !== EventSource.CLOSED).length";
    set_hidden(&b, true);
    // The run's stream is closed (its `live` tag goes) …
    b.wait(
        "the live tag gone",
        "return document.querySelector('[data-field=live]').hidden",
    );
    // … and while hidden, what happens is not followed.
    d.events(
        &id,
        vec![
            ev(500, "task.completed", Some("u1")),
            ev(501, "unit.failed", Some("u2")),
        ],
    );
    let fresh = d.start_run("/src/app", &at(600), 1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        b.js(
            "return document.querySelectorAll('li[data-seq=\"21\"], li[data-seq=\"22\"]').length",
            json!([])
        ),
        json!(0)
    );
    // Both the run's and the run list's streams were closed.
    assert_eq!(b.js("return window.__closed", json!([])), json!(2));
    assert_eq!(b.js(open_streams, json!([])), json!(0));
    assert_eq!(b.texts("[data-run] .run-id").len(), 1);
    // Shown again: both streams reopen, replay what was missed, once.
    set_hidden(&b, false);
    b.wait(
        "the missed events",
        "return document.querySelector('li[data-seq=\"22\"]') !== null && document.querySelector('[data-field=live]')?.textContent === 'live'",
    );
    assert_eq!(b.js(open_streams, json!([])), json!(2));
    b.wait(
        "the run created meanwhile",
        &format!("return document.querySelector(\"[data-run='{fresh}']\") !== null"),
    );
    d.events(&id, vec![ev(502, "task.completed", Some("u3"))]);
    b.wait(
        "a new event",
        "return document.querySelector('li[data-seq=\"23\"]') !== null",
    );
    let seqs: Vec<u64> = serde_json::from_value(b.js(
        "return [...document.querySelectorAll('li[data-seq]')].map(r => Number(r.dataset.seq))",
        json!([]),
    ))
    .expect("seqs");
    assert_eq!(
        seqs,
        (1..=23).collect::<Vec<u64>>(),
        "every event once, in order"
    );
}

/// A run of `n` events with hostile orchestrator text: every 7th event's
/// unit is markup, every 11th failed with a multi-line error holding
/// `</script>` and markup, every 5th has a payload of markup (opened with
/// "payload ▸").
fn seed_hostile_run(d: &Daemon, n: u64) -> String {
    let id = d.start_run("/src/app", &at(0), 4);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let unit = if i % 7 == 0 {
                "<img src=x onerror=alert(1)>".to_owned()
            } else {
                format!("u{}", i % 4)
            };
            let mut e =
                json!({"time": at(i), "type": "task.completed", "unit": unit, "task": i + 1});
            if i % 11 == 0 {
                e["type"] = json!("unit.failed");
                e["error"] = json!(format!(
                    "error {i}\n</script><script>alert(2)</script>\n<img src=y onerror=alert(4)>"
                ));
            }
            if i % 5 == 0 {
                e["payload"] = json!({"reason": "<svg onload=alert(3)>",
                    "detail": format!("<iframe srcdoc='<script>alert(5)</script>'> {i}")});
            }
            e
        })
        .collect();
    d.events(&id, events);
    id
}

/// True when every event row that intersects the timeline's box has its
/// content (no empty placeholder left in view).
const IN_VIEW_FILLED: &str = "const t = document.querySelector('[data-timeline]'); if (!t) return false;
     const b = t.getBoundingClientRect();
     const rows = [...document.querySelectorAll('li.ev[data-seq]')].filter(r => {
       const a = r.getBoundingClientRect(); return a.bottom > b.top && a.top < b.bottom; });
     return rows.length > 0 && rows.every(r => r.querySelector('.ev-time') && r.querySelector('.ev-type'))";

/// No element or script was made of the hostile text, no dialog opened.
fn assert_no_markup(b: &Browser, when: &str) {
    let counts = b.js(
        "return [document.querySelectorAll('img, iframe, .tl-list svg').length, document.scripts.length]",
        json!([]),
    );
    assert_eq!(
        counts,
        json!([0, 2]),
        "{when}: markup made of orchestrator text"
    );
    assert!(!b.alert_open(), "{when}: a dialog opened");
}

/// Scrolls the timeline to `top` and waits until every row in view is filled.
fn scroll_and_settle(b: &Browser, top: &str, when: &str) {
    b.js(
        &format!("document.querySelector('[data-timeline]').scrollTop = {top}"),
        json!([]),
    );
    b.wait(when, IN_VIEW_FILLED);
}

#[test]
fn lazily_filled_rows_show_hostile_text_as_text_through_zones_search_filters_and_keys() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    assert_no_markup(&b, "the tail");
    for (i, top) in [
        "0",
        "t.scrollHeight / 3",
        "t.scrollHeight / 2",
        "t.scrollHeight",
    ]
    .iter()
    .enumerate()
    {
        b.js(
            &format!("const t = document.querySelector('[data-timeline]'); t.scrollTop = {top}"),
            json!([]),
        );
        b.wait(&format!("filled after scroll {i}"), IN_VIEW_FILLED);
        assert_no_markup(&b, "scrolled");
    }
    // Open every payload in view; their text is text.
    b.js("for (const x of document.querySelectorAll('.payload-toggle')) { const r = x.getBoundingClientRect(); const t = document.querySelector('[data-timeline]').getBoundingClientRect(); if (r.top > t.top && r.bottom < t.bottom) x.click(); }", json!([]));
    let pre = b.texts(".ev-payload pre");
    assert!(
        !pre.is_empty() && pre[0].contains("<svg onload=alert(3)>"),
        "{pre:?}"
    );
    assert_no_markup(&b, "payloads opened");
    let units = b.texts(".ev .ev-unit");
    assert!(units.iter().any(|u| u == "<img src=x onerror=alert(1)>"));
    let errors = b.texts(".ev-error");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("</script><script>alert(2)</script>"))
    );
    shot(&b, "review-hostile");
    // Relative times, on the rows filled now and on those filled later.
    b.click("#zone-relative");
    b.wait("relative on filled rows", "const t = [...document.querySelectorAll('.ev .ev-time')]; return t.length > 0 && t.every(x => x.textContent.startsWith('+'))");
    scroll_and_settle(&b, "0", "top in relative");
    assert_eq!(b.js("return [...document.querySelectorAll('.ev .ev-time')].filter(x => !x.textContent.startsWith('+')).length", json!([])), json!(0));
    b.click("#zone-utc");
    b.wait("clock on filled rows", "const t = [...document.querySelectorAll('.ev .ev-time')]; return t.length > 0 && t.every(x => /^\\d\\d:/.test(x.textContent))");
    // Search highlighting (not hiding): hits stay text.
    b.click("[data-action=hide]");
    b.js("const s = document.querySelector('#tl-search'); s.value = 'onerror'; s.dispatchEvent(new Event('input'))", json!([]));
    b.wait(
        "hits",
        "return document.querySelectorAll('.ev.hit').length > 0",
    );
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "mid with highlight",
    );
    assert_no_markup(&b, "highlight");
    // Hiding: only matches, scrolled.
    b.click("[data-action=hide]");
    b.wait("hidden non-matches", "return document.querySelector('[data-action=hide]').getAttribute('aria-pressed') === 'true' && [...document.querySelectorAll('.ev')].every(r => !r.querySelector('.ev-time') || r.textContent.includes('onerror'))");
    for top in [
        "0",
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "document.querySelector('[data-timeline]').scrollHeight",
    ] {
        scroll_and_settle(&b, top, "hide, scrolled");
    }
    assert_no_markup(&b, "hide");
    b.js("const s = document.querySelector('#tl-search'); s.value = ''; s.dispatchEvent(new Event('input'))", json!([]));
    b.click("[data-action=failures]");
    b.wait("failures only", "return [...document.querySelectorAll('.ev')].length > 0 && [...document.querySelectorAll('.ev')].every(r => r.dataset.type === 'unit.failed')");
    for top in [
        "0",
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "document.querySelector('[data-timeline]').scrollHeight",
    ] {
        scroll_and_settle(&b, top, "failures, scrolled");
    }
    assert_no_markup(&b, "failures");
    b.click("[data-action=failures]");
    b.wait(
        "all again",
        "return document.querySelectorAll('.ev:not(.bad)').length > 0",
    );
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "all again",
    );
    // j through placeholders: every focused row is filled and in place.
    b.js(
        "const t = document.querySelector('[data-timeline]'); t.focus()",
        json!([]),
    );
    let keys: Vec<&str> = std::iter::repeat_n("j", 60).collect();
    b.keys(&keys);
    let focused = b.js("const r = document.activeElement; return [Number(r.dataset.seq), Number(r.getAttribute('aria-posinset')), Boolean(r.querySelector('.ev-time'))]", json!([]));
    assert_eq!(focused[0], focused[1], "{focused}");
    assert_eq!(focused[2], json!(true), "{focused}");
    b.wait("filled after j", IN_VIEW_FILLED);
}

/// The first row wholly in the timeline's box: [seq, its top from the box's top].
const FIRST_IN_VIEW: &str = "const t = document.querySelector('[data-timeline]').getBoundingClientRect();
     const r = [...document.querySelectorAll('li[data-seq]')].find(r => r.getBoundingClientRect().top >= t.top);
     return [Number(r.dataset.seq), Math.round(r.getBoundingClientRect().top - t.top)]";

#[test]
fn an_opened_payload_above_the_view_does_not_move_the_rows_in_view_when_redrawn() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 1000);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    // Away from the tail, open the payload of the first row in view that has one …
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "the middle",
    );
    let seq = b.js(
        "const t = document.querySelector('[data-timeline]').getBoundingClientRect();
         const x = [...document.querySelectorAll('.payload-toggle')].find(x => x.getBoundingClientRect().top > t.top);
         x.click(); x.closest('li').scrollIntoView({block: 'nearest'}); return Number(x.closest('li').dataset.seq)",
        json!([]),
    );
    b.wait(
        "opened",
        "return document.querySelectorAll('.ev-payload pre').length === 1",
    );
    // … and scroll it 200 px above the view (still within reach).
    b.js(
        &format!("const t = document.querySelector('[data-timeline]'); const r = document.querySelector('li[data-seq=\"{seq}\"]');
         t.scrollTop += r.getBoundingClientRect().bottom - t.getBoundingClientRect().top + 200"),
        json!([]),
    );
    b.wait("settled", IN_VIEW_FILLED);
    let before = b.js(FIRST_IN_VIEW, json!([]));
    for zone in ["#zone-relative", "#zone-utc", "#zone-local"] {
        b.click(zone);
        b.wait("redrawn and filled", &format!("return document.querySelector('{zone}').getAttribute('aria-pressed') === 'true' && (() => {{ {IN_VIEW_FILLED} }})()"));
        assert_eq!(b.js(FIRST_IN_VIEW, json!([])), before, "after {zone}");
        assert_eq!(
            b.texts(".ev-payload pre").len(),
            1,
            "the payload stays open"
        );
    }
}

#[test]
fn a_time_zone_switch_at_the_tail_with_an_opened_payload_keeps_following() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 1000);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    // The last payload in view opened, then scrolled back to the bottom:
    // it is partly above the view.
    let seq = b.js(
        "const t = document.querySelector('[data-timeline]'); const b = t.getBoundingClientRect();
         const x = [...document.querySelectorAll('.payload-toggle')].filter(x => x.getBoundingClientRect().top < b.bottom).pop();
         x.click(); t.scrollTop = t.scrollHeight; return Number(x.closest('li').dataset.seq)",
        json!([]),
    );
    const AT_BOTTOM: &str = "const t = document.querySelector('[data-timeline]'); return t.scrollTop + t.clientHeight >= t.scrollHeight - 1";
    b.wait("at the bottom", AT_BOTTOM);
    b.wait("settled", IN_VIEW_FILLED);
    let height = format!("return document.querySelector('li[data-seq=\"{seq}\"]').offsetHeight");
    let opened = b.js(&height, json!([]));
    let before = b.js(FIRST_IN_VIEW, json!([]));
    for zone in ["#zone-relative", "#zone-utc", "#zone-local"] {
        b.click(zone);
        b.wait("redrawn and filled", &format!("return document.querySelector('{zone}').getAttribute('aria-pressed') === 'true' && (() => {{ {IN_VIEW_FILLED} }})()"));
        assert_eq!(
            b.js(FIRST_IN_VIEW, json!([])),
            before,
            "the rows in view after {zone}"
        );
        assert_eq!(
            b.js(AT_BOTTOM, json!([])),
            json!(true),
            "still at the bottom after {zone}"
        );
        assert_eq!(
            b.js(&height, json!([])),
            opened,
            "the opened row after {zone}"
        );
    }
    // Still following: a live event is shown at the bottom, no pill.
    d.events(&id, vec![ev(5000, "unit.started", Some("live-one"))]);
    b.wait(
        "the live row in view",
        "const r = document.querySelector('li[data-seq=\"1001\"]'); const t = document.querySelector('[data-timeline]');
         if (!r) return false; const a = r.getBoundingClientRect(), c = t.getBoundingClientRect(); return a.bottom <= c.bottom + 1 && a.top >= c.top",
    );
    assert_eq!(
        b.js(
            "return document.querySelector('.new-pill').hidden",
            json!([])
        ),
        json!(true)
    );
}

/// Resolves once the timeline has read and put in every page it started
/// (its `data-loading` is off) and the browser was then idle eight times
/// in a row (each wait bounded at 500 ms), so its idle fills have run too.
/// Two frames go first, so a scroll just made has fired its handlers
/// (which start a page). Bounded at 20 s, after which the caller's own
/// assertion says what was not reached.
const IDLE: &str = "const done = arguments[arguments.length - 1];
     const deadline = performance.now() + 20000; let quiet = 0;
     const next = () => {
       const t = document.querySelector('[data-timeline]');
       quiet = t && t.hasAttribute('data-loading') ? 0 : quiet + 1;
       if (quiet >= 8 || performance.now() > deadline) return done(true);
       requestIdleCallback(next, {timeout: 500});
     };
     requestAnimationFrame(() => requestAnimationFrame(next));";

#[test]
fn a_deep_link_live_events_and_a_resize_leave_every_row_in_view_filled_and_in_place() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    // A deep link far from the tail: filled and in view, after a reload too.
    let url = format!("{}{}&seq=300", d.url("/"), run_hash("/src/app", &id));
    b.goto(&url);
    b.wait("seq 300", &target_in_view(300));
    b.wait("filled", IN_VIEW_FILLED);
    assert_eq!(b.texts("li[data-seq='300'] .ev-type").len(), 1);
    b.js("location.reload()", json!([]));
    b.wait("seq 300 after reload", &target_in_view(300));
    b.wait("filled after reload", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    b.wait("still in view after idle", &target_in_view(300));
    // An opened payload, scrolled far away (emptied), the window resized,
    // then scrolled back just below it.
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "the middle",
    );
    let seq = b.js(
        "const t = document.querySelector('[data-timeline]').getBoundingClientRect();
         const x = [...document.querySelectorAll('.payload-toggle')].find(x => x.getBoundingClientRect().top > t.top);
         x.click(); return Number(x.closest('li').dataset.seq)",
        json!([]),
    );
    b.js_async(IDLE, json!([]));
    let row = format!("document.querySelector('li[data-seq=\"{seq}\"]')");
    let wide = b.js(&format!("return {row}.offsetHeight"), json!([]));
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollTop + 4000",
        "away",
    );
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(&format!("return {row}.children.length"), json!([])),
        json!(0),
        "emptied far away"
    );
    b.window_size(800, 900);
    b.wait("filled after resize", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    b.js(&format!("const t = document.querySelector('[data-timeline]'); t.scrollTop = {row}.offsetTop + {row}.offsetHeight + 200"), json!([]));
    let before = b.js(FIRST_IN_VIEW, json!([]));
    b.wait("filled back", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    let narrow = b.js(
        &format!("return [{row}.offsetHeight, {row}.children.length]"),
        json!([]),
    );
    assert_eq!(
        narrow[1],
        json!(3),
        "the opened row filled again (it was {wide} px high)"
    );
    assert_eq!(
        b.js(FIRST_IN_VIEW, json!([])),
        before,
        "refilling the opened row above moved the view"
    );
    // Live events while scrolled up (the run is running).
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 3",
        "a third",
    );
    b.js_async(IDLE, json!([]));
    let before = b.js(FIRST_IN_VIEW, json!([]));
    d.events(
        &id,
        (0..300)
            .map(|i| ev(4000 + i, "task.completed", Some("<b>late</b>")))
            .collect(),
    );
    b.wait(
        "the pill",
        "return !document.querySelector('[data-action=new-events]').hidden",
    );
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(FIRST_IN_VIEW, json!([])),
        before,
        "live events moved the view"
    );
    b.wait("filled", IN_VIEW_FILLED);
    b.click("[data-action=new-events]");
    b.wait(
        "the new tail",
        "return document.querySelector('li[data-seq=\"3300\"]') !== null",
    );
    b.wait("filled at the new tail", IN_VIEW_FILLED);
    assert_no_markup(&b, "live");
    shot(&b, "review-narrow");
    b.window_size(1440, 900);
    b.wait("filled after resize back", IN_VIEW_FILLED);
}

#[test]
fn an_attempt_picked_scrolls_to_its_end_with_every_row_in_view_filled() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run("/src/app", &at(0), 4);
    let task = |seq: u64| json!({"time": at(seq), "type": "task.completed", "unit": "<img src=x onerror=alert(1)>", "task": seq, "error": if seq % 9 == 0 { Value::from("bad\n</script>") } else { Value::Null }});
    d.events(&id, (1..=600).map(task).collect());
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(601)}));
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": at(602)}));
    d.events(&id, (603..=1200).map(task).collect());
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(1201)}));
    d.post(&format!("/api/runs/{id}/resume"), json!({"at": at(1202)}));
    d.events(&id, (1203..=1500).map(task).collect());
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    b.js("const s = document.getElementById('tl-attempt'); s.value = '2'; s.dispatchEvent(new Event('change'))", json!([]));
    b.wait(
        "attempt 2's start",
        "return document.querySelector('li[data-seq]')?.dataset.seq === '602'",
    );
    b.wait("filled", IN_VIEW_FILLED);
    for i in 0..6 {
        scroll_and_settle(
            &b,
            "document.querySelector('[data-timeline]').scrollTop + 3000",
            &format!("down {i}"),
        );
        b.js_async(IDLE, json!([]));
        b.wait("filled after idle", IN_VIEW_FILLED);
    }
    let last = b.js("const r = [...document.querySelectorAll('li.ev[data-seq]')]; return [Number(r[r.length-1].dataset.seq), r.every(x => x.dataset.seq === x.getAttribute('aria-posinset'))]", json!([]));
    assert_eq!(last, json!([1200, true]));
    assert_no_markup(&b, "attempt");
    b.js("const s = document.getElementById('tl-attempt'); s.value = '0'; s.dispatchEvent(new Event('change'))", json!([]));
    b.wait("filled all", IN_VIEW_FILLED);
}

#[test]
fn a_hidden_timeline_fills_no_rows_and_shows_the_same_rows_when_shown_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    b.goto(&format!("{}{}", d.url("/"), run_hash("/src/app", &id)));
    b.wait("the tail", IN_VIEW_FILLED);
    const FILLED: &str = "return document.querySelectorAll('li.ev > .ev-time').length";
    scroll_and_settle(
        &b,
        "document.querySelector('[data-timeline]').scrollHeight / 2",
        "the middle",
    );
    b.js_async(IDLE, json!([]));
    let filled = b.js(FILLED, json!([])).as_u64().expect("a count");
    let rows = b
        .js(
            "return document.querySelectorAll('li.ev').length",
            json!([]),
        )
        .as_u64()
        .expect("a count");
    assert!(filled < rows, "{filled} of {rows} rows filled before");
    let before = b.js(FIRST_IN_VIEW, json!([]));
    // The Insights view hides the timeline (its box is gone): no row is filled.
    b.click("#tab-insights");
    b.wait("insights", "return document.querySelector('main').hidden");
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(FILLED, json!([])),
        json!(filled),
        "rows filled while hidden"
    );
    b.js("history.back()", json!([]));
    b.wait("back", "return !document.querySelector('main').hidden");
    b.wait("filled", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(FIRST_IN_VIEW, json!([])),
        before,
        "the rows in view when shown again"
    );
}

#[test]
fn scrolling_up_into_unfilled_error_rows_keeps_the_rows_in_view_in_place() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    b.goto(&format!(
        "{}{}&seq=1500",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait("seq 1500", &target_in_view(1500));
    b.wait("filled", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    for step in [1500, 700, 2100, 400, 3000] {
        let at = b.js(
            &format!(
                "document.querySelector('[data-timeline]').scrollTop -= {step}; {FIRST_IN_VIEW}"
            ),
            json!([]),
        );
        b.wait("filled", IN_VIEW_FILLED);
        b.js_async(IDLE, json!([]));
        assert_eq!(b.js(FIRST_IN_VIEW, json!([])), at, "scrolled up {step} px");
    }
    // A fling: many positions, no waiting.
    for i in 0..30 {
        b.js(&format!("const t = document.querySelector('[data-timeline]'); t.scrollTop = (t.scrollHeight - t.clientHeight) * {} / 30", (i * 7) % 30), json!([]));
    }
    b.js_async(IDLE, json!([]));
    b.wait("filled after fling", IN_VIEW_FILLED);
}

#[test]
fn the_focused_row_keeps_its_content_when_scrolled_far_away_and_redrawn() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    b.goto(&format!(
        "{}{}&seq=1500",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait("seq 1500", &target_in_view(1500));
    b.wait("filled", IN_VIEW_FILLED);
    const FOCUSED: &str = "const r = document.activeElement; return [Number(r.dataset.seq), Boolean(r.querySelector('.ev-time'))]";
    assert_eq!(b.js(FOCUSED, json!([])), json!([1500, true]));
    // Scrolled far from it (the wheel, not the keyboard): it keeps its content …
    b.js(
        "document.querySelector('[data-timeline]').scrollTop -= 4000",
        json!([]),
    );
    b.wait("filled", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(FOCUSED, json!([])),
        json!([1500, true]),
        "scrolled away"
    );
    // … and gets it back when every row is drawn again (a time zone switch).
    // … and gets it back when every row is drawn again (a STOP arrives
    // live: attempts and shading change).
    let pill = "return !document.querySelector('[data-action=new-events]').hidden";
    assert_eq!(b.js(pill, json!([])), json!(false));
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(5000)}));
    b.wait("the STOP counted on the pill", pill);
    b.wait("filled", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    assert_eq!(b.js(FOCUSED, json!([])), json!([1500, true]), "redrawn");
    b.keys(&["j"]);
    b.wait(
        "j to 1501, filled and in view",
        &format!(
            "return {} === 1501 && document.activeElement.querySelector('.ev-time') !== null",
            FOCUSED_SEQ.trim_start_matches("return ")
        ),
    );
    b.wait("filled", IN_VIEW_FILLED);
}

#[test]
fn a_timeline_redrawn_while_hidden_shows_the_same_rows_when_shown_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = seed_hostile_run(&d, 3000);
    b.goto(&format!(
        "{}{}&seq=1500",
        d.url("/"),
        run_hash("/src/app", &id)
    ));
    b.wait("seq 1500", &target_in_view(1500));
    b.wait("filled", IN_VIEW_FILLED);
    // Every payload in reach opened.
    b.js(
        "for (const x of document.querySelectorAll('.payload-toggle')) x.click()",
        json!([]),
    );
    b.js_async(IDLE, json!([]));
    let before = b.js(FIRST_IN_VIEW, json!([]));
    b.click("#tab-insights");
    b.wait("insights", "return document.querySelector('main').hidden");
    d.post(&format!("/api/runs/{id}/stop"), json!({"at": at(5000)}));
    b.wait("the STOP drawn", "return document.querySelector('li[data-marker=stop]') !== null || !document.querySelector('[data-action=new-events]').hidden");
    b.js_async(IDLE, json!([]));
    assert_eq!(b.js("return [...document.querySelectorAll('li.ev')].filter(r => r.style.height === '0px').length", json!([])), json!(0), "rows of no height");
    b.js("history.back()", json!([]));
    b.wait("back", "return !document.querySelector('main').hidden");
    b.wait("filled", IN_VIEW_FILLED);
    b.js_async(IDLE, json!([]));
    assert_eq!(
        b.js(FIRST_IN_VIEW, json!([])),
        before,
        "the rows in view when shown again"
    );
}

#[test]
fn the_header_wraps_in_a_narrow_window_and_nothing_in_it_overlaps() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    let id = d.start_run(
        "/src/a-repository-with-a-rather-long-path/services/api",
        &at(0),
        4,
    );
    b.goto(&format!(
        "{}{}",
        d.url("/"),
        run_hash(
            "/src/a-repository-with-a-rather-long-path/services/api",
            &id
        )
    ));
    b.wait(
        "the daemon state",
        "return document.querySelector('#daemon-state').textContent.length > 0",
    );
    // Every pair of the header's parts (and the parts of the picker and
    // the zone group), and of the timeline's head and toolbar, must not
    // overlap, and none may leave the window.
    const OVERLAPS: &str = "
        const boxes = [...document.querySelectorAll(
            '.top .brand, .top .views, .top .repo-picker label, .top .repo-picker select, .top .zone, .top #daemon-state, '
            + '.events-head > *, .toolbar > :not(.sr-only)')]
          .map(e => [e.className || e.id || e.tagName, e.getBoundingClientRect()]);
        const bad = [];
        for (const [n, r] of boxes) if (r.right > innerWidth + 0.5 || r.left < -0.5) bad.push(n + ' leaves the window');
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
          const [a, ra] = boxes[i], [c, rc] = boxes[j];
          if (ra.width && rc.width && ra.left < rc.right - 0.5 && rc.left < ra.right - 0.5
              && ra.top < rc.bottom - 0.5 && rc.top < ra.bottom - 0.5) bad.push(a + ' overlaps ' + c);
        }
        return bad;";
    for width in [1440u32, 1100, 900, 800] {
        b.window_size(width, 900);
        b.wait(
            "the window's width",
            &format!("return Math.abs(window.outerWidth - {width}) < 2 || innerWidth <= {width}"),
        );
        let bad = b.js(OVERLAPS, json!([]));
        assert_eq!(bad, json!([]), "at {width} px");
        if width == 800 {
            shot(&b, "narrow-header");
        }
    }
    b.window_size(1440, 900);
}
