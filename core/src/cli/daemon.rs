//! `otto-hooks daemon start | stop | restart | status | logs | open`.

use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::client::DaemonFiles;
use crate::daemon::control::{self, Listen, Serving, Stopped};
use crate::daemon::{
    AuthMode, ConnectionLimits, DAEMON_STOP_DEADLINE, DEFAULT_INSIGHTS_WARM_EVERY,
    DEFAULT_MAX_BODY_BYTES, Schedule, ServerOptions,
};

/// The history daemon.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon (in the background unless --foreground); returns once it answers.
    #[command(
        after_help = "Examples:\n  otto-hooks daemon start\n  otto-hooks daemon start --port 9090\n  otto-hooks daemon start --foreground    # under systemd, a container, or to watch it"
    )]
    Start(StartArgs),
    /// Stop it gracefully: stop accepting, finish what was acknowledged, checkpoint.
    Stop,
    /// Stop it (if it runs), then start it.
    Restart(StartArgs),
    /// Whether it runs: pid, port, uptime, database, runs recorded, events/s.
    Status {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Open the history web UI in a browser (starting the daemon if needed).
    #[command(
        after_help = "Examples:\n  otto-hooks daemon open\n  otto-hooks ui --no-browser     # print the URL only\n\nThe browser is $BROWSER when set, else xdg-open (open on macOS). Without one,\nthe URL is printed."
    )]
    Open(OpenArgs),
    /// Its log.
    Logs {
        /// The last N lines.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
        lines: usize,
        /// Keep printing what it logs (Ctrl-C to stop).
        #[arg(short, long)]
        follow: bool,
    },
}

/// `daemon open` / `ui`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Print the URL (on stdout) without opening a browser.
    #[arg(long)]
    pub no_browser: bool,
}

/// `daemon start` / `restart`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The port [config: daemon.port, default 8080].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// The address to listen on [config: daemon.bind, default 127.0.0.1].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Run in this process, logging to stderr, until SIGTERM or Ctrl-C.
    #[arg(long)]
    pub foreground: bool,
}

impl StartArgs {
    fn listen(&self, ctx: &Context) -> Listen {
        Listen {
            bind: self.bind.unwrap_or_else(|| configured_bind(ctx)),
            port: self.port.unwrap_or_else(|| configured_port(ctx)),
        }
    }
}

/// `[daemon] port`.
pub(crate) fn configured_port(ctx: &Context) -> u16 {
    u16::try_from(ctx.config.setting_int("daemon.port")).unwrap_or(8080)
}

/// `[daemon] bind`.
pub(crate) fn configured_bind(ctx: &Context) -> IpAddr {
    ctx.config
        .setting_str("daemon.bind")
        .and_then(|b| b.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

pub(super) fn run(ctx: &Context, cmd: DaemonCommand) -> CmdResult {
    let files = DaemonFiles::new(&ctx.hooks_home);
    match cmd {
        DaemonCommand::Start(args) if args.foreground => foreground(ctx, &files, &args),
        DaemonCommand::Start(args) => start(ctx, &files, &args),
        DaemonCommand::Stop => stop(ctx, &files),
        DaemonCommand::Restart(args) => {
            stop(ctx, &files)?;
            if args.foreground {
                foreground(ctx, &files, &args)
            } else {
                start(ctx, &files, &args)
            }
        }
        DaemonCommand::Status { json } => status(&files, json),
        DaemonCommand::Logs { lines, follow } => logs(&files, lines, follow),
        DaemonCommand::Open(args) => open(ctx, &files, &args),
    }
}

/// The web UI's address for a daemon listening on `addr`: a wildcard
/// address is reached through 127.0.0.1 (the Host rule accepts it).
pub(crate) fn ui_url(addr: std::net::SocketAddr) -> String {
    let ip = addr.ip();
    let host = if ip.is_unspecified() || ip.is_loopback() {
        if ip.is_ipv6() && !ip.is_unspecified() {
            "[::1]".to_owned()
        } else {
            "127.0.0.1".to_owned()
        }
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{host}:{}/", addr.port())
}

/// `daemon open` / `ui`: starts the daemon when it is not running, prints
/// the UI's URL on stdout and opens it in the user's browser.
pub(super) fn open(ctx: &Context, files: &DaemonFiles, args: &OpenArgs) -> CmdResult {
    if files.running_addr().is_none() {
        start(
            ctx,
            files,
            &StartArgs {
                port: None,
                bind: None,
                foreground: false,
            },
        )?;
    }
    let addr = files
        .running_addr()
        .ok_or_else(|| Failure::failed("the history daemon is not running and did not start"))?;
    let url = ui_url(addr);
    write_stdout(&format!("{url}\n"))?;
    if args.no_browser {
        return Ok(exit::OK);
    }
    match launch_browser(&url) {
        Ok(how) => {
            if !ctx.quiet {
                eprintln!("opened the history UI with {how}");
            }
        }
        Err(why) => eprintln!("no browser opened ({why}); open {url} yourself"),
    }
    Ok(exit::OK)
}

/// Opens `url` with `$BROWSER` (a `:`-separated list; `%s` stands for the
/// URL) or the desktop's opener. The browser runs detached; its output is
/// discarded. Returns the program used.
fn launch_browser(url: &str) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(list) = std::env::var("BROWSER") {
        for entry in list.split(':').map(str::trim).filter(|e| !e.is_empty()) {
            let mut words = entry.split_whitespace().map(str::to_owned);
            let Some(program) = words.next() else {
                continue;
            };
            let mut args: Vec<String> = words.collect();
            if args.iter().any(|a| a.contains("%s")) {
                args = args.into_iter().map(|a| a.replace("%s", url)).collect();
            } else {
                args.push(url.to_owned());
            }
            candidates.push((program, args));
        }
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    candidates.push((opener.to_owned(), vec![url.to_owned()]));
    let mut tried = Vec::new();
    for (program, args) in candidates {
        let spawned = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tried.push(format!("{program}: {e}"));
                continue;
            }
        };
        // An opener (xdg-open) exits at once, non-zero when it found no
        // browser; a browser keeps running. Either way, decide within 2 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(program),
                Ok(Some(status)) => {
                    tried.push(format!("{program}: {status}"));
                    break;
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Ok(None) => return Ok(program),
                Err(e) => {
                    tried.push(format!("{program}: {e}"));
                    break;
                }
            }
        }
    }
    Err(tried.join("; "))
}

fn start(ctx: &Context, files: &DaemonFiles, args: &StartArgs) -> CmdResult {
    let running = super::daemon_notice::start_announced(files, &args.listen(ctx), false)
        .map_err(Failure::failed)?;
    // When it started, the started line and the schedule were announced.
    if !ctx.quiet && running.already {
        let url = files
            .running_addr()
            .map_or_else(|| format!("port {}", running.port), ui_url);
        eprintln!(
            "the history daemon already runs (pid {}, {url})",
            running.pid
        );
    }
    Ok(exit::OK)
}

/// Serves in this process until SIGTERM or Ctrl-C.
fn foreground(ctx: &Context, files: &DaemonFiles, args: &StartArgs) -> CmdResult {
    let listen = args.listen(ctx);
    let serving = Serving::prepare(files, &listen).map_err(Failure::failed)?;
    let db_path = otto_hooks_sqlite::db_path(None, &ctx.hooks_home);
    let pass_ctx = Context {
        hooks_home: ctx.hooks_home.clone(),
        config: ctx.config.clone(),
        quiet: true,
        reporter: None,
        color: ctx.color,
        homes: Default::default(),
    };
    let interval = ctx.config.setting_duration("policies.interval");
    let pass_db = db_path.clone();
    // Announced before the daemon answers: whoever started it reads this
    // line back from the log and repeats it (nothing deletes silently).
    let scheduled = match super::daemon_notice::schedule_line(ctx) {
        Some(line) => {
            eprintln!("{line}");
            true
        }
        None => {
            eprintln!(
                "otto-hooks: no scheduled clean (`[policies] daemon = false`): the daemon deletes nothing by itself"
            );
            false
        }
    };
    let auth = ctx
        .config
        .setting_str("daemon.auth")
        .map_or(Ok(AuthMode::Token), AuthMode::parse)
        .map_err(Failure::failed)?;
    // `[storage] plugin = "postgres"`: serve the team's database instead.
    let team =
        crate::daemon::team::configured(&ctx.config, &ctx.hooks_home).map_err(Failure::usage)?;
    let database = team
        .as_ref()
        .map_or_else(|| db_path.display().to_string(), |t| t.location.clone());
    // The insights cache the CLI's `stats` and `flaky` use: the daemon reads
    // history.db through it and keeps it warm. A PostgreSQL history is read
    // without it (its windows are folded from events, not day blocks).
    let insights_cache = team.is_none().then(|| ctx.hooks_home.join("insights"));
    let (open_store, pass_spec) = match team {
        Some(t) => (Some(t.open), Some(t.spec)),
        None => (None, None),
    };
    let options = ServerOptions {
        db_path: db_path.clone(),
        token: serving.token.clone(),
        auth,
        unix_listener: serving.unix.as_ref().and_then(|l| l.try_clone().ok()),
        redactor: crate::hooks::configured_redactor(&ctx.config),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        schedule: scheduled.then(|| Schedule {
            interval,
            pass: Box::new(move || match &pass_spec {
                Some(spec) => super::retention::scheduled_pass_on(&pass_ctx, spec.clone()),
                None => super::retention::scheduled_pass(&pass_ctx, &pass_db),
            }),
        }),
        limits: ConnectionLimits::default(),
        open_store,
        insights_cache,
        insights_warm_every: DEFAULT_INSIGHTS_WARM_EVERY,
        stop_deadline: Some(DAEMON_STOP_DEADLINE),
    };
    let listener = serving
        .listener
        .try_clone()
        .map_err(|e| Failure::failed(format!("cannot use the listening socket: {e}")))?;
    tracing::info!(
        pid = std::process::id(),
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        database = %database,
        auth = auth.as_str(),
        policies_every = ?interval,
        "history daemon serving"
    );
    let result = crate::daemon::serve(options, listener, shutdown_signal());
    drop(serving);
    match result {
        Ok(()) => {
            tracing::info!("history daemon stopped");
            Ok(exit::OK)
        }
        Err(e) => Err(Failure::failed(e)),
    }
}

/// Resolves at SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the daemon with kill -9");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

fn stop(ctx: &Context, files: &DaemonFiles) -> CmdResult {
    let stopped = control::stop(files).map_err(Failure::failed)?;
    if !ctx.quiet {
        match stopped {
            Stopped::Stopped(pid) => eprintln!("history daemon stopped (pid {pid})"),
            Stopped::Stale(pid) => eprintln!(
                "the history daemon was not running (removed a stale pid file naming pid {pid})"
            ),
            Stopped::NotRunning => eprintln!("the history daemon was not running"),
        }
    }
    Ok(exit::OK)
}

fn status(files: &DaemonFiles, json: bool) -> CmdResult {
    let Some((pid, port, client)) = control::running(files) else {
        let stale = files.recorded_pid().filter(|_| files.live_pid().is_none());
        if json {
            write_stdout(&format!(
                "{}\n",
                serde_json::json!({"running": false, "stale_pid": stale})
            ))?;
        } else {
            match stale {
                Some(pid) => println!(
                    "not running (a stale pid file names pid {pid}; `otto-hooks daemon start` replaces it)"
                ),
                None => println!("not running"),
            }
        }
        return Ok(exit::FAILURES);
    };
    let health = client
        .health()
        .map_err(|e| Failure::failed(e.to_string()))?;
    if json {
        let doc = serde_json::json!({
            "running": true,
            "pid": pid,
            "port": port,
            "url": client.base(),
            "uptime_seconds": health.uptime_seconds,
            "database": health.database,
            "runs": health.runs,
            "events_per_second": health.events_per_second,
            "version": health.version,
        });
        write_stdout(&format!("{doc}\n"))?;
    } else {
        let uptime = otto_hooks_reporters::format::human_duration(health.uptime_seconds.max(0.0));
        write_stdout(&format!(
            "running: pid {pid}, {}\nuptime:   {uptime}\ndatabase: {}\nruns:     {}\nevents/s: {:.1} (last 10 s)\nlog:      {}\n",
            client.base(),
            health.database,
            health.runs,
            health.events_per_second,
            files.log().display()
        ))?;
    }
    Ok(exit::OK)
}

fn logs(files: &DaemonFiles, lines: usize, follow: bool) -> CmdResult {
    let path = files.log();
    match control::tail(&path, lines) {
        Ok(text) => write_stdout(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => {
            return Err(Failure::failed(format!(
                "no log yet at {} (the daemon has never run here)",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
    if !follow {
        return Ok(exit::OK);
    }
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let stdout_is_tty = std::io::stdout().is_terminal();
    loop {
        std::thread::sleep(Duration::from_millis(if stdout_is_tty { 200 } else { 100 }));
        let Ok(mut file) = crate::own_files::open(&path, crate::own_files::Access::Read, None)
        else {
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0; // rotated or truncated
        }
        if len == offset {
            continue;
        }
        let mut new = Vec::new();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_to_end(&mut new))
            .map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
        offset += new.len() as u64;
        write_stdout(&String::from_utf8_lossy(&new))?;
    }
}
