//! Benchmark of the history insights (`stats`, `flaky`, `history TASK`)
//! over 100,000 runs x 10 tasks, in otto.db form and in history.db form,
//! each against a plain SQL query of the same answer in the same run.
//!
//! ```sh
//! cargo build --release -p otto-hooks-tests --bin bench-insights
//! target/release/bench-insights                      # 100,000 runs x 10 tasks, medians of 5
//! target/release/bench-insights --runs 20000 --rounds 3   # quicker
//! ```
//!
//! The data: 10 projects; runs evenly spread over the 120 days before now;
//! each run 10 tasks (2–120 s); ~3 % of task executions fail (a run with a
//! failed task is a failed run); every task's script changes every 10,000
//! runs. otto.db is written with otto's schema (version 5, otto's own
//! indexes, nothing added: it is otto's file); history.db as an older
//! otto-hooks left it (schema 3), rows inserted directly: per run
//! `orch.started`, per unit `unit.started` and `unit.completed`/`unit.failed`
//! (`{"exit_code": 1}`), `orch.completed` — 22 events, 2.2 million in all —
//! then opened with `HistoryDb::open`, which migrates it to schema 4 and
//! backfills `unit_executions` from those events (timed).
//!
//! Each figure is the median of `--rounds` in-process library calls
//! (`otto_hooks_core::insights`, the database opened afresh each time, as
//! a command does), next to the median of the plain SQL query that answers
//! the same question, run on a connection opened the same way: on otto.db
//! its own tables, on history.db the `unit_executions` summary ours reads.
//! The `stats`/`flaky` figures are given three ways on both stores: the
//! database alone, the first call with an empty insights cache (it fills
//! it), and the cache warm (see `otto_hooks_core::insights::otto_cache`).
//!
//! `--fixture DIR` keeps the generated stores in DIR (and reuses them on
//! the next run: delete DIR afterwards, it is about 1 GB); `--only TEXT`
//! runs the measures whose name contains TEXT, `--warm-only` only their
//! warm-cache figure without the SQL baseline (both for a profiler).

use std::path::Path;
use std::time::{Duration, Instant};

use otto_hooks_core::insights::flaky::flaky;
use otto_hooks_core::insights::otto::OttoSource;
use otto_hooks_core::insights::recorded::{self, HistorySource};
use otto_hooks_core::insights::stats::{StatsQuery, stats};
use otto_hooks_core::insights::{HistoryQuery, Window, history};
use otto_hooks_tests::bench::ms;
use otto_hooks_tests::otto_home::{SCHEMA_DDL, Xorshift, project_dir_name};
use rusqlite::{Connection, params};

const DAY: i64 = 86_400;
const TASKS: [&str; 10] = [
    "build",
    "test",
    "lint",
    "fmt",
    "check:api",
    "check:db",
    "docs",
    "e2e",
    "package",
    "deploy",
];

struct Options {
    runs: i64,
    rounds: usize,
    /// Keep the generated stores in this directory, and reuse them when
    /// they are there (profiling one figure again without regenerating).
    fixture: Option<std::path::PathBuf>,
    /// Only the measures whose name contains this.
    only: Option<String>,
    /// Only the warm-cache figures, no SQL baseline (for a profiler).
    warm_only: bool,
    /// Only the figures of a first call with an empty cache, no SQL
    /// baseline (for a profiler).
    cold_only: bool,
    /// Also the API's figures: a daemon over the history.db (in this
    /// process, with its insights cache), asked over HTTP.
    daemon: bool,
}

fn parse_options() -> Options {
    let mut o = Options {
        runs: 100_000,
        rounds: 5,
        fixture: None,
        only: None,
        warm_only: false,
        cold_only: false,
        daemon: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--runs" => o.runs = value().parse().unwrap_or_else(|_| usage("--runs N")),
            "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage("--rounds N")),
            "--fixture" => o.fixture = Some(value().into()),
            "--only" => o.only = Some(value()),
            "--warm-only" => o.warm_only = true,
            "--cold-only" => o.cold_only = true,
            "--daemon" => o.daemon = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    o.rounds = o.rounds.max(1);
    o
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: bench-insights [--runs N] [--rounds N] [--fixture DIR] [--only TEXT] [--warm-only | --cold-only] [--daemon]"
    );
    std::process::exit(2)
}

/// One generated run.
struct Run {
    project: usize,
    ts: i64,
    /// (task, ok, seconds, script revision)
    tasks: Vec<(usize, bool, i64, i64)>,
}

fn plan(runs: i64, now: i64) -> Vec<Run> {
    let mut rng = Xorshift::new(7);
    let span = 120 * DAY;
    (0..runs)
        .map(|k| {
            let ts = now - span + k * span / runs.max(1);
            Run {
                project: (k % 10) as usize,
                ts,
                tasks: (0..TASKS.len())
                    .map(|t| {
                        let ok = !rng.chance(30);
                        (t, ok, 2 + rng.below(119) as i64, k / 10_000)
                    })
                    .collect(),
            }
        })
        .collect()
}

fn project(i: usize) -> (String, String) {
    let name = format!("proj{i}");
    let source = format!("/home/dev/src/{name}");
    (project_dir_name(&name, &source), source)
}

fn write_otto_db(home: &Path, runs: &[Run]) {
    std::fs::create_dir_all(home).expect("otto home");
    let mut conn = Connection::open(home.join("otto.db")).expect("otto.db");
    conn.execute_batch("PRAGMA journal_mode=WAL;").expect("wal");
    conn.execute_batch(SCHEMA_DDL).expect("schema");
    let tx = conn.transaction().expect("tx");
    tx.execute("INSERT INTO schema_version VALUES (5, 1750000000)", [])
        .expect("version");
    for i in 0..10 {
        let (_, source) = project(i);
        tx.execute(
            "INSERT INTO projects (id, hash, name, ottofile_path, first_seen, last_seen, run_count)
             VALUES (?1, ?2, ?3, ?4, 0, 0, 0)",
            params![
                i as i64 + 1,
                format!("{i:064x}"),
                format!("proj{i}"),
                format!("{source}/otto.yml")
            ],
        )
        .expect("project");
    }
    {
        let mut run_stmt = tx
            .prepare(
                "INSERT INTO runs (id, project_id, timestamp, status, duration_seconds, size_bytes,
                                   ottofile_path, cwd, user, hostname, args, ended_at, run_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'dev', 'box', '[\"otto\",\"ci\"]', ?8, ?9)",
            )
            .expect("prepare runs");
        let mut task_stmt = tx
            .prepare(
                "INSERT INTO tasks (run_id, name, status, script_hash, exit_code, started_at, ended_at,
                                    duration_seconds, stdout_path, stderr_path, script_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .expect("prepare tasks");
        for (k, run) in runs.iter().enumerate() {
            let (dir_name, source) = project(run.project);
            let run_dir = home.join(&dir_name).join(run.ts.to_string());
            let total: i64 = run.tasks.iter().map(|t| t.2).sum();
            let failed = run.tasks.iter().any(|t| !t.1);
            let id = k as i64 + 1;
            run_stmt
                .execute(params![
                    id,
                    run.project as i64 + 1,
                    run.ts,
                    if failed { "failed" } else { "success" },
                    total as f64,
                    40_000 + (k as i64 % 997) * 10,
                    format!("{source}/otto.yml"),
                    run.ts + total,
                    run_dir.to_string_lossy(),
                ])
                .expect("run row");
            let mut clock = run.ts;
            for &(t, ok, secs, rev) in &run.tasks {
                let dir = run_dir.join("tasks").join(TASKS[t]);
                task_stmt
                    .execute(params![
                        id,
                        TASKS[t],
                        if ok { "completed" } else { "failed" },
                        format!("{:08x}", (t as i64) << 16 | rev),
                        if ok { 0 } else { 1 },
                        clock,
                        clock + secs,
                        secs as f64,
                        dir.join("stdout.log").to_string_lossy(),
                        dir.join("stderr.log").to_string_lossy(),
                        dir.join("script.sh").to_string_lossy(),
                    ])
                    .expect("task row");
                clock += secs;
            }
        }
    }
    tx.commit().expect("commit");
}

fn stored(secs: i64) -> String {
    otto_hooks_sqlite::time::format_time(otto_hooks_plugin_api::Timestamp::from_secs(secs))
        .expect("time")
}

/// Writes the runs' events into a history.db of schema 3 (as an older
/// otto-hooks left it), then opens it with `HistoryDb::open`, which
/// migrates it to schema 4: the backfill of `unit_executions` from the
/// events. Returns how long that migration took.
fn write_history_db(path: &Path, runs: &[Run]) -> Duration {
    let options = otto_hooks_sqlite::Options::default();
    let mut conn = otto_hooks_sqlite::connection::open_write(path, &options).expect("history.db");
    otto_hooks_sqlite::migrate_with(&mut conn, &otto_hooks_sqlite::MIGRATIONS[..3])
        .expect("schema 3");
    let tx = conn.transaction().expect("tx");
    {
        let mut run_stmt = tx
            .prepare(
                "INSERT INTO runs (id, repo_path, project, started_at, completed_at, status, parallelism,
                                   total_units, completed_units, failed_units, last_seq, event_count,
                                   updated_at)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, 4, 10, ?6, ?7, ?8, ?8, ?4)",
            )
            .expect("prepare runs");
        let mut event_stmt = tx
            .prepare(
                "INSERT INTO events (run_id, seq, time, type, unit, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .expect("prepare events");
        for (k, run) in runs.iter().enumerate() {
            let (_, source) = project(run.project);
            let id = format!("run_{}_{:04x}", run.ts, k % 65_536);
            let total: i64 = run.tasks.iter().map(|t| t.2).sum();
            let failed = run.tasks.iter().filter(|t| !t.1).count() as i64;
            run_stmt
                .execute(params![
                    id,
                    source,
                    stored(run.ts),
                    stored(run.ts + total),
                    if failed > 0 { "failed" } else { "completed" },
                    10 - failed,
                    failed,
                    22,
                ])
                .expect("run row");
            let mut seq = 0;
            let mut event = |t: i64, kind: &str, unit: Option<&str>, payload: Option<&str>| {
                seq += 1;
                event_stmt
                    .execute(params![id, seq, stored(t), kind, unit, payload])
                    .expect("event");
            };
            event(run.ts, "orch.started", None, None);
            let mut clock = run.ts;
            for &(t, ok, secs, _) in &run.tasks {
                event(clock, "unit.started", Some(TASKS[t]), None);
                clock += secs;
                if ok {
                    event(clock, "unit.completed", Some(TASKS[t]), None);
                } else {
                    event(
                        clock,
                        "unit.failed",
                        Some(TASKS[t]),
                        Some("{\"exit_code\":1}"),
                    );
                }
            }
            event(
                clock,
                if failed > 0 {
                    "orch.failed"
                } else {
                    "orch.completed"
                },
                None,
                None,
            );
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(conn);
    let start = Instant::now();
    otto_hooks_sqlite::HistoryDb::open(path, &options)
        .expect("migrate to schema 4")
        .close()
        .expect("close");
    let migration = start.elapsed();
    let conn = Connection::open(path).expect("history.db");
    conn.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("analyze");
    migration
}

/// The median of `rounds` timings of `f`.
fn median(rounds: usize, f: impl FnMut()) -> Duration {
    median_after(rounds, || {}, f)
}

/// The median of `rounds` timings of `f`, each from an empty insights
/// cache (`dir` removed before, untimed): a first call's cost.
fn median_cold(rounds: usize, dir: &Path, f: impl FnMut()) -> Duration {
    median_after(
        rounds,
        || {
            let _ = std::fs::remove_dir_all(dir);
        },
        f,
    )
}

/// The median of `rounds` timings of `f`, each after an untimed `before`.
fn median_after(rounds: usize, mut before: impl FnMut(), mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            before();
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open")
}

/// Drains a query, returning the number of rows.
fn drain(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> usize {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let mut rows = stmt.query(args).expect("query");
    let mut n = 0;
    while let Some(row) = rows.next().expect("row") {
        let _ = row.get_ref(0);
        n += 1;
    }
    n
}

struct Line {
    what: String,
    ours: Duration,
    sql: Duration,
    goal: Duration,
}

fn main() {
    let o = parse_options();
    let now = otto_hooks_plugin_api::Timestamp::now().secs;
    let scratch = tempfile::tempdir().expect("tempdir");
    let base = o
        .fixture
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let home = base.join("otto");
    let hist = base.join("history.db");
    if home.join("otto.db").exists() && hist.exists() {
        eprintln!("reusing {}", base.display());
    } else {
        let runs = plan(o.runs, now);
        let start = Instant::now();
        write_otto_db(&home, &runs);
        eprintln!(
            "otto.db: {} runs x 10 tasks in {:.1} s",
            o.runs,
            start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        let migration = write_history_db(&hist, &runs);
        eprintln!(
            "history.db: {} runs, {} events in {:.1} s; migration to schema 4 (backfill of {} unit executions) {:.1} s",
            o.runs,
            o.runs * 22,
            start.elapsed().as_secs_f64(),
            o.runs * 10,
            migration.as_secs_f64()
        );
    }
    let wanted = |what: &str| o.only.as_deref().is_none_or(|only| what.contains(only));

    let w30 = Window::parse("30d", now).expect("window");
    let all = Window::parse("all", now).expect("window");
    let from30 = w30.from.unwrap_or(0);
    let stats_query = |window: &Window| StatsQuery {
        task: None,
        project: None,
        window: window.clone(),
        trend: true,
    };
    // The two stores hold the same executions: their answers must agree
    // (the history's from its backfilled summary).
    if o.only.is_none() {
        let otto = OttoSource::open(&home).expect("open");
        let a = stats(&otto, &stats_query(&all)).expect("stats");
        let c = recorded::open(&hist).expect("open history.db");
        let b = stats(&HistorySource::new(&c, "history.db"), &stats_query(&all)).expect("stats");
        assert_eq!(
            (
                a.tasks.total,
                a.tasks.failed,
                a.tasks.p50_seconds,
                a.tasks.p90_seconds
            ),
            (
                b.tasks.total,
                b.tasks.failed,
                b.tasks.p50_seconds,
                b.tasks.p90_seconds
            ),
            "otto.db and history.db disagree"
        );
        eprintln!(
            "both stores: {} executions, {} failed, p50 {:?} s",
            a.tasks.total, a.tasks.failed, a.tasks.p50_seconds
        );
    }
    let mut lines = Vec::new();
    let r = o.rounds;
    let sec = Duration::from_secs(1);
    let ms100 = Duration::from_millis(100);

    // --- otto.db ---------------------------------------------------------
    let otto_stats_sql = |from: i64| {
        let c = read_only(&home.join("otto.db"));
        // Both windows: runs by status with sizes and durations, and every
        // task execution's status and duration by task, sorted (what the
        // percentiles need).
        for lo in [from, from - (now + 1 - from)] {
            drain(
                &c,
                "SELECT status, COUNT(*), SUM(size_bytes) FROM runs WHERE timestamp >= ?1 AND timestamp < ?2 GROUP BY status",
                params![lo, lo + (now + 1 - from)],
            );
            drain(
                &c,
                "SELECT duration_seconds FROM runs WHERE timestamp >= ?1 AND timestamp < ?2 ORDER BY duration_seconds",
                params![lo, lo + (now + 1 - from)],
            );
            drain(
                &c,
                "SELECT r.project_id, t.name, t.status, t.duration_seconds, t.started_at FROM tasks t JOIN runs r ON r.id = t.run_id WHERE r.timestamp >= ?1 AND r.timestamp < ?2 ORDER BY r.project_id, t.name, t.duration_seconds",
                params![lo, lo + (now + 1 - from)],
            );
        }
    };
    // Each otto.db figure three ways: otto.db alone; the first call with
    // an empty insights cache (it reads otto.db and fills the cache); and
    // the cache warm (otto.db's run rows read and checked, the task rows
    // from the cache).
    let cache_dir = scratch.path().join("hooks-home").join("insights");
    let three_ways =
        |lines: &mut Vec<Line>, what: String, sql: Duration, call: &dyn Fn(&OttoSource)| {
            if o.warm_only {
                call(
                    &OttoSource::open(&home)
                        .expect("open")
                        .with_cache(cache_dir.clone()),
                );
                lines.push(Line {
                    what: format!("{what} (cache warm)"),
                    ours: median(r, || {
                        call(
                            &OttoSource::open(&home)
                                .expect("open")
                                .with_cache(cache_dir.clone()),
                        );
                    }),
                    sql,
                    goal: sec,
                });
                return;
            }
            if !o.cold_only {
                lines.push(Line {
                    what: format!("{what} (otto.db alone)"),
                    ours: median(r, || call(&OttoSource::open(&home).expect("open"))),
                    sql,
                    goal: sec,
                });
            }
            // Each round from an empty cache (removed before, not timed).
            let filled = median_cold(r, &cache_dir, || {
                call(
                    &OttoSource::open(&home)
                        .expect("open")
                        .with_cache(cache_dir.clone()),
                );
            });
            lines.push(Line {
                what: format!("{what} (cache filled)"),
                ours: filled,
                sql,
                goal: sec,
            });
            if o.cold_only {
                return;
            }
            lines.push(Line {
                what: format!("{what} (cache warm)"),
                ours: median(r, || {
                    call(
                        &OttoSource::open(&home)
                            .expect("open")
                            .with_cache(cache_dir.clone()),
                    )
                }),
                sql,
                goal: sec,
            });
        };
    for (label, window, from) in [("30d", &w30, from30), ("all", &all, i64::MIN / 4)] {
        let what = format!("otto.db    stats --since {label} --trend");
        if !wanted(&what) {
            continue;
        }
        let sql = if o.warm_only || o.cold_only {
            Duration::ZERO
        } else {
            median(r, || otto_stats_sql(from))
        };
        three_ways(&mut lines, what, sql, &|s| {
            stats(s, &stats_query(window)).expect("stats");
        });
    }
    let otto_flaky_sql = |from: i64| {
        let c = read_only(&home.join("otto.db"));
        drain(
            &c,
            "SELECT project_id, name, script_hash, SUM(status = 'failed'), SUM(status = 'completed'), SUM(flip)
             FROM (SELECT r.project_id, t.name, t.script_hash, t.status,
                          t.status != LAG(t.status) OVER (PARTITION BY r.project_id, t.name, t.script_hash ORDER BY t.started_at) AS flip
                   FROM tasks t JOIN runs r ON r.id = t.run_id
                   WHERE r.timestamp >= ?1 AND t.status IN ('completed', 'failed'))
             GROUP BY 1, 2, 3 HAVING SUM(status = 'failed') > 0 AND SUM(status = 'completed') > 0
             ORDER BY SUM(flip) * 1.0 / (COUNT(*) - 1) DESC",
            [from],
        );
    };
    for (label, window, from) in [("30d", &w30, from30), ("all", &all, i64::MIN / 4)] {
        let what = format!("otto.db    flaky --since {label}");
        if !wanted(&what) {
            continue;
        }
        let sql = if o.warm_only || o.cold_only {
            Duration::ZERO
        } else {
            median(r, || otto_flaky_sql(from))
        };
        three_ways(&mut lines, what, sql, &|s| {
            flaky(s, None, window).expect("flaky");
        });
    }
    let hq = HistoryQuery {
        task: "test".into(),
        project: None,
        status: None,
        limit: 50,
    };
    if wanted("otto.db    history test (--limit 50)") && !o.cold_only {
        lines.push(Line {
            what: "otto.db    history test (--limit 50)".into(),
            ours: median(r, || {
                let s = OttoSource::open(&home).expect("open");
                history(&s, &hq).expect("history");
            }),
            sql: median(r, || {
                let c = read_only(&home.join("otto.db"));
                drain(&c, "SELECT t.status, t.exit_code, t.duration_seconds, r.run_dir, t.stdout_path FROM tasks t JOIN runs r ON r.id = t.run_id WHERE t.name = 'test' ORDER BY r.timestamp DESC LIMIT 50", []);
            }),
            goal: ms100,
        });
    }
    let failed_q = HistoryQuery {
        status: Some(otto_hooks_plugin_api::TaskStatus::Failed),
        ..hq.clone()
    };
    if wanted("otto.db    history test --failed") && !o.cold_only {
        lines.push(Line {
            what: "otto.db    history test --failed".into(),
            ours: median(r, || {
                let s = OttoSource::open(&home).expect("open");
                history(&s, &failed_q).expect("history");
            }),
            sql: median(r, || {
                let c = read_only(&home.join("otto.db"));
                drain(&c, "SELECT t.status, t.exit_code, t.duration_seconds, r.run_dir, t.stdout_path FROM tasks t JOIN runs r ON r.id = t.run_id WHERE t.name = 'test' AND t.status = 'failed' ORDER BY r.timestamp DESC LIMIT 50", []);
            }),
            goal: ms100,
        });
    }

    // --- history.db ------------------------------------------------------
    let open_hist = || recorded::open(&hist).expect("open history.db");
    // The plain SQL reads the same summary table (schema 4) ours reads.
    let units_sql = "SELECT r.project, u.unit, u.status, u.duration_ms AS d, u.started_at
         FROM runs r JOIN unit_executions u ON u.run_id = r.id
         WHERE r.started_at >= ?1 AND r.started_at < ?2";
    let hist_stats_sql = |from: i64| {
        let c = read_only(&hist);
        let len = now + 1 - from;
        for lo in [from, from - len] {
            let (a, b) = (stored(lo.max(0)), stored((lo + len).clamp(0, now + 1)));
            drain(
                &c,
                "SELECT status, COUNT(*) FROM runs WHERE started_at >= ?1 AND started_at < ?2 GROUP BY status",
                params![a, b],
            );
            drain(
                &c,
                &format!("{units_sql} ORDER BY r.project, u.unit, d"),
                params![a, b],
            );
        }
    };
    // Each history.db figure three ways too: the database alone, the
    // first call with an empty insights cache, the cache warm.
    let hist_path = hist.display().to_string();
    let hist_three_ways =
        |lines: &mut Vec<Line>, what: String, sql: Duration, call: &dyn Fn(&HistorySource)| {
            let warm = || {
                let c = open_hist();
                call(&HistorySource::new(&c, hist_path.clone()).with_cache(cache_dir.clone()));
            };
            if o.warm_only {
                warm();
                lines.push(Line {
                    what: format!("{what} (cache warm)"),
                    ours: median(r, warm),
                    sql,
                    goal: sec,
                });
                return;
            }
            if !o.cold_only {
                lines.push(Line {
                    what: format!("{what} (history.db alone)"),
                    ours: median(r, || {
                        let c = open_hist();
                        call(&HistorySource::new(&c, hist_path.clone()));
                    }),
                    sql,
                    goal: sec,
                });
            }
            let filled = median_cold(r, &cache_dir, || {
                let c = open_hist();
                call(&HistorySource::new(&c, hist_path.clone()).with_cache(cache_dir.clone()));
            });
            lines.push(Line {
                what: format!("{what} (cache filled)"),
                ours: filled,
                sql,
                goal: sec,
            });
            if o.cold_only {
                return;
            }
            lines.push(Line {
                what: format!("{what} (cache warm)"),
                ours: median(r, || {
                    let c = open_hist();
                    call(&HistorySource::new(&c, hist_path.clone()).with_cache(cache_dir.clone()));
                }),
                sql,
                goal: sec,
            });
        };
    for (label, window, from) in [("30d", &w30, from30), ("all", &all, 0)] {
        let what = format!("history.db stats --since {label} --trend");
        if !wanted(&what) {
            continue;
        }
        let sql = if o.warm_only || o.cold_only {
            Duration::ZERO
        } else {
            median(r, || hist_stats_sql(from))
        };
        hist_three_ways(&mut lines, what, sql, &|s| {
            stats(s, &stats_query(window)).expect("stats");
        });
    }
    let hist_flaky_sql = |from: i64| {
        let c = read_only(&hist);
        drain(
            &c,
            "SELECT project, unit, SUM(status = 'failed'), SUM(flip) FROM
               (SELECT r.project AS project, u.unit AS unit, u.status AS status,
                       u.status != LAG(u.status) OVER (PARTITION BY r.project, u.unit ORDER BY u.started_at) AS flip
                FROM runs r JOIN unit_executions u ON u.run_id = r.id
                WHERE r.started_at >= ?1 AND r.started_at < ?2 AND u.status IN ('success', 'failed'))
             GROUP BY 1, 2 HAVING SUM(status = 'failed') > 0 AND SUM(status = 'success') > 0
             ORDER BY SUM(flip) * 1.0 / (COUNT(*) - 1) DESC",
            params![stored(from.max(0)), stored(now + 1)],
        );
    };
    for (label, window, from) in [("30d", &w30, from30), ("all", &all, 0)] {
        let what = format!("history.db flaky --since {label}");
        if !wanted(&what) {
            continue;
        }
        let sql = if o.warm_only || o.cold_only {
            Duration::ZERO
        } else {
            median(r, || hist_flaky_sql(from))
        };
        hist_three_ways(&mut lines, what, sql, &|s| {
            flaky(s, None, window).expect("flaky");
        });
    }
    if wanted("history.db history test (--limit 50)") && !o.cold_only {
        lines.push(Line {
            what: "history.db history test (--limit 50)".into(),
            ours: median(r, || {
                let c = open_hist();
                let s = HistorySource::new(&c, "history.db");
                history(&s, &hq).expect("history");
            }),
            sql: median(r, || {
                let c = read_only(&hist);
                drain(&c, "SELECT u.run_id, u.status, u.exit_code, u.duration_ms, r.project, r.tasks_dir FROM unit_executions u JOIN runs r ON r.id = u.run_id WHERE u.unit = 'test' ORDER BY u.started_at DESC LIMIT 50", []);
            }),
            goal: ms100,
        });
    }
    if wanted("history.db history test --failed") && !o.cold_only {
        lines.push(Line {
            what: "history.db history test --failed".into(),
            ours: median(r, || {
                let c = open_hist();
                let s = HistorySource::new(&c, "history.db");
                history(&s, &failed_q).expect("history");
            }),
            sql: median(r, || {
                let c = read_only(&hist);
                drain(&c, "SELECT u.run_id, u.status, u.exit_code, u.duration_ms, r.project, r.tasks_dir FROM unit_executions u JOIN runs r ON r.id = u.run_id WHERE u.unit = 'test' AND u.status = 'failed' ORDER BY u.started_at DESC LIMIT 50", []);
            }),
            goal: ms100,
        });
    }

    if o.daemon {
        api_figures(&hist, &scratch.path().join("daemon-home"), r, &mut lines);
    }

    println!(
        "{:<58} {:>10} {:>10} {:>7} {:>8}  goal",
        "measure", "ours ms", "SQL ms", "ratio", "goal ms"
    );
    for l in &lines {
        // `--warm-only` measures no SQL: no ratio then.
        let ratio = if l.sql.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.2}", l.ours.as_secs_f64() / l.sql.as_secs_f64())
        };
        println!(
            "{:<58} {:>10.1} {:>10.1} {:>7} {:>8.0}  {}",
            l.what,
            ms(l.ours),
            ms(l.sql),
            ratio,
            ms(l.goal),
            if l.ours <= l.goal { "met" } else { "MISSED" }
        );
    }
}

/// The API's figures: a daemon (`serve`, in this process) over `hist` with
/// its insights cache in `home/insights`, asked `GET /api/history/stats?
/// since=all&trend=true` and `/flaky?since=all` over HTTP on 127.0.0.1:
/// the first call after start (while the daemon warms its cache), then
/// the median of `rounds` calls once a call has found it warm.
fn api_figures(hist: &Path, home: &Path, rounds: usize, lines: &mut Vec<Line>) {
    use otto_hooks_core::daemon::{ServerOptions, serve};
    let mut options = ServerOptions::new(hist, "bench-token-0123456789");
    options.insights_cache = Some(home.join("insights"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    // Served until the process exits.
    std::thread::spawn(move || serve(options, listener, std::future::pending::<()>()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(addr, "/api/health").is_none() {
        assert!(Instant::now() < deadline, "the daemon did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (what, path) in [
        (
            "API        stats?since=all&trend=true",
            "/api/history/stats?since=all&trend=true",
        ),
        ("API        flaky?since=all", "/api/history/flaky?since=all"),
    ] {
        let start = Instant::now();
        let bytes = get(addr, path).expect("an answer");
        assert!(bytes > 100, "{path}: {bytes} bytes");
        lines.push(Line {
            what: format!("{what} (first, while warming)"),
            ours: start.elapsed(),
            sql: Duration::ZERO,
            goal: Duration::from_secs(1),
        });
        lines.push(Line {
            what: format!("{what} (cache warm)"),
            ours: median(rounds, || {
                get(addr, path).expect("an answer");
            }),
            sql: Duration::ZERO,
            goal: Duration::from_secs(1),
        });
    }
}

/// `GET path` on the daemon at `addr` (HTTP/1.1, connection closed after):
/// the bytes of a 200 answer, `None` for anything else.
fn get(addr: std::net::SocketAddr, path: &str) -> Option<usize> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).ok()?;
    body.starts_with(b"HTTP/1.1 200").then_some(body.len())
}
