//! The web UI's event queries on any backend: text search (`q=`, the cases
//! shared with the UI's search.js), failures only, newest-first pages
//! (`before_seq`), offsets and counts. Every answer is checked against an
//! oracle that applies the grammar's rules to the seeded events in memory,
//! so both backends are held to the same answers.

use otto_hooks_sqlite::{EventFilter, EventSearch, HistoryStore, NewEvent, SearchQuery};

use super::backends::*;

/// What the oracle needs of a seeded event (seq is its index + 1).
struct Seeded {
    kind: String,
    unit: Option<String>,
    error: Option<String>,
    payload: Option<String>,
}

const RUN: &str = "run_search";

/// 96 events whose types, units, errors and payloads cover the grammar:
/// families (`task` vs `tasks`), mixed case, non-ASCII letters, `%` and
/// `_`, quoted phrases, failures by type and by error.
fn seed(db: &dyn HistoryStore) -> Vec<Seeded> {
    db.start_run(new_run(RUN, "/p", 0)).unwrap();
    let kinds = [
        "unit.started",
        "task.retry",
        "task.completed",
        "tasks.other",
        "unit.failed",
        "check.fail",
        "Task.Retry",
        "task.validation.ok",
        "unit.completed",
        "pr.created",
        "x.failed_once",
        "orch.note",
    ];
    let units = [Some("api"), Some("web"), Some("my unit"), None, Some("Api")];
    let texts = [
        r#"{"msg":"Timeout after 30s"}"#,
        r#"{"msg":"exit status 1","code":1}"#,
        r#"{"msg":"ÉCHEC du déploiement"}"#,
        r#"{"msg":"échec minuscule"}"#,
        r#"{"msg":"50% done_ok","tag":"</script>"}"#,
        r#"{"path":"foo:bar","two":"two words"}"#,
        r#"{"quote":"abc\"def ghi\""}"#,
        r#"{"n":42}"#,
    ];
    let mut out = Vec::new();
    let mut batch: Vec<NewEvent> = Vec::new();
    for i in 0..96usize {
        let kind = kinds[i % kinds.len()];
        let unit = units[i % units.len()].map(str::to_owned);
        let payload = (i % 9 != 8).then(|| texts[i % texts.len()].to_owned());
        let error = match i % 7 {
            3 => Some("Exit Status 1: TIMEOUT".to_owned()),
            5 => Some(String::new()),
            _ => None,
        };
        batch.push(NewEvent {
            unit: unit.clone(),
            payload: payload.clone(),
            error: error.clone(),
            task: Some(i as i64 % 5),
            ..NewEvent::new(ts(i as i64), kind)
        });
        out.push(Seeded {
            kind: kind.to_owned(),
            unit,
            error,
            payload,
        });
        if batch.len() == 10 {
            db.append_events(RUN, std::mem::take(&mut batch)).unwrap();
        }
    }
    db.append_events(RUN, batch).unwrap();
    out
}

/// The grammar's rules (module doc of `otto_hooks_sqlite::search`) applied
/// in memory.
fn matches(e: &Seeded, filter: &EventFilter, q: Option<&SearchQuery>, failed: bool) -> bool {
    let in_family = |family: &str| e.kind == family || e.kind.starts_with(&format!("{family}."));
    if let Some(prefix) = &filter.type_prefix {
        let ok = if prefix.ends_with('.') {
            e.kind.starts_with(prefix.as_str())
        } else {
            in_family(prefix)
        };
        if !ok {
            return false;
        }
    }
    if filter.unit.is_some() && e.unit != filter.unit {
        return false;
    }
    if let Some(q) = q {
        if !q.units.is_empty() && !q.units.iter().any(|u| e.unit.as_deref() == Some(u)) {
            return false;
        }
        if !q.types.is_empty() && !q.types.iter().any(|t| in_family(t)) {
            return false;
        }
        let text = format!(
            "{}\n{}\n{}\n{}",
            e.kind,
            e.unit.as_deref().unwrap_or(""),
            e.error.as_deref().unwrap_or(""),
            e.payload.as_deref().unwrap_or("")
        )
        .to_ascii_lowercase();
        if !q.words.iter().all(|w| text.contains(w.as_str())) {
            return false;
        }
    }
    if failed
        && !(e.kind.ends_with(".fail")
            || e.kind.contains("failed")
            || e.error.as_deref().is_some_and(|s| !s.is_empty()))
    {
        return false;
    }
    true
}

/// The queries: every case shared with the UI, and more.
fn queries() -> Vec<String> {
    let cases: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../core/src/daemon/web/tests/search-cases.json"
    ))
    .unwrap();
    let mut out: Vec<String> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["q"].as_str().unwrap().to_owned())
        .collect();
    out.extend(
        [
            "timeout",
            "TIMEOUT unit:api",
            "type:task",
            "type:Task",
            "type:tasks type:check",
            "Échec",
            "échec",
            "50%",
            "%",
            "done_ok",
            "_",
            "\"exit status 1\"",
            "unit:\"my unit\" two",
            "abc\\\"def",
            "nothing-matches-this",
            "type:unit unit:web",
        ]
        .map(str::to_owned),
    );
    out
}

/// Every search, walked page by page in both orders, returns exactly the
/// oracle's events; counts and offsets agree with it too.
pub fn text_search_failures_and_both_orders_match_the_grammar(b: &dyn Backend) {
    let db = b.open();
    let seeded = seed(db.as_ref());
    let filters = [
        EventFilter::default(),
        EventFilter {
            type_prefix: Some("task".into()),
            ..EventFilter::default()
        },
        EventFilter {
            unit: Some("api".into()),
            ..EventFilter::default()
        },
    ];
    let mut nonempty = 0;
    for q in queries() {
        let parsed = SearchQuery::parse(&q);
        for base in &filters {
            for failed in [false, true] {
                let want: Vec<u64> = seeded
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| matches(e, base, Some(&parsed), failed))
                    .map(|(i, _)| i as u64 + 1)
                    .collect();
                nonempty += usize::from(!want.is_empty());
                let search = EventSearch {
                    filter: EventFilter {
                        run_id: RUN.into(),
                        limit: 7,
                        ..base.clone()
                    },
                    query: Some(parsed.clone()),
                    failed,
                    ..EventSearch::default()
                };
                let what = format!("{} q={q:?} filter={base:?} failed={failed}", b.name());
                assert_eq!(
                    db.count_search(&search).unwrap(),
                    want.len() as u64,
                    "count, {what}"
                );
                assert_eq!(
                    walk(db.as_ref(), &search, false),
                    want,
                    "oldest first, {what}"
                );
                let mut newest = want.clone();
                newest.reverse();
                assert_eq!(
                    walk(db.as_ref(), &search, true),
                    newest,
                    "newest first, {what}"
                );
                // An offset skips that many matches, in either order.
                for (descending, order) in [(false, &want), (true, &newest)] {
                    let page = db
                        .search_events(&EventSearch {
                            offset: 3,
                            descending,
                            ..search.clone()
                        })
                        .unwrap();
                    let got: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
                    let expect: Vec<u64> = order.iter().skip(3).take(7).copied().collect();
                    assert_eq!(got, expect, "offset 3 descending={descending}, {what}");
                    assert_eq!(page.has_more, order.len() > 10, "{what}");
                }
            }
        }
    }
    assert!(nonempty > 60, "the seeded events exercise the queries");
}

/// Every page of `search` in one order, by `after_seq` / `before_seq`.
fn walk(db: &dyn HistoryStore, search: &EventSearch, descending: bool) -> Vec<u64> {
    let mut search = EventSearch {
        descending,
        ..search.clone()
    };
    let mut seqs = Vec::new();
    loop {
        let page = db.search_events(&search).unwrap();
        assert!(page.events.len() <= search.filter.limit as usize);
        seqs.extend(page.events.iter().map(|e| e.seq));
        let Some(last) = page.events.last() else {
            assert!(!page.has_more);
            return seqs;
        };
        if !page.has_more {
            return seqs;
        }
        if descending {
            search.before_seq = Some(last.seq);
        } else {
            search.filter.after_seq = Some(last.seq);
        }
        assert!(seqs.len() <= 96, "pages never repeat");
    }
}

/// Without filters an offset moves the seq bound (seqs are contiguous):
/// newest-first pages of the whole run, from the end or below a bound.
pub fn newest_first_pages_and_offsets_without_filters_count_from_the_bound(b: &dyn Backend) {
    let db = b.open();
    seed(db.as_ref());
    let page = |before: Option<u64>, offset: u64, descending: bool| {
        db.search_events(&EventSearch {
            filter: EventFilter {
                run_id: RUN.into(),
                limit: 5,
                ..EventFilter::default()
            },
            before_seq: before,
            descending,
            offset,
            ..EventSearch::default()
        })
        .unwrap()
    };
    let seqs = |p: otto_hooks_sqlite::EventPage| -> (Vec<u64>, bool) {
        (p.events.iter().map(|e| e.seq).collect(), p.has_more)
    };
    assert_eq!(seqs(page(None, 0, true)), (vec![96, 95, 94, 93, 92], true));
    assert_eq!(seqs(page(None, 10, true)), (vec![86, 85, 84, 83, 82], true));
    assert_eq!(
        seqs(page(Some(50), 0, true)),
        (vec![49, 48, 47, 46, 45], true)
    );
    assert_eq!(seqs(page(Some(50), 45, true)), (vec![4, 3, 2, 1], false));
    assert_eq!(seqs(page(Some(50), 200, true)), (vec![], false));
    assert_eq!(seqs(page(None, 93, false)), (vec![94, 95, 96], false));
    assert_eq!(seqs(page(Some(4), 0, false)), (vec![1, 2, 3], false));
    // A plain search is the plain page.
    let plain = EventSearch {
        filter: EventFilter {
            run_id: RUN.into(),
            limit: 1000,
            ..EventFilter::default()
        },
        ..EventSearch::default()
    };
    assert_eq!(
        db.search_events(&plain).unwrap().events,
        db.events(&plain.filter).unwrap().events
    );
    assert_eq!(db.count_search(&plain).unwrap(), 96);
    let unknown = EventSearch {
        filter: EventFilter {
            run_id: "nope".into(),
            limit: 5,
            ..EventFilter::default()
        },
        failed: true,
        ..EventSearch::default()
    };
    assert!(matches!(
        db.search_events(&unknown),
        Err(otto_hooks_sqlite::DbError::NotFound(_))
    ));
    assert!(matches!(
        db.count_search(&unknown),
        Err(otto_hooks_sqlite::DbError::NotFound(_))
    ));
}
