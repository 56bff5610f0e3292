//! The hook commands' flags mean what choo's design says (`--no-daemon`: no
//! daemon, no history; `--no-history`: the daemon runs, this run is not
//! recorded), the old behaviours live on under names that do not mislead
//! (`--direct`, `--no-autostart`), and nothing starts or deletes silently:
//! an automatic start and the daemon's scheduled clean are announced on
//! stderr. Through the real binary, a real daemon and a real `history.db`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use otto_hooks_core::client::{Client, DaemonFiles};
use otto_hooks_tests::PrivateDir;
use serde_json::Value;

/// A private `$HOME` with `$OTTO_HOOKS_HOME` in it; the daemon listens on
/// any free port. A daemon left running is killed when the test ends.
struct World {
    dir: PrivateDir,
}

impl World {
    fn new() -> Self {
        let dir = PrivateDir::new();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        World { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn repo(&self) -> String {
        self.dir.path().join("repo").to_str().unwrap().to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(otto_hooks_tests::otto_hooks_binary())
            .args(["--set", "daemon.port=0"])
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.home())
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .bounded_output()
            .unwrap()
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

    /// `hook run-start` with `flags`: the run id and stderr.
    fn run_start(&self, flags: &[&str]) -> (String, String) {
        let repo = self.repo();
        let mut args = vec!["hook", "run-start", "--repo", &repo];
        args.extend_from_slice(flags);
        let out = self.ok(&args);
        (
            text(&out.stdout).trim().to_owned(),
            text(&out.stderr).into_owned(),
        )
    }

    fn daemon_runs(&self) -> bool {
        let out = self.run(&["daemon", "status", "--json"]);
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        status["running"] == true
    }

    /// Whether `history.db` holds run `id` (read directly, daemon or not).
    fn recorded(&self, id: &str) -> bool {
        let path = self.home().join("history.db");
        if !path.exists() {
            return false;
        }
        let db = rusqlite::Connection::open(path).unwrap();
        db.query_row("SELECT COUNT(*) FROM runs WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    }

    fn client(&self) -> Client {
        Client::discover(&self.home())
            .unwrap()
            .expect("a daemon runs")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(pid) = DaemonFiles::new(&self.home()).live_pid() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

#[test]
fn no_daemon_records_nothing_and_starts_no_daemon() {
    let w = World::new();
    let (id, _) = w.run_start(&["--no-daemon"]);
    assert!(id.starts_with("run_"), "a run id still comes back: {id}");
    assert!(!w.daemon_runs(), "--no-daemon starts no daemon");
    assert!(!w.recorded(&id), "--no-daemon records no history");
}

#[test]
fn no_history_starts_the_daemon_and_records_nothing() {
    let w = World::new();
    let (id, err) = w.run_start(&["--no-history"]);
    assert!(w.daemon_runs(), "--no-history: the daemon runs for the UI");
    assert!(w.client().run(&id).is_err(), "the daemon does not know it");
    assert!(!w.recorded(&id), "nothing recorded: {err}");
}

#[test]
fn history_enabled_false_behaves_like_no_history() {
    let w = World::new();
    let (id, _) = w.run_start(&["--set", "history.enabled=false"]);
    assert!(w.daemon_runs());
    assert!(!w.recorded(&id));
    w.ok(&["daemon", "stop"]);
    // --direct still starts no daemon when the history is off.
    let (id, _) = w.run_start(&["--set", "history.enabled=false", "--direct"]);
    assert!(!w.daemon_runs());
    assert!(!w.recorded(&id));
    // A flag naming a storage outranks the setting.
    let db = w.dir.path().join("own.db");
    let (id, _) = w.run_start(&[
        "--set",
        "history.enabled=false",
        "--db",
        db.to_str().unwrap(),
    ]);
    let own = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = own
        .query_row("SELECT COUNT(*) FROM runs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn direct_writes_the_file_and_starts_no_daemon() {
    let w = World::new();
    let (id, err) = w.run_start(&["--direct"]);
    assert!(!w.daemon_runs(), "--direct starts no daemon");
    assert!(w.recorded(&id), "--direct writes history.db itself");
    assert!(!err.contains("daemon started"), "{err}");
}

#[test]
fn no_autostart_records_through_a_running_daemon_else_directly() {
    let w = World::new();
    let (id, _) = w.run_start(&["--no-autostart"]);
    assert!(!w.daemon_runs(), "not started");
    assert!(w.recorded(&id), "written directly");

    w.ok(&["daemon", "start"]);
    let (id, _) = w.run_start(&["--no-autostart"]);
    assert!(
        w.client().run(&id).is_ok(),
        "recorded through the running daemon"
    );
}

#[test]
fn the_flags_of_choo_and_ours_that_contradict_each_other_are_refused() {
    let w = World::new();
    let repo = w.repo();
    for flags in [["--no-daemon", "--direct"], ["--no-history", "--direct"]] {
        let mut args = vec!["hook", "run-start", "--repo", &repo];
        args.extend_from_slice(&flags);
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
    }
    assert!(!w.daemon_runs());
}

#[test]
fn the_first_automatic_start_is_announced_once_with_pid_url_and_how_to_stop_it() {
    let w = World::new();
    let (_, err) = w.run_start(&[]);
    let pid = DaemonFiles::new(&w.home()).live_pid().expect("started");
    let started: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("history daemon started automatically"))
        .collect();
    assert_eq!(started.len(), 1, "{err}");
    let line = started[0];
    assert!(line.contains(&format!("pid {pid}")), "{line}");
    assert!(line.contains("web UI http://127.0.0.1:"), "{line}");
    assert!(line.contains("otto-hooks daemon stop"), "{line}");
    assert!(line.contains("auto_start = false"), "{line}");

    // Already running: nothing to announce.
    let (_, err) = w.run_start(&[]);
    assert!(!err.contains("daemon started"), "{err}");
}

#[test]
fn the_scheduled_clean_is_announced_at_start_and_can_be_turned_off() {
    let w = World::new();
    let (_, err) = w.run_start(&[]);
    let schedule: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("otto-hooks: scheduled clean: "))
        .collect();
    assert_eq!(schedule.len(), 1, "{err}");
    let line = schedule[0];
    assert!(line.contains("every 24h"), "{line}");
    assert!(line.contains("retention.standard"), "{line}");
    assert!(line.contains("retention.keep_days=30"), "{line}");
    assert!(
        line.contains(&w.dir.path().join("otto").display().to_string()),
        "{line}"
    );
    assert!(
        line.contains("older than") || line.contains("over 90 days"),
        "{line}"
    );
    assert!(line.contains("[policies] daemon = false"), "{line}");
    w.ok(&["daemon", "stop"]);

    // Turned off in the global config (what the daemon reads): the start
    // says nothing about a schedule, and the daemon's log says there is none.
    std::fs::write(w.home().join("config.toml"), "[policies]\ndaemon = false\n").unwrap();
    let out = w.ok(&["daemon", "start"]);
    let err = text(&out.stderr);
    assert!(err.contains("history daemon started ("), "{err}");
    assert!(!err.contains("scheduled clean:"), "{err}");
    let log = std::fs::read_to_string(w.home().join("daemon.log")).unwrap();
    assert!(log.contains("no scheduled clean"), "{log}");
}
