//! Process isolation of retention plugins (`isolation = "process"`): a
//! plugin that crashes, aborts, hangs, exhausts its memory or emits garbage
//! fails its own call with one line, and `clean` finishes without deleting
//! anything on its behalf. A well-behaved plugin decides the same isolated
//! or not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use otto_hooks_tests::otto_home::{ProjectHandle, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const DAY: u64 = 86_400;

/// Limits small enough for the misbehaving fixtures to hit them quickly.
const LIMITS: &str = "{ mode = \"process\", timeout = \"5s\", memory = \"512MiB\" }";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn aged(p: &ProjectHandle, days: u64) -> RunHandle {
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write()
}

/// Copies the library of `crate_name` into a private plugin directory.
fn plugin_dir(w: &OttoWorld, crate_name: &str) -> PathBuf {
    let plugins = w.dir.subdir("plugins", 0o700);
    let lib = otto_hooks_tests::library(crate_name);
    let dest = plugins.join(lib.file_name().unwrap());
    std::fs::copy(&lib, &dest).unwrap();
    otto_hooks_tests::set_mode(&dest, 0o644);
    plugins
}

/// Writes the global config: `[retention]` is `retention` (TOML lines).
fn configure(w: &OttoWorld, plugins: &std::path::Path, retention: &str) {
    std::fs::write(
        w.hooks_home().join("config.toml"),
        format!(
            "[plugins]\ndirs = [\"{}\"]\n\n[retention]\n{retention}\n",
            plugins.display()
        ),
    )
    .unwrap();
}

/// A world with two old runs and a recent one in `web`, retention by the
/// unruly plugin `name`, isolated.
fn unruly_world(name: &str) -> (OttoWorld, Vec<RunHandle>) {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w, "fixture-unruly");
    configure(
        &w,
        &plugins,
        &format!("plugin = \"{name}\"\nisolation = {LIMITS}"),
    );
    let web = w.project("web");
    let runs = vec![aged(&web, 90), aged(&web, 60), aged(&web, 1)];
    (w, runs)
}

/// Runs `clean` with `extra` args and checks that it finished, deleted
/// nothing, and warned with one line naming the plugin; returns that line.
fn clean_survives(w: &OttoWorld, runs: &[RunHandle], plugin: &str, extra: &[&str]) -> String {
    let mut args = vec!["clean", "--json", "--force"];
    args.extend_from_slice(extra);
    let out = w.run(&args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{stderr}", text(&out.stdout)));
    assert_eq!(doc["deleted"], serde_json::json!([]), "{doc:#}");
    for run in runs {
        assert!(run.dir.exists(), "{plugin}: {} was deleted", run.id);
    }
    let needle = format!("retention `{plugin}`");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&needle)).collect();
    assert_eq!(lines.len(), 1, "one line about {plugin}: {stderr}");
    assert!(
        lines[0].contains("every run of the project is kept"),
        "{}",
        lines[0]
    );
    lines[0].to_owned()
}

#[test]
fn an_isolated_plugin_that_segfaults_is_one_line_naming_sigsegv_and_clean_deletes_nothing() {
    let (w, runs) = unruly_world("segfault");
    let line = clean_survives(&w, &runs, "segfault", &["--dry-run"]);
    assert!(line.contains("signal 11 (SIGSEGV)"), "{line}");
    assert!(line.contains("during `decide`"), "{line}");
    let line = clean_survives(&w, &runs, "segfault", &["--yes"]);
    assert!(line.contains("SIGSEGV"), "{line}");
}

#[test]
fn an_isolated_plugin_that_aborts_is_one_line_naming_sigabrt_and_clean_deletes_nothing() {
    let (w, runs) = unruly_world("abort");
    let line = clean_survives(&w, &runs, "abort", &["--dry-run"]);
    assert!(line.contains("signal 6 (SIGABRT)"), "{line}");
    let line = clean_survives(&w, &runs, "abort", &["--yes"]);
    assert!(line.contains("SIGABRT"), "{line}");
}

#[test]
fn an_isolated_plugin_that_never_returns_is_killed_at_its_timeout_and_clean_deletes_nothing() {
    let (w, runs) = unruly_world("spin");
    let line = clean_survives(&w, &runs, "spin", &["--dry-run"]);
    assert!(line.contains("did not answer `decide` within 5s"), "{line}");
    assert!(line.contains("killed"), "{line}");
    clean_survives(&w, &runs, "spin", &["--yes"]);
}

#[test]
fn an_isolated_plugin_that_allocates_without_bound_hits_its_memory_limit_and_clean_deletes_nothing()
{
    let (w, runs) = unruly_world("hog");
    let line = clean_survives(&w, &runs, "hog", &["--dry-run"]);
    // Rust aborts on a failed allocation, and says so on stderr first.
    assert!(line.contains("SIGABRT"), "{line}");
    assert!(line.contains("memory allocation of"), "{line}");
    clean_survives(&w, &runs, "hog", &["--yes"]);
}

#[test]
fn an_isolated_plugin_that_writes_garbage_on_the_protocol_is_killed_and_clean_deletes_nothing() {
    let (w, runs) = unruly_world("garbage");
    let line = clean_survives(&w, &runs, "garbage", &["--dry-run"]);
    assert!(line.contains("malformed reply to `decide`"), "{line}");
    clean_survives(&w, &runs, "garbage", &["--yes"]);
}

/// `clean --dry-run --json --force` on a world whose `[retention]` is the
/// weekday example with `isolation`, as (kept, deleted) documents.
fn weekday_plan(isolation: &str) -> (Value, Value) {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w, "weekday-retention");
    configure(
        &w,
        &plugins,
        &format!("plugin = \"weekday\"\nweeks = 1\nisolation = {isolation}"),
    );
    let web = w.project("web");
    let api = w.project("api");
    for days in [0, 1, 3, 8, 20, 40] {
        aged(&web, days);
    }
    aged(&api, 2);
    aged(&api, 30);
    let out = w.run(&["clean", "--dry-run", "--json", "--force", "--reasons"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("weekday"),
        "no warning: {}",
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Run ids differ between worlds: compare by project and reasons.
    let shape = |key: &str| {
        let mut rows: Vec<(String, Value)> = doc[key]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|r| (r["project"].to_string(), r["reasons"].clone()))
            .collect();
        rows.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
        serde_json::to_value(rows).unwrap()
    };
    (shape("kept"), shape("deleted"))
}

#[test]
fn the_weekday_example_decides_the_same_in_process_and_isolated() {
    let (kept_in, deleted_in) = weekday_plan("\"in-process\"");
    let (kept_iso, deleted_iso) = weekday_plan("\"process\"");
    assert!(
        deleted_in.as_array().is_some_and(|d| !d.is_empty()),
        "the plan deletes something: {deleted_in:#}"
    );
    assert_eq!(deleted_in, deleted_iso);
    assert_eq!(kept_in, kept_iso);
}

/// `plugins check --json` of the library of `crate_name` with `settings`.
fn check(crate_name: &str, settings: &str) -> (i32, Value) {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w, crate_name);
    let lib = std::fs::read_dir(&plugins)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = w.run(&[
        "plugins",
        "check",
        lib.to_str().unwrap(),
        "--settings",
        settings,
        "--json",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    (out.status.code().unwrap(), doc)
}

fn step<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {doc:#}"))
}

#[test]
fn plugins_check_reports_the_isolation_mode_and_one_call_in_that_mode() {
    let (code, doc) = check("weekday-retention", "weeks = 2");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        step(&doc, "retention weekday: isolation")["detail"],
        "in-process"
    );
    let decide = step(&doc, "retention weekday: decide");
    assert!(
        decide["detail"].as_str().unwrap().contains("in-process)"),
        "{decide}"
    );

    let (code, doc) = check(
        "weekday-retention",
        "weeks = 2\nisolation = { mode = \"process\", memory = \"512MiB\" }",
    );
    assert_eq!(code, 0, "{doc:#}");
    let isolation = step(&doc, "retention weekday: isolation");
    assert_eq!(isolation["detail"], "process (timeout 30s, memory 512 MiB)");
    let decide = step(&doc, "retention weekday: decide (isolated)");
    assert_eq!(decide["ok"], true, "{decide}");
    let detail = decide["detail"].as_str().unwrap();
    assert!(detail.contains("isolated; starting the runner"), "{detail}");
}

#[test]
fn plugins_check_of_crashing_plugins_isolated_fails_each_with_its_signal_and_survives() {
    let (code, doc) = check("fixture-unruly", &format!("isolation = {LIMITS}"));
    assert_eq!(code, 1, "{doc:#}");
    for (plugin, needle) in [
        ("segfault", "SIGSEGV"),
        ("abort", "SIGABRT"),
        ("spin", "within 5s"),
        ("hog", "memory allocation of"),
        ("garbage", "malformed reply"),
    ] {
        // Where each kind misbehaves first.
        for first in [
            format!("retention {plugin}: decide (isolated)"),
            format!("storage {plugin}: run_start (isolated)"),
            format!("status {plugin}: detect (isolated)"),
            format!("reporter {plugin}: render (isolated)"),
        ] {
            let s = step(&doc, &first);
            assert_eq!(s["ok"], false, "{s}");
            let detail = s["detail"].as_str().unwrap();
            assert!(detail.contains(needle), "{first}: {detail}");
            assert!(!detail.contains('\n'), "{detail:?}");
        }
    }
}

#[test]
fn plugins_check_runs_a_storage_isolated_and_measures_one_call_in_each_mode() {
    let log = std::env::temp_dir().join(format!("recorder-check-{}.jsonl", std::process::id()));
    let settings = format!("log = \"{}\"", log.display());
    let (code, doc) = check("fixture-recorder", &settings);
    assert_eq!(code, 0, "{doc:#}");
    let cost = step(&doc, "storage recorder: cost of one call")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cost.starts_with("`list_runs`: "), "{cost}");
    assert!(cost.contains(" in-process, "), "{cost}");
    assert!(cost.contains(" isolated (starting the runner: "), "{cost}");
    let _ = std::fs::remove_file(&log);

    let (code, doc) = check(
        "fixture-recorder",
        &format!("{settings}\nisolation = \"process\""),
    );
    assert_eq!(code, 0, "{doc:#}");
    for hook in ["create", "run_start", "events", "run_complete", "list_runs"] {
        let s = step(&doc, &format!("storage recorder: {hook} (isolated)"));
        assert_eq!(s["ok"], true, "{s}");
    }
    let list = step(&doc, "storage recorder: list_runs (isolated)")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(list.contains("isolated; starting the runner"), "{list}");
    // The hooks reached the plugin in its runner: it logged them.
    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(logged.contains("\"hook\":\"run_start\""), "{logged}");
    assert!(logged.contains("\"hook\":\"events\""), "{logged}");
}

/// A command starts one runner for an isolated plugin it uses, and none for
/// one it does not: the settings check before a command does not create
/// isolated instances (`config show` still does, to report them).
#[test]
fn an_isolated_retention_is_created_once_by_clean_and_never_by_list() {
    let w = OttoWorld::new();
    let plugins = plugin_dir(&w, "fixture-unruly");
    let log = w.dir.path().join("created.log");
    configure(
        &w,
        &plugins,
        &format!(
            "plugin = \"counted\"\nlog = \"{}\"\nisolation = \"process\"",
            log.display()
        ),
    );
    let web = w.project("web");
    let api = w.project("api");
    for days in [1, 40, 90] {
        aged(&web, days);
        aged(&api, days);
    }
    let creations = || -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        std::fs::write(&log, "").unwrap();
        lines
    };
    for (args, expected) in [
        (&["list", "--json"][..], 0),
        (&["usage", "--json"][..], 1),
        (&["clean", "--dry-run", "--json", "--force"][..], 1),
        (&["run-policies", "--dry-run", "--json"][..], 1),
        (&["config", "show", "--json"][..], 1),
    ] {
        let out = w.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let made = creations();
        assert_eq!(made.len(), expected, "{args:?} created {made:?}");
        // Created in a runner, not in the command's own process.
        for line in &made {
            let pid: u32 = line.strip_prefix("created ").unwrap().parse().unwrap();
            assert_ne!(pid, std::process::id());
        }
    }

    // A setting the plugin refuses still stops the command, exit 2, with
    // where it was set.
    configure(
        &w,
        &plugins,
        &format!(
            "plugin = \"counted\"\nlog = \"{}\"\nkeep_lsat = 3\nisolation = \"process\"",
            log.display()
        ),
    );
    let out = w.run(&["clean", "--dry-run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keep_lsat"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
