//! The fuzz targets' bodies: one function per target, each feeding one
//! parser of outside input and checking what it returns.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use otto_hooks_core::hooks::wire::{self, WireEvent};
use otto_hooks_plugin_api::Timestamp;

use crate::{Reader, assert_one_line, field, fields, split_first};

/// The receipt time the targets pass for "now".
pub const NOW: Timestamp = Timestamp {
    secs: 1_800_000_000,
    nanos: 0,
};

/// A process-wide scratch directory (libFuzzer runs one input at a time).
fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
        .path()
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The JSON line `event` is sent as (the inverse of `parse_event`).
fn event_line(e: &WireEvent) -> String {
    let mut out = format!(
        "{{\"time\":{},\"type\":{}",
        js(&wire::rfc3339(e.time)),
        js(&e.kind)
    );
    if let Some(u) = &e.unit {
        out.push_str(&format!(",\"unit\":{}", js(u)));
    }
    if let Some(t) = e.task {
        out.push_str(&format!(",\"task\":{t}"));
    }
    if let Some(p) = e.pr {
        out.push_str(&format!(",\"pr\":{p}"));
    }
    if let Some(p) = &e.payload {
        out.push_str(&format!(",\"payload\":{p}"));
    }
    if let Some(err) = &e.error {
        out.push_str(&format!(",\"error\":{}", js(err)));
    }
    out.push('}');
    out
}

/// NDJSON events (`otto-hooks hook event` on stdin, `--event`, the
/// daemon's batches): every line parses or fails with one line, and a
/// parsed event sent again parses to itself.
pub fn wire_ndjson(data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        // The stdin reader refuses a line that is not UTF-8 before parsing.
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match wire::parse_event(text, NOW) {
            Err(e) => assert_one_line("parse_event", &e),
            Ok(event) => {
                assert!(!event.kind.trim().is_empty(), "an event without a type");
                assert!(
                    event.time.nanos < 1_000_000_000,
                    "nanos out of range: {event:?}"
                );
                if let Some(p) = &event.payload {
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(p)
                        .expect("the payload is a JSON object");
                }
                let again = event_line(&event);
                let back = wire::parse_event(&again, NOW)
                    .unwrap_or_else(|e| panic!("{again} does not parse again: {e}"));
                assert_eq!(back, event, "the round trip through {again} changed it");
            }
        }
    }
}

thread_local! {
    /// A real history database with one running run, that the daemon
    /// target appends its parsed events to.
    static HISTORY: RefCell<Option<otto_hooks_sqlite::HistoryDb>> = const { RefCell::new(None) };
}

/// The run the daemon target appends to.
const RUN: &str = "run_20270115_080000_fuzz";

fn with_history<T>(f: impl FnOnce(&otto_hooks_sqlite::HistoryDb) -> T) -> T {
    HISTORY.with(|cell| {
        let mut slot = cell.borrow_mut();
        let db = slot.get_or_insert_with(|| {
            let db = otto_hooks_sqlite::HistoryDb::open(
                scratch().join("history.db"),
                &otto_hooks_sqlite::Options::default(),
            )
            .expect("a history database");
            db.start_run(otto_hooks_sqlite::NewRun {
                id: RUN.into(),
                project: "/src/web".into(),
                repo_path: "/src/web".into(),
                started_at: NOW,
                parallelism: 2,
                total_units: 3,
                tasks_dir: None,
                dry_run: false,
            })
            .expect("the fuzz run starts");
            db
        });
        f(db)
    })
}

/// The daemon's write bodies: the first byte picks the endpoint (run start,
/// events, complete, stop, resume), the rest is the body. What parses is
/// stored in a real history.db (events) or checked (a start's graph).
pub fn daemon_bodies(data: &[u8]) {
    use otto_hooks_core::daemon::server::fuzzing::{Endpoint, Parsed, parse};
    let (selector, body) = split_first(data);
    let endpoint = match selector % 5 {
        0 => Endpoint::Start,
        1 => Endpoint::Events,
        2 => Endpoint::Complete,
        3 => Endpoint::Stop,
        _ => Endpoint::Resume,
    };
    match parse(endpoint, body, NOW) {
        Err(_) => {}
        Ok(Parsed::Start(_, Some(graph))) => {
            let v: serde_json::Value = serde_json::from_str(&graph).expect("the graph is JSON");
            assert!(v.get("graph").is_some_and(serde_json::Value::is_object));
        }
        Ok(Parsed::Events(events)) => {
            for e in &events {
                if let Some(p) = &e.payload {
                    serde_json::from_str::<serde_json::Value>(p).expect("a payload is JSON");
                }
            }
            // The engine validates what the parser let through: an error
            // is an answer, a panic a finding.
            if let Err(e) = with_history(|db| db.append_events(RUN, events)) {
                assert_one_line("append_events", &e.to_string());
            }
        }
        Ok(_) => {}
    }
}

/// Where the config target writes its input: otto's `config.yml`, choo's
/// global `config.yaml`, otto-hooks' global `config.toml`, a project's
/// `.otto-hooks.toml` or its `.choo.yaml`.
fn config_slots(root: &Path) -> [PathBuf; 5] {
    [
        root.join("home/.otto/config.yml"),
        root.join("home/.config/choo/config.yaml"),
        root.join("hooks/config.toml"),
        root.join("repo/.otto-hooks.toml"),
        root.join("repo/.choo.yaml"),
    ]
}

/// Config files (TOML and YAML, otto's and choo's): the first byte picks
/// the file, the rest is its text. A config loads or fails with one line;
/// one that loads reports itself.
pub fn config(data: &[u8]) {
    let (selector, text) = split_first(data);
    let root = scratch().join("config");
    let slots = config_slots(&root);
    for slot in &slots {
        let _ = std::fs::remove_file(slot);
        if let Some(dir) = slot.parent() {
            std::fs::create_dir_all(dir).expect("the config directories");
        }
    }
    let slot = &slots[usize::from(selector) % slots.len()];
    std::fs::write(slot, text).expect("the config file is written");
    let opts = otto_hooks_core::config::LoadOptions {
        hooks_home: root.join("hooks"),
        cwd: root.join("repo"),
        env: vec![
            ("HOME".into(), root.join("home").display().to_string()),
            (
                "OTTO_HOME".into(),
                root.join("home/.otto").display().to_string(),
            ),
        ],
        overrides: Vec::new(),
    };
    match otto_hooks_core::config::load(&opts) {
        Err(e) => assert_one_line("config::load", &e.to_string()),
        Ok(config) => {
            let report = config.report();
            serde_json::to_string(&report).expect("the config report serialises");
            let _ = config.default_selection();
        }
    }
}

/// otto's `run.yaml`: attributes or a one-line `run.yaml: …` error; the
/// attributes are the known fields, as text.
pub fn run_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match otto_hooks_otto_fs::fuzzing::run_yaml(text) {
        Err(e) => assert_one_line("run.yaml", &e),
        Ok(attributes) => {
            for (key, value) in &attributes {
                match key.as_str() {
                    "user" | "cwd" | "ottofile" | "prog" | "ottofile_hash" => {
                        assert!(value.is_string(), "{key} is {value}");
                    }
                    "args" => {
                        let items = value.as_array().expect("args is a list");
                        assert!(items.iter().all(serde_json::Value::is_string));
                    }
                    other => panic!("unexpected attribute {other}"),
                }
            }
        }
    }
}

/// Project and run directory names (otto's `<name>-<hash8>` and
/// `<secs>[-<n>]`): what parses prints back to a name that parses the
/// same, and otto-fs, the otto.db key and the archive agree on them.
pub fn dir_names(data: &[u8]) {
    use otto_hooks_otto_fs::layout::{ProjectName, RunName};
    let f = fields(data);
    let (project, run) = (field(&f, 0), field(&f, 1));
    let p = ProjectName::parse(project);
    if let Some(p) = p {
        assert!(!p.name.is_empty());
        assert_eq!(p.hash.len(), 8);
        assert_eq!(format!("{}-{}", p.name, p.hash), p.dir);
        assert!(p.matches(project));
    }
    let r = RunName::parse(run);
    if let Some(r) = r {
        let printed = match r.suffix {
            Some(n) => format!("{}-{n}", r.secs),
            None => r.secs.to_string(),
        };
        assert_eq!(RunName::parse(&printed), Some(r), "{printed}");
        assert!(r.start_secs() >= 0);
    }
    // otto.db rows are matched to directories by this key: it exists for
    // exactly the names otto-fs lists.
    let key = otto_hooks_status_default::run_dir_key(project, run);
    assert_eq!(
        key.is_some(),
        p.is_some() && r.is_some(),
        "otto-fs and the otto.db key disagree on {project:?} / {run:?}"
    );
    let parts = vec!["otto".to_owned(), project.to_owned(), run.to_owned()];
    let placed = otto_hooks_core::archive::check::place(&parts);
    if !project.contains('/') && !run.contains('/') && project != ".cache" && run != ".cache" {
        assert_eq!(
            placed.is_ok(),
            p.is_some() && r.is_some(),
            "the archive and otto-fs disagree on {project:?} / {run:?}: {placed:?}"
        );
    }
}

/// otto-fs' size index file: bytes that decode encode to bytes that
/// decode again, to an index of the same size.
pub fn size_index(data: &[u8]) {
    // The otto home the seed index (`otto-hooks demo --projects 1`, then
    // `list`) was written for: an index names its root.
    let home = Path::new("/tmp/otto-fuzz/otto");
    if let Some(bytes) = otto_hooks_otto_fs::fuzzing::index_reencoded(data, home) {
        // The encoding follows hash-map order (not canonical): compare
        // what it holds, by size, not byte for byte.
        let again = otto_hooks_otto_fs::fuzzing::index_reencoded(&bytes, home)
            .expect("an encoded index decodes");
        assert_eq!(again.len(), bytes.len(), "decode∘encode changed the index");
    }
}

/// The schema of otto.db (version 5), as otto creates it.
const OTTO_DB_V5: &str = include_str!("../../tests/fixtures/otto-db-v5.sql");

/// otto.db rows: a real otto.db whose rows (and schema version, and
/// columns) come from the input, read by a dry-run clean of runs the
/// input names. Never a panic; warnings are one line.
pub fn ottodb_rows(data: &[u8]) {
    let f = fields(data);
    let mut head = Reader(field(&f, 0).as_bytes());
    let home = scratch().join("otto-home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("the otto home");
    let conn = rusqlite::Connection::open(home.join("otto.db")).expect("otto.db");
    // The file is rebuilt for every input: no journal, no fsync.
    conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        .expect("pragmas");
    let shape = head.u8();
    let mut ddl = OTTO_DB_V5.to_owned();
    if shape & 1 != 0 {
        // Before schema 5: no run_dir column.
        ddl = ddl.replace("    run_dir TEXT,\n", "");
    }
    if shape & 2 != 0 {
        ddl = ddl.replace("    run_count INTEGER DEFAULT 0\n", "    last INTEGER\n");
    }
    conn.execute_batch(&ddl).expect("the otto.db schema");
    let version = if shape & 4 != 0 {
        i64::from(head.u8()) - 2
    } else {
        5
    };
    if shape & 8 == 0 {
        conn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, 0)",
            [version],
        )
        .expect("the schema version");
    }
    // Rows: fields after the first, four per row: ottofile_path,
    // timestamp (text, to be parsed as otto stores it), run_dir, status.
    let rows = f.get(1..).unwrap_or(&[]);
    for (i, row) in rows.chunks(4).enumerate() {
        let ottofile = field(row, 0);
        let ts: i64 = field(row, 1).trim().parse().unwrap_or(1_700_000_000);
        let run_dir = field(row, 2);
        let project_id = i64::try_from(i % 3).unwrap_or(0) + 1;
        let _ = conn.execute(
            "INSERT OR IGNORE INTO projects (id, hash, name, ottofile_path, first_seen, last_seen) \
             VALUES (?1, ?2, 'p', ?3, 0, 0)",
            rusqlite::params![project_id, format!("h{project_id}"), ottofile],
        );
        let run_dir = (!run_dir.is_empty() && shape & 1 == 0).then_some(run_dir);
        let sql = if shape & 1 == 0 {
            "INSERT INTO runs (project_id, timestamp, status, ottofile_path, run_dir) \
             VALUES (?1, ?2, ?3, ?4, ?5)"
        } else {
            "INSERT INTO runs (project_id, timestamp, status, ottofile_path) \
             VALUES (?1, ?2, ?3, ?4)"
        };
        let status = field(row, 3);
        let res = if shape & 1 == 0 {
            conn.execute(
                sql,
                rusqlite::params![project_id, ts, status, ottofile, run_dir],
            )
        } else {
            conn.execute(sql, rusqlite::params![project_id, ts, status, ottofile])
        };
        res.expect("a runs row");
        let _ = conn.execute(
            "INSERT INTO tasks (run_id, name, status) VALUES (last_insert_rowid(), 'build', 'ok')",
            [],
        );
    }
    drop(conn);
    // The runs the clean would delete: pairs named by the rows' run_dirs.
    let planned: Vec<otto_hooks_plugin_api::report::PlannedRun> = rows
        .chunks(4)
        .filter_map(|row| {
            let (project, run) = field(row, 2).rsplit_once('/')?;
            let project = project.rsplit('/').next()?;
            Some(otto_hooks_plugin_api::report::PlannedRun {
                project: project.to_owned(),
                run: run.to_owned(),
                ..Default::default()
            })
        })
        .collect();
    let mut warnings = Vec::new();
    let _ = otto_hooks_core::ottodb_rows::preview(&home, &planned, true, &mut warnings);
    for w in &warnings {
        assert_one_line("otto.db warning", w);
    }
}

/// The events search grammar, run on a real history.db: the query
/// parses to non-empty terms, and its count matches its page.
pub fn search(data: &[u8]) {
    use otto_hooks_sqlite::{EventFilter, EventSearch, SearchQuery};
    let text = String::from_utf8_lossy(data);
    let query = SearchQuery::parse(&text);
    for term in query.units.iter().chain(&query.types).chain(&query.words) {
        assert!(!term.is_empty(), "an empty term from {text:?}");
    }
    for word in &query.words {
        assert_eq!(word, &word.to_ascii_lowercase());
    }
    assert_eq!(query.len() == 0, query.is_empty());
    with_history(|db| {
        let seeded = db
            .count_events(&EventFilter {
                run_id: RUN.into(),
                limit: 1,
                ..EventFilter::default()
            })
            .expect("count");
        if seeded == 0 {
            let event = |kind: &str, unit: Option<&str>, payload: Option<&str>| {
                otto_hooks_sqlite::NewEvent {
                    time: NOW,
                    kind: kind.into(),
                    unit: unit.map(Into::into),
                    task: None,
                    pr: None,
                    payload: payload.map(Into::into),
                    error: None,
                }
            };
            db.append_events(
                RUN,
                vec![
                    event("orch.started", None, Some(r#"{"graph":{"nodes":[]}}"#)),
                    event("unit.started", Some("app-shell"), None),
                    event(
                        "task.validation.ok",
                        Some("app-shell"),
                        Some(r#"{"pr":12}"#),
                    ),
                    event("unit.failed", Some("api"), Some(r#"{"error":"Exit 1"}"#)),
                ],
            )
            .expect("the seed events");
        }
        let search = EventSearch {
            filter: EventFilter {
                run_id: RUN.into(),
                limit: 1000,
                ..EventFilter::default()
            },
            query: Some(query.clone()),
            ..EventSearch::default()
        };
        let page = db.search_events(&search).expect("a search runs");
        let count = db.count_search(&search).expect("a count runs");
        if !page.has_more {
            assert_eq!(count, page.events.len() as u64, "{query:?}");
        }
    });
}

/// The archive checker: entry paths, their places, link targets. A path
/// that passes is plain and relative; a link that passes resolves inside
/// its project.
pub fn archive_check(data: &[u8]) {
    use otto_hooks_core::archive::check::{Place, components, link_target, place};
    let f = fields(data);
    let (path, target) = (field(&f, 0), field(&f, 1));
    let parts = match components(path, 4096) {
        Err(_) => return,
        Ok(parts) => parts,
    };
    for p in &parts {
        assert!(!p.is_empty() && p != "." && p != ".." && !p.contains('/') && !p.contains('\0'));
    }
    let Ok(placed) = place(&parts) else { return };
    if let Place::Run { project, .. } = &placed {
        if link_target(&parts, target, 4096).is_ok() {
            // Resolve independently: from the link's directory, lexically.
            let mut at: Vec<&str> = parts[..parts.len() - 1]
                .iter()
                .map(String::as_str)
                .collect();
            for c in target.split('/') {
                match c {
                    "" | "." => {}
                    ".." => {
                        at.pop()
                            .expect("an accepted link climbs out of the archive");
                    }
                    name => at.push(name),
                }
            }
            assert!(
                at.len() >= 3 && at[0] == "otto" && at[1] == project,
                "link {target:?} at {parts:?} accepted but resolves to {at:?}"
            );
        }
    }
}

/// What a plugin hands back through the ABI's `emit` and `error`
/// callbacks: runs, verdicts and texts whose strings are arbitrary bytes.
/// Decoding yields items or an error, never a panic; a message is one line.
pub fn plugin_abi(data: &[u8]) {
    use otto_hooks_plugin_api::abi::{self, CallStatus, ErrorCode, Opt, Str};
    use otto_hooks_plugin_api::host::fuzzing;
    use std::marker::PhantomData;
    let mut r = Reader(data);
    // Every string points into the input: its bytes need not be UTF-8.
    fn raw<'a>(r: &mut Reader<'a>, absent: bool) -> Str<'a> {
        let b = r.bytes();
        if absent {
            Str::NONE
        } else {
            Str {
                ptr: b.as_ptr(),
                len: b.len(),
                _marker: PhantomData,
            }
        }
    }
    let flags = r.u8();
    let status = CallStatus(u32::from(r.u8() % 4));
    let error = (flags & 1 != 0).then(|| {
        let code = ErrorCode(r.u32());
        (code, raw(&mut r, flags & 2 != 0))
    });
    let kind = r.u8() % 3;
    let count = usize::from(r.u8() % 4);
    let result = match kind {
        0 => {
            let mut runs = Vec::new();
            for _ in 0..count {
                let absent = r.u8();
                runs.push(abi::Run {
                    id: raw(&mut r, absent & 1 != 0),
                    project: raw(&mut r, absent & 2 != 0),
                    started_at: Timestamp {
                        secs: r.i64(),
                        nanos: r.u32(),
                    },
                    ended_at: Opt {
                        is_some: r.u8(),
                        value: Timestamp {
                            secs: r.i64(),
                            nanos: r.u32(),
                        },
                    },
                    status: r.u32(),
                    status_source: raw(&mut r, absent & 4 != 0),
                    task_count: r.u32(),
                    size_bytes: Opt {
                        is_some: r.u8(),
                        value: r.u64(),
                    },
                    allocated_bytes: Opt {
                        is_some: r.u8(),
                        value: r.u64(),
                    },
                    location: raw(&mut r, absent & 8 != 0),
                    pinned: r.u8(),
                    attributes: raw(&mut r, absent & 16 != 0),
                });
            }
            let mut ptrs: Vec<*const abi::Run<'_>> = runs.iter().map(|x| x as *const _).collect();
            if flags & 4 != 0 {
                ptrs.push(std::ptr::null());
            }
            // SAFETY: every item and string points into `runs` or `data`.
            unsafe { fuzzing::runs(&ptrs, error, status) }
        }
        1 => {
            let verdicts: Vec<abi::StatusVerdict<'_>> = (0..count)
                .map(|_| {
                    let absent = r.u8();
                    abi::StatusVerdict {
                        status: r.u32(),
                        source: raw(&mut r, absent & 1 != 0),
                    }
                })
                .collect();
            let ptrs: Vec<_> = verdicts.iter().map(|x| x as *const _).collect();
            // SAFETY: as above.
            unsafe { fuzzing::verdicts(&ptrs, error, status) }
        }
        _ => {
            let texts: Vec<Str<'_>> = (0..count)
                .map(|_| {
                    let absent = r.u8();
                    raw(&mut r, absent & 1 != 0)
                })
                .collect();
            let ptrs: Vec<_> = texts.iter().map(|x| x as *const _).collect();
            // SAFETY: as above.
            unsafe { fuzzing::texts(&ptrs, error, status) }
        }
    };
    if let Err((_, message)) = result {
        assert_one_line("plugin error", &message);
    }
}
