//! Waits that end: a test that spawns processes and talks to them over
//! pipes can block for ever when something unexpected holds a pipe open.
//! [`within`] runs such a step on a thread and, past its limit, fails the
//! test with what is needed to find the cause — the processes on the
//! machine and which of them hold the pipes the test named — instead of
//! hanging CI until its own timeout.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::Duration;

/// A pipe (or any file) the diagnostics should find the holders of.
#[derive(Debug, Clone)]
pub struct Watched {
    /// What the test calls it ("hook event's stdin").
    pub name: String,
    /// `pipe:[INODE]`, as `/proc/PID/fd/N` links read.
    link: String,
}

impl Watched {
    /// Watches the file `fd` refers to.
    pub fn new(name: &str, fd: impl AsFd) -> Self {
        let ino = rustix::fs::fstat(fd).map(|s| s.st_ino).unwrap_or(0);
        Watched {
            name: name.to_owned(),
            link: format!("pipe:[{ino}]"),
        }
    }
}

/// Runs `step` and returns its value, or panics after `limit` with a report
/// of the processes and of who holds each `watched` pipe. The step's thread
/// is left behind on a timeout (the test fails anyway).
pub fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    watched: &[Watched],
    step: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(step());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "{what}: still waiting after {} s\n{}",
                limit.as_secs(),
                report(watched)
            )
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: the step panicked (its message is above)")
        }
    }
}

/// The processes (`ps`), then the holders of each watched pipe.
pub fn report(watched: &[Watched]) -> String {
    let mut out = String::new();
    match std::process::Command::new("ps")
        .args(["-eo", "pid,ppid,stat,wchan:24,etime,args"])
        .output()
    {
        Ok(ps) => out.push_str(&String::from_utf8_lossy(&ps.stdout)),
        Err(e) => {
            let _ = writeln!(out, "(ps: {e})");
        }
    }
    for w in watched {
        let _ = writeln!(out, "holders of {} ({}):", w.name, w.link);
        for (pid, fd) in holders(&w.link) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            let _ = writeln!(out, "  pid {pid} fd {fd}: {cmd}");
        }
    }
    out
}

/// Every `(pid, fd)` whose descriptor is `link`.
fn holders(link: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for proc in procs.flatten() {
        let pid = proc.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == link) {
                found.push((pid.clone(), fd.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_ends_returns_its_value() {
        assert_eq!(within("adding", Duration::from_secs(5), &[], || 2 + 2), 4);
    }

    #[test]
    fn a_blocked_step_fails_with_the_holders_of_its_pipe() {
        let (reader, writer) = std::io::pipe().unwrap();
        let watched = Watched::new("the test pipe", &reader);
        let failure = std::panic::catch_unwind(|| {
            within(
                "reading",
                Duration::from_millis(200),
                &[watched],
                move || {
                    let mut reader = reader;
                    let mut buf = [0u8; 1];
                    let _ = std::io::Read::read(&mut reader, &mut buf);
                },
            )
        })
        .unwrap_err();
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("reading: still waiting after 0 s"),
            "{message}"
        );
        let me = format!("pid {} fd ", std::process::id());
        assert!(message.contains(&me), "{message}");
        drop(writer);
    }
}
