//! `otto-fixture`: builds large, realistic `$OTTO_HOME` trees for benchmarks,
//! with the same builder the tests use (`otto_hooks_tests::otto_home`).
//!
//! ```text
//! cargo run -p otto-hooks-tests --bin otto-fixture -- \
//!     gen --root DIR --projects P --runs N [--tasks T] [--with-db] [--seed S]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use otto_hooks_tests::otto_home::{GenSpec, generate};

#[derive(Debug, Parser)]
#[command(
    name = "otto-fixture",
    about = "Builds otto $OTTO_HOME trees for tests and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generates N runs over P projects under ROOT (empty or absent), deterministic for a
    /// seed and --now, and prints a one-line summary.
    Gen {
        /// The $OTTO_HOME to create.
        #[arg(long)]
        root: PathBuf,
        /// Projects.
        #[arg(long, default_value_t = 5)]
        projects: usize,
        /// Runs, over all projects.
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Tasks per run.
        #[arg(long, default_value_t = 10)]
        tasks: usize,
        /// Also write otto.db (schema v5) rows.
        #[arg(long)]
        with_db: bool,
        /// PRNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// "Now" in unix seconds: runs start within the 120 days before it
        /// [default: the start of the current UTC day].
        #[arg(long)]
        now: Option<u64>,
        /// Average stdout.log size in bytes.
        #[arg(long, default_value_t = 2048)]
        stdout_bytes: usize,
        /// Writer threads [default: one per CPU].
        #[arg(long)]
        jobs: Option<usize>,
    },
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::Gen {
            root,
            projects,
            runs,
            tasks,
            with_db,
            seed,
            now,
            stdout_bytes,
            jobs,
        } => {
            if projects == 0 || tasks == 0 {
                eprintln!("otto-fixture: --projects and --tasks must be at least 1");
                return ExitCode::from(2);
            }
            if let Ok(mut entries) = std::fs::read_dir(&root) {
                if entries.next().is_some() {
                    eprintln!(
                        "otto-fixture: {} is not empty; give an empty or absent directory",
                        root.display()
                    );
                    return ExitCode::from(2);
                }
            }
            let mut spec = GenSpec::new(projects, runs);
            spec.tasks = tasks;
            spec.with_db = with_db;
            spec.seed = seed;
            spec.stdout_bytes = stdout_bytes;
            if let Some(now) = now {
                spec.now = now;
            }
            if let Some(jobs) = jobs {
                spec.jobs = jobs.max(1);
            }
            let summary = generate(&root, &spec);
            println!("{summary}");
            ExitCode::SUCCESS
        }
    }
}
