//! Long output on a terminal: how many runs `list` shows by default, and
//! paging through `$PAGER` the way git does.
//!
//! The decisions are plain functions of what they depend on (is stdout a
//! terminal, the flags, the environment), so that tests can check them
//! without a terminal; [`Pager`] runs the command they choose.

use std::io::Write;
use std::process::{Child, Command, Stdio};

/// How many runs `list` shows on a terminal when no `--limit` is given.
pub const DEFAULT_TERMINAL_LIMIT: usize = 50;

/// The pager when neither `OTTO_HOOKS_PAGER` nor `PAGER` is set: git's
/// (`-F` quits when the text fits one screen, `-R` keeps colours, `-X` leaves
/// the text on the screen).
pub const DEFAULT_PAGER: &str = "less -FRX";

/// The number of runs `list` shows: `--all` or `--limit 0` everything, a
/// `--limit N` N; else, for people on a terminal (not `--json`),
/// [`DEFAULT_TERMINAL_LIMIT`]; scripts (no terminal, or JSON) get everything.
pub fn list_limit(
    limit: Option<usize>,
    all: bool,
    stdout_is_terminal: bool,
    json: bool,
) -> Option<usize> {
    match limit {
        _ if all => None,
        Some(0) => None,
        Some(n) => Some(n),
        None if stdout_is_terminal && !json => Some(DEFAULT_TERMINAL_LIMIT),
        None => None,
    }
}

/// The note `list` writes on stderr when the default limit left runs out.
pub fn more_note(shown: usize, total: usize) -> Option<String> {
    (total > shown).then(|| {
        format!(
            "… {} more run(s) not shown (the newest {shown} of {}); --all or --limit N lists more",
            thousands(total - shown),
            thousands(total)
        )
    })
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The pager command to run, if any: none with `--no-pager`, `--json`, or
/// when stdout is not a terminal; else `OTTO_HOOKS_PAGER`, then `PAGER`,
/// then [`DEFAULT_PAGER`]. An empty value or `cat` means no pager (as git).
pub fn pager_command(
    env: &dyn Fn(&str) -> Option<String>,
    stdout_is_terminal: bool,
    json: bool,
    no_pager: bool,
) -> Option<String> {
    if no_pager || json || !stdout_is_terminal {
        return None;
    }
    let chosen = env("OTTO_HOOKS_PAGER")
        .or_else(|| env("PAGER"))
        .unwrap_or_else(|| DEFAULT_PAGER.to_owned());
    let chosen = chosen.trim();
    (!chosen.is_empty() && chosen != "cat").then(|| chosen.to_owned())
}

/// A running pager: text written to it is shown page by page; dropping
/// it (or [`Pager::finish`]) waits for the user to quit it.
pub struct Pager {
    child: Child,
}

impl Pager {
    /// Starts `command` through `sh -c` (a pager command carries its
    /// flags, as `$PAGER` does for git), with `LESS=FRX` and
    /// `LESSCHARSET=utf-8` unless set. `None`
    /// when it cannot start: the caller writes to stdout instead.
    pub fn start(command: &str) -> Option<Pager> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).stdin(Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            cmd.env("LESS", "FRX");
        }
        // Our output is UTF-8 whatever the locale says (the table's rules
        // are box-drawing characters): tell less, unless the user did.
        if std::env::var_os("LESSCHARSET").is_none() && std::env::var_os("LESSCHARDEF").is_none() {
            cmd.env("LESSCHARSET", "utf-8");
        }
        match cmd.spawn() {
            Ok(child) => Some(Pager { child }),
            Err(e) => {
                tracing::warn!("cannot start the pager `{command}`: {e}");
                None
            }
        }
    }

    /// Where to write the text.
    pub fn input(&mut self) -> Option<&mut dyn Write> {
        self.child.stdin.as_mut().map(|s| s as &mut dyn Write)
    }

    /// Closes its input and waits until the user quits it.
    pub fn finish(mut self) {
        self.close_and_wait();
    }

    fn close_and_wait(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        self.close_and_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_terminal_gets_the_newest_fifty_and_scripts_get_everything() {
        assert_eq!(list_limit(None, false, true, false), Some(50));
        assert_eq!(list_limit(None, false, false, false), None);
        assert_eq!(list_limit(None, false, true, true), None);
        assert_eq!(list_limit(Some(0), false, true, false), None);
        assert_eq!(list_limit(None, true, true, false), None);
        assert_eq!(list_limit(Some(7), false, false, false), Some(7));
    }

    #[test]
    fn the_note_counts_what_was_left_out() {
        assert_eq!(more_note(50, 50), None);
        assert_eq!(
            more_note(50, 1_284).as_deref(),
            Some(
                "… 1,234 more run(s) not shown (the newest 50 of 1,284); --all or --limit N lists more"
            )
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn the_pager_is_chosen_like_git_and_never_for_json_or_a_pipe() {
        let none = env_of(&[]);
        assert_eq!(
            pager_command(&none, true, false, false).as_deref(),
            Some("less -FRX")
        );
        assert_eq!(pager_command(&none, false, false, false), None);
        assert_eq!(pager_command(&none, true, true, false), None);
        assert_eq!(pager_command(&none, true, false, true), None);
        let pager = env_of(&[("PAGER", "most")]);
        assert_eq!(
            pager_command(&pager, true, false, false).as_deref(),
            Some("most")
        );
        let ours = env_of(&[("PAGER", "most"), ("OTTO_HOOKS_PAGER", "less -S")]);
        assert_eq!(
            pager_command(&ours, true, false, false).as_deref(),
            Some("less -S")
        );
        for off in ["", "cat"] {
            let env = env_of(&[("PAGER", off)]);
            assert_eq!(pager_command(&env, true, false, false), None);
        }
    }
}
