//! Benchmark of `otto-hooks list | usage | info` on generated otto trees,
//! against `du -sb` of the same tree measured in the same run.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/bench-history                 # 1,000 runs x 10 tasks, warm cache
//! target/release/bench-history --runs 10000    # the 10k-run figures
//! target/release/bench-history --runs 100000 --rounds 1   # peak memory at 100k runs
//! target/release/bench-history --cold          # also with dropped page caches (root only)
//! ```
//!
//! Every figure is the median of `--rounds` runs of the real binary (a new
//! process each time, as users run it). "full re-walk" runs `otto-fs` with
//! `index = false`; "index warm" runs it after a first run filled the size
//! index. Peak memory is the maximum resident set size of the process
//! (`/usr/bin/time -f %M`), index warm, while the index is first built, and
//! on a full re-walk.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use otto_hooks_tests::bench::{Bench, drop_caches, du_sb, generate, ms, sibling};

struct Options {
    runs: u64,
    tasks: u64,
    projects: u64,
    rounds: usize,
    cold: bool,
    keep: Option<PathBuf>,
}

fn parse_options() -> Options {
    let mut o = Options {
        runs: 1000,
        tasks: 10,
        projects: 10,
        rounds: 7,
        cold: false,
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--runs" => o.runs = value().parse().unwrap_or_else(|_| usage("--runs N")),
            "--tasks" => o.tasks = value().parse().unwrap_or_else(|_| usage("--tasks N")),
            "--projects" => o.projects = value().parse().unwrap_or_else(|_| usage("--projects N")),
            "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage("--rounds N")),
            "--root" => o.keep = Some(PathBuf::from(value())),
            "--cold" => o.cold = true,
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
        "usage: bench-history [--runs N] [--tasks N] [--projects N] [--rounds N] [--root DIR] [--cold]"
    );
    std::process::exit(2)
}

fn main() {
    let o = parse_options();
    let otto_hooks = sibling("otto-hooks");
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = o
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().join("otto"));
    generate(&root, o.projects, o.runs, o.tasks);
    let bench = Bench {
        otto_hooks,
        otto_home: root.clone(),
        rounds: o.rounds,
    };
    let fresh_home = |name: &str| {
        let dir = scratch.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        dir
    };
    let no_index = fresh_home("no-index");
    std::fs::write(
        no_index.join("config.toml"),
        "[storage]\nplugin = \"otto-fs\"\nindex = false\n",
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    let warm = fresh_home("warm");

    println!(
        "tree: {} runs x {} tasks in {} projects at {}",
        o.runs,
        o.tasks,
        o.projects,
        root.display()
    );
    println!("warm page cache, median of {} runs (ms):", o.rounds);
    let du = bench.median(|| du_sb(&root));
    let row = |name: &str, t: Duration, goal: &str| {
        println!(
            "  {name:<34} {:>9.1} ms  {:>6.3}x du -sb   {goal}",
            ms(t),
            t.as_secs_f64() / du.as_secs_f64()
        );
    };
    println!(
        "  {:<34} {:>9.1} ms  (baseline)",
        "du -sb $OTTO_HOME",
        ms(du)
    );
    let list_walk = bench.median(|| bench.command(&no_index, &["list", "--json"]));
    row("list --json (full re-walk)", list_walk, "");
    let list = bench.median(|| bench.command(&warm, &["list", "--json"]));
    row(
        "list --json (index warm)",
        list,
        "goal <= 0.1x; 10k runs < 1 s",
    );
    let usage_walk = bench.median(|| bench.command(&no_index, &["usage", "--json"]));
    row("usage --json (full re-walk)", usage_walk, "goal <= 0.5x");
    let usage_warm = bench.median(|| bench.command(&warm, &["usage", "--json"]));
    row("usage --json (index warm)", usage_warm, "goal <= 0.1x");
    let newest = newest_run(&bench, &warm);
    let info = bench.median(|| bench.command(&warm, &["info", &newest, "--json"]));
    row(&format!("info {newest}"), info, "goal < 100 ms");

    let peak_list = bench.peak_mb(&warm, &["list", "--json"]);
    let peak_usage = bench.peak_mb(&warm, &["usage", "--json"]);
    // The first run of all builds the size index; the full re-walk keeps
    // what it measured in memory for the command's second listing.
    let first = fresh_home("first");
    let peak_first = bench.peak_mb(&first, &["list", "--json"]);
    let peak_walk = bench.peak_mb(&no_index, &["usage", "--json"]);
    println!("peak memory (goal at 100k runs: < 200 MB):");
    println!("  list --json: {peak_list:.1} MB index warm, {peak_first:.1} MB building the index");
    println!("  usage --json: {peak_usage:.1} MB index warm, {peak_walk:.1} MB full re-walk");

    if o.cold {
        if !drop_caches() {
            println!("cold cache: skipped (cannot write /proc/sys/vm/drop_caches; run as root)");
            return;
        }
        let cold = |make: &dyn Fn() -> Command| {
            drop_caches();
            Bench::time_once(make())
        };
        let du_cold = cold(&|| du_sb(&root));
        println!("cold page cache, one run each (ms):");
        println!(
            "  {:<34} {:>9.1} ms  (baseline)",
            "du -sb $OTTO_HOME",
            ms(du_cold)
        );
        let cold_row = |name: &str, t: Duration| {
            println!(
                "  {name:<34} {:>9.1} ms  {:>6.3}x du -sb",
                ms(t),
                t.as_secs_f64() / du_cold.as_secs_f64()
            );
        };
        cold_row(
            "list --json (full re-walk)",
            cold(&|| bench.command(&no_index, &["list", "--json"])),
        );
        cold_row(
            "list --json (index warm)",
            cold(&|| bench.command(&warm, &["list", "--json"])),
        );
        cold_row(
            "usage --json (full re-walk)",
            cold(&|| bench.command(&no_index, &["usage", "--json"])),
        );
        cold_row(
            "usage --json (index warm)",
            cold(&|| bench.command(&warm, &["usage", "--json"])),
        );
    }
}

/// The id of the newest run, as `<project>/<run>`.
fn newest_run(bench: &Bench, hooks_home: &Path) -> String {
    let mut c = bench.command(hooks_home, &["list", "--json", "--limit", "1"]);
    c.stdout(Stdio::piped());
    let out = c.output().unwrap_or_else(|e| panic!("list: {e}"));
    let list: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("list --json: {e}"));
    let first = &list[0];
    format!(
        "{}/{}",
        first["project"].as_str().unwrap_or_default(),
        first["run"].as_str().unwrap_or_default()
    )
}
