//! Where a daemon leaves its traces under `$OTTO_HOOKS_HOME`, and how a
//! client (or `daemon status`) reads them.
//!
//! - `daemon.pid`: the daemon's pid, in decimal. The daemon holds an
//!   exclusive `flock` on it for its whole life: the lock, not the pid, says
//!   whether it runs (a pid may be reused by another process after a crash;
//!   a dead process holds no lock). A pid file nobody locks is stale.
//! - `daemon.port`: the port it listens on, in decimal, then on a second
//!   line the address clients connect to (`127.0.0.1`, `::1`, or the
//!   address it is bound to).
//! - `daemon.token`: the bearer token writes need (mode 0600).
//! - `daemon.sock`: a Unix socket serving the same API to the daemon's own
//!   user only (mode 0600, the peer's uid checked): writes there need no
//!   token.
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

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.home.join("daemon.sock")
    }

    /// The log file.
    pub fn log(&self) -> PathBuf {
        self.home.join("daemon.log")
    }

    /// The pid in the pid file, when there is one and it parses.
    pub fn recorded_pid(&self) -> Option<i32> {
        read_small(&self.pid())?
            .trim()
            .parse()
            .ok()
            .filter(|pid| *pid > 0)
    }

    /// The pid of the running daemon: its pid file is locked (by it).
    pub fn live_pid(&self) -> Option<i32> {
        let file =
            crate::own_files::open(&self.pid(), crate::own_files::Access::Read, None).ok()?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
            // Nobody holds it: stale. (Our probe lock goes with `file`.)
            Ok(()) => None,
            Err(_) => self.recorded_pid(),
        }
    }

    /// The port of a running daemon: its pid file is locked and its port
    /// file names a port.
    pub fn running_port(&self) -> Option<u16> {
        self.running_addr().map(|a| a.port())
    }

    /// Where to reach a running daemon (its port file; `127.0.0.1` when
    /// the file names no address).
    pub fn running_addr(&self) -> Option<std::net::SocketAddr> {
        self.live_pid()?;
        let text = read_small(&self.port())?;
        let mut lines = text.lines();
        let port: u16 = lines.next()?.trim().parse().ok()?;
        let ip = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        Some(std::net::SocketAddr::new(ip, port))
    }
}

/// A small state file of ours (pid, port), as text; `None` when missing,
/// unreadable or not ours (a planted link is never followed).
fn read_small(path: &Path) -> Option<String> {
    match crate::own_files::read(path, 4096) {
        Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
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
    let text = match crate::own_files::read(path, 4096) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => {
            return Err(format!(
                "cannot read the daemon's token {}: No such file or directory (os error 2)",
                path.display()
            ));
        }
        Err(e) => return Err(format!("cannot read the daemon's token: {e}")),
    };
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
    fn only_a_locked_pid_file_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let files = DaemonFiles::new(dir.path());
        assert_eq!(files.live_pid(), None);
        // A pid file naming a live process (this one) but locked by nobody:
        // stale, whatever that pid is now.
        std::fs::write(files.pid(), format!("{}\n", std::process::id())).unwrap();
        std::fs::write(files.port(), "8123\n").unwrap();
        assert_eq!(files.recorded_pid(), Some(std::process::id() as i32));
        assert_eq!(files.live_pid(), None);
        assert_eq!(files.running_port(), None);
        // Locked: live.
        let held = std::fs::File::open(files.pid()).unwrap();
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        assert_eq!(files.live_pid(), Some(std::process::id() as i32));
        assert_eq!(files.running_port(), Some(8123));
        drop(held);
        assert_eq!(files.live_pid(), None);
        std::fs::write(files.pid(), "garbage").unwrap();
        assert_eq!(files.recorded_pid(), None);
    }
}
