//! SIGKILL during ingest: a process appending to history.db is killed at
//! various moments, the database is reopened, and nothing it acknowledged
//! is missing.
//!
//! - Through the engine: `history-writer` (a test binary) prints each
//!   batch's seqs after `append_events` returned, i.e. after COMMIT. After
//!   the kill, every printed seq must be stored, seqs contiguous from 1,
//!   each batch whole (no torn transaction), `integrity_check` ok.
//! - Through the CLI: `otto-hooks hook event --db … --run …` reading a pipe
//!   acknowledges nothing, so the check is that the database opens cleanly,
//!   integrity ok, seqs contiguous, and what is stored is exactly a prefix
//!   of what was sent, in order.
//! - A new database killed while it is being created and migrated opens
//!   (and migrates) cleanly.
//!
//! No timing is asserted: the moments of the kills vary, the checks do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otto_hooks_sqlite::{HistoryDb, Options};
use otto_hooks_tests::bounded::{Watched, within};
use otto_hooks_tests::choo_stream::open_read;
use otto_hooks_tests::hook_cli::{HookWorld, text};

/// What a reopened database holds for one run.
struct Stored {
    /// `(seq, tag, i)` in seq order.
    events: Vec<(u64, u64, u64)>,
}

/// Reopens `db` read-write as the next writer would (recovering the WAL),
/// checks its integrity and the run's summary against its events, and
/// returns the run's events.
fn reopen(db: &Path, run: &str) -> Stored {
    let history = HistoryDb::open(db, &Options::default())
        .unwrap_or_else(|e| panic!("history.db does not open after the kill: {e}"));
    history.integrity_check().unwrap();
    let row = history.get_run(run).unwrap();
    let conn = open_read(db);
    let events: Vec<(u64, u64, u64)> = conn
        .prepare(
            "SELECT seq, json_extract(payload, '$.tag'), json_extract(payload, '$.i')
             FROM events WHERE run_id = ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([run], |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
            Ok((n(0)?, n(1)?, n(2)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "seqs contiguous from 1"
    );
    match row {
        Some(row) => {
            assert_eq!(row.last_seq, events.len() as u64, "runs.last_seq");
            assert_eq!(row.event_count, events.len() as u64, "runs.event_count");
        }
        None => assert!(events.is_empty(), "events of a run that is not recorded"),
    }
    let fk: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "foreign keys");
    drop(conn);
    history.close().unwrap();
    Stored { events }
}

impl Stored {
    /// The `i`s of the events written by `tag`, in seq order, checked to
    /// come after every event of the earlier tags.
    fn of_tag(&self, tag: u64) -> Vec<u64> {
        let first = self.events.iter().position(|e| e.1 == tag);
        if let Some(first) = first {
            assert!(
                self.events[first..].iter().all(|e| e.1 >= tag),
                "events of tag {tag} interleaved with earlier ones"
            );
        }
        self.events
            .iter()
            .filter(|e| e.1 == tag)
            .map(|e| e.2)
            .collect()
    }
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// One `history-writer` process: waits for `acks` acknowledgements (none:
/// kills it `delay` after the start, maybe while it opens or migrates the
/// database), waits `delay`, kills it. Returns every `(first, last)` it
/// printed, including those still in the pipe at the kill.
fn writer_round(
    db: &Path,
    run: &str,
    tag: u64,
    batch: usize,
    acks: usize,
    delay: Duration,
) -> Vec<(u64, u64)> {
    let child = Command::new(env!("CARGO_BIN_EXE_history-writer"))
        .arg(db)
        .arg(run)
        .args(["--tag", &tag.to_string(), "--batch", &batch.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = Watched::new("history-writer's stdout", child.stdout.as_ref().unwrap());
    within(
        &format!("history-writer round {tag}"),
        Duration::from_secs(120),
        &[pipe],
        move || acks_until_killed(child, acks, delay),
    )
}

/// Reads `acks` acknowledgements of `child`, kills it `delay` later and
/// returns every one it printed.
fn acks_until_killed(mut child: Child, acks: usize, delay: Duration) -> Vec<(u64, u64)> {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut line = String::new();
    let parse = |line: &str| -> (u64, u64) {
        let (a, b) = line
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad ack line {line:?}"));
        (a.parse().unwrap(), b.parse().unwrap())
    };
    while printed.len() < acks {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!(
                "history-writer exited after {} acks ({:?}): {err}",
                printed.len(),
                child.wait().unwrap()
            );
        }
        printed.push(parse(&line));
    }
    std::thread::sleep(delay);
    kill(&mut child);
    // Acks written before the kill and not read yet count too.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    printed.extend(rest.lines().map(parse));
    printed
}

#[test]
fn every_acknowledged_event_survives_sigkill_of_the_engine_writer() {
    let dir = otto_hooks_tests::PrivateDir::new();
    let db = dir.path().join("history.db");
    let run = "run_20250120_143052_dead";
    // (batch size, acks to wait for, then a delay): the first round is
    // killed while it opens and migrates a new database.
    let rounds: [(usize, usize, Duration); 6] = [
        (100, 0, Duration::from_millis(3)),
        (100, 1, Duration::ZERO),
        (1, 40, Duration::from_micros(300)),
        (500, 3, Duration::from_millis(2)),
        (20, 25, Duration::from_millis(7)),
        (1000, 2, Duration::from_micros(50)),
    ];
    let mut acked_max = 0u64;
    for (tag, (batch, acks, delay)) in rounds.into_iter().enumerate() {
        let tag = tag as u64;
        let printed = writer_round(&db, run, tag, batch, acks, delay);
        let stored = reopen(&db, run);
        let mine = stored.of_tag(tag);
        assert_eq!(
            mine,
            (0..mine.len() as u64).collect::<Vec<_>>(),
            "round {tag}: events in order, none missing"
        );
        assert_eq!(mine.len() % batch, 0, "round {tag}: a batch was torn");
        for (first, last) in &printed {
            assert_eq!(
                last - first + 1,
                batch as u64,
                "round {tag}: ack {first}..{last}"
            );
            for seq in *first..=*last {
                let e = stored
                    .events
                    .get(seq as usize - 1)
                    .unwrap_or_else(|| panic!("round {tag}: acknowledged seq {seq} is missing"));
                assert_eq!(
                    e.1, tag,
                    "round {tag}: seq {seq} holds another round's event"
                );
            }
            acked_max = acked_max.max(*last);
        }
        assert!(stored.events.len() as u64 >= acked_max);
        eprintln!(
            "engine round {tag}: {} batch(es) of {batch} acknowledged, {} event(s) stored",
            printed.len(),
            mine.len()
        );
        for earlier in 0..tag {
            let theirs = stored.of_tag(earlier);
            assert_eq!(theirs, (0..theirs.len() as u64).collect::<Vec<_>>());
        }
    }
    // The database keeps working: a writer that is not killed appends after
    // everything that survived.
    let before = reopen(&db, run).events.len() as u64;
    let out = Command::new(env!("CARGO_BIN_EXE_history-writer"))
        .arg(&db)
        .arg(run)
        .args(["--tag", "99", "--batch", "10", "--batches", "3"])
        .bounded_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let acks: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        acks,
        (0..3)
            .map(|k| format!("{} {}", before + 1 + 10 * k, before + 10 * (k + 1)))
            .collect::<Vec<_>>()
    );
    assert_eq!(reopen(&db, run).events.len() as u64, before + 30);
}

/// The run's `last_seq`, read while a writer is busy (0 when not there yet).
fn last_seq(db: &Path, run: &str) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT last_seq FROM runs WHERE id = ?1", [run], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| n as u64)
}

/// How a [`Feeder`] ended.
#[derive(Debug, PartialEq, Eq)]
enum FeederEnd {
    /// The pipe broke: nobody reads it any more.
    Broken,
    /// Told to stop while the pipe was still open for reading.
    Stopped,
}

/// Writes an endless stream of tagged events into a pipe without ever
/// blocking for good: the pipe is non-blocking, a full pipe is retried
/// until [`Feeder::stop`]. Each line is shorter than `PIPE_BUF`, so it is
/// written whole or not at all, and the count of lines sent is exact.
struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, FeederEnd)>,
}

impl Feeder {
    fn start(mut stdin: std::process::ChildStdin, tag: u64) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let flags = rustix::fs::fcntl_getfl(&stdin).unwrap();
        rustix::fs::fcntl_setfl(&stdin, flags | rustix::fs::OFlags::NONBLOCK).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let told = stop.clone();
        let thread = std::thread::spawn(move || {
            let pad = "p".repeat(160);
            let mut sent = 0u64;
            loop {
                let line = format!(
                    "{{\"type\":\"task.started\",\"unit\":\"crash\",\"payload\":{{\"tag\":{tag},\"i\":{sent},\"pad\":\"{pad}\"}}}}\n"
                );
                assert!(line.len() < 4096, "a line must fit in PIPE_BUF");
                loop {
                    match stdin.write(line.as_bytes()) {
                        Ok(n) => {
                            assert_eq!(n, line.len(), "a write below PIPE_BUF is whole");
                            sent += 1;
                            if told.load(Ordering::Relaxed) {
                                // Told to stop, yet the pipe still reads.
                                return (sent, FeederEnd::Stopped);
                            }
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            if told.load(Ordering::Relaxed) {
                                return (sent, FeederEnd::Stopped);
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => return (sent, FeederEnd::Broken),
                    }
                }
            }
        });
        Feeder { stop, thread }
    }

    /// Lines written in full, and how the feeder ended. Call once the
    /// reader is dead: the feeder then ends at its next write.
    fn stop(self) -> (u64, FeederEnd) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let thread = self.thread;
        within(
            "the feeder's end",
            Duration::from_secs(60),
            &[],
            move || thread.join().unwrap(),
        )
    }
}

/// `hook event --db DB --run RUN` fed an endless pipe of events tagged
/// `tag`; killed once the run holds `at_least` more events (0: right after
/// the start) and `delay` later.
fn cli_round(w: &HookWorld, db: &Path, run: &str, tag: u64, at_least: u64, delay: Duration) {
    let db_arg = db.to_string_lossy().into_owned();
    let start_seq = last_seq(db, run);
    let mut child = w
        .command(&["hook", "event", "--db", &db_arg, "--run", run])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let pipe = Watched::new("hook event's stdin", &stdin);
    let feeder = Feeder::start(stdin, tag);
    let deadline = Instant::now() + Duration::from_secs(120);
    while at_least > 0 && last_seq(db, run) < start_seq + at_least {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("hook event exited early ({status}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "hook event stored too little in 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(delay);
    // Bounded: SIGKILL cannot be ignored, so the wait ends unless the
    // kernel is stuck; if it is, the failure lists the processes.
    let limit = Duration::from_secs(60);
    within(
        "kill hook event",
        limit,
        std::slice::from_ref(&pipe),
        move || kill(&mut child),
    );
    let (sent, ended) = feeder.stop();
    if ended == FeederEnd::Stopped {
        // The killed reader was not the pipe's last: someone else still
        // holds its read end. Only an otto-hooks process doing so would be
        // ours to fix (a child that outlived `hook event` with its stdin);
        // anything else (a process of another test caught between fork and
        // exec) is noted and does not change what is checked here.
        let holders = otto_hooks_tests::bounded::holders_of(&pipe);
        eprintln!("round {tag}: the pipe still had readers after the kill: {holders:?}");
        assert!(
            !holders.iter().any(|(_, cmd)| cmd.contains("otto-hooks")),
            "an otto-hooks process still reads hook event's stdin after its kill:\n{}",
            otto_hooks_tests::bounded::report(&[pipe])
        );
    }
    let (db_path, run_id) = (db.to_path_buf(), run.to_owned());
    let stored = within("reopen after the kill", limit, &[], move || {
        reopen(&db_path, &run_id)
    });
    let mine = stored.of_tag(tag);
    assert_eq!(
        mine,
        (0..mine.len() as u64).collect::<Vec<_>>(),
        "round {tag}: what is stored is a prefix of what was sent, in order"
    );
    assert!(mine.len() as u64 <= sent);
    eprintln!(
        "hook event round {tag}: {sent} line(s) sent, {} event(s) stored",
        mine.len()
    );
    assert!(mine.len() as u64 >= at_least, "round {tag}");
}

#[test]
fn sigkill_of_hook_event_reading_a_pipe_leaves_a_clean_contiguous_history() {
    let w = HookWorld::new();
    let db = w.dir.path().join("crash/history.db");
    let db_arg = db.to_string_lossy().into_owned();
    let repo = w.repo_arg();
    let run = "ci-crash-1";
    w.ok(&[
        "hook",
        "run-start",
        "--db",
        &db_arg,
        "--repo",
        &repo,
        "--run-id",
        run,
    ]);
    let rounds: [(u64, Duration); 5] = [
        (0, Duration::from_millis(5)),
        (1, Duration::ZERO),
        (1500, Duration::from_millis(3)),
        (200, Duration::from_millis(40)),
        (4000, Duration::from_micros(500)),
    ];
    for (tag, (at_least, delay)) in rounds.into_iter().enumerate() {
        cli_round(&w, &db, run, tag as u64, at_least, delay);
        let stored = reopen(&db, run);
        for earlier in 0..tag as u64 {
            let theirs = stored.of_tag(earlier);
            assert_eq!(theirs, (0..theirs.len() as u64).collect::<Vec<_>>());
        }
    }
    // A `hook event` that is not killed still appends after what survived.
    let before = reopen(&db, run).events.len();
    let lines: String = (0..25)
        .map(|i| format!("{{\"type\":\"unit.started\",\"payload\":{{\"tag\":99,\"i\":{i}}}}}\n"))
        .collect();
    let out = w.events_with(run, &["--db", &db_arg], &lines, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = reopen(&db, run);
    assert_eq!(after.events.len(), before + 25);
    assert_eq!(after.of_tag(99), (0..25).collect::<Vec<_>>());
}

#[test]
fn a_new_database_killed_while_it_is_created_opens_cleanly() {
    let dir = otto_hooks_tests::PrivateDir::new();
    let run = "run_20250120_143052_beef";
    for (k, ms) in [0u64, 1, 2, 3, 5, 8, 13, 21].into_iter().enumerate() {
        let db = dir.path().join(format!("new-{k}/history.db"));
        let printed = writer_round(&db, run, 0, 10, 0, Duration::from_millis(ms));
        // Opening migrates whatever the kill left to the latest version.
        let stored = reopen(&db, run);
        assert!(stored.events.len() >= printed.last().map_or(0, |p| p.1) as usize);
        assert_eq!(stored.events.len() % 10, 0, "a batch was torn");
    }
}
