//! `$OTTO_HOME` as the commands that read runs find it, checked before they
//! trust what the storage lists.
//!
//! The `otto-fs` storage skips what it cannot read — an otto home that is
//! not a directory lists no runs, a project it may not open lists none —
//! which is right for a hook (an orchestrator's run must not fail on it)
//! but would let `list`, `usage`, `clean` or `run-policies` report "nothing
//! here" and exit 0. So the commands check the home themselves: one that is
//! not a directory is a one-line error (exit 2); a project that can't be
//! read is a one-line error each, the command still does the rest, and it
//! exits 1.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use otto_hooks_otto_fs::layout::ProjectName;

use super::{Context, Failure, exit};
use crate::config::InstanceSpec;

/// The otto homes this command checked, and whether any project could not
/// be read.
#[derive(Debug, Default)]
pub(crate) struct HomeChecks {
    checked: Mutex<Vec<PathBuf>>,
    unreadable: AtomicBool,
}

impl HomeChecks {
    /// `code` as the command finished, made [`exit::FAILURES`] when it
    /// succeeded without the projects it could not read.
    pub fn exit_code(&self, code: u8) -> u8 {
        if code == exit::OK && self.unreadable.load(Ordering::Relaxed) {
            exit::FAILURES
        } else {
            code
        }
    }
}

/// Checks the otto home of `spec` (an `otto-fs` storage; others have
/// none), once per command.
pub(super) fn check(ctx: &Context, spec: &InstanceSpec) -> Result<(), Failure> {
    let Some(home) = crate::ottodb_rows::otto_home_of_spec(spec, &ctx.hooks_home) else {
        return Ok(());
    };
    {
        let mut checked = ctx.homes.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.contains(&home) {
            return Ok(());
        }
        checked.push(home.clone());
    }
    let named = if spec.settings.contains_key("otto_home") {
        format!(
            "`{}.otto_home`",
            spec.instance.split(['.', '#']).next().unwrap_or("storage")
        )
    } else {
        "OTTO_HOME".to_owned()
    };
    not_a_directory(&home, &named).map_err(Failure::usage)?;
    for problem in unreadable_projects(&home) {
        eprintln!("error: {problem}");
        ctx.homes.unreadable.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// An error when `home` exists but is not a directory (a missing home just
/// has no runs yet).
fn not_a_directory(home: &Path, named: &str) -> Result<(), String> {
    match std::fs::metadata(home) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(format!(
            "{named} {} is {}, not a directory (it should be otto's data directory)",
            home.display(),
            kind_of(&meta)
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{named} {}: {e}", home.display())),
    }
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a directory"
    }
}

/// One line for each project directory of `home` whose runs can't be
/// listed. Symlinks and other entries are the storage's to report; a home
/// that can't be listed at all is too (it fails the command).
fn unreadable_projects(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if ProjectName::parse(name).is_none() {
            continue;
        }
        // Not through a symlink: `file_type` is the entry's own.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let listed = std::fs::read_dir(&path).and_then(|mut d| d.next().transpose().map(|_| ()));
        if let Err(e) = listed {
            problems.push(format!(
                "cannot read project {}: {}; its runs were skipped",
                path.display(),
                plain(&e)
            ));
        }
    }
    problems.sort();
    problems
}

/// The error's description without Rust's ` (os error 13)` suffix.
fn plain(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
