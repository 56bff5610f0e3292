//! Where a daemon leaves its traces under `$OTTO_HOOKS_HOME`, and how a
//! client (or `daemon status`) reads them.
//!
//! - `daemon.pid`: the daemon's pid, in decimal, created exclusively; a pid
//!   file whose process is gone is stale.
//! - `daemon.port`: the port it listens on, in decimal.
//! - `daemon.token`: the bearer token writes need (mode 0600).
//! - `daemon.log`: its log.

use std::path::{Path, PathBuf};

/// The daemon's files under one `$OTTO_HOOKS_HOME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonFiles {
    home: PathBuf,
}

impl DaemonFiles {
    /// The files under `hooks_home`.
    pub fn new(hooks_home: &Path) -> Self {
        DaemonFiles {
            home: hooks_home.to_path_buf(),
        }
    }

    /// `$OTTO_HOOKS_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The pid file.
    pub fn pid(&self) -> PathBuf {
        self.home.join("daemon.pid")
    }

    /// The port file.
    pub fn port(&self) -> PathBuf {
        self.home.join("daemon.port")
    }

    /// The token file.
    pub fn token(&self) -> PathBuf {
        self.home.join("daemon.token")
    }

    /// The log file.
    pub fn log(&self) -> PathBuf {
        self.home.join("daemon.log")
    }

    /// The pid in the pid file, when there is one and it parses.
    pub fn recorded_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid())
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|pid| *pid > 0)
    }

    /// The pid of the daemon when its pid file names a live process.
    pub fn live_pid(&self) -> Option<i32> {
        self.recorded_pid().filter(|pid| process_alive(*pid))
    }

    /// The port of a running daemon: its pid file names a live process and
    /// its port file a port.
    pub fn running_port(&self) -> Option<u16> {
        self.live_pid()?;
        std::fs::read_to_string(self.port())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Whether `pid` is a live process (signal 0; a process of another user
/// counts as alive).
pub fn process_alive(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The token in `path` (one line).
pub fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the daemon's token {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the daemon's token file {} is empty",
            path.display()
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_of_a_gone_process_is_not_live() {
        let dir = tempfile::tempdir().unwrap();
        let files = DaemonFiles::new(dir.path());
        assert_eq!(files.live_pid(), None);
        std::fs::write(files.pid(), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(files.live_pid(), Some(std::process::id() as i32));
        std::fs::write(files.port(), "8123\n").unwrap();
        assert_eq!(files.running_port(), Some(8123));
        // A child that has exited and been reaped: its pid is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id() as i32;
        child.wait().unwrap();
        std::fs::write(files.pid(), format!("{gone}\n")).unwrap();
        assert_eq!(files.recorded_pid(), Some(gone));
        assert_eq!(files.live_pid(), None);
        assert_eq!(files.running_port(), None);
        std::fs::write(files.pid(), "garbage").unwrap();
        assert_eq!(files.recorded_pid(), None);
    }
}
