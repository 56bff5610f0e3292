//! The insights (`stats`, `flaky`, `history TASK`, `compare`) over a
//! PostgreSQL history give the documents they give over history.db with
//! the same runs and events (only `source` and `path` differ), and the
//! daemon's `/api/history/*` routes answer from a PostgreSQL history.
//! Skipped with one line without PostgreSQL; a failure under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_core::insights::recorded::{self, HistorySource};
use otto_hooks_core::insights::stats::StatsQuery;
use otto_hooks_core::insights::team::TeamSource;
use otto_hooks_core::insights::{self, HistoryQuery, Source, Window};
use otto_hooks_plugin_api::{TaskStatus, Timestamp};
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::{Completion, HistoryDb, HistoryStore, NewEvent, NewRun, Options};
use serde_json::{Value, json};

/// Ten days ago, to the second: inside a 30-day window.
fn base() -> i64 {
    Timestamp::now().secs - 10 * 86_400
}

fn unit_event(at: i64, kind: &str, unit: &str, payload: Option<Value>) -> NewEvent {
    NewEvent {
        unit: Some(unit.to_owned()),
        payload: payload.map(|p| p.to_string()),
        ..NewEvent::new(Timestamp::from_secs(at), kind)
    }
}

/// Twelve runs over two projects: units that pass, fail, flip between
/// runs, retry within a run, are blocked, and are cut off by a stop; one
/// run still running; one far outside the window.
fn seed(db: &dyn HistoryStore, t0: i64) {
    for i in 0..12i64 {
        let id = format!("run_2025{i:02}");
        let project = if i % 3 == 0 { "/src/api" } else { "/src/web" };
        let start = if i == 11 {
            t0 - 400 * 86_400
        } else {
            t0 + i * 3600
        };
        db.start_run(NewRun {
            id: id.clone(),
            project: project.into(),
            repo_path: project.into(),
            started_at: Timestamp::from_secs(start),
            parallelism: 2,
            total_units: 4,
            tasks_dir: None,
            dry_run: false,
        })
        .unwrap();
        let mut events = vec![NewEvent::new(Timestamp::from_secs(start), "orch.started")];
        for (k, unit) in ["build", "test", "lint", "deploy"].iter().enumerate() {
            let at = start + 10 + k as i64 * 60;
            events.push(unit_event(at - 5, "unit.queued", unit, None));
            events.push(unit_event(at, "unit.started", unit, None));
            let flips = (i + k as i64) % 3 == 0;
            match (*unit, flips) {
                ("deploy", _) if i % 4 == 1 => {
                    events.push(unit_event(at + 1, "unit.blocked", unit, None));
                }
                ("lint", _) if i == 7 => {} // cut off by the stop
                (_, true) => {
                    events.push(unit_event(
                        at + 20 + i,
                        "unit.failed",
                        unit,
                        Some(json!({"exit_code": 2})),
                    ));
                    if i % 2 == 0 {
                        // Retried in the same run, then passed.
                        events.push(unit_event(at + 40, "unit.started", unit, None));
                        events.push(unit_event(
                            at + 50,
                            "unit.completed",
                            unit,
                            Some(json!({"duration_ms": 9_500, "exit_code": 0})),
                        ));
                    }
                }
                _ => events.push(unit_event(
                    at + 30 + k as i64,
                    "unit.completed",
                    unit,
                    Some(json!({"exit_code": 0})),
                )),
            }
            events.push(NewEvent {
                unit: Some((*unit).to_owned()),
                task: Some(1),
                ..NewEvent::new(Timestamp::from_secs(at + 2), "task.completed")
            });
        }
        db.append_events(&id, events).unwrap();
        let end = start + 600;
        match i {
            5 => {} // still running
            7 => {
                db.stop_run(&id, Timestamp::from_secs(end), Some("ctrl-c".into()))
                    .unwrap();
            }
            _ => db
                .complete_run(Completion {
                    run_id: id.clone(),
                    ended_at: Timestamp::from_secs(end),
                    status: if i % 3 == 0 { "failed" } else { "completed" }.into(),
                    completed_units: None,
                    failed_units: None,
                    blocked_units: None,
                    error: None,
                })
                .unwrap(),
        }
    }
}

/// A report as JSON without what names the storage.
fn doc<T: serde::Serialize>(s: &dyn Source, r: insights::Result<T>) -> Value {
    let mut v = match r {
        Ok(r) => serde_json::to_value(r).unwrap(),
        Err(e) => json!({
            // The same words, but for the storage named and the hint.
            "error": e
                .message
                .replace(&format!("{} {}", s.kind(), s.path()), "SOURCE")
                .split(" (see `otto-hooks list")
                .next()
                .unwrap()
                .to_owned(),
            "bad_input": e.bad_input,
            "not_found": e.not_found,
        }),
    };
    if let Some(o) = v.as_object_mut() {
        o.remove("source");
        o.remove("path");
    }
    v
}

/// Every question, asked of one source.
fn answers(s: &dyn Source, now: i64) -> Vec<(String, Value)> {
    let w30 = Window::parse("30d", now).unwrap();
    let all = Window::parse("all", now).unwrap();
    let mut out = Vec::new();
    for (name, window) in [("30d", &w30), ("all", &all)] {
        for trend in [false, true] {
            for task in [None, Some("test"), Some("nope")] {
                for project in [None, Some("/src/web")] {
                    let q = StatsQuery {
                        task: task.map(str::to_owned),
                        project: project.map(str::to_owned),
                        window: window.clone(),
                        trend,
                    };
                    out.push((
                        format!("stats {name} trend={trend} {task:?} {project:?}"),
                        doc(s, insights::stats::stats(s, &q)),
                    ));
                }
            }
        }
        for project in [None, Some("/src/api"), Some("/src/nowhere")] {
            out.push((
                format!("flaky {name} {project:?}"),
                doc(s, insights::flaky::flaky(s, project, window)),
            ));
        }
    }
    for task in ["build", "test", "lint", "deploy", "tset"] {
        for status in [
            None,
            Some(TaskStatus::Failed),
            Some(TaskStatus::Success),
            Some(TaskStatus::Skipped),
            Some(TaskStatus::Interrupted),
        ] {
            for limit in [1, 3, 50] {
                let q = HistoryQuery {
                    task: task.to_owned(),
                    project: None,
                    status,
                    limit,
                };
                out.push((
                    format!("history {task} {status:?} {limit}"),
                    doc(s, insights::history(s, &q)),
                ));
            }
        }
    }
    for (a, b) in [
        ("run_202500", "run_202503"),
        ("run_202507", "run_202505"),
        ("run_202501", "run_202501"),
        ("run_202501", "run_nope"),
    ] {
        out.push((
            format!("compare {a} {b}"),
            doc(s, insights::compare::compare(s, a, b, false)),
        ));
    }
    out
}

#[test]
fn stats_flaky_history_and_compare_answer_the_same_from_postgres_as_from_history_db() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let t0 = base();
    let now = Timestamp::now().secs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let lite = HistoryDb::open(&path, &Options::default()).unwrap();
    seed(&lite, t0);
    lite.close().unwrap();
    let pg = PgHistory::open(cluster.fresh_database()).unwrap();
    seed(&pg, t0);

    let conn = recorded::open(&path).unwrap();
    let from_sqlite = answers(&HistorySource::new(&conn, path.display().to_string()), now);
    let team = TeamSource::new(&pg);
    assert_eq!(team.kind(), "postgres");
    assert!(team.path().starts_with("postgres://"), "{}", team.path());
    let from_postgres = answers(&team, now);
    assert_eq!(from_sqlite.len(), from_postgres.len());
    let mut interesting = 0;
    for ((what, lite), (_, pg)) in from_sqlite.iter().zip(&from_postgres) {
        assert_eq!(pg, lite, "{what}");
        interesting += usize::from(lite.get("error").is_none());
    }
    assert!(
        interesting > 60,
        "the seeded history answers most questions"
    );
    // The seed exercises what the figures are about.
    let flaky = &from_sqlite
        .iter()
        .find(|(w, _)| w == "flaky all None")
        .unwrap()
        .1;
    assert!(flaky.to_string().contains("test"), "{flaky}");
    let cut = &from_sqlite
        .iter()
        .find(|(w, _)| w == "history lint Some(Interrupted) 50")
        .unwrap()
        .1;
    assert_eq!(cut["executions"].as_array().unwrap().len(), 1, "{cut}");
}

/// Runs the CLI with `home` as its configuration, waiting at most two
/// minutes (then it is killed and the test fails).
fn cli(home: &std::path::Path, password: &str, args: &[&str]) -> (i32, Value) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_otto-hooks"))
        .args(args)
        .env("OTTO_HOOKS_HOME", home)
        .env("HOME", home)
        .env("PGPASSWORD", password)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("otto-hooks {args:?} did not finish in 120 s");
        }
    };
    let code = out.status.code().unwrap_or(-1);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stderr).into_owned()));
    (code, doc)
}

/// `otto-hooks stats | flaky | history | compare` with `[storage] plugin =
/// "postgres"` configured (or `--backend postgres`) read the team history
/// and print what `--db history.db` prints for the same history.
#[test]
fn the_insight_commands_read_the_configured_postgres_history() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let t0 = base();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let lite = HistoryDb::open(&path, &Options::default()).unwrap();
    seed(&lite, t0);
    lite.close().unwrap();
    let target = cluster.fresh_database();
    seed(&PgHistory::open(target.clone()).unwrap(), t0);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[storage]\nplugin = \"postgres\"\nurl = \"{}\"\n",
            target.url
        ),
    )
    .unwrap();
    let password = target.password.clone().unwrap();
    let db = path.display().to_string();
    // What names the storage, and the window's ends (each run reads the
    // clock).
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for key in ["source", "path", "from", "from_rfc3339", "to", "to_rfc3339"] {
                    o.remove(key);
                }
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let strip = |mut v: Value| {
        strip(&mut v);
        v
    };
    for args in [
        vec!["stats", "--since", "all", "--json"],
        vec!["stats", "test", "--trend", "--json"],
        vec!["flaky", "--since", "all", "--json"],
        vec!["history", "build", "--json"],
        vec!["history", "test", "--failed", "--json"],
        vec!["compare", "run_202500", "run_202503", "--json"],
    ] {
        let (code, configured) = cli(home.path(), &password, &args);
        assert_eq!(code, 0, "{args:?}: {configured}");
        assert_eq!(configured["source"], "postgres", "{args:?}");
        let mut explicit = args.clone();
        explicit.extend(["--backend", "postgres"]);
        let (code, named) = cli(home.path(), &password, &explicit);
        assert_eq!(code, 0, "{explicit:?}: {named}");
        let mut lite_args = args.clone();
        lite_args.extend(["--db", db.as_str()]);
        let (code, from_file) = cli(home.path(), &password, &lite_args);
        assert_eq!(code, 0, "{lite_args:?}: {from_file}");
        assert_eq!(strip(named), strip(configured.clone()), "{args:?}");
        assert_eq!(strip(configured), strip(from_file), "{args:?}");
    }
    let (code, unknown) = cli(home.path(), &password, &["history", "tset", "--json"]);
    assert_eq!(
        code, 2,
        "an unknown task is the caller's mistake: {unknown}"
    );
}
