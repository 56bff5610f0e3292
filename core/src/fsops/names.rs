//! Which names may be touched at all.
//!
//! Every name handed to [`OttoRoot`](super::OttoRoot) is checked before any
//! system call: a project must parse as otto's `<name>-<8 lowercase hex>`, a
//! run as `<u64>` or `<u64>-<u32>`, a cache file as one or two plain
//! components. None of them may contain `/` or NUL, and none can be `.`,
//! `..` or empty, so each is exactly one entry of the directory it is looked
//! up in: a name can never climb out of the root, name the root itself, or
//! name a project where a run is expected. The trash directory's name
//! ([`TRASH_DIR`](super::TRASH_DIR)) never parses as a project.

use otto_hooks_otto_fs::layout::{ProjectName, RunName};

/// The longest file name Linux filesystems accept.
pub(crate) const NAME_MAX: usize = 255;

/// Whether `name` is one plain directory entry name: not empty, not `.` or
/// `..`, no `/`, no NUL, at most [`NAME_MAX`] bytes.
pub(crate) fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= NAME_MAX
        && !name.bytes().any(|b| b == b'/' || b == 0)
}

/// Checks a project directory name; the error is the refusal reason.
pub(crate) fn check_project(project: &str) -> Result<(), String> {
    if is_plain(project) && ProjectName::parse(project).is_some() {
        Ok(())
    } else {
        Err(format!(
            "{project:?} is not an otto project directory name (<name>-<8 lowercase hex>)"
        ))
    }
}

/// Checks a run directory name; the error is the refusal reason.
pub(crate) fn check_run(run: &str) -> Result<(), String> {
    // RunName only accepts digits and one '-', so it is plain whenever it parses.
    if is_plain(run) && RunName::parse(run).is_some() {
        Ok(())
    } else {
        Err(format!(
            "{run:?} is not an otto run directory name (<seconds> or <seconds>-<n>)"
        ))
    }
}

/// Splits a cache file's path below `.cache` into its directory component
/// (the legacy `<task>`, if any) and its file name: `<hash8>.sh` or
/// `<task>/<hash>`. The error is the refusal reason.
pub(crate) fn split_cache_rel(rel: &str) -> Result<(Option<&str>, &str), String> {
    let refuse = || {
        Err(format!(
            "{rel:?} is not a cache file name (<hash>.sh, <hash>.py or <task>/<hash>)"
        ))
    };
    let (dir, file) = match rel.split_once('/') {
        Some((dir, file)) => (Some(dir), file),
        None => (None, rel),
    };
    if !is_plain(file) || dir.is_some_and(|d| !is_plain(d)) {
        return refuse();
    }
    Ok((dir, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_that_parse_as_projects_are_projects() {
        assert!(check_project("web-app-6b20a2e4").is_ok());
        assert!(check_project("otto-6b20a2e4").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "/",
            "a/b-6b20a2e4",
            "../x-6b20a2e4",
            "x-6b20a2e4/..",
            "proj-ABCDEF12",
            "backups",
            ".otto-hooks-trash",
            super::super::TRASH_DIR,
            "nul\0-6b20a2e4",
            ".cache",
        ] {
            assert!(check_project(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_names_that_parse_as_runs_are_runs() {
        assert!(check_run("1700000000").is_ok());
        assert!(check_run("1700000000-1").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "/",
            ".cache",
            "17x",
            "1700000000/..",
            "../1700000000",
            "1700000000-",
            "tasks",
            ".lock",
        ] {
            assert!(check_run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cache_paths_are_one_or_two_plain_components() {
        assert_eq!(split_cache_rel("6b20a2e4.sh"), Ok((None, "6b20a2e4.sh")));
        assert_eq!(
            split_cache_rel("check:db/0123abcd"),
            Ok((Some("check:db"), "0123abcd"))
        );
        for bad in [
            "",
            ".",
            "..",
            "/",
            "../x",
            "x/..",
            "/etc/passwd",
            "a/b/c",
            "a/",
            "/a",
            "a//b",
            "x\0y",
        ] {
            assert!(split_cache_rel(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusal_reasons_are_one_line() {
        let e = check_run("1\n2").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
