//! End-to-end: choo's runs recorded through `otto-hooks hook …` into the
//! SQLite history (the default hook storage), read back row by row with
//! SQLite itself; secrets never reach the database files; several
//! processes writing at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use otto_hooks_tests::PrivateDir;
use rusqlite::{Connection, OpenFlags};

struct World {
    dir: PrivateDir,
    repo: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = PrivateDir::new();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        World { dir, repo }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("hooks/history.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(otto_hooks_tests::otto_hooks_binary());
        c.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.dir.path().join("hooks"))
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `hook event --run ID` with `lines` on stdin.
    fn events(&self, run: &str, lines: &str, env: &[(&str, &str)]) -> Output {
        let mut c = self.command(&["hook", "event", "--run", run]);
        c.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn read(&self) -> Connection {
        Connection::open_with_flags(self.db(), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const GRAPH: &str = r#"{"nodes":[{"id":"api","level":0,"tasks":2,"status":"pending","completed_tasks":0},{"id":"web","level":1,"tasks":1,"status":"pending","completed_tasks":0}],"edges":[{"from":"web","to":"api"}],"levels":[["api"],["web"]]}"#;

#[test]
fn a_choo_stream_with_a_stop_and_a_resume_is_stored_row_by_row() {
    let w = World::new();
    let repo = w.repo.to_string_lossy().into_owned();
    let id = w.ok(&[
        "hook",
        "run-start",
        "--repo",
        &repo,
        "--parallelism",
        "2",
        "--total-units",
        "2",
        "--tasks-dir",
        "specs/tasks",
    ]);
    let id = id.trim();
    assert!(id.starts_with("run_") && id.len() == 24, "{id}");
    let first = format!(
        "{{\"time\":\"2025-01-20T14:30:52.100000000Z\",\"type\":\"orch.started\",\"payload\":{{\"unit_count\":2,\"parallelism\":2,\"graph\":{GRAPH}}}}}\n\
         {{\"time\":\"2025-01-20T14:30:53Z\",\"type\":\"unit.started\",\"unit\":\"api\",\"payload\":{{\"total_tasks\":2,\"completed_tasks\":0}}}}\n\
         {{\"timestamp\":\"2025-01-20T14:30:54Z\",\"type\":\"task.started\",\"unit\":\"api\",\"task\":1,\"payload\":{{\"title\":\"schema\"}}}}\n\
         this line is not JSON\n\
         {{\"time\":\"2025-01-20T14:30:55Z\",\"type\":\"task.validation.fail\",\"unit\":\"api\",\"task\":1,\"payload\":{{\"output\":\"3 tests failed\",\"exit_code\":1}}}}\n\
         {{\"time\":\"2025-01-20T14:30:56Z\",\"type\":\"task.retry\",\"unit\":\"api\",\"task\":1,\"payload\":\"plain text\"}}\n\
         {{\"time\":\"2025-01-20T14:30:57Z\",\"type\":\"unit.failed\",\"unit\":\"api\",\"error\":\"validation failed twice\"}}\n"
    );
    let out = w.events(id, &first, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stdin:4:"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&[
        "hook",
        "run-stop",
        "--run",
        id,
        "--reason",
        "user pressed ctrl-c",
    ]);
    w.ok(&["hook", "run-resume", "--run", id]);
    let second = "{\"time\":\"2025-01-20T15:00:00Z\",\"type\":\"unit.started\",\"unit\":\"web\"}\n\
                  {\"time\":\"2025-01-20T15:00:05Z\",\"type\":\"unit.completed\",\"unit\":\"web\"}\n";
    let out = w.events(id, second, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok(&[
        "hook",
        "run-complete",
        "--run",
        id,
        "--status",
        "failed",
        "--error",
        "1 unit failed",
        "--completed-units",
        "1",
        "--failed-units",
        "1",
    ]);

    let db = w.read();
    let row = |col: &str| -> rusqlite::types::Value {
        db.query_row(
            &format!("SELECT {col} FROM runs WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    use rusqlite::types::Value::{Integer, Text};
    let repo_path = match row("repo_path") {
        Text(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(row("status"), Text("failed".into()));
    assert_eq!(row("parallelism"), Integer(2));
    assert_eq!(row("total_units"), Integer(2));
    assert_eq!(row("completed_units"), Integer(1));
    assert_eq!(row("failed_units"), Integer(1));
    assert_eq!(row("error"), Text("1 unit failed".into()));
    assert_eq!(row("tasks_dir"), Text("specs/tasks".into()));
    assert_eq!(row("resume_count"), Integer(1));
    let last_seq = row("last_seq");
    assert_eq!(
        repo_path,
        std::fs::canonicalize(&w.repo)
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
    let rows: Vec<(i64, String, Option<String>, Option<String>)> = db
        .prepare("SELECT seq, type, unit, payload FROM events WHERE run_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        types,
        [
            "orch.started",
            "unit.started",
            "task.started",
            "task.validation.fail",
            "task.retry",
            "unit.failed",
            "run.stopped",
            "run.resumed",
            "unit.started",
            "unit.completed"
        ]
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "contiguous seq");
    assert_eq!(last_seq, Integer(10));
    assert_eq!(rows[4].3.as_deref(), Some(r#"{"value":"plain text"}"#));
    let stopped: serde_json::Value = serde_json::from_str(rows[6].3.as_deref().unwrap()).unwrap();
    assert_eq!(stopped["reason"], "user pressed ctrl-c");
    let resumed: serde_json::Value = serde_json::from_str(rows[7].3.as_deref().unwrap()).unwrap();
    assert_eq!(resumed["resumed_from_seq"], 7);
    let nodes: String = db
        .query_row("SELECT nodes FROM graphs WHERE run_id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(nodes.contains("\"api\"") && nodes.contains("\"web\""));
    assert_eq!(
        db.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );

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
    assert_eq!(kinds, ["run.stopped", "run.resumed"]);
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
        .output()
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
        .output()
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
    assert_eq!(stored, tokens.len() as i64 + 1);
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
        let out = child.wait_with_output().unwrap();
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
