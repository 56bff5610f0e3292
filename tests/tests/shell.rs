//! End-to-end: the `otto-hooks` binary as people meet it in a shell — tab
//! completion in bash, zsh and fish, colour on a terminal (and none with
//! `NO_COLOR`), and `-q`.
//!
//! Completion runs for real: the generated script is loaded in the shell,
//! which completes a partial command line. A terminal is a real
//! pseudo-terminal (`script`, Debian package bsdutils). A shell or `script` that is
//! not installed skips its test with one line, except under `CI=true`, where
//! it fails it (CI installs `zsh fish`).
#![allow(clippy::unwrap_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use otto_hooks_tests::PrivateDir;
use otto_hooks_tests::otto_home::{OttoHome, RowStatus, TaskSpec};

/// `program` on PATH; `None` (after one line on stderr) when it is missing
/// outside CI.
fn installed(program: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("`{program}` is needed under CI: apt-get install {package}");
        }
        eprintln!("skipped: `{program}` is not installed (apt-get install {package})");
    }
    found
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A clean environment: a private home, no config, no colour settings.
fn clean_env(home: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("PATH", std::env::var_os("PATH").unwrap_or_default()),
        ("HOME", home.into()),
        ("OTTO_HOOKS_HOME", home.join(".otto-hooks").into()),
        ("OTTO_HOOKS_DAEMON_AUTO_START", "0".into()),
        ("TERM", "xterm-256color".into()),
    ]
}

/// The binary in [`clean_env`], in `home`.
fn otto_hooks(home: &Path) -> Command {
    let mut cmd = Command::new(otto_hooks_tests::otto_hooks_binary());
    // No pager: these tests read our own escapes, not the pager's.
    cmd.env_clear()
        .envs(clean_env(home))
        .env("PAGER", "cat")
        .current_dir(home);
    cmd
}

/// The completion script for `shell`, written to `dir/name`.
fn completion_script(home: &Path, shell: &str, dir: &Path, name: &str) -> PathBuf {
    let out = otto_hooks(home)
        .args(["completions", shell])
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// The candidates, sorted.
fn sorted(lines: &str) -> Vec<String> {
    let mut v: Vec<String> = lines
        .split_whitespace()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    v.sort();
    v.dedup();
    v
}

/// What `shell` completes for each line (the last word partial).
fn check_completions(complete: impl Fn(&str) -> Vec<String>) {
    assert_eq!(
        complete("otto-hooks daemon st"),
        ["start", "status", "stop"]
    );
    assert_eq!(
        complete("otto-hooks clean --ke"),
        // otto's name for --keep is offered too.
        ["--keep", "--keep-days", "--keep-failed", "--keep-last"]
    );
    // A hyphenated subcommand, and the top level still works.
    assert_eq!(complete("otto-hooks run-policies --if"), ["--if-due"]);
    assert_eq!(complete("otto-hooks da"), ["daemon"]);
}

#[test]
fn bash_completes_nested_subcommands_and_their_options() {
    let Some(bash) = installed("bash", "bash") else {
        return;
    };
    let home = PrivateDir::new();
    let script = completion_script(home.path(), "bash", home.path(), "otto-hooks.bash");
    check_completions(|line| {
        let words: Vec<&str> = line.split(' ').collect();
        let cword = words.len() - 1;
        // As bash calls a `complete -F` function: the command, the word
        // being completed, the word before it.
        let program = format!(
            "source {script:?}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n\
             _otto__hooks otto-hooks {cur:?} {prev:?}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(" "),
            cur = words[cword],
            prev = words[cword - 1],
        );
        let out = Command::new(&bash)
            .args(["--norc", "--noprofile", "-c", &program])
            .bounded_output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        sorted(&text(&out.stdout))
    });
}

#[test]
fn zsh_completes_nested_subcommands_and_their_options() {
    let Some(zsh) = installed("zsh", "zsh") else {
        return;
    };
    let home = PrivateDir::new();
    let functions = home.path().join("zfunc");
    completion_script(home.path(), "zsh", &functions, "_otto-hooks");
    let driver = home.write_file("complete.zsh", include_str!("../fixtures/zsh-complete.zsh"));
    check_completions(|line| {
        // The driver starts an interactive zsh in a pseudo-terminal; the
        // timeout ends it should it never get a prompt.
        let out = Command::new("timeout")
            .arg("120")
            .arg(&zsh)
            .arg("-f")
            .arg(&driver)
            .arg(line)
            .arg(&functions)
            .env_clear()
            .envs(clean_env(home.path()))
            .current_dir(home.path())
            .bounded_output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        sorted(&text(&out.stdout))
    });
}

#[test]
fn fish_completes_nested_subcommands_and_their_options() {
    let Some(fish) = installed("fish", "fish") else {
        return;
    };
    let home = PrivateDir::new();
    let script = completion_script(home.path(), "fish", home.path(), "otto-hooks.fish");
    check_completions(|line| {
        let out = Command::new(&fish)
            .args(["--no-config", "-c"])
            .arg(format!(
                "source {script:?}; complete -C {line:?}",
                script = script.display().to_string()
            ))
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .bounded_output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        // `candidate<TAB>description` per line.
        let names: String = text(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        sorted(&names)
    });
}

/// An otto home with a successful and a failed run, under `home/.otto`.
fn otto_home_with_runs(home: &Path) -> OttoHome {
    let otto = OttoHome::new(home.join(".otto"));
    let web = otto.project("web", "/src/web");
    let ok = web.run(1_700_000_000).task("build", TaskSpec::ok()).write();
    let failed = web
        .run(1_700_000_100)
        .task("test", TaskSpec::failed("boom"))
        .write();
    // Recorded by otto: statuses are facts (a guess would read `failed?`).
    let db = otto.db();
    db.row(&ok, RowStatus::Success);
    db.row(&failed, RowStatus::Failed);
    otto
}

/// `args` run in a pseudo-terminal; what the terminal showed.
fn in_terminal(cmd: &Command, args: &str) -> Option<String> {
    let script = installed("script", "bsdutils")?;
    let binary = otto_hooks_tests::otto_hooks_binary();
    let out = Command::new(script)
        .args([
            "-qefc",
            &format!("{} {args}", binary.display()),
            "/dev/null",
        ])
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(cmd.get_current_dir().unwrap())
        .bounded_output()
        .unwrap();
    Some(text(&out.stdout))
}

const ESC: char = '\x1b';

#[test]
fn statuses_are_coloured_on_a_terminal_unless_no_color_or_color_never() {
    let home = PrivateDir::new();
    otto_home_with_runs(home.path());
    let Some(shown) = in_terminal(&otto_hooks(home.path()), "list") else {
        return;
    };
    assert!(shown.contains("\x1b[32msuccess\x1b[0m"), "{shown:?}");
    assert!(shown.contains("\x1b[31mfailed\x1b[0m"), "{shown:?}");

    let no_color = in_terminal(otto_hooks(home.path()).env("NO_COLOR", "1"), "list").unwrap();
    assert!(!no_color.contains(ESC), "{no_color:?}");
    // The text is there, colour or not.
    assert!(no_color.contains("success") && no_color.contains("failed"));

    let never = in_terminal(&otto_hooks(home.path()), "--color never list").unwrap();
    assert!(!never.contains(ESC), "{never:?}");
}

#[test]
fn a_pipe_gets_colour_only_when_forced() {
    let home = PrivateDir::new();
    otto_home_with_runs(home.path());
    let piped = otto_hooks(home.path())
        .arg("list")
        .bounded_output()
        .unwrap();
    assert!(!text(&piped.stdout).contains(ESC));
    assert!(text(&piped.stdout).contains("failed"));
    let always = otto_hooks(home.path())
        .args(["list", "--color", "always"])
        .bounded_output()
        .unwrap();
    assert!(text(&always.stdout).contains("\x1b[31mfailed\x1b[0m"));
    let forced = otto_hooks(home.path())
        .arg("list")
        .env("CLICOLOR_FORCE", "1")
        .bounded_output()
        .unwrap();
    assert!(text(&forced.stdout).contains("\x1b[31mfailed\x1b[0m"));
    // NO_COLOR wins over CLICOLOR_FORCE; --color always over NO_COLOR.
    let both = otto_hooks(home.path())
        .arg("list")
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .bounded_output()
        .unwrap();
    assert!(!text(&both.stdout).contains(ESC));
    let explicit = otto_hooks(home.path())
        .args(["--color=always", "list"])
        .env("NO_COLOR", "1")
        .bounded_output()
        .unwrap();
    assert!(text(&explicit.stdout).contains(ESC));
}

#[test]
fn logs_and_usage_errors_follow_no_color_on_a_terminal() {
    let home = PrivateDir::new();
    otto_home_with_runs(home.path());
    // -vv: debug log lines on stderr, which is the terminal too.
    let Some(logs) = in_terminal(&otto_hooks(home.path()), "-vv list") else {
        return;
    };
    assert!(logs.contains("DEBUG") && logs.contains(ESC), "{logs:?}");
    let plain = in_terminal(otto_hooks(home.path()).env("NO_COLOR", "1"), "-vv list").unwrap();
    assert!(plain.contains("DEBUG") && !plain.contains(ESC), "{plain:?}");

    let error = in_terminal(&otto_hooks(home.path()), "lisst").unwrap();
    assert!(error.contains("error:") && error.contains(ESC), "{error:?}");
    for cmd in [
        in_terminal(otto_hooks(home.path()).env("NO_COLOR", "1"), "lisst").unwrap(),
        in_terminal(&otto_hooks(home.path()), "--color never lisst").unwrap(),
        in_terminal(otto_hooks(home.path()).env("NO_COLOR", "1"), "--help").unwrap(),
    ] {
        assert!(!cmd.contains(ESC), "{cmd:?}");
    }
}

fn stderr_of(out: &Output) -> String {
    text(&out.stderr)
}

#[test]
fn quiet_silences_warnings_and_notes_but_not_errors() {
    let home = PrivateDir::new();
    let otto = otto_home_with_runs(home.path());
    let outside = home.subdir("outside", 0o700);
    otto.symlinked_project_to(&outside);

    let loud = otto_hooks(home.path())
        .arg("list")
        .bounded_output()
        .unwrap();
    assert!(
        stderr_of(&loud).contains("warning: otto-fs:"),
        "{}",
        stderr_of(&loud)
    );
    let quiet = otto_hooks(home.path())
        .args(["-q", "list"])
        .bounded_output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr_of(&quiet), "");
    assert!(text(&quiet.stdout).contains("failed"));

    // Notes (an empty otto home) go too.
    let empty = PrivateDir::new();
    let noted = otto_hooks(empty.path())
        .arg("usage")
        .bounded_output()
        .unwrap();
    assert!(stderr_of(&noted).contains("note:"), "{}", stderr_of(&noted));
    let quiet = otto_hooks(empty.path())
        .args(["usage", "-q"])
        .bounded_output()
        .unwrap();
    assert_eq!(stderr_of(&quiet), "");

    // Errors stay: clap's, and the command's own.
    for args in [
        ["-q", "clean", "--keep", "x"],
        ["-q", "--set", "no-equals-sign", "list"],
    ] {
        let error = otto_hooks(home.path()).args(args).bounded_output().unwrap();
        assert_eq!(error.status.code(), Some(2), "{args:?}");
        assert!(stderr_of(&error).contains("error"), "{}", stderr_of(&error));
    }
}
