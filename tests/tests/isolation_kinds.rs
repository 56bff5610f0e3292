//! Process isolation of every plugin kind: storage, status and reporter
//! plugins (and the lifecycle hooks of retention plugins) that crash,
//! abort, hang, exhaust their memory or write garbage on the protocol fail
//! their own call with one line; the command finishes, and a running
//! history daemon keeps serving. A well-behaved isolated storage gets every
//! hook, a batch of events in one call. Every command is bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use otto_hooks_tests::otto_home::{ProjectHandle, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

/// Limits small enough for the misbehaving fixtures to hit them quickly.
const LIMITS: &str = "{ mode = \"process\", timeout = \"2s\", memory = \"512MiB\" }";

/// How long one command may take before the test fails (a spinning
/// plugin costs its 2 s timeout per call).
const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// Each misbehaviour of the `fixture-unruly` plugins, and what its one line
/// says.
const MISCHIEF: [(&str, &str); 5] = [
    ("segfault", "signal 11 (SIGSEGV)"),
    ("abort", "signal 6 (SIGABRT)"),
    ("spin", "within 2s; its isolated process was killed"),
    ("hog", "memory allocation of"),
    ("garbage", "malformed reply"),
];

/// Kills a spawned command that outlives its test (a timeout panics).
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self
            .0
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Runs `command` (stdin from `input`, or nothing) to completion within
/// [`COMMAND_LIMIT`].
fn bounded(mut command: Command, input: Option<String>) -> Output {
    let what = format!("{command:?}");
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut guard = KillOnDrop(Some(child.id()));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, input.as_bytes());
        });
    }
    let out = otto_hooks_tests::bounded::within(&what, COMMAND_LIMIT, &[], move || {
        child.wait_with_output().unwrap()
    });
    // Reaped: its pid may be anyone's now.
    guard.0 = None;
    out
}

fn otto_command(w: &OttoWorld, args: &[&str]) -> Command {
    let mut c = Command::new(otto_hooks_tests::otto_hooks_binary());
    c.args(args)
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(w.dir.path());
    c
}

/// Copies the library of `crate_name` into a private plugin directory
/// under `home`.
fn plugin_dir(home: &otto_hooks_tests::PrivateDir, crate_name: &str) -> PathBuf {
    let plugins = home.subdir("plugins", 0o700);
    let lib = otto_hooks_tests::library(crate_name);
    let dest = plugins.join(lib.file_name().unwrap());
    std::fs::copy(&lib, &dest).unwrap();
    otto_hooks_tests::set_mode(&dest, 0o644);
    plugins
}

fn write_config(hooks_home: &Path, plugins: &Path, rest: &str) {
    std::fs::write(
        hooks_home.join("config.toml"),
        format!("[plugins]\ndirs = [\"{}\"]\n\n{rest}\n", plugins.display()),
    )
    .unwrap();
}

/// The lines of `stderr` that name `label`; there must be exactly one,
/// holding `needle`.
fn one_line_about(stderr: &str, label: &str, needle: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(label)).collect();
    assert_eq!(lines.len(), 1, "one line about {label}: {stderr}");
    assert!(lines[0].contains(needle), "{label}: {}", lines[0]);
    lines[0].to_owned()
}

fn aged(p: &ProjectHandle, days: u64) -> RunHandle {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    p.run(now - days * 86_400)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write()
}

/// An otto world with three runs of `web` and the unruly plugins.
fn otto_world(rest: &str) -> OttoWorld {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w.dir, "fixture-unruly");
    write_config(&w.hooks_home(), &plugins, rest);
    let web = w.project("web");
    for days in [1, 2, 3] {
        aged(&web, days);
    }
    w
}

#[test]
fn an_isolated_status_plugin_that_misbehaves_is_one_warning_and_list_shows_every_run() {
    for (name, needle) in MISCHIEF {
        let w = otto_world(&format!(
            "[status]\nplugin = \"{name}\"\nisolation = {LIMITS}"
        ));
        let out = bounded(otto_command(&w, &["list", "--json"]), None);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        let doc: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {stderr}"));
        assert_eq!(doc.as_array().unwrap().len(), 3, "{name}: {doc:#}");
        // One batch for every run: one line, not one per run.
        one_line_about(&stderr, &format!("status `{name}`"), needle);
    }
}

#[test]
fn an_isolated_reporter_that_misbehaves_is_one_warning_and_the_command_finishes() {
    for (name, needle) in MISCHIEF {
        let w = otto_world(&format!(
            "[[reporter]]\nplugin = \"{name}\"\nisolation = {LIMITS}"
        ));
        let out = bounded(otto_command(&w, &["list"]), None);
        let stderr = text(&out.stderr);
        // The rule for a failing reporter: a warning, and the listing in
        // the built-in table.
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        one_line_about(&stderr, &format!("reporter `{name}`"), needle);
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(
            text(&out.stdout).contains("web"),
            "{name}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn an_isolated_storage_that_misbehaves_fails_list_with_one_line() {
    for (name, needle) in MISCHIEF {
        let w = otto_world(&format!(
            "[storage]\nplugin = \"{name}\"\nisolation = {LIMITS}"
        ));
        let out = bounded(otto_command(&w, &["list", "--json"]), None);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        one_line_about(&stderr, &format!("storage `{name}`"), needle);
    }
}

/// A hook world: a repository, the unruly plugins, `rest` configured.
struct Hooks {
    w: otto_hooks_tests::hook_cli::HookWorld,
}

impl Hooks {
    fn new(crate_name: &str, rest: &str) -> Self {
        let w = otto_hooks_tests::hook_cli::HookWorld::new();
        let plugins = plugin_dir(&w.dir, crate_name);
        write_config(&w.hooks_home(), &plugins, rest);
        Hooks { w }
    }

    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        bounded(self.w.command(args), input.map(str::to_owned))
    }

    fn start(&self, id: &str, extra: &[&str]) -> Output {
        let repo = self.w.repo_arg();
        let mut args = vec!["hook", "run-start", "--repo", &repo, "--run-id", id];
        args.extend_from_slice(extra);
        self.run(&args, None)
    }

    fn events(&self, id: &str, lines: &str) -> Output {
        self.run(&["hook", "event", "--run", id], Some(lines))
    }

    fn complete(&self, id: &str) -> Output {
        self.run(
            &["hook", "run-complete", "--run", id, "--status", "completed"],
            None,
        )
    }
}

const TWO_EVENTS: &str =
    "{\"type\":\"unit.started\",\"unit\":\"u\"}\n{\"type\":\"unit.completed\",\"unit\":\"u\"}\n";

#[test]
fn an_isolated_storage_that_misbehaves_in_the_hooks_is_a_warning_per_hook_and_each_hook_finishes() {
    for (name, needle) in MISCHIEF {
        let h = Hooks::new(
            "fixture-unruly",
            &format!("[storage]\nplugin = \"{name}\"\nisolation = {LIMITS}"),
        );
        let label = format!("storage `{name}`");
        for (hook, out) in [
            ("run-start", h.start("r1", &[])),
            ("event", h.events("r1", TWO_EVENTS)),
            ("run-complete", h.complete("r1")),
        ] {
            let stderr = text(&out.stderr);
            // The hooks' rule: a failing plugin is a warning, exit 0.
            assert_eq!(out.status.code(), Some(0), "{name} {hook}: {stderr}");
            one_line_about(&stderr, &label, needle);
        }
        // Under --strict the same failure is exit 1.
        let out = h.start("r2", &["--strict"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    }
}

#[test]
fn the_hooks_reach_an_isolated_retention_instance_and_a_crash_there_leaves_the_run_recorded() {
    let h = Hooks::new(
        "fixture-unruly",
        &format!("[retention]\nplugin = \"hooked\"\nisolation = {LIMITS}"),
    );
    let out = h.start("r1", &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = one_line_about(&stderr, "retention `hooked`", "SIGSEGV");
    assert!(line.contains("during `run_start`"), "{line}");
    let out = h.events("r1", TWO_EVENTS);
    one_line_about(&text(&out.stderr), "retention `hooked`", "during `events`");
    let out = h.complete("r1");
    one_line_about(
        &text(&out.stderr),
        "retention `hooked`",
        "during `run_complete`",
    );
    // The history (in process) recorded the run whole all the same.
    let (status, events): (String, i64) = h
        .w
        .read()
        .query_row(
            "SELECT status, (SELECT COUNT(*) FROM events WHERE run_id = 'r1' AND type LIKE 'unit.%')
             FROM runs WHERE id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), events), ("completed", 2));
}

#[test]
fn an_isolated_storage_gets_every_hook_and_a_batch_of_events_in_one_call() {
    let h = Hooks::new("fixture-recorder", "");
    let log = h.w.dir.path().join("calls.jsonl");
    write_config(
        &h.w.hooks_home(),
        &h.w.dir.path().join("plugins"),
        &format!(
            "[storage]\nplugin = \"recorder\"\nlog = \"{}\"\nisolation = \"process\"",
            log.display()
        ),
    );
    for out in [
        h.start("r1", &[]),
        h.events(
            "r1",
            &format!(
                "{TWO_EVENTS}{{\"type\":\"unit.failed\",\"unit\":\"v\",\"error\":\"boom\"}}\n"
            ),
        ),
        h.complete("r1"),
    ] {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr).trim(), "", "no warning");
    }
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hooks: Vec<&str> = lines.iter().map(|l| l["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["run_start", "events", "run_complete"], "{lines:#?}");
    assert_eq!(
        lines[1]["count"], 3,
        "one call for the batch: {:#}",
        lines[1]
    );
    assert_eq!(lines[1]["events"][2]["error"], "boom");
    assert_eq!(lines[2]["status"], "success");
}

/// `otto-hooks --set daemon.port=0 ARGS` against a hook world whose daemon
/// may auto-start.
fn daemon_command(h: &Hooks, args: &[&str]) -> Command {
    let mut c = h.w.command(&[]);
    c.env_remove("OTTO_HOOKS_DAEMON_AUTO_START")
        .arg("--set")
        .arg("daemon.port=0")
        .args(args);
    c
}

/// Kills the history daemon of `home` when the test ends.
struct DaemonGuard(PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let files = otto_hooks_core::client::DaemonFiles::new(&self.0);
        if let Some(pid) = files.live_pid().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[test]
fn the_history_daemon_keeps_serving_while_isolated_plugins_crash_in_the_hooks() {
    let h = Hooks::new(
        "fixture-unruly",
        &format!(
            "[retention]\nplugin = \"hooked\"\nisolation = {LIMITS}\n\n[[reporter]]\nplugin = \"abort\"\nisolation = {LIMITS}"
        ),
    );
    let _daemon = DaemonGuard(h.w.hooks_home());
    let repo = h.w.repo_arg();
    let out = bounded(
        daemon_command(
            &h,
            &["hook", "run-start", "--repo", &repo, "--run-id", "d1"],
        ),
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    one_line_about(&stderr, "retention `hooked`", "SIGSEGV");
    let out = bounded(
        daemon_command(&h, &["hook", "event", "--run", "d1"]),
        Some(TWO_EVENTS.to_owned()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = bounded(
        daemon_command(
            &h,
            &[
                "hook",
                "run-complete",
                "--run",
                "d1",
                "--status",
                "completed",
            ],
        ),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The daemon recorded the whole run and still answers.
    let client = otto_hooks_core::client::Client::discover(&h.w.hooks_home())
        .unwrap()
        .expect("a daemon runs");
    let run = client.run("d1").unwrap();
    assert_eq!(run.status, "completed");
    let out = bounded(daemon_command(&h, &["daemon", "status", "--json"]), None);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["running"], true, "{status:#}");
}

#[test]
fn a_reply_that_comes_after_its_timeout_is_never_used_and_clean_deletes_nothing() {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w.dir, "fixture-unruly");
    write_config(
        &w.hooks_home(),
        &plugins,
        "[retention]\nplugin = \"late\"\nisolation = { mode = \"process\", timeout = \"1s\" }",
    );
    let web = w.project("web");
    let runs: Vec<RunHandle> = [90, 60, 1].into_iter().map(|d| aged(&web, d)).collect();
    let out = bounded(
        otto_command(&w, &["clean", "--json", "--force", "--yes"]),
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = one_line_about(
        &stderr,
        "retention `late`",
        "did not answer `decide` within 1s",
    );
    assert!(line.contains("every run of the project is kept"), "{line}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["deleted"], serde_json::json!([]), "{doc:#}");
    for run in &runs {
        assert!(run.dir.exists(), "{} was deleted", run.id);
    }
}
