//! `otto-hooks hook …` as an orchestrator runs it: a private
//! `$HOME`/`$OTTO_HOOKS_HOME`, a repository, the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use rusqlite::{Connection, OpenFlags};

use crate::PrivateDir;

/// A private home with a repository and `$OTTO_HOOKS_HOME` = `<dir>/hooks`,
/// whose history is `<dir>/hooks/history.db`.
#[derive(Debug)]
pub struct HookWorld {
    /// The directory (`$HOME`).
    pub dir: PrivateDir,
    /// `<dir>/repo`, an existing directory.
    pub repo: PathBuf,
}

impl Default for HookWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl HookWorld {
    /// A fresh one.
    pub fn new() -> Self {
        let dir = PrivateDir::new();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).expect("create the repository directory");
        std::fs::create_dir_all(dir.path().join("hooks")).expect("create OTTO_HOOKS_HOME");
        HookWorld { dir, repo }
    }

    /// `$OTTO_HOOKS_HOME`.
    pub fn hooks_home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    /// The default history file.
    pub fn db(&self) -> PathBuf {
        self.hooks_home().join("history.db")
    }

    /// The repository path as text.
    pub fn repo_arg(&self) -> String {
        self.repo.to_string_lossy().into_owned()
    }

    /// `otto-hooks ARGS` with a clean environment pointing at this world.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(crate::otto_hooks_binary());
        c.args(args)
            .env_clear()
            // Write history.db directly: the daemon tests start theirs on purpose.
            .env("OTTO_HOOKS_DAEMON_AUTO_START", "0")
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.hooks_home())
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path());
        c
    }

    /// Runs `otto-hooks ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        crate::bounded::output(&mut self.command(args), None, crate::bounded::COMMAND_LIMIT)
    }

    /// Runs `otto-hooks ARGS`, which must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "otto-hooks {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `hook event --run ID [EXTRA…]` with `lines` on stdin and `env` added.
    pub fn events_with(
        &self,
        run: &str,
        extra: &[&str],
        lines: &str,
        env: &[(&str, &str)],
    ) -> Output {
        let mut args = vec!["hook", "event", "--run", run];
        args.extend_from_slice(extra);
        let mut c = self.command(&args);
        c.envs(env.iter().copied());
        crate::bounded::output(
            &mut c,
            Some(lines.as_bytes()),
            crate::bounded::COMMAND_LIMIT,
        )
    }

    /// `hook event --run ID` with `lines` on stdin and `env` added.
    pub fn events(&self, run: &str, lines: &str, env: &[(&str, &str)]) -> Output {
        self.events_with(run, &[], lines, env)
    }

    /// The default history, read-only.
    pub fn read(&self) -> Connection {
        Connection::open_with_flags(self.db(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.db().display()))
    }
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
