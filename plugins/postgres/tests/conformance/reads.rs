//! Reads: keyset pages of runs and events, filters, the run row's shape
//! (from otto-hooks-sqlite's tests/reads.rs, on any backend).

use otto_hooks_sqlite::{EventFilter, HistoryStore, RunCursor, RunFilter};

use super::backends::*;

/// A seeded run: (started, id, project, status).
type Seeded = (i64, String, String, String);
/// Which seeded runs a filter should return.
type RunKeep = Box<dyn Fn(&Seeded) -> bool>;
/// An event filter case: type prefix, unit, which seqs it should return.
type EventCase<'a> = (
    Option<&'static str>,
    Option<&'static str>,
    Box<dyn Fn(u64) -> bool + 'a>,
);

/// 60 runs over two projects; several share a start time so the id breaks ties.
fn seed_runs(db: &dyn HistoryStore) -> Vec<Seeded> {
    let mut all = Vec::new();
    for i in 0..60i64 {
        let project = if i % 3 == 0 { "/a" } else { "/b" };
        let id = format!("run_{i:03}");
        let started = (i / 4) * 10; // four runs per start time
        db.start_run(new_run(&id, project, started)).unwrap();
        let status = match i % 4 {
            0 => "running",
            1 => "completed",
            2 => "failed",
            _ => "stopped",
        };
        if status != "running" {
            db.complete_run(completion(&id, started + 5, status))
                .unwrap();
        }
        all.push((started, id, project.to_owned(), status.to_owned()));
    }
    // Newest first, id breaking ties (descending).
    all.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    all
}

fn page_through(db: &dyn HistoryStore, mut filter: RunFilter) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = db.list_runs(&filter).unwrap();
        assert!(page.runs.len() <= filter.limit as usize);
        ids.extend(page.runs.iter().map(|r| r.id.clone()));
        assert_eq!(page.has_more, page.next.is_some());
        match page.next {
            // Through its text form, as a client would.
            Some(c) => filter.before = Some(RunCursor::decode(&c.encode()).unwrap()),
            None => break,
        }
    }
    ids
}

pub fn run_pages_return_every_matching_run_once_newest_first(b: &dyn Backend) {
    let t = b.open();
    let all = seed_runs(&*t);
    let cases: Vec<(RunFilter, RunKeep)> = vec![
        (
            RunFilter {
                limit: 7,
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            RunFilter {
                limit: 1,
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            RunFilter {
                project: Some("/a".into()),
                limit: 3,
                ..Default::default()
            },
            Box::new(|r| r.2 == "/a"),
        ),
        (
            RunFilter {
                repo_path: Some("/b".into()),
                limit: 9,
                ..Default::default()
            },
            Box::new(|r| r.2 == "/b"),
        ),
        (
            RunFilter {
                status: Some("failed".into()),
                limit: 4,
                ..Default::default()
            },
            Box::new(|r| r.3 == "failed"),
        ),
        (
            RunFilter {
                project: Some("/b".into()),
                status: Some("running".into()),
                limit: 2,
                ..Default::default()
            },
            Box::new(|r| r.2 == "/b" && r.3 == "running"),
        ),
        (
            RunFilter {
                project: Some("/none".into()),
                limit: 5,
                ..Default::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (filter, keep) in cases {
        let want: Vec<String> = all
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.1.clone())
            .collect();
        assert_eq!(
            t.count_runs(&filter).unwrap(),
            want.len() as u64,
            "{filter:?}"
        );
        assert_eq!(page_through(&*t, filter.clone()), want, "{filter:?}");
    }
}

pub fn a_run_row_has_the_formats_shape(b: &dyn Backend) {
    let t = b.open();
    t.start_run(new_run("r", "/p", 0)).unwrap();
    let json = serde_json::to_value(t.get_run("r").unwrap().unwrap()).unwrap();
    for key in [
        "id",
        "repo_path",
        "started_at",
        "completed_at",
        "status",
        "parallelism",
        "total_units",
        "completed_units",
        "failed_units",
        "blocked_units",
        "error",
        "tasks_dir",
        "dry_run",
        "project",
        "last_seq",
        "event_count",
        "resume_count",
        "active_ms",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["status"], "running");
    assert_eq!(json["completed_at"], serde_json::Value::Null);
}

fn seed_events(db: &dyn HistoryStore) {
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

fn page_events(db: &dyn HistoryStore, mut filter: EventFilter) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let page = db.events(&filter).unwrap();
        seqs.extend(page.events.iter().map(|e| e.seq));
        if !page.has_more {
            break;
        }
        filter.after_seq = page.events.last().map(|e| e.seq);
    }
    seqs
}

pub fn event_pages_return_every_matching_event_once_in_seq_order(b: &dyn Backend) {
    let t = b.open();
    seed_events(&*t);
    let kinds = [
        "unit.started",
        "task.started",
        "pr.created",
        "prd.drafted",
        "unit",
        "units.odd",
    ];
    let kind_of = |seq: u64| kinds[(seq as usize - 1) % kinds.len()];
    let unit_of = |seq: u64| if (seq - 1) % 2 == 0 { "app" } else { "api" };
    let cases: Vec<EventCase<'_>> = vec![
        (None, None, Box::new(|_| true)),
        (
            Some("unit"),
            None,
            Box::new(|s| kind_of(s) == "unit" || kind_of(s) == "unit.started"),
        ),
        (Some("pr"), None, Box::new(|s| kind_of(s) == "pr.created")),
        (
            Some("prd."),
            None,
            Box::new(|s| kind_of(s) == "prd.drafted"),
        ),
        (
            Some("task.started"),
            None,
            Box::new(|s| kind_of(s) == "task.started"),
        ),
        (None, Some("api"), Box::new(|s| unit_of(s) == "api")),
        (
            Some("unit"),
            Some("app"),
            Box::new(|s| {
                unit_of(s) == "app" && kind_of(s).starts_with("unit") && kind_of(s) != "units.odd"
            }),
        ),
        (Some("nothing"), None, Box::new(|_| false)),
    ];
    for (prefix, unit, keep) in cases {
        let filter = EventFilter {
            run_id: "r".into(),
            type_prefix: prefix.map(str::to_owned),
            unit: unit.map(str::to_owned),
            after_seq: None,
            limit: 7,
        };
        let want: Vec<u64> = (1..=300).filter(|&s| keep(s)).collect();
        assert_eq!(
            page_events(&*t, filter.clone()),
            want,
            "{prefix:?} {unit:?}"
        );
        assert_eq!(
            t.count_events(&filter).unwrap(),
            want.len() as u64,
            "{prefix:?} {unit:?}"
        );
    }
    let mid = t
        .events(&EventFilter {
            run_id: "r".into(),
            after_seq: Some(295),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        mid.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [296, 297, 298, 299, 300]
    );
    assert!(!mid.has_more);
}
