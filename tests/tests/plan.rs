//! End-to-end: the clean plan is never hidden. On a four-month history the
//! share guard holds most of every project's deletions; `clean`,
//! `run-policies`, `usage` and `why` must still show every run the policy
//! would delete, with its reason, the guard's verdict and the flag that lets
//! it through — and agree with each other about what `clean` really does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::collections::BTreeSet;
use std::process::{Command, Output};

use otto_hooks_tests::otto_home::{ProjectHandle, RowStatus, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A project's runs, with the ones older than 30 days apart.
struct History {
    project: ProjectHandle,
    runs: Vec<RunHandle>,
    /// Ids of the runs older than 30 days: what `--keep 30` would delete.
    old: BTreeSet<String>,
}

/// Four months of history: a run of `web` every 8 hours, of `api` every
/// 12, of `docs` every day, for 120 days. The first run starts 3 hours after
/// the 120-day mark, so no run lies within an hour of the 30-day cutoff
/// (the test's clock and the command's differ by seconds).
fn four_months(w: &OttoWorld) -> Vec<History> {
    let now = now();
    // otto recorded every run: statuses are facts, not guesses.
    let db = w.otto.db();
    [("web", 8), ("api", 12), ("docs", 24)]
        .into_iter()
        .map(|(name, every)| {
            let project = w.project(name);
            let mut runs = Vec::new();
            let mut old = BTreeSet::new();
            let mut t = now - 120 * DAY + 3 * HOUR;
            while t < now - HOUR {
                let run = project
                    .run(t)
                    .task("build", TaskSpec::ok().stdout("ok\n"))
                    .write();
                db.row(&run, RowStatus::Success);
                if t < now - 30 * DAY {
                    old.insert(run.id.clone());
                }
                runs.push(run);
                t += every * HOUR;
            }
            History { project, runs, old }
        })
        .collect()
}

/// Runs `otto-hooks ARGS` on `w` with `TZ` set (`OttoWorld::run` clears
/// the environment): plan lines show local time.
fn run_tz(w: &OttoWorld, tz: &str, args: &[&str]) -> Output {
    Command::new(otto_hooks_tests::otto_hooks_binary())
        .args(args)
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TZ", tz)
        .current_dir(w.dir.path())
        .bounded_output()
        .unwrap()
}

/// `otto-hooks ARGS` (with `--json`): exit code and document.
fn json(w: &OttoWorld, args: &[&str]) -> (i32, Value) {
    let out = w.run(args);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap(), doc)
}

/// The `project/run` names of a document's list `key`.
fn names(doc: &Value, key: &str) -> BTreeSet<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["project"].as_str().unwrap(),
                r["run"].as_str().unwrap()
            )
        })
        .collect()
}

fn all_old(histories: &[History]) -> BTreeSet<String> {
    histories
        .iter()
        .flat_map(|h| {
            h.old
                .iter()
                .map(|id| format!("{}/{id}", h.project.dir_name()))
        })
        .collect()
}

/// The `--max-share` that lets every project's old runs go: the largest
/// share, in whole percents rounded up.
fn needed_flag(histories: &[History]) -> String {
    let share = histories
        .iter()
        .map(|h| (h.old.len() * 100).div_ceil(h.runs.len()))
        .max()
        .unwrap();
    format!("--max-share {share}")
}

fn bytes(doc: &Value, key: &str) -> u64 {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["size_bytes"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_held_dry_run_lists_every_run_with_its_reason_the_guard_verdict_and_the_flag() {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let (code, doc) = json(&w, &["clean", "--keep", "30", "--dry-run", "--json"]);
    assert_eq!(
        code, 0,
        "a dry run that shows its plan is not a failure: {doc:#}"
    );
    assert!(doc["deleted"].as_array().unwrap().is_empty(), "{doc:#}");
    assert!(doc["refused"].as_array().unwrap().is_empty(), "{doc:#}");
    assert_eq!(
        names(&doc, "held"),
        all_old(&histories),
        "every run the policy would delete is shown"
    );
    for run in doc["held"].as_array().unwrap() {
        assert_eq!(
            run["reasons"],
            serde_json::json!(["older than 30d"]),
            "{run:#}"
        );
        let held = run["held"].as_str().unwrap();
        assert!(
            held.starts_with("held by guard: would delete ") && held.contains("max_share 50%"),
            "{held}"
        );
        assert!(run["timestamp"].is_i64() && run["started_at"].as_str().unwrap().ends_with('Z'));
    }
    for g in doc["groups"].as_array().unwrap() {
        let h = histories
            .iter()
            .find(|h| h.project.dir_name() == g["project"])
            .unwrap();
        assert_eq!(g["held"], h.old.len() as u64, "{g:#}");
        assert_eq!(g["deleted"], 0);
        assert_eq!(g["kept"], h.runs.len() as u64, "held runs are kept");
        let guard = g["guard"].as_str().unwrap();
        assert!(
            guard.contains(&format!("{} of {} runs", h.old.len(), h.runs.len())),
            "{guard}"
        );
    }
    // The flag named is exactly what lets every held run through.
    let allow = doc["allow"].as_str().unwrap();
    assert_eq!(allow, needed_flag(&histories));
    let share: u8 = allow.strip_prefix("--max-share ").unwrap().parse().unwrap();
    let (code, through) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--dry-run",
            "--json",
            "--max-share",
            &share.to_string(),
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(names(&through, "deleted"), all_old(&histories));
    assert!(through["held"].as_array().unwrap().is_empty());
    let below = (share - 1).to_string();
    let (_, short) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--dry-run",
            "--json",
            "--max-share",
            &below,
        ],
    );
    assert!(
        !short["held"].as_array().unwrap().is_empty(),
        "one percent less holds some"
    );

    // The table says the same, the flag on its last line.
    let out = w.run(&["clean", "--keep", "30", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    for name in all_old(&histories) {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} is not listed:\n{table}"));
        assert!(
            line.contains("older than 30d") && line.contains("held by guard"),
            "{line}"
        );
    }
    assert!(
        table.trim_end().ends_with(&format!("pass {allow}")),
        "{table}"
    );
}

#[test]
fn without_a_terminal_a_held_clean_deletes_nothing_and_exits_1_then_the_flag_deletes_exactly_the_plan()
 {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let out = w.run(&["clean", "--keep", "30"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the deletion is refused: {}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    let flag = needed_flag(&histories);
    assert!(
        err.contains("held by the guard") && err.contains(&flag),
        "{err}"
    );
    assert!(
        text(&out.stdout).contains("held by guard"),
        "the plan is printed"
    );
    // --yes alone: each held project is refused, once.
    let (code, done) = json(&w, &["clean", "--keep", "30", "--yes", "--json"]);
    assert_eq!(code, 1, "{done:#}");
    let refused: Vec<&Value> = done["refused"].as_array().unwrap().iter().collect();
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|r| r["run"] == "*" && r["error"].as_str().unwrap().contains("pass --max-share "))
    );
    assert!(
        histories
            .iter()
            .all(|h| h.runs.iter().all(|r| r.dir.exists())),
        "nothing deleted"
    );

    let share = flag.strip_prefix("--max-share ").unwrap();
    let (_, plan) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--dry-run",
            "--json",
            "--max-share",
            share,
        ],
    );
    let (code, done) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--yes",
            "--json",
            "--max-share",
            share,
        ],
    );
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(names(&done, "deleted"), names(&plan, "deleted"));
    assert_eq!(names(&done, "deleted"), all_old(&histories));
    for h in &histories {
        for r in &h.runs {
            assert_eq!(
                r.dir.exists(),
                !h.old.contains(&r.id),
                "{}",
                r.dir.display()
            );
        }
    }
}

#[test]
fn run_policies_dry_run_shows_the_held_plan_and_exits_0() {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let (code, doc) = json(&w, &["run-policies", "--dry-run", "--json", "--keep", "30"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(names(&doc, "held"), all_old(&histories));
    assert_eq!(doc["allow"], needed_flag(&histories).as_str());
}

/// `usage --json ARGS`' first recommendation, and the `clean` it names run
/// as a dry run.
fn advice_and_its_clean(w: &OttoWorld, args: &[&str]) -> (Value, Value) {
    let mut usage = vec!["usage", "--json"];
    usage.extend_from_slice(args);
    let (code, report) = json(w, &usage);
    assert_eq!(code, 0);
    let advice = report["recommendations"][0].clone();
    let command = advice["command"].as_str().unwrap().to_owned();
    let mut clean: Vec<&str> = command.split(' ').collect();
    assert_eq!(clean.remove(0), "otto-hooks");
    assert_eq!(clean[0], "clean", "{command}");
    clean.extend(["--dry-run", "--json"]);
    let (code, plan) = json(w, &clean);
    assert_eq!(code, 0, "{plan:#}");
    (advice, plan)
}

#[test]
fn usage_advice_names_the_clean_that_really_deletes_what_it_says() {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let (advice, plan) = advice_and_its_clean(&w, &["--keep", "30"]);
    let message = advice["message"].as_str().unwrap();
    assert!(message.contains("guard holds"), "{message}");
    assert_eq!(
        advice["command"],
        format!("otto-hooks clean --keep 30 {}", needed_flag(&histories))
    );
    let n = all_old(&histories).len();
    assert!(
        message.contains(&format!("would delete {n} run(s)")),
        "{message}"
    );
    assert_eq!(names(&plan, "deleted").len(), n);
    assert_eq!(advice["bytes"].as_u64().unwrap(), bytes(&plan, "deleted"));
    assert!(plan["held"].as_array().unwrap().is_empty());

    // Scoped to one project, and with a policy the guard lets through.
    let web = histories[0].project.dir_name();
    let (advice, plan) = advice_and_its_clean(&w, &["--keep", "100", "--project", &web]);
    assert_eq!(
        advice["command"],
        format!("otto-hooks clean --keep 100 --project {web}")
    );
    assert!(!advice["message"].as_str().unwrap().contains("guard"));
    let deleted = names(&plan, "deleted");
    assert!(!deleted.is_empty() && deleted.iter().all(|d| d.starts_with(&format!("{web}/"))));
    assert_eq!(advice["bytes"].as_u64().unwrap(), bytes(&plan, "deleted"));
    assert!(
        advice["message"]
            .as_str()
            .unwrap()
            .contains(&format!("would delete {} run(s)", deleted.len()))
    );
}

#[test]
fn why_names_the_guard_for_a_held_run_and_not_for_a_kept_one() {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let web = &histories[0];
    let old = web.old.iter().next().unwrap();
    let run = format!("{}/{old}", web.project.dir_name());
    let (code, doc) = json(&w, &["why", &run, "--keep", "30", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(names(&doc, "held"), BTreeSet::from([run.clone()]));
    assert!(
        doc["kept"].as_array().unwrap().is_empty() && doc["refused"].as_array().unwrap().is_empty()
    );
    // The guard is about the run's project alone.
    let web_share = (web.old.len() * 100).div_ceil(web.runs.len());
    assert_eq!(doc["allow"], format!("--max-share {web_share}"));
    assert!(
        doc["held"][0]["held"]
            .as_str()
            .unwrap()
            .contains("held by guard")
    );
    let out = w.run(&["why", &run, "--keep", "30"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("held by guard") && table.contains(&format!("--max-share {web_share}")),
        "{table}"
    );

    let newest = web.runs.last().unwrap();
    let (_, doc) = json(&w, &["why", &newest.id, "--keep", "30", "--json"]);
    assert_eq!(doc["kept"][0]["run"], newest.id.as_str());
    assert!(
        doc["held"].as_array().unwrap().is_empty() && doc["refused"].as_array().unwrap().is_empty()
    );
    assert!(
        doc["allow"].is_null(),
        "the guard says nothing about a kept run"
    );
}

#[test]
fn plan_lines_show_the_start_in_local_time_and_the_age() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let started = now() - 45 * DAY - 5 * HOUR;
    let run = web.run(started).task("build", TaskSpec::ok()).write();
    web.run(now() - DAY).task("build", TaskSpec::ok()).write();
    let out = run_tz(
        &w,
        "PLAN-05:45",
        &["clean", "--keep", "30", "--keep-last", "1", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let local = chrono::DateTime::from_timestamp(started as i64, 0)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 45 * 60).unwrap())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let table = text(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.contains(&run.id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(&format!("{local}  (45 days)")), "{line}");
    // JSON: epoch seconds and RFC 3339 UTC.
    let (_, doc) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--keep-last",
            "1",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(doc["deleted"][0]["timestamp"], started);
    let utc = chrono::DateTime::from_timestamp(started as i64, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(doc["deleted"][0]["started_at"], utc);
}

/// `otto-hooks ARGS` on `w`, on a pseudo-terminal, typing `answer`: the
/// exit code and what the terminal showed.
fn on_a_terminal(w: &OttoWorld, args: &[&str], answer: &str) -> (i32, String) {
    let mut command = Command::new(otto_hooks_tests::otto_hooks_binary());
    command
        .args(args)
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(w.dir.path());
    let screen = otto_hooks_tests::pty::on_a_terminal(&command, answer);
    (screen.code, screen.text)
}

#[test]
fn on_a_terminal_the_plan_is_shown_once_then_only_the_outcome() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let old: Vec<RunHandle> = (0..3)
        .map(|i| {
            web.run(now() - (40 + i) * DAY)
                .task("build", TaskSpec::ok())
                .write()
        })
        .collect();
    let new: Vec<RunHandle> = (0..4)
        .map(|i| {
            web.run(now() - (1 + i) * DAY)
                .task("build", TaskSpec::ok())
                .write()
        })
        .collect();
    let (code, screen) = on_a_terminal(&w, &["clean", "--keep", "30", "--keep-last", "1"], "y\n");
    assert_eq!(code, 0, "{screen}");
    let question = screen
        .find("Delete 3 run(s)")
        .unwrap_or_else(|| panic!("{screen}"));
    for r in &old {
        assert_eq!(
            screen.matches(&r.id).count(),
            1,
            "listed once, before the question:\n{screen}"
        );
        assert!(screen.find(&r.id).unwrap() < question);
        assert!(!r.dir.exists());
    }
    let after = &screen[question..];
    assert!(
        after.contains("DELETED") && after.contains("Freed"),
        "the outcome:\n{screen}"
    );
    assert!(new.iter().all(|r| r.dir.exists()));

    // Saying no deletes nothing.
    let older = web
        .run(now() - 50 * DAY)
        .task("build", TaskSpec::ok())
        .write();
    let (code, screen) = on_a_terminal(&w, &["clean", "--keep", "30", "--keep-last", "1"], "n\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("nothing deleted"), "{screen}");
    assert!(older.dir.exists());
}

#[test]
fn the_project_scope_applies_to_the_plan_the_flag_and_the_advice() {
    let w = OttoWorld::new();
    let histories = four_months(&w);
    let docs = &histories[2];
    let name = docs.project.dir_name();
    let share = (docs.old.len() * 100).div_ceil(docs.runs.len());
    let (code, plan) = json(
        &w,
        &[
            "clean",
            "--keep",
            "30",
            "--dry-run",
            "--json",
            "--project",
            &name,
        ],
    );
    assert_eq!(code, 0);
    let expected: BTreeSet<String> = docs.old.iter().map(|id| format!("{name}/{id}")).collect();
    assert_eq!(names(&plan, "held"), expected, "only the project's runs");
    assert_eq!(
        plan["allow"],
        format!("--max-share {share}"),
        "the project's own share"
    );
    let (advice, through) = advice_and_its_clean(&w, &["--keep", "30", "--project", &name]);
    assert_eq!(
        advice["command"],
        format!("otto-hooks clean --keep 30 --project {name} --max-share {share}")
    );
    assert_eq!(names(&through, "deleted"), expected);
    assert_eq!(
        advice["bytes"].as_u64().unwrap(),
        bytes(&through, "deleted")
    );
    assert!(
        advice["message"]
            .as_str()
            .unwrap()
            .contains(&format!("would delete {} run(s)", expected.len()))
    );
}
