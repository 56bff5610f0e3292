//! Nothing starts or deletes silently: the one-line notices printed when
//! the history daemon is started on someone's behalf, and the line that
//! announces its scheduled clean.
//!
//! The schedule line is written by the daemon itself when it starts
//! ([`schedule_line`], from its own configuration, which is what it will
//! apply: a daemon started in the background reads the global files and
//! the environment, not the caller's project file or `--set`), into its
//! log. The process that started it reads that line back from the log
//! ([`announced_schedule`]) and repeats it on its stderr, so the user sees
//! what the daemon will actually do.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Context;
use crate::client::DaemonFiles;
use crate::daemon::control::{self, Listen, Running};

/// Every schedule line starts with this (how the starter finds it in the log).
pub(crate) const SCHEDULE_PREFIX: &str = "otto-hooks: scheduled clean: ";

/// The line the daemon prints at start about its scheduled clean: how
/// often, which policy over which otto home, which history retention, and
/// how to turn it off. `None` when `policies.daemon = false`.
pub(crate) fn schedule_line(ctx: &Context) -> Option<String> {
    if !ctx.config.setting_bool("policies.daemon") {
        return None;
    }
    let interval = ctx
        .config
        .setting("policies.interval")
        .and_then(|v| v.value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "24h".to_owned());
    let report = ctx.config.report();
    let policy: Vec<String> = report
        .values
        .iter()
        .filter(|v| v.key.starts_with("retention") && !v.key.starts_with("retention_"))
        .filter(|v| !v.key.ends_with(".plugin") && !v.key.ends_with(".name"))
        .map(|v| format!("{}={}", v.key, v.value))
        .collect();
    let plugins: Vec<String> = ctx
        .config
        .default_selection()
        .retention
        .iter()
        .map(|r| r.instance.clone())
        .collect();
    let otto_home = ctx
        .config
        .default_selection()
        .storage
        .iter()
        .find(|s| s.plugin == "otto-fs")
        .and_then(|s| s.settings.get("otto_home").and_then(|v| v.as_str()))
        .map_or_else(
            || crate::paths::otto_home().display().to_string(),
            str::to_owned,
        );
    let history_days = ctx.config.history_retention_days().value;
    let history = if history_days == 0 {
        "history.db kept whole".to_owned()
    } else {
        format!("history.db runs ended over {history_days} days ago")
    };
    Some(format!(
        "{SCHEDULE_PREFIX}every {interval} (first pass {interval} after start) the daemon deletes \
         otto runs in {otto_home} that {} ({}) would delete, and {history}; \
         turn it off: `[policies] daemon = false` in $OTTO_HOOKS_HOME/config.toml, \
         then `otto-hooks daemon restart`",
        if plugins.is_empty() {
            "no retention policy".to_owned()
        } else {
            plugins.join(", ")
        },
        if policy.is_empty() {
            "its defaults".to_owned()
        } else {
            policy.join(" ")
        },
    ))
}

/// The schedule line the daemon wrote to its log after byte `from` (it
/// writes it before it answers, so it is there once `start` returned).
pub(crate) fn announced_schedule(log: &Path, from: u64) -> Option<String> {
    let mut file = crate::own_files::open(log, crate::own_files::Access::Read, None).ok()?;
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut text = Vec::new();
    // The first lines of a start are short; a bounded read is enough.
    file.take(256 * 1024).read_to_end(&mut text).ok()?;
    String::from_utf8_lossy(&text)
        .lines()
        .find(|l| l.starts_with(SCHEDULE_PREFIX))
        .map(str::to_owned)
}

/// The line saying a daemon was started: pid, web UI, log, how to stop
/// it, and — when it was started automatically (`auto`) — how to keep it
/// from being started.
pub(crate) fn started_line(files: &DaemonFiles, running: &Running, auto: bool) -> String {
    let url = files.running_addr().map_or_else(
        || format!("port {}", running.port),
        |a| format!("web UI {}", super::daemon::ui_url(a)),
    );
    let mut line = format!(
        "history daemon started{} (pid {}, {url}, log {}); stop it: `otto-hooks daemon stop`",
        if auto { " automatically" } else { "" },
        running.pid,
        files.log().display()
    );
    if auto {
        line.push_str(
            "; to not start it automatically: `[daemon] auto_start = false` \
             (or OTTO_HOOKS_DAEMON_AUTO_START=0, or the hook flag --no-autostart)",
        );
    }
    line
}

/// Starts the daemon in the background and, when this call started it,
/// prints the started line and the schedule line the daemon announced.
/// `auto`: started on the user's behalf (by a hook), not asked for. The
/// notices are printed even with `-q`: a process that outlives the
/// command, and one that deletes on a schedule, never starts silently.
pub(crate) fn start_announced(
    files: &DaemonFiles,
    listen: &Listen,
    auto: bool,
) -> Result<Running, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let log_len = std::fs::symlink_metadata(files.log()).map_or(0, |m| m.len());
    let running = control::start_background(files, listen, &exe)?;
    if !running.already {
        eprintln!("{}", started_line(files, &running, auto));
        if let Some(line) = announced_schedule(&files.log(), log_len) {
            eprintln!("{line}");
        }
    }
    Ok(running)
}
