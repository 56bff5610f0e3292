//! History retention of the SQLite history: `clean --backend sqlite` and
//! `run-policies` delete the runs that ended more than `retention_days`
//! ago, with their events, after showing the plan — and never a running run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::hook_cli::{HookWorld, text};
use rusqlite::Connection;
use serde_json::Value;

/// What these tests add to the hooks' world.
trait Retention {
    fn json(&self, args: &[&str]) -> Value;
    fn recorded(&self, id: &str, events: usize, status: Option<&str>, age_days: i64);
    fn ids(&self) -> Vec<String>;
    fn events_of(&self, id: &str) -> i64;
}

/// A world with an (empty) `$OTTO_HOME`: `run-policies` reads it too.
fn world() -> HookWorld {
    let w = HookWorld::new();
    std::fs::create_dir_all(w.dir.path().join("otto")).unwrap();
    w
}

/// Old finished runs of every ending, an old live run, recent runs.
fn populated() -> HookWorld {
    let w = world();
    w.recorded("run_old_completed", 50, Some("completed"), 120);
    w.recorded("run_old_failed", 20, Some("failed"), 100);
    w.recorded("run_old_stopped", 10, Some("stopped"), 95);
    w.recorded("run_old_running", 30, None, 200);
    w.recorded("run_recent_completed", 5, Some("completed"), 10);
    w.recorded("run_recent_running", 5, None, 1);
    w
}

impl Retention for HookWorld {
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// A run recorded through the hooks with `events` events, then moved
    /// back in time: started `age_days` ago, ended (when `status` is given)
    /// one hour later.
    fn recorded(&self, id: &str, events: usize, status: Option<&str>, age_days: i64) {
        let repo = self.repo_arg();
        self.ok(&["hook", "run-start", "--repo", &repo, "--run-id", id]);
        let lines: String = (0..events)
            .map(|i| format!("{{\"type\":\"task.started\",\"unit\":\"u\",\"task\":{i}}}\n"))
            .collect();
        let out = self.events(id, &lines, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        match status {
            Some("stopped") => {
                self.ok(&["hook", "run-stop", "--run", id, "--reason", "test"]);
            }
            Some(status) => {
                self.ok(&["hook", "run-complete", "--run", id, "--status", status]);
            }
            None => {}
        }
        // Stored times are RFC 3339 with nanoseconds, UTC (`…T…:…:….000000000Z`).
        const AT: &str = "strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', ?1)";
        let conn = Connection::open(self.db()).unwrap();
        conn.execute(
            &format!(
                "UPDATE runs SET started_at = {AT},
                        completed_at = CASE WHEN completed_at IS NULL THEN NULL
                                            ELSE strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', ?1, '+1 hour') END
                 WHERE id = ?2"
            ),
            rusqlite::params![format!("-{age_days} days"), id],
        )
        .unwrap();
    }

    fn ids(&self) -> Vec<String> {
        let conn = Connection::open(self.db()).unwrap();
        let mut stmt = conn.prepare("SELECT id FROM runs ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn events_of(&self, id: &str) -> i64 {
        let conn = Connection::open(self.db()).unwrap();
        conn.query_row("SELECT COUNT(*) FROM events WHERE run_id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    }
}

fn history(doc: &Value) -> &Value {
    &doc["history"]
}

fn run_ids(doc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = history(doc)["run_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

const OLD_FINISHED: [&str; 3] = ["run_old_completed", "run_old_failed", "run_old_stopped"];
const ALL: [&str; 6] = [
    "run_old_completed",
    "run_old_failed",
    "run_old_running",
    "run_old_stopped",
    "run_recent_completed",
    "run_recent_running",
];

#[test]
fn clean_backend_sqlite_shows_the_plan_then_deletes_only_old_finished_runs() {
    let w = populated();

    // The plan: exactly the runs that ended before the cutoff; nothing goes.
    let plan = w.json(&["clean", "--backend", "sqlite", "--dry-run", "--json"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(history(&plan)["retention_days"], 90);
    assert_eq!(history(&plan)["runs"], 3);
    assert_eq!(
        history(&plan)["events"],
        50 + 20 + 10 + 3,
        "+ run.completed, run.failed, run.stopped"
    );
    assert_eq!(run_ids(&plan), OLD_FINISHED);
    assert_eq!(w.ids(), ALL);
    let table = w.ok(&["clean", "--backend", "sqlite", "--dry-run"]);
    assert!(
        table.contains("would delete 3 runs and 83 events") && table.contains("run_old_failed"),
        "{table}"
    );

    // Without a terminal and without --yes: refused, nothing deleted.
    let out = w.run(&["clean", "--backend", "sqlite"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert_eq!(w.ids(), ALL);

    let done = w.json(&["clean", "--backend", "sqlite", "--yes", "--json"]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(history(&done)["runs"], 3);
    assert_eq!(history(&done)["events"], 83);
    assert_eq!(run_ids(&done), OLD_FINISHED);
    assert_eq!(
        w.ids(),
        [
            "run_old_running",
            "run_recent_completed",
            "run_recent_running"
        ],
        "a running run stays whatever its age"
    );
    for id in OLD_FINISHED {
        assert_eq!(w.events_of(id), 0, "{id}'s events went with it");
    }
    assert_eq!(w.events_of("run_old_running"), 30);
    let conn = Connection::open(w.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // Again: nothing left to do.
    let again = w.json(&["clean", "--db", w.db().to_str().unwrap(), "--yes", "--json"]);
    assert_eq!(history(&again)["runs"], 0);
}

#[test]
fn keep_days_flag_and_config_set_the_retention() {
    let w = populated();
    let plan = w.json(&[
        "clean",
        "--backend",
        "sqlite",
        "--keep",
        "5",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(history(&plan)["retention_days"], 5);
    assert_eq!(
        run_ids(&plan),
        [
            "run_old_completed",
            "run_old_failed",
            "run_old_stopped",
            "run_recent_completed"
        ]
    );

    std::fs::write(
        w.dir.path().join("hooks/config.toml"),
        "[[storage]]\nplugin = \"otto-fs\"\n[[storage]]\nplugin = \"sqlite\"\nretention_days = 110\n",
    )
    .unwrap();
    let plan = w.json(&["clean", "--backend", "sqlite", "--dry-run", "--json"]);
    assert_eq!(history(&plan)["retention_days"], 110);
    assert_eq!(run_ids(&plan), ["run_old_completed"]);

    std::fs::write(
        w.dir.path().join("hooks/config.toml"),
        "[storage]\nplugin = \"sqlite\"\nretention_days = 0\n",
    )
    .unwrap();
    let out = w.run(&["clean", "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("retention_days is 0"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(w.ids(), ALL, "0 keeps the whole history");

    std::fs::write(
        w.dir.path().join("hooks/config.toml"),
        "[storage]\nplugin = \"sqlite\"\nretention_days = \"ninety\"\n",
    )
    .unwrap();
    let out = w.run(&["clean", "--dry-run"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("config.toml:2") && err.contains("retention_days") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(w.ids(), ALL);
}

#[test]
fn run_policies_applies_history_retention_with_the_otto_policies() {
    let w = populated();
    let plan = w.json(&["run-policies", "--dry-run", "--json"]);
    assert_eq!(run_ids(&plan), OLD_FINISHED);
    assert_eq!(w.ids(), ALL);

    let done = w.json(&["run-policies", "--json"]);
    assert_eq!(history(&done)["runs"], 3);
    assert_eq!(
        w.ids(),
        [
            "run_old_running",
            "run_recent_completed",
            "run_recent_running"
        ]
    );
    // Due later only.
    let out = w.run(&["run-policies", "--if-due"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("not due"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_flags_that_mean_nothing_to_a_history_are_refused() {
    let w = populated();
    for flags in [
        &["--keep-last", "3"][..],
        &["--keep-failed", "3"],
        &["--project", "x"],
        &["--cache"],
    ] {
        let mut args = vec!["clean", "--backend", "sqlite", "--dry-run"];
        args.extend_from_slice(flags);
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(flags[0]) && err.contains("retention_days"),
            "{err}"
        );
    }
    assert_eq!(w.ids(), ALL);
}

#[test]
fn a_missing_history_is_nothing_to_do() {
    let w = world();
    let out = w.run(&["clean", "--backend", "sqlite", "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history(&doc)["runs"], 0);
    assert!(!w.db().exists(), "reading creates no database");
}

#[test]
fn on_a_terminal_the_history_plan_is_shown_once_then_only_the_outcome() {
    let w = populated();
    let screen =
        otto_hooks_tests::pty::on_a_terminal(&w.command(&["clean", "--backend", "sqlite"]), "y\n");
    assert_eq!(screen.code, 0, "{}", screen.text);
    let question = screen
        .text
        .find("Delete 3 run(s) and 83 event(s) from the history?")
        .unwrap_or_else(|| panic!("{}", screen.text));
    for id in OLD_FINISHED {
        assert_eq!(screen.text.matches(id).count(), 1, "{}", screen.text);
        assert!(screen.text.find(id).unwrap() < question);
    }
    assert!(
        screen.text[question..].contains("deleted 3 runs and 83 events"),
        "{}",
        screen.text
    );
    assert_eq!(w.ids().len(), ALL.len() - OLD_FINISHED.len());
}
