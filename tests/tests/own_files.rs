//! Planted entries where otto-hooks keeps or reads its own files: a symlink
//! or hard link in place of `clean.lock`, `daemon.log`, `daemon.pid` or the
//! policies stamp never gets another file written, and a FIFO in place of a
//! config file is an error at once, never a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use otto_hooks_tests::PrivateDir;

/// A private home with `hooks/` (`$OTTO_HOOKS_HOME`), an empty otto home
/// and a precious file outside both.
struct World {
    dir: PrivateDir,
}

impl World {
    fn new() -> Self {
        let dir = PrivateDir::new();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("otto")).unwrap();
        std::fs::write(dir.path().join("precious"), "precious\n").unwrap();
        World { dir }
    }

    fn hooks(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn precious(&self) -> PathBuf {
        self.dir.path().join("precious")
    }

    fn assert_precious_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(self.precious()).unwrap(),
            "precious\n",
            "a file outside was written through a planted entry"
        );
    }

    /// Runs the binary; fails the test after 30 s instead of hanging.
    fn run(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut c = Command::new(otto_hooks_tests::otto_hooks_binary());
        c.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.hooks())
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let (tx, rx) = mpsc::channel();
        let what = args.join(" ");
        std::thread::spawn(move || {
            let _ = tx.send(c.bounded_output().expect("run otto-hooks"));
        });
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("otto-hooks {what} hung"))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

#[test]
fn a_config_file_that_is_a_fifo_is_a_one_line_error_not_a_hang() {
    let w = World::new();
    let fifo = w.dir.path().join("config.fifo");
    mkfifo(&fifo);
    let out = w.run(&["list"], &[("OTTO_HOOKS_CONFIG", &fifo)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("FIFO"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_project_config_that_is_a_fifo_is_never_opened() {
    // Only regular files are project files: the FIFO is passed over (the
    // walk up stats each candidate), so the command finishes.
    let w = World::new();
    mkfifo(&w.dir.path().join(".otto-hooks.toml"));
    let out = w.run(&["config", "show"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stdout).contains("Files: none"),
        "{}",
        text(&out.stdout)
    );
}

/// Four runs of one project, months old: `clean --keep 1 --keep-last 1
/// --force --yes` has something to delete, so it takes the clean lock.
fn old_runs(w: &World) {
    for ts in [
        1_700_000_000u64,
        1_700_000_100,
        1_700_000_200,
        1_700_000_300,
    ] {
        let task = w
            .dir
            .path()
            .join(format!("otto/web-1a2b3c4d/{ts}/tasks/build"));
        std::fs::create_dir_all(&task).unwrap();
        std::fs::write(task.join("stdout.log"), "ok\n").unwrap();
        std::fs::write(task.join("stderr.log"), "").unwrap();
    }
}

const CLEAN: &[&str] = &[
    "clean",
    "--keep",
    "1",
    "--keep-last",
    "1",
    "--force",
    "--yes",
];

#[test]
fn a_clean_lock_hard_linked_to_another_file_is_refused_and_that_file_untouched() {
    let w = World::new();
    old_runs(&w);
    std::fs::hard_link(w.precious(), w.hooks().join("clean.lock")).unwrap();
    let out = w.run(CLEAN, &[]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hard links"), "{stderr}");
    w.assert_precious_untouched();
}

#[test]
fn a_clean_lock_symlinked_elsewhere_is_refused_and_never_followed() {
    let w = World::new();
    old_runs(&w);
    symlink(w.precious(), w.hooks().join("clean.lock")).unwrap();
    let out = w.run(CLEAN, &[]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    w.assert_precious_untouched();
    // A dangling link is not created through either.
    std::fs::remove_file(w.hooks().join("clean.lock")).unwrap();
    let elsewhere = w.dir.path().join("elsewhere");
    symlink(&elsewhere, w.hooks().join("clean.lock")).unwrap();
    let out = w.run(CLEAN, &[]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(!elsewhere.exists());
}

#[test]
fn a_daemon_log_or_pid_file_planted_as_a_link_stops_the_start_and_writes_nothing_outside() {
    for (name, link) in [
        ("daemon.log", "symlink"),
        ("daemon.pid", "symlink"),
        ("daemon.log", "hard link"),
        ("daemon.pid", "hard link"),
    ] {
        let w = World::new();
        let planted = w.hooks().join(name);
        if link == "symlink" {
            symlink(w.precious(), &planted).unwrap();
        } else {
            std::fs::hard_link(w.precious(), &planted).unwrap();
        }
        let out = w.run(&["--set", "daemon.port=0", "daemon", "start"], &[]);
        // Whatever happened, no daemon is left behind.
        let _ = w.run(&["daemon", "stop"], &[]);
        assert_ne!(out.status.code(), Some(0), "{name} as a {link}: {out:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("refused") && stderr.contains(name),
            "{name} as a {link}: {stderr}"
        );
        w.assert_precious_untouched();
    }
}

#[test]
fn the_policies_stamp_planted_as_a_link_is_never_written_through() {
    let w = World::new();
    // Find the stamp's name: run once, see what appears.
    let out = w.run(&["run-policies"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let before: Vec<_> = std::fs::read_dir(w.hooks())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let stamp = before
        .iter()
        .find(|n| n.to_string_lossy().contains("polic"))
        .unwrap_or_else(|| panic!("no stamp among {before:?}"))
        .clone();
    let path = w.hooks().join(&stamp);
    std::fs::remove_file(&path).unwrap();
    symlink(w.precious(), &path).unwrap();
    let before_mtime = std::fs::metadata(w.precious()).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let out = w.run(&["run-policies"], &[]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    w.assert_precious_untouched();
    assert_eq!(
        std::fs::metadata(w.precious()).unwrap().modified().unwrap(),
        before_mtime
    );
}
