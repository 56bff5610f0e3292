//! Import: atomic, idempotent, summarised
//! (from otto-hooks-sqlite's tests/import.rs, on any backend).

use otto_hooks_sqlite::{
    DbError, EventFilter, HistoryStore, ImportOutcome, ImportedRun, all_events,
};

use super::backends::*;

fn imported(events: usize, finished: bool) -> ImportedRun {
    let graph = r#"{"graph":{"nodes":[{"id":"a"}],"edges":[],"levels":[["a"]]}}"#;
    let mut evs = vec![event_with(1, "orch.started", None, graph)];
    evs.extend((2..=events as i64).map(|i| event_with(i, "unit.completed", Some("a"), "{}")));
    ImportedRun {
        run: new_run("imp", "/p", 0),
        events: evs,
        completion: finished.then(|| completion("imp", 100, "completed")),
    }
}

fn event_ids(t: &dyn HistoryStore) -> Vec<i64> {
    t.events(&EventFilter {
        run_id: "imp".into(),
        limit: 1000,
        ..Default::default()
    })
    .unwrap()
    .events
    .iter()
    .map(|e| e.id)
    .collect()
}

pub fn importing_is_idempotent_and_a_finished_run_replaces_its_running_copy(b: &dyn Backend) {
    let t = b.open();
    assert_eq!(
        t.import_run(imported(5, false)).unwrap(),
        ImportOutcome::Inserted
    );
    let ids = event_ids(&*t);
    assert_eq!(
        t.import_run(imported(5, false)).unwrap(),
        ImportOutcome::Unchanged
    );
    assert_eq!(event_ids(&*t), ids, "an unchanged import rewrites nothing");
    let run = t.get_run("imp").unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.event_count, run.completed_units),
        ("running", 5, 4)
    );

    assert_eq!(
        t.import_run(imported(8, true)).unwrap(),
        ImportOutcome::Updated
    );
    let run = t.get_run("imp").unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.last_seq, run.event_count),
        ("completed", 8, 8)
    );
    assert_eq!(run.completed_units, 7);
    assert_eq!(run.active_ms, 100_000);
    assert!(t.graph("imp").unwrap().is_some());
    assert_eq!(
        t.import_run(imported(8, true)).unwrap(),
        ImportOutcome::Unchanged
    );
    assert_eq!(all_events(&*t, "imp").unwrap().len(), 8);
}

pub fn an_imported_stop_and_resume_are_summarised(b: &dyn Backend) {
    let t = b.open();
    let mut imp = imported(3, true);
    imp.events
        .push(event_with(10, "run.stopped", None, r#"{"reason":"x"}"#));
    imp.events.push(event_with(
        40,
        "run.resumed",
        None,
        r#"{"resumed_from_seq":4}"#,
    ));
    t.import_run(imp).unwrap();
    let run = t.get_run("imp").unwrap().unwrap();
    assert_eq!(run.resume_count, 1);
    assert_eq!(run.active_ms, 10_000 + 60_000, "0→10 s, then 40→100 s");
}

pub fn a_bad_import_changes_nothing(b: &dyn Backend) {
    let t = b.open();
    t.import_run(imported(3, true)).unwrap();
    let mut bad = imported(6, true);
    bad.events[4].payload = Some("{oops".into());
    assert!(matches!(t.import_run(bad), Err(DbError::Invalid(_))));
    assert_eq!(t.get_run("imp").unwrap().unwrap().event_count, 3);
    let mut mismatched = imported(3, true);
    mismatched.completion.as_mut().unwrap().run_id = "other".into();
    assert!(matches!(t.import_run(mismatched), Err(DbError::Invalid(_))));
}
