//! The `recorder` fixture's own contract (its log format and `list_runs`),
//! which the end-to-end tests of the hook commands rely on.

use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::host::Instance;
use otto_hooks_plugin_api::{
    ErrorKind, EventQuery, HookContext, RunQuery, RunResult, RunResume, RunStart, RunStatus,
    RunStop, Timestamp,
};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, event, instantiate, settings};
use serde_json::{Value, json};

struct Recorder {
    lib: PrivateLibrary,
    data: PrivateDir,
    log: PathBuf,
}

impl Recorder {
    fn new() -> Self {
        let lib = PrivateLibrary::of("fixture-recorder");
        let data = PrivateDir::new();
        let log = data.path().join("calls.jsonl");
        Recorder { lib, data, log }
    }

    fn instance(&self) -> Instance {
        let mut table = toml::Table::new();
        table.insert("log".into(), self.log.to_string_lossy().into_owned().into());
        instantiate(&self.lib.plugin("recorder"), &table, self.data.path())
    }

    fn lines(&self) -> Vec<Value> {
        read_lines(&self.log)
    }
}

fn read_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .expect("the recorder wrote its log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect()
}

fn start<'a>(project: &'a str, run_id: &'a str, secs: i64) -> RunStart<'a> {
    RunStart {
        project,
        run_id,
        started_at: Timestamp::from_secs(secs),
        repo_path: Some("/src/web"),
        parallelism: Some(4),
        total_units: Some(2),
        tasks_dir: None,
        dry_run: false,
    }
}

fn complete<'a>(project: &'a str, run_id: &'a str, secs: i64, status: RunStatus) -> RunResult<'a> {
    RunResult {
        project,
        run_id,
        ended_at: Timestamp::from_secs(secs),
        status,
        completed_units: Some(1),
        failed_units: Some(1),
        blocked_units: Some(0),
        error: Some("1 unit failed"),
    }
}

#[test]
fn the_recorder_logs_one_json_line_per_lifecycle_call_in_call_order() {
    let r = Recorder::new();
    let i = r.instance();
    let ctx = HookContext {
        project: "web",
        run_id: "r1",
    };
    i.run_start(&start("web", "r1", 100)).unwrap();
    i.events(
        &ctx,
        &[
            event("unit.started", Some(r#"{"total_tasks":2}"#), 101),
            event("unit.completed", None, 102),
        ],
    )
    .unwrap();
    let mut failed = event("unit.failed", None, 103);
    failed.unit = Some("api");
    failed.error = Some("tests failed");
    i.event(&ctx, &failed).unwrap();
    i.run_complete(&complete("web", "r1", 104, RunStatus::Failed))
        .unwrap();

    let lines = r.lines();
    assert_eq!(
        lines,
        [
            json!({"hook": "run_start", "project": "web", "run_id": "r1", "started_at": 100,
                   "repo_path": "/src/web", "parallelism": 4, "total_units": 2,
                   "tasks_dir": null, "dry_run": false}),
            json!({"hook": "events", "project": "web", "run_id": "r1", "count": 2,
            "types": ["unit.started", "unit.completed"],
            "events": [
                {"type": "unit.started", "time": 101, "unit": null, "task": null, "pr": null,
                 "payload": "{\"total_tasks\":2}", "error": null},
                {"type": "unit.completed", "time": 102, "unit": null, "task": null, "pr": null,
                 "payload": null, "error": null}
            ]}),
            json!({"hook": "event", "project": "web", "run_id": "r1", "type": "unit.failed",
                   "time": 103, "unit": "api", "task": null, "pr": null, "payload": null,
                   "error": "tests failed"}),
            json!({"hook": "run_complete", "project": "web", "run_id": "r1", "status": "failed",
                   "ended_at": 104, "completed_units": 1, "failed_units": 1, "blocked_units": 0,
                   "error": "1 unit failed"}),
        ]
    );
}

#[test]
fn the_recorder_lists_the_runs_it_saw_newest_first_matching_the_project_exactly() {
    let r = Recorder::new();
    let i = r.instance();
    i.run_start(&start("web", "old", 100)).unwrap();
    i.run_start(&start("web-2", "other", 150)).unwrap();
    i.run_start(&start("web", "new", 200)).unwrap();
    i.run_start(&start("web", "same-second", 200)).unwrap();
    i.event(
        &HookContext {
            project: "web",
            run_id: "old",
        },
        &event("unit.started", None, 101),
    )
    .unwrap();
    i.run_complete(&complete("web", "old", 110, RunStatus::Success))
        .unwrap();

    let ids = |query: RunQuery<'_>| -> Vec<String> {
        i.list_runs(&query)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        ids(RunQuery::default()),
        ["same-second", "new", "other", "old"]
    );
    assert_eq!(
        ids(RunQuery {
            project: Some("web"),
            limit: None
        }),
        ["same-second", "new", "old"]
    );
    assert_eq!(
        ids(RunQuery {
            project: Some("we"),
            limit: None
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(RunQuery {
            project: Some("web"),
            limit: Some(2)
        }),
        ["same-second", "new"]
    );

    let runs = i.list_runs(&RunQuery::default()).unwrap();
    let old = runs.iter().find(|r| r.id == "old").unwrap();
    assert_eq!(old.status, RunStatus::Success);
    assert_eq!(old.ended_at, Some(Timestamp::from_secs(110)));
    assert_eq!(old.attributes["events"], 1);
    assert_eq!(old.location, r.log.display().to_string());
    let new = runs.iter().find(|r| r.id == "new").unwrap();
    assert_eq!(new.status, RunStatus::Running);
    assert_eq!(new.ended_at, None);

    // Another instance on the same log reads the same history.
    let again = r.instance();
    assert_eq!(again.list_runs(&RunQuery::default()).unwrap(), runs);
    let details = again
        .run_details(&HookContext {
            project: "web",
            run_id: "old",
        })
        .unwrap();
    assert_eq!(&details.run, old);
    let missing = again
        .run_details(&HookContext {
            project: "web-2",
            run_id: "old",
        })
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
}

#[test]
fn the_recorder_lists_nothing_before_its_log_exists() {
    let r = Recorder::new();
    assert!(
        r.instance()
            .list_runs(&RunQuery::default())
            .unwrap()
            .is_empty()
    );
    assert!(!r.log.exists());
}

#[test]
fn the_recorder_requires_an_absolute_log_path_and_nothing_else() {
    let r = Recorder::new();
    let h = r.lib.plugin("recorder");
    let data = r.data.path().to_string_lossy().into_owned();
    for (text, needle) in [
        ("", "log"),
        (r#"log = "relative/calls.jsonl""#, "absolute"),
        (
            r#"log = "/tmp/x.jsonl"
            colour = true"#,
            "colour",
        ),
        (
            r#"log = "/tmp/x.jsonl"
            responses = "answers.json""#,
            "absolute",
        ),
    ] {
        let err = h
            .instantiate("storage.recorder", &settings(text), &data)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid, "{text}: {err}");
        assert!(err.message.contains(needle), "{text}: {err}");
        assert!(err.message.contains("storage.recorder"), "{text}: {err}");
    }
}

#[test]
fn the_recorder_logs_stops_and_resumes_and_still_lists_the_run() {
    let r = Recorder::new();
    let i = r.instance();
    let ctx = HookContext {
        project: "web",
        run_id: "r1",
    };
    i.run_start(&start("web", "r1", 100)).unwrap();
    i.event(&ctx, &event("unit.started", None, 101)).unwrap();
    i.run_stop(&RunStop {
        project: "web",
        run_id: "r1",
        at: Timestamp {
            secs: 102,
            nanos: 5,
        },
        reason: Some("user asked"),
    })
    .unwrap();
    i.run_resume(&RunResume {
        project: "web",
        run_id: "r1",
        at: Timestamp::from_secs(103),
    })
    .unwrap();
    i.event(&ctx, &event("unit.completed", None, 104)).unwrap();

    let lines = r.lines();
    assert_eq!(
        lines[2],
        json!({"hook": "run_stop", "project": "web", "run_id": "r1", "at": 102,
               "at_nanos": 5, "reason": "user asked"})
    );
    assert_eq!(
        lines[3],
        json!({"hook": "run_resume", "project": "web", "run_id": "r1", "at": 103,
               "at_nanos": 0})
    );
    let runs = i.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].attributes["events"], 2);
    assert_eq!(runs[0].status, RunStatus::Running);

    // Without a `responses` file, the 1.3 storage methods are unsupported
    // (after recording the call).
    let err = i
        .stored_events(&EventQuery {
            run_id: "r1",
            limit: 10,
            ..EventQuery::default()
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    assert_eq!(r.lines().len(), 6);
}
