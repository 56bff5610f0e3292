//! End-to-end: `otto-hooks history | stats | compare | flaky` on real otto
//! layouts with real otto.db rows, and on a real history.db, through the
//! binary; every figure checked against a value computed by hand here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{Completion, HistoryDb, NewEvent, NewRun, Options};
use otto_hooks_tests::otto_home::{ProjectHandle, RowStatus, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const T0: u64 = 1_790_000_000; // 2026-09-21, in the past of every test run

/// Three runs of `web`, rows in otto.db:
///
/// | run     | build          | test                   | lint |
/// |---------|----------------|------------------------|------|
/// | T0      | ok 2 s         | ok 4 s                 |      |
/// | T0+100  | ok 2 s, new script | failed (exit 3) 10 s | ok 1 s |
/// | T0+200  | ok 5 s         | ok 6 s                 |      |
fn three_runs(w: &OttoWorld) -> (ProjectHandle, Vec<RunHandle>) {
    let web = w.project("web");
    let r1 = web
        .run(T0)
        .task("build", TaskSpec::ok().duration(2).script("make build\n"))
        .task("test", TaskSpec::ok().duration(4))
        .write();
    let r2 = web
        .run(T0 + 100)
        .task(
            "build",
            TaskSpec::ok().duration(2).script("make build\nmake docs\n"),
        )
        .task(
            "test",
            TaskSpec::failed("1 test failed\n")
                .exit_code(3)
                .duration(10),
        )
        .task("lint", TaskSpec::ok().duration(1))
        .write();
    let r3 = web
        .run(T0 + 200)
        .task("build", TaskSpec::ok().duration(5).script("make build\n"))
        .task("test", TaskSpec::ok().duration(6))
        .write();
    let db = w.otto.db();
    db.row(&r1, RowStatus::Success);
    db.row(&r2, RowStatus::Failed);
    db.row(&r3, RowStatus::Success);
    (web, vec![r1, r2, r3])
}

fn name(run: &RunHandle) -> String {
    format!("{}/{}", run.project.dir_name(), run.id)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn history_lists_every_execution_of_a_task_newest_first_with_exit_code_duration_and_log() {
    let w = OttoWorld::new();
    let (_, runs) = three_runs(&w);
    let doc = w.json(&["history", "test", "--json"]);
    assert_eq!(doc["source"], "otto.db");
    let got: Vec<(String, String, i64, f64, String)> = doc["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["run"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
                e["exit_code"].as_i64().unwrap(),
                f(&e["duration_seconds"]),
                e["log"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let log = |r: &RunHandle| r.task_dir("test").join("stdout.log").display().to_string();
    assert_eq!(
        got,
        [
            (name(&runs[2]), "success".into(), 0, 6.0, log(&runs[2])),
            (name(&runs[1]), "failed".into(), 3, 10.0, log(&runs[1])),
            (name(&runs[0]), "success".into(), 0, 4.0, log(&runs[0])),
        ]
    );
    // The task started after build (2 s into the run).
    assert_eq!(doc["executions"][2]["started_at"], T0 + 2);

    let failed = w.json(&["history", "test", "--failed", "--json"]);
    let failed = failed["executions"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["run"], name(&runs[1]));
    let limited = w.json(&["history", "test", "--limit", "2", "--json"]);
    assert_eq!(limited["executions"].as_array().unwrap().len(), 2);

    let table = text(&w.run(&["history", "test"]).stdout);
    assert!(table.starts_with("STARTED"), "{table}");
    assert!(
        table.contains(&name(&runs[1])) && table.contains("failed"),
        "{table}"
    );
}

#[test]
fn an_unknown_task_or_project_is_an_error_naming_the_closest() {
    let w = OttoWorld::new();
    three_runs(&w);
    let out = w.run(&["history", "tset"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no task `tset`") && err.contains("did you mean `test`"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = w.run(&["stats", "buidl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`build`"),
        "{}",
        text(&out.stderr)
    );
    let out = w.run(&["flaky", "--project", "wbe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `web-"),
        "{}",
        text(&out.stderr)
    );
    let out = w.run(&["stats", "--since", "30x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("30d"), "{}", text(&out.stderr));
}

#[test]
fn stats_over_all_time_match_otto_stats_and_hand_computed_percentiles() {
    let w = OttoWorld::new();
    let (_, runs) = three_runs(&w);
    let doc = w.json(&["stats", "--since", "all", "--json"]);
    let r = &doc["runs"];
    // otto Stats: COUNT(*) by status, SUM(size_bytes).
    assert_eq!(
        (
            r["total"].as_u64(),
            r["success"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert!((f(&r["success_rate"]) - 2.0 / 3.0).abs() < 1e-9);
    let disk: u64 = runs.iter().map(|r| r.size_bytes).sum();
    assert_eq!(r["disk_bytes"], disk);
    // Run durations 6, 13, 11: nearest-rank p50 = 11, p90 = 13.
    assert_eq!(
        (
            f(&r["p50_seconds"]),
            f(&r["p90_seconds"]),
            f(&r["max_seconds"])
        ),
        (11.0, 13.0, 13.0)
    );
    let t = &doc["tasks"];
    assert_eq!(
        (
            t["total"].as_u64(),
            t["success"].as_u64(),
            t["failed"].as_u64()
        ),
        (Some(7), Some(6), Some(1))
    );
    assert!((f(&t["success_rate"]) - 6.0 / 7.0).abs() < 1e-9);
    assert!(doc["previous"].is_null() && doc["trend"].is_null());

    let per: Vec<&Value> = doc["per_task"].as_array().unwrap().iter().collect();
    let tasks: Vec<&str> = per.iter().map(|p| p["task"].as_str().unwrap()).collect();
    assert_eq!(
        tasks,
        ["build", "test", "lint"],
        "most executions first, then by name"
    );
    let test = per[1];
    // test: 4, 10, 6 → sorted 4, 6, 10: p50 6, p90 10; otto's rate 2/3.
    assert_eq!(
        (
            f(&test["p50_seconds"]),
            f(&test["p90_seconds"]),
            f(&test["max_seconds"])
        ),
        (6.0, 10.0, 10.0)
    );
    assert!((f(&test["success_rate"]) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(test["last_status"], "success");
    assert_eq!(test["last_run"], name(&runs[2]));

    // One task: the runs that ran it.
    let lint = w.json(&["stats", "lint", "--since", "all", "--json"]);
    assert_eq!(lint["runs"]["total"], 1);
    assert_eq!(lint["runs"]["failed"], 1);
    assert_eq!(lint["per_task"].as_array().unwrap().len(), 1);
}

#[test]
fn stats_compare_a_window_with_the_one_before_it() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let now = Timestamp::now().secs as u64;
    let old = web
        .run(now - 40 * 86_400)
        .task("test", TaskSpec::failed("boom\n").duration(10))
        .write();
    let recent = web
        .run(now - 86_400)
        .task("test", TaskSpec::ok().duration(4))
        .write();
    let ancient = web
        .run(now - 90 * 86_400)
        .task("test", TaskSpec::ok().duration(1))
        .write();
    let db = w.otto.db();
    db.row(&old, RowStatus::Failed);
    db.row(&recent, RowStatus::Success);
    db.row(&ancient, RowStatus::Success);
    let doc = w.json(&["stats", "--since", "30d", "--json"]);
    assert_eq!(doc["runs"]["total"], 1);
    assert_eq!(
        doc["previous"]["runs"]["total"], 1,
        "only the run 40 days ago"
    );
    assert_eq!(doc["previous"]["runs"]["failed"], 1);
    assert_eq!(doc["trend"]["runs_delta"], 0);
    assert!((f(&doc["trend"]["success_rate_delta"]) - 1.0).abs() < 1e-9);
    assert!((f(&doc["trend"]["task_p50_delta_seconds"]) + 6.0).abs() < 1e-9);
    assert!((f(&doc["per_task"][0]["trend"]["p50_delta_seconds"]) + 6.0).abs() < 1e-9);
}

#[test]
fn stats_trend_carries_each_tasks_series_and_draws_sparklines() {
    let w = OttoWorld::new();
    three_runs(&w);
    let doc = w.json(&["stats", "--since", "all", "--trend", "--json"]);
    for t in doc["per_task"].as_array().unwrap() {
        let series = t["series"].as_array().unwrap();
        assert_eq!(series.len(), 20);
        let n: u64 = series
            .iter()
            .map(|p| p["executions"].as_u64().unwrap())
            .sum();
        assert_eq!(n, t["total"].as_u64().unwrap(), "{t}");
    }
    // test's series: 4 s first, 10 s (failed, but finished) then 6 s last.
    let test = &doc["per_task"][1];
    let points: Vec<f64> = test["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["p50_seconds"].as_f64())
        .collect();
    assert_eq!(points, [4.0, 10.0, 6.0]);
    let human = text(&w.run(&["stats", "--since", "all", "--trend"]).stdout);
    assert!(human.contains('▁') && human.contains('█'), "{human}");
    let plain = w.json(&["stats", "--since", "all", "--json"]);
    assert!(plain["per_task"][0]["series"].is_null());
}

#[test]
fn compare_reports_added_removed_status_exit_duration_and_script_changes_with_a_diff() {
    let w = OttoWorld::new();
    let (web, runs) = three_runs(&w);
    let doc = w.json(&[
        "compare",
        &name(&runs[0]),
        &name(&runs[1]),
        "--diff",
        "--json",
    ]);
    assert_eq!(doc["a"]["run"], name(&runs[0]));
    let added: Vec<&str> = doc["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["lint"]);
    assert!(doc["removed"].as_array().unwrap().is_empty());
    let changed = doc["changed"].as_array().unwrap();
    let build = changed.iter().find(|c| c["task"] == "build").unwrap();
    assert_eq!(build["script_changed"], true);
    assert_eq!(build["duration_changed"], false, "2 s both times");
    assert_eq!(build["a"]["script_hash"], runs[0].task("build").script_hash);
    let diff = build["diff"].as_str().unwrap();
    assert!(
        diff.contains("+make docs") && diff.starts_with("--- "),
        "{diff}"
    );
    let test = changed.iter().find(|c| c["task"] == "test").unwrap();
    assert_eq!(
        (
            test["status_changed"].as_bool(),
            test["exit_code_changed"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(
        (
            test["a"]["exit_code"].as_i64(),
            test["b"]["exit_code"].as_i64()
        ),
        (Some(0), Some(3))
    );
    // 4 s → 10 s: 6 s and 150 %, beyond noise.
    assert_eq!(test["duration_changed"], true);
    assert_eq!(f(&test["duration_delta_seconds"]), 6.0);

    // Back: lint removed, and the bare run ids resolve too.
    let back = w.json(&["compare", &runs[1].id, &runs[2].id, "--json"]);
    assert_eq!(back["removed"][0]["task"], "lint");
    let test = back["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["task"] == "test")
        .unwrap();
    assert!(test["diff"].is_null(), "no --diff");
    // 10 s → 6 s is 4 s and 40 %: beyond noise; build 2 s → 5 s is too.
    assert_eq!(test["duration_changed"], true);

    let human = text(
        &w.run(&["compare", &name(&runs[0]), &name(&runs[1]), "--diff"])
            .stdout,
    );
    assert!(
        human.contains("+ lint")
            && human.contains("success → failed")
            && human.contains("+make docs"),
        "{human}"
    );

    // A run otto.db has no row of is read from its task directories.
    let orphan = web
        .run(T0 + 300)
        .task("build", TaskSpec::ok().script("make build\n"))
        .write();
    let doc = w.json(&["compare", &name(&runs[2]), &name(&orphan), "--json"]);
    // Judged as the status plugin judges it: its task wrote its output.
    assert_eq!(doc["b"]["status"], "success");
    assert_eq!(doc["removed"][0]["task"], "test");
    let unchanged =
        doc["unchanged"].as_array().unwrap().len() + doc["changed"].as_array().unwrap().len();
    assert_eq!(unchanged, 1);
    let out = w.run(&["compare", &name(&runs[0]), "web/1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn flaky_finds_tasks_that_failed_and_succeeded_on_the_same_script() {
    let w = OttoWorld::new();
    let (_, runs) = three_runs(&w);
    let doc = w.json(&["flaky", "--since", "all", "--json"]);
    let tasks = doc["tasks"].as_array().unwrap();
    // test: ok, failed, ok on one script: 2 flips over 2 chances. build
    // always succeeded; lint ran once.
    assert_eq!(tasks.len(), 1, "{doc}");
    let t = &tasks[0];
    assert_eq!(t["task"], "test");
    assert_eq!(t["script_hash"], runs[0].task("test").script_hash);
    assert_eq!(
        (
            t["executions"].as_u64(),
            t["failed"].as_u64(),
            t["flips"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(f(&t["flip_rate"]), 1.0);
    let flipped: Vec<&str> = t["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(flipped, [name(&runs[2]), name(&runs[1])]);
    assert_eq!(t["runs"][1]["exit_code"], 3);
}

/// A history.db with two runs of units `api` and `web`:
/// run A: api 30 s ok, web failed (exit 2) after 10 s; run B: api failed
/// (exit 1) after 20 s, web ok 5 s; run C (running): api started.
fn history_db(path: &std::path::Path) -> Vec<String> {
    let db = HistoryDb::open(path, &Options::default()).unwrap();
    let base = Timestamp::now().secs - 3600;
    let mut ids = Vec::new();
    for (i, (api, web)) in [((true, 30), (false, 10)), ((false, 20), (true, 5))]
        .iter()
        .enumerate()
    {
        let id = format!("run_2026120{}_000000_a{i:03}", i + 1);
        let t0 = base + 100 * i as i64;
        db.start_run(NewRun {
            id: id.clone(),
            project: "/src/app".into(),
            repo_path: "/src/app".into(),
            started_at: Timestamp::from_secs(t0),
            parallelism: 2,
            total_units: 2,
            tasks_dir: None,
            dry_run: false,
        })
        .unwrap();
        let ev = |t: i64, kind: &str, unit: &str, payload: Option<&str>| {
            let mut e = NewEvent::new(Timestamp::from_secs(t), kind);
            e.unit = Some(unit.into());
            e.payload = payload.map(str::to_owned);
            e
        };
        let end = |ok: bool, code: i32| {
            if ok {
                ("unit.completed", None)
            } else {
                ("unit.failed", Some(format!("{{\"exit_code\":{code}}}")))
            }
        };
        let (api_kind, api_payload) = end(api.0, 1);
        let (web_kind, web_payload) = end(web.0, 2);
        db.append_events(
            &id,
            vec![
                ev(t0, "unit.started", "api", None),
                ev(t0, "unit.started", "web", None),
                ev(t0 + web.1, web_kind, "web", web_payload.as_deref()),
                ev(t0 + api.1, api_kind, "api", api_payload.as_deref()),
            ],
        )
        .unwrap();
        db.complete_run(Completion {
            run_id: id.clone(),
            status: if api.0 && web.0 {
                "completed"
            } else {
                "failed"
            }
            .into(),
            ended_at: Timestamp::from_secs(t0 + 40),
            completed_units: Some(1),
            failed_units: Some(1),
            blocked_units: Some(0),
            error: None,
        })
        .unwrap();
        ids.push(id);
    }
    db.close().unwrap();
    ids
}

#[test]
fn the_commands_read_units_from_a_real_history_db() {
    let w = OttoWorld::new();
    let path = w.hooks_home().join("ci-history.db");
    let ids = history_db(&path);
    let db = path.to_str().unwrap();

    let h = w.json(&["history", "api", "--db", db, "--json"]);
    assert_eq!(h["source"], "history.db");
    let got: Vec<(String, String, Option<i64>, f64)> = h["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["run"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
                e["exit_code"].as_i64(),
                f(&e["duration_seconds"]),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (ids[1].clone(), "failed".into(), Some(1), 20.0),
            (ids[0].clone(), "success".into(), None, 30.0)
        ]
    );

    let s = w.json(&["stats", "--db", db, "--since", "all", "--json"]);
    assert_eq!(
        (s["runs"]["total"].as_u64(), s["runs"]["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(s["runs"]["disk_bytes"].is_null());
    assert_eq!(
        (s["tasks"]["total"].as_u64(), s["tasks"]["success"].as_u64()),
        (Some(4), Some(2))
    );
    // Unit durations 30, 10, 20, 5 → sorted 5, 10, 20, 30: p50 10, p90 30.
    assert_eq!(
        (f(&s["tasks"]["p50_seconds"]), f(&s["tasks"]["p90_seconds"])),
        (10.0, 30.0)
    );

    let c = w.json(&["compare", &ids[0], &ids[1], "--db", db, "--json"]);
    let api = c["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "api")
        .unwrap();
    assert_eq!(
        (api["a"]["status"].as_str(), api["b"]["status"].as_str()),
        (Some("success"), Some("failed"))
    );
    assert!(api["script_changed"] == false && api["diff"].is_null());

    let fl = w.json(&["flaky", "--db", db, "--since", "all", "--json"]);
    let names: Vec<&str> = fl["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["api", "web"],
        "both flipped once; equal rates, equal failures, by name"
    );
    assert!(fl["tasks"][0]["script_hash"].is_null());
    assert_eq!(f(&fl["tasks"][0]["flip_rate"]), 1.0);
}

#[test]
fn imported_otto_runs_give_the_same_task_figures_from_the_history() {
    let w = OttoWorld::new();
    three_runs(&w);
    let imported = w.json(&["import", "otto", "--json"]);
    assert_eq!(imported["runs"], 3);
    let otto = w.json(&["stats", "--since", "all", "--json"]);
    let hist = w.json(&["stats", "--backend", "sqlite", "--since", "all", "--json"]);
    for key in [
        "total",
        "success",
        "failed",
        "p50_seconds",
        "p90_seconds",
        "max_seconds",
    ] {
        assert_eq!(otto["tasks"][key], hist["tasks"][key], "{key}");
    }
    let h = w.json(&["history", "test", "--backend", "sqlite", "--json"]);
    let exits: Vec<Option<i64>> = h["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["exit_code"].as_i64())
        .collect();
    assert_eq!(exits, [Some(0), Some(3), Some(0)]);
    // The imported run's tasks directory holds the unit's log.
    let otto_log = w.json(&["history", "test", "--json"])["executions"][1]["log"].clone();
    assert_eq!(h["executions"][1]["log"], otto_log);
}

#[test]
fn a_schema_3_history_read_before_its_migration_answers_as_its_unit_summary_does() {
    // The same history twice: as written (schema 4, units read from
    // `unit_executions`) and taken back to schema 3 (no summary: units
    // folded from the events), which the read-only commands do not migrate.
    let w = OttoWorld::new();
    let v4 = w.hooks_home().join("v4.db");
    history_db(&v4);
    let v3 = w.hooks_home().join("v3.db");
    std::fs::copy(&v4, &v3).unwrap();
    rusqlite::Connection::open(&v3)
        .unwrap()
        .execute_batch("DROP TABLE unit_executions; DELETE FROM schema_version WHERE version = 4;")
        .unwrap();
    let ask = |db: &std::path::Path, args: &[&str]| {
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--db", db.to_str().unwrap(), "--json"]);
        let mut v = w.json(&args);
        // The file differs, and a second may tick between the two reads.
        v["path"] = Value::Null;
        v["window"] = Value::Null;
        v
    };
    for args in [
        &["history", "api"][..],
        &["history", "web", "--failed"],
        &["stats", "--since", "all", "--trend"],
        &["flaky", "--since", "all"],
    ] {
        assert_eq!(ask(&v3, args), ask(&v4, args), "{args:?}");
    }
    let version: i64 = rusqlite::Connection::open(&v3)
        .unwrap()
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3, "read-only commands do not migrate");
}

/// The executions of `doc` (a `history --json`) as (run, status, exit code,
/// duration).
fn executions(doc: &Value) -> Vec<(String, String, Option<i64>, Option<f64>)> {
    doc["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["run"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
                e["exit_code"].as_i64(),
                e["duration_seconds"].as_f64(),
            )
        })
        .collect()
}

#[test]
fn runs_without_an_otto_db_row_count_in_history_stats_and_flaky() {
    let w = OttoWorld::new();
    let (web, runs) = three_runs(&w);
    // A fourth run whose row is gone (pruned): `test` failed — it started
    // (builtins.sh) and wrote no output file — and `build` passed.
    let rowless = web
        .run(T0 + 300)
        .task("build", TaskSpec::ok().duration(3).script("make build\n"))
        .task("test", TaskSpec::failed("boom\n").duration(7))
        .write();

    let h = w.json(&["history", "test", "--json"]);
    let got = executions(&h);
    assert_eq!(
        got[0],
        (name(&rowless), "failed".into(), None, None),
        "newest first; no exit code or duration survives on disk: {h:#}"
    );
    assert_eq!(got.len(), 4);
    assert_eq!(got[1].0, name(&runs[2]));
    assert_eq!(
        h["executions"][0]["log"].as_str().unwrap(),
        rowless
            .dir
            .join("tasks/test/stdout.log")
            .display()
            .to_string()
    );
    let failed = w.json(&["history", "test", "--failed", "--json"]);
    let failed_runs: Vec<String> = executions(&failed).into_iter().map(|e| e.0).collect();
    assert_eq!(failed_runs, [name(&rowless), name(&runs[1])]);
    // With a limit that the rows alone fill, the newer run still comes first.
    let one = w.json(&["history", "test", "--limit", "1", "--json"]);
    assert_eq!(executions(&one)[0].0, name(&rowless));

    let s = w.json(&["stats", "--since", "all", "--json"]);
    assert_eq!(
        (s["runs"]["total"].as_u64(), s["runs"]["failed"].as_u64()),
        (Some(4), Some(2)),
        "{s:#}"
    );
    assert_eq!(
        (s["tasks"]["total"].as_u64(), s["tasks"]["failed"].as_u64()),
        (Some(9), Some(2))
    );
    let test = s["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "test")
        .unwrap();
    assert_eq!(test["last_status"], "failed");
    assert_eq!(test["last_run"], name(&rowless).as_str());
    // Durations are those recorded: the rowless run adds none.
    assert_eq!(f(&test["max_seconds"]), 10.0);
    let one_task = w.json(&["stats", "test", "--since", "all", "--json"]);
    assert_eq!(one_task["runs"]["total"], 4);

    // test: ok, failed, ok, failed on one script: three flips in three.
    let fl = w.json(&["flaky", "--since", "all", "--json"]);
    let t = &fl["tasks"][0];
    assert_eq!(
        (t["task"].as_str(), t["flips"].as_u64()),
        (Some("test"), Some(3)),
        "{fl:#}"
    );
    assert_eq!(t["runs"][0]["run"], name(&rowless).as_str());
    assert_eq!(t["last_status"], "failed");
}

#[test]
fn without_otto_db_every_run_is_read_from_its_directory() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let a = web
        .run(T0)
        .task("test", TaskSpec::ok().stdout("ok\n"))
        .write();
    let b = web
        .run(T0 + 60)
        .task("test", TaskSpec::failed("1 failed\n"))
        .write();
    assert!(!w.otto.db_path().exists(), "otto.db was never written");

    let h = w.json(&["history", "test", "--project", "web", "--json"]);
    let runs: Vec<(String, String)> = executions(&h).into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        runs,
        [
            (name(&b), "failed".to_owned()),
            (name(&a), "success".to_owned())
        ]
    );
    let s = w.json(&["stats", "--since", "all", "--json"]);
    assert_eq!(
        (s["runs"]["total"].as_u64(), s["tasks"]["success"].as_u64()),
        (Some(2), Some(1))
    );
    let fl = w.json(&["flaky", "--since", "all", "--json"]);
    assert_eq!(fl["tasks"][0]["task"], "test");
    assert!(
        !w.otto.db_path().exists(),
        "nothing was written to otto's home"
    );

    // An empty home still says where it looked.
    let empty = OttoWorld::new();
    let out = empty.run(&["stats"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("otto.db") && err.lines().count() == 1, "{err}");
}

/// `stats --since all --trend` and `flaky --since all`.
fn figures(w: &OttoWorld) -> (Value, Value) {
    // A second may tick between two reads: the window's end is left out.
    let mut s = w.json(&["stats", "--since", "all", "--trend", "--json"]);
    s["window"] = Value::Null;
    let mut f = w.json(&["flaky", "--since", "all", "--json"]);
    f["window"] = Value::Null;
    (s, f)
}

#[test]
fn the_insights_cache_answers_as_otto_db_does_after_otto_changes_it() {
    let w = OttoWorld::new();
    let (web, runs) = three_runs(&w);
    let cache = w.hooks_home().join("insights");
    let first = figures(&w);
    assert!(
        std::fs::read_dir(&cache).unwrap().count() > 0,
        "the first read filled the cache"
    );
    // Read again from the cache: the same answers.
    assert_eq!(figures(&w), first);

    // otto cleans the newest run and records another: SQLite gives the new
    // row the id the cleaned one had. Its cached tasks must not come back.
    let otto = w.otto.db();
    let newest: i64 = otto
        .connection()
        .query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))
        .unwrap();
    otto.connection()
        .execute_batch(&format!(
            "DELETE FROM tasks WHERE run_id = {newest}; DELETE FROM runs WHERE id = {newest};"
        ))
        .unwrap();
    std::fs::remove_dir_all(&runs[2].dir).unwrap();
    let r5 = web
        .run(T0 + 250)
        .task("deploy", TaskSpec::failed("no\n").duration(3))
        .write();
    assert_eq!(otto.row(&r5, RowStatus::Failed), newest, "the id is reused");
    drop(otto);
    let reused = figures(&w);
    let tasks: Vec<&str> = reused.0["per_task"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert!(tasks.contains(&"deploy"), "{tasks:?}");
    assert_eq!(reused.0["tasks"]["total"], 6, "{:#}", reused.0);

    // otto changes otto.db: a run recorded while it runs, then completed
    // (its row's status, ended_at and duration change), and the oldest
    // run cleaned (rows deleted).
    let r4 = web
        .run(T0 + 300)
        .task("test", TaskSpec::failed("boom\n").duration(8))
        .write();
    let otto = w.otto.db();
    let id = otto.row(&r4, RowStatus::Success);
    let c = otto.connection();
    c.execute(
        "UPDATE runs SET status = 'running', ended_at = NULL, duration_seconds = NULL WHERE id = ?1",
        [id],
    )
    .unwrap();
    c.execute(
        "UPDATE tasks SET status = 'running', exit_code = NULL WHERE run_id = ?1",
        [id],
    )
    .unwrap();
    let running = figures(&w);
    assert_eq!(running.0["runs"]["running"], 1, "{:#}", running.0);
    c.execute(
        "UPDATE tasks SET status = 'failed', exit_code = 1 WHERE run_id = ?1",
        [id],
    )
    .unwrap();
    c.execute(
        "UPDATE runs SET status = 'failed', ended_at = timestamp + 8, duration_seconds = 8 WHERE id = ?1",
        [id],
    )
    .unwrap();
    let oldest: i64 = c
        .query_row("SELECT MIN(id) FROM runs", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM tasks WHERE run_id = ?1", [oldest])
        .unwrap();
    c.execute("DELETE FROM runs WHERE id = ?1", [oldest])
        .unwrap();
    drop(otto);
    std::fs::remove_dir_all(&runs[0].dir).unwrap();
    let cached = figures(&w);
    assert_eq!(cached.0["runs"]["total"], 3, "r2, r5 and r4");
    assert_eq!(cached.0["runs"]["failed"], 3);

    // The same answers as otto.db read without any cache.
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(figures(&w), cached);

    // A cache that cannot be opened is no error: otto.db answers alone.
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&cache, "not a directory").unwrap();
    assert_eq!(figures(&w), cached);
}
