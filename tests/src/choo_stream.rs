//! One full choo-shaped run — `orch.started` with a dependency graph, unit,
//! task and pull-request events, failures, a malformed line, a stop and a
//! resume — as choo sends it (NDJSON in its wire format), and the rows it
//! must leave in history.db, checked row by row.
//!
//! The same stream is replayed through `otto-hooks hook …` (processes) and
//! through the library `Runtime` (`tests/sqlite_history.rs`); both must
//! store exactly [`EXPECTED`].

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// The run's start time (`--started-at`).
pub const STARTED_AT: &str = "2025-01-20T14:30:50Z";
/// The run's end time (`--ended-at`).
pub const ENDED_AT: &str = "2025-01-20T15:10:00Z";
/// `--parallelism`.
pub const PARALLELISM: u32 = 2;
/// `--total-units`.
pub const TOTAL_UNITS: u32 = 3;
/// `--tasks-dir`.
pub const TASKS_DIR: &str = "specs/tasks";
/// `run-stop --reason`.
pub const STOP_REASON: &str = "user pressed ctrl-c";
/// `run-complete --status`.
pub const FINAL_STATUS: &str = "failed";
/// `run-complete --error`.
pub const FINAL_ERROR: &str = "1 unit failed";
/// `run-complete --failed-units` (replaces the counted 2: `api` failed,
/// then passed on resume). Completed and blocked units are left to the
/// counters the events maintain.
pub const FINAL_FAILED_UNITS: u32 = 1;

macro_rules! graph {
    () => {
        r#"{"nodes":[{"id":"api","level":0,"tasks":2,"status":"pending","completed_tasks":0},{"id":"web","level":1,"tasks":1,"status":"pending","completed_tasks":0},{"id":"docs","level":1,"tasks":1,"status":"pending","completed_tasks":0}],"edges":[{"from":"web","to":"api"},{"from":"docs","to":"api"}],"levels":[["api"],["web","docs"]]}"#
    };
}

/// The dependency graph of `orch.started` (`web` and `docs` depend on `api`).
pub const GRAPH: &str = graph!();

/// One line of an NDJSON chunk.
#[derive(Clone, Copy, Debug)]
pub enum Line {
    /// A valid event.
    Event(&'static str),
    /// A line that must be reported (with its line number) and skipped.
    Malformed(&'static str),
}

impl Line {
    /// The line's text.
    pub fn text(&self) -> &'static str {
        match self {
            Line::Event(t) | Line::Malformed(t) => t,
        }
    }
}

/// What the orchestrator does next.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// `hook event --run ID` with these lines on stdin (one batch).
    Events(&'static [Line]),
    /// `hook run-stop --run ID --reason STOP_REASON`.
    Stop,
    /// `hook run-resume --run ID`.
    Resume,
}

const BEFORE_STOP: &[Line] = &[
    Line::Event(concat!(
        r#"{"time":"2025-01-20T14:30:52.100000000Z","type":"orch.started","payload":{"unit_count":3,"parallelism":2,"graph":"#,
        graph!(),
        "}}"
    )),
    Line::Event(r#"{"time":"2025-01-20T14:30:52.5Z","type":"unit.queued","unit":"api"}"#),
    Line::Event(
        r#"{"time":"2025-01-20T14:30:53Z","type":"unit.started","unit":"api","payload":{"total_tasks":2,"completed_tasks":0}}"#,
    ),
    Line::Event(
        r#"{"timestamp":"2025-01-20T14:30:54Z","type":"task.started","unit":"api","task":1,"payload":{"title":"schema"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:30:55Z","type":"task.claude.invoke","unit":"api","task":1}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:31:40Z","type":"task.claude.done","unit":"api","task":1}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:31:45Z","type":"task.validation.fail","unit":"api","task":1,"payload":{"output":"3 tests failed","exit_code":1}}"#,
    ),
    Line::Malformed("this line is not JSON"),
    Line::Event(
        r#"{"time":"2025-01-20T14:31:46Z","type":"task.retry","unit":"api","task":1,"payload":"plain text","hint":"unknown fields are ignored"}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:32:30Z","type":"task.validation.ok","unit":"api","task":1}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:32:31Z","type":"task.committed","unit":"api","task":1,"payload":{"commit":"3f2a9c1"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:32:32Z","type":"task.completed","unit":"api","task":1,"payload":{"title":"schema"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:32:33Z","type":"task.started","unit":"api","task":2,"payload":{"title":"handlers"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:35:00Z","type":"task.failed","unit":"api","task":2,"error":"claude exited with status 1"}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:35:01Z","type":"unit.failed","unit":"api","error":"task 2 failed"}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:35:02Z","type":"unit.blocked","unit":"web","payload":{"blocked_by":["api"]}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T14:35:02Z","type":"unit.blocked","unit":"docs","payload":{"blocked_by":["api"]}}"#,
    ),
];

const AFTER_RESUME: &[Line] = &[
    Line::Event(
        r#"{"time":"2025-01-20T16:00:00+01:00","type":"unit.started","unit":"api","payload":{"total_tasks":2,"completed_tasks":1}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:00:01Z","type":"task.started","unit":"api","task":2,"payload":{"title":"handlers"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:03:00Z","type":"task.completed","unit":"api","task":2,"payload":{"title":"handlers"}}"#,
    ),
    Line::Event(r#"{"time":"2025-01-20T15:03:01Z","type":"unit.completed","unit":"api"}"#),
    Line::Event(
        r#"{"time":"2025-01-20T15:03:05Z","type":"pr.created","unit":"api","pr":12,"payload":{"url":"https://github.com/acme/app/pull/12","branch":"unit/api","target":"main"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:04:00Z","type":"pr.review.approved","unit":"api","pr":12}"#,
    ),
    Line::Event(r#"{"time":"2025-01-20T15:05:00Z","type":"pr.merged","unit":"api","pr":12}"#),
    Line::Event(
        r#"{"time":"2025-01-20T15:05:01Z","type":"unit.merged","unit":"api","payload":{"branch":"unit/api","target_branch":"main"}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:05:02Z","type":"unit.started","unit":"web","payload":{"total_tasks":1,"completed_tasks":0}}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:05:03Z","type":"unit.started","unit":"docs","payload":{"total_tasks":1,"completed_tasks":0}}"#,
    ),
    Line::Event(r#"{"time":"2025-01-20T15:07:00Z","type":"unit.completed","unit":"web"}"#),
    Line::Event(
        r#"{"time":"2025-01-20T15:08:00Z","type":"unit.failed","unit":"docs","payload":["mkdocs","exit 1"],"error":"docs build failed"}"#,
    ),
    Line::Event(
        r#"{"time":"2025-01-20T15:09:59Z","type":"orch.failed","payload":{"completed":2,"failed":1},"error":"1 unit failed"}"#,
    ),
];

/// The whole run, in order (between `run-start` and `run-complete`).
pub const STEPS: &[Step] = &[
    Step::Events(BEFORE_STOP),
    Step::Stop,
    Step::Resume,
    Step::Events(AFTER_RESUME),
];

/// The 1-based line number of the malformed line in the first chunk, as
/// `hook event` reports it (`stdin:8:`).
pub const MALFORMED_LINE: usize = 8;

/// A chunk's lines as NDJSON text.
pub fn ndjson(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{}\n", l.text())).collect()
}

/// One expected `events` row.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// `seq`.
    pub seq: i64,
    /// `time` as stored; `None` for events timed by the hook call itself
    /// (`run.stopped`, `run.resumed`: checked for shape only).
    pub time: Option<&'static str>,
    /// `type`.
    pub kind: &'static str,
    /// `unit`.
    pub unit: Option<&'static str>,
    /// `task`.
    pub task: Option<i64>,
    /// `pr`.
    pub pr: Option<i64>,
    /// `payload`, exactly as stored.
    pub payload: Option<&'static str>,
    /// `error`.
    pub error: Option<&'static str>,
}

const fn row(seq: i64, time: &'static str, kind: &'static str) -> Row {
    Row {
        seq,
        time: Some(time),
        kind,
        unit: None,
        task: None,
        pr: None,
        payload: None,
        error: None,
    }
}

const fn unit(seq: i64, time: &'static str, kind: &'static str, u: &'static str) -> Row {
    Row {
        unit: Some(u),
        ..row(seq, time, kind)
    }
}

const fn task(seq: i64, time: &'static str, kind: &'static str, t: i64) -> Row {
    Row {
        task: Some(t),
        ..unit(seq, time, kind, "api")
    }
}

const fn pr(seq: i64, time: &'static str, kind: &'static str) -> Row {
    Row {
        pr: Some(12),
        ..unit(seq, time, kind, "api")
    }
}

const fn with_payload(r: Row, p: &'static str) -> Row {
    Row {
        payload: Some(p),
        ..r
    }
}

const fn with_error(r: Row, e: &'static str) -> Row {
    Row {
        error: Some(e),
        ..r
    }
}

/// The seq of `run.stopped`.
pub const STOP_SEQ: i64 = 17;
/// The seq of `run.resumed`.
pub const RESUME_SEQ: i64 = 18;

/// Every event row the run must leave, in seq order: the valid lines
/// (times in UTC with nine fractional digits, a non-object payload wrapped
/// as `{"value": …}`, unknown fields dropped), the stop and the resume, and
/// the `run.failed` the completion records.
pub const EXPECTED: &[Row] = &[
    with_payload(
        row(1, "2025-01-20T14:30:52.100000000Z", "orch.started"),
        concat!(r#"{"unit_count":3,"parallelism":2,"graph":"#, graph!(), "}"),
    ),
    unit(2, "2025-01-20T14:30:52.500000000Z", "unit.queued", "api"),
    with_payload(
        unit(3, "2025-01-20T14:30:53.000000000Z", "unit.started", "api"),
        r#"{"total_tasks":2,"completed_tasks":0}"#,
    ),
    with_payload(
        task(4, "2025-01-20T14:30:54.000000000Z", "task.started", 1),
        r#"{"title":"schema"}"#,
    ),
    task(5, "2025-01-20T14:30:55.000000000Z", "task.claude.invoke", 1),
    task(6, "2025-01-20T14:31:40.000000000Z", "task.claude.done", 1),
    with_payload(
        task(
            7,
            "2025-01-20T14:31:45.000000000Z",
            "task.validation.fail",
            1,
        ),
        r#"{"output":"3 tests failed","exit_code":1}"#,
    ),
    with_payload(
        task(8, "2025-01-20T14:31:46.000000000Z", "task.retry", 1),
        r#"{"value":"plain text"}"#,
    ),
    task(9, "2025-01-20T14:32:30.000000000Z", "task.validation.ok", 1),
    with_payload(
        task(10, "2025-01-20T14:32:31.000000000Z", "task.committed", 1),
        r#"{"commit":"3f2a9c1"}"#,
    ),
    with_payload(
        task(11, "2025-01-20T14:32:32.000000000Z", "task.completed", 1),
        r#"{"title":"schema"}"#,
    ),
    with_payload(
        task(12, "2025-01-20T14:32:33.000000000Z", "task.started", 2),
        r#"{"title":"handlers"}"#,
    ),
    with_error(
        task(13, "2025-01-20T14:35:00.000000000Z", "task.failed", 2),
        "claude exited with status 1",
    ),
    with_error(
        unit(14, "2025-01-20T14:35:01.000000000Z", "unit.failed", "api"),
        "task 2 failed",
    ),
    with_payload(
        unit(15, "2025-01-20T14:35:02.000000000Z", "unit.blocked", "web"),
        r#"{"blocked_by":["api"]}"#,
    ),
    with_payload(
        unit(16, "2025-01-20T14:35:02.000000000Z", "unit.blocked", "docs"),
        r#"{"blocked_by":["api"]}"#,
    ),
    Row {
        seq: STOP_SEQ,
        time: None,
        kind: "run.stopped",
        unit: None,
        task: None,
        pr: None,
        payload: Some(r#"{"reason":"user pressed ctrl-c"}"#),
        error: None,
    },
    Row {
        seq: RESUME_SEQ,
        time: None,
        kind: "run.resumed",
        unit: None,
        task: None,
        pr: None,
        payload: Some(r#"{"resumed_from_seq":17}"#),
        error: None,
    },
    with_payload(
        unit(19, "2025-01-20T15:00:00.000000000Z", "unit.started", "api"),
        r#"{"total_tasks":2,"completed_tasks":1}"#,
    ),
    with_payload(
        task(20, "2025-01-20T15:00:01.000000000Z", "task.started", 2),
        r#"{"title":"handlers"}"#,
    ),
    with_payload(
        task(21, "2025-01-20T15:03:00.000000000Z", "task.completed", 2),
        r#"{"title":"handlers"}"#,
    ),
    unit(
        22,
        "2025-01-20T15:03:01.000000000Z",
        "unit.completed",
        "api",
    ),
    with_payload(
        pr(23, "2025-01-20T15:03:05.000000000Z", "pr.created"),
        r#"{"url":"https://github.com/acme/app/pull/12","branch":"unit/api","target":"main"}"#,
    ),
    pr(24, "2025-01-20T15:04:00.000000000Z", "pr.review.approved"),
    pr(25, "2025-01-20T15:05:00.000000000Z", "pr.merged"),
    with_payload(
        unit(26, "2025-01-20T15:05:01.000000000Z", "unit.merged", "api"),
        r#"{"branch":"unit/api","target_branch":"main"}"#,
    ),
    with_payload(
        unit(27, "2025-01-20T15:05:02.000000000Z", "unit.started", "web"),
        r#"{"total_tasks":1,"completed_tasks":0}"#,
    ),
    with_payload(
        unit(28, "2025-01-20T15:05:03.000000000Z", "unit.started", "docs"),
        r#"{"total_tasks":1,"completed_tasks":0}"#,
    ),
    unit(
        29,
        "2025-01-20T15:07:00.000000000Z",
        "unit.completed",
        "web",
    ),
    with_error(
        with_payload(
            unit(30, "2025-01-20T15:08:00.000000000Z", "unit.failed", "docs"),
            r#"{"value":["mkdocs","exit 1"]}"#,
        ),
        "docs build failed",
    ),
    with_error(
        with_payload(
            row(31, "2025-01-20T15:09:59.000000000Z", "orch.failed"),
            r#"{"completed":2,"failed":1}"#,
        ),
        "1 unit failed",
    ),
    // Written with the completion, in the same transaction.
    with_error(
        with_payload(
            row(32, "2025-01-20T15:10:00.000000000Z", "run.failed"),
            r#"{"status":"failed","failed_units":1}"#,
        ),
        "1 unit failed",
    ),
];

/// Opens `db` read-only.
pub fn open_read(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", db.display()))
}

/// Whether `t` has the stored time shape `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn is_stored_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 30
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            29 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Checks, row by row, what the stream left in `db` for `run_id` (recorded
/// for the repository `repo`): the `runs` row with its summary columns,
/// every `events` row, the `graphs` row, and the database's integrity.
pub fn check_history(db: &Path, run_id: &str, repo: &Path) {
    let conn = open_read(db);
    let repo = std::fs::canonicalize(repo)
        .unwrap_or_else(|e| panic!("{}: {e}", repo.display()))
        .to_string_lossy()
        .into_owned();

    // The runs row.
    let runs: i64 = conn
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .expect("count runs");
    assert_eq!(runs, 1, "one run recorded");
    let col = |name: &str| -> Value {
        conn.query_row(
            &format!("SELECT {name} FROM runs WHERE id = ?1"),
            [run_id],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("runs.{name} of {run_id}: {e}"))
    };
    let text = |s: &str| Value::Text(s.to_owned());
    let int = |n: i64| Value::Integer(n);
    let last = EXPECTED.len() as i64;
    for (name, want) in [
        ("id", text(run_id)),
        ("project", text(&repo)),
        ("repo_path", text(&repo)),
        ("started_at", text("2025-01-20T14:30:50.000000000Z")),
        ("completed_at", text("2025-01-20T15:10:00.000000000Z")),
        ("status", text(FINAL_STATUS)),
        ("parallelism", int(PARALLELISM.into())),
        ("total_units", int(TOTAL_UNITS.into())),
        // Counted from the events: unit.completed of api and web.
        ("completed_units", int(2)),
        // Given at completion (the events counted 2).
        ("failed_units", int(FINAL_FAILED_UNITS.into())),
        // Counted from the events: unit.blocked of web and docs.
        ("blocked_units", int(2)),
        ("error", text(FINAL_ERROR)),
        ("tasks_dir", text(TASKS_DIR)),
        ("dry_run", int(0)),
        ("last_seq", int(last)),
        ("event_count", int(last)),
        ("resume_count", int(1)),
        ("active_since", Value::Null),
    ] {
        assert_eq!(col(name), want, "runs.{name}");
    }
    match col("active_ms") {
        Value::Integer(ms) => assert!(ms >= 0, "runs.active_ms = {ms}"),
        other => panic!("runs.active_ms = {other:?}"),
    }
    match col("updated_at") {
        Value::Text(t) => assert!(is_stored_time(&t), "runs.updated_at = {t}"),
        other => panic!("runs.updated_at = {other:?}"),
    }

    // Every events row.
    type Stored = (
        i64,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Stored> = conn
        .prepare(
            "SELECT seq, time, type, unit, task, pr, payload, error FROM events
             WHERE run_id = ?1 ORDER BY seq",
        )
        .expect("prepare the events query")
        .query_map([run_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .expect("query the events")
        .collect::<Result<_, _>>()
        .expect("read the events");
    let all: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .expect("count events");
    assert_eq!(all, rows.len() as i64, "no event of another run");
    let kinds: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    let want_kinds: Vec<&str> = EXPECTED.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, want_kinds, "event types in seq order");
    for (got, want) in rows.iter().zip(EXPECTED) {
        let (seq, time, kind, unit, task, pr, payload, error) = got;
        let at = format!("event seq {}", want.seq);
        assert_eq!(*seq, want.seq, "{at}: seq");
        match want.time {
            Some(t) => assert_eq!(time, t, "{at}: time"),
            None => assert!(is_stored_time(time), "{at}: time {time}"),
        }
        assert_eq!(kind, want.kind, "{at}: type");
        assert_eq!(unit.as_deref(), want.unit, "{at}: unit");
        assert_eq!(*task, want.task, "{at}: task");
        assert_eq!(*pr, want.pr, "{at}: pr");
        assert_eq!(payload.as_deref(), want.payload, "{at}: payload");
        assert_eq!(error.as_deref(), want.error, "{at}: error");
    }
    // The stop and the resume come after the events before them, in time too.
    let stop_time = &rows[STOP_SEQ as usize - 1].1;
    let resume_time = &rows[RESUME_SEQ as usize - 1].1;
    assert!(stop_time <= resume_time, "{stop_time} <= {resume_time}");

    // The graphs row.
    let (nodes, edges, levels): (String, String, String) = conn
        .query_row(
            "SELECT nodes, edges, levels FROM graphs WHERE run_id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the graphs row");
    let graph = json(GRAPH);
    assert_eq!(json(&nodes), graph["nodes"], "graphs.nodes");
    assert_eq!(json(&edges), graph["edges"], "graphs.edges");
    assert_eq!(json(&levels), graph["levels"], "graphs.levels");
    let graphs: i64 = conn
        .query_row("SELECT COUNT(*) FROM graphs", [], |r| r.get(0))
        .expect("count graphs");
    assert_eq!(graphs, 1);

    // The database.
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let dangling: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("foreign_key_check");
    assert_eq!(dangling, 0, "foreign keys");
}
