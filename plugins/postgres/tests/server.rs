//! What only a shared server has: migrations raced by several daemons,
//! writers in separate processes on one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::{Arc, Barrier};

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::schema::{LATEST_VERSION, MIGRATION_LOCK};
use otto_hooks_postgres::test_cluster::TestCluster;
use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::{DbError, HistoryStore, NewEvent, NewRun, all_events};

fn run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        project: "/p".into(),
        repo_path: "/p".into(),
        started_at: Timestamp::from_secs(1_737_367_200),
        parallelism: 1,
        total_units: 1,
        tasks_dir: None,
        dry_run: false,
    }
}

/// Four daemons start at once on a new database, five times over: every
/// one opens, and each migration is recorded exactly once.
#[test]
fn four_migrators_racing_apply_each_migration_exactly_once() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    for _ in 0..5 {
        let target = cluster.fresh_database();
        let barrier = Arc::new(Barrier::new(4));
        let opened: Vec<Result<PgHistory, DbError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let (target, barrier) = (target.clone(), Arc::clone(&barrier));
                    s.spawn(move || {
                        barrier.wait();
                        PgHistory::open(target)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in &opened {
            assert!(o.is_ok(), "{o:?}");
        }
        let mut client = target.connect().unwrap();
        let versions: Vec<i32> = client
            .query("SELECT version FROM schema_version ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
        let held: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = ($1 & 4294967295)::oid",
                &[&MIGRATION_LOCK],
            )
            .unwrap()
            .get(0);
        assert_eq!(held, 0, "the migration lock is released");
    }
}

#[test]
fn a_database_newer_than_this_code_is_refused() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    drop(PgHistory::open(target.clone()).unwrap());
    target
        .connect()
        .unwrap()
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(LATEST_VERSION + 1)],
        )
        .unwrap();
    let err = PgHistory::open(target).unwrap_err();
    assert!(
        matches!(&err, DbError::Schema(m) if m.contains("upgrade otto-hooks")),
        "{err:?}"
    );
}

#[test]
fn a_wrong_password_is_a_one_line_error_that_does_not_show_it() {
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let mut target = cluster.fresh_database();
    target.password = Some("not-the-password".into());
    let err = PgHistory::open(target).unwrap_err().to_string();
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(
        !err.contains("not-the-password") && !err.contains('\n'),
        "{err}"
    );
}

const PROCESSES: usize = 8;
const PER_PROCESS: usize = 400;
const BATCH: usize = 20;
/// Set in the child processes of the test below: the database URL.
const CHILD_URL: &str = "OTTO_HOOKS_TEST_PG_CHILD_URL";
const CHILD_INDEX: &str = "OTTO_HOOKS_TEST_PG_CHILD_INDEX";

/// Eight processes (this test binary run again, with the database in its
/// environment and the password in `PGPASSWORD`, as a daemon
/// gets it) append to one run at once: seq is 1..=3200 with no gap and no
/// duplicate, and each process's events keep their order.
#[test]
fn eight_writer_processes_on_one_run_number_contiguously() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        // The child: write, then exit through the test harness.
        let index: usize = std::env::var(CHILD_INDEX).unwrap().parse().unwrap();
        let target = PgTarget::resolve(&url, None, None).unwrap();
        let db = PgHistory::open(target).unwrap();
        for b in 0..PER_PROCESS / BATCH {
            let events = (0..BATCH)
                .map(|k| {
                    let mut e = NewEvent::new(Timestamp::from_secs(1_737_367_200), "task.started");
                    e.payload = Some(format!(r#"{{"p":{index},"n":{}}}"#, b * BATCH + k));
                    e
                })
                .collect();
            db.append_events("shared", events).unwrap();
        }
        return;
    }
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let db = PgHistory::open(target.clone()).unwrap();
    db.start_run(run("shared")).unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "eight_writer_processes_on_one_run_number_contiguously",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_URL, &target.url)
                .env(CHILD_INDEX, i.to_string())
                .env("PGPASSWORD", target.password.as_deref().unwrap())
                // Its harness's summary would read as this run's.
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let events = all_events(&db, "shared").unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=(PROCESSES * PER_PROCESS) as u64).collect::<Vec<_>>()
    );
    let mut next = [0i64; PROCESSES];
    for e in &events {
        let p: serde_json::Value = serde_json::from_str(e.payload.as_ref().unwrap().get()).unwrap();
        let (who, n) = (p["p"].as_u64().unwrap() as usize, p["n"].as_i64().unwrap());
        assert_eq!(n, next[who], "process {who} in order, nothing lost");
        next[who] += 1;
    }
    let row = db.get_run("shared").unwrap().unwrap();
    assert_eq!(row.last_seq, (PROCESSES * PER_PROCESS) as u64);
    assert_eq!(row.event_count, row.last_seq);
}

/// Waits (bounded) until `done` holds; false when it never did.
fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// A daemon's live streams show what other processes store: its listener
/// hears their events (through LISTEN/NOTIFY), its own ones once, and
/// again after its LISTEN connection was cut.
#[test]
fn a_listener_hears_other_processes_events_and_survives_a_cut_connection() {
    use std::sync::Mutex;
    let Some(cluster) = TestCluster::shared() else {
        return;
    };
    let target = cluster.fresh_database();
    let mut a = PgHistory::open(target.clone()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let sink = Arc::clone(&seen);
    a.set_listener(Arc::new(move |rows: &[otto_hooks_sqlite::EventRow]| {
        let mut seen = sink.lock().unwrap();
        seen.extend(rows.iter().map(|e| (e.run_id.clone(), e.seq)));
    }));
    let b = PgHistory::open(target.clone()).unwrap();
    b.start_run(run("r")).unwrap();
    let ev = || NewEvent::new(Timestamp::from_secs(1_737_367_200), "task.started");
    // Until the LISTEN is in place nothing is pushed: wait for it.
    // The backend pid of the LISTEN connection, once there is one.
    let listener_pid = || -> Option<i32> {
        target
            .connect()
            .unwrap()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
                &[],
            )
            .unwrap()
            .map(|r| r.get(0))
    };
    assert!(eventually(|| listener_pid().is_some()));
    let first_pid = listener_pid().unwrap();
    b.append_events("r", vec![ev(), ev()]).unwrap();
    a.append_events("r", vec![ev()]).unwrap();
    b.stop_run("r", Timestamp::from_secs(1_737_367_300), None)
        .unwrap();
    let want: Vec<(String, u64)> = (1..=4).map(|s| ("r".to_owned(), s)).collect();
    assert!(eventually(|| seen.lock().unwrap().len() >= 4));
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, want, "each event once, a's own included");

    // Cut the LISTEN connection: the thread reconnects and hears again.
    target
        .connect()
        .unwrap()
        .execute("SELECT pg_terminate_backend($1)", &[&first_pid])
        .unwrap();
    assert!(
        eventually(|| listener_pid().is_some_and(|p| p != first_pid)),
        "LISTEN again after the cut"
    );
    b.resume_run("r", Timestamp::from_secs(1_737_367_400))
        .unwrap();
    assert!(eventually(|| seen.lock().unwrap().len() >= 5));
    assert_eq!(seen.lock().unwrap()[4], ("r".to_owned(), 5));
}
