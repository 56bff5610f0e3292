//! `stats` and `flaky` computed the fast way (a compact frame of the
//! window, from otto.db directly, from the insights cache's day blocks,
//! from history.db's unit summary) give exactly the documents of the
//! straightforward computation over every execution — on data with ties,
//! missing durations and starts, runs still running, same-second runs,
//! rows without `run_dir` — and keep doing so while otto adds, completes,
//! changes and deletes runs under a warm cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use otto_hooks_core::insights::flaky::{flaky, flaky_straight};
use otto_hooks_core::insights::otto::OttoSource;
use otto_hooks_core::insights::otto_cache::{self, Block};
use otto_hooks_core::insights::recorded::{self, HistorySource};
use otto_hooks_core::insights::stats::{StatsQuery, stats, stats_straight};
use otto_hooks_core::insights::{Source, Window};
use otto_hooks_tests::otto_home::{SCHEMA_DDL, Xorshift, project_dir_name};
use rusqlite::{Connection, params};

const DAY: i64 = 86_400;
/// A fixed "now": every window is the same from call to call.
const NOW: i64 = 1_796_000_000;
const TASKS: [&str; 5] = ["build", "test", "lint", "e2e", "deploy"];
const WINDOWS: [&str; 6] = ["30d", "7d", "1d", "12h", "90d", "all"];

fn project(i: i64) -> (String, String) {
    let name = format!("proj{i}");
    let source = format!("/home/dev/src/{name}");
    (project_dir_name(&name, &source), source)
}

/// Writes otto.db rows of generated runs.
struct Otto {
    home: PathBuf,
    conn: Connection,
    rng: Xorshift,
    next_id: i64,
    last_ts: i64,
}

impl Otto {
    fn new(home: &Path) -> Otto {
        std::fs::create_dir_all(home).unwrap();
        let conn = Connection::open(home.join("otto.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(SCHEMA_DDL).unwrap();
        conn.execute("INSERT INTO schema_version VALUES (5, 1750000000)", [])
            .unwrap();
        for i in 0..3 {
            let (_, source) = project(i);
            conn.execute(
                "INSERT INTO projects (id, hash, name, ottofile_path, first_seen, last_seen, run_count)
                 VALUES (?1, ?2, ?3, ?4, 0, 0, 0)",
                params![i + 1, format!("{i:064x}"), format!("proj{i}"), format!("{source}/otto.yml")],
            )
            .unwrap();
        }
        Otto {
            home: home.to_path_buf(),
            conn,
            rng: Xorshift::new(11),
            next_id: 1,
            last_ts: 0,
        }
    }

    /// A run started at `ts` (sometimes in the second of the run before),
    /// with a random mix of tasks; returns its id.
    fn run(&mut self, ts: i64, status: Option<&str>) -> i64 {
        let r = &mut self.rng;
        let ts = if r.chance(60) && self.last_ts > 0 {
            self.last_ts
        } else {
            ts
        };
        self.last_ts = ts;
        let p = r.below(3) as i64;
        let (dir_name, source) = project(p);
        let id = self.next_id;
        self.next_id += 1;
        let mut tasks = Vec::new();
        for (t, name) in TASKS.iter().enumerate() {
            if r.chance(150) {
                continue;
            }
            let roll = r.below(100);
            let status = match roll {
                0..80 => "completed",
                80..92 => "failed",
                92..97 => "skipped",
                _ => "running",
            };
            let duration = (!r.chance(50)).then(|| r.below(20) as f64 * 0.5);
            let started = (!r.chance(50)).then(|| ts + r.below(90) as i64);
            let exit = match status {
                "completed" => Some(0),
                "failed" => Some(1 + r.below(2) as i64),
                _ => None,
            };
            let hash = format!("{:08x}", ((t as u64) << 8) | r.below(3));
            tasks.push((*name, status, hash, exit, started, duration));
        }
        let failed = tasks.iter().any(|t| t.1 == "failed");
        let status = status.unwrap_or(match r.below(100) {
            0..5 => "running",
            5..8 => "stopped",
            _ if failed => "failed",
            _ => "success",
        });
        let total: f64 = tasks.iter().filter_map(|t| t.5).sum();
        let done = status != "running";
        // Same-second runs get `-n` directories; some rows have none.
        let same: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE timestamp = ?1 AND project_id = ?2",
                params![ts, p + 1],
                |row| row.get(0),
            )
            .unwrap();
        let run_name = if same == 0 {
            ts.to_string()
        } else {
            format!("{ts}-{same}")
        };
        let run_dir = (!self.rng.chance(100)).then(|| {
            self.home
                .join(&dir_name)
                .join(&run_name)
                .to_string_lossy()
                .into_owned()
        });
        self.conn
            .execute(
                "INSERT INTO runs (id, project_id, timestamp, status, duration_seconds, size_bytes,
                                   ottofile_path, cwd, user, hostname, args, ended_at, run_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'dev', 'box', '[]', ?8, ?9)",
                params![
                    id,
                    p + 1,
                    ts,
                    status,
                    done.then_some(total),
                    1000 + id,
                    format!("{source}/otto.yml"),
                    done.then_some(ts + total as i64),
                    run_dir,
                ],
            )
            .unwrap();
        for (name, status, hash, exit, started, duration) in tasks {
            self.conn
                .execute(
                    "INSERT INTO tasks (run_id, name, status, script_hash, exit_code, started_at,
                                        duration_seconds, stdout_path)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '/x/stdout.log')",
                    params![id, name, status, hash, exit, started, duration],
                )
                .unwrap();
        }
        id
    }

    fn delete(&self, id: i64) {
        self.conn
            .execute_batch(&format!(
                "DELETE FROM tasks WHERE run_id = {id}; DELETE FROM runs WHERE id = {id};"
            ))
            .unwrap();
    }
}

fn queries() -> Vec<StatsQuery> {
    let mut out = Vec::new();
    for since in WINDOWS {
        for task in [None, Some("test"), Some("deploy")] {
            for project in [None, Some("proj1")] {
                out.push(StatsQuery {
                    task: task.map(str::to_owned),
                    project: project.map(str::to_owned),
                    window: Window::parse(since, NOW).unwrap(),
                    trend: true,
                });
            }
        }
    }
    out
}

/// Every query's document from `fast`, against `straight`'s.
fn same_documents(what: &str, fast: &dyn Source, straight: &dyn Source) {
    let mut executions = 0;
    for q in queries() {
        let a = stats(fast, &q);
        let b = stats_straight(straight, &q);
        if let Ok(b) = &b {
            executions += b.tasks.total;
        }
        assert_eq!(a, b, "{what}: stats {q:?}");
        let a = flaky(fast, q.project.as_deref(), &q.window);
        let b = flaky_straight(straight, q.project.as_deref(), &q.window);
        assert_eq!(a, b, "{what}: flaky {q:?}");
    }
    assert!(executions > 0, "{what}: the queries found executions");
}

/// The otto.db answers three ways: otto.db read straight, the frame read
/// from otto.db, the frame read through the (warm) cache.
fn otto_agrees(home: &Path, cache: &Path, when: &str) {
    let straight = OttoSource::open(home).unwrap();
    same_documents(
        &format!("{when}, otto.db alone"),
        &OttoSource::open(home).unwrap(),
        &straight,
    );
    // Twice through the cache: filled (or updated), then as it is.
    for round in ["updated", "warm"] {
        same_documents(
            &format!("{when}, cache {round}"),
            &OttoSource::open(home)
                .unwrap()
                .with_cache(cache.to_path_buf()),
            &straight,
        );
    }
}

fn blocks(cache: &Path) -> Vec<i64> {
    let file = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .expect("a cache file");
    let c = Connection::open(file).unwrap();
    c.prepare("SELECT day FROM days ORDER BY day")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_fast_path_gives_the_straight_documents_as_otto_changes_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    // 600 runs over the 45 days before now.
    for k in 0..600 {
        otto.run(NOW - 45 * DAY + k * (45 * DAY / 600), None);
    }
    otto_agrees(&home, &cache, "generated");
    let days = blocks(&cache);
    assert!(days.len() >= 40, "a block per day with runs: {days:?}");

    // The blocks are what answers: emptied, the cached answer changes.
    let file = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let c = Connection::open(&file).unwrap();
    c.execute("UPDATE days SET data = ?1", [Block::default().encode()])
        .unwrap();
    drop(c);
    let q = &queries()[queries().len() - 6];
    assert_eq!(q.window.since, "all");
    let cached = stats(
        &OttoSource::open(&home).unwrap().with_cache(cache.clone()),
        q,
    )
    .unwrap();
    // Only the runs not finished (never in a block) are left.
    let unfinished: i64 = otto
        .conn
        .query_row(
            "SELECT COUNT(*) FROM tasks t JOIN runs r ON r.id = t.run_id
             WHERE r.status NOT IN ('success', 'failed')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(unfinished > 0);
    assert_eq!(
        cached.tasks.total as i64, unfinished,
        "read from the (emptied) blocks"
    );
    std::fs::remove_dir_all(&cache).unwrap();
    otto_agrees(&home, &cache, "refilled");

    // otto records more runs: today, and one in an older day.
    for k in 0..15 {
        otto.run(NOW - 3600 + k * 60, None);
    }
    otto.run(NOW - 20 * DAY + 77, Some("failed"));
    otto_agrees(&home, &cache, "runs added");

    // A run recorded while it runs, then completed (its task rows, then
    // its row); a finished run rewritten (status, duration).
    let id = otto.run(NOW - 2 * DAY, Some("running"));
    otto_agrees(&home, &cache, "a run running");
    otto.conn
        .execute(
            "UPDATE tasks SET status = 'failed', exit_code = 3, duration_seconds = 4.5 WHERE run_id = ?1",
            [id],
        )
        .unwrap();
    otto.conn
        .execute(
            "UPDATE runs SET status = 'failed', ended_at = timestamp + 9, duration_seconds = 9 WHERE id = ?1",
            [id],
        )
        .unwrap();
    otto_agrees(&home, &cache, "the run completed");
    let finished: i64 = otto
        .conn
        .query_row(
            "SELECT MIN(id) FROM runs WHERE status = 'success' AND timestamp > ?1",
            [NOW - 10 * DAY],
            |r| r.get(0),
        )
        .unwrap();
    otto.conn
        .execute(
            "UPDATE tasks SET status = 'failed', exit_code = 1 WHERE run_id = ?1 AND name = 'test'",
            [finished],
        )
        .unwrap();
    otto.conn
        .execute(
            "UPDATE runs SET status = 'failed', duration_seconds = duration_seconds + 1 WHERE id = ?1",
            [finished],
        )
        .unwrap();
    otto_agrees(&home, &cache, "a finished run changed");

    // otto cleans: a few runs, every run of one day, and the newest run,
    // whose id the next run recorded takes again.
    for id in [3, 40, 41, 250] {
        otto.delete(id);
    }
    otto.conn
        .execute(
            "DELETE FROM tasks WHERE run_id IN (SELECT id FROM runs WHERE timestamp >= ?1 AND timestamp < ?2)",
            [NOW - 15 * DAY, NOW - 14 * DAY],
        )
        .unwrap();
    otto.conn
        .execute(
            "DELETE FROM runs WHERE timestamp >= ?1 AND timestamp < ?2",
            [NOW - 15 * DAY, NOW - 14 * DAY],
        )
        .unwrap();
    let newest: i64 = otto
        .conn
        .query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))
        .unwrap();
    otto.delete(newest);
    otto.next_id = newest;
    otto.run(NOW - 100, Some("success"));
    otto_agrees(&home, &cache, "runs deleted, an id reused");

    // Everything cleaned: the blocks of days without runs go.
    otto.conn
        .execute_batch("DELETE FROM tasks; DELETE FROM runs;")
        .unwrap();
    let all = Window::parse("all", NOW).unwrap();
    let q = StatsQuery {
        task: None,
        project: None,
        window: all,
        trend: true,
    };
    let source = OttoSource::open(&home).unwrap().with_cache(cache.clone());
    assert_eq!(
        stats(&source, &q).unwrap(),
        stats_straight(&OttoSource::open(&home).unwrap(), &q).unwrap()
    );
    assert_eq!(blocks(&cache), Vec::<i64>::new());
}

fn stored(secs: i64) -> String {
    otto_hooks_sqlite::time::format_time(otto_hooks_plugin_api::Timestamp::from_secs(secs)).unwrap()
}

#[test]
fn history_db_frames_give_the_straight_documents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let options = otto_hooks_sqlite::Options::default();
    let mut conn = otto_hooks_sqlite::connection::open_write(&path, &options).unwrap();
    otto_hooks_sqlite::migrate_with(&mut conn, &otto_hooks_sqlite::MIGRATIONS[..3]).unwrap();
    let mut rng = Xorshift::new(5);
    {
        let tx = conn.transaction().unwrap();
        // The last two runs start after now (a clock ahead; later today,
        // and days ahead): outside `--since all`, which reads every row of
        // the summary without a join.
        for k in 0..403i64 {
            let ts = if k == 402 {
                NOW + 3 * DAY
            } else {
                NOW - 45 * DAY + k * (45 * DAY / 400) - (k % 7)
            };
            let id = format!("run_{ts}_{k:04x}");
            let status = match rng.below(100) {
                0..5 => "running",
                5..25 => "failed",
                _ => "completed",
            };
            let mut seq = 0;
            let mut clock = ts;
            let mut events: Vec<(i64, &str, Option<&str>, Option<String>)> = Vec::new();
            for unit in TASKS {
                let roll = rng.below(100);
                if roll < 10 {
                    continue;
                }
                if roll < 15 {
                    events.push((clock, "unit.queued", Some(unit), None));
                    continue;
                }
                if roll < 20 {
                    events.push((clock, "unit.skipped", Some(unit), None));
                    continue;
                }
                events.push((clock, "unit.started", Some(unit), None));
                if roll < 25 {
                    continue; // still running (cut off if its run ended)
                }
                clock += rng.below(30) as i64;
                match rng.below(10) {
                    0..2 => events.push((
                        clock,
                        "unit.failed",
                        Some(unit),
                        Some(format!("{{\"exit_code\":{}}}", 1 + rng.below(3))),
                    )),
                    2 => events.push((
                        clock,
                        "unit.completed",
                        Some(unit),
                        Some(format!("{{\"duration_ms\":{}}}", rng.below(5000))),
                    )),
                    _ => events.push((clock, "unit.completed", Some(unit), None)),
                }
            }
            tx.execute(
                "INSERT INTO runs (id, repo_path, project, started_at, completed_at, status, parallelism,
                                   total_units, last_seq, event_count, updated_at)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, 4, 5, ?6, ?6, ?3)",
                params![
                    id,
                    format!("/src/p{}", k % 3),
                    stored(ts),
                    (status != "running").then(|| stored(clock)),
                    status,
                    events.len() as i64,
                ],
            )
            .unwrap();
            for (t, kind, unit, payload) in events {
                seq += 1;
                tx.execute(
                    "INSERT INTO events (run_id, seq, time, type, unit, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, seq, stored(t), kind, unit, payload],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    drop(conn);
    // Read before the migration (events folded), then after (the summary),
    // straight, as a frame, and as a frame through the cache.
    let cache = dir.path().join("hooks").join("insights");
    history_agrees(&path, None, "schema 3");
    otto_hooks_sqlite::HistoryDb::open(&path, &options)
        .unwrap()
        .close()
        .unwrap();
    history_agrees(&path, None, "schema 4");
    // A summary row whose run id is no run's (a blob; foreign keys off) is
    // skipped by every read, the one pass over the summary included.
    let c = Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    c.execute(
            "INSERT INTO unit_executions (run_id, unit, status, exit_code, started_at, saw_start, duration_ms, last_seq)
             VALUES (x'00ff', 'build', 'failed', 1, ?1, 1, 5.0, 1)",
            [stored(NOW - DAY)],
        )
        .unwrap();
    drop(c);
    history_agrees(&path, None, "a row of no run");
    // The whole history first, from an empty cache (every day filled in
    // one pass over the summary), then every window through it.
    history_all_first(&path, &cache);
    std::fs::remove_dir_all(&cache).unwrap();
    history_agrees(&path, Some(&cache), "cache filled");
    history_agrees(&path, Some(&cache), "cache warm");
    assert!(!history_blocks(&cache).is_empty());
    // The blocks are what answers: emptied, the cached answer is empty.
    {
        let file = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains("history-"))
            .unwrap();
        let c = Connection::open(file).unwrap();
        c.execute("UPDATE days SET data = ?1", [Block::default().encode()])
            .unwrap();
        let h = recorded::open(&path).unwrap();
        let q = StatsQuery {
            task: None,
            project: None,
            window: Window::parse("all", NOW).unwrap(),
            trend: false,
        };
        let s = HistorySource::new(&h, path.display().to_string()).with_cache(cache.clone());
        assert_eq!(stats(&s, &q).unwrap().tasks.total, 0);
        std::fs::remove_dir_all(&cache).unwrap();
    }
    history_agrees(&path, Some(&cache), "cache refilled");

    // The writer records: a new run with units (still running), events
    // appended to an old running run, runs completed, runs deleted.
    let db = otto_hooks_sqlite::HistoryDb::open(&path, &options).unwrap();
    let at = |secs: i64| otto_hooks_plugin_api::Timestamp::from_secs(secs);
    let event = |t: i64, kind: &str, unit: &str, payload: Option<&str>| {
        let mut e = otto_hooks_sqlite::NewEvent::new(at(t), kind);
        e.unit = Some(unit.to_owned());
        e.payload = payload.map(str::to_owned);
        e
    };
    db.start_run(otto_hooks_sqlite::NewRun {
        id: "run_new_1".into(),
        project: "/src/p1".into(),
        repo_path: "/src/p1".into(),
        started_at: at(NOW - 600),
        parallelism: 2,
        total_units: 3,
        tasks_dir: None,
        dry_run: false,
    })
    .unwrap();
    db.append_events(
        "run_new_1",
        vec![
            event(NOW - 590, "unit.started", "test", None),
            event(NOW - 580, "unit.failed", "test", Some("{\"exit_code\":4}")),
            event(NOW - 570, "unit.started", "build", None),
        ],
    )
    .unwrap();
    history_agrees(&path, Some(&cache), "a run added");
    let running: Vec<String> = {
        let c = recorded::open(&path).unwrap();
        c.prepare("SELECT id FROM runs WHERE status = 'running' AND id <> 'run_new_1' ORDER BY started_at")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(running.len() >= 2, "{running:?}");
    db.append_events(
        &running[0],
        vec![
            event(NOW - 40 * DAY, "unit.started", "deploy", None),
            event(NOW - 40 * DAY + 5, "unit.completed", "deploy", None),
        ],
    )
    .unwrap();
    history_agrees(&path, Some(&cache), "events appended to an old run");
    for id in ["run_new_1", running[1].as_str()] {
        db.complete_run(otto_hooks_sqlite::Completion {
            run_id: id.to_owned(),
            ended_at: at(NOW - 10),
            status: "failed".into(),
            completed_units: None,
            failed_units: None,
            blocked_units: None,
            error: None,
        })
        .unwrap();
    }
    history_agrees(&path, Some(&cache), "runs completed");
    let some: Vec<String> = {
        let c = recorded::open(&path).unwrap();
        c.prepare("SELECT id FROM runs WHERE status <> 'running' ORDER BY started_at LIMIT 30")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    db.delete_runs(some.into_iter().step_by(3).collect())
        .unwrap();
    history_agrees(&path, Some(&cache), "runs deleted");
    db.close().unwrap();
}

fn history_blocks(cache: &Path) -> Vec<i64> {
    let file = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("history-") && n.ends_with(".db"))
        })
        .expect("a history cache file");
    let c = Connection::open(file).unwrap();
    c.prepare("SELECT day FROM days ORDER BY day")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `stats --since all` and `flaky --since all` over history.db `path`,
/// the first read through the (empty) cache in `cache`, give the straight
/// documents; so does every window after.
fn history_all_first(path: &Path, cache: &Path) {
    assert!(!cache.exists());
    let c = recorded::open(path).unwrap();
    let straight = HistorySource::new(&c, path.display().to_string());
    let fast = HistorySource::new(&c, path.display().to_string()).with_cache(cache.to_path_buf());
    let q = StatsQuery {
        task: None,
        project: None,
        window: Window::parse("all", NOW).unwrap(),
        trend: true,
    };
    assert_eq!(
        stats(&fast, &q),
        stats_straight(&straight, &q),
        "all, first"
    );
    assert!(
        history_blocks(cache).len() > 16,
        "{:?}",
        history_blocks(cache)
    );
    assert_eq!(
        flaky(&fast, None, &q.window),
        flaky_straight(&straight, None, &q.window),
        "all, warm"
    );
    history_agrees(path, Some(cache), "after the whole history first");
}

/// Every query over history.db `path` (through the cache in `cache`, when
/// given) gives the straight documents.
fn history_agrees(path: &Path, cache: Option<&Path>, when: &str) {
    let c = recorded::open(path).unwrap();
    let straight = HistorySource::new(&c, path.display().to_string());
    let fast = HistorySource::new(&c, path.display().to_string());
    let fast = match cache {
        Some(dir) => fast.with_cache(dir.to_path_buf()),
        None => fast,
    };
    let mut executions = 0;
    for since in WINDOWS {
        for task in [None, Some("test")] {
            for project in [None, Some("/src/p1")] {
                let q = StatsQuery {
                    task: task.map(str::to_owned),
                    project: project.map(str::to_owned),
                    window: Window::parse(since, NOW).unwrap(),
                    trend: true,
                };
                let b = stats_straight(&straight, &q);
                if let Ok(r) = &b {
                    executions += r.tasks.total;
                }
                assert_eq!(stats(&fast, &q), b, "{when}: {q:?}");
                assert_eq!(
                    flaky(&fast, project, &q.window),
                    flaky_straight(&straight, project, &q.window),
                    "{when}: {q:?}"
                );
            }
        }
    }
    assert!(executions > 0, "{when}");
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// `stats --since all` over `home` through the cache in `cache`, bounded
/// (a FIFO in the cache's place must not hang it).
fn cached_stats(home: &Path, cache: &Path) -> otto_hooks_core::insights::stats::StatsReport {
    let (home, cache) = (home.to_path_buf(), cache.to_path_buf());
    otto_hooks_tests::bounded::within(
        "stats through the insights cache",
        std::time::Duration::from_secs(120),
        &[],
        move || {
            let q = all_query();
            stats(&OttoSource::open(&home).unwrap().with_cache(cache), &q).unwrap()
        },
    )
}

fn all_query() -> StatsQuery {
    StatsQuery {
        task: None,
        project: None,
        window: Window::parse("all", NOW).unwrap(),
        trend: true,
    }
}

/// The cache is one of our own state files: a symbolic link, hard link or
/// FIFO planted at its path (or its `-wal`), or a linked `insights`
/// directory, is refused — the answer is otto.db's, nothing is written
/// through it, nothing waits on it — and the files it makes are private
/// (0600 in a 0700 directory), an older 0644 file made so too. A home
/// reached through a linked directory still gets its cache.
#[test]
fn links_and_fifos_planted_at_the_cache_are_refused_and_its_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..200 {
        otto.run(NOW - 20 * DAY + k * (20 * DAY / 200), None);
    }
    let straight = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    assert!(straight.tasks.total > 0);
    std::fs::create_dir_all(&cache).unwrap();
    let file = otto_cache::path_for(&cache, &home.join("otto.db"));
    let tables = |db: &Path| -> Vec<String> {
        let c = Connection::open(db).unwrap();
        c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let otto_tables = tables(&home.join("otto.db"));
    assert!(otto_tables.contains(&"runs".to_owned()));

    // A hard link to otto.db: the cache would create its tables in otto.db
    // and drop otto's `runs` (a cache of another format is emptied).
    std::fs::hard_link(home.join("otto.db"), &file).unwrap();
    assert_eq!(
        cached_stats(&home, &cache),
        straight,
        "hard link to otto.db"
    );
    assert_eq!(
        tables(&home.join("otto.db")),
        otto_tables,
        "otto.db untouched"
    );
    let check: String = Connection::open(home.join("otto.db"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap(),
        straight
    );
    std::fs::remove_file(&file).unwrap();
    // A hard link to an empty file of the user's.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"").unwrap();
    std::fs::hard_link(&victim, &file).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "hard link");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().len(),
        0,
        "nothing written"
    );
    std::fs::remove_file(&file).unwrap();
    // Symbolic links: at the file, at its `-wal`, at the directory.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("db"), &file).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "symlinked file");
    std::fs::remove_file(&file).unwrap();
    let mut wal = file.clone().into_os_string();
    wal.push("-wal");
    std::os::unix::fs::symlink(elsewhere.join("wal"), &wal).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "symlinked -wal");
    std::fs::remove_file(&wal).unwrap();
    let _ = std::fs::remove_file(&file);
    let mut journal = file.clone().into_os_string();
    journal.push("-journal");
    std::os::unix::fs::symlink(elsewhere.join("journal"), &journal).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "symlinked -journal");
    std::fs::remove_file(&journal).unwrap();
    let _ = std::fs::remove_file(&file);
    let linked = dir.path().join("hooks2").join("insights");
    std::fs::create_dir_all(linked.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
    assert_eq!(
        cached_stats(&home, &linked),
        straight,
        "symlinked directory"
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through a link"
    );
    // A FIFO: refused at once, not waited on.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "FIFO");
    std::fs::remove_file(&file).unwrap();

    // Nothing in the way: the cache is filled, private.
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "filled");
    assert!(!blocks(&cache).is_empty(), "the cache was filled");
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&file), 0o600);
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    // Files SQLite keeps beside it, left 0644 (an older version's, a
    // journal of a write cut short), are made private too.
    let mut sides = Vec::new();
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut side = file.clone().into_os_string();
        side.push(suffix);
        std::fs::write(&side, b"").unwrap();
        std::fs::set_permissions(&side, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        sides.push(side);
    }
    assert_eq!(cached_stats(&home, &cache), straight, "warm");
    assert_eq!(mode(&file), 0o600, "an older 0644 file made private");
    for side in &sides {
        assert_eq!(mode(Path::new(side)), 0o600, "{side:?}");
    }

    // A home reached through a linked directory (`/home -> /var/home`).
    let real = dir.path().join("real-hooks");
    std::fs::create_dir(&real).unwrap();
    let via = dir.path().join("via");
    std::os::unix::fs::symlink(&real, &via).unwrap();
    assert_eq!(
        cached_stats(&home, &via.join("insights")),
        straight,
        "linked home"
    );
    assert!(
        !blocks(&real.join("insights")).is_empty(),
        "a linked home gets its cache"
    );
}

/// A cache file damaged on disk gives otto.db's answer: a byte of a
/// block changed in place (the block still well formed: a task's status),
/// the file truncated, the file garbage.
#[test]
fn a_damaged_cache_file_gives_otto_dbs_answer() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..300 {
        otto.run(NOW - 20 * DAY + k * (20 * DAY / 300), None);
    }
    let straight = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "filled");
    let file = otto_cache::path_for(&cache, &home.join("otto.db"));
    // The largest block's data, as stored.
    let data: Vec<u8> = Connection::open(&file)
        .unwrap()
        .query_row(
            "SELECT data FROM days ORDER BY length(data) DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    // A record (34 bytes, the status at 12) found once in the file.
    let mut at = None;
    // The records end the block (before a 4-byte checksum, if any).
    let ends = (34..=data.len())
        .rev()
        .step_by(34)
        .take(50)
        .chain((34..=data.len() - 4).rev().step_by(34).take(50));
    for end in ends {
        let rec = &data[end - 34..end];
        let found: Vec<usize> = bytes
            .windows(34)
            .enumerate()
            .filter(|(_, w)| *w == rec)
            .map(|(i, _)| i)
            .collect();
        if found.len() == 1 && matches!(rec[12], 1 | 2) && rec[13] == 7 {
            at = Some(found[0] + 12);
            break;
        }
    }
    let at = at.expect("a record of the block in the file");
    bytes[at] = if bytes[at] == 1 { 2 } else { 1 };
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "a byte changed");
    assert_eq!(
        cached_stats(&home, &cache),
        straight,
        "a byte changed, again"
    );

    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "truncated");
    std::fs::write(&file, vec![0x5a; 10_000]).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "garbage");
    // Garbage is not left in the way: the cache is made again.
    assert!(!blocks(&cache).is_empty(), "refilled");
    assert_eq!(cached_stats(&home, &cache), straight, "refilled");
}

/// Readers filling one cache at once (a cold cache, then otto adding runs
/// under it) each give otto.db's answer.
#[test]
fn readers_filling_one_cache_at_once_agree() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..300 {
        otto.run(NOW - 30 * DAY + k * (30 * DAY / 300), None);
    }
    for round in 0..3 {
        let straight = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (home, cache) = (home.clone(), cache.clone());
                std::thread::spawn(move || cached_stats(&home, &cache))
            })
            .collect();
        for r in readers {
            assert_eq!(r.join().unwrap(), straight, "round {round}");
        }
        for k in 0..20 {
            otto.run(NOW - (round + 1) * 5 * DAY + k * 600, None);
        }
    }
    assert!(!blocks(&cache).is_empty());
}

/// Runs on the edges of UTC days and of windows (the first and last
/// second of a day, a window starting exactly at midnight, a run in the
/// window's last second), several in one second, one of them completed
/// while others of its day are cached: the cache's answers are otto.db's.
#[test]
fn runs_on_day_and_window_edges_agree() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    let midnight = (NOW / DAY) * DAY;
    let mut running = Vec::new();
    for d in 0..10 {
        let day = midnight - d * DAY;
        for ts in [day - 1, day, day, day + 1, day + DAY / 2, day + DAY - 1] {
            let id = otto.run(ts, Some(if ts % 2 == 0 { "success" } else { "failed" }));
            if d % 3 == 0 && ts == day {
                otto.conn
                    .execute(
                        "UPDATE runs SET status = 'running', ended_at = NULL WHERE id = ?1",
                        [id],
                    )
                    .unwrap();
                running.push(id);
            }
        }
    }
    // "Now" on either side of a midnight: windows start on one.
    let check = |when: &str| {
        for now in [midnight - 1, midnight, midnight + 1, midnight + DAY / 2] {
            for since in ["1d", "12h", "2d", "7d", "1s", "all"] {
                for task in [None, Some("test")] {
                    let q = StatsQuery {
                        task: task.map(str::to_owned),
                        project: None,
                        window: Window::parse(since, now).unwrap(),
                        trend: true,
                    };
                    let fast = OttoSource::open(&home).unwrap().with_cache(cache.clone());
                    let straight = OttoSource::open(&home).unwrap();
                    assert_eq!(
                        stats(&fast, &q),
                        stats_straight(&straight, &q),
                        "{when}: {q:?}"
                    );
                    assert_eq!(
                        flaky(&fast, None, &q.window),
                        flaky_straight(&straight, None, &q.window),
                        "{when}: {q:?}"
                    );
                }
            }
        }
    };
    check("filled");
    check("warm");
    // The running runs complete in the same second they started, their
    // task rows rewritten first.
    for id in &running {
        otto.conn
            .execute(
                "UPDATE tasks SET status = 'failed', exit_code = 9 WHERE run_id = ?1",
                [id],
            )
            .unwrap();
        otto.conn
            .execute(
                "UPDATE runs SET status = 'failed', ended_at = timestamp WHERE id = ?1",
                [id],
            )
            .unwrap();
    }
    check("completed");
    // Another run in a cached day's last second.
    otto.run(midnight - 1, Some("failed"));
    check("added");
}

/// A `--since` too long for its window before it (`--trend`) to be a
/// timestamp is refused with the one-line error of a bad length; the
/// longest one accepted answers through the cache as otto.db does (it
/// once panicked on an overflow in debug builds, and wrapped in release).
#[test]
fn absurd_window_lengths_are_refused_and_the_longest_accepted_agrees() {
    for since in [
        "5000000000000000000s",
        "106751991167300d",
        "9000000000000000w",
    ] {
        let e = Window::parse(since, NOW).unwrap_err();
        assert!(
            e.message.contains("--since") && !e.message.contains('\n'),
            "{since}: {}",
            e.message
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..50 {
        otto.run(NOW - 5 * DAY + k * 7000, None);
    }
    let q = StatsQuery {
        task: None,
        project: None,
        window: Window::parse("52000000w", NOW).unwrap(),
        trend: true,
    };
    let fast = OttoSource::open(&home).unwrap().with_cache(cache);
    let straight = OttoSource::open(&home).unwrap();
    assert_eq!(stats(&fast, &q), stats_straight(&straight, &q));
    assert_eq!(
        flaky(&fast, None, &q.window),
        flaky_straight(&straight, None, &q.window)
    );
}

/// The cache is written without waiting for the disk, so a crash of the
/// machine may leave it damaged in the middle (its header whole): the
/// answer is then otto.db's alone, the damaged file is removed, and the
/// next call makes it again. Also: a call returns only once the blocks it
/// read are stored (they are written while the figures are computed).
#[test]
fn a_cache_damaged_in_the_middle_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..400 {
        otto.run(NOW - 40 * DAY + k * (40 * DAY / 400), None);
    }
    let straight = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    assert_eq!(cached_stats(&home, &cache), straight, "first");
    let filled = blocks(&cache);
    assert!(
        filled.len() > 16,
        "stored by the time the call returned: {filled:?}"
    );
    let file = otto_cache::path_for(&cache, &home.join("otto.db"));
    // Every page but the first (the header and the schema) overwritten.
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&file, &bytes).unwrap();
    let damaged =
        Connection::open(&file)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM days", [], |r| r.get::<_, i64>(0));
    assert!(damaged.is_err(), "the file is damaged: {damaged:?}");
    assert_eq!(cached_stats(&home, &cache), straight, "damaged");
    assert_eq!(cached_stats(&home, &cache), straight, "made again");
    assert_eq!(blocks(&cache), filled, "the same blocks");
    let check: String = Connection::open(&file)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Task rows of no run (otto.db written with its foreign keys off), one
/// with values no execution could have (an exit code past 32 bits, a
/// blob for a name): the whole history's scan skips them before reading
/// them, as the join on `runs` did, with and without the cache.
/// `--since all` reads every task row of otto.db in the table's order (no
/// join on `runs`): rows of no run (foreign keys were off; a run id that is
/// not an integer) and rows of runs started after now (a clock ahead; later
/// today, or days ahead) are left out, as a query by run leaves them out —
/// alone, on a first call and warm.
#[test]
fn task_rows_of_no_run_or_of_a_run_after_now_are_skipped_by_the_whole_history_scan() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("otto");
    let cache = dir.path().join("hooks").join("insights");
    let mut otto = Otto::new(&home);
    for k in 0..60 {
        otto.run(NOW - 30 * DAY + k * (30 * DAY / 60), None);
    }
    let in_scope = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    otto.run(NOW + 5, Some("completed"));
    otto.run(NOW + 3 * DAY, Some("failed"));
    otto.conn
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO tasks (run_id, name, status, script_hash, exit_code, started_at,
                                duration_seconds, stdout_path)
             VALUES (999999, x'ff00', 'failed', 'abc', 5000000000, 'soon', 'long', NULL),
                    (999998, 'build', 'completed', NULL, 0, NULL, 1.5, NULL),
                    ('abc', 'build', 'failed', NULL, 1, NULL, 2.0, NULL),
                    (1.5, 'build', 'failed', NULL, 1, NULL, 2.0, NULL);",
        )
        .unwrap();
    let straight = stats_straight(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    assert!(straight.tasks.total > 0);
    assert_eq!(
        (straight.runs.total, straight.tasks.total),
        (in_scope.runs.total, in_scope.tasks.total),
        "runs after now are outside `--since all`"
    );
    let alone = stats(&OttoSource::open(&home).unwrap(), &all_query()).unwrap();
    assert_eq!(alone, straight, "otto.db alone");
    assert_eq!(cached_stats(&home, &cache), straight, "first call");
    assert!(blocks(&cache).len() > 16, "the cache was filled");
    assert_eq!(cached_stats(&home, &cache), straight, "warm");
}
