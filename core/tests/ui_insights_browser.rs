//! The web UI's insight panels in a real browser (headless Debian
//! `chromium` over WebDriver, as `ui_browser.rs`): the Insights view, the
//! flaky units, a unit's history and the run comparison, against the
//! daemon's real server over a real history.db seeded through the API. Every
//! figure the page shows is checked against the API's own JSON.
//!
//! Without a driver these tests print one line and pass, except under
//! `CI=true`. Screenshots go to `target/ui-shots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "ui/webdriver.rs"]
mod webdriver;

use std::sync::Mutex;

use serde_json::{Value, json};
use webdriver::{Browser, assert_accessible, browser, shot};

/// One browser at a time: the machines that run this have few cores.
static SERIAL: Mutex<()> = Mutex::new(());

#[path = "support/served.rs"]
mod served;
use served::Served as Daemon;

/// Records run `id` of `repo` started `hours_ago` in `d`, whose units end
/// as `units` says: (name, exit code, seconds); exit 0 is a success.
fn record_run(d: &Daemon, id: &str, repo: &str, hours_ago: i64, units: &[(&str, i64, i64)]) {
    let start = chrono::DateTime::from_timestamp(
        (chrono::Utc::now() - chrono::Duration::hours(hours_ago)).timestamp(),
        0,
    )
    .expect("a time");
    let t = |secs: i64| {
        (start + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    d.post_ok(
        "/api/runs",
        &json!({"run_id": id, "repo_path": repo, "started_at": t(0), "parallelism": 2,
               "total_units": units.len(), "tasks_dir": "specs/tasks"}),
    );
    let mut events = Vec::new();
    for (unit, exit, secs) in units {
        events.push(json!({"time": t(1), "type": "unit.started", "unit": unit}));
        events.push(if *exit == 0 {
            json!({"time": t(1 + secs), "type": "unit.completed", "unit": unit})
        } else {
            json!({"time": t(1 + secs), "type": "unit.failed", "unit": unit,
                   "error": format!("exit status {exit}"), "payload": {"exit_code": exit}})
        });
    }
    d.post_ok(
        &format!("/api/runs/{id}/events"),
        &json!({ "events": events }),
    );
    let failed = units.iter().filter(|u| u.1 != 0).count();
    let end = units.iter().map(|u| u.2).max().unwrap_or(0) + 2;
    d.post_ok(
        &format!("/api/runs/{id}/complete"),
        &json!({"status": if failed > 0 { "failed" } else { "completed" },
               "completed_units": units.len() - failed, "failed_units": failed,
               "completed_at": t(end)}),
    );
}

/// Six runs of /src/app — two 9–10 days ago (the 7-day window's previous
/// window), four over the last 6 days — and one of /src/lib. `api` flips
/// between success and failure, `web` slows down, `lint` is gone from the
/// last run and `e2e` new in it.
fn seed(d: &Daemon) {
    let app = "/src/app";
    record_run(
        d,
        "run_0",
        app,
        240,
        &[("api", 0, 30), ("web", 0, 4), ("lint", 0, 2)],
    );
    record_run(
        d,
        "run_1",
        app,
        216,
        &[("api", 2, 10), ("web", 0, 5), ("lint", 0, 2)],
    );
    record_run(
        d,
        "run_2",
        app,
        144,
        &[("api", 0, 30), ("web", 0, 6), ("lint", 0, 2)],
    );
    record_run(
        d,
        "run_3",
        app,
        100,
        &[("api", 1, 12), ("web", 0, 6), ("lint", 0, 2)],
    );
    record_run(
        d,
        "run_4",
        app,
        50,
        &[("api", 0, 31), ("web", 0, 7), ("lint", 0, 3)],
    );
    record_run(
        d,
        "run_5",
        app,
        2,
        &[("api", 1, 11), ("web", 0, 20), ("e2e", 0, 40)],
    );
    record_run(d, "lib_0", "/src/lib", 1, &[("build", 0, 9)]);
}

/// A duration as the page shows it (insights-logic.js `formatSecs`, whole
/// seconds: format.js `formatDuration`).
fn secs_text(v: &Value) -> String {
    let Some(s) = v.as_f64() else {
        return "–".into();
    };
    if s < 60.0 && s.fract() != 0.0 {
        return format!("{:.1}s", (s * 10.0).round() / 10.0);
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// A rate as the page shows it (`formatRate`): `100%`, `66.7%`.
fn rate_text(v: &Value) -> String {
    let Some(r) = v.as_f64() else {
        return "–".into();
    };
    let pct = (r * 1000.0).round() / 10.0;
    if pct.fract() == 0.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

fn hash_of(b: &Browser) -> String {
    b.js("return decodeURIComponent(location.hash)", json!([]))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The text of `[data-field=<field>]` in every element matching `rows`.
fn column(b: &Browser, rows: &str, field: &str) -> Vec<String> {
    b.texts(&format!("{rows} [data-field={field}]"))
}

#[test]
fn the_insights_view_shows_the_apis_stats_per_unit_and_flaky_units_for_the_chosen_window() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    seed(&d);
    b.goto(&d.url("/#/insights?repo=%2Fsrc%2Fapp&since=7d"));
    b.wait(
        "the per-unit table",
        "return document.querySelectorAll('.per-task tbody tr').length > 0",
    );
    let stats = d.get_ok("/api/history/stats?project=%2Fsrc%2Fapp&since=7d&trend=true");
    let runs = &stats["runs"];
    assert_eq!(runs["total"], 4, "{stats}");
    let card = |name: &str| b.texts(&format!("[data-stat={name}] [data-field=value]"));
    assert_eq!(card("runs"), [runs["total"].to_string()]);
    assert_eq!(card("success-rate"), [rate_text(&runs["success_rate"])]);
    assert_eq!(card("p50"), [secs_text(&runs["p50_seconds"])]);
    assert_eq!(card("p90"), [secs_text(&runs["p90_seconds"])]);
    assert_eq!(card("max"), [secs_text(&runs["max_seconds"])]);
    assert_eq!(card("disk"), ["not recorded"], "history.db records no size");
    assert_eq!(card("executions"), [stats["tasks"]["total"].to_string()]);
    // The trend against the 7 days before (run_0, run_1): 4 runs against 2.
    assert_eq!(stats["trend"]["runs_delta"], 2, "{stats}");
    let trend = b.texts("[data-stat=runs] [data-field=trend]");
    assert_eq!(trend, ["+2 more · was 2"]);
    let rate_delta = stats["trend"]["success_rate_delta"].as_f64().unwrap();
    let rate_trend = b.texts("[data-stat=success-rate] [data-field=trend]");
    let pts = (rate_delta.abs() * 1000.0).round() / 10.0;
    let expected = if pts == 0.0 {
        "±0 pts same".to_owned()
    } else if rate_delta > 0.0 {
        format!("+{pts} pts better")
    } else {
        format!("−{pts} pts worse")
    };
    assert!(
        rate_trend[0].starts_with(&expected),
        "{rate_trend:?} against {rate_delta}"
    );
    // p50 of the runs: 4 runs against 2, slower or faster in words.
    let p50_delta = stats["trend"]["p50_delta_seconds"].as_f64().unwrap();
    assert_ne!(p50_delta, 0.0, "{stats}");
    let p50_trend = b.texts("[data-stat=p50] [data-field=trend]");
    let sign_word = if p50_delta > 0.0 {
        format!("+{} slower", secs_text(&json!(p50_delta)))
    } else {
        format!("−{} faster", secs_text(&json!(-p50_delta)))
    };
    assert!(
        p50_trend[0].starts_with(&sign_word),
        "{p50_trend:?} against {p50_delta}"
    );

    // One row per unit, in the API's order, with its figures.
    let per_task = stats["per_task"].as_array().unwrap();
    let names: Vec<String> = b
        .js(
            "return [...document.querySelectorAll('.per-task tbody tr')].map(r => r.dataset.task)",
            json!([]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let api_names: Vec<&str> = per_task
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(names, api_names);
    let rows = ".per-task tbody tr";
    let expect = |f: &dyn Fn(&Value) -> String| per_task.iter().map(f).collect::<Vec<_>>();
    assert_eq!(
        column(&b, rows, "total"),
        expect(&|t| t["total"].to_string())
    );
    assert_eq!(
        column(&b, rows, "success-rate"),
        expect(&|t| rate_text(&t["success_rate"]))
    );
    assert_eq!(
        column(&b, rows, "failed"),
        expect(&|t| t["failed"].to_string())
    );
    assert_eq!(
        column(&b, rows, "p50"),
        expect(&|t| secs_text(&t["p50_seconds"]))
    );
    assert_eq!(
        column(&b, rows, "p90"),
        expect(&|t| secs_text(&t["p90_seconds"]))
    );
    let last: Vec<String> = column(&b, rows, "last")
        .iter()
        .map(|s| s.split_whitespace().last().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        last,
        expect(&|t| t["last_status"].as_str().unwrap().to_owned())
    );
    // The sparkline has a point for every bucket of the series with a p50.
    let points = b.js(
        "return [...document.querySelectorAll('.per-task tbody tr')].map(r => Number(r.querySelector('svg.spark')?.dataset.points ?? 0))",
        json!([]),
    );
    let api_points: Vec<usize> = per_task
        .iter()
        .map(|t| {
            t["series"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["p50_seconds"].is_number())
                .count()
        })
        .collect();
    assert_eq!(points, json!(api_points));
    assert!(api_points.iter().all(|n| *n > 0), "{api_points:?}");

    // The window's ends follow the header's time choice (the browser is 5:30 off UTC).
    let from = stats["window"]["from_rfc3339"].as_str().unwrap();
    let utc_from = from.replace('T', " ").replace('Z', "");
    let local = b.texts("[data-field=window]");
    assert!(!local[0].starts_with(&utc_from), "{local:?} is local time");
    b.click("#zone-utc");
    b.wait(
        "the window in UTC",
        &format!("return document.querySelector('[data-field=window]').textContent.startsWith('{utc_from}')"),
    );
    b.click("#zone-local");
    b.wait(
        "the window in local time again",
        &format!(
            "return document.querySelector('[data-field=window]').textContent === {:?}",
            local[0]
        ),
    );

    // Sorting by p50, slowest first, then the other way; the API's order first.
    b.click("button[data-sort=p50]");
    let mut by_p50: Vec<(&str, f64)> = per_task
        .iter()
        .map(|t| {
            (
                t["task"].as_str().unwrap(),
                t["p50_seconds"].as_f64().unwrap(),
            )
        })
        .collect();
    by_p50.sort_by(|a, b| b.1.total_cmp(&a.1));
    let order = |b: &Browser| {
        b.js(
            "return [...document.querySelectorAll('.per-task tbody tr')].map(r => r.dataset.task)",
            json!([]),
        )
    };
    let slowest: Vec<&str> = by_p50.iter().map(|t| t.0).collect();
    assert_eq!(order(&b), json!(slowest));
    assert_eq!(
        b.js(
            "return document.activeElement.dataset.sort + ' ' + document.activeElement.closest('th').getAttribute('aria-sort')",
            json!([])
        ),
        json!("p50 descending"),
        "the keyboard stays on the header"
    );
    b.keys(&["\u{E007}"]);
    let fastest: Vec<&str> = by_p50.iter().rev().map(|t| t.0).collect();
    assert_eq!(order(&b), json!(fastest));

    // The flaky units, ranked as the API ranks them, each with its runs.
    let flaky = d.get_ok("/api/history/flaky?project=%2Fsrc%2Fapp&since=7d");
    let tasks = flaky["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{flaky}");
    assert_eq!(tasks[0]["task"], "api");
    assert_eq!(
        b.texts(".flaky [data-field=flip-rate]"),
        [format!("{} flip rate", rate_text(&tasks[0]["flip_rate"]))]
    );
    assert_eq!(
        b.texts(".flaky [data-field=flips]"),
        [format!(
            "{} flips in {} executions · {} failed · {} succeeded",
            tasks[0]["flips"], tasks[0]["executions"], tasks[0]["failed"], tasks[0]["success"]
        )]
    );
    let links = b.js(
        "return [...document.querySelectorAll('.flaky .flip-run')].map(a => a.dataset.run)",
        json!([]),
    );
    let api_runs: Vec<&str> = tasks[0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(links, json!(api_runs));
    shot(&b, "insights");
    assert_accessible(&b, "the insights view");
    b.js(
        "document.querySelector('#ins-flaky').scrollIntoView()",
        json!([]),
    );
    shot(&b, "insights-flaky");

    // A flip's run opens its detail with the unit selected.
    b.click(&format!(".flaky .flip-run[data-run={}]", api_runs[0]));
    b.wait(
        "the run of the flip",
        &format!(
            "return document.querySelector('[data-field=run-id]')?.textContent === '{}'",
            api_runs[0]
        ),
    );
    assert!(hash_of(&b).contains("unit=api"), "{}", hash_of(&b));
    b.js("history.back()", json!([]));
    b.wait(
        "back on the insights",
        "return document.querySelectorAll('.per-task tbody tr').length > 0 && !document.getElementById('insights').hidden",
    );

    // A unit's name opens its history over the view, as the API lists it.
    b.click(".per-task tr[data-task=web] a");
    b.wait(
        "web's history over the insights",
        "return document.querySelector('[data-field=panel-task]')?.textContent === 'web' && document.querySelectorAll('.exec-table tbody tr').length > 0",
    );
    let web = d.get_ok("/api/history/tasks/web?project=%2Fsrc%2Fapp");
    assert_eq!(
        column(&b, ".exec-table tbody tr", "duration"),
        web["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| secs_text(&e["duration_seconds"]))
            .collect::<Vec<_>>()
    );
    assert!(hash_of(&b).contains("task=web"), "{}", hash_of(&b));
    b.click("[data-action=close-drawer]");
    b.wait(
        "the panel closed",
        "return document.querySelector('.drawer').hidden",
    );

    // The 30-day window takes in the two older runs; it is in the URL.
    b.click("[data-window='30d']");
    b.wait(
        "the 30-day figures",
        "return document.querySelector('[data-stat=runs] [data-field=value]')?.textContent === '6'",
    );
    assert!(hash_of(&b).contains("since=30d"), "{}", hash_of(&b));
    let stats30 = d.get_ok("/api/history/stats?project=%2Fsrc%2Fapp&since=30d&trend=true");
    assert_eq!(card("runs"), [stats30["runs"]["total"].to_string()]);
    assert_eq!(
        card("success-rate"),
        [rate_text(&stats30["runs"]["success_rate"])]
    );

    // All repositories: /src/lib's unit joins, with its repository named.
    b.js(
        "const s = document.getElementById('repo'); s.value = '*'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    b.wait(
        "every repository",
        "return document.querySelector('.per-task tr[data-task=build]')",
    );
    let all = d.get_ok("/api/history/stats?since=30d&trend=true");
    assert_eq!(card("runs"), [all["runs"]["total"].to_string()]);
    assert_eq!(
        b.texts(".per-task tr[data-task=build] td.mono")[0],
        "/src/lib"
    );

    // A repository whose units never flipped; one with no run at all.
    b.goto(&d.url("/#/insights?repo=%2Fsrc%2Flib&since=7d"));
    b.wait(
        "no flaky unit in /src/lib",
        "return document.querySelector('[data-empty=flaky]')",
    );
    assert_eq!(card("runs"), ["1"]);
    b.goto(&d.url("/#/insights?repo=%2Fsrc%2Fnone&since=7d"));
    b.wait(
        "no run in /src/none",
        "return document.querySelector('[data-empty=insights]')",
    );
    assert_eq!(
        b.texts("[data-empty=insights] h2"),
        ["No runs recorded yet"]
    );
}

#[test]
fn a_units_history_opens_from_the_run_detail_with_every_execution_and_failed_only() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    seed(&d);
    b.goto(&d.url("/#/history?repo=%2Fsrc%2Fapp&run=run_5&unit=api"));
    b.wait(
        "the history button of the selected unit",
        "const b = document.querySelector('[data-action=task-history]'); return b && !b.hidden",
    );
    assert_eq!(b.texts("[data-action=task-history]"), ["History of api"]);
    b.click("[data-action=task-history]");
    b.wait(
        "the executions",
        "return document.querySelectorAll('.exec-table tbody tr').length > 0",
    );
    assert!(hash_of(&b).contains("task=api"), "{}", hash_of(&b));
    let api = d.get_ok("/api/history/tasks/api?project=%2Fsrc%2Fapp");
    let execs = api["executions"].as_array().unwrap();
    assert_eq!(execs.len(), 6, "{api}");
    let runs = b.js(
        "return [...document.querySelectorAll('.exec-table tbody tr')].map(r => r.dataset.run)",
        json!([]),
    );
    let api_runs: Vec<&str> = execs.iter().map(|e| e["run"].as_str().unwrap()).collect();
    assert_eq!(runs, json!(api_runs), "newest first, as the API");
    let statuses = b.js(
        "return [...document.querySelectorAll('.exec-table tbody tr')].map(r => r.dataset.status)",
        json!([]),
    );
    let api_statuses: Vec<&str> = execs
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, json!(api_statuses));
    let rows = ".exec-table tbody tr";
    let exits: Vec<String> = execs
        .iter()
        .map(|e| {
            e["exit_code"]
                .as_i64()
                .map_or("–".into(), |c| c.to_string())
        })
        .collect();
    assert_eq!(column(&b, rows, "exit"), exits);
    let durations: Vec<String> = execs
        .iter()
        .map(|e| secs_text(&e["duration_seconds"]))
        .collect();
    assert_eq!(column(&b, rows, "duration"), durations);
    assert_eq!(durations[0], "11s", "run_5's api ran 11 s");
    // The open run is marked; the chart has one bar per execution.
    assert_eq!(b.texts(".exec-table tr.current .tag"), ["this run"]);
    let bars = b.js(
        "return document.querySelectorAll('.dur-chart rect.bar').length",
        json!([]),
    );
    assert_eq!(bars, json!(6));
    assert_eq!(b.texts(".dur-chart .p50-label"), ["p50 12s"]);
    let failed = api_statuses.iter().filter(|s| **s == "failed").count();
    assert_eq!(
        b.texts("[data-field=task-summary]"),
        [format!(
            "6 executions · ✓ {} success · ✗ {failed} failed · p50 {} · p90 {}",
            6 - failed,
            // Nearest rank over 11, 12, 10, 30, 30, 31 (sorted 10 11 12 30 30 31).
            "12s",
            "31s"
        )]
    );
    let focused_in_panel = b.js(
        "return document.querySelector('.drawer').contains(document.activeElement)",
        json!([]),
    );
    assert_eq!(
        focused_in_panel,
        json!(true),
        "the keyboard moves to the panel"
    );
    shot(&b, "task-history");
    assert_accessible(&b, "a unit's history");

    // Failed only: what `status=failed` returns, in the URL, after a reload.
    b.click("[data-action=failed-only]");
    b.wait(
        "failed executions only",
        &format!("return document.querySelectorAll('.exec-table tbody tr').length === {failed}"),
    );
    assert!(hash_of(&b).contains("failed=1"), "{}", hash_of(&b));
    let only = d.get_ok("/api/history/tasks/api?project=%2Fsrc%2Fapp&status=failed");
    let only_runs: Vec<&str> = only["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["run"].as_str().unwrap())
        .collect();
    b.js("location.reload()", json!([]));
    b.wait(
        "failed executions after a reload",
        &format!("return document.querySelectorAll('.exec-table tbody tr').length === {failed}"),
    );
    let runs = b.js(
        "return [...document.querySelectorAll('.exec-table tbody tr')].map(r => r.dataset.run)",
        json!([]),
    );
    assert_eq!(runs, json!(only_runs));
    assert!(
        b.texts(".exec-table tbody tr [data-status]")
            .iter()
            .all(|s| s == "✗ failed")
    );

    // Esc closes the panel; the URL forgets it, the run stays open.
    b.js(
        "document.querySelector('[data-action=failed-only]').focus()",
        json!([]),
    );
    b.keys(&["\u{E00C}"]);
    b.wait(
        "the panel closed",
        "return document.querySelector('.drawer').hidden",
    );
    let hash = hash_of(&b);
    assert!(
        !hash.contains("task=") && hash.contains("run=run_5"),
        "{hash}"
    );

    // The `h` key opens the selected unit's history.
    b.js("document.activeElement.blur()", json!([]));
    b.keys(&["h"]);
    b.wait(
        "the panel again",
        "return !document.querySelector('.drawer').hidden && document.querySelectorAll('.exec-table tbody tr').length === 6",
    );
}

#[test]
fn a_run_compares_with_the_previous_run_of_its_repository_as_the_api_says() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(b) = browser() else { return };
    let d = Daemon::start();
    seed(&d);
    b.goto(&d.url("/#/history?repo=%2Fsrc%2Fapp&run=run_5"));
    b.wait(
        "the compare button",
        "return document.querySelector('[data-action=compare]')",
    );
    b.click("[data-action=compare]");
    b.wait(
        "the comparison",
        "return document.querySelector('[data-field=compare-counts]')",
    );
    assert!(hash_of(&b).contains("cmp=prev"), "{}", hash_of(&b));
    // The previous run of /src/app (run_4), not /src/lib's newer lib_0.
    let chosen = b.js(
        "return document.getElementById('cmp-other').value",
        json!([]),
    );
    assert_eq!(chosen, json!("run_4"));
    let report = d.get_ok("/api/history/compare?a=run_4&b=run_5");
    let count = |k: &str, f: &dyn Fn(&Value) -> bool| {
        report[k]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| f(c))
            .count()
    };
    let status = count("changed", &|c| c["status_changed"] == true);
    let exit = count("changed", &|c| c["exit_code_changed"] == true);
    let duration = count("changed", &|c| c["duration_changed"] == true);
    let added = report["added"].as_array().unwrap().len();
    let removed = report["removed"].as_array().unwrap().len();
    let unchanged = report["unchanged"].as_array().unwrap().len();
    assert_eq!(
        (status, added, removed),
        (1, 1, 1),
        "api failed; e2e added; lint removed: {report}"
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    assert_eq!(
        b.texts("[data-field=compare-counts]"),
        [[
            plural(status, "status change", "status changes"),
            plural(exit, "exit code change", "exit code changes"),
            plural(duration, "duration beyond noise", "durations beyond noise"),
            plural(added, "unit added", "units added"),
            plural(removed, "unit removed", "units removed"),
            format!("{unchanged} unchanged"),
        ]
        .join(" · ")]
    );
    // Every changed unit, the status change first, with A → B.
    let units = b.js(
        "return [...document.querySelectorAll('.cmp-table tbody tr')].map(r => r.dataset.unit)",
        json!([]),
    );
    assert_eq!(units[0], "api");
    let mut api_units: Vec<&str> = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["task"].as_str().unwrap())
        .collect();
    let mut shown: Vec<String> = serde_json::from_value(units).unwrap();
    shown.sort();
    api_units.sort_unstable();
    assert_eq!(shown, api_units);
    let api_row = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["task"] == "api")
        .unwrap();
    assert_eq!(
        b.texts(".cmp-table tr[data-unit=api] [data-field=status]"),
        [format!(
            "✓ {} → ✗ {} changed",
            api_row["a"]["status"].as_str().unwrap(),
            api_row["b"]["status"].as_str().unwrap()
        )]
    );
    assert_eq!(
        b.texts(".cmp-table tr[data-unit=api] [data-field=duration]"),
        [format!(
            "{} → {} changed",
            secs_text(&api_row["a"]["duration_seconds"]),
            secs_text(&api_row["b"]["duration_seconds"])
        )]
    );
    assert_eq!(
        b.texts("[data-section=added] li[data-unit]")
            .iter()
            .map(|t| t.split_whitespace().next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        ["e2e"]
    );
    assert_eq!(
        b.texts("[data-section=removed] li[data-unit]")
            .iter()
            .map(|t| t.split_whitespace().next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        ["lint"]
    );
    shot(&b, "compare");
    assert_accessible(&b, "the run comparison");

    // Esc closes the panel; `c` opens it again.
    b.js("document.getElementById('cmp-other').blur(); document.querySelector('.drawer-title').focus()", json!([]));
    b.keys(&["\u{E00C}"]);
    b.wait(
        "the panel closed",
        "return document.querySelector('.drawer').hidden",
    );
    assert!(!hash_of(&b).contains("cmp="), "{}", hash_of(&b));
    b.js("document.activeElement.blur()", json!([]));
    b.keys(&["c"]);
    b.wait(
        "the comparison again",
        "return !document.querySelector('.drawer').hidden && document.getElementById('cmp-other')?.value === 'run_4'",
    );

    // Another run: chosen in the panel, in the URL, compared as the API says.
    b.js(
        "const s = document.getElementById('cmp-other'); s.value = 'run_2'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    b.wait(
        "the comparison with run_2",
        "return document.querySelector('[data-side=a] a')?.textContent === 'run_2'",
    );
    assert!(hash_of(&b).contains("cmp=run_2"), "{}", hash_of(&b));
    let report2 = d.get_ok("/api/history/compare?a=run_2&b=run_5");
    let changed2 = report2["changed"].as_array().unwrap().len();
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.cmp-table tbody tr').length",
            json!([])
        ),
        json!(changed2)
    );

    // A unit in the comparison opens its history.
    b.click(".cmp-table tr[data-unit=web] a");
    b.wait(
        "web's history",
        "return document.querySelector('[data-field=panel-task]')?.textContent === 'web' && document.querySelectorAll('.exec-table tbody tr').length === 6",
    );

    // The first run of the repository has nothing before it.
    b.goto(&d.url("/#/history?repo=%2Fsrc%2Fapp&run=run_0&cmp=prev"));
    b.wait(
        "no earlier run",
        "return document.querySelector('[data-empty=no-previous]')",
    );
}
