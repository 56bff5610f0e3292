//! End-to-end: the cleanup audit trail. Every run `clean`, `run-policies`,
//! history retention and the daemon's schedule delete is in
//! `$OTTO_HOOKS_HOME/audit.log` (an intent before it moved, then its
//! outcome), and a log that cannot be written stops the deletion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use otto_hooks_tests::hook_cli::HookWorld;
use otto_hooks_tests::otto_home::{ProjectHandle, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use rusqlite::Connection;
use serde_json::Value;

const DAY: u64 = 86_400;

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

/// The audit entries of `doc` by `project/target`.
fn entries(doc: &Value) -> BTreeMap<String, Value> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = match e["project"].as_str() {
                Some(p) => format!("{p}/{}", e["target"].as_str().unwrap()),
                None => e["target"].as_str().unwrap().to_owned(),
            };
            (key, e.clone())
        })
        .collect()
}

/// The raw records of the audit log, in order.
fn records(hooks_home: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(hooks_home.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_run_clean_deletes_is_accounted_for_by_an_intent_then_its_outcome() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    let old: Vec<RunHandle> = (0..3).map(|i| aged(&web, 40 + i)).collect();
    let recent: Vec<RunHandle> = (0..4).map(|i| aged(&web, 1 + i)).collect();
    let only = aged(&api, 60); // api's every run: held by the guard
    let out = w.run(&[
        "clean",
        "--keep",
        "30",
        "--keep-last",
        "0",
        "--yes",
        "--json",
    ]);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "api's run is held: {done:#}");
    let deleted = done["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), 3, "{done:#}");
    for r in &old {
        assert!(!r.dir.exists());
    }
    assert!(only.dir.exists() && recent[0].dir.exists());

    let audit = w.json(&["audit", "--json"]);
    let by_key = entries(&audit);
    for d in deleted {
        let key = format!(
            "{}/{}",
            d["project"].as_str().unwrap(),
            d["run"].as_str().unwrap()
        );
        let e = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("{key} has no audit record: {audit:#}"));
        assert_eq!(e["outcome"], "deleted", "{e:#}");
        assert_eq!(e["kind"], "otto-run");
        assert_eq!(e["intent"], true, "an intent preceded it");
        assert_eq!(e["bytes"], d["size_bytes"], "the bytes freed");
        assert_eq!(e["reasons"], d["reasons"]);
        assert!(e["rule"].as_str().unwrap().contains("retention"), "{e:#}");
        assert!(e["path"].as_str().unwrap().ends_with(&key), "{e:#}");
        assert_eq!(e["who"]["via"], "clean");
        assert!(
            e["who"]["command"]
                .as_str()
                .unwrap()
                .contains("clean --keep 30")
        );
        assert!(e["who"]["pid"].as_u64().unwrap() > 0);
        assert!(!e["who"]["host"].as_str().unwrap().is_empty());
        assert!(e["at"].as_str().unwrap().ends_with('Z'));
    }
    let held_key = format!("{}/{}", api.dir_name(), only.id);
    assert_eq!(by_key[&held_key]["outcome"], "held");
    assert_eq!(by_key[&held_key]["intent"], false, "nothing was touched");
    assert_eq!(by_key.len(), 4, "3 deleted, 1 held: {audit:#}");

    // In the log itself, each deleted run's intent comes before its outcome.
    let raw = records(&w.hooks_home());
    for r in &old {
        let at = |phase: &str| {
            raw.iter()
                .position(|x| x["target"] == r.id.as_str() && x["phase"] == phase)
                .unwrap_or_else(|| panic!("no {phase} for {}", r.id))
        };
        assert!(at("intent") < at("outcome"));
    }

    // The table: local times, outcome, the run.
    let table = text(&w.run(&["audit"]).stdout);
    assert!(table.lines().next().unwrap().starts_with("TIME"), "{table}");
    assert!(
        table.contains(&format!("{}/{}", web.dir_name(), old[0].id)),
        "{table}"
    );
}

#[test]
fn clean_deletes_nothing_when_the_audit_log_cannot_be_written() {
    for planted in ["directory", "symlink"] {
        let w = OttoWorld::new();
        let web = w.project("web");
        let old: Vec<RunHandle> = (0..2).map(|i| aged(&web, 40 + i)).collect();
        let _recent: Vec<RunHandle> = (0..3).map(|i| aged(&web, 1 + i)).collect();
        let log = w.hooks_home().join("audit.log");
        let elsewhere = w.dir.path().join("elsewhere");
        match planted {
            "directory" => std::fs::create_dir(&log).unwrap(),
            _ => {
                std::fs::write(&elsewhere, "precious").unwrap();
                std::os::unix::fs::symlink(&elsewhere, &log).unwrap();
            }
        }
        let out = w.run(&["clean", "--keep", "30", "--keep-last", "0", "--yes"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{planted}: {err}");
        assert!(
            err.contains("audit log") && err.contains("nothing deleted"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        for r in &old {
            assert!(r.dir.exists(), "{planted}: {} was deleted", r.id);
        }
        if planted == "symlink" {
            assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "precious");
        }
    }
}

/// A history run recorded through the hooks, then moved `age_days` back.
fn recorded(w: &HookWorld, id: &str, age_days: i64) {
    let repo = w.repo_arg();
    w.ok(&["hook", "run-start", "--repo", &repo, "--run-id", id]);
    let out = w.events(id, "{\"type\":\"unit.started\",\"unit\":\"u\"}\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok(&["hook", "run-complete", "--run", id, "--status", "completed"]);
    let conn = Connection::open(w.db()).unwrap();
    conn.execute(
        "UPDATE runs SET started_at = strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', ?1),
                completed_at = strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', ?1, '+1 hour')
         WHERE id = ?2",
        rusqlite::params![format!("-{age_days} days"), id],
    )
    .unwrap();
}

fn history_world() -> HookWorld {
    let w = HookWorld::new();
    std::fs::create_dir_all(w.dir.path().join("otto")).unwrap();
    recorded(&w, "run_old_a", 120);
    recorded(&w, "run_old_b", 100);
    recorded(&w, "run_recent", 3);
    w
}

fn history_ids(w: &HookWorld) -> Vec<String> {
    let conn = Connection::open(w.db()).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM runs ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn history_retention_records_each_expired_run_and_stops_without_an_audit_log() {
    let w = history_world();
    // First without a writable log: nothing leaves the history.
    let log = w.hooks_home().join("audit.log");
    std::fs::create_dir(&log).unwrap();
    let out = w.run(&["clean", "--backend", "sqlite", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nothing deleted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(history_ids(&w), ["run_old_a", "run_old_b", "run_recent"]);
    std::fs::remove_dir(&log).unwrap();

    w.ok(&["run-policies", "--json"]);
    assert_eq!(history_ids(&w), ["run_recent"]);
    let audit: Value = serde_json::from_str(&w.ok(&["audit", "--json"])).unwrap();
    let by_key = entries(&audit);
    assert_eq!(by_key.len(), 2, "{audit:#}");
    for id in ["run_old_a", "run_old_b"] {
        let e = &by_key[id];
        assert_eq!(e["kind"], "history-run");
        assert_eq!(e["outcome"], "deleted");
        assert_eq!(e["intent"], true);
        assert!(
            e["rule"].as_str().unwrap().contains("retention_days = 90"),
            "{e:#}"
        );
        assert_eq!(e["who"]["via"], "run-policies");
    }
}

#[test]
fn the_daemons_scheduled_pass_records_what_it_expires() {
    let w = history_world();
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[policies]\ninterval = \"1s\"\n",
    )
    .unwrap();
    let started = w.run(&["daemon", "start", "--port", "0"]);
    assert!(started.status.success(), "{}", text(&started.stderr));
    struct Stop<'a>(&'a HookWorld);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["daemon", "stop"]);
        }
    }
    let _stop = Stop(&w);
    // Waits for the pass (a deadline, not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(60);
    let audit = loop {
        let doc: Value = serde_json::from_str(&w.ok(&["audit", "--json"])).unwrap();
        if doc["entries"].as_array().unwrap().len() >= 2 || Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_key = entries(&audit);
    for id in ["run_old_a", "run_old_b"] {
        let e = by_key.get(id).unwrap_or_else(|| panic!("{id}: {audit:#}"));
        assert_eq!(e["outcome"], "deleted");
        assert_eq!(e["who"]["via"], "daemon");
    }
    assert!(!by_key.contains_key("run_recent"));
}

#[test]
fn audit_reads_rotated_files_filters_by_time_and_project_and_skips_a_torn_line() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let old = aged(&web, 40);
    let _recent: Vec<RunHandle> = (0..2).map(|i| aged(&web, 1 + i)).collect();
    w.json(&[
        "clean",
        "--keep",
        "30",
        "--keep-last",
        "0",
        "--yes",
        "--json",
    ]);
    // An old record in a rotated file, and a torn line from a crash.
    let mut ancient = records(&w.hooks_home()).pop().unwrap();
    ancient["id"] = "1-0-1".into();
    ancient["target"] = "1000000000".into();
    ancient["timestamp"] = 1_000_000_000.into();
    ancient["at"] = "2001-09-09T01:46:40Z".into();
    std::fs::write(w.hooks_home().join("audit.log.1"), format!("{ancient}\n")).unwrap();
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(w.hooks_home().join("audit.log"))
        .unwrap()
        .write_all(b"{\"v\":1,\"phase\":\"int")
        .unwrap();

    let out = w.run(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("torn last line"),
        "{}",
        text(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [old.id.as_str(), "1000000000"], "newest first");
    assert_eq!(all["skipped_lines"], 1);
    assert_eq!(all["files"].as_array().unwrap().len(), 2);

    let week = w.json(&["audit", "--since", "7d", "--json"]);
    assert_eq!(week["entries"].as_array().unwrap().len(), 1);
    let none = w.json(&["audit", "--project", "we", "--json"]);
    assert!(
        none["entries"].as_array().unwrap().is_empty(),
        "never a substring"
    );
    let web_only = w.json(&["audit", "--project", "web", "--json"]);
    assert_eq!(web_only["entries"].as_array().unwrap().len(), 2);
    let bad = w.run(&["audit", "--since", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_clean_whose_every_deletion_is_held_records_the_held_runs() {
    let w = OttoWorld::new();
    let only = w.project("only");
    let run = aged(&only, 60);
    let out = w.run(&[
        "clean",
        "--keep",
        "30",
        "--keep-last",
        "0",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(run.dir.exists());
    let audit = w.json(&["audit", "--json"]);
    let by_key = entries(&audit);
    let e = &by_key[&format!("{}/{}", only.dir_name(), run.id)];
    assert_eq!(e["outcome"], "held");
    assert!(e["error"].as_str().unwrap().contains("every run"), "{e:#}");
}

#[test]
fn an_orphan_row_pruned_from_otto_db_is_accounted_for_by_its_intent_and_outcome() {
    use otto_hooks_tests::otto_home::RowStatus;
    let w = OttoWorld::new();
    let web = w.project("web");
    let kept = aged(&web, 1);
    let orphan = web
        .run(now() - 2 * DAY)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .task("test", TaskSpec::ok().stdout("ok\n"))
        .write();
    let otto = w.otto.db();
    otto.row(&kept, RowStatus::Success);
    otto.row(&orphan, RowStatus::Success);
    drop(otto);
    // The directory went by hand; its otto.db row (and 2 task rows) stayed.
    std::fs::remove_dir_all(&orphan.dir).unwrap();
    let out = w.run(&["clean", "--keep", "365", "--prune-rows", "--yes", "--json"]);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{done:#}");
    assert_eq!(
        done["otto_db"][0]["orphan_rows"][0]["run"],
        orphan.id.as_str()
    );
    let rows: i64 = Connection::open(w.otto.db_path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the orphan row is gone, the other kept");

    let audit = w.json(&["audit", "--json"]);
    let key = format!("{}/{}", web.dir_name(), orphan.id);
    let by_key = entries(&audit);
    let e = by_key
        .get(&key)
        .unwrap_or_else(|| panic!("the pruned row has no audit record: {audit:#}"));
    assert_eq!(e["kind"], "otto-db-row", "{e:#}");
    assert_eq!(e["outcome"], "deleted");
    assert_eq!(e["intent"], true, "an intent preceded it");
    assert!(
        e["rule"].as_str().unwrap().contains("--prune-rows"),
        "{e:#}"
    );
    let reason = e["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("2 task row(s)") && reason.contains(&orphan.dir.display().to_string()),
        "{reason}"
    );
    assert_eq!(
        e["path"].as_str(),
        Some(w.otto.db_path().display().to_string().as_str())
    );
    assert_eq!(e["who"]["via"], "clean");
    assert!(e["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(by_key.len(), 1, "nothing else was deleted: {audit:#}");
    let raw = records(&w.hooks_home());
    let at = |phase: &str| {
        raw.iter()
            .position(|x| x["kind"] == "otto-db-row" && x["phase"] == phase)
            .unwrap_or_else(|| panic!("no {phase}"))
    };
    assert!(at("intent") < at("outcome"));
    let table = text(&w.run(&["audit"]).stdout);
    assert!(table.contains("otto-db-row"), "{table}");
}
