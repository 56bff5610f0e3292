//! The cleanup audit trail: every real deletion — `clean`, `run-policies`,
//! the daemon's scheduled pass, history retention — appends records to
//! `$OTTO_HOOKS_HOME/audit.log`, and `otto-hooks audit` reads them.
//!
//! **Records.** One JSON object per line ([`Record`]): what (an otto run,
//! a cache file, a history run), which rule or plugin decided, the bytes,
//! who (uid, user, command line, pid, host) and when, and the outcome.
//!
//! **Intent, then outcome.** Before a run leaves its project (with its
//! `.lock` held, just before the move into the trash) an `intent` record is
//! written; after the deletion an `outcome` record with the same `id`.
//! A failure to write the intent refuses the deletion and stops the
//! command's remaining deletions: nothing goes that the log cannot account
//! for. A crash between the two leaves an intent without an outcome, which
//! the reader shows as `interrupted` — the run is then in the trash or
//! gone, and the log says so. (Writing only the outcome would lose exactly
//! the deletions a crash interrupts.)
//!
//! **Crash safety.** The log is opened `O_APPEND` through
//! [`crate::own_files`] (never through a symlink, a regular file of ours
//! with one link); each record is one `write(2)` of one line, so records of
//! concurrent writers never interleave; the file is `fsync`ed at the end of
//! a command ([`AuditLog::finish`]) and after every intent. A torn last line
//! (a crash mid-write) is skipped by the reader with a warning.
//!
//! **Rotation.** When `audit.log` has reached [`Limits::max_bytes`] as a
//! command opens it, it becomes `audit.log.1` (`.1` → `.2` …, the oldest
//! beyond [`Limits::keep`] removed), under the `audit.lock` flock so that
//! two commands never rotate at once. The reader reads the rotated files too.

pub mod hook;
mod read;
mod record;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use read::{AuditEntry, AuditQuery, AuditReport, read};
pub use record::{Kind, Outcome, Phase, Record, Subject, Who};

/// The audit log's file name in `$OTTO_HOOKS_HOME`.
pub const AUDIT_LOG: &str = "audit.log";
/// The lock file rotation is done under.
pub const AUDIT_LOCK: &str = "audit.lock";

/// When the log rotates and how many rotated files stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `audit.log` is rotated when a command opens it at this size or more.
    pub max_bytes: u64,
    /// Rotated files kept (`audit.log.1` … `audit.log.<keep>`).
    pub keep: u32,
}

impl Default for Limits {
    /// 8 MiB per file, 5 rotated files: about 48 MiB, some 150,000
    /// deletions, at most.
    fn default() -> Self {
        Limits {
            max_bytes: 8 << 20,
            keep: 5,
        }
    }
}

/// The path of rotated file `n` (0 is `audit.log` itself).
pub(crate) fn file_path(hooks_home: &Path, n: u32) -> PathBuf {
    if n == 0 {
        hooks_home.join(AUDIT_LOG)
    } else {
        hooks_home.join(format!("{AUDIT_LOG}.{n}"))
    }
}

/// The audit log, open for one command's deletions.
#[derive(Debug)]
pub struct AuditLog {
    file: File,
    path: PathBuf,
    who: Who,
    /// This command's prefix of record ids (pid and start time).
    op: String,
    seq: u64,
    /// The first write error: after it nothing more is deleted.
    broken: Option<String>,
}

impl AuditLog {
    /// Opens (creating it 0600, and `hooks_home` 0700, when missing) the
    /// log of `hooks_home`, rotating it first when it is full. The error is
    /// one line: the deletion must not go ahead.
    pub fn open(hooks_home: &Path) -> Result<Self, String> {
        Self::open_with(hooks_home, Limits::default())
    }

    /// [`AuditLog::open`] with explicit rotation limits.
    pub fn open_with(hooks_home: &Path, limits: Limits) -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(hooks_home)
            .map_err(|e| format!("cannot create {}: {e}", hooks_home.display()))?;
        let path = file_path(hooks_home, 0);
        let lock = crate::own_files::open(
            &hooks_home.join(AUDIT_LOCK),
            crate::own_files::Access::ReadWrite,
            Some(0o600),
        )
        .map_err(|e| format!("cannot write the audit log: {e}"))?;
        // Blocking: a rotation takes a few renames.
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("cannot lock {}: {e}", hooks_home.join(AUDIT_LOCK).display()))?;
        rotate_if_full(hooks_home, limits)?;
        let file = crate::own_files::open(&path, crate::own_files::Access::Append, Some(0o600))
            .map_err(|e| format!("cannot write the audit log: {e}"))?;
        drop(lock);
        Ok(Self::from_file(file, path))
    }

    /// A log writing to `file` (opened for appending).
    pub(crate) fn from_file(file: File, path: PathBuf) -> Self {
        let who = Who::current();
        let now = otto_hooks_plugin_api::Timestamp::now();
        // Unique enough to pair records: no two commands share a pid in
        // the same nanosecond.
        let op = format!("{}-{}.{:09}", who.pid, now.secs, now.nanos);
        AuditLog {
            file,
            path,
            who,
            op,
            seq: 0,
            broken: None,
        }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the log cannot be written any more, if it cannot: the command
    /// deletes nothing more.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Writes the intent to delete `subject`, synced to disk, and returns
    /// the id its outcome must carry. An error means: do not delete.
    pub fn intent(&mut self, subject: &Subject) -> Result<String, String> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        self.seq += 1;
        let id = format!("{}-{}", self.op, self.seq);
        let record = Record::new(Phase::Intent, &id, subject, None, None, &self.who);
        self.append(&record)?;
        // The intent must be on disk before the run moves.
        if let Err(e) = self.file.sync_data() {
            return Err(self.fail(format!("cannot sync {}: {e}", self.path.display())));
        }
        Ok(id)
    }

    /// Writes the outcome of a deletion (`id` from [`AuditLog::intent`], or
    /// `None` for one that had no intent: refused or held before anything
    /// was touched).
    pub fn outcome(
        &mut self,
        id: Option<&str>,
        subject: &Subject,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Result<(), String> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let id = match id {
            Some(id) => id.to_owned(),
            None => {
                self.seq += 1;
                format!("{}-{}", self.op, self.seq)
            }
        };
        let record = Record::new(
            Phase::Outcome,
            &id,
            subject,
            Some(outcome),
            error,
            &self.who,
        );
        self.append(&record)
    }

    /// Syncs the log to disk: the end of a command's deletions.
    pub fn finish(self) -> Result<(), String> {
        self.file
            .sync_all()
            .map_err(|e| format!("cannot sync {}: {e}", self.path.display()))
    }

    /// One record, one line, one `write(2)` (`O_APPEND`: never interleaved
    /// with another writer's).
    fn append(&mut self, record: &Record) -> Result<(), String> {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => return Err(self.fail(format!("cannot encode an audit record: {e}"))),
        };
        line.push(b'\n');
        match self.file.write(&line) {
            Ok(n) if n == line.len() => Ok(()),
            Ok(n) => Err(self.fail(format!(
                "cannot write {}: short write ({n} of {} bytes; the disk is full?)",
                self.path.display(),
                line.len()
            ))),
            Err(e) => Err(self.fail(format!("cannot write {}: {e}", self.path.display()))),
        }
    }

    fn fail(&mut self, message: String) -> String {
        let message = format!("{message}: nothing more is deleted without an audit record");
        self.broken = Some(message.clone());
        message
    }
}

/// Rotates `audit.log` when it holds `limits.max_bytes` or more; the caller
/// holds the audit lock.
fn rotate_if_full(hooks_home: &Path, limits: Limits) -> Result<(), String> {
    let current = file_path(hooks_home, 0);
    let size = match std::fs::symlink_metadata(&current) {
        Ok(m) if m.file_type().is_file() => m.len(),
        // Missing: created on open. Anything else: the open refuses it.
        _ => return Ok(()),
    };
    if size < limits.max_bytes {
        return Ok(());
    }
    let rename = |from: &Path, to: &Path| -> Result<(), String> {
        match std::fs::rename(from, to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot rotate the audit log ({} → {}): {e}",
                from.display(),
                to.display()
            )),
        }
    };
    if limits.keep == 0 {
        return std::fs::remove_file(&current)
            .map_err(|e| format!("cannot rotate {}: {e}", current.display()));
    }
    // The oldest goes; renaming `.keep-1` onto `.keep` replaces it.
    for n in (1..limits.keep).rev() {
        rename(&file_path(hooks_home, n), &file_path(hooks_home, n + 1))?;
    }
    rename(&current, &file_path(hooks_home, 1))?;
    // The renames must reach the disk before new records go to a new file.
    if let Ok(dir) = File::open(hooks_home) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
