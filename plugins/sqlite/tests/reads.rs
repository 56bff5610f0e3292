//! What only history.db's reads have: the query plans (indexes, not scans)
//! and the unit summaries. Keyset pages, filters and the run row's shape
//! are in the storage conformance suite, run against history.db and
//! PostgreSQL (plugins/postgres/tests/conformance/reads.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use otto_hooks_sqlite::HistoryDb;

fn seed_events(db: &HistoryDb) {
    db.start_run(new_run("r", "/p", 0)).unwrap();
    let kinds = [
        "unit.started",
        "task.started",
        "pr.created",
        "prd.drafted",
        "unit",
        "units.odd",
    ];
    let events = (0..300)
        .map(|i| {
            let unit = if i % 2 == 0 { Some("app") } else { Some("api") };
            event_with(i, kinds[i as usize % kinds.len()], unit, "{}")
        })
        .collect();
    db.append_events("r", events).unwrap();
}

#[test]
fn listing_and_paging_use_indexes_not_scans_of_events() {
    let t = open();
    seed_events(&t.db);
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    let plan = |sql: &str| -> String {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let p = plan(
        "SELECT * FROM events WHERE run_id = 'r' AND seq > 5 AND (type = 'unit' OR substr(type, 1, 5) = 'unit.') ORDER BY seq LIMIT 8",
    );
    assert!(p.contains("idx_events_run_seq"), "{p}");
    let p =
        plan("SELECT * FROM runs WHERE project = '/p' ORDER BY started_at DESC, id DESC LIMIT 8");
    assert!(p.contains("idx_runs_project"), "{p}");
}

#[test]
fn unit_summaries_aggregate_a_big_run_through_the_run_seq_index() {
    let t = open();
    t.db.start_run(new_run("big", "/p", 0)).unwrap();
    t.db.start_run(new_run("other", "/p", 0)).unwrap();
    // 40 units × 250 events: queued, started, task events, then completed
    // (even units) or failed (odd ones); another run's events are not counted.
    let mut events = Vec::new();
    for round in 0..250i64 {
        for u in 0..40i64 {
            let unit = format!("u{u:02}");
            let kind = match round {
                0 => "unit.queued",
                1 => "unit.started",
                249 if u % 2 == 0 => "unit.completed",
                249 => "unit.failed",
                _ if round % 10 == 0 => "task.retry",
                _ => "task.completed",
            };
            let mut e = event_with(round * 40 + u, kind, Some(&unit), "{}");
            e.task = Some(round);
            events.push(e);
        }
    }
    t.db.append_events("big", events).unwrap();
    t.db.append_events(
        "other",
        vec![event_with(1, "unit.started", Some("u00"), "{}")],
    )
    .unwrap();
    let units = t.db.unit_summaries("big").unwrap();
    assert_eq!(units.len(), 40);
    assert_eq!(units.iter().map(|u| u.events).sum::<u64>(), 10_000);
    let u1 = &units[1];
    assert_eq!(
        (
            u1.unit.as_str(),
            u1.status.as_str(),
            u1.first_seq,
            u1.last_seq
        ),
        ("u01", "failed", 2, 9_962)
    );
    assert_eq!((u1.retries, u1.tasks_done), (24, 248));
    assert_eq!(units[0].status, "complete");
    assert!(units[0].started_time.is_some());
    assert!(matches!(
        t.db.unit_summaries("nope"),
        Err(otto_hooks_sqlite::DbError::NotFound(_))
    ));

    let conn = rusqlite::Connection::open(t.path()).unwrap();
    let plan = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            otto_hooks_sqlite::units::SUMMARIES_SQL
        ))
        .unwrap()
        .query_map(["big"], |r| r.get::<_, String>(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(plan.contains("idx_events_run_seq"), "{plan}");
    assert!(!plan.contains("SCAN events"), "{plan}");
}
