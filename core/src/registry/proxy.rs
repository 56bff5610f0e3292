//! The host side of process isolation: an instance whose calls go to a
//! plugin runner (`otto-hooks __plugin-runner`, [`super::runner`]).
//!
//! [`PluginInstance`] is what the host calls, wherever the plugin runs: the
//! same methods as an in-process [`Instance`], so that the hooks, `clean`,
//! the history commands and the reporters never need to know.
//!
//! Each call has a time limit: past it the runner is killed. A runner that
//! dies — a crash, an abort, the memory limit, the kill — makes that call
//! fail with one line naming the plugin and the signal, and every later
//! call of the instance fail the same way; the host carries on. Callers
//! treat it as any failed call: `clean` keeps every run of a group whose
//! retention failed.
//!
//! Every request carries an id and every reply the id of the request it
//! answers: a reply to an earlier call (one that came too late) is dropped,
//! never taken for the answer to the call waiting.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otto_hooks_plugin_api::abi::ErrorCode;
use otto_hooks_plugin_api::host::{CallError, Instance, PluginHandle};
use otto_hooks_plugin_api::{
    Decision, DeleteReport, Document, ErrorKind, Event, EventPage, EventQuery, ExpireReport,
    ExpireRequest, HookContext, ProjectUsage, RetentionInput, Run, RunDetails, RunQuery, RunResult,
    RunResume, RunStart, RunStop, StatusVerdict,
};

use super::isolation::{Limits, MAX_FRAME, RUNNER_ARG, Reply, Request, WireEvent};

/// How much of the runner's stderr is kept to explain its death.
const STDERR_TAIL: usize = 4096;

/// How many runs one `detect` request carries at most.
const DETECT_BATCH: usize = 2048;

/// A plugin instance, wherever it runs: the interface of [`Instance`].
#[derive(Debug)]
pub enum PluginInstance {
    /// In the host's process.
    InProcess(Instance),
    /// In a runner process.
    Process(ProcessInstance),
}

/// The name this had when only retention plugins could be isolated.
pub type RetentionInstance = PluginInstance;

/// Forwards a call to whichever instance this is.
macro_rules! both {
    ($self:ident, $i:ident => $call:expr) => {
        match $self {
            PluginInstance::InProcess($i) => $call,
            PluginInstance::Process($i) => $call,
        }
    };
}

impl PluginInstance {
    /// `in-process` or `process`.
    pub fn mode(&self) -> &'static str {
        match self {
            PluginInstance::InProcess(_) => "in-process",
            PluginInstance::Process(_) => "process",
        }
    }

    /// The plugin this is an instance of.
    pub fn handle(&self) -> &PluginHandle {
        both!(self, i => i.handle())
    }

    /// The instance's name in the configuration.
    pub fn instance_name(&self) -> &str {
        both!(self, i => i.instance_name())
    }

    /// ``kind `name` `` for messages.
    pub fn label(&self) -> &str {
        both!(self, i => i.label())
    }

    /// Why the instance is disabled (a panic in process; a dead runner
    /// isolated), if it is.
    pub fn disabled_reason(&self) -> Option<String> {
        match self {
            PluginInstance::InProcess(i) => i.disabled_reason().map(str::to_owned),
            PluginInstance::Process(p) => p.dead_reason(),
        }
    }

    /// Hook: a run started.
    pub fn run_start(&self, start: &RunStart<'_>) -> Result<(), CallError> {
        both!(self, i => i.run_start(start))
    }

    /// Hook: one event.
    pub fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), CallError> {
        both!(self, i => i.event(ctx, event))
    }

    /// Hook: a batch of events (one call, or one round trip isolated).
    pub fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), CallError> {
        both!(self, i => i.events(ctx, events))
    }

    /// Whether the plugin takes batches in one call (ABI 1.1 `events`).
    pub fn offers_batches(&self) -> bool {
        self.handle().offers().contains(&"events")
    }

    /// Hook: a run finished.
    pub fn run_complete(&self, result: &RunResult<'_>) -> Result<(), CallError> {
        both!(self, i => i.run_complete(result))
    }

    /// Hook: a run stopped.
    pub fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), CallError> {
        both!(self, i => i.run_stop(stop))
    }

    /// Hook: a stopped run resumed.
    pub fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), CallError> {
        both!(self, i => i.run_resume(resume))
    }

    /// Storage: lists runs.
    pub fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, CallError> {
        both!(self, i => i.list_runs(query))
    }

    /// Storage: the runs matching `query`, each handed to `sink` (isolated:
    /// once the runner has sent them all).
    pub fn list_runs_each(
        &self,
        query: &RunQuery<'_>,
        sink: &mut dyn FnMut(Run),
    ) -> Result<(), CallError> {
        match self {
            PluginInstance::InProcess(i) => i.list_runs_each(query, sink),
            PluginInstance::Process(p) => {
                p.list_runs(query)?.into_iter().for_each(sink);
                Ok(())
            }
        }
    }

    /// Storage: one run with its tasks.
    pub fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, CallError> {
        both!(self, i => i.run_details(run))
    }

    /// Storage: disk usage per project.
    pub fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, CallError> {
        both!(self, i => i.usage(query))
    }

    /// Storage: a page of a run's stored events.
    pub fn stored_events(&self, query: &EventQuery<'_>) -> Result<EventPage, CallError> {
        both!(self, i => i.stored_events(query))
    }

    /// Storage: deletes the named runs.
    pub fn delete_runs(&self, runs: &[&str]) -> Result<DeleteReport, CallError> {
        both!(self, i => i.delete_runs(runs))
    }

    /// Storage: history retention by age.
    pub fn expire(&self, request: &ExpireRequest) -> Result<ExpireReport, CallError> {
        both!(self, i => i.expire(request))
    }

    /// Status: decides a run's status.
    pub fn detect(&self, run: &Run) -> Result<StatusVerdict, CallError> {
        both!(self, i => i.detect(run))
    }

    /// Status: decides the status of each of `runs`, one result per run in
    /// order — isolated, in a few round trips rather than one per run.
    pub fn detect_many(&self, runs: &[Run]) -> Vec<Result<StatusVerdict, CallError>> {
        match self {
            PluginInstance::InProcess(i) => runs.iter().map(|r| i.detect(r)).collect(),
            PluginInstance::Process(p) => p.detect_many(runs),
        }
    }

    /// Status: refines a run's details.
    pub fn detect_details(&self, details: &RunDetails) -> Result<RunDetails, CallError> {
        both!(self, i => i.detect_details(details))
    }

    /// Retention: decides for every run of a group.
    pub fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, CallError> {
        both!(self, i => i.decide(input))
    }

    /// Reporter: renders a document.
    pub fn render(&self, doc: &Document<'_>) -> Result<String, CallError> {
        both!(self, i => i.render(doc))
    }

    /// Reporter: renders a document into `sink` (isolated: in one piece,
    /// once the runner has sent it).
    pub fn render_to(
        &self,
        doc: &Document<'_>,
        sink: &mut dyn FnMut(&str),
    ) -> Result<(), CallError> {
        match self {
            PluginInstance::InProcess(i) => i.render_to(doc, sink),
            PluginInstance::Process(p) => {
                sink(&p.render(doc)?);
                Ok(())
            }
        }
    }
}

/// What is needed to start a runner for one instance.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The runner program (the `otto-hooks` binary).
    pub program: &'a std::path::Path,
    /// The plugin, as the host loaded it (for its metadata; its code runs
    /// in the runner only).
    pub handle: PluginHandle,
    /// Its library, or `None` for a built-in plugin.
    pub library: Option<String>,
    /// The instance's name.
    pub instance: String,
    /// Its settings, as TOML (without the `isolation` key).
    pub settings: String,
    /// Its data directory.
    pub data_dir: String,
    /// The limits.
    pub limits: Limits,
}

/// An instance served by a runner process.
#[derive(Debug)]
pub struct ProcessInstance {
    handle: PluginHandle,
    label: String,
    instance_name: String,
    /// What the plugin offers, read once (the hooks it lacks cost no
    /// round trip).
    offers: Vec<&'static str>,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Alive(Runner),
    /// Why it is gone: every later call fails with this.
    Dead(String),
}

/// The host's ends of a runner's protocol pipes, without blocking: every
/// read and write waits in `poll` with the call's deadline, in the calling
/// thread (no thread hop per call, and a runner that stops reading or
/// writing cannot hold the host past the deadline).
#[derive(Debug)]
struct Runner {
    child: Child,
    /// The runner's input; `None` once closed.
    stdin: Option<ChildStdin>,
    /// The runner's output.
    stdout: ChildStdout,
    /// Bytes read from `stdout` and not yet taken as a frame.
    buffer: Vec<u8>,
    /// The id of the next request.
    next_id: u64,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Closes the runner's input: a healthy runner then exits.
    fn close_input(&mut self) {
        self.stdin.take();
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut()
            && let State::Alive(runner) = state
        {
            // Closing its input ends a healthy runner, which drops its
            // instance first (a storage flushes what it holds); one stuck
            // in a call is killed rather than waited for.
            runner.close_input();
            let deadline = Instant::now() + Duration::from_secs(2).min(self.limits.timeout);
            let mut pause = Duration::from_micros(100);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = runner.child.try_wait() {
                    return;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
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
        let label = format!("{} `{}`", launch.handle.kind(), launch.handle.name());
        let fail = |message: String| CallError {
            plugin: label.clone(),
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
        for fd in [stdin.as_fd(), stdout.as_fd()] {
            if let Err(e) = nonblocking(fd) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("cannot set up its isolated process: {e}")));
            }
        }
        let tail = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&tail);
        let stderr_reader = std::thread::spawn(move || keep_tail(stderr, &sink));
        let started = Instant::now();
        let instance = ProcessInstance {
            offers: launch.handle.offers(),
            instance_name: launch.instance.clone(),
            handle: launch.handle,
            label,
            limits: launch.limits,
            state: Mutex::new(State::Alive(Runner {
                child,
                stdin: Some(stdin),
                stdout,
                buffer: Vec::new(),
                next_id: 1,
                stderr: tail,
                stderr_reader: Some(stderr_reader),
            })),
        };
        let init = Request::Init {
            library: launch.library,
            kind: instance.handle.kind().to_string(),
            plugin: instance.handle.name().to_owned(),
            instance: launch.instance,
            settings: launch.settings,
            data_dir: launch.data_dir,
        };
        match instance.call(&init)? {
            Reply::Ready => {
                tracing::debug!(
                    plugin = %instance.label,
                    micros = started.elapsed().as_micros() as u64,
                    "isolated instance started"
                );
                Ok(instance)
            }
            other => Err(instance.unexpected(other)),
        }
    }

    /// The plugin this is an instance of.
    pub fn handle(&self) -> &PluginHandle {
        &self.handle
    }

    /// The instance's name in the configuration.
    pub fn instance_name(&self) -> &str {
        &self.instance_name
    }

    /// ``kind `name` `` for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The limits the runner was started with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Why the runner is gone, if it is.
    pub fn dead_reason(&self) -> Option<String> {
        match &*self.state.lock().ok()? {
            State::Dead(why) => Some(why.clone()),
            State::Alive(_) => None,
        }
    }

    fn offers(&self, entry: &str) -> bool {
        self.offers.contains(&entry)
    }

    /// A hook the plugin offers, as one round trip; one it lacks succeeds
    /// without any (as in process).
    fn hook(&self, entry: &str, request: &Request<'_>) -> Result<(), CallError> {
        if !self.offers(entry) {
            return Ok(());
        }
        self.expect_done(request)
    }

    fn expect_done(&self, request: &Request<'_>) -> Result<(), CallError> {
        match self.call(request)? {
            Reply::Done => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    /// Hook: a run started.
    pub fn run_start(&self, start: &RunStart<'_>) -> Result<(), CallError> {
        self.hook(
            "run_start",
            &Request::RunStart {
                start: start.into(),
            },
        )
    }

    /// Hook: one event (a batch of one).
    pub fn event(&self, ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), CallError> {
        self.events(ctx, std::slice::from_ref(event))
    }

    /// Hook: a batch of events, in one round trip (the runner delivers it
    /// as the plugin takes it: one `events` call, or one `event` each).
    pub fn events(&self, ctx: &HookContext<'_>, events: &[Event<'_>]) -> Result<(), CallError> {
        if !self.offers("events") && !self.offers("event") {
            return Ok(());
        }
        self.expect_done(&Request::Events {
            ctx: ctx.into(),
            events: events.iter().map(WireEvent::from).collect(),
        })
    }

    /// Hook: a run finished.
    pub fn run_complete(&self, result: &RunResult<'_>) -> Result<(), CallError> {
        self.hook(
            "run_complete",
            &Request::RunComplete {
                result: result.into(),
            },
        )
    }

    /// Hook: a run stopped.
    pub fn run_stop(&self, stop: &RunStop<'_>) -> Result<(), CallError> {
        self.hook("run_stop", &Request::RunStop { stop: stop.into() })
    }

    /// Hook: a stopped run resumed.
    pub fn run_resume(&self, resume: &RunResume<'_>) -> Result<(), CallError> {
        self.hook(
            "run_resume",
            &Request::RunResume {
                resume: resume.into(),
            },
        )
    }

    /// Storage: lists runs.
    pub fn list_runs(&self, query: &RunQuery<'_>) -> Result<Vec<Run>, CallError> {
        match self.call(&Request::ListRuns {
            query: query.into(),
        })? {
            Reply::Runs { runs } => Ok(runs),
            other => Err(self.unexpected(other)),
        }
    }

    /// Storage: one run with its tasks.
    pub fn run_details(&self, run: &HookContext<'_>) -> Result<RunDetails, CallError> {
        match self.call(&Request::RunDetails { ctx: run.into() })? {
            Reply::Details { details } => Ok(*details),
            other => Err(self.unexpected(other)),
        }
    }

    /// Storage: disk usage per project.
    pub fn usage(&self, query: &RunQuery<'_>) -> Result<Vec<ProjectUsage>, CallError> {
        match self.call(&Request::Usage {
            query: query.into(),
        })? {
            Reply::Usage { projects } => Ok(projects),
            other => Err(self.unexpected(other)),
        }
    }

    /// Storage: a page of a run's stored events.
    pub fn stored_events(&self, query: &EventQuery<'_>) -> Result<EventPage, CallError> {
        match self.call(&Request::StoredEvents {
            query: query.into(),
        })? {
            Reply::Page { page } => Ok(page),
            other => Err(self.unexpected(other)),
        }
    }

    /// Storage: deletes the named runs.
    pub fn delete_runs(&self, runs: &[&str]) -> Result<DeleteReport, CallError> {
        let runs = runs.iter().map(|r| (*r).into()).collect();
        match self.call(&Request::DeleteRuns { runs })? {
            Reply::Deleted { report } => Ok(report),
            other => Err(self.unexpected(other)),
        }
    }

    /// Storage: history retention by age.
    pub fn expire(&self, request: &ExpireRequest) -> Result<ExpireReport, CallError> {
        match self.call(&Request::Expire { request: *request })? {
            Reply::Expired { report } => Ok(report),
            other => Err(self.unexpected(other)),
        }
    }

    /// Status: decides a run's status.
    pub fn detect(&self, run: &Run) -> Result<StatusVerdict, CallError> {
        match self.call(&Request::Detect {
            run: std::borrow::Cow::Borrowed(run),
        })? {
            Reply::Verdict { verdict } => Ok(verdict),
            other => Err(self.unexpected(other)),
        }
    }

    /// Status: the verdicts of `runs`, a batch per round trip. A runner
    /// that dies fails the runs of its batch and every later one.
    pub fn detect_many(&self, runs: &[Run]) -> Vec<Result<StatusVerdict, CallError>> {
        let mut verdicts = Vec::with_capacity(runs.len());
        for batch in runs.chunks(DETECT_BATCH) {
            let request = Request::DetectMany {
                runs: std::borrow::Cow::Borrowed(batch),
            };
            match self.call(&request) {
                Ok(Reply::Verdicts { verdicts: got }) if got.len() == batch.len() => {
                    verdicts.extend(got.into_iter().map(|v| {
                        v.map_err(|(code, message)| {
                            self.fail(ErrorKind::from_code(ErrorCode(code)), message)
                        })
                    }));
                }
                Ok(Reply::Verdicts { verdicts: got }) => {
                    let e = self.fail(
                        ErrorKind::Failed,
                        format!(
                            "its isolated process answered {} verdicts for {} runs",
                            got.len(),
                            batch.len()
                        ),
                    );
                    verdicts.extend(batch.iter().map(|_| Err(e.clone())));
                }
                Ok(other) => {
                    let e = self.unexpected(other);
                    verdicts.extend(batch.iter().map(|_| Err(e.clone())));
                }
                Err(e) => verdicts.extend(batch.iter().map(|_| Err(e.clone()))),
            }
        }
        verdicts
    }

    /// Status: refines a run's details.
    pub fn detect_details(&self, details: &RunDetails) -> Result<RunDetails, CallError> {
        match self.call(&Request::DetectDetails {
            details: std::borrow::Cow::Borrowed(details),
        })? {
            Reply::Details { details } => Ok(*details),
            other => Err(self.unexpected(other)),
        }
    }

    /// Retention: decides for every run of a group, in the runner.
    pub fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, CallError> {
        let request = Request::Decide {
            group: input.group.into(),
            now: input.now,
            runs: std::borrow::Cow::Borrowed(input.runs),
        };
        match self.call(&request)? {
            Reply::Decisions { decisions } => Ok(decisions),
            other => Err(self.unexpected(other)),
        }
    }

    /// Reporter: renders a document.
    pub fn render(&self, doc: &Document<'_>) -> Result<String, CallError> {
        match self.call(&Request::Render {
            kind: doc.kind,
            json: doc.json.into(),
        })? {
            Reply::Text { text } => Ok(text),
            other => Err(self.unexpected(other)),
        }
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
                format!(
                    "its isolated process sent an unexpected reply ({})",
                    one_line(&format!("{other:?}"))
                        .chars()
                        .take(120)
                        .collect::<String>()
                ),
            ),
        }
    }

    /// Sends `request` and waits for the reply within the timeout. Any
    /// failure of the runner itself kills it and marks the instance dead.
    fn call(&self, request: &Request<'_>) -> Result<Reply, CallError> {
        let what = request.name();
        let mut state = self
            .state
            .lock()
            .map_err(|_| self.fail(ErrorKind::Failed, "its isolated process is unusable".into()))?;
        let runner = match &mut *state {
            // The same line as the call that saw it die: a caller that
            // collects warnings shows it once.
            State::Dead(why) => return Err(self.fail(ErrorKind::Failed, why.clone())),
            State::Alive(runner) => runner,
        };
        let started = Instant::now();
        let why = match exchange(runner, request, self.limits.timeout) {
            Ok(reply) => {
                tracing::debug!(
                    plugin = %self.label,
                    call = what,
                    micros = started.elapsed().as_micros() as u64,
                    "isolated call"
                );
                return Ok(reply);
            }
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
                runner.close_input();
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
        runner.close_input();
        *state = State::Dead(why.clone());
        Err(self.fail(ErrorKind::Failed, why))
    }
}

enum Trouble {
    TimedOut,
    Garbage(String),
    Gone,
}

/// One request and its reply: the reply is the first frame that carries
/// the request's id. A frame about an earlier request (its answer came
/// after its call gave up) is dropped; one about a request never sent is a
/// protocol violation.
fn exchange(
    runner: &mut Runner,
    request: &Request<'_>,
    timeout: Duration,
) -> Result<Reply, Trouble> {
    let deadline = Instant::now() + timeout;
    let id = runner.next_id;
    runner.next_id += 1;
    let body = serde_json::to_vec(request).map_err(|e| Trouble::Garbage(e.to_string()))?;
    let len = u32::try_from(body.len() + 8)
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| Trouble::Garbage("a request too large to send".into()))?;
    let mut frame = Vec::with_capacity(body.len() + 12);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&id.to_le_bytes());
    frame.extend_from_slice(&body);
    drop(body);
    let Some(stdin) = runner.stdin.as_mut() else {
        return Err(Trouble::Gone);
    };
    write_all_by(stdin, &frame, deadline)?;
    drop(frame);
    loop {
        let (got, bytes) = read_frame_by(runner, deadline)?;
        if got == id {
            return serde_json::from_slice::<Reply>(&bytes)
                .map_err(|e| Trouble::Garbage(one_line(&e.to_string())));
        }
        if got > id {
            return Err(Trouble::Garbage(format!(
                "a reply to request {got}, which was never sent"
            )));
        }
        tracing::debug!(late = got, waiting = id, "dropped a late plugin reply");
    }
}

/// Makes `fd` non-blocking: the host waits in `poll`, with a deadline.
fn nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> rustix::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)
}

/// Waits until `fd` is ready for `flags`, or the deadline.
fn wait_for(
    fd: impl AsFd,
    flags: rustix::event::PollFlags,
    deadline: Instant,
) -> Result<(), Trouble> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Trouble::TimedOut);
        }
        let timeout = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(&fd, flags)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            // Ready, or an error or hang-up the next read or write reports.
            Ok(n) if n > 0 => return Ok(()),
            Ok(_) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Err(Trouble::Gone),
        }
    }
}

/// Writes all of `bytes` to the runner's input by the deadline.
fn write_all_by(
    stdin: &mut ChildStdin,
    mut bytes: &[u8],
    deadline: Instant,
) -> Result<(), Trouble> {
    while !bytes.is_empty() {
        match stdin.write(bytes) {
            Ok(0) => return Err(Trouble::Gone),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_for(&*stdin, rustix::event::PollFlags::OUT, deadline)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Trouble::Gone),
        }
    }
    Ok(())
}

/// Reads the runner's next frame by the deadline: its request id and body.
fn read_frame_by(runner: &mut Runner, deadline: Instant) -> Result<(u64, Vec<u8>), Trouble> {
    loop {
        if runner.buffer.len() >= 12 {
            let mut len = [0u8; 4];
            len.copy_from_slice(&runner.buffer[..4]);
            let len = u32::from_le_bytes(len);
            if !(8..=MAX_FRAME).contains(&len) {
                return Err(Trouble::Garbage(format!(
                    "a frame of {len} bytes (not within 8 to {MAX_FRAME})"
                )));
            }
            let end = 4 + len as usize;
            if runner.buffer.len() >= end {
                let mut id = [0u8; 8];
                id.copy_from_slice(&runner.buffer[4..12]);
                let body = runner.buffer[12..end].to_vec();
                runner.buffer.drain(..end);
                return Ok((u64::from_le_bytes(id), body));
            }
        }
        let mut chunk = [0u8; 64 * 1024];
        match runner.stdout.read(&mut chunk) {
            Ok(0) => return Err(Trouble::Gone),
            Ok(n) => runner.buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_for(&runner.stdout, rustix::event::PollFlags::IN, deadline)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Trouble::Garbage(one_line(&e.to_string()))),
        }
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

    /// A runner that answers with `frames` (written up front), then
    /// stays silent for a while; its input takes the requests.
    fn fake_runner(frames: &[(u64, Reply)]) -> (Runner, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("replies");
        let mut bytes = Vec::new();
        for (id, reply) in frames {
            super::super::isolation::write_frame(&mut bytes, *id, reply).expect("encode");
        }
        std::fs::write(&file, bytes).expect("write");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("cat \"$0\"; exec sleep 30")
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        nonblocking(stdout.as_fd()).expect("non-blocking");
        let runner = Runner {
            child,
            stdin,
            stdout,
            buffer: Vec::new(),
            next_id: 1,
            stderr: Arc::new(Mutex::new(Vec::new())),
            stderr_reader: None,
        };
        (runner, dir)
    }

    fn render() -> Request<'static> {
        Request::Render {
            kind: otto_hooks_plugin_api::DocumentKind::RunList,
            json: "[]".into(),
        }
    }

    fn text(s: &str) -> Reply {
        Reply::Text { text: s.into() }
    }

    #[test]
    fn a_late_reply_to_an_earlier_request_is_dropped_and_the_waiting_call_gets_its_own() {
        // The answer to request 6 came after its call gave up; then 7's.
        let (mut runner, _dir) = fake_runner(&[(6, text("late")), (7, text("mine"))]);
        runner.next_id = 7;
        match exchange(&mut runner, &render(), Duration::from_secs(20)) {
            Ok(Reply::Text { text }) => assert_eq!(text, "mine"),
            Ok(other) => panic!("{other:?}"),
            Err(_) => panic!("the call failed"),
        }
        assert_eq!(runner.next_id, 8);
        let _ = runner.child.kill();
        let _ = runner.child.wait();
    }

    #[test]
    fn only_late_replies_time_the_call_out() {
        let (mut runner, _dir) = fake_runner(&[(2, Reply::Done)]);
        runner.next_id = 3;
        assert!(matches!(
            exchange(&mut runner, &render(), Duration::from_millis(300)),
            Err(Trouble::TimedOut)
        ));
        let _ = runner.child.kill();
        let _ = runner.child.wait();
    }

    #[test]
    fn a_reply_to_a_request_never_sent_is_garbage() {
        let (mut runner, _dir) = fake_runner(&[(9, Reply::Done)]);
        runner.next_id = 4;
        match exchange(&mut runner, &render(), Duration::from_secs(20)) {
            Err(Trouble::Garbage(detail)) => {
                assert!(
                    detail.contains("request 9, which was never sent"),
                    "{detail}"
                )
            }
            _ => panic!("not refused"),
        }
        let _ = runner.child.kill();
        let _ = runner.child.wait();
    }

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
