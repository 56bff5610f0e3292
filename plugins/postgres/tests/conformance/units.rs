//! Unit summaries for the web UI's waterfall (`GET …/units`) on any
//! backend, checked against an oracle that replays the run's events in seq
//! order with the UI's rule (the last state event decides; a `pr.created`
//! after it turns `in_progress` into `pr_open`).

use std::collections::HashMap;

use otto_hooks_sqlite::units::status_after;
use otto_hooks_sqlite::{DbError, NewEvent, UnitSummary};

use super::backends::*;

/// The summaries of `events` (seq = index + 1), replayed one by one.
fn oracle(events: &[NewEvent]) -> Vec<UnitSummary> {
    let state_kinds = [
        "unit.queued",
        "unit.started",
        "unit.completed",
        "unit.merged",
        "unit.failed",
        "unit.blocked",
    ];
    let mut order = Vec::new();
    let mut by_unit: HashMap<String, (UnitSummary, Option<u64>, Option<u64>)> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let Some(unit) = e.unit.clone().filter(|u| !u.is_empty()) else {
            continue;
        };
        let seq = i as u64 + 1;
        let time = otto_hooks_sqlite::time::format_time(e.time).unwrap();
        let entry = by_unit.entry(unit.clone()).or_insert_with(|| {
            order.push(unit.clone());
            (
                UnitSummary {
                    unit,
                    status: String::new(),
                    status_event: None,
                    first_seq: seq,
                    first_time: time.clone(),
                    last_seq: seq,
                    last_time: time.clone(),
                    started_time: None,
                    events: 0,
                    tasks_done: 0,
                    retries: 0,
                },
                None,
                None,
            )
        });
        let (s, state_seq, pr_seq) = entry;
        s.last_seq = seq;
        s.last_time = time.clone();
        s.events += 1;
        match e.kind.as_str() {
            k if state_kinds.contains(&k) => {
                s.status_event = Some(k.to_owned());
                *state_seq = Some(seq);
                if k == "unit.started" && s.started_time.is_none() {
                    s.started_time = Some(time);
                }
            }
            "pr.created" => *pr_seq = Some(seq),
            "task.completed" => s.tasks_done = s.tasks_done.max(e.task.unwrap_or(0) as u64),
            "task.retry" => s.retries += 1,
            _ => {}
        }
    }
    order
        .into_iter()
        .map(|u| {
            let (mut s, state_seq, pr_seq) = by_unit.remove(&u).unwrap();
            let pr_after = matches!((pr_seq, state_seq), (Some(p), Some(st)) if p > st);
            s.status = status_after(s.status_event.as_deref(), pr_after).to_owned();
            s
        })
        .collect()
}

fn ev(at: i64, kind: &str, unit: Option<&str>, task: Option<i64>) -> NewEvent {
    NewEvent {
        unit: unit.map(str::to_owned),
        task,
        ..event(at, kind)
    }
}

/// Units in every final state, with retries, tasks, PRs after a start, a
/// restart after a failure, and events without a unit.
pub fn unit_summaries_fold_each_units_events_as_the_waterfall_shows_them(b: &dyn Backend) {
    let db = b.open();
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let events = vec![
        ev(1, "orch.started", None, None),
        ev(2, "unit.queued", Some("api"), None),
        ev(3, "unit.queued", Some("web"), None),
        ev(4, "unit.started", Some("api"), None),
        ev(5, "task.started", Some("api"), Some(1)),
        ev(6, "task.retry", Some("api"), Some(1)),
        ev(7, "task.completed", Some("api"), Some(1)),
        ev(8, "task.completed", Some("api"), Some(3)),
        ev(9, "unit.started", Some("web"), None),
        ev(10, "pr.created", Some("api"), None),
        ev(11, "unit.failed", Some("web"), None),
        ev(12, "unit.queued", Some("db"), None),
        ev(13, "unit.started", Some("web"), None),
        ev(14, "task.retry", Some("web"), Some(2)),
        ev(15, "task.retry", Some("web"), Some(2)),
        ev(16, "unit.completed", Some("web"), None),
        ev(17, "unit.blocked", Some("db"), None),
        ev(18, "note", Some("logs"), None),
        ev(19, "unit.started", Some("merge"), None),
        ev(20, "unit.merged", Some("merge"), None),
        ev(21, "pr.created", Some("merge"), None),
        ev(22, "task.completed", Some("empty"), Some(2)),
        ev(23, "note", Some(""), None),
    ];
    db.append_events("r", events[..9].to_vec()).unwrap();
    db.append_events("r", events[9..].to_vec()).unwrap();
    let got = db.unit_summaries("r").unwrap();
    let want = oracle(&events);
    assert_eq!(got, want, "{}", b.name());
    let status: Vec<(&str, &str)> = got
        .iter()
        .map(|u| (u.unit.as_str(), u.status.as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("api", "pr_open"),
            ("web", "complete"),
            ("db", "blocked"),
            ("logs", "pending"),
            ("merge", "complete"),
            ("empty", "pending"),
        ]
    );
    assert_eq!(got[0].tasks_done, 3);
    assert_eq!(got[1].retries, 2);

    db.start_run(new_run("quiet", "/p", 0)).unwrap();
    db.append_events("quiet", vec![event(1, "orch.started")])
        .unwrap();
    assert_eq!(db.unit_summaries("quiet").unwrap(), vec![]);
    assert!(matches!(
        db.unit_summaries("nope"),
        Err(DbError::NotFound(_))
    ));
}

/// A run started with its graph stores the graph in the same step.
pub fn a_run_started_with_its_graph_has_it(b: &dyn Backend) {
    let db = b.open();
    let graph = r#"{"graph":{"nodes":[{"id":"api"}],"edges":[],"levels":[["api"]]}}"#;
    db.start_run_with_graph(new_run("g", "/p", 0), Some(graph.into()))
        .unwrap();
    let g = db.graph("g").unwrap().expect("a graph");
    assert_eq!(g.nodes, serde_json::json!([{"id": "api"}]));
    assert_eq!(g.levels, serde_json::json!([["api"]]));
    db.start_run_with_graph(new_run("n", "/p", 0), None)
        .unwrap();
    assert!(db.graph("n").unwrap().is_none());
    assert!(matches!(
        db.start_run_with_graph(new_run("g", "/p", 0), Some(graph.into())),
        Err(DbError::AlreadyExists(_))
    ));
}
