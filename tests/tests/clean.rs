//! End-to-end: `otto-hooks clean | run-policies | why` on real otto layouts.
//! Every cleanup mistake otto itself made (FORMATS.md) is a test here: each
//! tries to make otto-hooks delete the wrong thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;
use std::process::Command;

use otto_hooks_tests::otto_home::{ProjectHandle, RowStatus, RunHandle, TaskSpec, set_mtime};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `clean --json …` on an [`OttoWorld`].
trait Clean {
    /// Runs `clean --json …` and returns (exit code, document).
    fn clean(&self, extra: &[&str]) -> (i32, Value);
}

impl Clean for OttoWorld {
    fn clean(&self, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["clean", "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: {e}: {}{}", text(&out.stdout), text(&out.stderr))
        });
        (out.status.code().unwrap(), doc)
    }
}

/// A run `days` days old.
fn aged(p: &ProjectHandle, days: u64) -> RunHandle {
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok().stdout("ok\n"))
        .write()
}

fn deleted(doc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["run"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn du(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sb")
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

#[test]
fn keep_days_deletes_exactly_the_old_runs_of_every_name_dash_hash_project() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let otto = w.project("otto");
    let old_web = aged(&web, 40);
    let new_web = aged(&web, 2);
    let old_otto = aged(&otto, 50);
    let size = du(&old_web.dir) + du(&old_otto.dir);
    // `otto` would lose its only run: held without --force; a dry run
    // shows the held run with the guard's verdict and the flag.
    let (code, held) = w.clean(&["--keep", "30", "--keep-last", "0", "--dry-run"]);
    assert_eq!(code, 0, "{held:#}");
    assert_eq!(held["held"][0]["run"], old_otto.id.as_str());
    assert!(
        held["held"][0]["held"]
            .as_str()
            .unwrap()
            .contains(&format!("every run of {}", otto.dir_name()))
    );
    assert_eq!(held["allow"], "--force");
    let (code, plan) = w.clean(&["--keep", "30", "--keep-last", "0", "--dry-run", "--force"]);
    assert_eq!(code, 0);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(deleted(&plan), {
        let mut v = vec![old_web.id.clone(), old_otto.id.clone()];
        v.sort();
        v
    });
    assert!(old_web.dir.exists(), "a dry run changes nothing");
    let (code, done) = w.clean(&["--keep", "30", "--keep-last", "0", "--yes", "--force"]);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(done["dry_run"], false);
    assert!(!old_web.dir.exists() && !old_otto.dir.exists());
    assert!(new_web.dir.exists());
    assert_eq!(done["bytes_freed"], size, "bytes freed are what du counted");
    for d in done["deleted"].as_array().unwrap() {
        for key in ["project", "run", "size_bytes", "reasons"] {
            assert!(d.get(key).is_some(), "{key}: {d:#}");
        }
    }
}

#[test]
fn keep_last_keeps_the_newest_runs_not_the_oldest() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let runs: Vec<RunHandle> = (0..6).map(|i| aged(&web, 100 + i)).collect();
    let (code, plan) = w.clean(&["--keep", "30", "--keep-last", "2", "--dry-run", "--force"]);
    assert_eq!(code, 0);
    // runs[0] and runs[1] are the newest (100 and 101 days old).
    let mut expected: Vec<String> = runs[2..].iter().map(|r| r.id.clone()).collect();
    expected.sort();
    assert_eq!(deleted(&plan), expected);
    let kept: Vec<&Value> = plan["kept"].as_array().unwrap().iter().collect();
    let last1 = kept
        .iter()
        .find(|k| k["run"] == runs[0].id.as_str())
        .unwrap();
    assert_eq!(last1["reasons"], serde_json::json!(["last#1"]));
}

#[test]
fn a_live_run_is_never_deleted_even_when_every_age_rule_would_delete_it() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let live = aged(&web, 90);
    let dead = aged(&web, 91);
    w.otto.db().row(&live, RowStatus::Running);
    let _held = live.hold_lock();
    let (code, done) = w.clean(&[
        "--keep",
        "1",
        "--keep-failed",
        "1",
        "--keep-last",
        "0",
        "--yes",
        "--force",
    ]);
    assert_eq!(code, 0, "{done:#}");
    assert!(live.dir.exists(), "a held .lock means live");
    assert!(!dead.dir.exists());
    let kept = done["groups"][0]["kept"].as_u64().unwrap();
    assert_eq!(kept, 1);
}

#[test]
fn symlinked_projects_and_runs_never_lead_outside_the_root() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let old = aged(&web, 60);
    let outside = w.dir.subdir("outside", 0o700);
    let evil_project = w.otto.symlinked_project_to(&outside.join("p"));
    let evil_run = web.symlinked_run_to(&outside.join("r"), now() - 90 * DAY);
    let (code, done) = w.clean(&["--keep", "1", "--keep-last", "0", "--yes", "--force"]);
    assert_eq!(code, 0, "{done:#}");
    assert!(!old.dir.exists());
    for evil in [&evil_project, &evil_run] {
        assert!(
            evil.victim.exists(),
            "{} must survive",
            evil.victim.display()
        );
        assert!(
            std::fs::symlink_metadata(&evil.link).is_ok(),
            "the link itself is not a run"
        );
    }
}

#[test]
fn names_that_are_not_projects_or_runs_are_never_touched() {
    let w = OttoWorld::new();
    let web = w.project("web");
    aged(&web, 60);
    let others = w.otto.non_project_dirs();
    let non_runs = web.non_run_entries();
    w.clean(&["--keep", "1", "--keep-last", "0", "--yes", "--force"]);
    for p in others.iter().chain(&non_runs) {
        assert!(
            std::fs::symlink_metadata(p).is_ok(),
            "{} must survive",
            p.display()
        );
    }
    assert!(w.otto.root().join("otto.db").exists() || !w.otto.db_path().exists());
    assert!(
        web.dir.exists() && web.cache_dir().exists(),
        "a project dir and its cache stay"
    );
}

#[test]
fn same_second_runs_are_seen_and_ordered_by_suffix() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let ts = now() - 80 * DAY;
    let plain = web.run(ts).task("build", TaskSpec::ok()).write();
    let one = web.run(ts).suffix(1).task("build", TaskSpec::ok()).write();
    let two = web.run(ts).suffix(2).task("build", TaskSpec::ok()).write();
    let (_, plan) = w.clean(&["--keep", "30", "--keep-last", "1", "--dry-run", "--force"]);
    let mut expected = vec![plain.id.clone(), one.id.clone()];
    expected.sort();
    assert_eq!(deleted(&plan), expected, "the newest is `-2`");
    assert!(two.dir.exists());
}

#[test]
fn the_project_filter_is_exact() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let webapp = w.project("webapp");
    let a = aged(&web, 60);
    let b = aged(&webapp, 60);
    let (_, plan) = w.clean(&[
        "--project",
        "web",
        "--keep",
        "1",
        "--keep-last",
        "0",
        "--dry-run",
        "--force",
    ]);
    assert_eq!(deleted(&plan), vec![a.id.as_str()]);
    // A part of a name is no project: an error (exit 2), nothing planned.
    let none = w.run(&[
        "clean",
        "--json",
        "--project",
        "we",
        "--keep",
        "1",
        "--keep-last",
        "0",
        "--yes",
        "--force",
    ]);
    assert_eq!(none.status.code(), Some(2));
    assert!(none.stdout.is_empty());
    assert!(text(&none.stderr).contains("no project `we`"));
    assert!(a.dir.exists() && b.dir.exists());
}

#[test]
fn directories_without_a_database_row_are_cleaned_too() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let with_row = aged(&web, 70);
    let orphan = aged(&web, 71);
    w.otto.db().row(&with_row, RowStatus::Success);
    let (_, plan) = w.clean(&["--keep", "30", "--keep-last", "0", "--dry-run", "--force"]);
    let mut expected = vec![with_row.id.clone(), orphan.id.clone()];
    expected.sort();
    assert_eq!(deleted(&plan), expected);
}

#[test]
fn deleting_every_run_or_most_of_a_project_needs_force() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let runs: Vec<RunHandle> = (0..4).map(|i| aged(&web, 60 + i)).collect();
    let (code, plan) = w.clean(&["--keep", "30", "--keep-last", "0", "--yes"]);
    assert_eq!(code, 1, "a refusal is exit 1: {plan:#}");
    let refused = plan["refused"][0]["error"].as_str().unwrap();
    assert!(
        refused.contains("every run") && refused.contains("4 of 4") && refused.contains("--force"),
        "{refused}"
    );
    assert!(runs.iter().all(|r| r.dir.exists()));
    let (code, plan) = w.clean(&["--keep", "30", "--keep-last", "1", "--yes"]);
    assert_eq!(code, 1);
    assert!(
        plan["refused"][0]["error"]
            .as_str()
            .unwrap()
            .contains("3 of 4")
    );
    assert!(runs.iter().all(|r| r.dir.exists()));
    let (code, _) = w.clean(&[
        "--keep",
        "30",
        "--keep-last",
        "1",
        "--yes",
        "--max-share",
        "80",
    ]);
    assert_eq!(code, 0);
    assert_eq!(runs.iter().filter(|r| r.dir.exists()).count(), 1);
}

#[test]
fn without_a_terminal_clean_needs_yes_and_shows_the_plan() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let old = aged(&web, 60);
    aged(&web, 1);
    let out = w.run(&["clean", "--keep", "30", "--keep-last", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains(&old.id), "the plan is printed");
    assert!(text(&out.stderr).contains("--yes"));
    assert!(old.dir.exists());
}

#[test]
fn why_names_every_rule_that_applied() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let newest = aged(&web, 1);
    let old = aged(&web, 45);
    // Recorded statuses (a guess would say so in its reasons).
    let db = w.otto.db();
    db.row(&newest, RowStatus::Success);
    db.row(&old, RowStatus::Success);
    let out = w.run(&["why", &newest.id, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["kept"][0]["reasons"],
        serde_json::json!(["last#1", "within 30d"])
    );
    let out = w.run(&["why", &old.id, "--keep-last", "1", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["deleted"][0]["reasons"],
        serde_json::json!(["older than 30d"])
    );
    assert_eq!(w.run(&["why", "42"]).status.code(), Some(2));
}

#[test]
fn run_policies_applies_the_configured_policy_without_prompting_and_only_when_due() {
    let w = OttoWorld::new();
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[retention]\nkeep_last = 2\n",
    )
    .unwrap();
    let web = w.project("web");
    for i in 0..4 {
        aged(&web, 1 + i);
    }
    let old = aged(&web, 90);
    let out = w.run(&["run-policies", "--if-due", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deleted(&doc), vec![old.id.as_str()]);
    assert!(!old.dir.exists(), "applied without a prompt or --yes");
    let again = aged(&web, 95);
    let out = w.run(&["run-policies", "--if-due", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "not due: nothing printed on stdout");
    assert!(text(&out.stderr).contains("not due"));
    assert!(again.dir.exists());
    let out = w.run(&["run-policies", "--if-due", "--interval", "0s", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!again.dir.exists());
}

#[test]
fn the_example_weekday_plugin_decides_for_the_projects_it_is_configured_for() {
    let w = OttoWorld::new();
    let plugins = w.dir.subdir("plugins", 0o700);
    let lib = otto_hooks_tests::library("weekday-retention");
    let dest = plugins.join(lib.file_name().unwrap());
    std::fs::copy(&lib, &dest).unwrap();
    otto_hooks_tests::set_mode(&dest, 0o644);
    std::fs::write(
        w.hooks_home().join("config.toml"),
        format!(
            "[plugins]\ndirs = [\"{}\"]\n\n[projects.\"web\".retention]\nplugin = \"weekday\"\nweeks = 1\n",
            plugins.display()
        ),
    )
    .unwrap();
    let web = w.project("web");
    let api = w.project("api");
    let recent = aged(&web, 1);
    let old = aged(&web, 20);
    aged(&api, 20);
    let out = w.run(&["run-policies", "--dry-run", "--json", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let policy_of = |project: &str| {
        doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["project"] == project)
            .unwrap()["policy"]
            .clone()
    };
    assert_eq!(policy_of(&web.dir_name()), "retention.weekday");
    assert_eq!(policy_of(&api.dir_name()), "retention.standard");
    let kept = doc["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["run"] == recent.id.as_str())
        .unwrap();
    assert!(
        kept["reasons"][0].as_str().unwrap().starts_with("weekday "),
        "{kept:#}"
    );
    let gone = doc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["run"] == old.id.as_str())
        .unwrap();
    assert_eq!(gone["reasons"], serde_json::json!(["older than 1 week"]));
    assert!(old.dir.exists(), "a dry run");
}

// ---------------------------------------------------------------------------
// Cache garbage collection (`--cache`, `--cache-only`).

/// The cache files named in a document's `cache.deleted`, sorted.
fn cache_deleted(doc: &Value) -> Vec<String> {
    let mut files: Vec<String> = doc["cache"]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap().to_owned())
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn cache_collection_deletes_only_what_no_remaining_run_references() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let t = now();
    // Deleted by the policy: its own script, and one it shares with a kept run.
    let old = web
        .run(t - 40 * DAY)
        .task("build", TaskSpec::ok().script("echo only-the-old-run"))
        .task("test", TaskSpec::ok().script("echo shared"))
        .write();
    let kept = web
        .run(t - 2 * DAY)
        .task("test", TaskSpec::ok().script("echo shared"))
        .write();
    // A live run, old enough for the policy: its script is a root.
    let live = web
        .run(t - 45 * DAY)
        .task("deploy", TaskSpec::ok().script("echo live-only"))
        .write();
    let _held = live.hold_lock();
    // A legacy run (absolute links, per-task cache) that is kept.
    let legacy = web
        .run(t - 3 * DAY)
        .legacy_task_cache()
        .task("lint", TaskSpec::ok().script("echo legacy"))
        .write();
    let stale = web.orphan_cache_file("0badc0de.sh", b"echo nobody\n");
    set_mtime(&stale, t - 3 * 3600);
    let fresh = web.orphan_cache_file("f7e5f7e5.sh", b"echo written, not yet linked\n");
    // A symlink in the cache leading outside: never a candidate, never followed.
    let victim = w.dir.path().join("victim.sh");
    std::fs::write(&victim, b"precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, web.cache_dir().join("5ca1ab1e.sh")).unwrap();

    let only_old = old.tasks[0].cache_file.clone();
    let shared = old.tasks[1].cache_file.clone();
    assert_eq!(shared, kept.tasks[0].cache_file);
    let args = ["--keep", "30", "--keep-last", "0", "--force", "--cache"];

    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let (code, plan) = w.clean(&dry);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(deleted(&plan), vec![old.id.clone()]);
    assert_eq!(
        cache_deleted(&plan),
        vec![file_name(&stale), file_name(&only_old)]
    );
    assert_eq!(plan["cache"]["recent_files"], 1);
    assert_eq!(plan["cache"]["grace_seconds"], 3600);
    assert!(
        only_old.exists() && stale.exists(),
        "a dry run deletes nothing"
    );

    let mut real = args.to_vec();
    real.push("--yes");
    let (code, done) = w.clean(&real);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(done["dry_run"], false);
    assert_eq!(
        cache_deleted(&done),
        vec![file_name(&stale), file_name(&only_old)]
    );
    let sizes: u64 = [b"echo nobody\n".len() as u64, {
        let f = done["cache"]["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == file_name(&only_old).as_str())
            .unwrap();
        f["size_bytes"].as_u64().unwrap()
    }]
    .iter()
    .sum();
    assert_eq!(done["cache"]["bytes_freed"].as_u64().unwrap(), sizes);
    assert!(!only_old.exists() && !stale.exists());
    assert!(shared.exists(), "referenced by a kept run");
    assert!(
        live.tasks[0].cache_file.exists(),
        "referenced by a live run"
    );
    assert!(
        legacy.tasks[0].cache_file.exists(),
        "legacy per-task cache, kept run"
    );
    assert!(fresh.exists(), "younger than the grace period");
    assert!(
        web.cache_dir()
            .join("5ca1ab1e.sh")
            .symlink_metadata()
            .is_ok()
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    assert!(live.dir.exists());
}

#[test]
fn a_cache_file_written_but_not_yet_linked_survives_until_the_grace_period_ends() {
    let w = OttoWorld::new();
    let web = w.project("web");
    aged(&web, 1);
    // A run has just started: its directory exists, its script is in the
    // cache, the link is not written yet.
    let starting = web.run(now()).write();
    let _held = starting.hold_lock();
    let written = web.orphan_cache_file("1234abcd.sh", b"echo about to be linked\n");
    let (code, doc) = w.clean(&["--cache-only", "--yes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(cache_deleted(&doc).is_empty());
    assert_eq!(doc["cache"]["recent_files"], 1);
    assert!(written.exists());
    // Two hours later nobody linked it: an orphan.
    set_mtime(&written, now() - 2 * 3600);
    let (code, doc) = w.clean(&["--cache-only", "--yes"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(cache_deleted(&doc), vec!["1234abcd.sh".to_owned()]);
    assert!(!written.exists());
    // A shorter grace period is the user's choice.
    let again = web.orphan_cache_file("5678abcd.sh", b"x\n");
    set_mtime(&again, now() - 120);
    let (_, doc) = w.clean(&["--cache-only", "--yes", "--grace", "1m"]);
    assert_eq!(cache_deleted(&doc), vec!["5678abcd.sh".to_owned()]);
}

#[test]
fn cache_only_deletes_no_run_and_reports_dangling_and_outside_links() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    let old = aged(&web, 400);
    let dangling = web
        .run(now() - 300 * DAY)
        .task("build", TaskSpec::ok().script("echo its-own"))
        .write();
    std::fs::remove_file(&dangling.tasks[0].cache_file).unwrap();
    let elsewhere = aged(&web, 200);
    let link = &elsewhere.tasks[0].script_link;
    std::fs::remove_file(link).unwrap();
    // Into another project's cache: protects nothing here.
    let api_run = aged(&api, 1);
    std::os::unix::fs::symlink(&api_run.tasks[0].cache_file, link).unwrap();
    let (code, doc) = w.clean(&["--cache-only", "--project", "web", "--dry-run"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(doc["deleted"].as_array().unwrap().is_empty());
    let dangling_links = doc["cache"]["dangling"].as_array().unwrap();
    assert_eq!(dangling_links.len(), 1, "{doc:#}");
    assert_eq!(dangling_links[0]["run"], dangling.id.as_str());
    let outside = doc["cache"]["outside"].as_array().unwrap();
    assert_eq!(outside.len(), 1, "{doc:#}");
    assert_eq!(outside[0]["run"], elsewhere.id.as_str());
    // The exact project filter: api's cache is not looked at.
    assert!(
        doc["cache"]["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["project"] == web.dir_name().as_str())
    );
    let (code, _) = w.clean(&["--cache-only", "--project", "web", "--yes"]);
    assert_eq!(code, 0);
    assert!(old.dir.exists() && dangling.dir.exists() && elsewhere.dir.exists());
    assert!(api_run.tasks[0].cache_file.exists());
}

#[test]
fn the_share_guard_is_a_configuration_key() {
    let w = OttoWorld::new();
    let web = w.project("web");
    for days in [40, 41, 42, 2] {
        aged(&web, days);
    }
    let args = ["--keep", "30", "--keep-last", "0", "--dry-run"];
    let (code, doc) = w.clean(&args);
    assert_eq!(code, 0, "a dry run is not a failure: {doc:#}");
    assert_eq!(
        doc["held"].as_array().unwrap().len(),
        3,
        "3 of 4 is more than the default 50%: {doc:#}"
    );
    assert_eq!(doc["allow"], "--max-share 75");
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[clean]\nmax_share = 80\n",
    )
    .unwrap();
    let (code, doc) = w.clean(&args);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(deleted(&doc).len(), 3);
    // The flag overrides the key.
    let mut strict = args.to_vec();
    strict.extend(["--max-share", "10"]);
    let (code, doc) = w.clean(&strict);
    assert_eq!(code, 0);
    assert_eq!(doc["held"].as_array().unwrap().len(), 3);
    assert!(deleted(&doc).is_empty());
    // A bad value is an error with file:line.
    std::fs::write(
        w.hooks_home().join("config.toml"),
        "[clean]\nmax_share = 150\n",
    )
    .unwrap();
    let out = w.run(&["clean", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("config.toml:2:"), "{err}");
    assert!(err.contains("from 0 to 100"), "{err}");
}

#[test]
fn a_symlinked_cache_or_cache_subdirectory_never_leads_outside_the_root() {
    let w = OttoWorld::new();
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    for f in ["deadbeef.sh", "sub/deadbeef"] {
        std::fs::write(outside.join(f), b"victim\n").unwrap();
        set_mtime(&outside.join(f), now() - 30 * DAY);
    }
    // web: `.cache/build` (a legacy task directory) is a symlink outside.
    let web = w.project("web");
    aged(&web, 1);
    std::os::unix::fs::symlink(outside.join("sub"), web.cache_dir().join("build")).unwrap();
    // api: `.cache` itself is a symlink outside.
    let api = w.project("api");
    aged(&api, 1);
    std::fs::remove_dir_all(api.cache_dir()).unwrap();
    std::os::unix::fs::symlink(&outside, api.cache_dir()).unwrap();
    let (code, doc) = w.clean(&["--cache-only", "--yes"]);
    assert_eq!(code, 1, "api's symlinked .cache is refused: {doc:#}");
    let refused = doc["refused"].as_array().unwrap();
    assert!(
        refused
            .iter()
            .any(|r| r["project"] == api.dir_name().as_str()
                && r["error"].as_str().unwrap().contains("symlink")),
        "{doc:#}"
    );
    assert!(cache_deleted(&doc).is_empty(), "{doc:#}");
    assert_eq!(
        std::fs::read(outside.join("deadbeef.sh")).unwrap(),
        b"victim\n"
    );
    assert_eq!(
        std::fs::read(outside.join("sub/deadbeef")).unwrap(),
        b"victim\n"
    );
}

/// A run `days` days old whose tasks exited 0 while cargo wrote warnings to
/// stderr.
fn warned(p: &ProjectHandle, days: u64) -> RunHandle {
    let warnings = "warning: unused variable: `x`\n --> src/main.rs:2:9\n";
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok().stderr(warnings))
        .task_with_deps("test", &["build"], TaskSpec::ok().stderr(warnings))
        .write()
}

/// A run `days` days old whose `test` task failed.
fn broken(p: &ProjectHandle, days: u64) -> RunHandle {
    p.run(now() - days * DAY)
        .task("build", TaskSpec::ok())
        .task_with_deps(
            "test",
            &["build"],
            TaskSpec::failed("error: 1 test failed\n"),
        )
        .write()
}

/// Every reason of run `id` in a plan's `kept` or `deleted`.
fn reasons(plan: &Value, list: &str, id: &str) -> Vec<String> {
    let run = plan[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}: {plan:#}"));
    run["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn keep_failed_never_deletes_a_guessed_status_sooner_than_an_unknown_run() {
    // The real-world case: no otto.db row, every task exited 0 and wrote
    // warnings to stderr. Beside it a failure otto recorded, a failure
    // guessed from a missing output file, and runs nobody can judge.
    let w = OttoWorld::new();
    let web = w.project("web");
    let warned_10 = warned(&web, 10);
    let broken_10 = broken(&web, 11);
    let recorded_10 = broken(&web, 12);
    let unknown_10 = web.run(now() - 13 * DAY).write(); // no tasks: unknown
    let broken_40 = broken(&web, 40);
    let warned_40 = warned(&web, 41);
    let unknown_40 = web.run(now() - 42 * DAY).write();
    w.otto.db().row(&recorded_10, RowStatus::Failed);

    let listed = w.json(&["list", "--json"]);
    let listed = listed.as_array().unwrap();
    let of = |run: &RunHandle| {
        let r = listed.iter().find(|r| r["run"] == run.id.as_str()).unwrap();
        (
            r["status"].as_str().unwrap().to_owned(),
            r["status_guessed"].as_bool().unwrap(),
        )
    };
    assert_eq!(of(&warned_10), ("success".into(), true));
    assert_eq!(of(&broken_10), ("failed".into(), true));
    assert_eq!(of(&recorded_10), ("failed".into(), false));
    assert_eq!(of(&unknown_10), ("unknown".into(), false));

    let (code, plan) = w.clean(&[
        "--keep-failed",
        "7",
        "--keep-last",
        "0",
        "--dry-run",
        "--force",
    ]);
    assert_eq!(code, 0, "{plan:#}");
    // Only the recorded failure goes at 7 days; the guesses stay as long
    // as the unknown run (keep_days, 30 by default).
    let mut expected = vec![
        recorded_10.id.clone(),
        broken_40.id.clone(),
        warned_40.id.clone(),
        unknown_40.id.clone(),
    ];
    expected.sort();
    assert_eq!(deleted(&plan), expected, "{plan:#}");
    assert_eq!(
        reasons(&plan, "deleted", &recorded_10.id),
        ["failed, older than 7d"]
    );
    for run in [&warned_10, &broken_10] {
        assert_eq!(
            reasons(&plan, "kept", &run.id),
            ["within 30d (status guessed)"]
        );
    }
    assert_eq!(reasons(&plan, "kept", &unknown_10.id), ["within 30d"]);
    for run in [&broken_40, &warned_40] {
        assert_eq!(
            reasons(&plan, "deleted", &run.id),
            ["older than 30d (status guessed)"]
        );
    }
    assert_eq!(
        reasons(&plan, "deleted", &unknown_40.id),
        ["older than 30d"]
    );
}
