//! The decision chain, source by source, on fixture otto homes.

pub(crate) mod support;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use otto_hooks_plugin_api::host::open_module;
use otto_hooks_plugin_api::{
    Plugin, PluginConfig, PluginKind, Run, RunDetails, RunStatus, StatusDetector, Task, TaskStatus,
    Timestamp,
};

use self::support::{Ended, Home, SCHEMA_V5, hold_lock, plugin};
use crate::lock::{self, LockState};
use crate::{DefaultStatus, MODULE, Source};

const TS: i64 = 1_700_000_000;

/// Every source.
const SOURCES: [Source; 9] = [
    Source::Storage,
    Source::Lock,
    Source::OttoDb,
    Source::OttoDbNoLock,
    Source::ExitCodes,
    Source::TaskOutputs,
    Source::StderrHeuristic,
    Source::NoTasks,
    Source::Undecided,
];

/// `(status, source name)` of `run`. A guess's source is
/// `guess: <why>; <source name>: <evidence>`: the name is taken out of it,
/// and a verdict is a guess exactly when its source is one.
fn verdict(p: &DefaultStatus, run: &Run) -> (RunStatus, String) {
    let v = p.detect(run).unwrap();
    let name = match v.guess_reason() {
        Some(reason) => {
            let (_, rest) = reason.split_once("; ").expect("why; evidence");
            rest.split_once(": ")
                .expect("source: evidence")
                .0
                .to_owned()
        }
        None => v.source.clone(),
    };
    let source = SOURCES
        .into_iter()
        .find(|s| s.as_str() == name)
        .unwrap_or_else(|| panic!("no source is named `{name}` ({})", v.source));
    assert_eq!(source.is_guess(), v.is_guess(), "{}", v.source);
    (v.status, name)
}

fn is(status: RunStatus, source: Source) -> (RunStatus, String) {
    (status, source.as_str().to_owned())
}

/// The schema before version 5: no `run_dir`.
fn schema_v4() -> String {
    SCHEMA_V5
        .replace(",\n    run_dir TEXT", "")
        .replace("(5, 1750000000)", "(4, 1740000000)")
}

#[test]
fn a_success_or_failed_row_decides() {
    let home = Home::new();
    let web = home.project("web");
    let ok = web.run("1700000000", &[("build", "warning: noisy\n")]);
    let bad = web.run("1700000100", &[("build", "")]);
    let db = home.create_db();
    db.run(&web, TS, "success", Some(TS + 5), Some(&ok.location));
    db.run(
        &web,
        TS + 100,
        "failed",
        Some(TS + 105),
        Some(&bad.location),
    );
    let p = plugin("");
    assert_eq!(verdict(&p, &ok), is(RunStatus::Success, Source::OttoDb));
    assert_eq!(verdict(&p, &bad), is(RunStatus::Failed, Source::OttoDb));
}

#[test]
fn a_row_stuck_at_running_without_a_live_lock_is_interrupted() {
    let home = Home::new();
    let web = home.project("web");
    let free = web.run("1700000000", &[("build", "")]);
    let legacy = web.run("1700000100", &[("build", "")]);
    std::fs::remove_file(Path::new(&legacy.location).join(".lock")).unwrap();
    let db = home.create_db();
    db.run(&web, TS, "running", None, Some(&free.location));
    db.run(&web, TS + 100, "running", None, Some(&legacy.location));
    let p = plugin("");
    assert_eq!(
        verdict(&p, &free),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
    assert_eq!(
        verdict(&p, &legacy),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
    assert_eq!(Source::OttoDbNoLock.as_str(), "otto.db + no live lock");
}

#[test]
fn a_stuck_row_is_read_again_once_then_remembered() {
    let home = Home::new();
    let web = home.project("web");
    let stuck = web.run("1700000000", &[("build", "")]);
    let db = home.create_db();
    db.run(&web, TS, "running", None, Some(&stuck.location));
    let p = plugin("");
    let otto_db = p.db_for(&home.home);
    assert_eq!(verdict(&p, &stuck).0, RunStatus::Interrupted);
    let after_first = otto_db.reads();
    assert_eq!(
        after_first, 2,
        "the load, then one re-read of the running row"
    );
    for _ in 0..5 {
        assert_eq!(verdict(&p, &stuck).0, RunStatus::Interrupted);
    }
    assert_eq!(otto_db.reads(), after_first);
}

#[test]
fn a_held_lock_means_running_whatever_the_row_says() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "oops")]);
    let db = home.create_db();
    db.run(&web, TS, "success", Some(TS + 1), Some(&run.location));
    let p = plugin("");
    let guard = hold_lock(&run);
    assert_eq!(lock::probe(Path::new(&run.location)), LockState::Held);
    assert_eq!(verdict(&p, &run), is(RunStatus::Running, Source::Lock));
    drop(guard);
    assert_eq!(lock::probe(Path::new(&run.location)), LockState::Free);
    assert_eq!(verdict(&p, &run), is(RunStatus::Success, Source::OttoDb));

    // Without any database, too.
    let bare = Home::new();
    let run = bare.project("api").run("1700000000", &[]);
    let _guard = hold_lock(&run);
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Running, Source::Lock)
    );
}

#[test]
fn a_run_storage_saw_finished_is_not_probed_again() {
    let home = Home::new();
    let web = home.project("web");
    let mut run = web.run("1700000000", &[("build", "")]);
    let db = home.create_db();
    db.run(&web, TS, "running", None, Some(&run.location));
    // The storage saw the lock free after the run settled: the row stuck at
    // `running` is an interrupted run, with no probe of `.lock`. (The lock
    // is held here only to show that the probe is skipped.)
    run.attributes
        .insert("finished".into(), serde_json::Value::Bool(true));
    let _guard = hold_lock(&run);
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
    // Without the attribute the probe decides.
    run.attributes.remove("finished");
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Running, Source::Lock)
    );
}

#[test]
fn the_probe_never_creates_a_missing_lock() {
    let home = Home::new();
    let run = home.project("web").run("1700000000", &[("build", "")]);
    let lock_path = Path::new(&run.location).join(".lock");
    std::fs::remove_file(&lock_path).unwrap();
    assert_eq!(lock::probe(Path::new(&run.location)), LockState::Missing);
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
    assert!(
        std::fs::symlink_metadata(&lock_path).is_err(),
        "the probe created .lock"
    );
    // Nor a missing run directory.
    let gone = home.home.join("web-00000000").join("1");
    assert_eq!(lock::probe(&gone), LockState::Missing);
    assert!(!gone.exists());
}

#[test]
fn a_symlinked_lock_is_not_followed() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "")]);
    let lock_path = Path::new(&run.location).join(".lock");
    let target = home.root.join("elsewhere.lock");
    std::fs::write(&target, "").unwrap();
    std::fs::remove_file(&lock_path).unwrap();
    std::os::unix::fs::symlink(&target, &lock_path).unwrap();
    // Someone holds the link's target: following the link would say "held".
    let target_fd = rustix::fs::open(
        &target,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    rustix::fs::flock(&target_fd, rustix::fs::FlockOperation::LockExclusive).unwrap();
    assert_eq!(lock::probe(Path::new(&run.location)), LockState::Symlink);
    let db = home.create_db();
    db.run(&web, TS, "running", None, Some(&run.location));
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
    assert!(
        std::fs::symlink_metadata(&lock_path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn rows_are_matched_by_run_dir_first() {
    let home = Home::new();
    let web = home.project("web");
    let first = web.run("1700000000", &[("build", "")]);
    let second = web.run("1700000000-1", &[("build", "")]);
    let db = home.create_db();
    // Inserted in the "wrong" order: by position, the first row would be `<ts>`.
    db.run(
        &web,
        TS,
        "failed",
        Some(TS + 9),
        Some(&format!("{}/", second.location)),
    );
    db.run(&web, TS, "success", Some(TS + 3), Some(&first.location));
    let p = plugin("");
    assert_eq!(verdict(&p, &first), is(RunStatus::Success, Source::OttoDb));
    assert_eq!(verdict(&p, &second), is(RunStatus::Failed, Source::OttoDb));
}

#[test]
fn pre_v5_rows_are_matched_by_project_hash_and_timestamp() {
    let home = Home::new();
    let web = home.project("web");
    let api = home.project("api");
    let runs: Vec<Run> = ["1700000000", "1700000000-1", "1700000000-2"]
        .iter()
        .map(|id| web.run(id, &[("build", "")]))
        .collect();
    let other = api.run("1700000000", &[("build", "")]);
    assert!(!schema_v4().contains("run_dir") && schema_v4().contains("(4, "));
    let db = home.create_db_with(&schema_v4());
    db.run_v4(&web, TS, "failed");
    db.run_v4(&api, TS, "running");
    db.run_v4(&web, TS, "success");
    db.run_v4(&web, TS, "running");
    let p = plugin("");
    assert_eq!(verdict(&p, &runs[0]), is(RunStatus::Failed, Source::OttoDb));
    assert_eq!(
        verdict(&p, &runs[1]),
        is(RunStatus::Success, Source::OttoDb)
    );
    assert_eq!(
        verdict(&p, &runs[2]),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
    assert_eq!(
        verdict(&p, &other),
        is(RunStatus::Interrupted, Source::OttoDbNoLock)
    );
}

#[test]
fn v5_rows_with_a_null_run_dir_are_matched_by_project_hash_and_timestamp() {
    let home = Home::new();
    let web = home.project("web");
    let a = web.run("1700000000", &[("build", "")]);
    let b = web.run("1700000000-1", &[("build", "")]);
    let db = home.create_db();
    db.run(&web, TS, "success", None, None);
    db.run(&web, TS, "failed", None, None);
    let p = plugin("");
    assert_eq!(verdict(&p, &a), is(RunStatus::Success, Source::OttoDb));
    assert_eq!(verdict(&p, &b), is(RunStatus::Failed, Source::OttoDb));
}

#[test]
fn exit_codes_decide_when_the_row_status_is_unusable() {
    let home = Home::new();
    let web = home.project("web");
    let ok = web.run("1700000000", &[("build", "noise"), ("docs", "")]);
    let bad = web.run("1700000100", &[("build", ""), ("test", "")]);
    let open = web.run("1700000200", &[("build", "")]);
    let db = home.create_db();
    let id = db.run(&web, TS, "cancelled", None, Some(&ok.location));
    db.task(id, "build", "completed", Some(0), None, None, None);
    db.task(id, "docs", "skipped", None, None, None, None);
    let id = db.run(&web, TS + 100, "", None, Some(&bad.location));
    db.task(id, "build", "completed", Some(0), None, None, None);
    db.task(id, "test", "completed", Some(2), None, None, None);
    let id = db.run(&web, TS + 200, "queued", None, Some(&open.location));
    db.task(id, "build", "pending", None, None, None, None);
    let p = plugin("");
    assert_eq!(verdict(&p, &ok), is(RunStatus::Success, Source::ExitCodes));
    assert_eq!(verdict(&p, &bad), is(RunStatus::Failed, Source::ExitCodes));
    // Nothing recorded decides: the heuristic does.
    assert_eq!(
        verdict(&p, &open),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
}

#[test]
fn the_heuristic_stats_the_logs_without_following_symlinks() {
    let home = Home::new();
    let web = home.project("web");
    let quiet = web.run("1700000000", &[("build", ""), ("check:db", "")]);
    let noisy = web.run("1700000100", &[("build", ""), ("check:db", "boom\n")]);
    let p = plugin("");
    assert_eq!(
        verdict(&p, &quiet),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
    assert_eq!(
        verdict(&p, &noisy),
        is(RunStatus::Failed, Source::StderrHeuristic)
    );

    // A stderr.log that links to a non-empty file, and a task directory that
    // links to a noisy task: neither is followed.
    let linked = web.run("1700000200", &[("build", "")]);
    let outside = home.root.join("outside.log");
    std::fs::write(&outside, "lots of errors\n").unwrap();
    let build = Path::new(&linked.location).join("tasks/build");
    std::fs::remove_file(build.join("stderr.log")).unwrap();
    std::os::unix::fs::symlink(&outside, build.join("stderr.log")).unwrap();
    let noisy_task = Path::new(&noisy.location).join("tasks/check:db");
    std::os::unix::fs::symlink(&noisy_task, Path::new(&linked.location).join("tasks/alias"))
        .unwrap();
    assert_eq!(
        verdict(&p, &linked),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
}

#[test]
fn a_run_without_tasks_is_unknown() {
    let home = Home::new();
    let web = home.project("web");
    let empty = web.run("1700000000", &[]);
    let no_dir = web.run("1700000100", &[]);
    std::fs::remove_dir(Path::new(&no_dir.location).join("tasks")).unwrap();
    let mut attr = web.run("1700000200", &[]);
    attr.attributes.insert("stderr_bytes".into(), 0.into());
    let p = plugin("");
    for run in [&empty, &no_dir, &attr] {
        assert_eq!(
            verdict(&p, run),
            is(RunStatus::Unknown, Source::NoTasks),
            "{}",
            run.id
        );
    }
}

#[test]
fn runs_of_other_storages_keep_their_recorded_status() {
    let home = Home::new();
    let p = plugin("");
    for location in [
        "sqlite:///home/me/.otto-hooks/history.db#run_20250120_143052_a1b2",
        "/home/me/.otto-hooks/runs/run_20250120_143052_a1b2",
        "relative/web-6b20a2e4/1700000000",
    ] {
        let run = Run {
            id: "run_20250120_143052_a1b2".into(),
            project: "/home/me/repo".into(),
            status: RunStatus::Stopped,
            location: location.into(),
            ..Run::default()
        };
        assert_eq!(
            verdict(&p, &run),
            is(RunStatus::Stopped, Source::Storage),
            "{location}"
        );
    }
    // A project directory that does not parse is not otto's either.
    let dir = home.home.join("notes-xyz").join("1700000000");
    std::fs::create_dir_all(&dir).unwrap();
    let run = Run {
        status: RunStatus::Failed,
        location: dir.to_str().unwrap().into(),
        ..Run::default()
    };
    assert_eq!(verdict(&p, &run), is(RunStatus::Failed, Source::Storage));
}

#[test]
fn without_a_usable_otto_db_the_heuristic_decides() {
    // No otto.db at all.
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "x")]);
    let p = plugin("");
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Failed, Source::StderrHeuristic)
    );
    assert!(
        !home.db_path().exists(),
        "the read-only open created otto.db"
    );

    // A newer schema than this plugin knows.
    let newer = Home::new();
    let web = newer.project("web");
    let run = web.run("1700000000", &[("build", "")]);
    let db = newer.create_db();
    db.run(&web, TS, "failed", None, Some(&run.location));
    db.conn
        .execute("INSERT INTO schema_version VALUES (6, 1760000000)", [])
        .unwrap();
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Success, Source::StderrHeuristic)
    );

    // Not a database.
    let junk = Home::new();
    let run = junk.project("web").run("1700000000", &[("build", "")]);
    std::fs::write(
        junk.db_path(),
        "this is not SQLite, just text long enough..........",
    )
    .unwrap();
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Success, Source::StderrHeuristic)
    );

    // The heuristic switched off: nothing decides.
    assert_eq!(
        verdict(&plugin("heuristic = false"), &run),
        is(RunStatus::Unknown, Source::Undecided)
    );
}

#[test]
fn otto_db_can_be_named_in_the_settings() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "")]);
    let elsewhere = Home::new();
    let db = elsewhere.create_db();
    db.run(&web, TS, "failed", None, Some(&run.location));
    let settings = format!("otto_db = {:?}", elsewhere.db_path().to_str().unwrap());
    assert_eq!(
        verdict(&plugin(&settings), &run),
        is(RunStatus::Failed, Source::OttoDb)
    );
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
}

#[test]
fn a_concurrent_wal_writer_neither_fails_nor_blocks_detect() {
    let home = Home::new();
    let web = home.project("web");
    let done = web.run("1700000000", &[("build", "")]);
    let live = web.run("1700000100", &[("build", "")]);
    let now = Timestamp::now().secs;
    let fresh = web.run(&now.to_string(), &[("build", "noise")]);
    let db = home.create_db();
    db.conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    let done_id = db.run(&web, TS, "success", Some(TS + 1), Some(&done.location));
    let live_id = db.run(&web, TS + 100, "running", None, Some(&live.location));
    let guard = hold_lock(&live);

    // The writer opens a write transaction and keeps it open.
    db.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    db.conn
        .execute("UPDATE runs SET status = 'failed' WHERE id = ?1", [done_id])
        .unwrap();
    db.conn
        .execute(
            "UPDATE runs SET status = 'success', ended_at = ?2 WHERE id = ?1",
            rusqlite::params![live_id, TS + 150],
        )
        .unwrap();
    db.run(&web, now, "failed", Some(now), Some(&fresh.location));

    let p = plugin("");
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let started = Instant::now();
            let verdicts = (verdict(&p, &done), verdict(&p, &live), verdict(&p, &fresh));
            (verdicts, started.elapsed())
        });
        let (verdicts, elapsed) = reader.join().unwrap();
        // The committed state, without waiting for the writer.
        assert_eq!(verdicts.0, is(RunStatus::Success, Source::OttoDb));
        assert_eq!(verdicts.1, is(RunStatus::Running, Source::Lock));
        assert_eq!(verdicts.2, is(RunStatus::Failed, Source::StderrHeuristic));
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    });

    db.conn.execute_batch("COMMIT").unwrap();
    drop(guard);
    // The same instance: the live run ended (its row is read again), the
    // fresh run's row appeared after the snapshot (the rows of its second
    // are read); `done` stays as the snapshot has it.
    assert_eq!(verdict(&p, &live), is(RunStatus::Success, Source::OttoDb));
    assert_eq!(verdict(&p, &fresh), is(RunStatus::Failed, Source::OttoDb));
    // A new instance reads the new state.
    assert_eq!(
        verdict(&plugin(""), &done),
        is(RunStatus::Failed, Source::OttoDb)
    );
}

#[test]
fn a_rollback_journal_writer_delays_the_load_within_the_busy_timeout() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "noise")]);
    let db = home.create_db();
    db.run(&web, TS, "success", None, Some(&run.location));
    let path = home.db_path();
    let (locked_tx, locked_rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let writer = rusqlite::Connection::open(&path).unwrap();
            writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(800));
            writer.execute_batch("COMMIT").unwrap();
        });
        locked_rx.recv().unwrap();
        let started = Instant::now();
        assert_eq!(
            verdict(&plugin(""), &run),
            is(RunStatus::Success, Source::OttoDb)
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(500),
            "did not wait: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    });
}

#[test]
fn a_wal_database_with_its_wal_and_shm_files_is_read() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "")]);
    let db = home.create_db();
    db.conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.conn
        .pragma_update(None, "wal_autocheckpoint", 0)
        .unwrap();
    // This row lives only in the -wal file, and the writer stays open.
    db.run(&web, TS, "failed", None, Some(&run.location));
    let wal = home.home.join("otto.db-wal");
    let shm = home.home.join("otto.db-shm");
    assert!(wal.metadata().unwrap().len() > 0);
    assert!(shm.exists());
    assert_eq!(
        verdict(&plugin(""), &run),
        is(RunStatus::Failed, Source::OttoDb)
    );
    assert!(wal.exists() && shm.exists());
    let status: String = db
        .conn
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "failed");
}

/// The tasks of `run` as storage reports them (status unknown).
fn details(run: &Run, names: &[&str]) -> RunDetails {
    RunDetails {
        run: run.clone(),
        tasks: names
            .iter()
            .map(|n| Task {
                name: (*n).to_owned(),
                status: TaskStatus::Unknown,
                stderr_path: Some(format!("{}/tasks/{n}/stderr.log", run.location)),
                ..Task::default()
            })
            .collect(),
    }
}

fn task<'a>(d: &'a RunDetails, name: &str) -> &'a Task {
    d.tasks.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn detect_details_fills_tasks_from_the_row() {
    let home = Home::new();
    let web = home.project("web");
    let names = ["build", "test", "deploy", "lint", "check:db", "docs"];
    let tasks: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
    let run = web.run("1700000000", &tasks);
    let db = home.create_db();
    let id = db.run(&web, TS, "failed", Some(TS + 42), Some(&run.location));
    db.task(
        id,
        "build",
        "completed",
        Some(0),
        Some(TS),
        Some(TS + 2),
        Some(1.5),
    );
    db.task(
        id,
        "test",
        "failed",
        Some(3),
        Some(TS + 2),
        Some(TS + 9),
        None,
    );
    db.task(id, "deploy", "skipped", None, None, None, None);
    db.task(id, "lint", "pending", None, None, None, None);
    db.task(id, "check:db", "running", None, Some(TS + 2), None, None);
    let mut input = details(&run, &names);
    input.tasks[5].status = TaskStatus::Pending; // `docs` has no row: storage's word stays.

    let p = plugin("");
    let out = p.detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Failed);
    assert_eq!(out.run.status_source.as_deref(), Some("otto.db"));
    assert_eq!(out.run.ended_at, Some(Timestamp::from_secs(TS + 42)));
    let b = task(&out, "build");
    assert_eq!(
        (b.status, b.exit_code, b.duration_ms),
        (TaskStatus::Success, Some(0), Some(1500))
    );
    let t = task(&out, "test");
    assert_eq!(
        (t.status, t.exit_code, t.duration_ms),
        (TaskStatus::Failed, Some(3), Some(7000))
    );
    assert_eq!(task(&out, "deploy").status, TaskStatus::Skipped);
    assert_eq!(task(&out, "lint").status, TaskStatus::Pending);
    // The run is over and the task never finished: interrupted.
    assert_eq!(task(&out, "check:db").status, TaskStatus::Interrupted);
    assert_eq!(task(&out, "check:db").duration_ms, None);
    assert_eq!(task(&out, "docs").status, TaskStatus::Pending);
    assert_eq!(task(&out, "docs").stderr_path, input.tasks[5].stderr_path);

    // While the run's lock is held, its running task is running.
    let _guard = hold_lock(&run);
    let out = p.detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Running);
    assert_eq!(out.run.status_source.as_deref(), Some("lock"));
    assert_eq!(task(&out, "check:db").status, TaskStatus::Running);
    assert_eq!(task(&out, "test").exit_code, Some(3));
}

#[test]
fn detect_details_judges_tasks_by_stderr_when_the_heuristic_decided() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", ""), ("check:db", "boom")]);
    let mut input = details(&run, &["build", "check:db", "ghost"]);
    input.tasks[2].status = TaskStatus::Skipped;
    let out = plugin("").detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Failed);
    assert_eq!(
        out.run.status_source.as_deref(),
        Some(
            "guess: no otto.db row; stderr heuristic: no output files; 1 of 2 tasks wrote to stderr (4 bytes)"
        )
    );
    assert!(out.run.status_is_guess());
    assert_eq!(task(&out, "build").status, TaskStatus::Success);
    assert_eq!(task(&out, "check:db").status, TaskStatus::Failed);
    assert_eq!(task(&out, "ghost").status, TaskStatus::Skipped);
    assert_eq!(out.run.ended_at, None);
}

#[test]
fn settings_are_checked() {
    let config = |text: &str| PluginConfig::from_toml("status.default", text, "/tmp").unwrap();
    let err = DefaultStatus::new(&config("heuristics = false")).unwrap_err();
    assert!(err.message.contains("heuristics"), "{}", err.message);
    assert!(err.message.contains("status.default"), "{}", err.message);
    let err = DefaultStatus::new(&config("heuristic = \"no\"")).unwrap_err();
    assert!(err.message.contains("heuristic"), "{}", err.message);
    let err = DefaultStatus::new(&config("otto_db = \"otto.db\"")).unwrap_err();
    assert!(err.message.contains("otto_db"), "{}", err.message);

    let p = DefaultStatus::new(&config("")).unwrap();
    assert_eq!(p.settings(), &crate::Settings::default());
    assert!(p.settings().heuristic);
    let p = DefaultStatus::new(&config("otto_db = \"/x/otto.db\"\nheuristic = false")).unwrap();
    assert_eq!(
        p.settings().otto_db.as_deref(),
        Some(Path::new("/x/otto.db"))
    );
    assert!(!p.settings().heuristic);
}

#[test]
fn after_the_first_load_detect_does_no_sql() {
    let home = Home::new();
    let web = home.project("web");
    let db = home.create_db();
    let runs: Vec<Run> = (0..50)
        .map(|i| {
            let run = web.run(&(TS + i).to_string(), &[("build", "")]);
            let status = if i % 2 == 0 { "success" } else { "failed" };
            db.run(&web, TS + i, status, None, Some(&run.location));
            run
        })
        .collect();
    let p = plugin("");
    for _ in 0..3 {
        for run in &runs {
            assert_eq!(verdict(&p, run).1, "otto.db");
        }
    }
    assert_eq!(p.db_for(&home.home).reads(), 1);
}

#[test]
fn detect_is_safe_from_many_threads() {
    fn sync<T: Send + Sync>() {}
    sync::<DefaultStatus>();
    let home = Home::new();
    let web = home.project("web");
    let db = home.create_db();
    let runs: Vec<Run> = (0..20)
        .map(|i| {
            let run = web.run(&(TS + i).to_string(), &[("build", "")]);
            db.run(&web, TS + i, "failed", None, Some(&run.location));
            run
        })
        .collect();
    let p = plugin("");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for run in &runs {
                    assert_eq!(verdict(&p, run), is(RunStatus::Failed, Source::OttoDb));
                }
            });
        }
    });
    assert_eq!(p.db_for(&home.home).reads(), 1);
}

#[test]
fn the_module_declares_the_default_status_plugin_and_it_works_through_the_abi() {
    // SAFETY: `MODULE` is a `static` of this process, built by `plugin_module!`.
    let handles = unsafe { open_module(&MODULE) }.unwrap();
    assert_eq!(handles.len(), 1);
    let handle = &handles[0];
    assert_eq!(handle.kind(), PluginKind::Status);
    assert_eq!(handle.name(), "default");
    assert_eq!(handle.version(), env!("CARGO_PKG_VERSION"));
    assert!(handle.description().ends_with('.'));

    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", "")]);
    let db = home.create_db();
    let id = db.run(&web, TS, "failed", Some(TS + 8), Some(&run.location));
    db.task(id, "build", "failed", Some(1), None, None, Some(8.0));
    let settings = PluginConfig::from_toml("status.default", "", "/tmp").unwrap();
    let instance = handle
        .instantiate("status.default", settings.table(), "/tmp")
        .unwrap();
    let v = instance.detect(&run).unwrap();
    assert_eq!(
        (v.status, v.source.as_str()),
        (RunStatus::Failed, "otto.db")
    );
    let out = instance.detect_details(&details(&run, &["build"])).unwrap();
    assert_eq!(out.tasks[0].exit_code, Some(1));
    assert_eq!(out.tasks[0].duration_ms, Some(8000));

    let bad = PluginConfig::from_toml("status.default", "colour = true", "/tmp").unwrap();
    let err = handle
        .instantiate("status.default", bad.table(), "/tmp")
        .unwrap_err();
    assert!(err.message.contains("colour"), "{}", err.message);
}

/// `cargo test --release -p otto-hooks-status-default -- --ignored --nocapture`
/// Cargo's warnings on stderr of a task that exited 0.
const WARNINGS: &str = "warning: unused variable: `x`\n  --> src/main.rs:2:9\n";

#[test]
fn tasks_that_exited_0_with_warnings_on_stderr_make_a_guessed_success_not_a_failure() {
    // The real-world case: no otto.db row, every task exited 0 and wrote
    // its output file, and cargo wrote warnings to stderr.
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run(
        "1700000000",
        &[
            ("build", WARNINGS, Ended::Exited0),
            ("test", WARNINGS, Ended::Exited0),
            ("check:db", "", Ended::Exited0),
        ],
    );
    let p = plugin("");
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Success, Source::TaskOutputs)
    );
    let v = p.detect(&run).unwrap();
    assert!(v.is_guess());
    assert_eq!(
        v.source,
        "guess: no otto.db row; task outputs: every task (3) wrote its output.<task>.json \
         (otto writes it only when a task exits 0); 2 wrote to stderr, which says nothing \
         about an exit code"
    );
    // otto died between a task's end and converting its `.env`: the `.env`
    // alone says the script ran to its last line.
    let unconverted = web.otto_run("1700000100", &[("build", WARNINGS, Ended::Exited0EnvOnly)]);
    assert_eq!(
        verdict(&p, &unconverted),
        is(RunStatus::Success, Source::TaskOutputs)
    );
}

#[test]
fn a_task_that_started_and_wrote_no_output_file_makes_a_guessed_failure_even_with_empty_stderr() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run(
        "1700000000",
        &[
            ("build", WARNINGS, Ended::Exited0),
            ("test", "", Ended::Unfinished),
            ("lint", "", Ended::Unfinished),
            ("deploy", "", Ended::NotStarted),
        ],
    );
    let p = plugin("");
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Failed, Source::TaskOutputs)
    );
    assert_eq!(
        p.detect(&run).unwrap().source,
        "guess: no otto.db row; task outputs: task lint (and 1 more task) started and wrote \
         no output.lint.json (otto writes it only when a task exits 0): it failed or was killed"
    );
}

#[test]
fn tasks_that_never_started_do_not_decide() {
    // otto's terminal UI creates every task's directory and logs up front:
    // a task skipped (up to date) or never reached has nothing else.
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run(
        "1700000000",
        &[
            ("build", "", Ended::Exited0),
            ("deploy", "", Ended::NotStarted),
        ],
    );
    let p = plugin("");
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Success, Source::TaskOutputs)
    );
    assert!(
        p.detect(&run)
            .unwrap()
            .source
            .contains("every task that started (1 of 2; the rest never did) wrote"),
        "{:?}",
        p.detect(&run)
    );
    // No task started at all: the output files say nothing; stderr decides.
    let none = web.otto_run("1700000100", &[("build", "", Ended::NotStarted)]);
    assert_eq!(
        verdict(&p, &none),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
}

#[test]
fn only_a_regular_output_file_named_for_its_own_task_counts() {
    let home = Home::new();
    let web = home.project("web");
    let p = plugin("");
    // Another task's output (an input link otto makes is `input.<dep>.json`,
    // but a stray copy must not count either), and a symlinked output file.
    let run = web.otto_run("1700000000", &[("test", "", Ended::Unfinished)]);
    let test = Path::new(&run.location).join("tasks/test");
    std::fs::write(test.join("output.build.json"), "{}").unwrap();
    std::fs::write(test.join("output.test.json.tmp"), "{}").unwrap();
    std::os::unix::fs::symlink("../build/output.build.json", test.join("output.test.json"))
        .unwrap();
    std::fs::create_dir(test.join("output.test.env")).unwrap();
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Failed, Source::TaskOutputs)
    );
    // A symlinked builtins.sh is no sign of a start either.
    let linked = web.otto_run("1700000100", &[("test", "", Ended::NotStarted)]);
    let test = Path::new(&linked.location).join("tasks/test");
    std::os::unix::fs::symlink("/etc/hostname", test.join("builtins.sh")).unwrap();
    assert_eq!(
        verdict(&p, &linked),
        is(RunStatus::Success, Source::StderrHeuristic)
    );
}

#[test]
fn an_otto_older_than_output_files_leaves_the_stderr_heuristic_and_it_is_a_guess() {
    // Task directories with logs and a script, no builtins, no outputs.
    let home = Home::new();
    let web = home.project("web");
    let run = web.run("1700000000", &[("build", ""), ("test", "error: boom\n")]);
    let p = plugin("");
    let v = p.detect(&run).unwrap();
    assert_eq!(v.status, RunStatus::Failed);
    assert!(v.is_guess(), "{}", v.source);
    assert_eq!(
        v.source,
        "guess: no otto.db row; stderr heuristic: no output files; 1 of 2 tasks wrote to \
         stderr (12 bytes)"
    );
}

#[test]
fn storage_stderr_bytes_decide_only_when_the_task_directories_cannot_be_read() {
    let home = Home::new();
    let web = home.project("web");
    let p = plugin("");
    // Readable: the files decide, whatever storage counted.
    let mut run = web.otto_run("1700000000", &[("build", WARNINGS, Ended::Exited0)]);
    run.attributes.insert("stderr_bytes".into(), 0.into());
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Success, Source::TaskOutputs)
    );
    // Gone since storage listed it: storage's count is all that is left.
    std::fs::remove_dir_all(&run.location).unwrap();
    run.attributes.insert("stderr_bytes".into(), 61.into());
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Failed, Source::StderrHeuristic)
    );
    assert!(
        p.detect(&run)
            .unwrap()
            .source
            .ends_with("the task directories are unreadable, storage counted 61 bytes of stderr"),
        "{:?}",
        p.detect(&run)
    );
    run.attributes.remove("stderr_bytes");
    assert_eq!(verdict(&p, &run), is(RunStatus::Unknown, Source::Undecided));
}

#[test]
fn a_python_task_counts_like_a_bash_one() {
    // Python tasks get `builtins.py`, and write `output.<task>.json`
    // themselves as their script's last step.
    let home = Home::new();
    let web = home.project("web");
    let p = plugin("");
    let run = web.run("1700000000", &[("report", "DeprecationWarning: x\n")]);
    let task = Path::new(&run.location).join("tasks/report");
    std::fs::write(task.join("builtins.py"), "import json\n").unwrap();
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Failed, Source::TaskOutputs)
    );
    std::fs::write(task.join("output.report.json"), "{\n  \"rows\": 3\n}").unwrap();
    assert_eq!(
        verdict(&p, &run),
        is(RunStatus::Success, Source::TaskOutputs)
    );
}

#[test]
fn a_row_that_decides_nothing_says_so_in_the_guess() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run("1700000000", &[("build", WARNINGS, Ended::Exited0)]);
    let db = home.create_db();
    let id = db.run(&web, TS, "queued", None, Some(&run.location));
    db.task(id, "build", "pending", None, None, None, None);
    let v = plugin("").detect(&run).unwrap();
    assert_eq!(v.status, RunStatus::Success);
    assert!(
        v.source
            .starts_with("guess: otto.db row decides nothing; task outputs: "),
        "{}",
        v.source
    );
}

#[test]
fn info_of_a_guessed_run_judges_each_task_by_its_files() {
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run(
        "1700000000",
        &[
            ("build", WARNINGS, Ended::Exited0),
            ("test", "", Ended::Unfinished),
            ("deploy", "", Ended::NotStarted),
        ],
    );
    let input = details(&run, &["build", "test", "deploy"]);
    let out = plugin("").detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Failed);
    assert!(out.run.status_is_guess());
    assert_eq!(out.run.status_label(), "failed?");
    assert!(
        out.run
            .status_source
            .as_deref()
            .unwrap()
            .contains("task test started and wrote no output.test.json"),
        "{:?}",
        out.run.status_source
    );
    assert_eq!(task(&out, "build").status, TaskStatus::Success);
    assert_eq!(task(&out, "test").status, TaskStatus::Failed);
    // Never started: the files say nothing, storage's word stays.
    assert_eq!(task(&out, "deploy").status, TaskStatus::Unknown);
}

#[test]
fn info_of_a_killed_run_shows_the_task_that_was_running_as_interrupted() {
    // otto was killed while `test` ran: its row stays `running`, the run's
    // row too, and the lock is free. `lint` started after otto's last write
    // to otto.db (no row) and has no output file: it died with the run.
    let home = Home::new();
    let web = home.project("web");
    let run = web.otto_run(
        "1700000000",
        &[
            ("build", "", Ended::Exited0),
            ("test", "", Ended::Unfinished),
            ("lint", "", Ended::Unfinished),
            ("deploy", "", Ended::NotStarted),
        ],
    );
    let db = home.create_db();
    let id = db.run(&web, TS, "running", None, Some(&run.location));
    db.task(
        id,
        "build",
        "completed",
        Some(0),
        Some(TS),
        Some(TS + 2),
        None,
    );
    db.task(id, "test", "running", None, Some(TS + 2), None, None);
    db.task(id, "deploy", "pending", None, None, None, None);
    let input = details(&run, &["build", "test", "lint", "deploy"]);
    let p = plugin("");
    let out = p.detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Interrupted);
    assert!(!out.run.status_is_guess());
    assert_eq!(task(&out, "build").status, TaskStatus::Success);
    assert_eq!(task(&out, "test").status, TaskStatus::Interrupted);
    assert_eq!(task(&out, "lint").status, TaskStatus::Interrupted);
    assert_eq!(task(&out, "deploy").status, TaskStatus::Pending);

    // Alive, the same rows mean a running task.
    let _guard = hold_lock(&run);
    let out = p.detect_details(&input).unwrap();
    assert_eq!(out.run.status, RunStatus::Running);
    assert_eq!(task(&out, "test").status, TaskStatus::Running);
    assert_eq!(task(&out, "lint").status, TaskStatus::Unknown);
}

#[test]
#[ignore = "a timing run, not a check"]
fn timing_of_a_large_history() {
    let home = Home::new();
    let web = home.project("web");
    let db = home.create_db();
    db.conn.execute_batch("BEGIN").unwrap();
    let n: i64 = 100_000;
    let runs: Vec<Run> = (0..n)
        .map(|i| {
            let id = (TS + i).to_string();
            let location = format!("{}/{id}", web.dir.display());
            let run_id = db.run(&web, TS + i, "success", Some(TS + i + 1), Some(&location));
            for t in ["build", "test", "lint", "deploy", "check:db"] {
                db.task(
                    run_id,
                    t,
                    "completed",
                    Some(0),
                    Some(TS + i),
                    Some(TS + i + 1),
                    Some(1.0),
                );
            }
            Run {
                id,
                location,
                ..Run::default()
            }
        })
        .collect();
    db.conn.execute_batch("COMMIT").unwrap();
    let p = plugin("");
    let started = Instant::now();
    let _ = p.detect(&runs[0]).unwrap();
    eprintln!("first detect (load): {:?}", started.elapsed());
    let started = Instant::now();
    for run in &runs {
        assert_eq!(p.detect(run).unwrap().status, RunStatus::Success);
    }
    eprintln!("{n} detects: {:?}", started.elapsed());
}

/// The runs of `home` as otto-fs lists them (its size index in `data`).
fn listed_by_otto_fs(home: &Home, data: &Path) -> Vec<Run> {
    use otto_hooks_plugin_api::{RunQuery, Storage};
    let toml = format!("otto_home = {:?}\n", home.home.to_str().unwrap());
    let config = PluginConfig::from_toml("storage.otto-fs", &toml, data).unwrap();
    let fs = otto_hooks_otto_fs::OttoFs::new(&config).unwrap();
    let mut runs = fs.list_runs(&RunQuery::default()).unwrap();
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    runs
}

/// `(status, source, reason)` of a verdict, all of it.
fn full_verdict(p: &DefaultStatus, run: &Run) -> (RunStatus, String, Option<String>) {
    let v = p.detect(run).unwrap();
    (
        v.status,
        v.source.clone(),
        v.guess_reason().map(str::to_owned),
    )
}

#[test]
fn a_run_is_judged_the_same_from_otto_fs_task_outputs_as_from_its_task_directories() {
    let home = Home::new();
    let web = home.project("web");
    // Every kind of task otto leaves: exited 0 (with and without the
    // converted `.env`), started and unfinished, never started, python.
    let mixed = web.otto_run(
        "1700000000",
        &[
            ("build", WARNINGS, Ended::Exited0),
            ("gen", "", Ended::Exited0EnvOnly),
            ("test", "", Ended::Unfinished),
            ("lint", "error: x\n", Ended::Unfinished),
            ("deploy", "", Ended::NotStarted),
        ],
    );
    let py = Path::new(&mixed.location).join("tasks/check:db");
    std::fs::create_dir_all(&py).unwrap();
    std::fs::write(py.join("builtins.py"), "# Otto Python Builtins\n").unwrap();
    std::fs::write(py.join("output.check:db.json"), "{}").unwrap();
    std::fs::write(py.join("stderr.log"), "").unwrap();
    // What must not count: another task's output, a symlinked output, a
    // directory named like one, a symlinked builtins, a symlinked stderr.
    let test = Path::new(&mixed.location).join("tasks/test");
    std::fs::write(test.join("output.build.json"), "{}").unwrap();
    std::os::unix::fs::symlink("../build/output.build.json", test.join("output.test.json"))
        .unwrap();
    std::fs::create_dir(test.join("output.test.env")).unwrap();
    let deploy = Path::new(&mixed.location).join("tasks/deploy");
    std::os::unix::fs::symlink("/etc/hostname", deploy.join("builtins.sh")).unwrap();
    std::fs::remove_file(deploy.join("stderr.log")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", deploy.join("stderr.log")).unwrap();
    // Every task exited 0; no task started (the stderr heuristic); an older
    // otto without output files; no tasks at all.
    web.otto_run(
        "1700000100",
        &[
            ("build", WARNINGS, Ended::Exited0),
            ("test", "", Ended::Exited0),
        ],
    );
    web.otto_run("1700000200", &[("build", "", Ended::NotStarted)]);
    web.run("1700000300", &[("build", ""), ("test", "error: boom\n")]);
    web.run("1700000400", &[]);

    let data = home.root.join("hooks");
    let p = plugin("");
    // A fresh walk, then the size index: the attribute is the same.
    let walked = listed_by_otto_fs(&home, &data);
    let indexed = listed_by_otto_fs(&home, &data);
    assert_eq!(walked.len(), 5);
    for (run, again) in walked.iter().zip(&indexed) {
        assert_eq!(
            run.attributes.get("finished"),
            Some(&true.into()),
            "{}",
            run.id
        );
        let attribute = run
            .attributes
            .get("task_outputs")
            .unwrap_or_else(|| panic!("{}: no task_outputs", run.id));
        assert_eq!(again.attributes.get("task_outputs"), Some(attribute));
        // otto-fs counted what the heuristic reads, by the same rules.
        let dir = Path::new(&run.location);
        assert_eq!(
            crate::heuristic::from_attribute(attribute),
            Some(crate::heuristic::summarize(dir).unwrap()),
            "{}",
            run.id
        );
        // The verdict and its evidence are identical either way.
        let mut without = run.clone();
        without.attributes.remove("task_outputs");
        assert_eq!(
            full_verdict(&p, run),
            full_verdict(&p, &without),
            "{}",
            run.id
        );
    }
    assert_eq!(
        verdict(&p, &walked[0]),
        is(RunStatus::Failed, Source::TaskOutputs)
    );
    assert_eq!(
        walked[0].attributes["task_outputs"],
        serde_json::json!({"tasks": 6, "exited_0": 3, "unfinished": ["lint", "test"],
            "tasks_with_stderr": 2, "stderr_bytes": WARNINGS.len() + "error: x\n".len()})
    );

    // The attribute is what decides: with the task directories gone, the
    // verdict from it is unchanged (read from disk, only stderr is left).
    let before = full_verdict(&p, &walked[0]);
    std::fs::remove_dir_all(Path::new(&walked[0].location).join("tasks")).unwrap();
    assert_eq!(full_verdict(&p, &walked[0]), before);
}

#[test]
fn a_malformed_task_outputs_attribute_is_ignored_and_the_directories_are_read() {
    let home = Home::new();
    let web = home.project("web");
    let mut run = web.otto_run("1700000000", &[("test", "", Ended::Unfinished)]);
    let p = plugin("");
    let expected = full_verdict(&p, &run);
    for bad in [
        serde_json::json!("lies"),
        serde_json::json!({"tasks": 1, "exited_0": 1, "unfinished": [3],
            "tasks_with_stderr": 0, "stderr_bytes": 0}),
        serde_json::json!({"tasks": 1, "exited_0": 1, "tasks_with_stderr": 0}),
    ] {
        run.attributes.insert("task_outputs".into(), bad);
        assert_eq!(full_verdict(&p, &run), expected);
    }
}
