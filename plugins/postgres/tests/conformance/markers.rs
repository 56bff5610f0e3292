//! Run markers posted as events (choo's HISTORY-API), the stop/resume/
//! complete endpoints' markers, dry-run graphs (from otto-hooks-sqlite's
//! tests/writes.rs, on any backend).

use super::backends::*;

pub fn posted_run_stopped_and_run_resumed_events_change_the_run_like_stop_and_resume(
    b: &dyn Backend,
) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    db.append_events("r", vec![event(10, "unit.started")])
        .unwrap();
    // choo's HISTORY-API posts the markers as plain events.
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
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    // The stop never reached the history (a crash): only the resume arrives.
    db.append_events("r", vec![event(300, "run.resumed")])
        .unwrap();
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(run.status, "running");
    assert_eq!(run.resume_count, 1);
    assert_eq!(run.active_since, Some(ts(0)), "the open period is kept");
}

pub fn stop_resume_and_complete_endpoints_record_their_marker_once(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    db.stop_run("r", ts(10), None).unwrap();
    db.resume_run("r", ts(20)).unwrap();
    db.complete_run_recorded(completion("r", 30, "stopped"))
        .unwrap();
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(run.resume_count, 1);
    assert_eq!(run.status, "stopped");
    assert_eq!(run.active_ms, 10_000 + 10_000);
}

pub fn a_dry_run_graph_comes_from_orch_dryrun_started(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
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
