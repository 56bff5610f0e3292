//! An otto home the commands cannot read as one is never "no runs, exit 0":
//! `OTTO_HOME` that is a regular file is a one-line error (exit 2) for
//! every command that reads runs, and a project that cannot be read among
//! readable ones is one error line, the others still listed or cleaned,
//! and exit 1.
//!
//! Root reads a mode-000 directory all the same, so as root the world is
//! handed to `nobody` (uid 65534) and the binary runs as nobody through
//! `setpriv`: the project is unreadable for real, as it is for a user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use otto_hooks_tests::otto_home::{ProjectHandle, TaskSpec};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use otto_hooks_tests::set_mode;

const NOBODY: u32 = 65_534;

/// Old runs at these times (months ago), in every project.
const OLD: [u64; 4] = [1_700_000_000, 1_700_000_100, 1_700_000_200, 1_700_000_300];

const CLEAN: &[&str] = &[
    "clean",
    "--keep",
    "1",
    "--keep-last",
    "1",
    "--force",
    "--yes",
];

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Every command that reads runs, as a user types it.
fn commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["list"],
        vec!["list", "--json"],
        vec!["usage"],
        vec!["usage", "--json"],
        vec!["info", "1700000000"],
        vec!["why", "1700000000"],
        vec!["clean", "--dry-run"],
        CLEAN.to_vec(),
        vec!["run-policies"],
    ]
}

fn old_runs(project: &ProjectHandle) {
    for ts in OLD {
        project
            .run(ts)
            .task("build", TaskSpec::ok().stdout("ok\n"))
            .write();
    }
}

fn runs_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("1700"))
        .count()
}

#[test]
fn an_otto_home_that_is_a_regular_file_is_a_one_line_error_for_every_command() {
    let w = OttoWorld::new();
    let file = w.dir.path().join("not-a-dir");
    std::fs::write(&file, "otto data? no\n").unwrap();
    for args in commands() {
        let out = w.run_with(&file, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(
            stderr.contains(&format!(
                "OTTO_HOME {} is a regular file, not a directory",
                file.display()
            )),
            "{args:?}: {stderr}"
        );
    }
    // Set in the config, the message names the setting.
    let set = format!("storage.otto_home={}", file.display());
    let out = w.run(&["list", "--set", &set]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`storage.otto_home`"),
        "{}",
        text(&out.stderr)
    );
    // A home that does not exist yet is no error: otto has not run.
    let out = w.run_with(&w.dir.path().join("missing"), &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Runs otto-hooks in `w` as a user who cannot read `api`'s directory:
/// as root, as `nobody` (who then owns the world) through `setpriv`.
fn run_unprivileged(w: &OttoWorld, args: &[&str]) -> Output {
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(otto_hooks_tests::otto_hooks_binary());
        c
    } else {
        Command::new(otto_hooks_tests::otto_hooks_binary())
    };
    command
        .args(args)
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(w.dir.path())
        .bounded_output()
        .unwrap()
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// Whether this machine can run the binary as another user when root.
fn can_drop_privileges() -> bool {
    !is_root()
        || Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

#[test]
fn an_unreadable_project_among_others_is_one_error_line_and_exit_1_the_others_still_cleaned() {
    if !can_drop_privileges() {
        eprintln!("skipped: running as root without setpriv, a mode-000 directory stays readable");
        return;
    }
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    old_runs(&web);
    old_runs(&api);
    if is_root() {
        chown_tree(w.dir.path(), NOBODY);
    }
    set_mode(&api.dir, 0o000);
    let expected = format!(
        "error: cannot read project {}: Permission denied; its runs were skipped",
        api.dir.display()
    );
    let check = |args: &[&str]| {
        let out = run_unprivileged(&w, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{args:?}: one error line: {stderr}"
        );
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        text(&out.stdout)
    };
    let listed = check(&["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert!(listed.to_string().contains("web"), "{listed}");
    check(&["usage", "--json"]);
    check(&["clean", "--dry-run"]);
    assert_eq!(runs_in(&web.dir), OLD.len(), "a dry run deletes nothing");
    check(CLEAN);
    assert_eq!(
        runs_in(&web.dir),
        1,
        "the readable project is still cleaned"
    );
    check(&["run-policies"]);
    set_mode(&api.dir, 0o755);
    assert_eq!(
        runs_in(&api.dir),
        OLD.len(),
        "the unreadable one is untouched"
    );
    // Readable again, every command is quiet and exits 0.
    let out = run_unprivileged(&w, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("error"),
        "{}",
        text(&out.stderr)
    );
}
