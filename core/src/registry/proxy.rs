//! The host side of process isolation: an instance whose calls go to a
//! plugin runner (`otto-hooks __plugin-runner`, [`super::runner`]).
//!
//! Each call has a time limit: past it the runner is killed. A runner that
//! dies — a crash, an abort, the memory limit, the kill — makes that call
//! fail with one line naming the plugin and the signal, and every later
//! call of the instance fail the same way; the host carries on. Callers
//! treat it as any failed call: `clean` keeps every run of a group whose
//! retention failed.

use std::io::{BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otto_hooks_plugin_api::abi::ErrorCode;
use otto_hooks_plugin_api::host::{CallError, Instance};
use otto_hooks_plugin_api::{Decision, ErrorKind, RetentionInput};

use super::isolation::{Limits, RUNNER_ARG, Reply, Request, read_frame, write_frame_bytes};

/// How much of the runner's stderr is kept to explain its death.
const STDERR_TAIL: usize = 4096;

/// A retention instance, wherever it runs. Callers use it like an
/// [`Instance`].
#[derive(Debug)]
pub enum RetentionInstance {
    /// In the host's process.
    InProcess(Instance),
    /// In a runner process.
    Process(ProcessInstance),
}

impl RetentionInstance {
    /// Retention: decides for every run of a group.
    pub fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, CallError> {
        match self {
            RetentionInstance::InProcess(i) => i.decide(input),
            RetentionInstance::Process(p) => p.decide(input),
        }
    }

    /// `in-process` or `process`.
    pub fn mode(&self) -> &'static str {
        match self {
            RetentionInstance::InProcess(_) => "in-process",
            RetentionInstance::Process(_) => "process",
        }
    }
}

/// What is needed to start a runner for one instance.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The runner program (the `otto-hooks` binary).
    pub program: &'a std::path::Path,
    /// ``kind `name` `` for messages.
    pub label: String,
    /// The first request.
    pub init: Request,
    /// The limits.
    pub limits: Limits,
}

/// An instance served by a runner process.
#[derive(Debug)]
pub struct ProcessInstance {
    label: String,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Alive(Runner),
    /// Why it is gone: every later call fails with this.
    Dead(String),
}

#[derive(Debug)]
struct Runner {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<std::io::Result<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut()
            && let State::Alive(runner) = state
        {
            // Closing its input ends a healthy runner; one stuck in a call
            // is killed rather than waited for.
            runner.stdin.take();
            let _ = runner.child.kill();
            let _ = runner.child.wait();
        }
    }
}

/// The runner program: this binary, when it is `otto-hooks`.
pub fn runner_program() -> Result<std::path::PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the otto-hooks binary: {e}"))?;
    if exe.file_stem().is_some_and(|s| s == "otto-hooks") {
        Ok(exe)
    } else {
        Err(format!(
            "process isolation needs the otto-hooks binary as its runner, and this is {}",
            exe.display()
        ))
    }
}

impl ProcessInstance {
    /// Starts the runner and creates the instance in it. The error is the
    /// call error of the creation (a bad setting, a refused library, a
    /// runner that died).
    pub fn start(launch: Launch<'_>) -> Result<Self, CallError> {
        let fail = |message: String| CallError {
            plugin: launch.label.clone(),
            kind: ErrorKind::Failed,
            message,
        };
        // A CPU-time backstop well past the per-call timeout: the host's
        // kill is the rule, RLIMIT_CPU only catches a host that is gone.
        let cpu = (launch.limits.timeout.as_secs() + 1)
            .saturating_mul(4)
            .max(10);
        let mut child = Command::new(launch.program)
            .arg(RUNNER_ARG)
            .arg("--memory")
            .arg(launch.limits.memory.to_string())
            .arg("--cpu")
            .arg(cpu.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot start its isolated process: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail("cannot talk to its isolated process".into()));
        };
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let frame = read_frame(&mut stdout);
                let end = !matches!(frame, Ok(Some(_)));
                let sent = match frame {
                    Ok(Some(bytes)) => tx.send(Ok(bytes)),
                    Ok(None) => break,
                    Err(e) => tx.send(Err(e)),
                };
                if end || sent.is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&tail);
        let stderr_reader = std::thread::spawn(move || keep_tail(stderr, &sink));
        let instance = ProcessInstance {
            label: launch.label,
            limits: launch.limits,
            state: Mutex::new(State::Alive(Runner {
                child,
                stdin: Some(stdin),
                replies,
                stderr: tail,
                stderr_reader: Some(stderr_reader),
            })),
        };
        match instance.call("create", &launch.init)? {
            Reply::Ready => Ok(instance),
            other => Err(instance.unexpected(other)),
        }
    }

    /// Retention: decides for every run of a group, in the runner.
    pub fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, CallError> {
        let request = Request::Decide {
            group: input.group.to_owned(),
            now: input.now,
            runs: input.runs.to_vec(),
        };
        match self.call("decide", &request)? {
            Reply::Decisions { decisions } => Ok(decisions),
            other => Err(self.unexpected(other)),
        }
    }

    /// The limits the runner was started with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn fail(&self, kind: ErrorKind, message: String) -> CallError {
        CallError {
            plugin: self.label.clone(),
            kind,
            message,
        }
    }

    fn unexpected(&self, reply: Reply) -> CallError {
        match reply {
            Reply::Error { code, message } => {
                let kind = ErrorKind::from_code(ErrorCode(code));
                self.fail(kind, message)
            }
            other => self.fail(
                ErrorKind::Failed,
                format!("its isolated process sent an unexpected reply ({other:?})"),
            ),
        }
    }

    /// Sends `request` and waits for the reply within the timeout. Any
    /// failure of the runner itself kills it and marks the instance dead.
    fn call(&self, what: &str, request: &Request) -> Result<Reply, CallError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| self.fail(ErrorKind::Failed, "its isolated process is unusable".into()))?;
        let runner = match &mut *state {
            State::Dead(why) => {
                return Err(self.fail(
                    ErrorKind::Failed,
                    format!("isolated process is gone ({why})"),
                ));
            }
            State::Alive(runner) => runner,
        };
        let outcome = exchange(runner, request, self.limits.timeout);
        let why = match outcome {
            Ok(reply) => return Ok(reply),
            Err(Trouble::TimedOut) => {
                let _ = runner.child.kill();
                let _ = runner.child.wait();
                format!(
                    "did not answer `{what}` within {}s; its isolated process was killed",
                    self.limits.timeout.as_secs_f64()
                )
            }
            Err(Trouble::Garbage(detail)) => {
                let _ = runner.child.kill();
                let _ = runner.child.wait();
                format!(
                    "its isolated process sent a malformed reply to `{what}` ({detail}) and was killed"
                )
            }
            Err(Trouble::Gone) => {
                runner.stdin.take();
                let status = wait_briefly(&mut runner.child);
                drain(runner.stderr_reader.take());
                let last = last_line(&runner.stderr);
                format!(
                    "its isolated process {} during `{what}`{}",
                    describe(status),
                    last.map(|l| format!(" (it said: {l})")).unwrap_or_default()
                )
            }
        };
        *state = State::Dead(why.clone());
        Err(self.fail(ErrorKind::Failed, why))
    }
}

enum Trouble {
    TimedOut,
    Garbage(String),
    Gone,
}

fn exchange(runner: &mut Runner, request: &Request, timeout: Duration) -> Result<Reply, Trouble> {
    let Some(stdin) = runner.stdin.as_mut() else {
        return Err(Trouble::Gone);
    };
    let deadline = Instant::now() + timeout;
    // Written from another thread: a runner stuck before reading its whole
    // request must not block the host past the deadline (killing the
    // runner breaks the pipe and ends the write).
    let bytes = serde_json::to_vec(request).map_err(|e| Trouble::Garbage(e.to_string()))?;
    let outcome = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_frame_bytes(stdin, &bytes));
        let reply = runner
            .replies
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        if reply.is_err() {
            // Unblock a writer still waiting on a full pipe.
            let _ = runner.child.kill();
        }
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")));
        (written, reply)
    });
    match outcome {
        (_, Ok(Ok(bytes))) => serde_json::from_slice::<Reply>(&bytes)
            .map_err(|e| Trouble::Garbage(one_line(&e.to_string()))),
        (_, Ok(Err(e))) => Err(Trouble::Garbage(one_line(&e.to_string()))),
        (_, Err(RecvTimeoutError::Timeout)) => Err(Trouble::TimedOut),
        (_, Err(RecvTimeoutError::Disconnected)) => Err(Trouble::Gone),
    }
}

/// Reaps the runner, which has closed its output: it is exiting.
fn wait_briefly(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

/// `was killed by signal 11 (SIGSEGV)`, `exited with status 2`.
pub fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "ended".into();
    };
    if let Some(signal) = status.signal() {
        let name = match signal {
            4 => " (SIGILL)",
            6 => " (SIGABRT)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            13 => " (SIGPIPE)",
            15 => " (SIGTERM)",
            24 => " (SIGXCPU)",
            _ => "",
        };
        return format!("was killed by signal {signal}{name}");
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended".into(),
    }
}

fn keep_tail(mut stderr: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        let Ok(mut tail) = tail.lock() else { break };
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > STDERR_TAIL {
            let cut = tail.len() - STDERR_TAIL;
            tail.drain(..cut);
        }
    }
}

/// Waits (a little) for the stderr reader of a dead runner to reach the
/// end of the pipe, so that its last words are read. A descendant of the
/// runner may hold the pipe open: then what was read so far will do.
fn drain(reader: Option<std::thread::JoinHandle<()>>) {
    let Some(reader) = reader else { return };
    let deadline = Instant::now() + Duration::from_secs(1);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if reader.is_finished() {
        let _ = reader.join();
    }
}

/// The last non-empty line the runner wrote on stderr, printable and short.
fn last_line(tail: &Mutex<Vec<u8>>) -> Option<String> {
    let tail = tail.lock().ok()?;
    let text = String::from_utf8_lossy(&tail);
    // Rust's panic output ends with a `note:` about backtraces: the line
    // worth showing is the one before.
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("note: "))?;
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(200)
        .collect();
    Some(clean.trim().to_owned())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_death_is_described_by_its_signal_name_or_exit_status() {
        let killed = ExitStatus::from_raw(11);
        assert_eq!(describe(Some(killed)), "was killed by signal 11 (SIGSEGV)");
        let aborted = ExitStatus::from_raw(6);
        assert_eq!(describe(Some(aborted)), "was killed by signal 6 (SIGABRT)");
        let exited = ExitStatus::from_raw(2 << 8);
        assert_eq!(describe(Some(exited)), "exited with status 2");
        assert_eq!(describe(None), "ended");
    }

    #[test]
    fn the_last_words_skip_the_backtrace_note_and_are_one_printable_line() {
        let tail = Mutex::new(
            b"memory allocation of 67108864 bytes failed\x1b[0m\nnote: run with `RUST_BACKTRACE=1`\n\n"
                .to_vec(),
        );
        assert_eq!(
            last_line(&tail).as_deref(),
            Some("memory allocation of 67108864 bytes failed?[0m")
        );
        assert_eq!(last_line(&Mutex::new(Vec::new())), None);
    }
}
