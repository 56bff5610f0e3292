//! Writes: runs, events, seq, stop/resume, validation, graphs, counters
//! (from otto-hooks-sqlite's tests/writes.rs, on any backend).

use std::sync::Arc;

use otto_hooks_sqlite::{Completion, DbError, EventFilter, HistoryStore, NewEvent, SeqRange};

use super::backends::*;

fn all_events(db: &dyn HistoryStore, run: &str) -> Vec<otto_hooks_sqlite::EventRow> {
    db.events(&EventFilter {
        run_id: run.into(),
        limit: 100_000,
        ..Default::default()
    })
    .unwrap()
    .events
}

pub fn stop_and_resume_keep_the_run_id_and_number_events_on(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let originals: Vec<NewEvent> = (1..=50).map(|i| event(i, "task.started")).collect();
    assert_eq!(
        db.append_events("r", originals).unwrap(),
        SeqRange { first: 1, last: 50 }
    );

    assert_eq!(
        db.stop_run("r", ts(100), Some("ctrl-c".into())).unwrap(),
        51
    );
    let stopped = db.get_run("r").unwrap().unwrap();
    assert_eq!(stopped.status, "stopped");
    assert_eq!(stopped.completed_at, Some(ts(100)));
    assert_eq!(stopped.active_ms, 100_000);
    assert!(matches!(
        db.stop_run("r", ts(101), None),
        Err(DbError::Invalid(_))
    ));

    assert_eq!(db.resume_run("r", ts(400)).unwrap(), 51, "resumed_from_seq");
    let continued: Vec<NewEvent> = (401..=410).map(|i| event(i, "task.completed")).collect();
    assert_eq!(
        db.append_events("r", continued).unwrap(),
        SeqRange {
            first: 53,
            last: 62
        }
    );
    assert!(matches!(
        db.resume_run("r", ts(411)),
        Err(DbError::Invalid(_))
    ));
    db.complete_run(completion("r", 500, "completed")).unwrap();

    let events = all_events(db, "r");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=62).collect::<Vec<_>>());
    assert_eq!(events[50].kind, "run.stopped");
    assert_eq!(
        events[50].payload.as_ref().unwrap().get(),
        r#"{"reason":"ctrl-c"}"#
    );
    assert_eq!(events[51].kind, "run.resumed");
    assert_eq!(
        events[51].payload.as_ref().unwrap().get(),
        r#"{"resumed_from_seq":51}"#
    );
    assert!(events[52..].iter().all(|e| e.kind == "task.completed"));

    let points = db.stop_resume_points("r").unwrap();
    assert_eq!(points.iter().map(|e| e.seq).collect::<Vec<_>>(), [51, 52]);

    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.resume_count, 1);
    assert_eq!((run.last_seq, run.event_count), (62, 62));
    assert_eq!(
        run.active_ms, 200_000,
        "0→100 s and 400→500 s; the 300 s stopped excluded"
    );
    assert_eq!(run.active_since, None);
    assert_eq!(run.updated_at, Some(ts(500)));
    // A completed run cannot be resumed.
    assert!(matches!(
        db.resume_run("r", ts(600)),
        Err(DbError::Invalid(_))
    ));
}

pub fn a_failed_run_can_be_resumed(b: &dyn Backend) {
    let t = b.open();
    t.start_run(new_run("r", "/p", 0)).unwrap();
    t.complete_run(Completion {
        error: Some("unit a failed".into()),
        ..completion("r", 10, "failed")
    })
    .unwrap();
    assert_eq!(t.resume_run("r", ts(20)).unwrap(), 0);
    let run = t.get_run("r").unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.error.as_deref()),
        ("running", None)
    );
    assert_eq!(run.active_since, Some(ts(20)));
    assert_eq!(run.active_ms, 10_000);
}

pub fn starting_an_existing_run_is_already_exists(b: &dyn Backend) {
    let t = b.open();
    t.start_run(new_run("r", "/p", 0)).unwrap();
    let err = t.start_run(new_run("r", "/q", 5)).unwrap_err();
    assert!(matches!(err, DbError::AlreadyExists(_)), "{err:?}");
    assert_eq!(err.code(), "ALREADY_EXISTS");
    assert_eq!(t.get_run("r").unwrap().unwrap().project, "/p");
}

pub fn unknown_runs_are_not_found(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    assert!(matches!(
        db.append_events("nope", vec![event(1, "x")]),
        Err(DbError::NotFound(_))
    ));
    assert!(matches!(
        db.complete_run(completion("nope", 1, "completed")),
        Err(DbError::NotFound(_))
    ));
    assert!(matches!(
        db.stop_run("nope", ts(1), None),
        Err(DbError::NotFound(_))
    ));
    assert!(matches!(
        db.resume_run("nope", ts(1)),
        Err(DbError::NotFound(_))
    ));
    assert!(matches!(
        db.events(&EventFilter {
            run_id: "nope".into(),
            limit: 10,
            ..Default::default()
        }),
        Err(DbError::NotFound(_))
    ));
    assert_eq!(db.get_run("nope").unwrap(), None);
    assert_eq!(db.graph("nope").unwrap(), None);
}

pub fn an_invalid_event_stores_nothing_of_its_batch(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    db.append_events("r", vec![event(1, "unit.started")])
        .unwrap();
    let bad_batches: Vec<(NewEvent, &str)> = vec![
        (event(2, ""), "type is empty"),
        (event(2, &"x".repeat(129)), "longer than 128"),
        (event(2, "unit\n.started"), "control characters"),
        (
            NewEvent {
                unit: Some("u".repeat(257)),
                ..event(2, "unit.started")
            },
            "unit is longer",
        ),
        (
            event_with(2, "unit.completed", None, "{\"a\":"),
            "not valid JSON",
        ),
    ];
    for (bad, why) in bad_batches {
        let err = db
            .append_events("r", vec![event(2, "unit.completed"), bad])
            .unwrap_err();
        assert!(
            matches!(&err, DbError::Invalid(m) if m.contains(why) && m.contains("event 1")),
            "{err:?}"
        );
    }
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(
        (run.last_seq, run.event_count, run.completed_units),
        (1, 1, 0)
    );
    assert_eq!(
        db.append_events("r", vec![event(3, "x")]).unwrap(),
        SeqRange { first: 2, last: 2 }
    );
}

pub fn concurrent_commands_commit_even_when_one_of_them_fails(b: &dyn Backend) {
    let t = b.open();
    let db: Arc<dyn HistoryStore> = Arc::from(t);
    for i in 0..4 {
        db.start_run(new_run(&format!("r{i}"), "/p", 0)).unwrap();
    }
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut results = Vec::new();
                for k in 0..50 {
                    let bad = i == 0 && k % 5 == 0;
                    let ev = if bad {
                        event_with(k, "unit.started", None, "not json")
                    } else {
                        event(k, "unit.started")
                    };
                    results.push((bad, db.append_events(&format!("r{i}"), vec![ev])));
                }
                results
            })
        })
        .collect();
    for h in handles {
        for (bad, r) in h.join().unwrap() {
            assert_eq!(bad, r.is_err(), "{r:?}");
        }
    }
    assert_eq!(db.get_run("r0").unwrap().unwrap().event_count, 40);
    for i in 1..4 {
        assert_eq!(db.get_run(&format!("r{i}")).unwrap().unwrap().last_seq, 50);
    }
}

pub fn orch_started_stores_the_graph(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let payload = r#"{"unit_count":2,"parallelism":2,"graph":{"nodes":[{"id":"a","level":0},{"id":"b","level":1}],"edges":[{"from":"b","to":"a"}],"levels":[["a"],["b"]]}}"#;
    db.append_events("r", vec![event_with(1, "orch.started", None, payload)])
        .unwrap();
    let g = db.graph("r").unwrap().unwrap();
    assert_eq!(g.nodes[1]["id"], "b");
    assert_eq!(g.edges, serde_json::json!([{"from": "b", "to": "a"}]));
    assert_eq!(g.levels, serde_json::json!([["a"], ["b"]]));

    // A later orch.started (after a resume) replaces it.
    let payload2 = r#"{"graph":{"nodes":[{"id":"c"}],"edges":[],"levels":[["c"]]}}"#;
    db.append_events("r", vec![event_with(2, "orch.started", None, payload2)])
        .unwrap();
    assert_eq!(
        db.graph("r").unwrap().unwrap().levels,
        serde_json::json!([["c"]])
    );
    // Without a graph nothing is stored.
    db.start_run(new_run("s", "/p", 0)).unwrap();
    db.append_events("s", vec![event_with(1, "orch.started", None, "{}")])
        .unwrap();
    assert_eq!(db.graph("s").unwrap(), None);
}

pub fn unit_events_count_units_and_completion_overrides_counters(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let kinds = [
        "unit.started",
        "unit.completed",
        "unit.completed",
        "unit.failed",
        "unit.blocked",
        "unit.blocked",
        "unit.completed",
        "task.completed",
        "unit.merged",
    ];
    db.append_events("r", kinds.iter().map(|k| event(1, k)).collect())
        .unwrap();
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(
        (run.completed_units, run.failed_units, run.blocked_units),
        (3, 1, 2)
    );
    db.complete_run(Completion {
        completed_units: Some(4),
        error: Some("a failed".into()),
        ..completion("r", 30, "failed")
    })
    .unwrap();
    let run = db.get_run("r").unwrap().unwrap();
    assert_eq!(
        (run.completed_units, run.failed_units, run.blocked_units),
        (4, 1, 2)
    );
    assert_eq!(run.status, "failed");
    assert_eq!(run.error.as_deref(), Some("a failed"));
    assert_eq!(run.active_ms, 30_000);
    assert!(matches!(
        db.complete_run(completion("r", 31, "bogus")),
        Err(DbError::Invalid(_))
    ));
}

pub fn payloads_come_back_byte_for_byte(b: &dyn Backend) {
    let t = b.open();
    t.start_run(new_run("r", "/p", 0)).unwrap();
    let payload = r#"{"b": 1, "a": [1.50, "x"]}"#;
    t.append_events("r", vec![event_with(1, "task.retry", Some("u"), payload)])
        .unwrap();
    let ev = &all_events(&*t, "r")[0];
    assert_eq!(ev.payload.as_ref().unwrap().get(), payload);
    let json = serde_json::to_value(ev).unwrap();
    assert_eq!(json["type"], "task.retry");
    assert_eq!(json["time"], "2025-01-20T10:00:01.000000000Z");
    assert_eq!(json["payload"]["a"][1], "x");
}
