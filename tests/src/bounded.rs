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

/// How long one otto-hooks command may take in a test before it is taken
/// for hung: far above any real run on a loaded 2-core machine.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(300);

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

/// Waits for `child` and collects its output, like
/// [`Child::wait_with_output`]; past [`COMMAND_LIMIT`] the test fails with
/// the process list instead of hanging (`what` names the command).
///
/// [`Child::wait_with_output`]: std::process::Child::wait_with_output
pub fn finish(what: &str, child: std::process::Child) -> std::process::Output {
    let name = what.to_owned();
    within(what, COMMAND_LIMIT, &[], move || {
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    })
}

/// Runs `command` to completion with `input` on its stdin (none: stdin is
/// `/dev/null`) and returns its output, like [`Command::output`]; a child
/// still running after `limit` is killed and the test fails with the
/// process list.
///
/// [`Command::output`]: std::process::Command::output
pub fn output(
    command: &mut std::process::Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> std::process::Output {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let program = format!("{command:?}");
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let feeder = child.stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let processes = report(&[]);
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{program} still running after {} s (killed)\n{processes}",
                    limit.as_secs()
                );
            }
            Err(e) => panic!("cannot wait for {program}: {e}"),
        }
    };
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    let collect = |h: std::thread::JoinHandle<Vec<u8>>, what: &str| {
        within(
            &format!("{what} of {program}"),
            Duration::from_secs(30),
            &[],
            move || h.join().unwrap_or_default(),
        )
    };
    std::process::Output {
        status,
        stdout: collect(stdout, "the stdout"),
        stderr: collect(stderr, "the stderr"),
    }
}

/// [`output`] as a method, for `command.bounded_output().unwrap()` where a
/// test would write `command.output().unwrap()`: stdin is `/dev/null` (as
/// `output` makes it) and the child may run [`COMMAND_LIMIT`].
pub trait BoundedOutput {
    /// Runs the command to completion within [`COMMAND_LIMIT`].
    fn bounded_output(&mut self) -> std::io::Result<std::process::Output>;
}

impl BoundedOutput for std::process::Command {
    fn bounded_output(&mut self) -> std::io::Result<std::process::Output> {
        Ok(output(self, None, COMMAND_LIMIT))
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

/// The processes holding `watched`: `(pid, command line)`, one entry per
/// descriptor.
pub fn holders_of(watched: &Watched) -> Vec<(String, String)> {
    holders(&watched.link)
        .into_iter()
        .map(|(pid, _)| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            (pid, cmd)
        })
        .collect()
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
    fn output_feeds_stdin_and_collects_both_streams() {
        let out = output(
            std::process::Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            Some(b"hello"),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn output_kills_a_child_that_outlives_its_limit() {
        let failure = std::panic::catch_unwind(|| {
            output(
                std::process::Command::new("sleep").arg("600"),
                None,
                Duration::from_millis(300),
            )
        })
        .unwrap_err();
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("still running after 0 s (killed)"),
            "{message}"
        );
    }

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
