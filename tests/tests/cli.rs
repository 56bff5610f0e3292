//! End-to-end: the `otto-hooks` binary, as orchestrators and users run it,
//! with real plugin libraries configured through a real config file.
//!
//! The binary is the one `cargo build --workspace` put next to the plugin
//! libraries; `OTTO_HOOKS_HOME` points at a private temporary directory so
//! nothing of the user's own configuration is read.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use otto_hooks_tests::PrivateDir;

/// A private OTTO_HOOKS_HOME with a plugins directory holding the
/// recorder and weekday libraries, and a config choosing the recorder as
/// storage for every project.
struct Home {
    dir: PrivateDir,
}

impl Home {
    fn new() -> Self {
        let dir = PrivateDir::new();
        let plugins = dir.subdir("plugins", 0o700);
        for crate_name in ["fixture-recorder", "weekday-retention"] {
            let lib = otto_hooks_tests::library(crate_name);
            let dest = plugins.join(lib.file_name().unwrap());
            std::fs::copy(&lib, &dest).unwrap();
            otto_hooks_tests::set_mode(&dest, 0o644);
        }
        let home = Home { dir };
        home.write_config(&format!(
            "[plugins]\ndirs = [\"{}\"]\n\n[storage]\nplugin = \"recorder\"\nlog = \"{}\"\n",
            plugins.display(),
            home.log().display()
        ));
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> PathBuf {
        self.path().join("recorder.jsonl")
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("config.toml"), text).unwrap();
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(otto_hooks_tests::otto_hooks_binary())
            .args(args)
            .env_clear()
            // Write history.db directly; daemon tests start theirs on purpose.
            .env("OTTO_HOOKS_DAEMON_AUTO_START", "0")
            .env("HOME", self.path())
            .env("OTTO_HOOKS_HOME", self.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        otto_hooks_tests::bounded::finish("otto-hooks", child)
    }

    fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_run_recorded_through_the_hook_commands_reaches_the_storage_plugin_in_order() {
    let home = Home::new();
    let start = home.run(
        &[
            "hook",
            "run-start",
            "--project",
            "web-1a2b3c4d",
            "--parallelism",
            "4",
            "--total-units",
            "2",
        ],
        None,
    );
    assert_eq!(start.status.code(), Some(0), "{}", text(&start.stderr));
    let run_id = text(&start.stdout);
    let run_id = run_id.trim();
    assert!(
        run_id.starts_with("run_") && !run_id.contains('\n'),
        "stdout is only the run id: {run_id:?}"
    );

    let events = "{\"type\":\"orch.started\",\"time\":\"2026-11-22T10:15:00Z\",\"payload\":{\"unit_count\":2}}\n\
                  {\"type\":\"unit.started\",\"unit\":\"api\",\"payload\":[1,2]}\n\
                  {\"timestamp\":\"2026-11-22T10:15:09Z\",\"type\":\"unit.failed\",\"unit\":\"api\",\"error\":\"tests failed\"}\n";
    let out = home.run(&["hook", "event", "--run", run_id], Some(events));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let done = home.run(
        &[
            "hook",
            "run-complete",
            "--run",
            run_id,
            "--status",
            "failed",
            "--failed-units",
            "1",
            "--json",
        ],
        None,
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(summary["run"], run_id);
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["project"], "web-1a2b3c4d");

    let log = home.log_lines();
    let hooks: Vec<&str> = log.iter().map(|l| l["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["run_start", "events", "run_complete"], "{log:#?}");
    assert_eq!(log[0]["parallelism"], 4);
    assert_eq!(log[1]["count"], 3, "three events in one batch");
    assert_eq!(
        log[1]["types"],
        serde_json::json!(["orch.started", "unit.started", "unit.failed"])
    );
    assert_eq!(log[1]["events"][1]["payload"], "{\"value\":[1,2]}");
    assert_eq!(log[1]["events"][2]["error"], "tests failed");
    assert_eq!(log[2]["status"], "failed");
    for line in &log {
        assert_eq!(line["run_id"], run_id);
    }
}

#[test]
fn malformed_event_lines_are_reported_by_number_and_the_valid_ones_delivered() {
    let home = Home::new();
    let id = text(
        &home
            .run(
                &[
                    "hook",
                    "run-start",
                    "--project",
                    "web-1a2b3c4d",
                    "--run-id",
                    "ci-7",
                ],
                None,
            )
            .stdout,
    );
    assert_eq!(id.trim(), "ci-7");
    let input = "{\"type\":\"a\"}\nnot json\n[1]\n{\"unit\":\"no type\"}\n{\"type\":\"b\"}\n";
    let out = home.run(&["hook", "event", "--run", "ci-7"], Some(input));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for n in ["stdin:2:", "stdin:3:", "stdin:4:"] {
        assert!(err.contains(n), "{err}");
    }
    assert!(
        !err.contains("stdin:1:") && !err.contains("stdin:5:"),
        "{err}"
    );
    let log = home.log_lines();
    let delivered: Vec<serde_json::Value> = log
        .iter()
        .filter(|l| l["hook"] == "events")
        .flat_map(|l| l["types"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(delivered, ["a", "b"]);
}

#[test]
fn unknown_and_duplicate_run_ids_are_usage_errors() {
    let home = Home::new();
    let out = home.run(
        &["hook", "event", "--run", "nope", "{\"type\":\"x\"}"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown run `nope`"));
    let first = home.run(
        &[
            "hook",
            "run-start",
            "--project",
            "p-1a2b3c4d",
            "--run-id",
            "r1",
        ],
        None,
    );
    assert_eq!(first.status.code(), Some(0));
    let again = home.run(
        &[
            "hook",
            "run-start",
            "--project",
            "p-1a2b3c4d",
            "--run-id",
            "r1",
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("ALREADY_EXISTS"),
        "{}",
        text(&again.stderr)
    );
    let bad = home.run(
        &[
            "hook",
            "run-start",
            "--project",
            "p-1a2b3c4d",
            "--run-id",
            "../x",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_failing_plugin_warns_and_exits_0_unless_strict() {
    let home = Home::new();
    let plugins = home.path().join("plugins");
    // A storage whose settings it refuses: the instance cannot be created.
    home.write_config(&format!(
        "[plugins]\ndirs = [\"{}\"]\n\n[storage]\nplugin = \"recorder\"\nlog = \"relative.jsonl\"\n",
        plugins.display()
    ));
    let out = home.run(&["hook", "run-start", "--project", "p-1a2b3c4d"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).trim().is_empty(),
        "a run id is still printed"
    );
    let err = text(&out.stderr);
    assert!(
        err.starts_with("warning: ") && err.contains("recorder"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let strict = home.run(
        &["hook", "run-start", "--project", "p-1a2b3c4d", "--strict"],
        None,
    );
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stderr));
    let env_strict = home.run(
        &[
            "--set",
            "hooks.strict=true",
            "hook",
            "run-start",
            "--project",
            "p-1a2b3c4d",
        ],
        None,
    );
    assert_eq!(env_strict.status.code(), Some(1));
}

#[test]
fn a_config_error_names_file_line_and_column_and_exits_2() {
    let home = Home::new();
    home.write_config("[hooks]\nstrict = false\nstrcit = true\n");
    let out = home.run(&["plugins", "list"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let config = home.path().join("config.toml");
    assert!(err.contains(&format!("{}:3:1", config.display())), "{err}");
    assert!(err.contains("strcit"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn plugins_list_shows_the_built_in_reporters_and_the_configured_example_plugin() {
    let home = Home::new();
    let out = home.run(&["plugins", "list", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        list.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {list:#?}"))
    };
    for reporter in ["table", "json", "markdown"] {
        assert_eq!(find(reporter)["source"], "built-in");
        assert_eq!(find(reporter)["kind"], "reporter");
    }
    let weekday = find("weekday");
    assert_eq!(weekday["kind"], "retention");
    assert_eq!(weekday["state"], "ok");
    assert_eq!(
        weekday["abi"],
        otto_hooks_plugin_api::abi::ABI_VERSION.to_string()
    );
    assert!(
        weekday["source"]
            .as_str()
            .unwrap()
            .ends_with("libweekday_retention.so")
    );

    let table = text(&home.run(&["plugins", "list"], None).stdout);
    assert!(
        table.starts_with("NAME") && table.contains("weekday"),
        "{table}"
    );
}

#[test]
fn plugins_check_passes_a_good_library_and_fails_a_bad_one() {
    let home = Home::new();
    let good = home.path().join("plugins/libweekday_retention.so");
    let out = home.run(
        &[
            "plugins",
            "check",
            good.to_str().unwrap(),
            "--settings",
            "weeks = 2",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(
        report.contains("retention weekday: decide")
            && report.lines().last().unwrap().starts_with("PASS"),
        "{report}"
    );

    let bad = home.dir.write_file("notalib.so", "just text\n");
    let out = home.run(&["plugins", "check", bad.to_str().unwrap(), "--json"], None);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let bad_settings = home.run(
        &[
            "plugins",
            "check",
            good.to_str().unwrap(),
            "--settings",
            "weekz = 2",
        ],
        None,
    );
    assert_eq!(bad_settings.status.code(), Some(1));
    assert!(text(&bad_settings.stdout).contains("weekz"));
}

#[test]
fn config_show_names_the_source_of_every_value() {
    let home = Home::new();
    let out = home.run(
        &["--set", "hooks.strict=true", "config", "show", "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let value = |key: &str| {
        report["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key}: {report:#}"))
    };
    assert_eq!(value("hooks.strict")["source"], "--set hooks.strict=true");
    assert!(
        value("storage.plugin")["source"]
            .as_str()
            .unwrap()
            .ends_with("config.toml:5"),
        "{report:#}"
    );
    assert_eq!(value("reporter.plugin")["source"], "default");
}

#[test]
fn help_has_examples_and_completions_are_generated() {
    let home = Home::new();
    let help = text(&home.run(&["--help"], None).stdout);
    assert!(
        help.contains("Examples:") && help.contains("hook run-start"),
        "{help}"
    );
    let hook_help = text(&home.run(&["hook", "event", "--help"], None).stdout);
    assert!(hook_help.contains("NDJSON"), "{hook_help}");
    let bash = home.run(&["completions", "bash"], None);
    assert_eq!(bash.status.code(), Some(0));
    assert!(text(&bash.stdout).contains("otto-hooks"));
    let bad = home.run(&["plugins", "lst"], None);
    assert_eq!(bad.status.code(), Some(2));
}
