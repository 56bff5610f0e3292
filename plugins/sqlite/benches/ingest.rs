//! history.db ingest and read benchmark.
//!
//! `cargo bench -p otto-hooks-sqlite --bench ingest [-- --events N]`
//! (or `OTTO_HISTORY_BENCH_EVENTS=N`); default 1,000,000 events with
//! ~200-byte payloads. Scenarios:
//!
//! - raw baseline: the same inserts straight through rusqlite (one
//!   transaction per 1000 rows, `prepare_cached`), no engine;
//! - sequential: one run, `append_events` in batches of 1000;
//! - interleaved: 1,000 runs round-robin, batches of 1000, one client;
//! - interleaved, small batches: 1,000 runs, batches of 10 from 8 client
//!   threads (what group commit is for);
//! - a page of 100 events at random positions of the big run (keyset via
//!   `after_seq`; OFFSET shown as the baseline);
//! - `list_runs` limit 50 and a full list of 10,000 runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{EventFilter, HistoryDb, NewEvent, NewRun, Options, RunFilter};

const BATCH: usize = 1000;

fn main() {
    let total = events_arg();
    println!("history.db bench: {total} events, ~200-byte payloads, batches of {BATCH}");
    println!(
        "machine: {} cores; numbers are noisy when other builds run at the same time\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // Raw rusqlite baseline.
    let raw_rate = {
        let path = dir.path().join("raw.db");
        let rate = raw_baseline(&path, total);
        remove_db(&path);
        rate
    };
    rows.push((
        "ingest, raw rusqlite baseline (1 run)".into(),
        rate(raw_rate),
        String::new(),
    ));

    // Sequential: one big run (kept for the page test).
    let seq_path = dir.path().join("sequential.db");
    let db = HistoryDb::open(&seq_path, &Options::default()).unwrap();
    db.start_run(run("big", 0)).unwrap();
    let batches = make_batches(total, BATCH);
    let start = Instant::now();
    for b in batches {
        db.append_events("big", b).unwrap();
    }
    let seq_rate = total as f64 / start.elapsed().as_secs_f64();
    rows.push((
        "ingest, sequential (1 run)".into(),
        rate(seq_rate),
        format!("target ≥ 100k/s; {:.2}× raw", seq_rate / raw_rate),
    ));

    // Pages of 100 at random positions.
    let mut rng = Lcg(42);
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let after = rng.next() % (total.saturating_sub(100).max(1) as u64);
        let t = Instant::now();
        let page = db
            .events(&EventFilter {
                run_id: "big".into(),
                after_seq: Some(after),
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        samples.push(t.elapsed());
        assert_eq!(page.events.len(), 100.min(total - after as usize));
    }
    let (median, p99) = percentiles(&mut samples);
    let offset_ms = offset_baseline(&seq_path, total, &mut rng);
    rows.push((
        format!("page of 100 events, run of {total} (keyset)"),
        format!("median {:.1} µs, p99 {:.1} µs", us(median), us(p99)),
        format!("target < 1 ms; OFFSET: median {offset_ms:.1} ms"),
    ));
    let stats = db.stats().unwrap();
    db.close().unwrap();
    rows.push((
        "database size after sequential".into(),
        format!(
            "{:.0} MB",
            stats.page_count as f64 * stats.page_size as f64 / 1e6
        ),
        format!(
            "{:.0} bytes/event",
            stats.page_count as f64 * stats.page_size as f64 / total as f64
        ),
    ));
    remove_db(&seq_path);

    // Interleaved, batches of 1000, one client.
    let path = dir.path().join("interleaved.db");
    let db = HistoryDb::open(&path, &Options::default()).unwrap();
    for r in 0..1000 {
        db.start_run(run(&format!("run_{r:04}"), r)).unwrap();
    }
    let batches = make_batches(total, BATCH);
    let start = Instant::now();
    for (r, b) in batches.into_iter().enumerate() {
        db.append_events(&format!("run_{:04}", r % 1000), b)
            .unwrap();
    }
    let il_rate = total as f64 / start.elapsed().as_secs_f64();
    rows.push((
        "ingest, 1,000 runs interleaved (batches of 1000)".into(),
        rate(il_rate),
        format!("{:.2}× raw", il_rate / raw_rate),
    ));
    db.close().unwrap();
    remove_db(&path);

    // Interleaved, batches of 10 from 8 clients (group commit).
    let path = dir.path().join("small.db");
    let db = Arc::new(HistoryDb::open(&path, &Options::default()).unwrap());
    for r in 0..1000 {
        db.start_run(run(&format!("run_{r:04}"), r)).unwrap();
    }
    let clients = 8;
    let per_client = total / clients;
    let work: Vec<Vec<Vec<NewEvent>>> =
        (0..clients).map(|_| make_batches(per_client, 10)).collect();
    let start = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .enumerate()
        .map(|(c, batches)| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for (k, b) in batches.into_iter().enumerate() {
                    let r = c + k * clients;
                    db.append_events(&format!("run_{:04}", r % 1000), b)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let small_rate = (per_client * clients) as f64 / start.elapsed().as_secs_f64();
    rows.push((
        "ingest, 1,000 runs, batches of 10, 8 clients".into(),
        rate(small_rate),
        format!("{:.2}× raw", small_rate / raw_rate),
    ));

    // 10,000 runs for listing.
    let adders: Vec<_> = (0..4)
        .map(|c| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for r in (1000 + c..10_000).step_by(4) {
                    let id = format!("run_{r:05}");
                    db.start_run(run(&id, r as i64)).unwrap();
                }
            })
        })
        .collect();
    for h in adders {
        h.join().unwrap();
    }
    let filter = |limit| RunFilter {
        limit,
        ..Default::default()
    };
    assert_eq!(db.count_runs(&filter(0)).unwrap(), 10_000);
    let mut s50: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(db.list_runs(&filter(50)).unwrap().runs.len(), 50);
            t.elapsed()
        })
        .collect();
    let mut sall: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(db.list_runs(&filter(10_000)).unwrap().runs.len(), 10_000);
            t.elapsed()
        })
        .collect();
    let (m50, p50) = percentiles(&mut s50);
    let (mall, pall) = percentiles(&mut sall);
    rows.push((
        "list_runs limit 50 (10,000 runs)".into(),
        format!("median {:.3} ms, p99 {:.3} ms", ms(m50), ms(p50)),
        String::new(),
    ));
    rows.push((
        "list_runs all 10,000 runs".into(),
        format!("median {:.1} ms, p99 {:.1} ms", ms(mall), ms(pall)),
        "target < 50 ms".into(),
    ));
    drop(db);
    remove_db(&path);

    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (a, b, c) in rows {
        println!("{a:<w0$}  {b:<w1$}  {c}");
    }
}

fn events_arg() -> usize {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--events" {
            if let Some(n) = args.next().and_then(|v| v.replace('_', "").parse().ok()) {
                return n;
            }
        } else if let Some(v) = a.strip_prefix("--events=") {
            if let Ok(n) = v.replace('_', "").parse() {
                return n;
            }
        }
    }
    std::env::var("OTTO_HISTORY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

fn run(id: &str, started: i64) -> NewRun {
    NewRun {
        id: id.into(),
        project: "/src/app".into(),
        repo_path: "/src/app".into(),
        started_at: Timestamp::from_secs(1_737_367_200 + started),
        parallelism: 4,
        total_units: 20,
        tasks_dir: None,
        dry_run: false,
    }
}

const KINDS: [&str; 5] = [
    "task.started",
    "task.claude.invoke",
    "task.claude.done",
    "task.validation.ok",
    "unit.started",
];

fn payload(i: usize) -> String {
    let p = format!(
        r#"{{"file":"src/module_{:04}/handler.rs","branch":"feature/unit-{}","status":"ok","duration_ms":{},"reason":""#,
        i % 9973,
        i % 97,
        i % 100_000
    );
    // Pad the reason to ~200 bytes in total.
    format!(
        "{p}{}\"}}",
        "r".repeat(200usize.saturating_sub(p.len() + 2))
    )
}

fn batch(start: usize, len: usize) -> Vec<NewEvent> {
    (start..start + len)
        .map(|i| NewEvent {
            time: Timestamp {
                secs: 1_737_367_200 + (i / 1000) as i64,
                nanos: (i % 1000) as u32 * 1000,
            },
            kind: KINDS[i % KINDS.len()].into(),
            unit: Some(format!("unit-{}", i % 97)),
            task: Some((i % 13) as i64),
            pr: None,
            payload: Some(payload(i)),
            error: None,
        })
        .collect()
}

/// All the batches of a scenario, built before the clock starts.
fn make_batches(total: usize, size: usize) -> Vec<Vec<NewEvent>> {
    (0..total)
        .step_by(size)
        .map(|n| batch(n, size.min(total - n)))
        .collect()
}

fn raw_baseline(path: &std::path::Path, total: usize) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
            time TEXT NOT NULL, type TEXT NOT NULL, unit TEXT, task INTEGER, pr INTEGER, payload TEXT, error TEXT);
         CREATE INDEX idx_events_run_seq ON events(run_id, seq);",
    )
    .unwrap();
    let batches = make_batches(total, BATCH);
    let start = Instant::now();
    let mut n = 0;
    for events in batches {
        let len = events.len();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO events (run_id, seq, time, type, unit, task, pr, payload, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .unwrap();
            for (k, e) in events.iter().enumerate() {
                let time = otto_hooks_sqlite::time::format_time(e.time).unwrap();
                stmt.execute(rusqlite::params![
                    "big",
                    (n + k + 1) as i64,
                    time,
                    e.kind,
                    e.unit,
                    e.task,
                    e.pr,
                    e.payload,
                    e.error
                ])
                .unwrap();
            }
        }
        conn.execute_batch("COMMIT").unwrap();
        n += len;
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn offset_baseline(path: &std::path::Path, total: usize, rng: &mut Lcg) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let offset = rng.next() % (total.max(1) as u64);
            let t = Instant::now();
            let n = conn
                .prepare_cached(
                    "SELECT * FROM events WHERE run_id = 'big' ORDER BY seq LIMIT 100 OFFSET ?1",
                )
                .unwrap()
                .query_map([offset as i64], |_| Ok(()))
                .unwrap()
                .count();
            assert!(n <= 100);
            t.elapsed()
        })
        .collect();
    ms(percentiles(&mut samples).0)
}

fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn rate(r: f64) -> String {
    format!("{:.0}k events/s", r / 1000.0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A tiny deterministic generator (no rand dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}
