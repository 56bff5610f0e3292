//! End-to-end: `otto-hooks import otto` on real otto trees (fixture builder,
//! otto.db rows, a failed run, same-second runs, a legacy run, a live run
//! holding its `.lock`), run through the binary; the history.db it writes
//! is read back with rusqlite, read-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use otto_hooks_tests::otto_home::{RowStatus, RunHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

const T0: u64 = 1_790_000_000;

/// `import otto` on an [`OttoWorld`].
trait Import {
    /// The history `import otto` writes unless `--db` says otherwise.
    fn default_db(&self) -> PathBuf;

    /// `import otto --json <extra>`, which must exit 0.
    fn import(&self, extra: &[&str]) -> Value;
}

impl Import for OttoWorld {
    fn default_db(&self) -> PathBuf {
        self.hooks_home().join("history.db")
    }

    fn import(&self, extra: &[&str]) -> Value {
        let mut args = vec!["import", "otto", "--json"];
        args.extend_from_slice(extra);
        self.json(&args)
    }
}

fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn hid(run: &RunHandle) -> String {
    format!("{}:{}", run.project.dir_name(), run.id)
}

/// A history row: the columns the tests check.
#[derive(Debug, PartialEq)]
struct Row {
    project: String,
    repo_path: String,
    status: String,
    total_units: i64,
    completed_units: i64,
    failed_units: i64,
    parallelism: i64,
    error: Option<String>,
    tasks_dir: Option<String>,
    completed_at: Option<String>,
    dry_run: bool,
}

fn row(conn: &Connection, id: &str) -> Row {
    conn.query_row(
        "SELECT project, repo_path, status, total_units, completed_units, failed_units,
                parallelism, error, tasks_dir, completed_at, dry_run
         FROM runs WHERE id = ?1",
        [id],
        |r| {
            Ok(Row {
                project: r.get(0)?,
                repo_path: r.get(1)?,
                status: r.get(2)?,
                total_units: r.get(3)?,
                completed_units: r.get(4)?,
                failed_units: r.get(5)?,
                parallelism: r.get(6)?,
                error: r.get(7)?,
                tasks_dir: r.get(8)?,
                completed_at: r.get(9)?,
                dry_run: r.get(10)?,
            })
        },
    )
    .unwrap_or_else(|e| panic!("run {id}: {e}"))
}

fn run_ids(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT id FROM runs ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// One event: (seq, type, unit, payload, error, time).
type Ev = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn events(conn: &Connection, id: &str) -> Vec<Ev> {
    let mut stmt = conn
        .prepare(
            "SELECT seq, type, unit, payload, error, time FROM events WHERE run_id = ?1 ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([id], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn kinds(evs: &[Ev]) -> Vec<(String, Option<String>)> {
    evs.iter().map(|e| (e.1.clone(), e.2.clone())).collect()
}

fn k(kind: &str, unit: Option<&str>) -> (String, Option<String>) {
    (kind.to_owned(), unit.map(str::to_owned))
}

fn assert_contiguous_and_ordered(id: &str, evs: &[Ev]) {
    let seqs: Vec<i64> = evs.iter().map(|e| e.0).collect();
    let want: Vec<i64> = (1..=evs.len() as i64).collect();
    assert_eq!(seqs, want, "{id}: seq must be 1..=n");
    assert!(
        evs.windows(2).all(|w| w[0].5 <= w[1].5),
        "{id}: events out of time order: {evs:#?}"
    );
}

fn event_ids(conn: &Connection) -> Vec<i64> {
    let mut stmt = conn.prepare("SELECT id FROM events ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_run_is_imported_with_choo_events_and_a_second_import_changes_nothing() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    let ok = web
        .run(T0)
        .task("build", TaskSpec::ok().duration(3))
        .task_with_deps("test", &["build"], TaskSpec::ok().duration(5))
        .write();
    let failed = web
        .run(T0 + 10)
        .task("build", TaskSpec::ok())
        .task("check:db", TaskSpec::failed("no db\n").exit_code(3))
        .write();
    let same = web
        .run(T0 + 10)
        .suffix(1)
        .task("lint", TaskSpec::ok())
        .write();
    let legacy = web
        .run(T0 + 20)
        .legacy()
        .task("build", TaskSpec::ok())
        .write();
    let other = api.run(T0 + 30).task("deploy", TaskSpec::ok()).write();
    let db = w.otto.db();
    db.row(&ok, RowStatus::Success);
    db.row(&failed, RowStatus::Failed);
    db.row(&same, RowStatus::Success);
    db.row(&other, RowStatus::Success);

    let summary = w.import(&[]);
    assert_eq!(summary["runs"], 5, "{summary:#}");
    assert_eq!(summary["inserted"], 5);
    assert_eq!(summary["updated"], 0);
    assert_eq!(summary["unchanged"], 0);
    assert_eq!(summary["skipped"], serde_json::json!([]));
    assert_eq!(summary["db"], w.default_db().display().to_string());

    let conn = open(&w.default_db());
    let mut want = vec![
        hid(&ok),
        hid(&failed),
        hid(&same),
        hid(&legacy),
        hid(&other),
    ];
    want.sort();
    assert_eq!(run_ids(&conn), want);
    assert_eq!(hid(&same), format!("{}:{}-1", web.dir_name(), T0 + 10));

    let r = row(&conn, &hid(&ok));
    assert_eq!(
        r,
        Row {
            project: web.dir_name(),
            repo_path: "/src/web".into(),
            status: "completed".into(),
            total_units: 2,
            completed_units: 2,
            failed_units: 0,
            parallelism: 1,
            error: None,
            tasks_dir: Some(ok.dir.join("tasks").display().to_string()),
            // otto.db's ended_at: start + the tasks' 8 seconds.
            completed_at: Some("2026-09-21T14:13:28.000000000Z".into()),
            dry_run: false,
        }
    );
    let evs = events(&conn, &hid(&ok));
    assert_contiguous_and_ordered(&hid(&ok), &evs);
    assert_eq!(
        kinds(&evs),
        [
            k("orch.started", None),
            k("unit.started", Some("build")),
            k("unit.started", Some("test")),
            k("unit.completed", Some("build")),
            k("unit.completed", Some("test")),
            k("orch.completed", None),
        ]
    );
    assert_eq!(
        evs[0].3.as_deref(),
        Some(r#"{"unit_count":2,"parallelism":1}"#)
    );
    assert_eq!(evs[0].5, "2026-09-21T14:13:20.000000000Z");
    assert_eq!(evs[1].3.as_deref(), Some(r#"{"total_tasks":1}"#));
    assert_eq!(
        evs[3].3.as_deref(),
        Some(r#"{"exit_code":0,"duration_ms":3000}"#)
    );

    let r = row(&conn, &hid(&failed));
    assert_eq!(
        (r.status.as_str(), r.completed_units, r.failed_units),
        ("failed", 1, 1)
    );
    assert_eq!(r.error.as_deref(), Some("1 task(s) failed: `check:db`"));
    let evs = events(&conn, &hid(&failed));
    assert_contiguous_and_ordered(&hid(&failed), &evs);
    let failure = evs.iter().find(|e| e.1 == "unit.failed").unwrap();
    assert_eq!(failure.2.as_deref(), Some("check:db"));
    assert_eq!(failure.4.as_deref(), Some("exit code 3"));
    assert_eq!(
        failure.3.as_deref(),
        Some(r#"{"exit_code":3,"duration_ms":2000}"#)
    );
    assert_eq!(evs.last().unwrap().1, "orch.failed");

    // No row, no .lock: the stderr heuristic decides, as `list` says.
    let r = row(&conn, &hid(&legacy));
    assert_eq!((r.status.as_str(), r.completed_units), ("completed", 1));
    let evs = events(&conn, &hid(&legacy));
    assert_contiguous_and_ordered(&hid(&legacy), &evs);
    assert_eq!(
        kinds(&evs),
        [
            k("orch.started", None),
            k("unit.started", Some("build")),
            k("unit.completed", Some("build")),
            k("orch.completed", None),
        ]
    );
    assert_eq!(row(&conn, &hid(&other)).repo_path, "/src/api");
    for id in [hid(&same), hid(&other)] {
        assert_contiguous_and_ordered(&id, &events(&conn, &id));
        assert_eq!(events(&conn, &id).len(), 4, "{id}");
    }
    let ids_before = event_ids(&conn);
    drop(conn);

    let again = w.import(&[]);
    assert_eq!(
        (
            &again["runs"],
            &again["inserted"],
            &again["updated"],
            &again["unchanged"]
        ),
        (&5.into(), &0.into(), &0.into(), &5.into()),
        "{again:#}"
    );
    let conn = open(&w.default_db());
    assert_eq!(
        event_ids(&conn),
        ids_before,
        "an unchanged import rewrites and duplicates nothing"
    );
}

#[test]
fn a_live_run_is_imported_running_then_updated_once_it_ends() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let live = web
        .run(T0)
        .task("build", TaskSpec::ok())
        .task("test", TaskSpec::ok())
        .write();
    let stuck = web.run(T0 + 100).task("build", TaskSpec::ok()).write();
    let db = w.otto.db();
    db.row(&live, RowStatus::Running);
    db.stuck_running(&stuck);
    let held = live.hold_lock();

    let first = w.import(&[]);
    assert_eq!(first["inserted"], 2, "{first:#}");
    let conn = open(&w.default_db());
    let r = row(&conn, &hid(&live));
    assert_eq!(r.status, "running");
    assert_eq!(r.completed_at, None);
    assert_eq!((r.total_units, r.completed_units), (2, 1));
    let evs = events(&conn, &hid(&live));
    assert_contiguous_and_ordered(&hid(&live), &evs);
    assert_eq!(
        kinds(&evs),
        [
            k("orch.started", None),
            k("unit.started", Some("build")),
            k("unit.started", Some("test")),
            k("unit.completed", Some("build")),
        ]
    );
    // Killed long ago: its row says running, nobody holds its lock.
    let r = row(&conn, &hid(&stuck));
    assert_eq!(r.status, "failed");
    assert_eq!(
        r.error.as_deref(),
        Some("interrupted: otto exited without finishing")
    );
    drop(conn);

    // Still live: nothing changed.
    let same = w.import(&[]);
    assert_eq!(same["unchanged"], 2, "{same:#}");

    // otto finishes: it records the outcome, then lets go of the lock.
    let c = db.connection();
    let run_dir = live.dir.display().to_string();
    c.execute(
        "UPDATE runs SET status = 'success', ended_at = ?1, duration_seconds = 4 WHERE run_dir = ?2",
        rusqlite::params![T0 as i64 + 4, run_dir],
    )
    .unwrap();
    c.execute(
        "UPDATE tasks SET status = 'completed', exit_code = 0, ended_at = ?1, duration_seconds = 2
         WHERE status = 'running' AND run_id = (SELECT id FROM runs WHERE run_dir = ?2)",
        rusqlite::params![T0 as i64 + 4, run_dir],
    )
    .unwrap();
    drop(held);

    let second = w.import(&[]);
    assert_eq!(
        (&second["updated"], &second["unchanged"]),
        (&1.into(), &1.into()),
        "{second:#}"
    );
    let conn = open(&w.default_db());
    let r = row(&conn, &hid(&live));
    assert_eq!(
        (r.status.as_str(), r.completed_units, r.failed_units),
        ("completed", 2, 0)
    );
    assert_eq!(
        r.completed_at.as_deref(),
        Some("2026-09-21T14:13:24.000000000Z")
    );
    let evs = events(&conn, &hid(&live));
    assert_contiguous_and_ordered(&hid(&live), &evs);
    assert_eq!(evs.len(), 6, "{evs:#?}");
    assert_eq!(evs.last().unwrap().1, "orch.completed");
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 6 + 4, "the replaced run left no old events behind");
}

#[test]
fn the_project_filter_is_exact() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let webapp = w.project("webapp");
    let a = web.run(T0).task("build", TaskSpec::ok()).write();
    let b = webapp.run(T0).task("build", TaskSpec::ok()).write();
    let summary = w.import(&["--project", "web"]);
    assert_eq!(summary["runs"], 1, "{summary:#}");
    let conn = open(&w.default_db());
    assert_eq!(run_ids(&conn), [hid(&a)]);
    drop(conn);

    let none = w.import(&["--project", "we"]);
    assert_eq!(none["runs"], 0, "a prefix selects nothing: {none:#}");

    let by_dir = w.import(&["-p", &webapp.dir_name()]);
    assert_eq!(by_dir["inserted"], 1, "{by_dir:#}");
    let conn = open(&w.default_db());
    let mut want = vec![hid(&a), hid(&b)];
    want.sort();
    assert_eq!(run_ids(&conn), want);
}

#[test]
fn db_and_otto_home_can_be_given_elsewhere() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let run = web.run(T0).task("build", TaskSpec::ok()).write();
    let target = w.dir.path().join("elsewhere").join("ci.db");
    let out = w.run_with(
        &w.dir.path().join("no-otto-here"),
        &[
            "import",
            "otto",
            "--otto-home",
            "otto",
            "--db",
            "elsewhere/ci.db",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with("imported 1 otto run(s) into ")
            && line.contains(&target.display().to_string())
            && line.contains("1 new, 0 updated, 0 unchanged"),
        "{line}"
    );
    assert!(
        !w.default_db().exists(),
        "only the given database is written"
    );
    assert_eq!(run_ids(&open(&target)), [hid(&run)]);
}

#[test]
fn a_missing_otto_home_imports_nothing_and_says_so() {
    let w = OttoWorld::new();
    let missing = w.dir.path().join("no-otto-here");
    let out = w.run_with(&missing, &["import", "otto"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.contains("no otto runs") && line.contains(&missing.display().to_string()),
        "{line}"
    );
    let out = w.run_with(&missing, &["import", "otto", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["runs"], 0);
    assert!(text(&out.stderr).contains("does not exist"));
    assert!(
        !w.default_db().exists(),
        "nothing to import creates nothing"
    );
}

#[test]
fn a_bad_db_path_is_one_line_and_exit_1() {
    let w = OttoWorld::new();
    let web = w.project("web");
    web.run(T0).task("build", TaskSpec::ok()).write();
    let dir = w.dir.subdir("a-directory", 0o700);
    let file = w.dir.write_file("a-file", "not a directory\n");
    for bad in [dir.clone(), file.join("history.db")] {
        let out = w.run(&["import", "otto", "--db", bad.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(&bad.display().to_string()),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_shows_examples() {
    let w = OttoWorld::new();
    let out = w.run(&["import", "otto", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in ["--otto-home", "--db", "--project", "--json", "Examples:"] {
        assert!(help.contains(needle), "{needle} missing:\n{help}");
    }
}
