//! The `otto-hooks` command line: parse, call the library, render.
//!
//! Conventions (see ARCHITECTURE.md): results on stdout (`--json` prints
//! one JSON document and nothing else), messages on stderr; exit 0 done,
//! 1 done with failures, 2 bad usage, config or input.

mod archive;
mod audit;
mod color;
mod completions;
mod config_cmd;
mod daemon;
mod daemon_notice;
mod demo;
mod history;
mod history_copy;
mod hook;
mod import;
mod insights;
mod notice;
mod otto_home_check;
mod pager;
mod plugins;
mod retention;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Config, ConfigError, InstanceSpec, LoadOptions, Override};
use crate::paths;
use crate::registry::Registry;
use crate::render;

/// Exit codes.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// Done, with failures (a plugin error under `--strict`, a failed check).
    pub const FAILURES: u8 = 1;
    /// Bad usage, bad configuration or bad input.
    pub const USAGE: u8 = 2;
}

const ABOUT: &str =
    "Run history for task orchestrators: hooks, storage, retention and reports through plugins";

const AFTER_HELP: &str = "\
Examples:
  otto-hooks demo                         sample data to try the commands on (no ~/.otto needed)
  otto-hooks list --limit 10              the newest runs under ~/.otto
  otto-hooks info 1795342500              one run, its tasks and logs
  otto-hooks usage                        where the disk space goes
  otto-hooks clean --keep 30 --dry-run    what a 30-day policy would delete, and why
  otto-hooks plugins list                 the plugins available, built-in and loaded
  otto-hooks plugins check ./libmine.so   check a plugin library before enabling it
  otto-hooks config show                  every effective setting and where it came from
  id=$(otto-hooks hook run-start --repo .)
  printf '%s\\n' '{\"type\":\"unit.started\",\"unit\":\"api\"}' | otto-hooks hook event --run \"$id\"
  otto-hooks hook run-complete --run \"$id\" --status completed

Environment:
  OTTO_HOOKS_HOME     state and config directory (default ~/.otto-hooks)
  OTTO_HOOKS_CONFIG   global config file (default $OTTO_HOOKS_HOME/config.toml)
  OTTO_HOOKS_*        configuration overrides, see docs/CONFIG.md
  RUST_LOG            log filter (e.g. otto_hooks_core=debug)
  NO_COLOR            no colour anywhere (any non-empty value); CLICOLOR_FORCE=1 colours a pipe";

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "otto-hooks", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr: no warnings, notes or progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour: `auto` (a terminal, unless NO_COLOR is set), `always` or `never`.
    #[arg(long, value_name = "WHEN", global = true, default_value = "auto")]
    pub color: color::ColorFlag,
    /// Override a setting, e.g. `--set hooks.strict=true` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub set: Vec<String>,
    /// Render with this reporter plugin (default: the configured one, `table`).
    #[arg(long, value_name = "NAME", global = true)]
    pub reporter: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `history TASK [options]` or `history copy --from … --to …`.
#[derive(Debug, clap::Args)]
pub struct HistoryCmd {
    #[command(subcommand)]
    command: Option<history_copy::HistoryCommand>,
    #[command(flatten)]
    task: insights::HistoryArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs, newest first: project, time, tasks, status, size.
    #[command(
        after_help = "Examples:\n  otto-hooks list --limit 10\n  otto-hooks list --project web --status failed\n  otto-hooks list --json | jq -r '.[] | select(.size_bytes > 1e8) | .path'"
    )]
    List(history::ListArgs),
    /// One run in detail: its tasks, logs, scripts, status and where it came from.
    #[command(
        after_help = "Examples:\n  otto-hooks info 1795342500\n  otto-hooks info web-1a2b3c4d/1795342500-1\n  otto-hooks info 1795342500 --json"
    )]
    Info(history::InfoArgs),
    /// The events of a run recorded by the hooks (SQLite history), oldest first, in pages.
    #[command(
        after_help = "Examples:\n  otto-hooks events run_20250120_143052_a1b2\n  otto-hooks events \"$id\" --type unit --unit api --json\n  otto-hooks events \"$id\" --after-seq 100 --limit 100   # the next page\n\n--type matches whole dotted segments: `unit` matches unit.started, not units.x."
    )]
    Events(history::EventsArgs),
    /// Disk usage: per project, largest runs, orphaned cache, recommendations.
    #[command(
        after_help = "Examples:\n  otto-hooks usage\n  otto-hooks usage --project web --json"
    )]
    Usage(history::UsageArgs),
    /// Delete old runs by the retention policy: shows the plan, asks, deletes safely.
    #[command(
        after_help = "Examples:\n  otto-hooks clean --dry-run                  the plan, with the configured policies\n  otto-hooks clean --keep 30 --dry-run        runs older than 30 days that keep-last and pins don't hold\n  otto-hooks clean --keep 30 --keep-last 20 --yes\n  otto-hooks clean --project web --keep-failed 7 --reasons --dry-run\n\nA running run (its .lock held) and a pinned run (a .keep file) are never deleted.\nWithout a terminal, --yes is required. A plan deleting more than --max-share of a\nproject's runs (or all of them) is held: shown with the guard's verdict and the\nflag that lets it through (a larger --max-share, or --force), not deleted."
    )]
    Clean(retention::CleanArgs),
    /// Apply the configured retention policies to every project, without prompting
    /// (what orchestrators call after each run).
    #[command(
        after_help = "Examples:\n  otto-hooks run-policies --if-due            at most once a day, e.g. after every run\n  otto-hooks run-policies --dry-run --json"
    )]
    RunPolicies(retention::RunPoliciesArgs),
    /// What the cleaners deleted (clean, run-policies, the daemon's schedule,
    /// history retention), from the audit log, newest first.
    #[command(
        after_help = "Examples:\n  otto-hooks audit --since 7d\n  otto-hooks audit --project web --json\n\nEvery deletion is recorded in $OTTO_HOOKS_HOME/audit.log (rotated files audit.log.1…5\nare read too): an intent before a run leaves its project, then its outcome\n(deleted, failed, refused, held, already-gone; `interrupted` when the command\nstopped between the two). See docs/AUDIT.md."
    )]
    Audit(audit::AuditArgs),
    /// Why a run is kept or would be deleted: every rule that applied.
    #[command(
        after_help = "Examples:\n  otto-hooks why 1795342500\n  otto-hooks why web-1a2b3c4d/1795342500 --keep 7"
    )]
    Why(retention::WhyArgs),
    /// Every execution of one task, newest first: status, exit code, duration, run, log.
    /// `history copy` moves a whole run history (history.db ⇄ PostgreSQL).
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "Examples:\n  otto-hooks history build --failed\n  otto-hooks history test --project web --limit 10 --json\n  otto-hooks history api --db ~/.otto-hooks/history.db\n  otto-hooks history copy --from sqlite:$HOME/.otto-hooks/history.db --to postgres:postgres://otto@db/otto_hooks\n\nA task literally named `copy`: otto-hooks history -- copy"
    )]
    History(HistoryCmd),
    /// Runs and tasks of a window: success rate, p50/p90/max duration, disk, trend.
    #[command(
        after_help = "Examples:\n  otto-hooks stats\n  otto-hooks stats build --since 7d\n  otto-hooks stats --trend              per-task duration sparklines\n  otto-hooks stats --since all --json"
    )]
    Stats(insights::StatsArgs),
    /// What changed between two runs: tasks, statuses, exit codes, durations, scripts.
    #[command(
        after_help = "Examples:\n  otto-hooks compare web-9d9de448/1795342500 web-9d9de448/1795346100\n  otto-hooks compare 1795342500 1795346100 --diff"
    )]
    Compare(insights::CompareArgs),
    /// Tasks that both failed and succeeded on the same script, by flip rate.
    #[command(
        after_help = "Examples:\n  otto-hooks flaky\n  otto-hooks flaky --project web --since 90d --json"
    )]
    Flaky(insights::FlakyArgs),
    /// List and check plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Lifecycle hooks for orchestrators: run-start, event, run-complete.
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// The history daemon: the single writer of history.db, its HTTP API and live streams.
    #[command(subcommand)]
    Daemon(daemon::DaemonCommand),
    /// Open the history web UI in a browser (same as `daemon open`).
    Ui(daemon::OpenArgs),
    /// Index another tool's runs into the SQLite history (history.db), or bring in
    /// an archive made by `export`, idempotently.
    #[command(
        after_help = "Examples:\n  otto-hooks import otto\n  otto-hooks import otto --project web --json\n  otto-hooks import otto --otto-home /mnt/ci/.otto --db ./ci-history.db\n  otto-hooks import --from runs.tar.zst                 into $OTTO_HOME and the history\n  otto-hooks import --from runs.tar.zst --otto-home /tmp/otto --json\n\n--from checks the whole archive first (sha256 of every entry against its manifest;\nno absolute path, `..`, link out of its project, hard link, device or oversize\nentry) and writes nothing when it is refused (exit 2). A run that is already\nthere unchanged is left as it is; a different one is never overwritten (exit 1).\nSee docs/EXPORT.md."
    )]
    Import(import::ImportArgs),
    /// Write runs into an archive (otto runs with their cache scripts and otto.db
    /// rows; history runs with their events and graph) to move them elsewhere.
    #[command(
        after_help = "Examples:\n  otto-hooks export web-6b20a2e4/1795342500 --output web-run.tar.zst\n  otto-hooks export 1795342500 run_20250120_143052_a1b2 -o runs.tar.zst --json\n  otto-hooks import --from web-run.tar.zst          on the other machine\n\nThe archive (tar + zstd) ends with a manifest holding the sha256 of every entry;\n`import --from` checks it whole before writing anything. See docs/EXPORT.md."
    )]
    Export(archive::ExportArgs),
    /// Build a sample otto home (months of runs of several projects) to try the commands on.
    #[command(
        after_help = "Examples:\n  otto-hooks demo                   in $OTTO_HOOKS_HOME/demo/otto\n  otto-hooks demo /tmp/otto-demo --projects 6 --runs 1000\n  OTTO_HOME=/tmp/otto-demo otto-hooks list"
    )]
    Demo(demo::DemoArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  otto-hooks completions bash > ~/.local/share/bash-completion/completions/otto-hooks"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What a command needs: where state lives, the configuration, the output
/// options. The registry is loaded on first use.
pub(crate) struct Context {
    pub hooks_home: PathBuf,
    pub config: Config,
    pub quiet: bool,
    pub reporter: Option<String>,
    /// `--color`: handed to the `table` reporter when not `auto`.
    pub color: color::ColorFlag,
    /// The otto homes checked by this command, and what was found.
    pub homes: otto_home_check::HomeChecks,
}

/// A command's failure: its exit code and a one-line message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: exit::FAILURES,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::usage(e.message)
    }
}

pub(crate) type CmdResult = Result<u8, Failure>;

impl Context {
    pub fn registry(&self) -> Registry {
        Registry::from_config(&self.config)
    }

    /// The reporter for this command: `--json`, then `--reporter`, then config.
    pub fn reporter(&self, json: bool) -> InstanceSpec {
        if json {
            return render::json_reporter();
        }
        let mut spec = self.chosen_reporter();
        self.color.apply_to(&mut spec);
        spec
    }

    /// The reporter for output a pager shows on the terminal: colour is
    /// decided for that terminal (as git does), not for the pager's pipe.
    pub fn reporter_for_pager(&self, json: bool) -> InstanceSpec {
        let mut spec = self.reporter(json);
        if !json && spec.plugin == "table" && !spec.settings.contains_key("color") {
            let on = self.color.enabled_for(true);
            spec.settings.insert(
                "color".to_owned(),
                toml::Value::String(if on { "always" } else { "never" }.to_owned()),
            );
        }
        spec
    }

    /// The reporter `--reporter` or the configuration names, as configured.
    fn chosen_reporter(&self) -> InstanceSpec {
        let configured = self.config.default_selection().reporter.into_iter().next();
        match (&self.reporter, configured) {
            (Some(name), Some(spec)) if &spec.plugin == name => spec,
            (Some(name), _) => InstanceSpec {
                kind: otto_hooks_plugin_api::PluginKind::Reporter,
                plugin: name.clone(),
                instance: format!("reporter.{name}"),
                settings: toml::Table::new(),
                origin: "flag --reporter".to_owned(),
            },
            (None, Some(spec)) => spec,
            (None, None) => InstanceSpec {
                kind: otto_hooks_plugin_api::PluginKind::Reporter,
                plugin: "table".to_owned(),
                instance: "reporter.table".to_owned(),
                settings: toml::Table::new(),
                origin: "default".to_owned(),
            },
        }
    }

    /// Renders a document to stdout with the chosen reporter.
    pub fn print<T: serde::Serialize>(
        &self,
        registry: &Registry,
        json: bool,
        kind: otto_hooks_plugin_api::DocumentKind,
        doc: &T,
    ) -> Result<(), Failure> {
        let text = render::to_json(kind, doc).map_err(Failure::failed)?;
        self.print_json(registry, json, kind, &text)
    }

    /// Renders a document already serialised with [`render::to_json`].
    pub fn print_json(
        &self,
        registry: &Registry,
        json: bool,
        kind: otto_hooks_plugin_api::DocumentKind,
        text: &str,
    ) -> Result<(), Failure> {
        if text.len() > 8 << 20 {
            // A large document (100,000 runs): give back what building it
            // freed, so that the reporter's own memory does not add to it.
            release_free_memory();
        }
        // Written as the reporter emits it: the output is never held whole.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        let streamed = render::render_json_to(
            registry,
            &self.reporter(json),
            &self.hooks_home,
            kind,
            text,
            &mut out,
            &mut |w| self.warn(w),
        );
        match streamed {
            render::Streamed::Written => Ok(()),
            render::Streamed::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            render::Streamed::Write(e) => {
                Err(Failure::failed(format!("cannot write to stdout: {e}")))
            }
            render::Streamed::Failed(e) => Err(Failure::failed(e)),
        }
    }

    /// A line on stderr if reading runs from `storage` is still going after
    /// a couple of seconds (a terminal only, never with `-q`); dropping the
    /// returned guard first shows nothing.
    pub fn slow_notice(&self, storage: &str) -> notice::SlowNotice {
        if self.quiet || !std::io::stderr().is_terminal() {
            return notice::SlowNotice::none();
        }
        let why = if storage == "otto-fs" {
            " (run directories not in the size index yet are measured one by one; later reads are quick)"
        } else {
            ""
        };
        notice::SlowNotice::after(
            notice::SLOW_AFTER,
            format!("otto-hooks: still reading runs from `{storage}`…{why}"),
            std::io::stderr(),
        )
    }

    /// A warning on stderr (silenced by `-q`).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
}

/// Returns freed heap memory to the operating system (glibc keeps it).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` only releases free memory of glibc's heaps;
        // it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write to stdout: {e}"))),
    }
}

fn init_logging(verbose: u8, quiet: bool, daemon: bool, color: color::ColorFlag) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) if daemon => "info",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color.enabled_for(std::io::stderr().is_terminal()))
        .with_target(false)
        .try_init();
}

/// Runs the command line in `args` and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Known before parsing, so that clap's own help and errors follow it.
    let choice = color::ColorFlag::from_args(&args).clap_choice();
    let parsed = Cli::command()
        .color(choice)
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap quotes the bad value: a token pasted into the wrong flag
            // must not reach the terminal (nor a CI log).
            let plain = e.render().to_string();
            match otto_hooks_redact::Redactor::default().redact_text(&plain) {
                std::borrow::Cow::Owned(masked) => eprint!("{masked}"),
                std::borrow::Cow::Borrowed(_) => {
                    let _ = e.print();
                }
            }
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
        }
    };
    let daemon = matches!(cli.command, Command::Daemon(_));
    init_logging(cli.verbose, cli.quiet, daemon, cli.color);
    // The built-in otto-fs storage writes its warnings itself.
    otto_hooks_otto_fs::set_quiet(cli.quiet);
    match dispatch(cli) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.code
        }
    }
}

fn dispatch(cli: Cli) -> CmdResult {
    if let Command::Completions { shell } = cli.command {
        write_stdout(&completions::script(shell))?;
        return Ok(exit::OK);
    }
    let mut overrides = cli
        .set
        .iter()
        .map(|s| Override::parse(s, format!("--set {s}")))
        .collect::<Result<Vec<_>, _>>()?;
    match &cli.command {
        Command::Clean(a) => overrides.extend(a.policy.overrides()),
        Command::RunPolicies(a) => overrides.extend(a.policy.overrides()),
        Command::Why(a) => overrides.extend(a.policy.overrides()),
        Command::Usage(a) => {
            if let Some(days) = a.keep {
                overrides.push(Override::new(
                    "retention.plugin",
                    toml::Value::String("standard".into()),
                    "--keep",
                ));
                overrides.push(Override::new(
                    "retention.keep_days",
                    toml::Value::Integer(i64::from(days)),
                    format!("--keep {days}"),
                ));
            }
        }
        _ => {}
    }
    if let Command::Hook(h) = &cli.command {
        if h.strict() {
            overrides.push(Override {
                key: "hooks.strict".to_owned(),
                value: toml::Value::Boolean(true),
                source: "--strict".to_owned(),
            });
        }
    }
    let hooks_home = paths::hooks_home();
    let options = LoadOptions::from_process(hooks_home.clone(), overrides)
        .map_err(|e| Failure::failed(format!("cannot read the working directory: {e}")))?;
    let config = config::load(&options)?;
    let ctx = Context {
        hooks_home,
        config,
        quiet: cli.quiet,
        reporter: cli.reporter,
        color: cli.color,
        homes: Default::default(),
    };
    for warning in &ctx.config.warnings {
        ctx.warn(warning);
    }
    // A misspelt plugin setting stops the commands people type, before
    // they act on a configuration that does not say what was meant (not
    // the hooks: an orchestrator's run must not fail on it).
    if matches!(
        cli.command,
        Command::List(_)
            | Command::Info(_)
            | Command::Events(_)
            | Command::Usage(_)
            | Command::Clean(_)
            | Command::RunPolicies(_)
            | Command::Why(_)
            | Command::Import(_)
            | Command::History(_)
            | Command::Stats(_)
            | Command::Compare(_)
            | Command::Flaky(_)
    ) {
        config_cmd::check_settings(&ctx, false)?;
    }
    let result = match cli.command {
        Command::List(args) => history::list(&ctx, args),
        Command::Info(args) => history::info(&ctx, args),
        Command::Events(args) => history::events(&ctx, args),
        Command::Usage(args) => history::usage(&ctx, args),
        Command::Clean(args) => retention::clean(&ctx, args),
        Command::RunPolicies(args) => retention::run_policies(&ctx, args),
        Command::Why(args) => retention::why(&ctx, args),
        Command::Audit(args) => audit::run(&ctx, args),
        Command::History(HistoryCmd {
            command: Some(cmd), ..
        }) => history_copy::run(&ctx, cmd),
        Command::History(HistoryCmd { task, .. }) => insights::history(&ctx, task),
        Command::Stats(args) => insights::stats(&ctx, args),
        Command::Compare(args) => insights::compare(&ctx, args),
        Command::Flaky(args) => insights::flaky(&ctx, args),
        Command::Plugins(cmd) => plugins::run(&ctx, cmd),
        Command::Config(cmd) => config_cmd::run(&ctx, cmd),
        Command::Hook(cmd) => hook::run(&ctx, cmd),
        Command::Daemon(cmd) => daemon::run(&ctx, cmd),
        Command::Ui(args) => daemon::run(&ctx, daemon::DaemonCommand::Open(args)),
        Command::Import(args) => import::run(&ctx, args),
        Command::Export(args) => archive::export_cmd(&ctx, args),
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Completions { .. } => Ok(exit::OK),
    };
    result
        .map(|code| ctx.homes.exit_code(code))
        .map_err(|f| config_cmd::explain_failure(f, &ctx.config))
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os()))
}
