//! `otto-hooks __plugin-runner`: the child side of process isolation.
//!
//! The runner sets its resource limits first, keeps private copies of its
//! stdin and stdout for the protocol (so that a plugin printing on stdout
//! cannot corrupt a frame: fd 1 becomes a copy of stderr, fd 0
//! `/dev/null`), closes every other descriptor it inherited, then loads the
//! library through [`super::load_library`] — the very trust, ELF and ABI
//! checks of an in-process load — and serves [`Request`]s of every plugin
//! kind until its input ends, answering each with its request's id.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::ExitCode;

use otto_hooks_plugin_api::host::{CallError, Instance, PluginHandle};
use otto_hooks_plugin_api::{Document, ErrorKind, PluginKind, RetentionInput};
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

    let Some((id, first)) = read_frame(&mut input).map_err(|e| format!("reading: {e}"))? else {
        return Ok(());
    };
    let instance = match serde_json::from_slice::<Request<'static>>(&first) {
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
            reply(&mut output, id, &Reply::Ready)?;
            instance
        }
        Err((kind, message)) => {
            reply(&mut output, id, &Reply::error(kind, message))?;
            return Ok(());
        }
    };
    while let Some((id, frame)) = read_frame(&mut input).map_err(|e| format!("reading: {e}"))? {
        let request = match serde_json::from_slice::<Request<'static>>(&frame) {
            Ok(Request::Init { .. }) => return Err("a second `init`".into()),
            Ok(request) => request,
            Err(e) => return Err(format!("a malformed request: {e}")),
        };
        reply(&mut output, id, &answer(&instance, request))?;
    }
    Ok(())
}

/// Makes the call `request` asks for; its result (or its error) is the
/// reply.
fn answer(instance: &Instance, request: Request<'_>) -> Reply {
    let result = match request {
        Request::Init { .. } => Err(CallError {
            plugin: instance.label().to_owned(),
            kind: ErrorKind::Invalid,
            message: "a second `init`".into(),
        }),
        Request::Decide { group, now, runs } => instance
            .decide(&RetentionInput {
                group: &group,
                now,
                runs: &runs,
            })
            .map(|decisions| Reply::Decisions { decisions }),
        Request::RunStart { start } => instance.run_start(&start.view()).map(|()| Reply::Done),
        Request::Events { ctx, events } => {
            let events: Vec<_> = events.iter().map(|e| e.view()).collect();
            instance.events(&ctx.view(), &events).map(|()| Reply::Done)
        }
        Request::RunComplete { result } => {
            instance.run_complete(&result.view()).map(|()| Reply::Done)
        }
        Request::RunStop { stop } => instance.run_stop(&stop.view()).map(|()| Reply::Done),
        Request::RunResume { resume } => instance.run_resume(&resume.view()).map(|()| Reply::Done),
        Request::ListRuns { query } => instance
            .list_runs(&query.view())
            .map(|runs| Reply::Runs { runs }),
        Request::RunDetails { ctx } => {
            instance
                .run_details(&ctx.view())
                .map(|details| Reply::Details {
                    details: Box::new(details),
                })
        }
        Request::Usage { query } => instance
            .usage(&query.view())
            .map(|projects| Reply::Usage { projects }),
        Request::StoredEvents { query } => instance
            .stored_events(&query.view())
            .map(|page| Reply::Page { page }),
        Request::DeleteRuns { runs } => {
            let runs: Vec<&str> = runs.iter().map(|r| r.as_ref()).collect();
            instance
                .delete_runs(&runs)
                .map(|report| Reply::Deleted { report })
        }
        Request::Expire { request } => instance
            .expire(&request)
            .map(|report| Reply::Expired { report }),
        Request::Detect { run } => instance
            .detect(&run)
            .map(|verdict| Reply::Verdict { verdict }),
        Request::DetectMany { runs } => Ok(Reply::Verdicts {
            verdicts: runs
                .iter()
                .map(|run| {
                    instance
                        .detect(run)
                        .map_err(|e| (e.kind.code().0, e.message))
                })
                .collect(),
        }),
        Request::DetectDetails { details } => {
            instance
                .detect_details(&details)
                .map(|details| Reply::Details {
                    details: Box::new(details),
                })
        }
        Request::Render { kind, json } => instance
            .render(&Document { kind, json: &json })
            .map(|text| Reply::Text { text }),
    };
    result.unwrap_or_else(|e| Reply::error(e.kind, e.message))
}

fn reply(output: &mut BufWriter<File>, id: u64, reply: &Reply) -> Result<(), String> {
    write_frame(output, id, reply).map_err(|e| format!("writing: {e}"))
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
    let kind: PluginKind = match kind.parse() {
        Ok(PluginKind::Unknown) | Err(_) => {
            return Err(invalid(format!("cannot isolate {kind} plugins")));
        }
        Ok(kind) => kind,
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
