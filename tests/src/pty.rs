//! Running a command on a pseudo-terminal, for the prompts: util-linux
//! `script` gives the command a terminal on stdin, stdout and stderr, and
//! what the test writes to `script`'s stdin is what the user types.

use std::process::Command;

/// What the terminal showed, and the command's exit code.
#[derive(Debug)]
pub struct Screen {
    /// The command's exit code (`script -e` passes it on).
    pub code: i32,
    /// Everything written to the terminal (stdout and stderr, with the
    /// terminal's `\r\n` line ends and the echoed typing).
    pub text: String,
}

/// Runs `command` — its program, arguments, environment and directory —
/// on a pseudo-terminal, typing `typed`.
///
/// # Panics
/// When `script` cannot run or an argument holds a character the shell
/// would interpret (the tests' paths and flags never do).
pub fn on_a_terminal(command: &Command, typed: &str) -> Screen {
    let words: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| {
            let a = a.to_str().expect("UTF-8 arguments");
            assert!(
                a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-=:+".contains(c)),
                "`{a}` would need shell quoting"
            );
            a.to_owned()
        })
        .collect();
    let mut script = Command::new("script");
    script
        .args(["-q", "-e", "-c", &words.join(" "), "/dev/null"])
        .env_clear()
        .env("TERM", "dumb");
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        script.current_dir(dir);
    }
    let out = crate::bounded::output(
        &mut script,
        Some(typed.as_bytes()),
        crate::bounded::COMMAND_LIMIT,
    );
    Screen {
        code: out.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
    }
}
