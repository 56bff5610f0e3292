//! A history.db writer for the crash tests (`tests/sqlite_crash.rs`):
//! opens a [`HistoryDb`], starts a run unless it exists, then appends
//! batches of events and, after each `append_events` has returned (that
//! is, after COMMIT), prints the batch's seqs as `FIRST LAST` on stdout,
//! flushed. What it printed is what it was promised: the test kills it with
//! SIGKILL and checks that every printed seq is in the database.
//!
//! ```text
//! history-writer DB RUN_ID [--tag N] [--batch N] [--batches N]
//! ```
//!
//! Each event's payload is `{"tag": TAG, "i": I, "pad": "…"}` (~200 bytes),
//! `I` counting from 0 in this process, so a reader can tell which process
//! wrote an event and whether any is missing or out of order. Without
//! `--batches` it writes until killed.

use std::io::Write;
use std::process::ExitCode;

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_sqlite::{HistoryDb, NewEvent, NewRun, Options};

struct Args {
    db: String,
    run: String,
    tag: u64,
    batch: usize,
    batches: Option<u64>,
}

fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}");
    eprintln!("usage: history-writer DB RUN_ID [--tag N] [--batch N] [--batches N]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let (mut tag, mut batch, mut batches) = (0, 100, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--tag" => tag = number("--tag"),
            "--batch" => batch = number("--batch").max(1) as usize,
            "--batches" => batches = Some(number("--batches")),
            other if other.starts_with("--") => usage(&format!("unknown option {other}")),
            _ => positional.push(arg),
        }
    }
    let [db, run] = <[String; 2]>::try_from(positional)
        .unwrap_or_else(|_| usage("give the database path and a run id"));
    Args {
        db,
        run,
        tag,
        batch,
        batches,
    }
}

fn main() -> ExitCode {
    let args = parse_args();
    match write(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let db = HistoryDb::open(&args.db, &Options::default())?;
    if db.get_run(&args.run)?.is_none() {
        db.start_run(NewRun {
            id: args.run.clone(),
            project: "/crash/test".into(),
            repo_path: "/crash/test".into(),
            started_at: Timestamp::now(),
            parallelism: 1,
            total_units: 1,
            tasks_dir: None,
            dry_run: false,
        })?;
    }
    let pad = "p".repeat(160);
    let mut stdout = std::io::stdout().lock();
    let mut i = 0u64;
    let mut done = 0u64;
    while args.batches.is_none_or(|n| done < n) {
        let events = (0..args.batch)
            .map(|_| {
                let mut e = NewEvent::new(Timestamp::now(), "task.started");
                e.unit = Some("crash".into());
                e.payload = Some(format!(r#"{{"tag":{},"i":{i},"pad":"{pad}"}}"#, args.tag));
                i += 1;
                e
            })
            .collect();
        let seqs = db.append_events(&args.run, events)?;
        writeln!(stdout, "{} {}", seqs.first, seqs.last)?;
        stdout.flush()?;
        done += 1;
    }
    db.close()?;
    Ok(())
}
