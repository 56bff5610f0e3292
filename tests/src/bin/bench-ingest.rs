//! Benchmark of the SQLite history (issue 5): ingest through the library
//! and through `otto-hooks hook event` from an NDJSON pipe, a page of
//! events of a 1M-event run, `list` of 10,000 runs.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/bench-ingest                  # 1,000,000 events, 10,000 runs
//! target/release/bench-ingest --events 200000  # a quicker run
//! ```
//!
//! Every event has a ~200-byte JSON payload (the engine bench's shape:
//! file, branch, status, duration_ms, reason). Figures:
//!
//! - library ingest: `HistoryDb::append_events`, one run, batches of 1000
//!   built before the clock starts; and the same batches through
//!   `Runtime::events` (redaction, the plugin ABI, the sqlite plugin) —
//!   what `hook event` runs per batch;
//! - `hook event --db … --run ID` fed the same events as NDJSON through a
//!   pipe: from spawning the process to its exit (process start, config,
//!   parsing, redaction, batching, COMMITs, the final checkpoint), the
//!   NDJSON generated in memory beforehand; plus the fixed cost of one
//!   `hook event` of one line;
//! - a page of 100 events at random `after_seq` positions of the library
//!   run (`HistoryDb::events`, median and p99 of 2000), and `otto-hooks
//!   events RUN --after-seq N --limit 100 --json` end to end;
//! - `list` of 10,000 runs: `HistoryDb::list_runs` with limit 10,000
//!   (median of 20), and `otto-hooks list --db … --json --limit 10000` end
//!   to end (median of `--rounds`).
//!
//! The machine (cores, CPU, load average before and after) is printed with
//! the figures: on a busy machine they are low.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otto_hooks_core::config::{self, LoadOptions};
use otto_hooks_core::hooks::{ProjectRef, RunStartRequest, Runtime, history_db_storage, wire};
use otto_hooks_core::registry::Registry;
use otto_hooks_plugin_api::{Event, Timestamp};
use otto_hooks_sqlite::{
    Completion, EventFilter, HistoryDb, NewEvent, NewRun, Options as DbOptions, RunFilter,
};
use otto_hooks_tests::bench::{Bench, ms, sibling};

const BATCH: usize = 1000;
/// 2025-01-20T10:00:00Z.
const BASE_SECS: i64 = 1_737_367_200;
const KINDS: [&str; 5] = [
    "task.started",
    "task.claude.invoke",
    "task.claude.done",
    "task.validation.ok",
    "unit.started",
];

struct Options {
    events: usize,
    runs: usize,
    rounds: usize,
}

fn parse_options() -> Options {
    let mut o = Options {
        events: 1_000_000,
        runs: 10_000,
        rounds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--events" => o.events = number("--events").max(1000),
            "--runs" => o.runs = number("--runs").max(1),
            "--rounds" => o.rounds = number("--rounds").max(1),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    o
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!("usage: bench-ingest [--events N] [--runs N] [--rounds N]");
    std::process::exit(2)
}

/// One table row: what, the figure, the goal, whether it is met.
struct Row {
    what: String,
    figure: String,
    goal: &'static str,
    met: Option<bool>,
}

fn row(what: impl Into<String>, figure: String, goal: &'static str, met: Option<bool>) -> Row {
    Row {
        what: what.into(),
        figure,
        goal,
        met,
    }
}

fn main() {
    let o = parse_options();
    let otto_hooks = sibling("otto-hooks");
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let hooks_home = scratch.path().join("hooks");
    let repo = scratch.path().join("repo");
    for d in [&hooks_home, &repo] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    let bench = Bench {
        otto_hooks,
        otto_home: scratch.path().join("otto"),
        rounds: o.rounds,
    };
    println!(
        "history.db bench: {} events with ~200-byte payloads, {} runs to list",
        o.events, o.runs
    );
    println!("machine: {}", machine());
    let load_before = loadavg();
    let mut rows = Vec::new();

    // (a) Library ingest, HistoryDb directly.
    let lib_db = scratch.path().join("library.db");
    let db = HistoryDb::open(&lib_db, &DbOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    db.start_run(new_run("big", 0, "/src/app"))
        .unwrap_or_else(|e| panic!("{e}"));
    let batches = make_batches(o.events);
    let start = Instant::now();
    for b in batches {
        db.append_events("big", b)
            .unwrap_or_else(|e| panic!("append: {e}"));
    }
    let lib_rate = o.events as f64 / start.elapsed().as_secs_f64();
    rows.push(row(
        "library ingest: HistoryDb::append_events, 1 run, batches of 1000",
        rate(lib_rate),
        "≥ 100k ev/s",
        Some(lib_rate >= 100_000.0),
    ));

    // (c) Pages of 100 at random positions of the big run.
    let mut rng = Lcg(42);
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let after = rng.next() % (o.events as u64 - 100);
        let t = Instant::now();
        let page = db
            .events(&EventFilter {
                run_id: "big".into(),
                after_seq: Some(after),
                limit: 100,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("page: {e}"));
        samples.push(t.elapsed());
        assert_eq!(page.events.len(), 100);
    }
    let (median, p99) = percentiles(&mut samples);
    let page_row = row(
        format!(
            "page of 100 events, run of {} (HistoryDb::events)",
            o.events
        ),
        format!("median {:.0} µs, p99 {:.0} µs", us(median), us(p99)),
        "< 1 ms",
        Some(median < Duration::from_millis(1)),
    );
    db.close().unwrap_or_else(|e| panic!("close: {e}"));

    // (a') The same batches through the library Runtime (redaction, plugin).
    let rt_rate = runtime_ingest(&hooks_home, &repo, scratch.path(), o.events);
    rows.push(row(
        "library ingest: Runtime::events (redaction + plugin), batches of 1000",
        rate(rt_rate),
        "",
        None,
    ));

    // (b) `hook event` from an NDJSON pipe.
    let cli_db = scratch.path().join("cli.db");
    let cli_db_arg = cli_db.to_string_lossy().into_owned();
    let repo_arg = repo.to_string_lossy().into_owned();
    let run_start = |run_id: &str| {
        let out = bench
            .command(
                &hooks_home,
                &[
                    "hook",
                    "run-start",
                    "--db",
                    &cli_db_arg,
                    "--repo",
                    &repo_arg,
                    "--run-id",
                    run_id,
                ],
            )
            .output()
            .unwrap_or_else(|e| panic!("run-start: {e}"));
        assert!(
            out.status.success(),
            "run-start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run_start("pipe-big");
    let ndjson = make_ndjson(o.events);
    let hook_event = |run_id: &str, input: Arc<Vec<u8>>| -> Duration {
        let mut c = bench.command(
            &hooks_home,
            &["hook", "event", "--db", &cli_db_arg, "--run", run_id],
        );
        c.stdin(Stdio::piped());
        let start = Instant::now();
        let mut child = c.spawn().unwrap_or_else(|e| panic!("hook event: {e}"));
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let feeder = std::thread::spawn(move || {
            stdin
                .write_all(&input)
                .unwrap_or_else(|e| panic!("write to hook event: {e}"));
        });
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("hook event: {e}"));
        let elapsed = start.elapsed();
        feeder.join().unwrap_or_else(|_| panic!("feeder panicked"));
        assert!(
            out.status.success(),
            "hook event: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        elapsed
    };
    let pipe_time = hook_event("pipe-big", Arc::new(ndjson));
    let stored = stored_events(&cli_db, "pipe-big");
    assert_eq!(stored, o.events as u64, "hook event stored every event");
    let pipe_rate = o.events as f64 / pipe_time.as_secs_f64();
    rows.push(row(
        format!("hook event --db … --run ID, NDJSON pipe of {}", o.events),
        format!("{} ({:.2} s)", rate(pipe_rate), pipe_time.as_secs_f64()),
        "≥ 50k ev/s",
        Some(pipe_rate >= 50_000.0),
    ));
    run_start("pipe-one");
    let one = Arc::new(make_ndjson(1));
    let mut fixed: Vec<Duration> = (0..=o.rounds)
        .map(|_| hook_event("pipe-one", Arc::clone(&one)))
        .skip(1)
        .collect();
    rows.push(row(
        "hook event of 1 line (fixed cost: process, config, open)",
        format!("median {:.1} ms", ms(percentiles(&mut fixed).0)),
        "",
        None,
    ));

    rows.push(page_row);
    let after = (o.events / 2).to_string();
    let lib_db_arg = lib_db.to_string_lossy().into_owned();
    let page_cli = bench.median(|| {
        bench.command(
            &hooks_home,
            &[
                "events",
                "big",
                "--db",
                &lib_db_arg,
                "--after-seq",
                &after,
                "--limit",
                "100",
                "--json",
            ],
        )
    });
    rows.push(row(
        "otto-hooks events RUN --after-seq N --limit 100 --json (end to end)",
        format!("median {:.1} ms", ms(page_cli)),
        "",
        None,
    ));

    // (d) list of 10,000 runs.
    let list_db = scratch.path().join("list.db");
    fill_runs(&list_db, o.runs);
    let db = HistoryDb::open(&list_db, &DbOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let limit = u32::try_from(o.runs).unwrap_or(u32::MAX);
    let mut lists: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let page = db
                .list_runs(&RunFilter {
                    limit,
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("list_runs: {e}"));
            let elapsed = t.elapsed();
            assert_eq!(page.runs.len(), o.runs);
            elapsed
        })
        .collect();
    let (list_median, list_p99) = percentiles(&mut lists);
    db.close().unwrap_or_else(|e| panic!("close: {e}"));
    rows.push(row(
        format!("list of {} runs: HistoryDb::list_runs", o.runs),
        format!(
            "median {:.1} ms, p99 {:.1} ms",
            ms(list_median),
            ms(list_p99)
        ),
        "< 50 ms",
        Some(list_median < Duration::from_millis(50)),
    ));
    let list_db_arg = list_db.to_string_lossy().into_owned();
    let runs_arg = o.runs.to_string();
    let list_args = ["list", "--db", &list_db_arg, "--json", "--limit", &runs_arg];
    let listed = {
        let mut c = bench.command(&hooks_home, &list_args);
        c.stdout(Stdio::piped());
        let out = c.output().unwrap_or_else(|e| panic!("list: {e}"));
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("list --json: {e}"));
        v.as_array().map_or(0, Vec::len)
    };
    assert_eq!(listed, o.runs, "list --json printed every run");
    let list_cli = bench.median(|| bench.command(&hooks_home, &list_args));
    rows.push(row(
        format!(
            "otto-hooks list --db … --json --limit {} (end to end)",
            o.runs
        ),
        format!("median {:.1} ms", ms(list_cli)),
        "< 50 ms",
        Some(list_cli < Duration::from_millis(50)),
    ));

    println!("load average: {load_before} before, {} after\n", loadavg());
    let w0 = rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(0);
    let w2 = rows
        .iter()
        .map(|r| r.goal.chars().count())
        .max()
        .unwrap_or(0);
    for r in rows {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {verdict}",
            r.what, r.figure, r.goal
        );
    }
}

/// Cores, CPU model.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {cpu}")
}

/// The 1, 5 and 15-minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn new_run(id: &str, started: i64, repo: &str) -> NewRun {
    NewRun {
        id: id.into(),
        project: repo.into(),
        repo_path: repo.into(),
        started_at: Timestamp::from_secs(BASE_SECS + started),
        parallelism: 4,
        total_units: 20,
        tasks_dir: None,
        dry_run: false,
    }
}

/// The ~200-byte payload of event `i` (the engine bench's shape).
fn payload(i: usize) -> String {
    let p = format!(
        r#"{{"file":"src/module_{:04}/handler.rs","branch":"feature/unit-{}","status":"ok","duration_ms":{},"reason":""#,
        i % 9973,
        i % 97,
        i % 100_000
    );
    format!(
        "{p}{}\"}}",
        "r".repeat(200usize.saturating_sub(p.len() + 2))
    )
}

fn event_time(i: usize) -> Timestamp {
    Timestamp {
        secs: BASE_SECS + (i / 1000) as i64,
        nanos: (i % 1000) as u32 * 1000,
    }
}

fn new_event(i: usize) -> NewEvent {
    NewEvent {
        time: event_time(i),
        kind: KINDS[i % KINDS.len()].into(),
        unit: Some(format!("unit-{}", i % 97)),
        task: Some((i % 13) as i64),
        pr: None,
        payload: Some(payload(i)),
        error: None,
    }
}

fn make_batches(total: usize) -> Vec<Vec<NewEvent>> {
    (0..total)
        .step_by(BATCH)
        .map(|n| (n..(n + BATCH).min(total)).map(new_event).collect())
        .collect()
}

/// The same events as choo's NDJSON.
fn make_ndjson(total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total * 330);
    for i in 0..total {
        let e = new_event(i);
        // Infallible: writing to a Vec.
        let _ = writeln!(
            out,
            r#"{{"time":"{}","type":"{}","unit":"{}","task":{},"payload":{}}}"#,
            wire::rfc3339(e.time),
            e.kind,
            e.unit.as_deref().unwrap_or_default(),
            e.task.unwrap_or_default(),
            e.payload.as_deref().unwrap_or("null")
        );
    }
    out
}

/// `Runtime::events` over a fresh history in `dir`: events per second.
fn runtime_ingest(hooks_home: &Path, repo: &Path, dir: &Path, total: usize) -> f64 {
    let config = config::load(&LoadOptions {
        hooks_home: hooks_home.to_path_buf(),
        cwd: dir.to_path_buf(),
        env: Vec::new(),
        overrides: Vec::new(),
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    let storage = history_db_storage(&dir.join("runtime.db")).unwrap_or_else(|e| panic!("{e}"));
    let runtime = Runtime::new(
        config.clone(),
        Registry::from_config(&config),
        hooks_home.to_path_buf(),
    )
    .with_storage(storage);
    let project = ProjectRef::from_repo(repo).unwrap_or_else(|e| panic!("{e}"));
    let (run_id, _) = runtime
        .run_start(
            &project,
            RunStartRequest {
                repo_path: Some(project.key.clone()),
                ..RunStartRequest::default()
            },
        )
        .unwrap_or_else(|e| panic!("run_start: {e}"));
    let batches = make_batches(total);
    let start = Instant::now();
    for b in &batches {
        let events: Vec<Event<'_>> = b
            .iter()
            .map(|e| Event {
                time: e.time,
                kind: &e.kind,
                unit: e.unit.as_deref(),
                task: e.task,
                pr: e.pr,
                payload: e.payload.as_deref(),
                error: e.error.as_deref(),
            })
            .collect();
        let outcome = runtime
            .events(&run_id, &events)
            .unwrap_or_else(|e| panic!("events: {e}"));
        assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// How many events `db` holds for `run`.
fn stored_events(db: &Path, run: &str) -> u64 {
    let db = HistoryDb::open(db, &DbOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let n = db
        .get_run(run)
        .unwrap_or_else(|e| panic!("{e}"))
        .map_or(0, |r| r.event_count);
    let _ = db.close();
    n
}

/// `runs` runs in 10 repositories, started a minute apart, nine in ten
/// finished, from 4 client threads.
fn fill_runs(path: &Path, runs: usize) {
    let db =
        Arc::new(HistoryDb::open(path, &DbOptions::default()).unwrap_or_else(|e| panic!("{e}")));
    let workers: Vec<_> = (0..4)
        .map(|c| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for r in (c..runs).step_by(4) {
                    let id = format!("run_{r:06}");
                    let repo = format!("/src/repo-{}", r % 10);
                    db.start_run(new_run(&id, r as i64 * 60, &repo))
                        .unwrap_or_else(|e| panic!("start_run: {e}"));
                    if r % 10 != 0 {
                        db.complete_run(Completion {
                            run_id: id,
                            ended_at: Timestamp::from_secs(BASE_SECS + r as i64 * 60 + 45),
                            status: if r % 7 == 0 { "failed" } else { "completed" }.into(),
                            completed_units: Some(20),
                            failed_units: Some(u32::from(r % 7 == 0)),
                            blocked_units: None,
                            error: None,
                        })
                        .unwrap_or_else(|e| panic!("complete_run: {e}"));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .unwrap_or_else(|_| panic!("a filler thread panicked"));
    }
    match Arc::try_unwrap(db) {
        Ok(db) => db.close().unwrap_or_else(|e| panic!("close: {e}")),
        Err(_) => panic!("the history is still shared"),
    }
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn rate(r: f64) -> String {
    format!("{:.0}k ev/s", r / 1000.0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
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
