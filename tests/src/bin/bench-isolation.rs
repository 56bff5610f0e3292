//! Benchmark of process isolation (`isolation = "process"`): what a call
//! costs through the plugin runner against the same call in process, and
//! `clean --dry-run` with an isolated retention plugin against the same
//! plan in process — each pair measured in the same run.
//!
//! ```sh
//! cargo build --release -p otto-hooks -p otto-hooks-tests --bins
//! target/release/bench-isolation                 # 10,000 runs, 10 projects
//! target/release/bench-isolation --runs 2000 --rounds 3 --calls 5000
//! ```
//!
//! - **Per call**: the built-in `standard` retention plugin (whose hooks do
//!   nothing: what is measured is the crossing) and the built-in `sqlite`
//!   storage (whose hooks write: a real plugin's share), each created in
//!   process and in a runner. `run_start` and `events` with batches of 1,
//!   10 and 100 events; mean of `--calls` calls after a warm-up.
//! - **clean --dry-run** on a generated otto tree (`otto-fixture gen`):
//!   `[retention] plugin = "standard"` in process and isolated, median of
//!   `--rounds`; the goal is isolated within 1.5x of in process.
//!
//! The tree is generated in a temporary directory and deleted at the end.

use std::path::Path;
use std::time::{Duration, Instant};

use otto_hooks_core::registry::Registry;
use otto_hooks_core::registry::isolation::Limits;
use otto_hooks_core::registry::proxy::{Launch, PluginInstance, ProcessInstance};
use otto_hooks_plugin_api::{Event, HookContext, PluginKind, RunStart, Timestamp};
use otto_hooks_tests::bench::{Bench, generate, ms, sibling};

struct Options {
    runs: u64,
    projects: u64,
    tasks: u64,
    rounds: usize,
    calls: u32,
}

fn parse_options() -> Options {
    let mut o = Options {
        runs: 10_000,
        projects: 10,
        tasks: 2,
        rounds: 5,
        calls: 2000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage(&format!("{arg} needs a number")))
        };
        match arg.as_str() {
            "--runs" => o.runs = value(),
            "--projects" => o.projects = value(),
            "--tasks" => o.tasks = value(),
            "--rounds" => o.rounds = value() as usize,
            "--calls" => o.calls = value() as u32,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    o.rounds = o.rounds.max(1);
    o.calls = o.calls.max(1);
    o
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: bench-isolation [--runs N] [--projects N] [--tasks N] [--rounds N] [--calls N]"
    );
    std::process::exit(2)
}

/// The built-in `kind` plugin `name` with `settings`, in process and in a
/// runner (the `otto-hooks` binary next to this one).
fn both(
    kind: PluginKind,
    name: &str,
    settings: &str,
    data: &Path,
) -> (PluginInstance, PluginInstance) {
    let registry = Registry::with_builtins();
    let plugin = registry
        .find(kind, name)
        .unwrap_or_else(|| panic!("no built-in {kind} {name}"));
    let table: toml::Table = settings.parse().unwrap_or_else(|e| panic!("{e}"));
    let in_process = plugin
        .handle
        .instantiate(&format!("{kind}.{name}"), &table, &data.to_string_lossy())
        .unwrap_or_else(|e| panic!("{e}"));
    let isolated_table: toml::Table = settings
        .replace("in-process", "isolated")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let program = sibling("otto-hooks");
    let isolated = ProcessInstance::start(Launch {
        program: &program,
        handle: plugin.handle.clone(),
        library: None,
        instance: format!("{kind}.{name}"),
        settings: toml::to_string(&isolated_table).unwrap_or_else(|e| panic!("{e}")),
        data_dir: data.to_string_lossy().into_owned(),
        limits: Limits::default(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (
        PluginInstance::InProcess(in_process),
        PluginInstance::Process(isolated),
    )
}

/// Mean time of `call` over `calls` calls, after `calls / 10` warm-up ones.
fn mean(calls: u32, mut call: impl FnMut(u32)) -> Duration {
    for i in 0..calls / 10 {
        call(i);
    }
    let start = Instant::now();
    for i in 0..calls {
        call(calls + i);
    }
    start.elapsed() / calls
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One line: a call in process and isolated, and their ratio.
fn row(what: &str, in_process: Duration, isolated: Duration) {
    println!(
        "  {what:<46} {:>9.2} us {:>9.2} us {:>8.1}x",
        micros(in_process),
        micros(isolated),
        isolated.as_secs_f64() / in_process.as_secs_f64().max(1e-9)
    );
}

/// The hooks of `pair`, each timed in process and isolated. `run_ids`
/// makes a fresh run id per call (a storage refuses a second start).
fn hook_rows(label: &str, pair: &(PluginInstance, PluginInstance), calls: u32) {
    let texts: Vec<String> = (0..100)
        .map(|i| format!("{{\"total_tasks\":{i},\"note\":\"benchmark\"}}"))
        .collect();
    let events: Vec<Event<'_>> = texts
        .iter()
        .enumerate()
        .map(|(i, payload)| Event {
            time: Timestamp::from_secs(1_795_000_000 + i as i64),
            kind: "unit.started",
            unit: Some("api"),
            task: Some(i as i64),
            pr: None,
            payload: Some(payload),
            error: None,
        })
        .collect();
    let project = "bench-0123abcd";
    let start_one = |instance: &PluginInstance, run: &str| {
        instance
            .run_start(&RunStart {
                project,
                run_id: run,
                started_at: Timestamp::from_secs(1_795_000_000),
                repo_path: Some("/src/bench"),
                parallelism: Some(4),
                total_units: Some(10),
                tasks_dir: None,
                dry_run: false,
            })
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let mut times = Vec::new();
    for (mode, instance) in [("in", &pair.0), ("iso", &pair.1)] {
        times.push(mean(calls, |i| {
            start_one(instance, &format!("run-{mode}-{i}"))
        }));
    }
    row(&format!("{label}: run_start"), times[0], times[1]);
    for batch in [1usize, 10, 100] {
        let mut times = Vec::new();
        for (mode, instance) in [("in", &pair.0), ("iso", &pair.1)] {
            let run = format!("events-{mode}-{batch}");
            start_one(instance, &run);
            let ctx = HookContext {
                project,
                run_id: &run,
            };
            // Fewer calls for the big batches: the storage's work grows.
            let n = (calls / batch.max(1) as u32 * 4).clamp(50, calls);
            times.push(mean(n, |_| {
                instance
                    .events(&ctx, &events[..batch])
                    .unwrap_or_else(|e| panic!("{e}"))
            }));
        }
        row(
            &format!("{label}: events, a batch of {batch}"),
            times[0],
            times[1],
        );
    }
}

fn main() {
    let o = parse_options();
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    println!(
        "host: {} cpus; per call: mean of {} calls (us), in process | isolated | ratio",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.calls
    );
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    {
        let retention = both(PluginKind::Retention, "standard", "", &data);
        hook_rows("retention standard (no-op hooks)", &retention, o.calls);
        let db = |mode: &str| format!("db = \"{}/{mode}.db\"", data.display());
        // The two instances write to two files (`in-process` becomes
        // `isolated` for the runner's settings).
        let storage = both(PluginKind::Storage, "sqlite", &db("in-process"), &data);
        hook_rows("sqlite storage (writes)", &storage, o.calls.min(500));
    }

    let root = scratch.path().join("otto");
    generate(&root, o.projects, o.runs, o.tasks);
    let bench = Bench {
        otto_hooks: sibling("otto-hooks"),
        otto_home: root.clone(),
        rounds: o.rounds,
    };
    let home = |name: &str, isolation: &str| {
        let hooks = scratch.path().join(name);
        std::fs::create_dir_all(&hooks).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            hooks.join("config.toml"),
            format!("[retention]\nplugin = \"standard\"\nisolation = \"{isolation}\"\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        hooks
    };
    let in_home = home("hooks-in", "in-process");
    let iso_home = home("hooks-iso", "process");
    let args = ["clean", "--dry-run", "--json", "--force"];
    // Same plan both ways, first.
    let plan = |hooks: &Path| {
        let mut c = bench.command(hooks, &args);
        c.stdout(std::process::Stdio::piped());
        let out = c.output().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
        (doc["deleted"].clone(), doc["kept"].clone())
    };
    assert_eq!(plan(&in_home), plan(&iso_home), "the isolated plan differs");
    // Alternate the two so that the machine's drift hits both alike.
    let mut in_times = Vec::new();
    let mut iso_times = Vec::new();
    Bench::time_once(bench.command(&in_home, &args));
    Bench::time_once(bench.command(&iso_home, &args));
    for _ in 0..o.rounds {
        in_times.push(Bench::time_once(bench.command(&in_home, &args)));
        iso_times.push(Bench::time_once(bench.command(&iso_home, &args)));
    }
    in_times.sort();
    iso_times.sort();
    let (inp, iso) = (in_times[o.rounds / 2], iso_times[o.rounds / 2]);
    println!(
        "clean --dry-run on {} runs x {} tasks in {} projects; median of {} (ms)",
        o.runs, o.tasks, o.projects, o.rounds
    );
    println!(
        "  {:<46} {:>9.1} ms  (baseline)",
        "retention standard, in process",
        ms(inp)
    );
    println!(
        "  {:<46} {:>9.1} ms  {:>6.3}x in process   goal <= 1.5x",
        "retention standard, isolated",
        ms(iso),
        iso.as_secs_f64() / inp.as_secs_f64()
    );
}
