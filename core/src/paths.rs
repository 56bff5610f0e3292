//! Where otto-hooks keeps its own state, and where otto keeps its runs.

use std::path::PathBuf;

/// `$OTTO_HOOKS_HOME`, or `~/.otto-hooks`.
pub fn hooks_home() -> PathBuf {
    env_dir("OTTO_HOOKS_HOME").unwrap_or_else(|| home_dir().join(".otto-hooks"))
}

/// `$OTTO_HOME`, or `~/.otto`.
pub fn otto_home() -> PathBuf {
    env_dir("OTTO_HOME").unwrap_or_else(|| home_dir().join(".otto"))
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The user's home directory: `$HOME`, else the password database.
pub fn home_dir() -> PathBuf {
    if let Some(home) = env_dir("HOME") {
        return home;
    }
    // Without $HOME (some CI sandboxes), fall back to the current directory
    // rather than guessing a path we might not own.
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}
