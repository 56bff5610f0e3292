//! The SQLite history (`history.db`) as the insights read it: runs from
//! `runs`, units folded from the stored `unit.*` events in `seq` order.
//!
//! Since schema 4 the units are read from `unit_executions`, the per-unit
//! summary the writer keeps with the events (one row per unit per run:
//! `otto_hooks_sqlite::executions`), on its `(run_id, unit)` key for a
//! window's runs and on its `(unit, started_at)` index for one unit's
//! newest executions. A database of an older schema (opened read-only, not
//! migrated yet) is read by folding its events, the same way.
//!
//! A unit's status is the one its last `unit.*` event left (as `info`
//! shows it, module [`crate::units`]); one still `running` or `queued` in a
//! run that has ended was cut off and reads as `interrupted`. Its duration
//! is the `duration_ms` its final event carries (imported otto runs), else
//! the time from its first `unit.started` to that event; its exit code is
//! the final event's `exit_code`. Units carry no script hash: `flaky` reads
//! flips within the window. A unit's log (in `history TASK`) is
//! `<tasks_dir>/<unit>/stdout.log` when that file exists (an imported otto
//! run's `tasks/`).

use std::collections::HashMap;

use otto_hooks_plugin_api::TaskStatus;
use otto_hooks_sqlite::time::{format_time, parse_time};
use rusqlite::{Connection, OptionalExtension};

use super::frame::{Exec, FastMap, Frame, NONE};
use super::otto_cache::{self, Block, BlockView, Cache, TaskRow};
use super::rows::{RowView, for_each_row};
use super::{Execution, HistoryQuery, InsightError, Result, RunRecord, RunTasks, Scope, Source};
use crate::run_ref::{self, RunSpec};

/// The history of one `history.db`, over a connection the caller holds
/// (the CLI's own read-only one, or a daemon reader).
pub struct HistorySource<'c> {
    conn: &'c Connection,
    path: String,
    /// Whether the database has `unit_executions` (schema 4 or later).
    summary: bool,
    /// Where the derived cache of the unit summary lives; `None`: the
    /// database alone.
    cache_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for HistorySource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistorySource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens `path` read-only, never creating it; a database of an older
/// schema is read as it is (the unit index of schema 3 only makes it
/// faster).
pub fn open(path: &std::path::Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(InsightError::bad_input(format!(
            "{}: no such history file (the hooks create it on their first run; `otto-hooks import otto` fills it from otto)",
            path.display()
        )));
    }
    otto_hooks_sqlite::connection::open_read(path, &otto_hooks_sqlite::Options::default())
        .map_err(|e| InsightError::failed(e.to_string()))
}

/// The scope's start window as stored-time text bounds `(from, to)`, for
/// `started_at >= from AND started_at < to` on history.db or PostgreSQL:
/// stored times are fixed-width text, so text order is time order.
pub(super) fn stored_time_bounds(scope: &Scope) -> Result<(String, String)> {
    let at = |secs: i64| {
        format_time(otto_hooks_plugin_api::Timestamp::from_secs(secs))
            .map_err(|e| InsightError::bad_input(e.to_string()))
    };
    let from = match scope.from {
        Some(f) => at(f.max(0))?,
        None => String::new(),
    };
    let to = match scope.to {
        Some(t) => at(t.clamp(0, 253_402_300_799))?,
        None => "~".to_owned(),
    };
    Ok((from, to))
}

impl<'c> HistorySource<'c> {
    /// The history behind `conn` (the file `path`).
    pub fn new(conn: &'c Connection, path: impl Into<String>) -> Self {
        HistorySource {
            conn,
            path: path.into(),
            summary: otto_hooks_sqlite::executions::present(conn).unwrap_or(false),
            cache_dir: None,
        }
    }

    /// The executions `sql` selects from `unit_executions` (columns
    /// [`SUMMARY_COLUMNS`]), of the runs in `runs` only; a unit still
    /// running or pending in a run that has ended reads as interrupted.
    fn summary_query(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        runs: &HashMap<String, RunRecord>,
    ) -> Result<Vec<Execution>> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let Some(run) = runs.get(row.get_ref(0)?.as_str()?) else {
                continue;
            };
            out.push(summary_execution(row, run)?);
        }
        Ok(out)
    }

    /// The runs of `scope`, by id.
    fn runs_by_id(&self, scope: &Scope) -> Result<HashMap<String, RunRecord>> {
        let (from, to) = stored_time_bounds(scope)?;
        let mut stmt = self.conn.prepare(
            "SELECT id, COALESCE(project, repo_path), started_at, completed_at, status
             FROM runs WHERE started_at >= ?1 AND started_at < ?2",
        )?;
        let mut rows = stmt.query([&from, &to])?;
        let mut out = HashMap::new();
        while let Some(row) = rows.next()? {
            let record = run_record(row)?;
            if scope.has_project(&record.project) {
                out.insert(row.get::<_, String>(0)?, record);
            }
        }
        Ok(out)
    }

    /// The units of the runs `ids` (all unit events of `task`, or of every
    /// unit), folded.
    fn fold_query(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        runs: &HashMap<String, RunRecord>,
    ) -> Result<Vec<Execution>> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(params)?;
        let mut fold = Fold::default();
        while let Some(row) = rows.next()? {
            let run_id = row.get_ref(0)?.as_str()?;
            let Some(run) = runs.get(run_id) else {
                continue;
            };
            fold.push(
                run_id,
                run,
                row.get_ref(1)?.as_str()?,
                row.get_ref(2)?.as_str()?,
                row.get_ref(3)?.as_str()?,
                row.get_ref(4)?.as_str_or_null()?,
            );
        }
        Ok(fold.finish(runs))
    }
}

/// The columns of `unit_executions` [`summary_execution`] reads.
const SUMMARY_COLUMNS: &str =
    "u.run_id, u.unit, u.status, u.exit_code, u.started_at, u.duration_ms";

/// How many columns [`SUMMARY_COLUMNS`] names.
const SUMMARY_WIDTH: usize = 6;

/// A `unit_executions` row (of [`SUMMARY_COLUMNS`]) of `run`.
fn summary_execution(row: &rusqlite::Row<'_>, run: &RunRecord) -> Result<Execution> {
    let mut status = match row.get_ref(2)?.as_str()? {
        "success" => TaskStatus::Success,
        "failed" => TaskStatus::Failed,
        "skipped" => TaskStatus::Skipped,
        "running" => TaskStatus::Running,
        "pending" => TaskStatus::Pending,
        _ => TaskStatus::Unknown,
    };
    if matches!(status, TaskStatus::Running | TaskStatus::Pending) && run.status != "running" {
        status = TaskStatus::Interrupted;
    }
    Ok(Execution {
        project: run.project.clone(),
        task: row.get(1)?,
        run: run.run.clone(),
        started_at: stored_time(row.get_ref(4)?.as_str()?).map_or(run.started_at, |t| t.0),
        duration_seconds: row.get::<_, Option<f64>>(5)?.map(|ms| ms / 1000.0),
        status,
        exit_code: row
            .get::<_, Option<i64>>(3)?
            .and_then(|c| i32::try_from(c).ok()),
        script_hash: None,
        log: None,
    })
}

/// A `unit_executions` row (of [`SUMMARY_COLUMNS`]) of the frame's run
/// `idx` as [`summary_execution`] reads it, without its strings.
fn summary_exec(
    row: &rusqlite::Row<'_>,
    idx: u32,
    project: u32,
    ended: bool,
    run_start: i64,
    frame: &mut Frame,
) -> Result<Exec> {
    let mut status = match row.get_ref(2)?.as_str()? {
        "success" => TaskStatus::Success,
        "failed" => TaskStatus::Failed,
        "skipped" => TaskStatus::Skipped,
        "running" => TaskStatus::Running,
        "pending" => TaskStatus::Pending,
        _ => TaskStatus::Unknown,
    };
    if matches!(status, TaskStatus::Running | TaskStatus::Pending) && ended {
        status = TaskStatus::Interrupted;
    }
    Ok(Exec {
        run: idx,
        project,
        task: frame.tasks.id(row.get_ref(1)?.as_str()?),
        hash: NONE,
        status,
        exit_code: row
            .get::<_, Option<i64>>(3)?
            .and_then(|c| i32::try_from(c).ok()),
        started_at: stored_time(row.get_ref(4)?.as_str()?).map_or(run_start, |t| t.0),
        duration_seconds: row.get::<_, Option<f64>>(5)?.map(|ms| ms / 1000.0),
    })
}

/// The day a stored time falls on, as `YYYYMMDD`, when it is one of the
/// fixed-width form (`YYYY-MM-DDT…`, text order being time order): what the
/// insights cache keeps a run's units under. Any other form: `None` (such a
/// run is read from the database every time).
fn day_key(stored: &str) -> Option<i64> {
    let b = stored.as_bytes();
    if b.len() < 11 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let mut n = 0i64;
    for (i, &c) in b[..10].iter().enumerate() {
        if i == 4 || i == 7 {
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

/// The stored-time prefix of day `key`, and the text just after every time
/// of that day (the prefix with its last digit's byte incremented): the
/// day as a range of stored times.
fn day_range(key: i64) -> (String, String) {
    let start = format!(
        "{:04}-{:02}-{:02}",
        key / 10_000,
        (key / 100) % 100,
        key % 100
    );
    let mut end = start.clone().into_bytes();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, String::from_utf8(end).unwrap_or_default())
}

/// A unit name met at one position of a run, with its numbers: in the
/// frame ([`NONE`]: not yet), and in the block of day `day`.
struct UnitMemo {
    name: String,
    task: u32,
    day: Option<i64>,
    block_name: u32,
}

impl Default for UnitMemo {
    fn default() -> Self {
        UnitMemo {
            name: String::new(),
            task: NONE,
            day: None,
            block_name: NONE,
        }
    }
}

/// What a cached frame read knows of one run row.
#[derive(Clone, Copy)]
struct HistRow {
    /// Its index in the frame ([`NONE`]: outside the scope).
    idx: u32,
    /// Its day ([`day_key`]); `None`: never cached.
    day: Option<i64>,
    /// Its project in the frame.
    project: u32,
    /// Whether it has ended (a unit still running in it was cut off).
    ended: bool,
}

impl HistorySource<'_> {
    /// Reads `stats` and `flaky` windows through a derived cache of the
    /// unit summary in `dir` (`$OTTO_HOOKS_HOME/insights`): the same
    /// answers, sooner once it is filled.
    #[must_use]
    pub fn with_cache(mut self, dir: std::path::PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    /// Fills the cache (given by [`HistorySource::with_cache`]) for the
    /// whole history: every day's block whose runs changed since it was
    /// made is read again, the others are only checked. What the daemon
    /// runs in the background so that its users' `stats` and `flaky` find
    /// the cache warm. Returns the executions the history holds; an error
    /// when there is no cache to fill (none given, history.db older than
    /// schema 4, the cache unusable).
    pub fn warm(&self) -> std::result::Result<usize, String> {
        let Some(dir) = &self.cache_dir else {
            return Err("no insights cache directory".to_owned());
        };
        if !self.summary {
            return Err(format!(
                "{}: no unit summary (schema older than 4): nothing to cache",
                self.path
            ));
        }
        self.frame_cached(dir, &Scope::default(), None)
            .map(|f| f.execs.len())
    }

    /// The frame of `scope` through the cache in `dir`: the runs rows of
    /// the window's days read every time, each day's units from its block
    /// when the day's runs are the ones the block was made from (their ids,
    /// starts, statuses and `last_seq`: the writer changes a run's units
    /// only with its events, which move `last_seq`, and deletes them with
    /// the run), else from `unit_executions` (and the block replaced).
    fn frame_cached(
        &self,
        dir: &std::path::Path,
        scope: &Scope,
        task: Option<&str>,
    ) -> std::result::Result<Frame, String> {
        use sha2::Digest;
        let err = |e: rusqlite::Error| format!("cannot read history.db: {e}");
        let _snapshot = self.conn.unchecked_transaction().map_err(err)?;
        let (from, to) = stored_time_bounds(scope).map_err(|e| e.message)?;
        let lo_key = day_key(&from).unwrap_or(i64::MIN);
        let hi_key = day_key(&to).unwrap_or(i64::MAX);
        let lo = if lo_key == i64::MIN {
            String::new()
        } else {
            day_range(lo_key).0
        };
        let hi = if hi_key == i64::MAX {
            "~".to_owned()
        } else {
            day_range(hi_key).1
        };
        let mut frame = Frame::default();
        let mut rows_of: FastMap<String, HistRow> = FastMap::default();
        // Per day, a digest of each of its runs rows; the day's fingerprint
        // is the digest of them sorted (the rows read in index order, not
        // sorted by id: sorting 100,000 rows cost SQLite as much as reading
        // them).
        let mut fingerprints: FastMap<i64, Vec<[u8; 32]>> = FastMap::default();
        {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id, COALESCE(project, repo_path), started_at, completed_at, status,
                            last_seq, event_count
                     FROM runs WHERE started_at >= ?1 AND started_at < ?2",
                )
                .map_err(err)?;
            let mut rows = stmt.query([&lo, &hi]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let record = run_record(row).map_err(err)?;
                let id = row
                    .get_ref(0)
                    .map_err(err)?
                    .as_str()
                    .map_err(|e| err(e.into()))?;
                let started = row.get_ref(2).map_err(err)?.as_str().unwrap_or_default();
                let day = day_key(started).filter(|_| stored_time(started).is_some());
                if let Some(day) = day {
                    let mut h = sha2::Sha256::new();
                    for text in [id, started, &record.status] {
                        h.update((text.len() as u64).to_le_bytes());
                        h.update(text.as_bytes());
                    }
                    for n in [5, 6] {
                        let v: Option<i64> = row.get(n).map_err(err)?;
                        h.update(v.unwrap_or(-1).to_le_bytes());
                    }
                    fingerprints
                        .entry(day)
                        .or_default()
                        .push(h.finalize().into());
                }
                let in_scope = started >= from.as_str()
                    && started < to.as_str()
                    && scope.has_project(&record.project);
                let ended = record.status != "running";
                let project = frame.projects.id(&record.project);
                let idx = if in_scope {
                    frame.add_run(record)
                } else {
                    NONE
                };
                rows_of.insert(
                    id.to_owned(),
                    HistRow {
                        idx,
                        day,
                        project,
                        ended,
                    },
                );
            }
        }
        let fingerprints: HashMap<i64, [u8; 32]> = fingerprints
            .into_iter()
            .map(|(d, mut rows)| {
                rows.sort_unstable();
                let mut h = sha2::Sha256::new();
                h.update(b"history-day-2");
                for r in &rows {
                    h.update(r);
                }
                (d, h.finalize().into())
            })
            .collect();
        let schema = otto_hooks_sqlite::current_version(self.conn).map_err(|e| e.to_string())?;
        let cache = Cache::open_for(
            dir,
            "history",
            std::path::Path::new(&self.path),
            i64::from(schema),
        )?;
        let mut hit = std::collections::HashSet::new();
        let mut gone = Vec::new();
        let read_blocks = |cache: &Cache,
                           frame: &mut Frame,
                           hit: &mut std::collections::HashSet<i64>,
                           gone: &mut Vec<i64>| {
            gone.clear();
            cache.read(lo_key, hi_key, |day, fp, data| {
                if hit.contains(&day) {
                    return;
                }
                match fingerprints.get(&day) {
                    None => gone.push(day),
                    Some(want) if want[..] == *fp => {
                        if let Some(view) = BlockView::decode(data) {
                            if add_history_block(frame, &view, &rows_of, task) {
                                hit.insert(day);
                            }
                        }
                    }
                    Some(_) => {}
                }
            })
        };
        read_blocks(&cache, &mut frame, &mut hit, &mut gone)?;
        let missing_of = |hit: &std::collections::HashSet<i64>| {
            fingerprints
                .keys()
                .copied()
                .filter(|d| !hit.contains(d))
                .collect::<std::collections::BTreeSet<i64>>()
        };
        let mut missing = missing_of(&hit);
        // Many days to fill: one filler of a cache at a time in this
        // process (the daemon's warmer and its requests). One that waited
        // finds the other's blocks.
        let _turn = if missing.len() > 16 {
            let (turn, waited) = FillTurn::take(otto_cache::path_of(
                dir,
                "history",
                std::path::Path::new(&self.path),
            ));
            if waited {
                read_blocks(&cache, &mut frame, &mut hit, &mut gone)?;
                missing = missing_of(&hit);
            }
            Some(turn)
        } else {
            None
        };
        let uncached: Vec<&str> = rows_of
            .iter()
            .filter(|(_, r)| r.idx != NONE && r.day.is_none())
            .map(|(id, _)| id.as_str())
            .collect();
        let mut blocks: FastMap<i64, Block> =
            missing.iter().map(|d| (*d, Block::default())).collect();
        // Runs never cached are read by one whole pass, else one by one:
        // a day's pass leaves them out (one may sort inside its range).
        let whole = missing.len() > 16 || uncached.len() > 1000;
        // Rows come a run at a time (`unit_executions` is keyed by run, the
        // joins read run by run), and most runs have the same units in the
        // same order: what a run resolves to, and each unit's numbers by
        // its position in the run, are looked up once and reused while the
        // row says the same.
        let mut cur_id = String::new();
        let mut cur_by_id = false;
        // The run's row, and its position in its day's block when it goes
        // in one; `None`: its rows are skipped.
        let mut cur: Option<(HistRow, Option<u32>)> = None;
        let mut pos = 0usize;
        let mut memo: Vec<UnitMemo> = Vec::new();
        let mut take = |row: RowView<'_>, by_id: bool| -> std::result::Result<(), String> {
            // A run id that is not text (a blob) is no run's: skipped, as
            // a join skips it.
            let Ok(id) = row.text(0) else {
                return Ok(());
            };
            if id != cur_id || by_id != cur_by_id || cur_id.is_empty() {
                cur_id.clear();
                cur_id.push_str(id);
                cur_by_id = by_id;
                pos = 0;
                cur = match rows_of.get(id) {
                    None => None,
                    Some(r) => {
                        let block = r.day.and_then(|d| blocks.get_mut(&d));
                        // A day's block answered, or a run never cached
                        // that this pass leaves to the reads by id.
                        let skip = if r.day.is_some() {
                            block.is_none()
                        } else {
                            !(whole || by_id)
                        };
                        if skip {
                            None
                        } else {
                            let at = block.map(|b| {
                                let key = b.string(id);
                                b.run(i64::from(key))
                            });
                            Some((*r, at))
                        }
                    }
                };
            }
            let Some((r, at)) = cur else {
                return Ok(());
            };
            let unit = row.text(1)?;
            let t = TaskRow {
                name: unit,
                status: summary_status(row.text(2)?),
                exit_code: row.opt_int(3)?.and_then(|c| i32::try_from(c).ok()),
                started_at: stored_time(row.text(4)?).map(|t| t.0),
                duration_seconds: row.opt_real(5)?,
                script_hash: None,
            };
            if memo.len() <= pos {
                memo.resize_with(pos + 1, UnitMemo::default);
            }
            let m = &mut memo[pos];
            pos += 1;
            if m.name != unit {
                m.name.clear();
                m.name.push_str(unit);
                m.task = NONE;
                m.day = None;
            }
            if let (Some(at), Some(day)) = (at, r.day) {
                if let Some(b) = blocks.get_mut(&day) {
                    if m.day != Some(day) {
                        m.block_name = b.string(unit);
                        m.day = Some(day);
                    }
                    b.push_at(at, m.block_name, &t);
                }
            }
            if r.idx != NONE && task.is_none_or(|w| w == unit) {
                if m.task == NONE {
                    m.task = frame.tasks.id(unit);
                }
                push_unit_as(&mut frame, &r, m.task, &t);
            }
            Ok(())
        };
        let read_err = |e: String| format!("cannot read history.db: {e}");
        // A long read (many days) steps SQLite on this thread while the
        // rows are handled on another (module [`super::rows`]).
        let by_range = |lo: &str,
                        hi: &str,
                        take: &mut (
                                 dyn FnMut(RowView<'_>, bool) -> std::result::Result<(), String>
                                     + Send
                             )| {
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM runs r CROSS JOIN unit_executions u
                     WHERE u.run_id = r.id AND r.started_at >= ?1 AND r.started_at < ?2"
                ))
                .map_err(err)?;
            let rows = stmt.query([lo, hi]).map_err(err)?;
            for_each_row(rows, SUMMARY_WIDTH, whole, &mut |row| take(row, false)).map_err(read_err)
        };
        if whole && lo.is_empty() {
            // From the start of time (up to now, or any end): the summary
            // read in its own order (by run), no join; a row of a run not
            // read above (started after the end, an orphan) is skipped.
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT {SUMMARY_COLUMNS} FROM unit_executions u"))
                .map_err(err)?;
            let rows = stmt.query([]).map_err(err)?;
            for_each_row(rows, SUMMARY_WIDTH, true, &mut |row| take(row, false))
                .map_err(read_err)?;
        } else if whole {
            by_range(&lo, &hi, &mut take)?;
        } else {
            for day in &missing {
                let (a, b) = day_range(*day);
                by_range(&a, &b, &mut take)?;
            }
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM unit_executions u WHERE u.run_id = ?1"
                ))
                .map_err(err)?;
            for id in &uncached {
                let rows = stmt.query([id]).map_err(err)?;
                for_each_row(rows, SUMMARY_WIDTH, false, &mut |row| take(row, true))
                    .map_err(read_err)?;
            }
        }
        let store: Vec<(i64, [u8; 32], Block)> = blocks
            .into_iter()
            .filter_map(|(day, b)| Some((day, *fingerprints.get(&day)?, b)))
            .collect();
        // Written while the figures are computed; this filler's turn is
        // given back once they are.
        frame.cache_write = cache.write_in_background(store, gone, _turn);
        Ok(frame)
    }
}

/// The caches being filled by many days in this process, by file.
static FILLING: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
/// Signalled when one of [`FILLING`] is done.
static FILLED: std::sync::Condvar = std::sync::Condvar::new();
/// How long a filler waits for another's turn at most (then fills too).
const FILL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// One filler's turn at a cache file: while it is held, another filler of
/// the same file in this process waits (at most [`FILL_WAIT`]) rather than
/// read the same days twice on the same cores. Given back when dropped.
struct FillTurn(Option<std::path::PathBuf>);

impl FillTurn {
    /// The turn at `file`, and whether another filler held it first.
    fn take(file: std::path::PathBuf) -> (FillTurn, bool) {
        let deadline = std::time::Instant::now() + FILL_WAIT;
        let mut busy = FILLING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut waited = false;
        while busy.contains(&file) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return (FillTurn(None), true);
            }
            waited = true;
            busy = FILLED
                .wait_timeout(busy, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        busy.push(file.clone());
        (FillTurn(Some(file)), waited)
    }
}

impl Drop for FillTurn {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            let mut busy = FILLING
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            busy.retain(|f| *f != file);
            FILLED.notify_all();
        }
    }
}

/// A `unit_executions` status text.
fn summary_status(text: &str) -> TaskStatus {
    match text {
        "success" => TaskStatus::Success,
        "failed" => TaskStatus::Failed,
        "skipped" => TaskStatus::Skipped,
        "running" => TaskStatus::Running,
        "pending" => TaskStatus::Pending,
        _ => TaskStatus::Unknown,
    }
}

/// Adds unit `t` (its duration in milliseconds, as stored) of run `r`, as
/// [`summary_execution`] reads it, its name already numbered `task` in the
/// frame.
fn push_unit_as(frame: &mut Frame, r: &HistRow, task: u32, t: &TaskRow<'_>) {
    let mut status = t.status;
    if matches!(status, TaskStatus::Running | TaskStatus::Pending) && r.ended {
        status = TaskStatus::Interrupted;
    }
    let started_at = t
        .started_at
        .unwrap_or(frame.runs[r.idx as usize].started_at);
    let exec = Exec {
        run: r.idx,
        project: r.project,
        task,
        hash: NONE,
        status,
        exit_code: t.exit_code,
        started_at,
        duration_seconds: t.duration_seconds.map(|ms| ms / 1000.0),
    };
    frame.execs.push(exec);
}

/// Adds the units of block `view` whose runs are in the frame (of `task`,
/// when given); `false` (nothing added) for a block naming what it has not.
fn add_history_block(
    frame: &mut Frame,
    view: &BlockView<'_>,
    rows_of: &FastMap<String, HistRow>,
    task: Option<&str>,
) -> bool {
    let mut runs = Vec::with_capacity(view.runs.len());
    for &key in &view.runs {
        let Some(id) = usize::try_from(key).ok().and_then(|k| view.strings.get(k)) else {
            return false;
        };
        runs.push(rows_of.get(*id).filter(|r| r.idx != NONE));
    }
    let mut names = vec![NONE; view.strings.len()];
    frame.execs.reserve(view.len());
    for t in view.tasks() {
        let Some(r) = runs[t.run as usize] else {
            continue;
        };
        let name = view.strings[t.name as usize];
        if task.is_some_and(|w| w != name) {
            continue;
        }
        let id = &mut names[t.name as usize];
        if *id == NONE {
            *id = frame.tasks.id(name);
        }
        let row = TaskRow {
            name,
            status: t.status,
            exit_code: t.exit_code,
            started_at: t.started_at,
            duration_seconds: t.duration_seconds,
            script_hash: None,
        };
        push_unit_as(frame, r, *id, &row);
    }
    true
}

/// A `runs` row (id, project, started_at, completed_at, status) as a record.
fn run_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let id: String = row.get(0)?;
    let project: String = row.get(1)?;
    let started = stored_time(row.get_ref(2)?.as_str().unwrap_or_default()).map_or(0, |t| t.0);
    let completed = row
        .get_ref(3)?
        .as_str_or_null()
        .ok()
        .flatten()
        .and_then(stored_time)
        .map(|(secs, _)| secs);
    let status: String = row.get(4)?;
    Ok(RunRecord {
        run: run_ref::run_ref(&project, &id),
        project,
        started_at: started,
        status: if status == "completed" {
            "success".to_owned()
        } else {
            status
        },
        duration_seconds: completed.map(|c| (c - started).max(0) as f64),
        size_bytes: None,
    })
}

/// The status a `unit.<what>` event leaves its unit in.
fn status_after(kind: &str) -> Option<TaskStatus> {
    match kind.strip_prefix("unit.")? {
        "queued" => Some(TaskStatus::Pending),
        "started" => Some(TaskStatus::Running),
        "completed" | "merged" => Some(TaskStatus::Success),
        "blocked" | "skipped" => Some(TaskStatus::Skipped),
        k if k.ends_with("failed") => Some(TaskStatus::Failed),
        _ => None,
    }
}

/// One unit being folded.
struct UnitState {
    exec: Execution,
    started: Option<(i64, u32)>,
}

/// Folds unit events (in `seq` order per run, a run's events together)
/// into executions. A run has a handful of units: they are looked up by a
/// scan of the current run's, and nothing is allocated per event but the
/// first of each unit.
#[derive(Default)]
pub(super) struct Fold {
    units: Vec<UnitState>,
    /// The run being folded, and where its units start in `units`.
    current: Option<(String, usize)>,
}

impl Fold {
    pub(super) fn push(
        &mut self,
        run_id: &str,
        run: &RunRecord,
        time: &str,
        kind: &str,
        unit: &str,
        payload: Option<&str>,
    ) {
        let Some(status) = status_after(kind) else {
            return;
        };
        let at = stored_time(time).unwrap_or((run.started_at, 0));
        let first = match &self.current {
            Some((id, first)) if id == run_id => *first,
            _ => {
                self.current = Some((run_id.to_owned(), self.units.len()));
                self.units.len()
            }
        };
        let i = match self.units[first..].iter().position(|u| u.exec.task == unit) {
            Some(i) => first + i,
            None => {
                self.units.push(UnitState {
                    exec: Execution {
                        project: run.project.clone(),
                        task: unit.to_owned(),
                        run: run.run.clone(),
                        started_at: at.0,
                        duration_seconds: None,
                        status,
                        exit_code: None,
                        script_hash: None,
                        log: None,
                    },
                    started: None,
                });
                self.units.len() - 1
            }
        };
        let u = &mut self.units[i];
        u.exec.status = status;
        match status {
            TaskStatus::Running if u.started.is_none() => {
                u.started = Some(at);
                u.exec.started_at = at.0;
            }
            TaskStatus::Success | TaskStatus::Failed => {
                let figures = payload
                    .filter(|p| p.contains("exit_code") || p.contains("duration_ms"))
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
                let ms = figures
                    .as_ref()
                    .and_then(|f| f.get("duration_ms")?.as_f64());
                u.exec.exit_code = figures
                    .as_ref()
                    .and_then(|f| f.get("exit_code")?.as_i64())
                    .and_then(|c| i32::try_from(c).ok());
                u.exec.duration_seconds = ms.map(|ms| ms / 1000.0).or_else(|| {
                    u.started.map(|(s, sn)| {
                        ((at.0 - s) as f64 + (f64::from(at.1) - f64::from(sn)) / 1e9).max(0.0)
                    })
                });
            }
            _ => {}
        }
    }

    /// The executions, units cut off by their run's end marked so.
    pub(super) fn finish(self, runs: &HashMap<String, RunRecord>) -> Vec<Execution> {
        let ended: HashMap<&str, bool> = runs
            .values()
            .map(|r| (r.run.as_str(), r.status != "running"))
            .collect();
        self.units
            .into_iter()
            .map(|u| {
                let mut e = u.exec;
                if matches!(e.status, TaskStatus::Running | TaskStatus::Pending)
                    && ended.get(e.run.as_str()).copied().unwrap_or(false)
                {
                    e.status = TaskStatus::Interrupted;
                }
                e
            })
            .collect()
    }
}

/// A stored time (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`) as (secs, nanos),
/// read without a date library (millions of events are read); any other
/// form through [`parse_time`].
fn stored_time(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() != 30 || b[10] != b'T' || b[19] != b'.' || b[29] != b'Z' {
        return parse_time(s).ok().map(|t| (t.secs, t.nanos));
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = u32::try_from(num(20..29)?).ok()?;
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss, nanos))
}

/// The event columns the fold reads.
const EVENT_COLUMNS: &str = "e.run_id, e.time, e.type, e.unit, e.payload";

impl Source for HistorySource<'_> {
    fn kind(&self) -> &'static str {
        "history.db"
    }

    fn path(&self) -> String {
        self.path.clone()
    }

    fn runs(&self, scope: &Scope) -> Result<Vec<RunRecord>> {
        Ok(self.runs_by_id(scope)?.into_values().collect())
    }

    fn executions(&self, scope: &Scope, task: Option<&str>) -> Result<Vec<Execution>> {
        let runs = self.runs_by_id(scope)?;
        let (from, to) = stored_time_bounds(scope)?;
        if self.summary {
            // The window's runs on their start index, each run's units on
            // the summary's `(run_id, unit)` key: ten rows a run.
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs r CROSS JOIN unit_executions u
                 WHERE u.run_id = r.id AND r.started_at >= ?1 AND r.started_at < ?2
                   AND (?3 IS NULL OR u.unit = ?3)"
            );
            return self.summary_query(&sql, &[&from, &to, &task], &runs);
        }
        // CROSS JOIN keeps `runs` the outer loop (the window, on its start
        // index) and reads each run's events on `(run_id, seq)`: with
        // statistics, SQLite would rather scan every unit event and sort.
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM runs r CROSS JOIN events e
             WHERE e.run_id = r.id AND r.started_at >= ?1 AND r.started_at < ?2
               AND e.unit IS NOT NULL AND e.type >= 'unit.' AND e.type < 'unit/'
               AND (?3 IS NULL OR e.unit = ?3)
             ORDER BY r.started_at, r.id, e.seq"
        );
        self.fold_query(&sql, &[&from, &to, &task], &runs)
    }

    fn frame(&self, scope: &Scope, task: Option<&str>) -> Result<Frame> {
        if !self.summary {
            let (runs, executions) = self.window(scope, task)?;
            return Ok(Frame::from_parts(runs, executions));
        }
        if let Some(dir) = &self.cache_dir {
            match self.frame_cached(dir, scope, task) {
                Ok(frame) => return Ok(frame),
                // The cache only makes it sooner: the database answers alone.
                Err(e) => tracing::debug!("insights cache not used: {e}"),
            }
        }
        // One read transaction: the runs and their units of one moment.
        let _snapshot = self.conn.unchecked_transaction()?;
        let runs = self.runs_by_id(scope)?;
        let (from, to) = stored_time_bounds(scope)?;
        let mut frame = Frame::default();
        let mut index: FastMap<String, (u32, u32, bool)> = FastMap::default();
        for (id, record) in runs {
            let project = frame.projects.id(&record.project);
            let ended = record.status != "running";
            let idx = frame.add_run(record);
            index.insert(id, (idx, project, ended));
        }
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs r CROSS JOIN unit_executions u
             WHERE u.run_id = r.id AND r.started_at >= ?1 AND r.started_at < ?2
               AND (?3 IS NULL OR u.unit = ?3)"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![from, to, task])?;
        while let Some(row) = rows.next()? {
            let Some(&(idx, project, ended)) = index.get(row.get_ref(0)?.as_str()?) else {
                continue;
            };
            let run_start = frame.runs[idx as usize].started_at;
            let exec = summary_exec(row, idx, project, ended, run_start, &mut frame)?;
            frame.execs.push(exec);
        }
        Ok(frame)
    }

    fn task_history(&self, query: &HistoryQuery) -> Result<Vec<Execution>> {
        if self.summary {
            return self.task_history_summary(query);
        }
        // The unit's events newest first (index of schema 3): the runs in
        // the order they last touched the unit, folded a batch at a time
        // until `limit` executions pass the filters.
        // Only runs with an event that can end the unit so are candidates
        // (a unit's last event decides: the fold checks).
        let kinds = match query.status {
            Some(TaskStatus::Failed) => "AND e.type GLOB 'unit.*failed'",
            Some(TaskStatus::Success) => "AND e.type IN ('unit.completed', 'unit.merged')",
            Some(TaskStatus::Skipped) => "AND e.type IN ('unit.blocked', 'unit.skipped')",
            _ => "",
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT e.run_id FROM events e
             WHERE e.unit = ?1 AND e.type >= 'unit.' AND e.type < 'unit/' {kinds}
             ORDER BY e.time DESC"
        ))?;
        let mut ids = stmt.query([&query.task])?;
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Execution> = Vec::new();
        let mut batch: Vec<String> = Vec::new();
        let mut done = false;
        while !done && out.len() < query.limit {
            match ids.next()? {
                Some(row) => {
                    let id: String = row.get(0)?;
                    if seen.insert(id.clone()) {
                        batch.push(id);
                    }
                }
                None => done = true,
            }
            if batch.len() >= 64.max(query.limit - out.len()) || (done && !batch.is_empty()) {
                for e in self.units_of_runs(&batch, Some(&query.task))? {
                    let keep = query.status.is_none_or(|s| e.status == s)
                        && query
                            .project
                            .as_deref()
                            .is_none_or(|p| run_ref::project_matches(&e.project, p));
                    if keep {
                        out.push(e);
                    }
                }
                batch.clear();
            }
        }
        out.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.run.cmp(&a.run))
        });
        out.truncate(query.limit);
        Ok(out)
    }

    fn task_names(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(if self.summary {
            "SELECT DISTINCT unit FROM unit_executions ORDER BY unit"
        } else {
            "SELECT DISTINCT unit FROM events WHERE unit IS NOT NULL ORDER BY unit"
        })?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    fn projects(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT COALESCE(project, repo_path) FROM runs ORDER BY 1")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    fn run_tasks(&self, spec: &str) -> Result<RunTasks> {
        let parsed = RunSpec::parse(spec, None);
        let mut ids = vec![spec.to_owned()];
        ids.extend(parsed.storage_ids());
        for id in ids {
            let found = self
                .conn
                .query_row(
                    "SELECT id, COALESCE(project, repo_path), started_at, completed_at, status
                     FROM runs WHERE id = ?1",
                    [&id],
                    |row| Ok((row.get::<_, String>(0)?, run_record(row)?)),
                )
                .optional()?;
            let Some((id, record)) = found else { continue };
            if !parsed
                .project
                .as_deref()
                .is_none_or(|p| run_ref::project_matches(&record.project, p) || id.starts_with(p))
            {
                continue;
            }
            let tasks = self.units_of_runs(std::slice::from_ref(&id), None)?;
            return Ok(RunTasks {
                run: record,
                tasks,
                cache_dir: None,
            });
        }
        Err(InsightError::not_found(format!(
            "no run `{spec}` in history.db {} (see `otto-hooks list --backend sqlite`)",
            self.path
        )))
    }
}

impl HistorySource<'_> {
    /// `history TASK` from `unit_executions`: the unit's rows newest first
    /// on its `(unit, started_at)` index, read until `limit` pass the
    /// filters (a status filter narrows the SQL; `interrupted`, `running`
    /// and `pending` are told apart by the run's status, here).
    fn task_history_summary(&self, query: &HistoryQuery) -> Result<Vec<Execution>> {
        let kinds = match query.status {
            Some(TaskStatus::Failed) => "AND u.status = 'failed'",
            Some(TaskStatus::Success) => "AND u.status = 'success'",
            Some(TaskStatus::Skipped) => "AND u.status = 'skipped'",
            Some(TaskStatus::Running | TaskStatus::Pending | TaskStatus::Interrupted) => {
                "AND u.status IN ('running', 'pending')"
            }
            Some(_) => "AND 0",
            None => "",
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM unit_executions u
             WHERE u.unit = ?1 {kinds}
             ORDER BY u.started_at DESC, u.run_id DESC"
        ))?;
        let mut rows = stmt.query([&query.task])?;
        let mut run_stmt = self.conn.prepare_cached(
            "SELECT id, COALESCE(project, repo_path), started_at, completed_at, status, tasks_dir
             FROM runs WHERE id = ?1",
        )?;
        let mut out = Vec::new();
        while out.len() < query.limit {
            let Some(row) = rows.next()? else { break };
            let id = row.get_ref(0)?.as_str()?;
            let found = run_stmt
                .query_row([id], |r| {
                    Ok((run_record(r)?, r.get::<_, Option<String>>(5)?))
                })
                .optional()?;
            let Some((run, tasks_dir)) = found else {
                continue;
            };
            if !query
                .project
                .as_deref()
                .is_none_or(|p| run_ref::project_matches(&run.project, p))
            {
                continue;
            }
            let mut e = summary_execution(row, &run)?;
            if query.status.is_some_and(|s| e.status != s) {
                continue;
            }
            e.log = unit_log(tasks_dir.as_deref(), &e.task);
            out.push(e);
        }
        Ok(out)
    }

    /// The folded units of the runs `ids` (of `unit` only, when given).
    fn units_of_runs(&self, ids: &[String], unit: Option<&str>) -> Result<Vec<Execution>> {
        let mut runs = HashMap::new();
        // A run's tasks directory (an imported otto run's `tasks/`) holds
        // its units' logs.
        let mut tasks_dirs: HashMap<String, std::path::PathBuf> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, COALESCE(project, repo_path), started_at, completed_at, status, tasks_dir
             FROM runs WHERE id = ?1",
        )?;
        for id in ids {
            let found = stmt
                .query_row([id], |row| {
                    Ok((run_record(row)?, row.get::<_, Option<String>>(5)?))
                })
                .optional()?;
            if let Some((r, dir)) = found {
                if let Some(dir) = dir {
                    tasks_dirs.insert(r.run.clone(), dir.into());
                }
                runs.insert(id.clone(), r);
            }
        }
        let mut fold = Fold::default();
        let mut events = self.conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e
             WHERE e.run_id = ?1 AND e.unit IS NOT NULL AND e.type >= 'unit.' AND e.type < 'unit/'
               AND (?2 IS NULL OR e.unit = ?2)
             ORDER BY e.seq"
        ))?;
        for id in ids {
            let Some(run) = runs.get(id) else { continue };
            let mut rows = events.query(rusqlite::params![id, unit])?;
            while let Some(row) = rows.next()? {
                fold.push(
                    id,
                    run,
                    row.get_ref(1)?.as_str()?,
                    row.get_ref(2)?.as_str()?,
                    row.get_ref(3)?.as_str()?,
                    row.get_ref(4)?.as_str_or_null()?,
                );
            }
        }
        let mut out = fold.finish(&runs);
        for e in &mut out {
            e.log = unit_log(tasks_dirs.get(&e.run).and_then(|d| d.to_str()), &e.task);
        }
        Ok(out)
    }
}

/// A unit's log: `<tasks_dir>/<unit>/stdout.log`, when that file exists
/// (an imported otto run's `tasks/`).
fn unit_log(tasks_dir: Option<&str>, unit: &str) -> Option<String> {
    let path = std::path::Path::new(tasks_dir?)
        .join(unit)
        .join("stdout.log");
    std::fs::symlink_metadata(&path)
        .is_ok_and(|m| m.is_file())
        .then(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_read_without_a_date_library_agree_with_the_parser() {
        for t in [
            "1970-01-01T00:00:00.000000000Z",
            "2000-02-29T23:59:59.999999999Z",
            "2026-12-07T05:12:52.123456789Z",
            "2100-03-01T00:00:00.000000001Z",
        ] {
            let parsed = parse_time(t).unwrap();
            assert_eq!(stored_time(t), Some((parsed.secs, parsed.nanos)), "{t}");
        }
        assert_eq!(
            stored_time("2026-12-07T05:12:52Z"),
            Some((1_796_620_372, 0))
        );
        assert_eq!(stored_time("2026-1x-07T05:12:52.123456789Z"), None);
    }
}
