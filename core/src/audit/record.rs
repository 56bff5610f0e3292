//! One audit record: a line of `audit.log`.

use otto_hooks_plugin_api::Timestamp;
use serde::{Deserialize, Serialize};

/// The record format's version.
pub const VERSION: u32 = 1;

/// An intent (written before the deletion) or an outcome (after).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// About to delete.
    Intent,
    /// What happened.
    Outcome,
}

/// What was (to be) deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An otto run directory (with its otto.db rows).
    OttoRun,
    /// A script-cache file of an otto project.
    CacheFile,
    /// A run of a history storage (the SQLite history), with its events.
    HistoryRun,
    /// An otto.db run row (with its task rows) whose run directory was
    /// already gone (`clean --prune-rows`).
    OttoDbRow,
}

/// How a deletion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Deleted.
    Deleted,
    /// An error stopped it (see `error`).
    Failed,
    /// Refused on purpose (live, pinned, replaced, no audit record…), left
    /// untouched.
    Refused,
    /// The policy would delete it, the guard holds it: not deleted.
    Held,
    /// It was gone before the deletion: nothing freed.
    AlreadyGone,
    /// (Reader only) an intent with no outcome: the command stopped
    /// between the two (a crash, a kill).
    Interrupted,
}

impl Outcome {
    /// The word the table and JSON show.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::Held => "held",
            Outcome::AlreadyGone => "already-gone",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// Who deleted: the process and the person behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// Effective uid.
    pub uid: u32,
    /// `$USER` (else `$LOGNAME`, else the uid).
    pub user: String,
    /// The command line, secrets masked.
    pub command: String,
    /// What ran the deletion: `clean`, `run-policies`, `daemon` (its
    /// schedule), or the program's name for a library caller.
    pub via: String,
    /// Process id.
    pub pid: u32,
    /// The host name.
    pub host: String,
}

impl Who {
    /// This process.
    pub fn current() -> Self {
        let uid = rustix::process::geteuid().as_raw();
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| uid.to_string());
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        let command = otto_hooks_redact::Redactor::default()
            .redact_text(&line)
            .into_owned();
        Who {
            uid,
            user,
            command,
            via: via(&args),
            pid: std::process::id(),
            host: host_name(),
        }
    }
}

/// The subcommand of `args` (`otto-hooks [flags] clean …` → `clean`);
/// `daemon` and `ui` run the schedule; anything else is the program.
fn via(args: &[String]) -> String {
    let program = args
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
        .unwrap_or_default();
    if program != "otto-hooks" {
        return program;
    }
    // Global flags taking a value come before the subcommand.
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if matches!(arg.as_str(), "--color" | "--set" | "--reporter") {
            rest.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        return match arg.as_str() {
            "daemon" | "ui" => "daemon".to_owned(),
            other => other.to_owned(),
        };
    }
    program
}

/// The host name (the kernel's), or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What a record is about, and what decided it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// What kind of thing.
    pub kind: Option<Kind>,
    /// The otto project directory (`web-6b20a2e4`); for a history run its
    /// repository path when known.
    pub project: Option<String>,
    /// The run name (`1795342500-1`), the cache file (`.cache/<hash>.sh`)
    /// or the history run id.
    pub target: String,
    /// Its absolute path (the history database for a history run).
    pub path: Option<String>,
    /// The rule that decided: the retention instance
    /// (`retention.standard`), `retention_days = 90` of a history storage,
    /// or `cache: unreferenced`.
    pub rule: Option<String>,
    /// The rule's reasons.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Bytes: planned in an intent, freed in an outcome (`null` when not
    /// known per item: a history run's share of the database).
    pub bytes: Option<u64>,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// `intent` or `outcome`.
    pub phase: Phase,
    /// Pairs an intent with its outcome: `<pid>-<start>-<n>`.
    pub id: String,
    /// When, epoch seconds.
    pub timestamp: i64,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// What, and why.
    #[serde(flatten)]
    pub subject: Subject,
    /// How it ended (outcome records).
    pub outcome: Option<Outcome>,
    /// The error of a failed or refused deletion.
    pub error: Option<String>,
    /// Who.
    pub who: Who,
}

impl Record {
    /// A record made now.
    pub fn new(
        phase: Phase,
        id: &str,
        subject: &Subject,
        outcome: Option<Outcome>,
        error: Option<&str>,
        who: &Who,
    ) -> Self {
        let now = Timestamp::now();
        Record {
            v: VERSION,
            phase,
            id: id.to_owned(),
            timestamp: now.secs,
            at: crate::hooks::wire::rfc3339(Timestamp::from_secs(now.secs)),
            subject: subject.clone(),
            outcome,
            error: error.map(str::to_owned),
            who: who.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn via_is_the_subcommand_after_the_global_flags() {
        assert_eq!(via(&args("/usr/bin/otto-hooks clean --yes")), "clean");
        assert_eq!(
            via(&args("otto-hooks -q --set a=b --color never run-policies")),
            "run-policies"
        );
        assert_eq!(via(&args("otto-hooks daemon run --port 0")), "daemon");
        assert_eq!(via(&args("/x/deps/audit-1234 --nocapture")), "audit-1234");
    }
}
