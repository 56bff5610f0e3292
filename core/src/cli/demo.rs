//! `otto-hooks demo`: a sample otto home to try every command on.
//!
//! A newcomer without `~/.otto` (or who would rather not point a `clean` at
//! it first) gets months of runs of several projects, with what real homes
//! hold: same-second runs (`<ts>-1`), failed runs, runs killed mid-way (a
//! `running` row in otto.db whose process is gone), legacy layouts, pinned
//! runs and orphaned cache files. They are built by the same builder the
//! tests use ([`otto_hooks_fixture::otto_home::generate`]), under
//! `$OTTO_HOOKS_HOME/demo/otto` unless a directory is named; never in otto's
//! own home.

use std::io::Write;
use std::path::{Path, PathBuf};

use otto_hooks_fixture::otto_home::{self, GenSpec, GenSummary};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::paths;

/// The file that marks a directory as a demo built by this command.
const MARKER: &str = ".otto-hooks-demo";

/// `otto-hooks demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to build it: an empty or absent directory [default: $OTTO_HOOKS_HOME/demo/otto].
    pub dir: Option<PathBuf>,
    /// Projects.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub projects: u16,
    /// Runs, over all projects (spread over the last 120 days).
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub runs: u32,
}

pub(super) fn run(ctx: &Context, args: DemoArgs) -> CmdResult {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| ctx.hooks_home.join("demo").join("otto"));
    let dir = std::path::absolute(&dir)
        .map_err(|e| Failure::usage(format!("cannot resolve {}: {e}", dir.display())))?;
    refuse_otto_home(&dir)?;
    if dir.join(MARKER).is_file() {
        write_stdout(&format!(
            "A sample otto home is already there.\n\n{}",
            explore(&dir)
        ))?;
        return Ok(exit::OK);
    }
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Failure::usage(format!(
            "{} is not empty; name an empty or absent directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut spec = GenSpec::new(usize::from(args.projects), args.runs as usize);
    spec.tasks = 6;
    spec.with_db = true;
    // A couple of writers: the demo is small, and the machine may be busy.
    spec.jobs = spec.jobs.min(2);
    let summary = build(&dir, &spec)?;
    std::fs::File::create(dir.join(MARKER))
        .and_then(|mut f| {
            f.write_all(b"built by `otto-hooks demo`; remove the directory when done\n")
        })
        .map_err(|e| {
            Failure::failed(format!("cannot write {}: {e}", dir.join(MARKER).display()))
        })?;
    write_stdout(&format!("{}\n{}", built(&summary), explore(&dir)))?;
    Ok(exit::OK)
}

/// Refuses otto's own home (`$OTTO_HOME`, `~/.otto`): the demo adds runs
/// that are not the user's.
fn refuse_otto_home(dir: &Path) -> Result<(), Failure> {
    let same = |other: &Path| {
        std::path::absolute(other).is_ok_and(|o| o == dir)
            || std::fs::canonicalize(other)
                .ok()
                .zip(std::fs::canonicalize(dir).ok())
                .is_some_and(|(a, b)| a == b)
    };
    for home in [paths::otto_home(), paths::home_dir().join(".otto")] {
        if same(&home) {
            return Err(Failure::usage(format!(
                "{} is otto's own home; the demo goes in a directory of its own",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Runs the builder, turning its panic (it is test-support code: it panics
/// with what failed) into an error line.
fn build(dir: &Path, spec: &GenSpec) -> Result<GenSummary, Failure> {
    let message = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let previous = std::panic::take_hook();
    let seen = message.clone();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                info.payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
            });
        if let Ok(mut slot) = seen.lock() {
            slot.get_or_insert(text.unwrap_or_else(|| "unknown failure".to_owned()));
        }
    }));
    let result = std::panic::catch_unwind(|| otto_home::generate(dir, spec));
    std::panic::set_hook(previous);
    result.map_err(|_| {
        let why = message
            .lock()
            .ok()
            .and_then(|m| m.clone())
            .unwrap_or_else(|| "unknown failure".to_owned());
        Failure::failed(format!(
            "cannot build the sample otto home in {}: {why}",
            dir.display()
        ))
    })
}

/// What was built, in one paragraph.
fn built(s: &GenSummary) -> String {
    format!(
        "Built a sample otto home in {}:\n  {} projects, {} runs over the last 120 days ({} same-second, {} failed, \
         {} pinned, {} in legacy layouts), {} tasks, otto.db with {} rows (a few of them runs killed mid-way), {}.\n",
        s.root.display(),
        s.projects,
        s.runs,
        s.same_second,
        s.failed,
        s.pinned,
        s.legacy,
        s.tasks,
        s.db_rows,
        otto_hooks_reporters::format::human_size(s.bytes)
    )
}

/// How to explore `dir`: the commands, with `OTTO_HOME` pointing at it.
fn explore(dir: &Path) -> String {
    let home = shell_quote(&dir.display().to_string());
    format!(
        "Try it (OTTO_HOME points otto-hooks at it; ~/.otto is not read):\n\
         \x20 export OTTO_HOME={home}\n\
         \x20 otto-hooks list --limit 20          the newest runs, their status and size\n\
         \x20 otto-hooks usage                    where the disk space goes\n\
         \x20 otto-hooks clean --dry-run          what the default retention would delete, and why\n\
         \x20                                     (keeps 30 days, the last 10 runs of each project, pinned and running runs;\n\
         \x20                                     a plan deleting over half of a project's runs needs --force)\n\
         \x20 otto-hooks clean --keep 7 --dry-run a stricter policy\n\
         Deleting there is safe: it is all sample data. Remove it with `rm -r {home}`.\n"
    )
}

/// `text` quoted for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(
            shell_quote("/home/u/.otto-hooks/demo/otto"),
            "/home/u/.otto-hooks/demo/otto"
        );
        assert_eq!(shell_quote("/tmp/my demo"), "'/tmp/my demo'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
