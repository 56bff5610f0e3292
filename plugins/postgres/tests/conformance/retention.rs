//! Retention and deletion (from otto-hooks-sqlite's tests/retention.rs, on
//! any backend; the byte accounting is history.db's own and stays there).

use otto_hooks_sqlite::{HistoryStore, RunFilter, all_events, all_runs};

use super::backends::*;

fn fill(db: &dyn HistoryStore, id: &str, started: i64, events: usize) {
    db.start_run(new_run(id, "/p", started)).unwrap();
    let payload = format!(r#"{{"file":"{}"}}"#, "x".repeat(200));
    let batch = (0..events)
        .map(|i| event_with(started + i as i64, "task.started", None, &payload))
        .collect();
    db.append_events(id, batch).unwrap();
}

fn ids(db: &dyn HistoryStore) -> Vec<String> {
    let mut ids: Vec<String> = all_runs(db, &RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

fn total_events(db: &dyn HistoryStore) -> usize {
    all_runs(db, &RunFilter::default())
        .unwrap()
        .iter()
        .map(|r| all_events(db, &r.id).unwrap().len())
        .sum()
}

pub fn expire_deletes_old_finished_runs_in_chunks_and_never_running_ones(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    for i in 0..5 {
        fill(db, &format!("old-done-{i}"), i, 400);
        db.complete_run(completion(&format!("old-done-{i}"), 1000, "completed"))
            .unwrap();
    }
    fill(db, "old-stopped", 0, 400);
    db.stop_run("old-stopped", ts(1000), None).unwrap();
    fill(db, "old-running-0", 0, 400);
    fill(db, "old-running-1", 0, 10);
    for i in 0..3 {
        fill(db, &format!("new-done-{i}"), 5000, 10);
        db.complete_run(completion(&format!("new-done-{i}"), 9000, "failed"))
            .unwrap();
    }
    let before = total_events(db);

    // A dry run names exactly the runs the pass then deletes.
    let preview = db.expire_preview(ts(2000)).unwrap();
    assert_eq!(preview.events, 6 * 400 + 1);
    assert_eq!(total_events(db), before, "preview deletes nothing");

    let report = db.expire(ts(2000), 2).unwrap();
    assert_eq!(report.runs_deleted, 6);
    assert_eq!(report.run_ids, preview.run_ids);
    let mut expired = report.run_ids.clone();
    expired.sort();
    assert_eq!(
        expired,
        [
            "old-done-0",
            "old-done-1",
            "old-done-2",
            "old-done-3",
            "old-done-4",
            "old-stopped"
        ]
    );
    assert_eq!(report.events_deleted, 6 * 400 + 1);
    assert!((3..=4).contains(&report.chunks), "chunks of 2: {report:?}");
    assert_eq!(
        ids(db),
        [
            "new-done-0",
            "new-done-1",
            "new-done-2",
            "old-running-0",
            "old-running-1"
        ]
    );
    assert_eq!(total_events(db), before - report.events_deleted as usize);
    for gone in &report.run_ids {
        assert!(db.get_run(gone).unwrap().is_none());
        assert!(
            db.stop_resume_points(gone).unwrap().is_empty(),
            "no orphan events"
        );
    }
    let again = db.expire(ts(2000), 2).unwrap();
    assert_eq!((again.runs_deleted, again.events_deleted), (0, 0));
}

pub fn delete_runs_skips_running_runs_and_reports_unknown_ids(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    fill(db, "done", 0, 20);
    db.complete_run(completion("done", 100, "completed"))
        .unwrap();
    fill(db, "live", 0, 5);
    let payload = r#"{"graph":{"nodes":[],"edges":[],"levels":[]}}"#;
    db.append_events("done", vec![event_with(50, "orch.started", None, payload)])
        .unwrap();
    let report = db
        .delete_runs(vec![
            "done".into(),
            "live".into(),
            "ghost".into(),
            "done".into(),
        ])
        .unwrap();
    assert_eq!(report.deleted, ["done"]);
    assert_eq!(report.skipped_running, ["live"]);
    assert_eq!(report.not_found, ["ghost"]);
    assert_eq!(report.events_deleted, 21);
    assert_eq!(ids(db), ["live"]);
    assert_eq!(db.graph("done").unwrap(), None);
}

pub fn repos_and_usage_count_runs_per_repository_and_project(b: &dyn Backend) {
    let t = b.open();
    let db = &*t;
    fill(db, "a1", 0, 2);
    fill(db, "a2", 10, 1);
    db.complete_run(completion("a2", 20, "failed")).unwrap();
    db.start_run(new_run("q1", "/q", 5)).unwrap();
    let repos = db.repos().unwrap();
    let shape: Vec<(&str, u64, u64, u64)> = repos
        .iter()
        .map(|r| (r.repo_path.as_str(), r.runs, r.running, r.failed))
        .collect();
    assert_eq!(shape, [("/p", 2, 1, 1), ("/q", 1, 1, 0)]);
    let usage = db.project_usage(None).unwrap();
    assert_eq!(usage.len(), 2);
    assert_eq!((usage[0].project.as_str(), usage[0].runs), ("/p", 2));
    // Characters of type + payload of the three events of /p.
    let chars = 3 * ("task.started".len() + r#"{"file":""}"#.len() + 200) as u64;
    assert_eq!(usage[0].runs_bytes, chars);
    assert_eq!(usage[0].oldest_run, Some(ts(0)));
    assert_eq!(db.project_usage(Some("/q")).unwrap()[0].runs_bytes, 0);
}
