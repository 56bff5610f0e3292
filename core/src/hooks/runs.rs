//! Runs in progress, remembered between `otto-hooks hook …` processes.
//!
//! Each hook command is its own process, and `hook event --run ID` names
//! only the run: the project (which decides the plugins) was given at
//! `run-start`. So `run-start` records `<hooks_home>/runs/<id>.json`
//! (written to a temporary name, then renamed), later hooks read it, and
//! `run-complete` removes it. A stopped run keeps its record for `resume`.

use std::io::Write;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::Timestamp;
use serde::{Deserialize, Serialize};

/// An active-run record is a few hundred bytes; more is not one of ours.
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// What `run-start` recorded about a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRun {
    /// The run id.
    pub run_id: String,
    /// The project key.
    pub project: String,
    /// The project name.
    pub name: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Environment variables whose values are secrets to mask in this
    /// run's events (`--secret-env`): names only, never values — each hook
    /// process reads the values from its own environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
}

/// The directory of active-run records.
#[derive(Clone, Debug)]
pub struct RunIndex {
    dir: PathBuf,
}

/// Checks that a run id is safe to use as a file name and in URLs:
/// 1–128 characters of `A-Z a-z 0-9 . _ : -`, not starting with `.`.
pub fn validate_run_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if id.is_empty() || id.len() > 128 || !ok_chars || id.starts_with('.') {
        return Err(format!(
            "invalid run id `{id}`: use 1-128 characters of letters, digits, `.`, `_`, `:` and `-`, not starting with `.`"
        ));
    }
    Ok(())
}

/// Mints `run_YYYYMMDD_HHMMSS_xxxx` (UTC, 4 random lowercase hex digits);
/// the history engine's, so the daemon and the hooks mint alike.
pub use otto_hooks_sqlite::mint_run_id;

impl RunIndex {
    /// The index under `hooks_home`.
    pub fn new(hooks_home: &Path) -> Self {
        RunIndex {
            dir: hooks_home.join("runs"),
        }
    }

    fn path(&self, run_id: &str) -> PathBuf {
        self.dir.join(format!("{run_id}.json"))
    }

    /// Records a new run; fails with `AlreadyExists` if its id is taken.
    pub fn create(&self, run: &ActiveRun) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let text = serde_json::to_vec(run).map_err(std::io::Error::other)?;
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", run.run_id, std::process::id()));
        {
            // Exclusive: never written through an entry planted there.
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        // `link` fails if the name exists: creation is atomic and exclusive.
        let result = std::fs::hard_link(&tmp, self.path(&run.run_id));
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// The record of `run_id`, if it is active.
    pub fn get(&self, run_id: &str) -> std::io::Result<Option<ActiveRun>> {
        let path = self.path(run_id);
        match crate::own_files::read(&path, MAX_RECORD_BYTES).map_err(std::io::Error::other)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            None => Ok(None),
        }
    }

    /// Forgets a finished run (no error if it was already gone).
    pub fn remove(&self, run_id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(run_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_pass_the_run_id_check() {
        // Their shape is the sqlite crate's to test (`ids.rs`).
        validate_run_id(&mint_run_id(Timestamp::from_secs(1_737_383_452))).unwrap();
    }

    #[test]
    fn run_ids_that_could_escape_a_directory_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(129)] {
            assert!(validate_run_id(bad).is_err(), "{bad}");
        }
        for good in [
            "1700000000",
            "1700000000-1",
            "run_20250120_143052_a1b2",
            "ci:42",
        ] {
            validate_run_id(good).unwrap();
        }
    }

    #[test]
    fn a_run_id_is_recorded_once() {
        let home = tempfile::tempdir().unwrap();
        let index = RunIndex::new(home.path());
        let run = ActiveRun {
            run_id: "r1".into(),
            project: "p-0123abcd".into(),
            name: "p".into(),
            started_at: Timestamp::from_secs(1),
            secret_env: Vec::new(),
        };
        index.create(&run).unwrap();
        let again = index.create(&run).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(index.get("r1").unwrap(), Some(run));
        index.remove("r1").unwrap();
        assert_eq!(index.get("r1").unwrap(), None);
        index.remove("r1").unwrap();
    }
}
