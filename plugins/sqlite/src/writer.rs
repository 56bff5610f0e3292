//! The one writer thread of a [`HistoryDb`](crate::HistoryDb).
//!
//! It owns the read-write connection and is fed commands through a channel.
//! It takes the first pending command, then whatever else is already
//! waiting (up to [`Options::max_group_commands`] commands /
//! [`Options::max_group_events`] events), and commits them all in one
//! `BEGIN IMMEDIATE` transaction (group commit). Each command runs inside its
//! own SAVEPOINT: a failing command is rolled back alone and the others
//! commit. Replies are sent only after COMMIT.
//!
//! Retention ([`ExpireJob`]) is different: it uses one write transaction per
//! chunk so the write lock is never held long, and between chunks the writer
//! commits whatever commands arrived meanwhile.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use rusqlite::Connection;

use crate::commands;
use crate::connection::Options;
use crate::error::{DbError, Result};
use crate::model::ExpireReport;

/// A command waiting for the writer, its result kept until COMMIT.
pub(crate) trait Pending: Send {
    /// Events it writes (for the group size limit).
    fn weight(&self) -> usize;
    /// Runs it (inside its savepoint).
    fn run(&mut self, conn: &Connection, path: &Path);
    /// Whether it succeeded (its savepoint is released, not rolled back).
    fn succeeded(&self) -> bool;
    /// Sends its reply: its own result if the group committed, else `commit`'s error.
    fn finish(self: Box<Self>, commit: Result<()>);
}

/// What a command does on the writer thread once its group has committed,
/// before its caller is answered (see [`Job::after_commit`]).
pub(crate) type AfterCommit<T> = Box<dyn FnOnce(&T) + Send>;

/// A command as a closure and a reply channel.
pub(crate) struct Job<T, F> {
    op: Option<F>,
    weight: usize,
    outcome: Option<Result<T>>,
    reply: SyncSender<Result<T>>,
    after_commit: Option<AfterCommit<T>>,
}

impl<T, F> Job<T, F> {
    pub(crate) fn new(weight: usize, op: F, reply: SyncSender<Result<T>>) -> Self {
        Job {
            op: Some(op),
            weight,
            outcome: None,
            reply,
            after_commit: None,
        }
    }

    /// Runs `f` with the command's result after COMMIT, on the writer
    /// thread: commands' callbacks run one at a time in commit order, so
    /// what they publish is in the order the database stored it.
    pub(crate) fn after_commit(mut self, f: AfterCommit<T>) -> Self {
        self.after_commit = Some(f);
        self
    }
}

impl<T, F> Pending for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn weight(&self) -> usize {
        self.weight
    }

    fn run(&mut self, conn: &Connection, path: &Path) {
        if let Some(op) = self.op.take() {
            // A panicking command fails alone instead of killing the writer.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(conn)))
                .unwrap_or_else(|_| {
                    Err(DbError::Sqlite(
                        "a history.db write command panicked; it was rolled back".into(),
                    ))
                });
            self.outcome = Some(outcome.map_err(|e| e.at(path)));
        }
    }

    fn succeeded(&self) -> bool {
        matches!(self.outcome, Some(Ok(_)))
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        if let (Some(Ok(value)), Ok(()), Some(f)) = (&self.outcome, &commit, self.after_commit) {
            // A panicking callback must not take the writer down.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(value))).is_err() {
                tracing::warn!("a history.db after-commit callback panicked");
            }
        }
        let result = match (self.outcome, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(e)) => Err(e),
            (None, Ok(())) => Err(DbError::Sqlite(
                "history.db writer skipped a command".into(),
            )),
        };
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// What the writer is sent.
pub(crate) enum Message {
    /// A command for the next group.
    Write(Box<dyn Pending>),
    /// A retention pass.
    Expire(ExpireJob),
    /// `wal_checkpoint(TRUNCATE)` once the commands sent before it are
    /// committed; answers whether it completed (not blocked by a reader).
    Checkpoint(SyncSender<Result<bool>>),
}

/// A retention pass in progress.
pub(crate) struct ExpireJob {
    cutoff: String,
    chunk: usize,
    reply: SyncSender<Result<ExpireReport>>,
    report: ExpireReport,
    pages_before: Option<i64>,
}

impl ExpireJob {
    pub(crate) fn new(
        cutoff: String,
        chunk: usize,
        reply: SyncSender<Result<ExpireReport>>,
    ) -> Self {
        ExpireJob {
            cutoff,
            chunk: chunk.max(1),
            reply,
            report: ExpireReport::default(),
            pages_before: None,
        }
    }

    /// Deletes one chunk in its own write transaction; when nothing is left,
    /// vacuums. Returns whether the pass is finished.
    fn step(&mut self, conn: &Connection) -> Result<bool> {
        if self.pages_before.is_none() {
            self.pages_before = Some(page_count(conn)?);
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let deleted = commands::expire_chunk(conn, &self.cutoff, self.chunk).and_then(|r| {
            conn.execute_batch("COMMIT")
                .map(|()| r)
                .map_err(DbError::from)
        });
        let (ids, events) = match deleted {
            Ok(r) => r,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let runs = ids.len();
        self.report.runs_deleted += runs as u64;
        self.report.run_ids.extend(ids);
        self.report.events_deleted += events;
        self.report.chunks += 1;
        if runs < self.chunk {
            self.vacuum(conn)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn vacuum(&mut self, conn: &Connection) -> Result<()> {
        // Each call is its own short transaction; step every row so SQLite
        // frees every page asked for.
        loop {
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if free == 0 {
                break;
            }
            let mut stmt = conn.prepare("PRAGMA incremental_vacuum(2000)")?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            let left: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if left >= free {
                break; // not an incremental-vacuum database (auto_vacuum off)
            }
        }
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let after = page_count(conn)?;
        let before = self.pages_before.unwrap_or(after);
        self.report.bytes_freed = (before - after).max(0) as u64 * page_size.max(0) as u64;
        checkpoint(conn, "PASSIVE");
        Ok(())
    }

    fn finish(self, result: Result<()>) {
        let _ = self.reply.send(result.map(|()| self.report));
    }
}

fn page_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA page_count", [], |r| r.get(0))?)
}

/// Runs `wal_checkpoint(TRUNCATE)`: whether it completed, or the error.
fn checkpoint_truncate(conn: &Connection, path: &Path) -> Result<bool> {
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(|e| DbError::from(e).at(path))?;
    Ok(busy == 0)
}

/// Runs `wal_checkpoint(mode)`; a failure is logged, not fatal.
fn checkpoint(conn: &Connection, mode: &str) -> bool {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    match conn.query_row(&sql, [], |r| r.get::<_, i64>(0)) {
        Ok(0) => true,
        Ok(_) => {
            tracing::debug!(mode, "history.db checkpoint blocked by a reader or writer");
            false
        }
        Err(e) => {
            tracing::warn!(mode, error = %e, "history.db checkpoint failed");
            false
        }
    }
}

/// The writer thread's body: runs until every sender is gone and every
/// command is answered, then checkpoints with TRUNCATE.
pub(crate) fn run(conn: Connection, path: PathBuf, options: Options, rx: Receiver<Message>) {
    let mut expires: VecDeque<ExpireJob> = VecDeque::new();
    let mut checkpoints: Vec<SyncSender<Result<bool>>> = Vec::new();
    let mut commits: u32 = 0;
    let mut open = true;
    loop {
        let first = if expires.is_empty() {
            if !open {
                break;
            }
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            }
        } else {
            match rx.try_recv() {
                Ok(m) => Some(m),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    None
                }
            }
        };
        let mut group: Vec<Box<dyn Pending>> = Vec::new();
        let mut events = 0usize;
        if let Some(m) = first {
            take(m, &mut group, &mut events, &mut expires, &mut checkpoints);
            while group.len() < options.max_group_commands && events < options.max_group_events {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut group, &mut events, &mut expires, &mut checkpoints),
                    Err(_) => break,
                }
            }
        }
        if !group.is_empty() {
            commit_group(&conn, &path, group);
            commits = commits.wrapping_add(1);
            if options.checkpoint_every > 0 && commits % options.checkpoint_every == 0 {
                checkpoint(&conn, "PASSIVE");
            }
        }
        for reply in checkpoints.drain(..) {
            let _ = reply.send(checkpoint_truncate(&conn, &path));
        }
        if let Some(job) = expires.front_mut() {
            match job.step(&conn) {
                Ok(false) => {}
                Ok(true) => {
                    if let Some(job) = expires.pop_front() {
                        job.finish(Ok(()));
                    }
                }
                Err(e) => {
                    if let Some(job) = expires.pop_front() {
                        job.finish(Err(e.at(&path)));
                    }
                }
            }
        }
    }
    if !checkpoint(&conn, "TRUNCATE") {
        checkpoint(&conn, "PASSIVE");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(path = %path.display(), error = %e, "closing history.db failed");
    }
}

fn take(
    m: Message,
    group: &mut Vec<Box<dyn Pending>>,
    events: &mut usize,
    expires: &mut VecDeque<ExpireJob>,
    checkpoints: &mut Vec<SyncSender<Result<bool>>>,
) {
    match m {
        Message::Write(p) => {
            *events += p.weight();
            group.push(p);
        }
        Message::Expire(job) => expires.push_back(job),
        Message::Checkpoint(reply) => checkpoints.push(reply),
    }
}

/// Commits `group` in one transaction, each command in its own savepoint,
/// then answers every command.
pub(crate) fn commit_group(conn: &Connection, path: &Path, mut group: Vec<Box<dyn Pending>>) {
    let result = run_group(conn, path, &mut group);
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for p in group {
        p.finish(result.clone());
    }
}

fn run_group(conn: &Connection, path: &Path, group: &mut [Box<dyn Pending>]) -> Result<()> {
    let err = |e: rusqlite::Error| DbError::from(e).at(path);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
    for p in group.iter_mut() {
        conn.prepare_cached("SAVEPOINT command")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        p.run(conn, path);
        let end = if p.succeeded() {
            "RELEASE command"
        } else {
            "ROLLBACK TO command"
        };
        conn.prepare_cached(end)
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        if !p.succeeded() {
            conn.prepare_cached("RELEASE command")
                .and_then(|mut s| s.execute([]))
                .map_err(err)?;
        }
    }
    conn.execute_batch("COMMIT").map_err(err)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use otto_hooks_plugin_api::Timestamp;

    use super::*;
    use crate::model::{NewEvent, NewRun};

    fn job<T: Send + 'static>(
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> (Box<dyn Pending>, Receiver<Result<T>>) {
        let (tx, rx) = sync_channel(1);
        (Box::new(Job::new(1, f, tx)), rx)
    }

    fn run(id: &str) -> NewRun {
        NewRun {
            id: id.into(),
            project: "/p".into(),
            repo_path: "/p".into(),
            started_at: Timestamp::from_secs(1_700_000_000),
            parallelism: 1,
            total_units: 1,
            tasks_dir: None,
            dry_run: false,
        }
    }

    #[test]
    fn a_failing_command_rolls_back_alone_and_the_rest_of_its_group_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut conn = crate::connection::open_write(&path, &Options::default()).unwrap();
        crate::migrate::migrate(&mut conn).unwrap();

        let (a, ra) = job(|c| commands::start_run(c, &run("a")));
        let (b, rb) = job(|c| {
            commands::start_run(c, &run("b"))?;
            let good = NewEvent::new(Timestamp::from_secs(1_700_000_001), "unit.started");
            let mut bad = good.clone();
            bad.payload = Some("{not json".into());
            commands::append_events(c, "b", &[good, bad])
        });
        let (c2, rc) = job(|c| {
            commands::append_events(
                c,
                "a",
                &[NewEvent::new(
                    Timestamp::from_secs(1_700_000_002),
                    "unit.completed",
                )],
            )
        });
        commit_group(&conn, &path, vec![a, b, c2]);

        ra.recv().unwrap().unwrap();
        assert!(matches!(rb.recv().unwrap(), Err(DbError::Invalid(_))));
        assert_eq!(
            rc.recv().unwrap().unwrap(),
            crate::model::SeqRange { first: 1, last: 1 }
        );
        let runs: Vec<String> = conn
            .prepare("SELECT id FROM runs ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            runs,
            ["a"],
            "run b (same command as the bad event) is not stored"
        );
        let events: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 1);
        let completed: i64 = conn
            .query_row("SELECT completed_units FROM runs WHERE id='a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(completed, 1);
    }
}
