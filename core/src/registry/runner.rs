//! `otto-hooks __plugin-runner`: the child side of process isolation.
//!
//! The runner sets its resource limits first, keeps private copies of its
//! stdin and stdout for the protocol (so that a plugin printing on stdout
//! cannot corrupt a frame: fd 1 becomes a copy of stderr, fd 0
//! `/dev/null`), closes every other descriptor it inherited, then loads the
//! library through [`super::load_library`] — the very trust, ELF and ABI
//! checks of an in-process load — and serves [`Request`]s until its input
//! ends.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::ExitCode;

use otto_hooks_plugin_api::host::{Instance, PluginHandle};
use otto_hooks_plugin_api::{ErrorKind, PluginKind, RetentionInput};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use super::Registry;
use super::isolation::{Reply, Request, read_frame, write_frame};

/// The runner's `main`: `args` are what follows `__plugin-runner`
/// (`--memory BYTES --cpu SECONDS`). Exit 0 when the host closes the pipe,
/// 2 on a setup or protocol error (reported on stderr, one line).
pub fn main(args: &[String]) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otto-hooks plugin runner: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let (memory, cpu) = parse_args(args)?;
    limit(Resource::As, memory, memory)?;
    // SIGXCPU at the soft limit, SIGKILL one second later: a backstop for
    // a host that could not kill us on its timeout.
    limit(Resource::Cpu, cpu, cpu + 1)?;
    let (input, output) = take_stdio()?;
    close_inherited(&[input.as_raw_fd(), output.as_raw_fd()]);
    let mut input = BufReader::new(File::from(input));
    let mut output = BufWriter::new(File::from(output));

    let Some(first) = read_frame(&mut input).map_err(|e| format!("reading: {e}"))? else {
        return Ok(());
    };
    let instance = match serde_json::from_slice::<Request>(&first) {
        Ok(Request::Init {
            library,
            kind,
            plugin,
            instance,
            settings,
            data_dir,
        }) => create(
            library.as_deref(),
            &kind,
            &plugin,
            &instance,
            &settings,
            &data_dir,
        ),
        Ok(_) => return Err("the first request was not `init`".into()),
        Err(e) => return Err(format!("a malformed request: {e}")),
    };
    let instance = match instance {
        Ok(instance) => {
            reply(&mut output, &Reply::Ready)?;
            instance
        }
        Err((kind, message)) => {
            reply(&mut output, &Reply::error(kind, message))?;
            return Ok(());
        }
    };
    while let Some(frame) = read_frame(&mut input).map_err(|e| format!("reading: {e}"))? {
        let answer = match serde_json::from_slice::<Request>(&frame) {
            Ok(Request::Decide { group, now, runs }) => {
                match instance.decide(&RetentionInput {
                    group: &group,
                    now,
                    runs: &runs,
                }) {
                    Ok(decisions) => Reply::Decisions { decisions },
                    Err(e) => Reply::error(e.kind, e.message),
                }
            }
            Ok(Request::Init { .. }) => return Err("a second `init`".into()),
            Err(e) => return Err(format!("a malformed request: {e}")),
        };
        reply(&mut output, &answer)?;
    }
    Ok(())
}

fn reply(output: &mut BufWriter<File>, reply: &Reply) -> Result<(), String> {
    write_frame(output, reply).map_err(|e| format!("writing: {e}"))
}

fn parse_args(args: &[String]) -> Result<(u64, u64), String> {
    let mut memory = None;
    let mut cpu = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("`{flag}` needs a number"))?;
        match flag.as_str() {
            "--memory" => memory = Some(value),
            "--cpu" => cpu = Some(value),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    match (memory, cpu) {
        (Some(m), Some(c)) => Ok((m, c)),
        _ => Err("usage: __plugin-runner --memory BYTES --cpu SECONDS".into()),
    }
}

/// Sets `resource` to `soft`/`hard`, or to the limits already in force
/// where those are lower (a process may not raise its hard limit).
fn limit(resource: Resource, soft: u64, hard: u64) -> Result<(), String> {
    let current = getrlimit(resource);
    let hard = current.maximum.map_or(hard, |m| m.min(hard));
    let soft = soft.min(hard);
    setrlimit(
        resource,
        Rlimit {
            current: Some(soft),
            maximum: Some(hard),
        },
    )
    .map_err(|e| format!("cannot set the {resource:?} limit: {e}"))
}

/// Moves the protocol to private descriptors and points fd 0 at
/// `/dev/null` and fd 1 at stderr.
fn take_stdio() -> Result<(OwnedFd, OwnedFd), String> {
    let err = |e: rustix::io::Errno| format!("cannot set up the protocol descriptors: {e}");
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let input = rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3).map_err(err)?;
    let output = rustix::io::fcntl_dupfd_cloexec(stdout.as_fd(), 3).map_err(err)?;
    let null = File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
    // SAFETY: fds 0 and 1 are open (we just duplicated them); wrapped in
    // ManuallyDrop so that they are replaced, never closed, here.
    let mut fd0 = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(0) });
    let mut fd1 = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(1) });
    rustix::io::dup2(&null, &mut fd0).map_err(err)?;
    rustix::io::dup2(std::io::stderr().as_fd(), &mut fd1).map_err(err)?;
    Ok((input, output))
}

/// Closes every descriptor above 2 but `keep`: nothing the host had open
/// reaches the plugin.
fn close_inherited(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    // The listing's own descriptor is among `fds` and closed by now:
    // only those still open are closed.
    for fd in fds {
        // SAFETY: `fd` is only borrowed for one fcntl; an fd closed since
        // the listing makes it fail with EBADF, nothing else.
        let open = rustix::io::fcntl_getfd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
        if open.is_ok() {
            // SAFETY: an open descriptor nothing in this process owns yet
            // (the runner has opened nothing but `keep` and stdio).
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

fn create(
    library: Option<&str>,
    kind: &str,
    plugin: &str,
    instance: &str,
    settings: &str,
    data_dir: &str,
) -> Result<Instance, (ErrorKind, String)> {
    let invalid = |m: String| (ErrorKind::Invalid, m);
    let kind: PluginKind = match kind {
        "retention" => PluginKind::Retention,
        other => return Err(invalid(format!("cannot isolate {other} plugins"))),
    };
    let settings: toml::Table = settings
        .parse()
        .map_err(|e| invalid(format!("bad settings: {e}")))?;
    let handle: PluginHandle = match library {
        Some(path) => super::load_library(Path::new(path))
            .map_err(|e| invalid(format!("{path}: refused: {e}")))?
            .into_iter()
            .find(|h| h.kind() == kind && h.name() == plugin)
            .ok_or_else(|| invalid(format!("{path} has no {kind} plugin `{plugin}`")))?,
        None => Registry::with_builtins()
            .find(kind, plugin)
            .map(|r| r.handle.clone())
            .ok_or_else(|| invalid(format!("no built-in {kind} plugin `{plugin}`")))?,
    };
    handle
        .instantiate(instance, &settings, data_dir)
        .map_err(|e| (e.kind, e.message))
}
