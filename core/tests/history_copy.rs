//! `otto-hooks history copy`: history.db → PostgreSQL → history.db gives
//! back the same history, and copying again changes nothing. Against the
//! throw-away cluster of `otto_hooks_postgres::test_cluster`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use otto_hooks_core::history_copy::{StoreSpec, copy};
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::PgHistory;
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_sqlite::{
    Completion, HistoryDb, HistoryStore, NewEvent, NewRun, Options, RunFilter, all_events, all_runs,
};
use serde_json::Value;

fn ts(s: i64) -> Timestamp {
    Timestamp {
        secs: 1_737_367_200 + s,
        nanos: 123_456_789,
    }
}

fn run(id: &str, repo: &str, at: i64) -> NewRun {
    NewRun {
        id: id.into(),
        project: repo.into(),
        repo_path: repo.into(),
        started_at: ts(at),
        parallelism: 3,
        total_units: 4,
        tasks_dir: Some("/t".into()),
        dry_run: at % 2 == 0,
    }
}

fn ev(at: i64, kind: &str, unit: Option<&str>, payload: &str) -> NewEvent {
    NewEvent {
        unit: unit.map(str::to_owned),
        task: Some(at),
        pr: (at % 3 == 0).then_some(at * 10),
        payload: Some(payload.to_owned()),
        error: (kind == "unit.failed").then(|| "exit 1".to_owned()),
        ..NewEvent::new(ts(at), kind)
    }
}

/// Runs in every state: completed with a graph, failed, stopped and
/// resumed and still running, stopped.
fn seed(db: &dyn HistoryStore) {
    let graph = r#"{"graph": {"nodes":[{"id":"a"}],"edges":[],"levels":[["a"]]}}"#;
    db.start_run(run("done", "/a", 0)).unwrap();
    db.append_events(
        "done",
        vec![
            ev(1, "orch.started", None, graph),
            ev(2, "unit.started", Some("a"), "{}"),
            ev(3, "unit.completed", Some("a"), r#"{"b": 1, "a": [1.50]}"#),
        ],
    )
    .unwrap();
    db.complete_run_recorded(Completion {
        run_id: "done".into(),
        ended_at: ts(9),
        status: "completed".into(),
        completed_units: Some(1),
        failed_units: None,
        blocked_units: None,
        error: None,
    })
    .unwrap();
    db.start_run(run("bad", "/b", 20)).unwrap();
    db.append_events("bad", vec![ev(21, "unit.failed", Some("x"), "{}")])
        .unwrap();
    db.complete_run(Completion {
        run_id: "bad".into(),
        ended_at: ts(25),
        status: "failed".into(),
        completed_units: None,
        failed_units: Some(1),
        blocked_units: Some(2),
        error: Some("unit x failed".into()),
    })
    .unwrap();
    db.start_run(run("resumed", "/a", 30)).unwrap();
    db.append_events("resumed", vec![ev(31, "task.started", None, "{}")])
        .unwrap();
    db.stop_run("resumed", ts(40), Some("ctrl-c".into()))
        .unwrap();
    db.resume_run("resumed", ts(100)).unwrap();
    db.append_events("resumed", vec![ev(101, "task.started", None, "{}")])
        .unwrap();
    db.start_run(run("stopped", "/b", 50)).unwrap();
    db.stop_run("stopped", ts(60), None).unwrap();
}

/// Everything but the database event ids.
fn contents(db: &dyn HistoryStore) -> Value {
    let runs = all_runs(db, &RunFilter::default()).unwrap();
    let all: Vec<Value> = runs
        .iter()
        .map(|r| {
            let events: Vec<Value> = all_events(db, &r.id)
                .unwrap()
                .iter()
                .map(|e| {
                    let mut v = serde_json::to_value(e).unwrap();
                    v.as_object_mut().unwrap().remove("id");
                    v
                })
                .collect();
            serde_json::json!({
                "run": r,
                "events": events,
                "graph": db.graph(&r.id).unwrap(),
            })
        })
        .collect();
    Value::Array(all)
}

#[test]
fn copying_sqlite_to_postgres_and_back_gives_the_same_history_and_again_changes_nothing() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    {
        let db = HistoryDb::open(&first, &Options::default()).unwrap();
        seed(&db);
    }
    let copy_cli = |from: String, to: String| {
        let out = Command::new(env!("CARGO_BIN_EXE_otto-hooks"))
            .args(["history", "copy", "--from", &from, "--to", &to, "--json"])
            .env("OTTO_HOOKS_HOME", dir.path().join("home"))
            .env("PGPASSWORD", target.password.as_deref().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let to_pg = format!("postgres:{}", target.url);
    let summary = copy_cli(format!("sqlite:{}", first.display()), to_pg.clone());
    assert_eq!(summary["runs"], 4);
    assert_eq!(summary["inserted"], 4);
    assert_eq!(summary["events"], 10);
    let again = copy_cli(format!("sqlite:{}", first.display()), to_pg.clone());
    assert_eq!(
        (again["unchanged"].as_u64(), again["inserted"].as_u64()),
        (Some(4), Some(0))
    );

    let back = dir.path().join("back.db");
    assert_eq!(
        StoreSpec::parse(&to_pg).unwrap(),
        StoreSpec::Postgres(target.url.clone())
    );
    let source = StoreSpec::Sqlite(first.clone()).open().unwrap();
    // The password from the target (this process has no PGPASSWORD).
    let pg_store: Box<dyn HistoryStore> = Box::new(PgHistory::open(target.clone()).unwrap());
    let returned = StoreSpec::Sqlite(back.clone()).open().unwrap();
    let summary = copy(&*pg_store, &*returned).unwrap();
    assert_eq!(summary.inserted, 4);
    let original = contents(&*source);
    assert_eq!(contents(&*pg_store), original, "postgres holds the same");
    assert_eq!(contents(&*returned), original, "and gives it back");
}

#[test]
fn a_copy_with_a_spec_that_names_no_history_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_otto-hooks"))
        .args([
            "history",
            "copy",
            "--from",
            "mysql://x",
            "--to",
            "sqlite:/tmp/x.db",
        ])
        .env("OTTO_HOOKS_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("sqlite:PATH"), "{err}");
}

/// `[storage] plugin = "postgres"` in the config: `list` reads the team
/// history and `run-policies` applies its `retention_days` there.
#[test]
fn the_configured_postgres_storage_is_listed_and_expired_by_the_cli() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let db = PgHistory::open(target.clone()).unwrap();
    let now = Timestamp::now();
    let old = Timestamp::from_secs(now.secs - 10 * 86_400);
    for (id, at) in [("old", old), ("new", now)] {
        db.start_run(NewRun {
            started_at: at,
            ..run(id, "/team", 0)
        })
        .unwrap();
        db.complete_run(Completion {
            run_id: id.into(),
            ended_at: at,
            status: "completed".into(),
            completed_units: None,
            failed_units: None,
            blocked_units: None,
            error: None,
        })
        .unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[storage]\nplugin = \"postgres\"\nurl = \"{}\"\nretention_days = 5\n",
            target.url
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_otto-hooks"))
            .args(args)
            .env("OTTO_HOOKS_HOME", home.path())
            .env("HOME", home.path())
            .env("PGPASSWORD", target.password.as_deref().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let listed = cli(&["list", "--json"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["new", "old"], "{listed}");
    cli(&["run-policies", "--json"]);
    assert!(db.get_run("old").unwrap().is_none(), "expired");
    assert!(db.get_run("new").unwrap().is_some(), "kept");
}
