//! End-to-end: `otto-hooks list | info | usage` on real otto layouts built
//! by the fixture builder — current, legacy and adversarial entries — run
//! through the binary as users run it. Each of otto's own listing mistakes
//! (FORMATS.md) is a test here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;
use std::process::Command;

use otto_hooks_tests::otto_home::{ProjectHandle, RowStatus, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const T0: u64 = 1_790_000_000; // 2026-09-21, in the past of every test run

/// `list --json` on an [`OttoWorld`].
trait List {
    /// `list --json <extra>`: the runs listed.
    fn list(&self, extra: &[&str]) -> Vec<Value>;
}

impl List for OttoWorld {
    fn list(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["list", "--json"];
        args.extend_from_slice(extra);
        self.json(&args).as_array().unwrap().clone()
    }
}

fn ids(runs: &[Value]) -> Vec<String> {
    runs.iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["project"].as_str().unwrap(),
                r["run"].as_str().unwrap()
            )
        })
        .collect()
}

fn du(path: &Path, flag: &str) -> u64 {
    let out = Command::new("du")
        .arg(flag)
        .arg(path)
        .bounded_output()
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn simple_run(p: &ProjectHandle, ts: u64) -> RunHandle {
    p.run(ts)
        .task("build", TaskSpec::ok().stdout("compiled\n"))
        .write()
}

#[test]
fn every_name_dash_hash_project_is_listed_not_only_otto_ones_newest_first() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let otto = w.project("otto");
    let a = simple_run(&web, T0);
    let b = simple_run(&otto, T0 + 10);
    let c = simple_run(&web, T0 + 20);
    w.otto.non_project_dirs();
    web.non_run_entries();
    let runs = w.list(&[]);
    assert_eq!(
        ids(&runs),
        [c.dir.clone(), b.dir.clone(), a.dir.clone()]
            .iter()
            .map(|d| {
                let run = d.file_name().unwrap().to_str().unwrap();
                let project = d.parent().unwrap().file_name().unwrap().to_str().unwrap();
                format!("{project}/{run}")
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn same_second_runs_are_listed_by_their_suffix() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let plain = simple_run(&web, T0);
    let one = web.run(T0).suffix(1).task("build", TaskSpec::ok()).write();
    let two = web.run(T0).suffix(2).task("build", TaskSpec::ok()).write();
    let runs = w.list(&[]);
    let got: Vec<&str> = runs.iter().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(got, [two.id.as_str(), one.id.as_str(), plain.id.as_str()]);
    assert!(runs.iter().all(|r| r["timestamp"] == T0));
}

#[test]
fn symlinked_projects_and_runs_are_skipped_warned_once_and_never_walked() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let real = simple_run(&web, T0);
    let outside = w.dir.subdir("outside", 0o700);
    let evil_project = w.otto.symlinked_project_to(&outside.join("p"));
    let evil_run = web.symlinked_run_to(&outside.join("r"), T0 + 5);
    let out = w.run(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["run"], real.id.as_str());
    let err = text(&out.stderr);
    for link in [&evil_project.link, &evil_run.link] {
        let name = link.display().to_string();
        assert_eq!(
            err.matches(&name).count(),
            1,
            "warned once about {name}: {err}"
        );
    }
    assert!(evil_project.victim.exists() && evil_run.victim.exists());
    assert_eq!(runs[0]["size_bytes"], du(&real.dir, "-sb"));
}

#[test]
fn the_project_filter_matches_a_whole_name_hash_or_directory_never_a_substring() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let webapp = w.project("webapp");
    simple_run(&web, T0);
    simple_run(&webapp, T0 + 1);
    let only = |filter: &str| {
        w.list(&["--project", filter])
            .iter()
            .map(|r| r["project"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let web_dir = web.dir_name();
    assert_eq!(only("web"), vec![web_dir.as_str()]);
    assert_eq!(only(&web.hash), vec![web_dir.as_str()]);
    assert_eq!(only(&web_dir), vec![web_dir.as_str()]);
    // A part of a name is no project: an error naming the closest ones.
    for part in ["we", "eb", &web.hash[..6]] {
        let out = w.run(&["list", "--project", part]);
        assert_eq!(out.status.code(), Some(2), "--project {part}");
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).contains(&format!("no project `{part}`")));
    }
}

#[test]
fn sizes_equal_du_and_never_follow_links_into_the_cache() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let big = "x".repeat(200_000);
    let runs: Vec<RunHandle> = (0..3)
        .map(|i| {
            web.run(T0 + i)
                .task("build", TaskSpec::ok().script(&big))
                .task_with_deps("test", &["build"], TaskSpec::ok())
                .write()
        })
        .collect();
    let listed = w.list(&[]);
    for run in &runs {
        let entry = listed.iter().find(|r| r["run"] == run.id.as_str()).unwrap();
        assert_eq!(entry["size_bytes"], du(&run.dir, "-sb"), "{}", run.id);
        assert_eq!(entry["allocated_bytes"], du(&run.dir, "-sB1"), "{}", run.id);
        assert!(
            entry["size_bytes"].as_u64().unwrap() < 200_000,
            "the script is in the cache"
        );
    }
    let usage = w.json(&["usage", "--json"]);
    let project = &usage["projects"][0];
    assert_eq!(project["bytes"], du(&web.dir, "-sb"));
    assert!(project["cache_bytes"].as_u64().unwrap() >= 200_000);
}

#[test]
fn statuses_come_from_the_row_the_lock_the_exit_codes_or_the_heuristic() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let ok = simple_run(&web, T0);
    let failed = web
        .run(T0 + 1)
        .task("build", TaskSpec::failed("boom\n"))
        .write();
    let stuck = simple_run(&web, T0 + 2);
    let live = simple_run(&web, T0 + 3);
    let orphan = web
        .run(T0 + 4)
        .task("lint", TaskSpec::failed("warning\n"))
        .write();
    let legacy = web
        .run(T0 + 5)
        .legacy()
        .task("build", TaskSpec::ok())
        .write();
    let db = w.otto.db();
    db.row(&ok, RowStatus::Success);
    db.row(&failed, RowStatus::Failed);
    db.stuck_running(&stuck);
    db.row(&live, RowStatus::Success);
    let _held = live.hold_lock();
    let runs = w.list(&[]);
    let of = |run: &RunHandle| {
        let r = runs.iter().find(|r| r["run"] == run.id.as_str()).unwrap();
        (
            r["status"].as_str().unwrap().to_owned(),
            r["status_source"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(of(&ok), ("success".into(), "otto.db".into()));
    assert_eq!(of(&failed), ("failed".into(), "otto.db".into()));
    assert_eq!(of(&stuck).0, "interrupted");
    assert_eq!(of(&live), ("running".into(), "lock".into()));
    // No row: the task files decide, and it is a guess. `lint` failed: it
    // wrote no output file.
    let (status, source) = of(&orphan);
    assert_eq!(status, "failed");
    assert_eq!(
        source,
        "guess: no otto.db row; task outputs: task lint started and wrote no \
         output.lint.json (otto writes it only when a task exits 0): it failed or was killed"
    );
    let (status, source) = of(&legacy);
    assert_eq!(status, "success");
    assert!(
        source.starts_with("guess: no otto.db row; task outputs: every task (1) wrote"),
        "{source}"
    );
    let guessed = |run: &RunHandle| {
        runs.iter().find(|r| r["run"] == run.id.as_str()).unwrap()["status_guessed"].clone()
    };
    assert_eq!(guessed(&orphan), true);
    assert_eq!(guessed(&legacy), true);
    assert_eq!(guessed(&failed), false);
    assert_eq!(guessed(&stuck), false);
    let failed_only = w.list(&["--status", "failed"]);
    assert_eq!(failed_only.len(), 2);
    let newest_one = w.list(&["--limit", "1"]);
    assert_eq!(newest_one[0]["run"], legacy.id.as_str());
}

#[test]
fn a_live_run_is_running_until_its_lock_is_released_then_its_row_decides() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = simple_run(&web, T0);
    let db = w.otto.db();
    db.row(&run, RowStatus::Running);
    let held = run.hold_lock();
    assert_eq!(w.list(&[])[0]["status"], "running");
    assert_eq!(
        w.list(&[])[0]["status"],
        "running",
        "a live run is never taken from the index"
    );
    drop(held);
    // otto was killed: its row is stuck at `running`, nobody holds the lock.
    assert_eq!(w.list(&[])[0]["status"], "interrupted");
}

#[test]
fn list_json_has_the_documented_shape() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = simple_run(&web, T0);
    let entry = &w.list(&[])[0];
    for key in [
        "project",
        "run",
        "timestamp",
        "started_at",
        "tasks",
        "status",
        "status_source",
        "size_bytes",
        "allocated_bytes",
        "path",
    ] {
        assert!(entry.get(key).is_some(), "{key} missing: {entry:#}");
    }
    assert_eq!(entry["timestamp"], T0);
    assert_eq!(entry["started_at"], "2026-09-21T14:13:20Z");
    assert_eq!(entry["tasks"], 1);
    assert_eq!(entry["path"], run.dir.display().to_string());
}

#[test]
fn info_finds_a_run_by_timestamp_suffix_or_project_and_shows_every_task() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(T0)
        .task("build", TaskSpec::ok().duration(12))
        .task("check:db", TaskSpec::failed("no db\n").exit_code(3))
        .write();
    let second = web.run(T0).suffix(1).task("build", TaskSpec::ok()).write();
    w.otto.db().row(&run, RowStatus::Failed);
    let info = w.json(&["info", &run.id, "--json"]);
    for key in [
        "project",
        "run",
        "timestamp",
        "status",
        "status_source",
        "size_bytes",
        "path",
        "tasks",
    ] {
        assert!(info.get(key).is_some(), "{key} missing: {info:#}");
    }
    assert_eq!(info["status"], "failed");
    assert_eq!(info["status_source"], "otto.db");
    let tasks = info["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["build", "check:db"]);
    let check = &tasks[1];
    assert_eq!(check["exit_code"], 3);
    assert_eq!(check["status"], "failed");
    for key in [
        "name",
        "status",
        "exit_code",
        "duration_seconds",
        "stdout",
        "stderr",
        "script",
    ] {
        assert!(check.get(key).is_some(), "{key} missing: {check:#}");
    }
    assert!(
        check["script"]
            .as_str()
            .unwrap()
            .ends_with("tasks/check:db/script.sh")
    );
    assert!(
        check["script_target"]
            .as_str()
            .unwrap()
            .starts_with("../../../.cache/")
    );
    assert_eq!(info["attributes"]["user"], "dev");

    let by_suffix = w.json(&["info", &second.id, "--json"]);
    assert_eq!(by_suffix["run"], second.id.as_str());
    let qualified = w.json(&["info", &format!("{}/{}", web.dir_name(), run.id), "--json"]);
    assert_eq!(qualified["run"], run.id.as_str());
    let table = text(&w.run(&["info", &run.id]).stdout);
    assert!(
        table.contains("check:db") && table.contains("otto.db"),
        "{table}"
    );
}

#[test]
fn an_ambiguous_or_unknown_run_is_a_usage_error() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    simple_run(&web, T0);
    simple_run(&api, T0);
    let out = w.run(&["info", &T0.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("ambiguous") && err.contains(&web.dir_name()) && err.contains(&api.dir_name()),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let narrowed = w.json(&["info", &T0.to_string(), "--project", "api", "--json"]);
    assert_eq!(narrowed["project"], api.dir_name());
    let missing = w.run(&["info", "1234"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no run `1234`"));
    // The full key goes straight to storage; a name is resolved by listing;
    // either way an unknown run is the same one-line usage error.
    let keyed = w.json(&["info", &format!("{}/{T0}", api.dir_name()), "--json"]);
    assert_eq!(keyed["project"], api.dir_name());
    let named = w.json(&["info", &format!("web/{T0}"), "--json"]);
    assert_eq!(named["project"], web.dir_name());
    let unknown = w.run(&["info", &format!("{}/1234", web.dir_name())]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains(&format!("no run `{}/1234`", web.dir_name())),
        "{}",
        text(&unknown.stderr)
    );
    assert_eq!(text(&unknown.stderr).lines().count(), 1);
}

#[test]
fn usage_adds_up_per_project_names_the_largest_runs_and_orphaned_cache() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    for i in 0..4 {
        web.run(T0 + i)
            .task(
                "build",
                TaskSpec::ok().stdout(&"o".repeat(10_000 * (i as usize + 1))),
            )
            .write();
    }
    simple_run(&api, T0 + 100);
    web.orphan_cache_file("deadbeef.sh", &[b'#'; 5_000]);
    let usage = w.json(&["usage", "--json"]);
    for key in [
        "total_bytes",
        "projects",
        "largest_runs",
        "orphaned_cache_bytes",
        "recommendations",
    ] {
        assert!(usage.get(key).is_some(), "{key} missing: {usage:#}");
    }
    let projects = usage["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 2);
    let total: u64 = projects.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
    assert_eq!(usage["total_bytes"], total);
    for p in projects {
        for key in [
            "project",
            "bytes",
            "runs_bytes",
            "cache_bytes",
            "runs",
            "oldest_timestamp",
        ] {
            assert!(p.get(key).is_some(), "{key} missing: {p:#}");
        }
        let dir = w.otto.root().join(p["project"].as_str().unwrap());
        assert_eq!(p["bytes"], du(&dir, "-sb"), "{}", dir.display());
    }
    assert_eq!(projects[0]["project"], web.dir_name(), "largest first");
    assert_eq!(projects[0]["runs"], 4);
    assert_eq!(projects[0]["oldest_timestamp"], T0);
    assert_eq!(usage["largest_runs"][0]["run"], (T0 + 3).to_string());
    assert_eq!(usage["orphaned_cache_bytes"], 5_000);
    let recommendations = usage["recommendations"].as_array().unwrap();
    // The default policy keeps the last 10 runs: nothing to recommend but
    // the orphan. With a configured policy keeping only the last run, the
    // three older runs of `web` (all older than 30 days) would go.
    assert_eq!(recommendations.len(), 1, "{recommendations:#?}");
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[retention]\nkeep_last = 1\n",
    )
    .unwrap();
    let usage = w.json(&["usage", "--json"]);
    let first = &usage["recommendations"][0];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("the configured retention policy would delete 3 run(s)"),
        "{first:#}"
    );
    // 3 of web's 4 runs: more than the default share, so the guard would
    // hold them; the advice gives the clean that really deletes them.
    assert!(
        first["message"].as_str().unwrap().contains("guard holds 3"),
        "{first:#}"
    );
    assert_eq!(first["command"], "otto-hooks clean --max-share 75");
    let only_api = w.json(&["usage", "--project", "api", "--json"]);
    assert_eq!(only_api["projects"].as_array().unwrap().len(), 1);
}

#[test]
fn an_empty_or_missing_otto_home_is_not_an_error_and_says_where_it_looked() {
    let w = OttoWorld::new();
    let out = w.run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("no otto runs found under") && err.contains("OTTO_HOME"),
        "{err}"
    );
    assert_eq!(w.list(&[]).len(), 0);
    std::fs::remove_dir_all(w.otto.root()).unwrap();
    let out = w.run(&["usage", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let usage: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(usage["total_bytes"], 0);
}

#[test]
fn legacy_runs_read_like_current_ones() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let absolute = web.run(T0).legacy().task("build", TaskSpec::ok()).write();
    let per_task = web
        .run(T0 + 1)
        .legacy_task_cache()
        .task("build", TaskSpec::ok())
        .write();
    let runs = w.list(&[]);
    assert_eq!(runs.len(), 2);
    for run in [&absolute, &per_task] {
        let entry = runs.iter().find(|r| r["run"] == run.id.as_str()).unwrap();
        assert_eq!(entry["size_bytes"], du(&run.dir, "-sb"));
        let info = w.json(&["info", &run.id, "--json"]);
        assert_eq!(info["tasks"][0]["name"], "build");
        assert!(
            info["tasks"][0]["script_target"]
                .as_str()
                .unwrap()
                .contains(".cache/")
        );
    }
    // Nothing references the orphan-free cache: legacy links protect their files.
    let usage = w.json(&["usage", "--json"]);
    assert_eq!(usage["orphaned_cache_bytes"], 0, "{usage:#}");
}

#[test]
fn info_of_a_killed_run_shows_the_task_that_was_running_as_interrupted() {
    // otto was SIGKILLed while `test` ran: the rows stay `running`, the
    // lock is free, and `test` wrote no output file.
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(T0)
        .task("build", TaskSpec::ok())
        .task_with_deps("test", &["build"], TaskSpec::killed())
        .write();
    w.otto.db().stuck_running(&run);
    let info = w.json(&["info", &run.id, "--json"]);
    assert_eq!(info["status"], "interrupted");
    assert_eq!(info["status_guessed"], false);
    let tasks = info["tasks"].as_array().unwrap();
    let status = |name: &str| {
        tasks.iter().find(|t| t["name"] == name).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("build"), "success");
    assert_eq!(status("test"), "interrupted");
    let table = w.run(&["info", &run.id]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("test "))
        .unwrap_or_else(|| panic!("no `test` row: {table}"));
    assert!(line.contains("interrupted"), "{table}");
}

#[test]
fn list_and_info_show_a_guessed_status_with_a_question_mark_and_the_reason() {
    // No otto.db row; `test` started and wrote no output file.
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web
        .run(T0)
        .task("build", TaskSpec::ok().stderr("warning: unused import\n"))
        .task_with_deps("test", &["build"], TaskSpec::failed(""))
        .write();
    let out = w.run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let row = list
        .lines()
        .find(|l| l.starts_with(&web.dir_name()))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains(" failed? "), "{list}");
    let out = w.run(&["info", &run.id]);
    let info = text(&out.stdout);
    assert!(
        info.contains(
            "failed? (guess: no otto.db row; task outputs: task test started and wrote no \
             output.test.json (otto writes it only when a task exits 0): it failed or was killed)"
        ),
        "{info}"
    );
    let json = w.json(&["info", &run.id, "--json"]);
    assert_eq!(json["status_guessed"], true);
    assert_eq!(json["tasks"][1]["status"], "failed");
    assert_eq!(json["tasks"][0]["status"], "success");
}
