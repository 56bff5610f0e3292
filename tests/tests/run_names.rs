//! End-to-end: the names `list` gives runs, and what `info`, `why` and
//! `events` make of them; what a name nobody has, or a project nobody has,
//! gets back; `list` on a terminal (a default limit, a pager); `info` of a
//! run the hooks recorded; a misspelt plugin setting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;
use std::process::Command;

use otto_hooks_tests::hook_cli::HookWorld;
use otto_hooks_tests::otto_home::{ProjectHandle, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const T0: u64 = 1_790_000_000; // 2026-09-21, in the past of every test run

fn simple_run(p: &ProjectHandle, ts: u64) -> RunHandle {
    p.run(ts)
        .task("build", TaskSpec::ok().stdout("compiled\n"))
        .write()
}

/// The `id` of every run `list --json <extra>` gives.
fn listed_ids(w: &OttoWorld, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(extra);
    w.json(&args)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Two projects, three runs in one second of `web`, and one run of `api`
/// started in the same second as `web`'s first.
fn two_projects(w: &OttoWorld) -> (ProjectHandle, ProjectHandle) {
    let web = w.project("web");
    let api = w.project("api");
    simple_run(&web, T0);
    web.run(T0).suffix(1).task("build", TaskSpec::ok()).write();
    web.run(T0).suffix(2).task("build", TaskSpec::ok()).write();
    simple_run(&api, T0);
    simple_run(&api, T0 + 60);
    (web, api)
}

fn expect_usage_error(out: &std::process::Output, what: &str) -> String {
    assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{what}: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    err
}

#[test]
fn list_names_every_run_with_its_project_and_same_second_runs_apart() {
    let w = OttoWorld::new();
    let (web, api) = two_projects(&w);
    let (web, api) = (web.dir_name(), api.dir_name());
    let ids = listed_ids(&w, &[]);
    assert_eq!(
        ids,
        [
            format!("{api}/{}", T0 + 60),
            format!("{web}/{T0}-2"),
            format!("{web}/{T0}-1"),
            format!("{api}/{T0}"),
            format!("{web}/{T0}"),
        ]
    );
    // The table's ID column shows exactly these names.
    let table = text(&w.run(&["list"]).stdout);
    let column: Vec<&str> = table
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(column, ids, "{table}");
    assert!(table.starts_with("ID "), "{table}");
}

#[test]
fn info_why_and_events_accept_every_name_list_prints() {
    let w = OttoWorld::new();
    two_projects(&w);
    for id in listed_ids(&w, &[]) {
        let info = w.json(&["info", &id, "--json"]);
        assert_eq!(info["id"], id.as_str(), "{info:#}");
        let why = w.run(&["why", &id]);
        assert_eq!(
            why.status.code(),
            Some(0),
            "why {id}: {}",
            text(&why.stderr)
        );
    }
    // Imported into the history, the runs keep their names.
    w.json(&["import", "otto", "--json"]);
    let imported = listed_ids(&w, &["--backend", "sqlite"]);
    assert_eq!(imported, listed_ids(&w, &[]));
    for id in &imported {
        let info = w.json(&["info", id, "--backend", "sqlite", "--json"]);
        assert_eq!(info["id"], id.as_str(), "{info:#}");
        let events = w.json(&["events", id, "--json"]);
        assert!(
            !events["events"].as_array().unwrap().is_empty(),
            "events {id}: {events:#}"
        );
        // The events carry the id the history files the run under.
        assert_eq!(
            events["events"][0]["run_id"],
            id.replacen('/', ":", 1).as_str(),
            "{events:#}"
        );
        let why = w.run(&["why", id, "--backend", "sqlite"]);
        assert_eq!(
            why.status.code(),
            Some(0),
            "why {id}: {}",
            text(&why.stderr)
        );
    }
}

#[test]
fn shorter_names_work_when_they_name_one_run_and_an_ambiguous_one_lists_both() {
    let w = OttoWorld::new();
    let (web, api) = two_projects(&w);
    let full = format!("{}/{T0}-1", web.dir_name());
    for short in [
        format!("{T0}-1"),
        format!("web/{T0}-1"),
        format!("{}/{T0}-1", web.hash),
    ] {
        assert_eq!(w.json(&["info", &short, "--json"])["id"], full.as_str());
    }
    // Ambiguous among otto's runs: said so, even with a history beside
    // them (which holds the same runs once imported).
    for history in [false, true] {
        if history {
            w.json(&["import", "otto", "--json"]);
        }
        let out = w.run(&["info", &T0.to_string()]);
        let err = expect_usage_error(&out, "a timestamp two projects have");
        assert!(
            err.contains("ambiguous") && !err.contains("history"),
            "{err}"
        );
        for name in [
            format!("{}/{T0}", web.dir_name()),
            format!("{}/{T0}", api.dir_name()),
        ] {
            assert!(err.contains(&name), "{err}");
        }
    }
}

#[test]
fn an_unknown_run_names_the_newest_runs_and_a_misspelt_project_the_closest() {
    let w = OttoWorld::new();
    let (web, api) = two_projects(&w);
    let err = expect_usage_error(&w.run(&["info", "1234"]), "unknown run");
    assert!(
        err.contains(&format!("{}/{}", api.dir_name(), T0 + 60)),
        "{err}"
    );
    assert!(err.contains(&format!("{}/{T0}-2", web.dir_name())), "{err}");
    let err = expect_usage_error(&w.run(&["info", &format!("wbe/{T0}")]), "misspelt");
    assert!(
        err.contains(&format!("did you mean `{}`", web.dir_name())),
        "{err}"
    );
    let err = expect_usage_error(&w.run(&["why", "1234"]), "why of an unknown run");
    assert!(
        err.contains(&format!("{}/{}", api.dir_name(), T0 + 60)),
        "{err}"
    );
}

#[test]
fn an_unknown_project_is_an_error_naming_the_closest_not_an_empty_result() {
    let w = OttoWorld::new();
    let (web, _) = two_projects(&w);
    for args in [
        &["list", "--project", "wbe"][..],
        &["usage", "--project", "wbe"],
        &["clean", "--project", "wbe", "--dry-run"],
        &["why", &format!("{T0}-1"), "--project", "wbe"],
    ] {
        let err = expect_usage_error(&w.run(args), &format!("{args:?}"));
        assert!(
            err.contains(&format!("`{}`", web.dir_name())),
            "{args:?}: {err}"
        );
    }
    // Its name and its hash are still the project.
    for p in ["web", web.hash.as_str(), &web.dir_name()] {
        assert_eq!(listed_ids(&w, &["--project", p]).len(), 3, "--project {p}");
    }
}

#[test]
fn info_finds_a_run_the_hooks_recorded_in_the_history() {
    let w = HookWorld::new();
    let repo = w.repo_arg();
    let id = w
        .ok(&["hook", "run-start", "--repo", &repo])
        .trim()
        .to_owned();
    let out = w.events(
        &id,
        "{\"type\":\"unit.started\",\"unit\":\"build\"}\n{\"type\":\"unit.completed\",\"unit\":\"build\"}\n",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok(&[
        "hook",
        "run-complete",
        "--run",
        &id,
        "--status",
        "completed",
        "--completed-units",
        "1",
    ]);
    // No --backend: otto's runs first (none here), then the history.
    let info: Value = serde_json::from_str(&w.ok(&["info", &id, "--json"])).unwrap();
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["status"], "success");
    assert_eq!(info["attributes"]["completed_units"], 1, "{info:#}");
    assert_eq!(info["attributes"]["event_count"], 3, "{info:#}");
    // Its units, from its events.
    let units: Vec<(&str, &str)> = info["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(units, [("build", "success")], "{info:#}");
    let shown = w.ok(&["info", &id]);
    assert!(shown.contains("Run:") && shown.contains(&id), "{shown}");
    assert!(shown.contains("Tasks (1):\n  build  success"), "{shown}");
    // --backend still chooses one storage.
    let forced = w.run(&["info", &id, "--backend", "otto-fs"]);
    assert_eq!(forced.status.code(), Some(2), "{}", text(&forced.stderr));
}

#[test]
fn info_of_an_unknown_run_creates_no_history() {
    let w = HookWorld::new();
    let out = w.run(&["info", "run_20250120_143052_a1b2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!w.db().exists());
    assert_eq!(std::fs::read_dir(w.hooks_home()).unwrap().count(), 0);
}

/// Runs `otto-hooks ARGS` on a terminal (a pty, through util-linux
/// `script`), with `$PAGER` a command that records what it is given in
/// `record`; returns what the terminal showed.
fn on_a_terminal(w: &OttoWorld, args: &str, record: &Path) -> String {
    let command = format!(
        "'{}' {args}",
        otto_hooks_tests::otto_hooks_binary().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PAGER", format!("cat > '{}'", record.display()))
        .current_dir(w.dir.path())
        .bounded_output()
        .expect("run util-linux `script`");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    text(&out.stdout)
}

#[test]
fn list_on_a_terminal_shows_the_newest_fifty_through_the_pager_and_says_how_many_more() {
    let w = OttoWorld::new();
    let web = w.project("web");
    for i in 0..63 {
        simple_run(&web, T0 + i * 60);
    }
    let record = w.dir.path().join("paged.txt");
    let screen = on_a_terminal(&w, "list", &record);
    let paged = std::fs::read_to_string(&record).expect("the pager ran");
    let rows: Vec<&str> = paged.lines().skip(2).collect();
    assert_eq!(rows.len(), 50, "{paged}");
    assert!(rows[0].starts_with(&format!("{}/{}", web.dir_name(), T0 + 62 * 60)));
    assert!(
        screen.contains("13 more run(s) not shown (the newest 50 of 63)"),
        "{screen}"
    );

    // --all: everything, still paged; --limit 0 the same.
    for all in ["list --all", "list --limit 0"] {
        std::fs::remove_file(&record).unwrap();
        let screen = on_a_terminal(&w, all, &record);
        let paged = std::fs::read_to_string(&record).unwrap();
        assert_eq!(paged.lines().count(), 2 + 63, "{all}: {paged}");
        assert!(!screen.contains("more run(s)"), "{all}: {screen}");
    }

    // --no-pager and --json write to the terminal themselves.
    std::fs::remove_file(&record).unwrap();
    let screen = on_a_terminal(&w, "list --no-pager -n 3", &record);
    assert!(!record.exists());
    assert!(screen.contains(&format!("{}/{}", web.dir_name(), T0 + 62 * 60)));
    let screen = on_a_terminal(&w, "list --json", &record);
    assert!(!record.exists());
    assert_eq!(screen.matches("\"id\"").count(), 63, "--json lists all");

    // Not a terminal: every run, no pager, no note.
    let out = w.run(&["list"]);
    assert_eq!(text(&out.stdout).lines().count(), 2 + 63);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn a_misspelt_plugin_setting_is_refused_with_its_line_and_the_key_meant() {
    let w = OttoWorld::new();
    two_projects(&w);
    let config = w.hooks_home().join("config.toml");
    std::fs::write(&config, "[retention]\nkeep_days = 30\nkeep_lsat = 3\n").unwrap();
    for args in [&["config", "show"][..], &["list"], &["clean", "--dry-run"]] {
        let err = expect_usage_error(&w.run(args), &format!("{args:?}"));
        assert!(
            err.contains("`retention.keep_lsat`")
                && err.contains(&format!("{}:3", config.display()))
                && err.contains("did you mean `keep_last`?"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_file(&config).unwrap();
    let err = expect_usage_error(
        &w.run(&["config", "show", "--set", "storage.otto_hme=/x"]),
        "--set",
    );
    assert!(
        err.contains("--set storage.otto_hme=/x") && err.contains("did you mean `otto_home`?"),
        "{err}"
    );
    // Spelt right, it is shown with the built-in defaults and their origin.
    let shown = text(
        &w.run(&["config", "show", "--set", "retention.keep_last=3"])
            .stdout,
    );
    assert!(shown.contains("# --set retention.keep_last=3"), "{shown}");
    assert!(shown.contains("# default"), "{shown}");
}

#[test]
fn a_misspelt_plugin_name_is_refused_by_config_show_with_the_name_meant() {
    let w = OttoWorld::new();
    two_projects(&w);
    let config = w.hooks_home().join("config.toml");
    std::fs::write(&config, "[retention]\nplugin = \"standrd\"\n").unwrap();
    for args in [&["config", "show"][..], &["clean", "--dry-run"]] {
        let err = expect_usage_error(&w.run(args), &format!("{args:?}"));
        assert!(
            err.contains("no retention plugin named `standrd`")
                && err.contains(&format!("{}:2", config.display()))
                && err.contains("did you mean `standard`?"),
            "{args:?}: {err}"
        );
    }
    // In a `[projects."glob"]` section too, whichever projects exist.
    std::fs::write(
        &config,
        "[projects.\"nowhere-*\".retention]\nplugin = \"standrd\"\n",
    )
    .unwrap();
    let err = expect_usage_error(&w.run(&["config", "show"]), "project section");
    assert!(
        err.contains("no retention plugin named `standrd`")
            && err.contains(&format!("{}:2", config.display()))
            && err.contains("did you mean `standard`?"),
        "{err}"
    );
    // A name like none known gets the list, and is refused all the same.
    std::fs::write(&config, "[reporter]\nplugin = \"xyzzy\"\n").unwrap();
    let err = expect_usage_error(&w.run(&["config", "show"]), "xyzzy");
    assert!(
        err.contains("no reporter plugin named `xyzzy`")
            && !err.contains("did you mean")
            && err.contains("available: "),
        "{err}"
    );
}
