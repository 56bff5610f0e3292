//! Keeping otto's `otto.db` true when a clean deletes otto runs.
//!
//! otto records every run as a `runs` row (with its `tasks` rows) and
//! `otto History` lists those rows. A run directory deleted without its row
//! would stay in otto's history for good, so every deletion of an otto run
//! (`clean`, `run-policies`, the daemon's scheduled pass: all through
//! [`crate::policy::execute`]) deletes the run's rows the way otto's own
//! clean does — `DELETE FROM tasks`, `DELETE FROM runs`, the project's
//! `run_count` decremented — in one transaction, in step with the directory:
//!
//! 1. the run's `.lock` is taken (a live run is never touched, row included);
//! 2. `BEGIN IMMEDIATE` with otto's busy timeout (5 s): we never write while
//!    otto holds the write lock; past the timeout the run is refused whole
//!    (row and directory kept, the command exits 1) and the rest of the
//!    runs with rows are refused at once, without waiting again;
//! 3. the rows are deleted, the directory is renamed into the trash and the
//!    rename is on disk, then `COMMIT`; a failed commit puts the directory
//!    back. The row never goes without the directory, nor the directory
//!    without the row (short of a crash between the rename and the commit,
//!    which leaves the row: an orphan row, reported and prunable).
//!
//! Only schema versions this crate knows are written (1 to
//! [`otto_hooks_status_default::SUPPORTED_SCHEMA`]). An unknown schema (a
//! newer otto), or a database that cannot be opened for writing, gets a
//! one-line warning and no write at all; the run directories still go (the
//! disk is what otto-hooks manages — as before this module, otto's history
//! then lists them until otto cleans its rows).
//!
//! Rows whose run directory is gone ("orphan rows") are listed by `clean`
//! and counted by `usage`; `clean --prune-rows` deletes them, each checked
//! again inside the transaction.
//!
//! The database is opened with [`otto_hooks_status_default::open_otto_db`]:
//! nothing of ours (`-wal`, `-shm`) stays next to it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::report::{OttoDbRow, OttoDbRows, PlannedRun};
use otto_hooks_status_default::{
    Access, RowKey, SUPPORTED_SCHEMA, open_otto_db, read_row_keys, run_dir_key,
};
use rusqlite::{Connection, OptionalExtension};

use crate::fsops::Companion;

/// A row younger than this is never an orphan: otto may record a run's row
/// before its directory is there.
const ORPHAN_MIN_AGE_SECS: i64 = 600;

/// otto.db of one `$OTTO_HOME`, opened for a clean.
pub struct OttoDb {
    /// `<home>/otto.db`.
    path: PathBuf,
    /// `$OTTO_HOME`, as the runs' locations spell it, and canonical.
    homes: Vec<PathBuf>,
    /// Its schema version, when read.
    version: Option<i64>,
    state: State,
}

enum State {
    /// No otto.db: nothing to keep true.
    Absent,
    /// Not written, for this reason (one line).
    NotWritten(String),
    /// Known schema, rows read.
    Ready(Box<Ready>),
}

struct Ready {
    conn: Connection,
    rows: Vec<RowKey>,
    /// Row indices by `run_dir`.
    by_dir: HashMap<String, Vec<usize>>,
    /// Row indices (of rows without `run_dir`) by key.
    by_key: HashMap<(u32, u64, u32), Vec<usize>>,
    /// For rows without `run_dir`, the last same-second index of each
    /// (project hash, second): see [`OttoDb::rows_of`].
    last_of_second: HashMap<(u32, u64), u32>,
    /// `projects.run_count` exists.
    run_count: bool,
    /// `runs.run_dir` exists (schema 5).
    has_run_dir: bool,
    /// Set once otto held the write lock past the busy timeout.
    busy: Option<String>,
    /// The rows deleted (or, read-only, to delete) so far.
    done: Vec<OttoDbRow>,
}

impl std::fmt::Debug for OttoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OttoDb")
            .field("path", &self.path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl OttoDb {
    /// Opens `<home>/otto.db` (never creating it) and reads its rows' keys.
    /// Never fails: what went wrong is in [`OttoDb::warning`].
    pub fn open(home: &Path, access: Access) -> OttoDb {
        let path = home.join("otto.db");
        let mut homes = vec![home.to_path_buf()];
        if let Ok(canonical) = home.canonicalize() {
            if canonical != home {
                homes.push(canonical);
            }
        }
        let mut db = OttoDb {
            path,
            homes,
            version: None,
            state: State::Absent,
        };
        if std::fs::symlink_metadata(&db.path).is_err() {
            return db;
        }
        db.state = match db.load(access) {
            Ok(ready) => State::Ready(Box::new(ready)),
            Err(why) => State::NotWritten(why),
        };
        db
    }

    fn load(&mut self, access: Access) -> Result<Ready, String> {
        let conn = open_otto_db(&self.path, access)?;
        let version = schema_version(&conn)?;
        self.version = version;
        match version {
            Some(v) if (1..=SUPPORTED_SCHEMA).contains(&v) => {}
            Some(v) => {
                return Err(format!(
                    "its schema version {v} is not one otto-hooks knows (1 to {SUPPORTED_SCHEMA})"
                ));
            }
            None => return Err("it has no schema version".into()),
        }
        for (table, column) in [
            ("runs", "project_id"),
            ("tasks", "run_id"),
            ("projects", "id"),
        ] {
            if !has_column(&conn, table, column)? {
                return Err(format!("its `{table}` table has no `{column}` column"));
            }
        }
        let run_count = has_column(&conn, "projects", "run_count")?;
        let has_run_dir = has_column(&conn, "runs", "run_dir")?;
        if access == Access::Write {
            // As otto: the tasks' cascade is declared, and only enforced so.
            conn.pragma_update(None, "foreign_keys", true)
                .map_err(|e| format!("cannot enable foreign keys: {e}"))?;
        }
        let rows = read_row_keys(&conn)?;
        let mut by_dir: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_key: HashMap<(u32, u64, u32), Vec<usize>> = HashMap::new();
        let mut last_of_second: HashMap<(u32, u64), u32> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            match (&row.run_dir, row.key) {
                (Some(dir), _) => by_dir.entry(dir.clone()).or_default().push(i),
                (None, Some(key @ (hash, ts, seq))) => {
                    by_key.entry(key).or_default().push(i);
                    let last = last_of_second.entry((hash, ts)).or_default();
                    *last = (*last).max(seq);
                }
                (None, None) => {}
            }
        }
        Ok(Ready {
            conn,
            rows,
            by_dir,
            by_key,
            last_of_second,
            run_count,
            has_run_dir,
            busy: None,
            done: Vec::new(),
        })
    }

    /// The one-line warning when the database exists but is not written.
    pub fn warning(&self) -> Option<String> {
        match &self.state {
            State::NotWritten(why) => Some(format!(
                "{}: {why}; its rows are left as they are (the run directories still go, and `otto History` lists them until otto cleans its rows)",
                self.path.display()
            )),
            _ => None,
        }
    }

    /// The rows of run directory `<home>/<project>/<run>`: those whose
    /// `run_dir` names it, and those without `run_dir` whose project hash,
    /// second and same-second index are its — unless a later row of the
    /// same second has no `run_dir` either. Such rows are matched to runs by
    /// their order (`<ts>`, `<ts>-1`, …), recomputed at every read: deleting
    /// one in the middle would shift every later row onto another run (a
    /// kept run reading another's status, its own row seen as an orphan).
    /// So a row is kept while a later one of its second remains; it goes
    /// when the last ones do (as an orphan row, `--prune-rows`).
    fn rows_of(&self, project: &str, run: &str) -> Vec<usize> {
        let State::Ready(ready) = &self.state else {
            return Vec::new();
        };
        let mut out: Vec<usize> = Vec::new();
        for home in &self.homes {
            let dir = home.join(project).join(run);
            if let Some(found) = dir.to_str().and_then(|d| ready.by_dir.get(d)) {
                out.extend(found);
            }
        }
        if let Some(key @ (hash, ts, seq)) = run_dir_key(project, run) {
            let last = ready.last_of_second.get(&(hash, ts)).copied();
            if last.is_none_or(|last| last <= seq) {
                if let Some(found) = ready.by_key.get(&key) {
                    out.extend(found);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// What goes with run `<project>/<run>` when it is deleted: its rows.
    pub fn companion(&mut self, project: &str, run: &str) -> RowsCompanion<'_> {
        let rows = self.rows_of(project, run);
        let ready = match &mut self.state {
            State::Ready(ready) if !rows.is_empty() => Some(ready.as_mut()),
            _ => None,
        };
        RowsCompanion {
            ready,
            rows,
            project: project.to_owned(),
            run: run.to_owned(),
            in_tx: false,
        }
    }

    /// Records, without writing, the rows that would go with `run`.
    pub fn plan_run(&mut self, project: &str, run: &str) {
        let rows = self.rows_of(project, run);
        if let State::Ready(ready) = &mut self.state {
            for i in &rows {
                if let Some(row) = ready.rows.get(*i) {
                    let doc = row_doc(row, Some(project), Some(run));
                    ready.done.push(doc);
                }
            }
            forget_positional(ready, &rows);
        }
    }

    /// The rows whose run directory is gone (see the module docs), with the
    /// run directory each names. `now`: epoch seconds.
    fn orphans(&self, now: i64) -> Vec<(usize, Option<(String, String)>)> {
        let State::Ready(ready) = &self.state else {
            return Vec::new();
        };
        let mut by_hash: HashMap<u32, Vec<String>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&self.homes[0]) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str() {
                    if let Some((hash, _, _)) = run_dir_key(name, "0") {
                        by_hash.entry(hash).or_default().push(name.to_owned());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (i, row) in ready.rows.iter().enumerate() {
            if row.timestamp.is_none_or(|t| t > now - ORPHAN_MIN_AGE_SECS) {
                continue;
            }
            // A row placed by its order is an orphan only when it is the
            // last of its second (see `rows_of`).
            if let (None, Some((hash, ts, seq))) = (&row.run_dir, row.key) {
                if ready
                    .last_of_second
                    .get(&(hash, ts))
                    .is_some_and(|&last| last > seq)
                {
                    continue;
                }
            }
            if let Some(found) = self.located(row, &by_hash) {
                if found.exists {
                    continue;
                }
                out.push((i, found.named));
            }
        }
        out
    }

    /// Where `row`'s run directory is (or was): `None` when the row names
    /// none (no `run_dir`, no key): such a row is never an orphan.
    fn located(&self, row: &RowKey, by_hash: &HashMap<u32, Vec<String>>) -> Option<Located> {
        let mut named = None;
        let mut any = false;
        if let Some(dir) = &row.run_dir {
            any = true;
            let path = Path::new(dir);
            if std::fs::symlink_metadata(path).is_ok() {
                return Some(Located {
                    exists: true,
                    named: None,
                });
            }
            named = split_run_dir(path);
        }
        if let Some((hash, ts, seq)) = row.key {
            any = true;
            let run = if seq == 0 {
                ts.to_string()
            } else {
                format!("{ts}-{seq}")
            };
            for project in by_hash.get(&hash).into_iter().flatten() {
                if std::fs::symlink_metadata(self.homes[0].join(project).join(&run)).is_ok() {
                    return Some(Located {
                        exists: true,
                        named: None,
                    });
                }
            }
            if named.is_none() {
                named = row.project_dir.clone().map(|p| (p, run));
            }
        }
        any.then_some(Located {
            exists: false,
            named,
        })
    }

    /// The document part: what was (or would be) deleted, the orphan rows,
    /// and — with `prune` and `write` — the orphan rows deleted now.
    /// Errors of the pruning go to `warnings`.
    pub fn finish(
        &mut self,
        prune: bool,
        write: bool,
        warnings: &mut Vec<String>,
    ) -> Option<OttoDbRows> {
        self.finish_audited(prune, write, None, warnings)
    }

    /// [`OttoDb::finish`], each pruned row recorded in `audit` (intent,
    /// then outcome: see [`crate::audit`]).
    pub fn finish_audited(
        &mut self,
        prune: bool,
        write: bool,
        audit: Option<&mut crate::audit::AuditLog>,
        warnings: &mut Vec<String>,
    ) -> Option<OttoDbRows> {
        let mut doc = OttoDbRows {
            path: self.path.display().to_string(),
            schema_version: self.version,
            prune_orphans: prune,
            ..OttoDbRows::default()
        };
        match &self.state {
            State::Absent => return None,
            State::NotWritten(why) => {
                doc.not_written = Some(why.clone());
                return Some(doc);
            }
            State::Ready(_) => {}
        }
        let orphans = self.orphans(otto_hooks_plugin_api::Timestamp::now().secs);
        let State::Ready(ready) = &mut self.state else {
            return None;
        };
        doc.rows = std::mem::take(&mut ready.done);
        let docs: Vec<(i64, OttoDbRow)> = orphans
            .iter()
            .filter_map(|(i, named)| {
                let row = ready.rows.get(*i)?;
                let (project, run) = match named {
                    Some((p, r)) => (Some(p.as_str()), Some(r.as_str())),
                    None => (None, None),
                };
                Some((row.id, row_doc(row, project, run)))
            })
            .collect();
        if prune && write && !docs.is_empty() {
            match prune_rows(ready, &self.path, &docs, &self.homes, audit) {
                Ok(pruned) => doc.orphan_rows = pruned,
                Err(e) => {
                    warnings.push(format!(
                        "{}: orphan rows not pruned: {e}",
                        self.path.display()
                    ));
                    doc.prune_orphans = false;
                    doc.orphan_rows = docs.into_iter().map(|(_, d)| d).collect();
                }
            }
        } else {
            doc.orphan_rows = docs.into_iter().map(|(_, d)| d).collect();
        }
        Some(doc)
    }

    /// How many orphan rows there are (for `usage`).
    pub fn orphan_count(&self) -> usize {
        self.orphans(otto_hooks_plugin_api::Timestamp::now().secs)
            .len()
    }
}

/// A row's run directory: exists, or the (project, run) it named.
struct Located {
    exists: bool,
    named: Option<(String, String)>,
}

/// `<...>/<project>/<run>` split into its last two names.
fn split_run_dir(path: &Path) -> Option<(String, String)> {
    let run = path.file_name()?.to_str()?.to_owned();
    let project = path.parent()?.file_name()?.to_str()?.to_owned();
    Some((project, run))
}

fn row_doc(row: &RowKey, project: Option<&str>, run: Option<&str>) -> OttoDbRow {
    OttoDbRow {
        id: row.id,
        project: project.map(str::to_owned),
        run: run.map(str::to_owned),
        run_dir: row.run_dir.clone(),
        timestamp: row.timestamp,
        tasks: row.tasks,
    }
}

/// `MAX(version)` of `schema_version`; `None` without that table.
fn schema_version(conn: &Connection) -> Result<Option<i64>, String> {
    match conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
        r.get::<_, Option<i64>>(0)
    }) {
        Ok(v) => Ok(v),
        Err(rusqlite::Error::SqliteFailure(_, Some(msg))) if msg.contains("no such table") => {
            Ok(None)
        }
        Err(e) => Err(format!("cannot read its schema version: {e}")),
    }
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, String> {
    let err = |e: rusqlite::Error| format!("cannot read the columns of `{table}`: {e}");
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .map_err(err)?;
    let mut names = stmt.query_map([], |r| r.get::<_, String>(1)).map_err(err)?;
    Ok(names.any(|n| n.is_ok_and(|n| n == column)))
}

/// `BEGIN IMMEDIATE`, waiting up to the busy timeout for otto's writer.
fn begin(ready: &mut Ready) -> Result<(), String> {
    if let Some(busy) = &ready.busy {
        return Err(busy.clone());
    }
    match ready.conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            let busy =
                "otto.db is locked by a writer (otto) for more than 5 s: its rows and the run are kept"
                    .to_owned();
            ready.busy = Some(busy.clone());
            Err(busy)
        }
        Err(e) => Err(format!("cannot begin a transaction on otto.db: {e}")),
    }
}

/// Deletes run row `id` with its tasks, as otto's own clean does; inside
/// a transaction. Whether the row was still there to delete.
fn delete_row(
    ready: &Ready,
    id: i64,
    timestamp: Option<i64>,
    run_dir: Option<&str>,
) -> Result<bool, String> {
    let err = |e: rusqlite::Error| format!("cannot delete row {id} of otto.db: {e}");
    // The row read at the start, not whatever has its id now: SQLite hands
    // a deleted newest id to the next insert.
    let project: Option<i64> = if ready.has_run_dir {
        ready
            .conn
            .query_row(
                "SELECT project_id FROM runs WHERE id = ?1 AND timestamp IS ?2 AND run_dir IS ?3",
                rusqlite::params![id, timestamp, run_dir],
                |r| r.get(0),
            )
            .optional()
    } else {
        ready
            .conn
            .query_row(
                "SELECT project_id FROM runs WHERE id = ?1 AND timestamp IS ?2",
                rusqlite::params![id, timestamp],
                |r| r.get(0),
            )
            .optional()
    }
    .map_err(err)?;
    let Some(project) = project else {
        // Gone since it was read (otto cleaned it): nothing to do.
        return Ok(false);
    };
    ready
        .conn
        .execute("DELETE FROM tasks WHERE run_id = ?1", [id])
        .map_err(err)?;
    ready
        .conn
        .execute("DELETE FROM runs WHERE id = ?1", [id])
        .map_err(err)?;
    if ready.run_count {
        ready
            .conn
            .execute(
                "UPDATE projects SET run_count = run_count - 1 WHERE id = ?1",
                [project],
            )
            .map_err(err)?;
    }
    Ok(true)
}

fn rollback(conn: &Connection) {
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        tracing::warn!("cannot roll back a transaction on otto.db: {e}");
    }
}

/// What the audit log says about pruning orphan row `doc` of `db`.
fn prune_subject(db: &Path, doc: &OttoDbRow) -> crate::audit::Subject {
    let run_dir = doc
        .run_dir
        .as_deref()
        .map_or_else(|| "no run_dir".to_owned(), |d| format!("run_dir {d}"));
    crate::audit::Subject {
        kind: Some(crate::audit::Kind::OttoDbRow),
        project: doc.project.clone(),
        target: doc.run.clone().unwrap_or_else(|| format!("row {}", doc.id)),
        path: Some(db.display().to_string()),
        rule: Some("--prune-rows: orphan row (its run directory is gone)".to_owned()),
        reasons: vec![format!(
            "otto.db runs row {} ({}, timestamp {}) and its {} task row(s)",
            doc.id,
            run_dir,
            doc.timestamp
                .map_or_else(|| "none".to_owned(), |t| t.to_string()),
            doc.tasks
        )],
        bytes: None,
    }
}

/// Deletes the orphan rows `docs` (id, document) in one transaction, each
/// checked again to name no existing directory; returns those deleted.
///
/// With `audit`, each row's intent is written (and synced) before the
/// transaction begins — a failure to write one deletes no row — and each
/// row's outcome after it ends: `deleted`, `already-gone` (otto deleted it
/// meanwhile), `refused` (its directory is back) or `failed` (the
/// transaction was rolled back).
fn prune_rows(
    ready: &mut Ready,
    db: &Path,
    docs: &[(i64, OttoDbRow)],
    homes: &[PathBuf],
    mut audit: Option<&mut crate::audit::AuditLog>,
) -> Result<Vec<OttoDbRow>, String> {
    use crate::audit::Outcome;
    let mut intents: Vec<Option<String>> = Vec::with_capacity(docs.len());
    if let Some(log) = audit.as_deref_mut() {
        for (_, doc) in docs {
            match log.intent(&prune_subject(db, doc)) {
                Ok(id) => intents.push(Some(id)),
                Err(e) => {
                    for (id, (_, doc)) in intents.iter().zip(docs) {
                        let _ = log.outcome(
                            id.as_deref(),
                            &prune_subject(db, doc),
                            Outcome::Refused,
                            Some("no audit record could be written for every row"),
                        );
                    }
                    return Err(format!(
                        "not pruned: no audit record could be written ({e})"
                    ));
                }
            }
        }
    }
    let mut record = |i: usize, outcome: Outcome, error: Option<&str>| {
        if let Some(log) = audit.as_deref_mut() {
            let id = intents.get(i).cloned().flatten();
            if let Err(e) = log.outcome(
                id.as_deref(),
                &prune_subject(db, &docs[i].1),
                outcome,
                error,
            ) {
                tracing::warn!("{e}");
            }
        }
    };
    if let Err(e) = begin(ready) {
        for i in 0..docs.len() {
            record(i, Outcome::Failed, Some(&e));
        }
        return Err(e);
    }
    // (index, deleted now) of each row the transaction touched.
    let mut done: Vec<(usize, bool)> = Vec::new();
    for (i, (id, doc)) in docs.iter().enumerate() {
        // The directory may have appeared since the survey.
        let back = doc.run_dir.as_deref().map(PathBuf::from).into_iter().chain(
            doc.project
                .iter()
                .zip(doc.run.iter())
                .map(|(p, r)| homes[0].join(p).join(r)),
        );
        if back
            .into_iter()
            .any(|p| std::fs::symlink_metadata(p).is_ok())
        {
            record(
                i,
                Outcome::Refused,
                Some("its run directory is there again"),
            );
            continue;
        }
        match delete_row(ready, *id, doc.timestamp, doc.run_dir.as_deref()) {
            Ok(deleted) => done.push((i, deleted)),
            Err(e) => {
                rollback(&ready.conn);
                for (j, _) in docs.iter().enumerate().skip(i) {
                    record(j, Outcome::Failed, Some(&e));
                }
                for (j, _) in &done {
                    record(*j, Outcome::Failed, Some(&e));
                }
                return Err(e);
            }
        }
    }
    if let Err(e) = ready.conn.execute_batch("COMMIT") {
        rollback(&ready.conn);
        let e = format!("cannot commit to otto.db: {e}");
        for (j, _) in &done {
            record(*j, Outcome::Failed, Some(&e));
        }
        return Err(e);
    }
    let mut pruned = Vec::new();
    for (i, deleted) in done {
        if deleted {
            record(i, Outcome::Deleted, None);
            pruned.push(docs[i].1.clone());
        } else {
            record(i, Outcome::AlreadyGone, None);
        }
    }
    Ok(pruned)
}

/// The rows of one run, deleted in step with its directory (see
/// [`crate::fsops::OttoRoot::delete_run_with`]).
pub struct RowsCompanion<'a> {
    /// `None`: nothing to delete (no row, or a database not written).
    ready: Option<&'a mut Ready>,
    rows: Vec<usize>,
    project: String,
    run: String,
    in_tx: bool,
}

impl std::fmt::Debug for RowsCompanion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowsCompanion")
            .field("project", &self.project)
            .field("run", &self.run)
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl Companion for RowsCompanion<'_> {
    fn prepare(&mut self) -> Result<(), String> {
        let Some(ready) = self.ready.as_deref_mut() else {
            return Ok(());
        };
        begin(ready)?;
        self.in_tx = true;
        for i in &self.rows {
            let Some(row) = ready.rows.get(*i) else {
                continue;
            };
            if let Err(e) =
                delete_row(ready, row.id, row.timestamp, row.run_dir.as_deref()).map(drop)
            {
                rollback(&ready.conn);
                self.in_tx = false;
                return Err(e);
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), String> {
        let Some(ready) = self.ready.as_deref_mut() else {
            return Ok(());
        };
        if !self.in_tx {
            return Ok(());
        }
        self.in_tx = false;
        if let Err(e) = ready.conn.execute_batch("COMMIT") {
            rollback(&ready.conn);
            return Err(format!("cannot commit to otto.db: {e}"));
        }
        for i in &self.rows {
            if let Some(row) = ready.rows.get(*i) {
                let doc = row_doc(row, Some(&self.project), Some(&self.run));
                ready.done.push(doc);
            }
        }
        forget_positional(ready, &self.rows);
        Ok(())
    }

    fn abort(&mut self) {
        if let Some(ready) = self.ready.as_deref_mut() {
            if self.in_tx {
                rollback(&ready.conn);
            }
        }
        self.in_tx = false;
    }
}

/// The order runs are deleted in: by project, then by second, and within
/// one second the last suffix first (`<ts>-2`, `<ts>-1`, `<ts>`), so that
/// rows placed by their order go from the end and none is ever shifted.
pub fn deletion_order(project: &str, run: &str) -> (String, u64, std::cmp::Reverse<u32>) {
    let (ts, n) = run.split_once('-').unwrap_or((run, "0"));
    (
        project.to_owned(),
        ts.parse().unwrap_or(u64::MAX),
        std::cmp::Reverse(n.parse().unwrap_or(0)),
    )
}

/// Forgets the committed rows `rows` placed by their order, so that the
/// row before them in their second becomes the last one (and may go).
fn forget_positional(ready: &mut Ready, rows: &[usize]) {
    for i in rows {
        let Some(row) = ready.rows.get(*i) else {
            continue;
        };
        let (None, Some(key @ (hash, ts, _))) = (&row.run_dir, row.key) else {
            continue;
        };
        ready.by_key.remove(&key);
        let last = ready
            .by_key
            .keys()
            .filter(|(h, t, _)| *h == hash && *t == ts)
            .map(|(_, _, s)| *s)
            .max();
        match last {
            Some(last) => ready.last_of_second.insert((hash, ts), last),
            None => ready.last_of_second.remove(&(hash, ts)),
        };
    }
}

/// A companion dropped in the middle of its transaction (a path that
/// neither committed nor aborted it) rolls back: otto.db's write lock is
/// never held past the deletion of one run.
impl Drop for RowsCompanion<'_> {
    fn drop(&mut self) {
        Companion::abort(self);
    }
}

/// The otto.db part of a dry run: the rows that would go with `deleted`
/// (the plan's runs, all under `home`) and the orphan rows. Warnings (an
/// unknown schema) go to `warnings`.
pub fn preview(
    home: &Path,
    deleted: &[PlannedRun],
    prune: bool,
    warnings: &mut Vec<String>,
) -> Option<OttoDbRows> {
    let mut db = OttoDb::open(home, Access::Read);
    warnings.extend(db.warning());
    // In the order the deletion takes them (see `policy::execute`).
    let mut order: Vec<&PlannedRun> = deleted.iter().collect();
    order.sort_by_key(|r| deletion_order(&r.project, &r.run));
    for run in order {
        db.plan_run(&run.project, &run.run);
    }
    db.finish(prune, false, warnings)
}

/// The otto.db of each home, opened for writing once, for
/// [`crate::policy::execute`].
#[derive(Debug, Default)]
pub struct Databases {
    dbs: BTreeMap<PathBuf, OttoDb>,
}

impl Databases {
    /// The database of `home`, opened (and its warning given) the first time.
    pub fn of(&mut self, home: &Path, warnings: &mut Vec<String>) -> &mut OttoDb {
        // One database per home however its path is spelt (the runs'
        // locations and the configured `otto_home` may differ).
        let key = home.canonicalize().unwrap_or_else(|_| home.to_path_buf());
        self.dbs.entry(key).or_insert_with(|| {
            let db = OttoDb::open(home, Access::Write);
            warnings.extend(db.warning());
            db
        })
    }

    /// Every database's document part (pruning orphans with `prune`,
    /// each pruned row recorded in `audit` when given).
    pub fn finish(
        mut self,
        prune: bool,
        mut audit: Option<&mut crate::audit::AuditLog>,
        warnings: &mut Vec<String>,
    ) -> Vec<OttoDbRows> {
        self.dbs
            .values_mut()
            .filter_map(|db| db.finish_audited(prune, true, audit.as_deref_mut(), warnings))
            .collect()
    }
}

/// The `$OTTO_HOME` that storage `spec` reads, when it is otto's (`otto-fs`).
pub fn otto_home_of_spec(spec: &crate::config::InstanceSpec, hooks_home: &Path) -> Option<PathBuf> {
    if spec.plugin != "otto-fs" {
        return None;
    }
    let config = otto_hooks_plugin_api::PluginConfig::new(
        spec.instance.clone(),
        spec.settings.clone(),
        hooks_home.to_path_buf(),
    );
    otto_hooks_otto_fs::otto_home_of(&config).ok()
}

/// The `usage` recommendation about `home`'s orphan rows, if it has any.
pub fn usage_recommendation(home: &Path) -> Option<otto_hooks_plugin_api::report::Recommendation> {
    let db = OttoDb::open(home, Access::Read);
    let n = db.orphan_count();
    (n > 0).then(|| otto_hooks_plugin_api::report::Recommendation {
        message: format!(
            "otto.db has {n} row(s) of runs whose directory is gone (`otto History` still lists them)"
        ),
        command: Some("otto-hooks clean --prune-rows".to_owned()),
        bytes: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DDL: &str = include_str!("../../tests/fixtures/otto-db-v5.sql");

    /// `<tmp>/real` with otto.db (v5) and project `web-<hash of /src/web>`.
    fn home() -> (tempfile::TempDir, PathBuf, String, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap().join("real");
        std::fs::create_dir_all(&real).unwrap();
        let conn = Connection::open(real.join("otto.db")).unwrap();
        conn.execute_batch(DDL).unwrap();
        conn.execute_batch(
            "INSERT INTO schema_version VALUES (5, 1750000000);
             INSERT INTO projects (id, hash, name, ottofile_path, first_seen, last_seen, run_count)
                 VALUES (1, 'c0ffee', 'web', '/src/web/otto.yml', 1, 1, 3);",
        )
        .unwrap();
        let project = format!("web-{:08x}", run_dir_key_hash("/src/web/otto.yml").unwrap());
        std::fs::create_dir_all(real.join(&project)).unwrap();
        (tmp, real, project, conn)
    }

    fn run_dir_key_hash(ottofile: &str) -> Option<u32> {
        use std::os::unix::ffi::OsStrExt;
        let dir = Path::new(ottofile).parent()?;
        let digest = sha256(dir.as_os_str().as_bytes());
        Some(u32::from_be_bytes(digest[..4].try_into().ok()?))
    }

    fn sha256(data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(data).to_vec()
    }

    fn insert(conn: &Connection, id: i64, ts: i64, run_dir: Option<&str>) {
        conn.execute(
            "INSERT INTO runs (id, project_id, timestamp, status, ottofile_path, run_dir)
             VALUES (?1, 1, ?2, 'success', '/src/web/otto.yml', ?3)",
            rusqlite::params![id, ts, run_dir],
        )
        .unwrap();
    }

    #[test]
    fn a_home_reached_through_a_symlink_still_finds_the_rows_otto_wrote_with_its_real_path() {
        let (tmp, real, project, conn) = home();
        let dir = real.join(&project).join("1700000000");
        std::fs::create_dir_all(&dir).unwrap();
        insert(&conn, 1, 1_700_000_000, dir.to_str());
        drop(conn);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let db = OttoDb::open(&link, Access::Read);
        assert_eq!(db.version, Some(5));
        assert_eq!(db.rows_of(&project, "1700000000"), vec![0]);
        assert!(db.rows_of(&project, "1700000001").is_empty());
    }

    #[test]
    fn young_rows_and_rows_naming_no_directory_are_never_orphans() {
        let (_tmp, real, project, conn) = home();
        let now = otto_hooks_plugin_api::Timestamp::now().secs;
        let gone = real.join(&project).join("1600000000");
        insert(&conn, 1, 1_600_000_000, gone.to_str());
        // Recorded a minute ago; its directory is not there (yet).
        insert(&conn, 2, now - 60, None);
        // No ottofile_path, no run_dir: it names no directory.
        conn.execute(
            "INSERT INTO runs (id, project_id, timestamp, status) VALUES (3, 1, 1500000000, 'failed')",
            [],
        )
        .unwrap();
        drop(conn);
        let db = OttoDb::open(&real, Access::Read);
        let orphans: Vec<usize> = db.orphans(now).into_iter().map(|(i, _)| i).collect();
        assert_eq!(orphans, vec![0]);
        // Its directory back: no longer an orphan.
        std::fs::create_dir_all(&gone).unwrap();
        assert!(db.orphans(now).is_empty());
    }

    #[test]
    fn a_database_without_schema_version_is_not_written() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Connection::open(tmp.path().join("otto.db")).unwrap();
        conn.execute_batch("CREATE TABLE runs (id INTEGER PRIMARY KEY, timestamp INTEGER);")
            .unwrap();
        drop(conn);
        let db = OttoDb::open(tmp.path(), Access::Write);
        let warning = db.warning().unwrap();
        assert!(warning.contains("no schema version"), "{warning}");
        assert!(!warning.contains('\n'));
    }
}
