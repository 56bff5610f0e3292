//! What a posted batch does besides storing events (from
//! otto-hooks-sqlite's tests/writes.rs, on any backend): choo's HISTORY-API
//! posts `run.stopped` / `run.resumed` as plain events, and a dry run
//! carries its graph in `orch.dryrun.started`.

use super::backends::*;

pub fn posted_run_stopped_and_run_resumed_events_change_the_run_like_stop_and_resume(
    b: &dyn Backend,
) {
    let db = b.open();
    db.start_run(new_run("r", "/p", 0)).unwrap();
    db.append_events("r", vec![event(10, "unit.started")])
        .unwrap();
    db.append_events(
        "r",
        vec![event_with(
            100,
            "run.stopped",
            None,
            r#"{"reason":"user_interrupt"}"#,
        )],
    )
    .unwrap();
    let stopped = db.get_run("r").unwrap().unwrap();
    assert_eq!(stopped.status, "stopped");
    assert_eq!(stopped.completed_at, Some(ts(100)));
    assert_eq!(stopped.active_ms, 100_000);
    assert_eq!(stopped.resume_count, 0);

    // A repeated stop changes nothing more.
    db.append_events("r", vec![event(150, "run.stopped")])
        .unwrap();
    assert_eq!(
        db.get_run("r").unwrap().unwrap().completed_at,
        Some(ts(100))
    );

    db.append_events(
        "r",
        vec![event_with(
            400,
            "run.resumed",
            None,
            r#"{"resumed_from_seq":2}"#,
        )],
    )
    .unwrap();
    let resumed = db.get_run("r").unwrap().unwrap();
    assert_eq!(resumed.status, "running");
    assert_eq!(resumed.completed_at, None);
    assert_eq!(resumed.resume_count, 1);
    assert_eq!(resumed.active_since, Some(ts(400)));
    assert_eq!(resumed.last_seq, 4);

    // /resume's precondition holds again after a posted stop.
    db.append_events("r", vec![event(500, "run.stopped")])
        .unwrap();
    assert_eq!(db.resume_run("r", ts(600)).unwrap(), 5);
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.resume_count), ("running", 2));
    assert_eq!(run.active_ms, 100_000 + 100_000);
}

pub fn a_posted_run_resumed_on_a_run_still_marked_running_counts_the_resume(b: &dyn Backend) {
    let db = b.open();
    db.start_run(new_run("r", "/p", 0)).unwrap();
    // The stop never reached the history (a crash): only the resume arrives.
    db.append_events("r", vec![event(300, "run.resumed")])
        .unwrap();
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(run.status, "running");
    assert_eq!(run.resume_count, 1);
    assert_eq!(run.active_since, Some(ts(0)), "the open period is kept");
}

pub fn a_dry_run_stores_the_graph_of_orch_dryrun_started(b: &dyn Backend) {
    let db = b.open();
    db.start_run(new_run("dry", "/p", 0)).unwrap();
    db.append_events(
        "dry",
        vec![event_with(
            1,
            "orch.dryrun.started",
            None,
            r#"{"graph":{"nodes":[{"id":"a","level":0,"status":"pending"}],"edges":[],"levels":[["a"]]},"parallelism":4}"#,
        )],
    )
    .unwrap();
    let g = db.graph("dry").unwrap().expect("dry-run graph");
    assert_eq!(g.levels, serde_json::json!([["a"]]));
}
