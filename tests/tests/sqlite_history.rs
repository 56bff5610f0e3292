//! End-to-end: choo's runs recorded through `otto-hooks hook …` and through
//! the library `Runtime` into the SQLite history (the default hook storage),
//! read back row by row with SQLite itself (the stream and the expected rows
//! are `otto_hooks_tests::choo_stream`); secrets never reach the database
//! files; several processes writing at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use otto_hooks_core::config::{self, LoadOptions};
use otto_hooks_core::hooks::wire::{self, WireEvent};
use otto_hooks_core::hooks::{
    HookOutcome, ProjectRef, RunCompleteRequest, RunStartRequest, Runtime, history_db_storage,
    parse_status,
};
use otto_hooks_core::registry::Registry;
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_tests::choo_stream::{
    ENDED_AT, FINAL_ERROR, FINAL_FAILED_UNITS, FINAL_STATUS, Line, PARALLELISM, STARTED_AT, STEPS,
    STOP_REASON, Step, TASKS_DIR, TOTAL_UNITS, check_history, ndjson,
};
use otto_hooks_tests::hook_cli::{HookWorld as World, text};

#[test]
fn a_choo_stream_with_a_stop_and_a_resume_is_stored_row_by_row() {
    let w = World::new();
    let repo = w.repo_arg();
    let parallelism = PARALLELISM.to_string();
    let total_units = TOTAL_UNITS.to_string();
    let id = w.ok(&[
        "hook",
        "run-start",
        "--repo",
        &repo,
        "--parallelism",
        &parallelism,
        "--total-units",
        &total_units,
        "--tasks-dir",
        TASKS_DIR,
        "--started-at",
        STARTED_AT,
    ]);
    let id = id.trim();
    assert!(id.starts_with("run_") && id.len() == 24, "{id}");
    for step in STEPS {
        match step {
            Step::Events(lines) => {
                let out = w.events(id, &ndjson(lines), &[]);
                let stderr = text(&out.stderr);
                let malformed: Vec<usize> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| matches!(l, Line::Malformed(_)))
                    .map(|(i, _)| i + 1)
                    .collect();
                if malformed.is_empty() {
                    assert!(out.status.success(), "{stderr}");
                } else {
                    assert_eq!(out.status.code(), Some(2), "{stderr}");
                    for n in malformed {
                        assert!(stderr.contains(&format!("stdin:{n}:")), "{stderr}");
                    }
                }
            }
            Step::Stop => {
                w.ok(&["hook", "run-stop", "--run", id, "--reason", STOP_REASON]);
            }
            Step::Resume => {
                w.ok(&["hook", "run-resume", "--run", id]);
            }
        }
    }
    let failed_units = FINAL_FAILED_UNITS.to_string();
    w.ok(&[
        "hook",
        "run-complete",
        "--run",
        id,
        "--status",
        FINAL_STATUS,
        "--error",
        FINAL_ERROR,
        "--failed-units",
        &failed_units,
        "--ended-at",
        ENDED_AT,
    ]);
    check_history(&w.db(), id, &w.repo);

    // Read back through the CLI.
    let list = w.ok(&["list", "--backend", "sqlite", "--repo", &repo, "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["run"], id);
    assert_eq!(list[0]["status"], "failed");
    let events = w.ok(&["events", id, "--type", "run", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&events).unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["run.stopped", "run.resumed", "run.failed"]);

    // `info <repo>/<run>`: asked of the history directly; the project must
    // agree, whatever the history finds by id alone.
    let info = w.ok(&[
        "info",
        &format!("{repo}/{id}"),
        "--backend",
        "sqlite",
        "--json",
    ]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        (info["project"].as_str(), info["run"].as_str()),
        (Some(repo.as_str()), Some(id))
    );
    let elsewhere = w.run(&["info", &format!("/elsewhere/{id}"), "--backend", "sqlite"]);
    assert_eq!(
        elsewhere.status.code(),
        Some(2),
        "{}",
        text(&elsewhere.stderr)
    );
    assert!(
        text(&elsewhere.stderr).contains("no run"),
        "{}",
        text(&elsewhere.stderr)
    );
}

/// The same stream through the library `Runtime`, as an orchestrator written
/// in Rust embeds it: no process, the lines parsed with the library's wire
/// parser, one `events` call per chunk.
#[test]
fn the_same_choo_stream_through_the_library_runtime_is_stored_row_by_row() {
    let w = World::new();
    let hooks_home = w.hooks_home();
    let db = w.dir.path().join("library/history.db");
    let config = config::load(&LoadOptions {
        hooks_home: hooks_home.clone(),
        cwd: w.dir.path().to_path_buf(),
        env: Vec::new(),
        overrides: Vec::new(),
    })
    .unwrap();
    let runtime = Runtime::new(config.clone(), Registry::from_config(&config), hooks_home)
        .with_storage(history_db_storage(&db).unwrap());
    let project = ProjectRef::from_repo(&w.repo).unwrap();
    let (id, outcome) = runtime
        .run_start(
            &project,
            RunStartRequest {
                started_at: Some(wire::parse_rfc3339(STARTED_AT).unwrap()),
                repo_path: Some(project.key.clone()),
                parallelism: Some(PARALLELISM),
                total_units: Some(TOTAL_UNITS),
                tasks_dir: Some(TASKS_DIR.to_owned()),
                ..RunStartRequest::default()
            },
        )
        .unwrap();
    assert_eq!(outcome, HookOutcome::default());
    assert!(id.starts_with("run_") && id.len() == 24, "{id}");
    for step in STEPS {
        let outcome = match step {
            Step::Events(lines) => {
                let mut parsed = Vec::new();
                for line in lines.iter() {
                    match (line, wire::parse_event(line.text(), Timestamp::now())) {
                        (Line::Event(_), Ok(e)) => parsed.push(e),
                        (Line::Malformed(_), Err(_)) => {}
                        (line, result) => panic!("{line:?}: {result:?}"),
                    }
                }
                let events: Vec<_> = parsed.iter().map(WireEvent::as_event).collect();
                runtime.events(&id, &events).unwrap()
            }
            Step::Stop => runtime.run_stop(&id, Some(STOP_REASON), None).unwrap(),
            Step::Resume => runtime.run_resume(&id, None).unwrap(),
        };
        assert_eq!(outcome, HookOutcome::default(), "{step:?}");
    }
    let (summary, outcome) = runtime
        .run_complete(&RunCompleteRequest {
            run_id: id.clone(),
            status: parse_status(FINAL_STATUS).unwrap(),
            ended_at: Some(wire::parse_rfc3339(ENDED_AT).unwrap()),
            completed_units: None,
            failed_units: Some(FINAL_FAILED_UNITS),
            blocked_units: None,
            error: Some(FINAL_ERROR.to_owned()),
        })
        .unwrap();
    assert_eq!(outcome, HookOutcome::default());
    assert_eq!(summary.run, id);
    drop(runtime);
    check_history(&db, &id, &w.repo);
    assert!(
        !w.db().exists(),
        "the library wrote to the history it was given, not the default one"
    );
}

#[test]
fn secrets_and_token_shapes_never_reach_the_database_files() {
    let w = World::new();
    let repo = w.repo.to_string_lossy().into_owned();
    let secret = "hunter2-correct-horse-battery";
    let id = w
        .command(&[
            "hook",
            "run-start",
            "--repo",
            &repo,
            "--secret-env",
            "DEPLOY_KEY",
        ])
        .env("DEPLOY_KEY", secret)
        .bounded_output()
        .unwrap();
    assert!(id.status.success(), "{}", text(&id.stderr));
    let id = text(&id.stdout).trim().to_owned();
    let b64 = "aHVudGVyMi1jb3JyZWN0LWhvcnNlLWJhdHRlcnk"; // base64 of the secret (no padding)
    let tokens = [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "glpat-abcdefghij0123456789",
        "xoxb-1234567890-abcdefghijkl",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "sk_live_abcdefghij0123456789",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    ];
    let mut lines = String::new();
    for (i, t) in tokens.iter().enumerate() {
        lines.push_str(&format!(
            "{{\"type\":\"task.validation.fail\",\"unit\":\"u{i}\",\"payload\":{{\"output\":\"leaked {t} here\",\"nested\":[{{\"x\":\"{t}\"}}]}},\"error\":\"failed with {t}\"}}\n"
        ));
    }
    lines.push_str(&format!(
        "{{\"type\":\"unit.failed\",\"payload\":{{\"password\":\"p4ssw0rd-plain\",\"api_key\":\"k-123456\",\"output\":\"Authorization: Bearer opaque-bearer-value-123\",\"url\":\"https://bob:pa55word@git.example.com/x\"}},\"error\":\"secret {secret} and Basic {b64}\"}}\n"
    ));
    let out = w.events(&id, &lines, &[("DEPLOY_KEY", secret)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let done = w
        .command(&[
            "hook",
            "run-complete",
            "--run",
            &id,
            "--status",
            "failed",
            "--error",
            &format!("died printing {secret}"),
        ])
        .env("DEPLOY_KEY", secret)
        .bounded_output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(
        !text(&done.stdout).contains(secret),
        "the summary is masked too"
    );
    let stored: i64 = w
        .read()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        stored,
        tokens.len() as i64 + 2,
        "+ the secret's event and run.completed"
    );
    let mut planted: Vec<&str> = tokens.to_vec();
    planted.extend([
        secret,
        b64,
        "p4ssw0rd-plain",
        "k-123456",
        "opaque-bearer-value-123",
        "pa55word",
    ]);
    for file in ["history.db", "history.db-wal", "history.db-shm"] {
        let path = w.dir.path().join("hooks").join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for t in &planted {
            assert!(
                !contains(&bytes, t.as_bytes()),
                "{t} found in {}",
                path.display()
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn eight_processes_appending_at_once_store_every_event_in_order() {
    let w = World::new();
    let repo = w.repo.to_string_lossy().into_owned();
    let start = |_| {
        w.ok(&["hook", "run-start", "--repo", &repo])
            .trim()
            .to_owned()
    };
    let shared = start(0);
    let own: Vec<String> = (0..8).map(start).collect();
    const EACH: usize = 1500;
    let children: Vec<_> = own
        .iter()
        .enumerate()
        .flat_map(|(p, run)| {
            [run.clone(), shared.clone()].map(|target| {
                let mut lines = String::new();
                for i in 0..EACH {
                    lines.push_str(&format!(
                        "{{\"type\":\"unit.started\",\"unit\":\"p{p}\",\"payload\":{{\"i\":{i}}}}}\n"
                    ));
                }
                let mut c = w.command(&["hook", "event", "--run", &target]);
                c.stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let mut child = c.spawn().unwrap();
                let mut stdin = child.stdin.take().unwrap();
                std::thread::spawn(move || stdin.write_all(lines.as_bytes()).unwrap());
                child
            })
        })
        .collect();
    for child in children {
        let out = otto_hooks_tests::bounded::finish("otto-hooks hook event", child);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let db = w.read();
    let check = |run: &str, expected: usize| {
        let seqs: Vec<i64> = db
            .prepare("SELECT seq FROM events WHERE run_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([run], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seqs.len(), expected, "{run}");
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as i64 + 1),
            "contiguous"
        );
    };
    check(&shared, 8 * EACH);
    for run in &own {
        check(run, EACH);
    }
    // Each writer's own events stay in its order within the shared run.
    for p in 0..8 {
        let is: Vec<i64> = db
            .prepare(
                "SELECT json_extract(payload, '$.i') FROM events WHERE run_id = ?1 AND unit = ?2 ORDER BY seq",
            )
            .unwrap()
            .query_map([shared.as_str(), &format!("p{p}")], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(is, (0..EACH as i64).collect::<Vec<_>>());
    }
    assert_eq!(
        db.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}

#[test]
fn an_unknown_run_and_a_duplicate_id_are_refused_and_store_nothing() {
    let w = World::new();
    let repo = w.repo.to_string_lossy().into_owned();
    let out = w.events("run_20990101_000000_dead", "{\"type\":\"x.y\"}\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown run"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&["hook", "run-start", "--repo", &repo, "--run-id", "ci-42"]);
    let again = w.run(&["hook", "run-start", "--repo", &repo, "--run-id", "ci-42"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("ALREADY_EXISTS"));
    let n: i64 = w
        .read()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let _ = Path::new("");
}
