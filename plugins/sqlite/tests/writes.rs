//! What only history.db does so far: a graph given at a run's start
//! (`start_run_with_graph`). Everything else about writes is in the
//! storage conformance suite, run against history.db and PostgreSQL
//! (plugins/postgres/tests/conformance/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn a_graph_can_be_given_at_start_and_a_redacted_later_graph_keeps_it() {
    let t = open();
    let db = &t.db;
    db.start_run_with_graph(
        new_run("given", "/p", 0),
        Some(r#"{"graph":{"nodes":[{"id":"b","level":0,"status":"pending"}],"edges":[{"from":"b","to":"c"}],"levels":[["b"]]}}"#.into()),
    )
    .unwrap();
    let g = db.graph("given").unwrap().expect("graph given at start");
    assert_eq!(g.nodes[0]["id"], "b");
    assert_eq!(g.edges, serde_json::json!([{"from": "b", "to": "c"}]));
    // A later orch.started whose graph choo's own redaction turned into a
    // string keeps the graph given at start.
    db.append_events(
        "given",
        vec![event_with(
            2,
            "orch.started",
            None,
            r#"{"graph":"[redacted]"}"#,
        )],
    )
    .unwrap();
    assert!(db.graph("given").unwrap().is_some());
    // Without a graph, start_run_with_graph stores none.
    db.start_run_with_graph(new_run("none", "/p", 0), None)
        .unwrap();
    assert!(db.graph("none").unwrap().is_none());
}
