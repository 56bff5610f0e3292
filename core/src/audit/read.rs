//! Reading the audit log (`otto-hooks audit`): every file, rotated ones
//! included, each deletion once (its intent and outcome paired), newest
//! first.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use super::record::{Kind, Outcome, Phase, Record, Who};
use super::{AUDIT_LOG, file_path};

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only entries at or after this time (epoch seconds).
    pub since: Option<i64>,
    /// Only this project: its directory (`web-6b20a2e4`), name or hash,
    /// exactly; a history run's repository path.
    pub project: Option<String>,
}

/// One deletion, as `audit --json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The id pairing its records.
    pub id: String,
    /// When it ended (the outcome; the intent's time when interrupted),
    /// epoch seconds.
    pub timestamp: i64,
    /// The same, RFC 3339 UTC.
    pub at: String,
    /// `otto-run`, `cache-file`, `history-run` or `otto-db-row`.
    pub kind: Option<Kind>,
    /// The project directory (a history run: its repository, when known).
    pub project: Option<String>,
    /// The run, cache file or history run id.
    pub target: String,
    /// Its path (a history run: the database).
    pub path: Option<String>,
    /// The rule or plugin that decided.
    pub rule: Option<String>,
    /// Its reasons.
    pub reasons: Vec<String>,
    /// Bytes freed (deleted), or planned.
    pub bytes: Option<u64>,
    /// `deleted`, `failed`, `refused`, `held`, `already-gone`, or
    /// `interrupted` (an intent whose outcome was never written).
    pub outcome: Outcome,
    /// The error of a failed or refused deletion.
    pub error: Option<String>,
    /// Whether an intent record preceded the deletion.
    pub intent: bool,
    /// Who.
    pub who: Who,
}

/// What `audit` read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The deletions, newest first.
    pub entries: Vec<AuditEntry>,
    /// The files read, oldest first.
    pub files: Vec<String>,
    /// Lines that were not records (a torn last line after a crash).
    pub skipped_lines: u64,
    /// One line each, for stderr.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Reads the audit log of `hooks_home`. A missing log is an empty report;
/// a log that is not ours (a symlink, another owner) is an error.
pub fn read(hooks_home: &Path, query: &AuditQuery) -> Result<AuditReport, String> {
    let mut report = AuditReport::default();
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for n in rotated(hooks_home).into_iter().chain([0]) {
        let path = file_path(hooks_home, n);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let file = crate::own_files::open(&path, crate::own_files::Access::Read, None)?;
        report.files.push(path.display().to_string());
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if read == 0 {
                break;
            }
            number += 1;
            let complete = line.last() == Some(&b'\n');
            match serde_json::from_slice::<Record>(&line) {
                Ok(record) if complete => add(&mut entries, &mut by_id, record),
                _ if !complete => {
                    report.skipped_lines += 1;
                    report.warnings.push(format!(
                        "{}: skipped a torn last line (line {number}: a command stopped while writing it)",
                        path.display()
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    report.skipped_lines += 1;
                    report.warnings.push(format!(
                        "{}: skipped line {number}: not an audit record ({e})",
                        path.display()
                    ));
                }
            }
        }
    }
    entries.retain(|e| {
        query.since.is_none_or(|since| e.timestamp >= since)
            && query
                .project
                .as_deref()
                .is_none_or(|p| project_matches(e.project.as_deref(), p))
    });
    // Newest first; among equal times, the later record first.
    entries.reverse();
    entries.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    report.entries = entries;
    Ok(report)
}

/// The numbers of the rotated files present, oldest (highest) first.
fn rotated(hooks_home: &Path) -> Vec<u32> {
    let prefix = format!("{AUDIT_LOG}.");
    let mut numbers: Vec<u32> = std::fs::read_dir(hooks_home)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix(&prefix)?
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
        })
        .collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    numbers
}

fn add(entries: &mut Vec<AuditEntry>, by_id: &mut HashMap<String, usize>, record: Record) {
    let Record {
        phase,
        id,
        timestamp,
        at,
        subject,
        outcome,
        error,
        who,
        ..
    } = record;
    if let Some(&i) = by_id.get(&id) {
        if let Some(entry) = entries.get_mut(i) {
            entry.timestamp = timestamp;
            entry.at = at;
            entry.outcome = outcome.unwrap_or(Outcome::Interrupted);
            entry.error = error;
            if subject.bytes.is_some() {
                entry.bytes = subject.bytes;
            }
        }
        return;
    }
    by_id.insert(id.clone(), entries.len());
    entries.push(AuditEntry {
        id,
        timestamp,
        at,
        kind: subject.kind,
        project: subject.project,
        target: subject.target,
        path: subject.path,
        rule: subject.rule,
        reasons: subject.reasons,
        bytes: subject.bytes,
        outcome: match phase {
            Phase::Intent => Outcome::Interrupted,
            Phase::Outcome => outcome.unwrap_or(Outcome::Interrupted),
        },
        error,
        intent: phase == Phase::Intent,
        who,
    });
}

/// `--project P` matches the project directory, its name or its hash
/// exactly (never a substring), or a history run's repository.
fn project_matches(project: Option<&str>, wanted: &str) -> bool {
    let Some(project) = project else {
        return false;
    };
    if project == wanted {
        return true;
    }
    match project.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 8 => name == wanted || hash == wanted,
        _ => false,
    }
}
