//! Benchmark of `otto-hooks clean` on a generated otto tree, against `du -sb`
//! and `rm -rf` of the same directories, measured in the same run.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/bench-clean                # 1,000 runs x 10 tasks
//! target/release/bench-clean --rounds 3 --runs 2000
//! ```
//!
//! - **Plan with the cache**: `clean --dry-run --cache --json` (the
//!   configured default policy: 30 days, last 10; `--force` past the share
//!   guard, which this tree trips) with a warm size index,
//!   median of `--rounds`, against `du -sb` of the tree.
//! - **Deleting**: each round copies the tree twice (`cp -a`); in one copy
//!   `clean --keep 60 --keep-last 0 --force --yes` deletes about half of
//!   the runs (the plan is shown first with `--dry-run --json` to learn
//!   which); in the other `rm -rf` removes the same directories in one
//!   process. Both timings are medians; `clean` includes everything it does
//!   (listing and measuring the copy, whose runs are new to the index,
//!   status detection, the plan, locks, the trash, fsyncs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use otto_hooks_tests::bench::{Bench, du_sb, generate, ms, sibling};

struct Options {
    runs: u64,
    tasks: u64,
    projects: u64,
    rounds: usize,
}

fn parse_options() -> Options {
    let mut o = Options {
        runs: 1000,
        tasks: 10,
        projects: 10,
        rounds: 5,
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
            "--tasks" => o.tasks = value(),
            "--projects" => o.projects = value(),
            "--rounds" => o.rounds = value() as usize,
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
    eprintln!("usage: bench-clean [--runs N] [--tasks N] [--projects N] [--rounds N]");
    std::process::exit(2)
}

const DELETE: &[&str] = &["--keep", "60", "--keep-last", "0", "--force"];

fn main() {
    let o = parse_options();
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = scratch.path().join("otto");
    generate(&root, o.projects, o.runs, o.tasks);
    let bench = Bench {
        otto_hooks: sibling("otto-hooks"),
        otto_home: root.clone(),
        rounds: o.rounds,
    };
    let hooks = scratch.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap_or_else(|e| panic!("{e}"));

    println!(
        "tree: {} runs x {} tasks in {} projects; median of {} (ms)",
        o.runs, o.tasks, o.projects, o.rounds
    );
    let du = bench.median(|| du_sb(&root));
    println!(
        "  {:<44} {:>9.1} ms  (baseline)",
        "du -sb $OTTO_HOME",
        ms(du)
    );
    let plan = bench.median(|| {
        bench.command(
            &hooks,
            &["clean", "--dry-run", "--cache", "--json", "--force"],
        )
    });
    println!(
        "  {:<44} {:>9.1} ms  {:>6.3}x du -sb   goal <= 0.25x",
        "clean --dry-run --cache (index warm)",
        ms(plan),
        plan.as_secs_f64() / du.as_secs_f64()
    );

    // Deleting: the same runs, by otto-hooks and by rm -rf, on copies.
    let mut clean_times = Vec::new();
    let mut rm_times = Vec::new();
    let mut deleted_count = 0;
    for _ in 0..o.rounds {
        let ours = scratch.path().join("copy-clean");
        let theirs = scratch.path().join("copy-rm");
        for copy in [&ours, &theirs] {
            let _ = std::fs::remove_dir_all(copy);
            let ok = Command::new("cp")
                .arg("-a")
                .arg(&root)
                .arg(copy)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cp -a failed");
        }
        let _ = Command::new("sync").status();
        let copy_bench = Bench {
            otto_hooks: bench.otto_hooks.clone(),
            otto_home: ours.clone(),
            rounds: 1,
        };
        let runs = planned_deletions(&copy_bench, &hooks);
        deleted_count = runs.len();
        let mut args = vec!["clean", "--yes"];
        args.extend_from_slice(DELETE);
        clean_times.push(Bench::time_once(copy_bench.command(&hooks, &args)));
        let mut rm = Command::new("rm");
        rm.arg("-rf")
            .args(runs.iter().map(|r| theirs.join(r)))
            .stdout(Stdio::null());
        rm_times.push(Bench::time_once(rm));
        for r in &runs {
            assert!(!ours.join(r).exists(), "{} was not deleted", r.display());
        }
        for copy in [&ours, &theirs] {
            let _ = std::fs::remove_dir_all(copy);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (clean, rm) = (median(&mut clean_times), median(&mut rm_times));
    println!(
        "  {:<44} {:>9.1} ms  (baseline)",
        format!("rm -rf of the same {deleted_count} runs"),
        ms(rm)
    );
    println!(
        "  {:<44} {:>9.1} ms  {:>6.3}x rm -rf   goal <= 1.5x",
        format!("clean --yes deleting {deleted_count} runs"),
        ms(clean),
        clean.as_secs_f64() / rm.as_secs_f64()
    );
}

/// The `<project>/<run>` paths `clean` would delete in the tree of `bench`.
fn planned_deletions(bench: &Bench, hooks: &Path) -> Vec<PathBuf> {
    let mut args = vec!["clean", "--dry-run", "--json"];
    args.extend_from_slice(DELETE);
    let mut c = bench.command(hooks, &args);
    c.stdout(Stdio::piped());
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("clean --dry-run: {e}"));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("clean --json: {e}"));
    doc["deleted"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .map(|r| {
                    Path::new(r["project"].as_str().unwrap_or_default())
                        .join(r["run"].as_str().unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}
