//! The config files and flags users of otto and choo already have, through
//! the real binary: otto's `$OTTO_HOME/config.yml` retention changes what
//! `clean` deletes on a real otto layout; a repository's `.choo.yaml` (and
//! `~/.config/choo/config.yaml`) changes the history retention, the port
//! and auto-start; otto's clean flags work; every value's origin shows in
//! `config show`; a key that cannot be applied is one line with its file
//! and line, exit 2, and nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use otto_hooks_core::client::DaemonFiles;
use otto_hooks_tests::otto_home::{ProjectHandle, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A finished run `days` days old.
fn aged(p: &ProjectHandle, days: u64) -> RunHandle {
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write()
}

/// The world, with a repository `repo/` (under `$HOME`) to run commands in.
struct World {
    w: OttoWorld,
}

impl World {
    fn new() -> Self {
        let w = OttoWorld::new();
        std::fs::create_dir_all(w.dir.path().join("repo")).unwrap();
        World { w }
    }

    fn repo(&self) -> PathBuf {
        self.w.dir.path().join("repo")
    }

    /// `otto-hooks ARGS` with `cwd` as the working directory.
    fn run_in(&self, cwd: &Path, args: &[&str]) -> Output {
        Command::new(otto_hooks_tests::otto_hooks_binary())
            .args(args)
            .env_clear()
            .env("HOME", self.w.dir.path())
            .env("OTTO_HOME", self.w.otto.root())
            .env("OTTO_HOOKS_HOME", self.w.hooks_home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .bounded_output()
            .unwrap()
    }

    fn ok_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let out = self.run_in(cwd, args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// `clean --json --dry-run ARGS` in the home directory: the run ids it
    /// would delete, sorted.
    fn would_delete(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["clean", "--json", "--dry-run"];
        args.extend_from_slice(extra);
        let out = self.ok_in(self.w.dir.path(), &args);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            doc["held"].as_array().is_none_or(Vec::is_empty),
            "nothing held by the guard: {doc:#}"
        );
        let mut ids: Vec<String> = doc["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["run"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    fn write(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn otto_config(&self) -> PathBuf {
        self.w.otto.root().join("config.yml")
    }

    /// The `config show --json` row of `key`: (value, source).
    fn shown(&self, cwd: &Path, key: &str) -> (String, String) {
        let out = self.ok_in(cwd, &["config", "show", "--json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = doc["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {doc:#}"));
        (
            row["value"].as_str().unwrap().to_owned(),
            row["source"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(pid) = DaemonFiles::new(&self.w.hooks_home()).live_pid() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Two projects of six runs each, 1, 2, 3, 4, 20 and 40 days old.
fn two_projects(w: &World) -> (Vec<RunHandle>, Vec<RunHandle>) {
    let web = w.w.project("web");
    let api = w.w.project("api");
    let ages = [1, 2, 3, 4, 20, 40];
    (
        ages.iter().map(|d| aged(&web, *d)).collect(),
        ages.iter().map(|d| aged(&api, *d)).collect(),
    )
}

#[test]
fn ottos_config_yml_changes_what_clean_would_delete_by_default_and_per_project() {
    let w = World::new();
    let (web, api) = two_projects(&w);
    // Nothing configured: 30 days and the last 10 runs keep everything.
    assert!(w.would_delete(&[]).is_empty());

    w.write(
        &w.otto_config(),
        "retention:\n  default:\n    keep_days: 10\n    keep_last_n: 1\n  per_project:\n    api:\n      keep_days: 30\n",
    );
    assert_eq!(
        w.would_delete(&[]),
        sorted(vec![
            web[4].id.clone(),
            web[5].id.clone(),
            api[5].id.clone()
        ]),
        "web: older than 10 days; api (per_project): older than 30 days"
    );
    // A per_project entry may name the directory too, exactly.
    let api_dir = w.w.project("api").dir_name();
    w.write(
        &w.otto_config(),
        &format!("retention:\n  default: {{keep_days: 10, keep_last_n: 1}}\n  per_project:\n    {api_dir}: {{keep_days: 25}}\n"),
    );
    assert_eq!(
        w.would_delete(&[]),
        sorted(vec![
            web[4].id.clone(),
            web[5].id.clone(),
            api[5].id.clone()
        ])
    );
    // config show names the file and line; otto's defaults it leaves unset
    // are stated.
    let home = w.w.dir.path();
    let (value, source) = w.shown(home, "retention.keep_days");
    assert_eq!(value, "10");
    assert_eq!(source, format!("{}:2", w.otto_config().display()));
    let (value, source) = w.shown(home, "otto.retention.default.keep_failed_days");
    assert_eq!(value, "60");
    assert!(source.starts_with("otto's default"), "{source}");
}

#[test]
fn the_command_line_and_our_own_config_outrank_ottos_config_yml() {
    let w = World::new();
    let (web, api) = two_projects(&w);
    w.write(
        &w.otto_config(),
        "retention:\n  default:\n    keep_days: 10\n    keep_last_n: 1\n  per_project:\n    api:\n      keep_days: 30\n",
    );
    // The command line: every project, over otto's per-project entry too.
    assert!(w.would_delete(&["--keep-days", "50"]).is_empty());
    assert_eq!(
        w.would_delete(&["--keep-days", "15"]),
        sorted(vec![
            web[4].id.clone(),
            web[5].id.clone(),
            api[4].id.clone(),
            api[5].id.clone()
        ])
    );
    // Our global config: key by key over otto's file.
    w.write(
        &w.w.hooks_home().join("config.toml"),
        "[retention]\nkeep_days = 35\n",
    );
    assert_eq!(
        w.would_delete(&[]),
        sorted(vec![web[5].id.clone(), api[5].id.clone()]),
        "keep_days 35 from config.toml; keep_last_n 1 still from otto's file"
    );
    let (_, source) = w.shown(w.w.dir.path(), "retention.keep_last");
    assert_eq!(source, format!("{}:4", w.otto_config().display()));
}

#[test]
fn clean_accepts_ottos_flag_names_with_exact_project_matching() {
    let w = World::new();
    let (web, _api) = two_projects(&w);
    let ours = w.would_delete(&["--keep", "10", "--keep-last", "1", "--project", "web"]);
    let otto = w.would_delete(&[
        "--keep-days",
        "10",
        "--keep-last",
        "1",
        "--project-filter",
        "web",
    ]);
    assert_eq!(ours, otto);
    assert_eq!(otto, sorted(vec![web[4].id.clone(), web[5].id.clone()]));
    // otto's filesystem fallback matched substrings; this never does.
    let out = w.run_in(
        w.w.dir.path(),
        &[
            "clean",
            "--dry-run",
            "--keep-days",
            "10",
            "--project-filter",
            "we",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_bad_otto_config_is_one_line_with_file_and_line_exit_2_and_nothing_deleted() {
    let w = World::new();
    let (web, _api) = two_projects(&w);
    w.write(
        &w.otto_config(),
        "retention:\n  default:\n    keep_days: 0\n    keep_dayz: 3\n",
    );
    let out = w.run_in(w.w.dir.path(), &["clean", "--yes", "--keep-last", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {}:4: ", w.otto_config().display())),
        "{err}"
    );
    assert!(web.iter().all(|r| r.dir.exists()), "nothing deleted");
}

/// A run recorded directly into `history.db` that ended `days` days ago.
fn finished_run(w: &World, days: u64) -> String {
    let started = chrono::DateTime::from_timestamp((now() - days * DAY - 60) as i64, 0)
        .unwrap()
        .to_rfc3339();
    let ended = chrono::DateTime::from_timestamp((now() - days * DAY) as i64, 0)
        .unwrap()
        .to_rfc3339();
    let repo = w.repo();
    let repo = repo.to_str().unwrap();
    let out = w.ok_in(
        &w.repo(),
        &[
            "hook",
            "run-start",
            "--direct",
            "--repo",
            repo,
            "--started-at",
            &started,
        ],
    );
    let id = text(&out.stdout).trim().to_owned();
    w.ok_in(
        &w.repo(),
        &[
            "-q",
            "hook",
            "run-complete",
            "--direct",
            "--run",
            &id,
            "--status",
            "completed",
            "--ended-at",
            &ended,
        ],
    );
    id
}

/// What `clean --backend sqlite --dry-run` run in `cwd` would expire.
fn history_expiry(w: &World, cwd: &Path) -> Value {
    let out = w.ok_in(
        cwd,
        &["clean", "--backend", "sqlite", "--dry-run", "--json"],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["history"].clone()
}

#[test]
fn a_choo_yaml_changes_the_history_retention() {
    let w = World::new();
    let old = finished_run(&w, 40);
    finished_run(&w, 5);
    // Outside the repository: the default 90 days keeps both.
    let outside = history_expiry(&w, w.w.dir.path());
    assert_eq!(outside["retention_days"], 90);
    assert_eq!(outside["runs"], 0);

    w.write(
        &w.repo().join(".choo.yaml"),
        "parallelism: 4\nhistory:\n  enabled: true\n  retention_days: 30\n",
    );
    let inside = history_expiry(&w, &w.repo());
    assert_eq!(inside["retention_days"], 30);
    assert_eq!(inside["run_ids"], serde_json::json!([old]));
    // run-policies (what the daemon's schedule runs) applies it too.
    let out = w.ok_in(&w.repo(), &["run-policies", "--dry-run", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["history"]["run_ids"], serde_json::json!([old]));
    let (value, source) = w.shown(&w.repo(), "history.retention_days");
    assert_eq!(value, "30");
    assert_eq!(
        source,
        format!("{}:4", w.repo().join(".choo.yaml").display())
    );
    // choo's own key is listed as not used, never silently dropped.
    let (value, source) = w.shown(&w.repo(), "choo.parallelism");
    assert_eq!(value, "4");
    assert!(source.contains("otto-hooks does not use it"), "{source}");

    // The user's choo file applies everywhere, below the repository's.
    w.write(
        &w.w.dir.path().join(".config/choo/config.yaml"),
        "history:\n  retention_days: 20\n",
    );
    assert_eq!(history_expiry(&w, w.w.dir.path())["retention_days"], 20);
    assert_eq!(history_expiry(&w, &w.repo())["retention_days"], 30);
}

#[test]
fn a_choo_yaml_chooses_the_daemon_port_and_auto_start() {
    let w = World::new();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let repo = w.repo();
    let repo_arg = repo.to_str().unwrap();
    w.write(&repo.join(".choo.yaml"), "daemon:\n  auto_start: false\n");
    let out = w.ok_in(&repo, &["hook", "run-start", "--repo", repo_arg]);
    assert!(!text(&out.stderr).contains("daemon started"));
    assert!(DaemonFiles::new(&w.w.hooks_home()).live_pid().is_none());

    w.write(
        &repo.join(".choo.yaml"),
        &format!("daemon:\n  port: {port}\n  auto_start: true\n"),
    );
    let out = w.ok_in(&repo, &["hook", "run-start", "--repo", repo_arg]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("web UI http://127.0.0.1:{port}/")),
        "{err}"
    );
    let addr = DaemonFiles::new(&w.w.hooks_home())
        .running_addr()
        .expect("it runs");
    assert_eq!(addr.port(), port);
    let (value, source) = w.shown(&repo, "daemon.port");
    assert_eq!(value, port.to_string());
    assert_eq!(source, format!("{}:2", repo.join(".choo.yaml").display()));
}

#[test]
fn precedence_is_command_line_then_our_files_then_chooss_project_before_global() {
    let w = World::new();
    let repo = w.repo();
    let global = w.w.dir.path().join(".config/choo/config.yaml");
    w.write(
        &global,
        "provider:\n  type: claude\ndaemon: {auto_start: false, port: 7001}\n",
    );
    w.write(&repo.join(".choo.yaml"), "daemon:\n  port: 7002\n");
    let (value, source) = w.shown(&repo, "daemon.port");
    assert_eq!(
        (value.as_str(), source),
        ("7002", format!("{}:2", repo.join(".choo.yaml").display()))
    );
    let (value, source) = w.shown(&repo, "daemon.auto_start");
    assert_eq!(
        (value.as_str(), source),
        ("false", format!("{}:3", global.display()))
    );

    w.write(
        &w.w.hooks_home().join("config.toml"),
        "[daemon]\nport = 7003\n",
    );
    let (value, _) = w.shown(&repo, "daemon.port");
    assert_eq!(value, "7002", "a project beats a global file");
    w.write(&repo.join(".otto-hooks.toml"), "[daemon]\nport = 7004\n");
    let (value, _) = w.shown(&repo, "daemon.port");
    assert_eq!(value, "7004", "our project file beats choo's");
    let out = w.ok_in(
        &repo,
        &["--set", "daemon.port=7005", "config", "show", "--json"],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let port = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "daemon.port")
        .unwrap();
    assert_eq!(port["value"], "7005");
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&global.to_str().unwrap()), "{files:?}");
    assert!(
        files.contains(&repo.join(".choo.yaml").to_str().unwrap()),
        "{files:?}"
    );
}

#[test]
fn a_choo_key_otto_hooks_cannot_apply_is_one_line_exit_2_and_nothing_starts() {
    let w = World::new();
    let repo = w.repo();
    let repo_arg = repo.to_str().unwrap();
    w.write(
        &repo.join(".choo.yaml"),
        "daemon:\n  port: 0\n  bind: 0.0.0.0\n",
    );
    let out = w.run_in(&repo, &["hook", "run-start", "--repo", repo_arg]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}:3: `daemon.bind`",
            repo.join(".choo.yaml").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("[daemon] bind = …"),
        "says how to translate: {err}"
    );
    assert!(text(&out.stdout).is_empty(), "no run started");
    assert!(DaemonFiles::new(&w.w.hooks_home()).live_pid().is_none());
    assert!(!w.w.hooks_home().join("history.db").exists());
}

#[test]
fn a_choo_yaml_others_could_have_written_is_ignored_with_a_warning() {
    let w = World::new();
    let repo = w.repo();
    w.write(&repo.join(".choo.yaml"), "daemon:\n  port: 7002\n");
    otto_hooks_tests::set_mode(&repo, 0o777);
    let out = w.ok_in(&repo, &["config", "show", "--json"]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("ignoring {}", repo.join(".choo.yaml").display()))
            && err.contains("writable by others"),
        "{err}"
    );
    let (value, source) = w.shown(&repo, "daemon.port");
    assert_eq!((value.as_str(), source.as_str()), ("8080", "default"));
    otto_hooks_tests::set_mode(&repo, 0o700);
}

#[test]
fn a_sqlite_storage_sections_own_retention_days_wins_over_history_retention_days() {
    let w = World::new();
    w.write(
        &w.repo().join(".choo.yaml"),
        "history:\n  retention_days: 30\n",
    );
    w.write(
        &w.w.hooks_home().join("config.toml"),
        "[[storage]]\nplugin = \"sqlite\"\nretention_days = 10\n",
    );
    assert_eq!(history_expiry(&w, &w.repo())["retention_days"], 10);
    std::fs::remove_file(w.w.hooks_home().join("config.toml")).unwrap();
    assert_eq!(history_expiry(&w, &w.repo())["retention_days"], 30);
}
