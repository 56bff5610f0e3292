//! `otto-hooks` as a user runs it on their otto runs: a private `$HOME`
//! holding a real `$OTTO_HOME` (built with [`OttoHome`]) and
//! `$OTTO_HOOKS_HOME`, and the real binary.
//!
//! ```text
//! <dir>/          $HOME, and the working directory of every run
//!   otto/         $OTTO_HOME    OttoWorld::otto
//!   hooks/        $OTTO_HOOKS_HOME    OttoWorld::hooks_home()
//! ```
//!
//! The end-to-end tests of `clean`, `list`/`info`/`usage` and `import otto`
//! share it; each adds its own helpers on top (`clean --json`, `list --json`,
//! `import otto --json`, …).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::PrivateDir;
use crate::otto_home::{OttoHome, ProjectHandle};

/// Bytes as text, lossily.
pub use crate::hook_cli::text;

/// `$OTTO_HOME` and `$OTTO_HOOKS_HOME` in one private directory, which is
/// also `$HOME`. Removed when dropped.
#[derive(Debug)]
pub struct OttoWorld {
    /// The directory (`$HOME`).
    pub dir: PrivateDir,
    /// `<dir>/otto`, a real `$OTTO_HOME`.
    pub otto: OttoHome,
}

impl Default for OttoWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl OttoWorld {
    /// A fresh one: an `$OTTO_HOME` without projects and an empty
    /// `$OTTO_HOOKS_HOME`.
    pub fn new() -> Self {
        let dir = PrivateDir::new();
        let otto = OttoHome::new(dir.path().join("otto"));
        std::fs::create_dir_all(dir.path().join("hooks")).expect("create OTTO_HOOKS_HOME");
        OttoWorld { dir, otto }
    }

    /// `$OTTO_HOOKS_HOME`.
    pub fn hooks_home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    /// Project `name` of `$OTTO_HOME`, whose sources are at `/src/<name>`.
    pub fn project(&self, name: &str) -> ProjectHandle {
        self.otto.project(name, &format!("/src/{name}"))
    }

    /// Runs `otto-hooks ARGS` to completion with a clean environment
    /// pointing at this world.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.otto.root(), args)
    }

    /// Runs `otto-hooks ARGS` like [`OttoWorld::run`], with `$OTTO_HOME`
    /// set to `otto_home` instead.
    pub fn run_with(&self, otto_home: &Path, args: &[&str]) -> Output {
        crate::bounded::output(
            Command::new(crate::otto_hooks_binary())
                .args(args)
                .env_clear()
                .env("HOME", self.dir.path())
                .env("OTTO_HOME", otto_home)
                .env("OTTO_HOOKS_HOME", self.hooks_home())
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .current_dir(self.dir.path()),
            None,
            crate::bounded::COMMAND_LIMIT,
        )
    }

    /// Runs `otto-hooks ARGS` (which should ask for `--json`), which must
    /// exit 0; returns its stdout parsed as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
    }
}
