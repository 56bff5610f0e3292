//! otto's runs as the insights read them: `otto.db` (opened read-only,
//! never written: it is otto's) and the run directories beside it.
//!
//! A run row is named as `list` names its directory: `run_dir` (schema 5)
//! gives `<project-dir>/<run>`; an older row without it is placed by its
//! `ottofile_path` (the project directory otto derives from it) and its
//! timestamp, same-second rows numbered in id order (`<ts>`, `<ts>-1`, …).
//! Task statuses are otto's (`completed` reads as success).
//!
//! Runs that have a directory and no row (otto.db missing, the row pruned)
//! are read from their directories (module [`super::otto_disk`]) and
//! counted with the rest; with no otto.db at all, every run is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::TaskStatus;
use otto_hooks_status_default::{Access, open_otto_db, project_hash};
use rusqlite::{Connection, OptionalExtension, Row};

use super::frame::{FastMap, Frame, NONE};
use super::otto_cache::{Block, BlockView, Cache, DAY, RowKey, TaskRow};
use super::rows::{RowView, for_each_row};
use super::{Execution, HistoryQuery, InsightError, Result, RunRecord, RunTasks, Scope, Source};
use crate::run_ref::{self, RunSpec};

/// otto's history of one `$OTTO_HOME`.
pub struct OttoSource {
    home: PathBuf,
    conn: Connection,
    /// Where the derived cache of task rows lives (module
    /// [`super::otto_cache`]); `None`: otto.db alone.
    cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for OttoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OttoSource")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// A run row's identity: its project directory and run name.
#[derive(Clone, Debug)]
struct RunMeta {
    project: String,
    run: String,
    dir: Option<PathBuf>,
    record: RunRecord,
    /// What the insights cache keys the row's tasks by (rows read by
    /// [`OttoSource::run_rows`] only).
    key: Option<RowKey>,
}

impl OttoSource {
    /// Opens `<home>/otto.db` read-only. Without otto.db, the runs on
    /// disk are read alone (an empty otto.db is stood in, in memory); with
    /// neither, the error says where it looked.
    pub fn open(home: &Path) -> Result<OttoSource> {
        let path = home.join("otto.db");
        if std::fs::symlink_metadata(&path).is_err()
            && !super::otto_disk::list(home, &Scope::default()).is_empty()
        {
            return Ok(OttoSource {
                home: home.to_path_buf(),
                conn: empty_otto_db()?,
                cache_dir: None,
            });
        }
        let conn = open_otto_db(&path, Access::Read).map_err(|e| {
            InsightError::bad_input(format!(
                "{}: {e} — otto keeps its history there once it has run (point OTTO_HOME at otto's data directory, or use --db for the hooks' history)",
                path.display()
            ))
        })?;
        Ok(OttoSource {
            home: home.to_path_buf(),
            conn,
            cache_dir: None,
        })
    }

    /// Reads `stats` and `flaky` windows through the derived cache of task
    /// rows in `dir` (`$OTTO_HOOKS_HOME/insights`; see
    /// [`super::otto_cache`]): the same answers, sooner once it is filled.
    #[must_use]
    pub fn with_cache(mut self, dir: PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    /// The connection (for the benchmark's plain SQL baseline).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Run rows matching `filter` (an SQL condition on `r`), named; on
    /// two threads when there may be `many` (module [`super::rows`]).
    fn run_rows(
        &self,
        filter: &str,
        params: &[&dyn rusqlite::ToSql],
        many: bool,
    ) -> Result<Vec<(i64, RunMeta)>> {
        let sql = format!(
            "SELECT r.id, r.timestamp, r.status, r.duration_seconds, r.size_bytes, r.run_dir,
                    r.ottofile_path, r.ended_at
             FROM runs r WHERE {filter} ORDER BY r.timestamp, r.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query(params)?;
        let mut namer = Namer::default();
        let mut out = Vec::new();
        let home = self.home.as_path();
        for_each_row(rows, 8, many, &mut |row| {
            let id = row.int(0)?;
            let ts = row.opt_int(1)?.unwrap_or(0);
            let run_dir = row.opt_text(5)?;
            let ottofile = row.opt_text(6)?;
            let Some((project, run)) = namer.name(ts, run_dir, ottofile) else {
                return Ok(());
            };
            let record = RunRecord {
                run: run_ref::run_ref(&project, &run),
                project: project.clone(),
                started_at: ts,
                status: row.opt_text(2)?.unwrap_or_default().to_owned(),
                duration_seconds: row.opt_real(3)?,
                size_bytes: row.opt_int(4)?.and_then(|b| u64::try_from(b).ok()),
            };
            let key = RowKey {
                timestamp: ts,
                status: record.status.clone(),
                ended_at: row.opt_int(7)?,
                duration_seconds: record.duration_seconds,
                run_dir: run_dir.map(str::to_owned),
            };
            let dir = run_dir
                .map(PathBuf::from)
                .or_else(|| Some(home.join(&project).join(&run)));
            out.push((
                id,
                RunMeta {
                    project,
                    run,
                    dir,
                    record,
                    key: Some(key),
                },
            ));
            Ok(())
        })
        .map_err(|e| InsightError::failed(format!("cannot read otto.db: {e}")))?;
        Ok(out)
    }

    /// The runs of `scope` that have a directory and no row, read from
    /// their directories (`named`: the rows' (project, run) names of
    /// `scope`); their executions of `task` only, when given.
    fn rowless(
        &self,
        scope: &Scope,
        named: &std::collections::HashSet<(&str, &str)>,
        task: Option<&str>,
    ) -> Vec<(RunRecord, Vec<Execution>)> {
        let status = super::otto_disk::detector(&self.home);
        super::otto_disk::list(&self.home, scope)
            .into_iter()
            .filter(|d| !named.contains(&(d.project.as_str(), d.run.as_str())))
            .map(|d| super::otto_disk::read(&d, task, &status))
            .collect()
    }

    /// Whether run directory `d` has a row: the rows of its second, named.
    fn has_row(&self, d: &super::otto_disk::DiskRun) -> Result<bool> {
        Ok(self
            .run_rows("r.timestamp = ?1", &[&d.started_at], false)?
            .iter()
            .any(|(_, m)| m.project == d.project && m.run == d.run))
    }

    /// The runs of `scope`, by row id.
    fn runs_by_id(&self, scope: &Scope) -> Result<HashMap<i64, RunMeta>> {
        let from = scope.from.unwrap_or(i64::MIN);
        let to = scope.to.unwrap_or(i64::MAX);
        Ok(self
            .run_rows(
                "r.timestamp >= ?1 AND r.timestamp < ?2",
                &[&from, &to],
                true,
            )?
            .into_iter()
            .filter(|(_, m)| scope.has_project(&m.project))
            .collect())
    }
}

/// Names run rows (see the module docs), remembering project directories
/// per ottofile and same-second counters.
#[derive(Default)]
struct Namer {
    projects: HashMap<String, Option<String>>,
    seconds: HashMap<(String, i64), u32>,
}

impl Namer {
    fn name(
        &mut self,
        ts: i64,
        run_dir: Option<&str>,
        ottofile: Option<&str>,
    ) -> Option<(String, String)> {
        if let Some(dir) = run_dir {
            let path = Path::new(dir.trim_end_matches('/'));
            let run = path.file_name()?.to_str()?.to_owned();
            let project = path.parent()?.file_name()?.to_str()?.to_owned();
            return Some((project, run));
        }
        let ottofile = ottofile?;
        let project = self
            .projects
            .entry(ottofile.to_owned())
            .or_insert_with(|| project_dir(ottofile))
            .clone()?;
        let n = self.seconds.entry((project.clone(), ts)).or_insert(0);
        let run = if *n == 0 {
            ts.to_string()
        } else {
            format!("{ts}-{n}")
        };
        *n += 1;
        Some((project, run))
    }
}

/// The project directory otto derives from an ottofile path.
fn project_dir(ottofile: &str) -> Option<String> {
    let name = Path::new(ottofile).parent()?.file_name()?.to_str()?;
    Some(format!("{name}-{:08x}", project_hash(ottofile)?))
}

/// otto's task status text.
fn task_status(text: &str) -> TaskStatus {
    match text {
        "completed" | "success" => TaskStatus::Success,
        "failed" => TaskStatus::Failed,
        "skipped" => TaskStatus::Skipped,
        "running" => TaskStatus::Running,
        "pending" => TaskStatus::Pending,
        _ => TaskStatus::Unknown,
    }
}

/// otto's status texts for `status` (what `--status` filters on).
fn status_texts(status: TaskStatus) -> &'static [&'static str] {
    match status {
        TaskStatus::Success => &["completed", "success"],
        TaskStatus::Failed => &["failed"],
        TaskStatus::Skipped => &["skipped"],
        TaskStatus::Running => &["running"],
        TaskStatus::Pending => &["pending"],
        _ => &[],
    }
}

/// The task columns every query reads, in [`execution`]'s order.
const TASK_COLUMNS: &str = "t.run_id, t.name, t.status, t.exit_code, t.started_at, \
     t.duration_seconds, t.script_hash, t.stdout_path";

/// One task row (of [`TASK_COLUMNS`]) of run `meta`, without its log.
fn bare_execution(row: &Row<'_>, meta: &RunMeta) -> rusqlite::Result<Execution> {
    Ok(Execution {
        project: meta.project.clone(),
        run: meta.record.run.clone(),
        started_at: row
            .get::<_, Option<i64>>(4)?
            .unwrap_or(meta.record.started_at),
        duration_seconds: row.get(5)?,
        status: task_status(
            row.get_ref(2)?
                .as_str_or_null()
                .ok()
                .flatten()
                .unwrap_or_default(),
        ),
        exit_code: row.get(3)?,
        script_hash: row.get(6)?,
        log: None,
        task: row.get(1)?,
    })
}

/// One task row (of [`TASK_COLUMNS`]) of run `meta`.
fn execution(row: &Row<'_>, meta: &RunMeta) -> rusqlite::Result<Execution> {
    let name: String = row.get(1)?;
    let stdout: Option<String> = row.get(7)?;
    let log = stdout.or_else(|| {
        meta.dir.as_ref().map(|d| {
            d.join("tasks")
                .join(&name)
                .join("stdout.log")
                .display()
                .to_string()
        })
    });
    Ok(Execution {
        project: meta.project.clone(),
        run: meta.record.run.clone(),
        started_at: row
            .get::<_, Option<i64>>(4)?
            .unwrap_or(meta.record.started_at),
        duration_seconds: row.get(5)?,
        status: task_status(&row.get::<_, Option<String>>(2)?.unwrap_or_default()),
        exit_code: row.get(3)?,
        script_hash: row.get(6)?,
        log,
        task: name,
    })
}

impl Source for OttoSource {
    fn kind(&self) -> &'static str {
        "otto.db"
    }

    fn path(&self) -> String {
        self.home.join("otto.db").display().to_string()
    }

    fn runs(&self, scope: &Scope) -> Result<Vec<RunRecord>> {
        let runs = self.runs_by_id(scope)?;
        let named = named(&runs);
        // No task is named "": the runs alone, without their executions.
        let disk = self.rowless(scope, &named, Some(""));
        Ok(runs
            .into_values()
            .map(|m| m.record)
            .chain(disk.into_iter().map(|(r, _)| r))
            .collect())
    }

    fn executions(&self, scope: &Scope, task: Option<&str>) -> Result<Vec<Execution>> {
        Ok(self.window(scope, task)?.1)
    }

    fn frame(&self, scope: &Scope, task: Option<&str>) -> Result<Frame> {
        self.read_frame(scope, task)
    }

    fn window(
        &self,
        scope: &Scope,
        task: Option<&str>,
    ) -> Result<(Vec<RunRecord>, Vec<Execution>)> {
        // The straightforward read (what `stats_straight` reads): every
        // task row of the window from otto.db, never the cache.
        let runs = self.runs_by_id(scope)?;
        let mut executions = Vec::new();
        let from = scope.from.unwrap_or(i64::MIN);
        let to = scope.to.unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id
             WHERE r.timestamp >= ?1 AND r.timestamp < ?2 AND (?3 IS NULL OR t.name = ?3)"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![from, to, task])?;
        while let Some(row) = rows.next()? {
            if let Some(meta) = runs.get(&row.get::<_, i64>(0)?) {
                // Figures need no log path: not built for a million rows.
                executions.push(bare_execution(row, meta)?);
            }
        }
        let disk = self.rowless(scope, &named(&runs), task);
        let mut records: Vec<RunRecord> = runs.into_values().map(|m| m.record).collect();
        for (record, tasks) in disk {
            records.push(record);
            executions.extend(tasks);
        }
        Ok((records, executions))
    }

    fn task_history(&self, query: &HistoryQuery) -> Result<Vec<Execution>> {
        // Newest first by the run's start; with a limit, SQLite walks otto's
        // index on `runs(timestamp)` backwards and probes `tasks(name,
        // run_id)` for each run, stopping at the limit.
        let statuses = query.status.map(status_texts).unwrap_or(&[]);
        let status_filter = if query.status.is_some() {
            let list: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
            format!("AND t.status IN ({})", list.join(", "))
        } else {
            String::new()
        };
        // A project filter is applied to names computed here: no SQL limit.
        let limit: i64 = if query.project.is_some() {
            -1
        } else {
            i64::try_from(query.limit).unwrap_or(i64::MAX)
        };
        // CROSS JOIN keeps `runs` the outer loop: its timestamp index is
        // walked newest first (ids break ties, as the index holds them) and
        // the walk stops at the limit, instead of sorting every row of the
        // task.
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM runs r CROSS JOIN tasks t
             WHERE t.run_id = r.id AND t.name = ?1 {status_filter}
             ORDER BY r.timestamp DESC, r.id DESC, t.id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![query.task, limit])?;
        let mut namer = RowNamer::new(&self.conn, &self.home);
        let mut out: Vec<(i64, Execution)> = Vec::new();
        while let Some(row) = rows.next()? {
            if out.len() >= query.limit {
                break;
            }
            let Some(meta) = namer.meta(row.get(0)?)? else {
                continue;
            };
            if !query
                .project
                .as_deref()
                .is_none_or(|p| run_ref::project_matches(&meta.project, p))
            {
                continue;
            }
            out.push((meta.record.started_at, execution(row, &meta)?));
        }
        // Runs without a row: only those that can make the list (newer
        // than its last, when it is full), each checked for a row of its
        // second.
        let cutoff = (out.len() >= query.limit)
            .then(|| out.last().map(|(t, _)| *t))
            .flatten();
        let scope = Scope {
            project: query.project.clone(),
            from: cutoff,
            to: None,
        };
        let status = super::otto_disk::detector(&self.home);
        for d in super::otto_disk::list(&self.home, &scope) {
            if !super::otto_disk::has_task(&d.dir, &query.task) || self.has_row(&d)? {
                continue;
            }
            let (_, executions) = super::otto_disk::read(&d, Some(&query.task), &status);
            out.extend(
                executions
                    .into_iter()
                    .filter(|e| query.status.is_none_or(|s| e.status == s))
                    .map(|e| (d.started_at, e)),
            );
        }
        // Newest run first; rows keep their order within a second (stable).
        out.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        out.truncate(query.limit);
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    fn task_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT name FROM tasks ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    fn projects(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.ottofile_path, MAX(r.run_dir) FROM runs r GROUP BY r.ottofile_path",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = std::collections::BTreeSet::new();
        while let Some(row) = rows.next()? {
            let ottofile: Option<String> = row.get(0)?;
            let dir: Option<String> = row.get(1)?;
            let from_dir = dir.as_deref().and_then(|d| {
                Path::new(d.trim_end_matches('/'))
                    .parent()?
                    .file_name()?
                    .to_str()
                    .map(str::to_owned)
            });
            if let Some(p) = from_dir.or_else(|| ottofile.as_deref().and_then(project_dir)) {
                out.insert(p);
            }
        }
        // Projects whose runs have no rows are projects too.
        out.extend(
            super::otto_disk::list(&self.home, &Scope::default())
                .into_iter()
                .map(|d| d.project),
        );
        Ok(out.into_iter().collect())
    }

    fn run_tasks(&self, spec: &str) -> Result<RunTasks> {
        let parsed = RunSpec::parse(spec, None);
        let ts: Option<i64> = parsed
            .run
            .split('-')
            .next()
            .and_then(|t| t.parse().ok())
            .filter(|_| run_ref::is_otto_run_id(&parsed.run));
        let Some(ts) = ts else {
            return Err(InsightError::not_found(format!(
                "no run `{spec}` in otto.db: otto's runs are named `<project>/<timestamp>[-n]` (see `otto-hooks list`)"
            )));
        };
        // Same-second rows are numbered among all rows of that second.
        let candidates: Vec<(i64, RunMeta)> = self
            .run_rows("r.timestamp = ?1", &[&ts], false)?
            .into_iter()
            .filter(|(_, m)| {
                m.run == parsed.run
                    && parsed
                        .project
                        .as_deref()
                        .is_none_or(|p| run_ref::project_matches(&m.project, p))
            })
            .collect();
        let (id, meta) = match candidates.len() {
            1 => candidates
                .into_iter()
                .next()
                .ok_or_else(|| InsightError::failed("unreachable"))?,
            0 => return self.run_tasks_on_disk(&parsed),
            _ => {
                return Err(InsightError::bad_input(format!(
                    "run `{spec}` is ambiguous: {}; name one as `list` shows it",
                    candidates
                        .iter()
                        .map(|(_, m)| m.record.run.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.run_id = ?1 ORDER BY t.id");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([id])?;
        let mut tasks = Vec::new();
        while let Some(row) = rows.next()? {
            tasks.push(execution(row, &meta)?);
        }
        Ok(RunTasks {
            cache_dir: Some(self.home.join(&meta.project).join(".cache")),
            run: meta.record,
            tasks,
        })
    }
}

impl OttoSource {
    /// A run otto.db has no row of (a legacy run, a row pruned): its task
    /// directories, scripts read from their cache links, statuses as the
    /// `default` status plugin judges them (see [`super::otto_disk`]).
    fn run_tasks_on_disk(&self, spec: &RunSpec) -> Result<RunTasks> {
        let not_found = || {
            InsightError::not_found(format!(
                "no run `{}` in otto.db {} nor under {} (see `otto-hooks list`)",
                spec.raw,
                self.path(),
                self.home.display()
            ))
        };
        let projects: Vec<String> = std::fs::read_dir(&self.home)
            .map_err(|_| not_found())?
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|p| {
                spec.project
                    .as_deref()
                    .is_some_and(|want| run_ref::project_matches(p, want))
            })
            .collect();
        let mut found = projects.into_iter().filter_map(|p| {
            let dir = self.home.join(&p).join(&spec.run);
            std::fs::symlink_metadata(&dir)
                .ok()
                .filter(|m| m.is_dir())
                .map(|_| (p, dir))
        });
        let (project, dir) = found.next().ok_or_else(not_found)?;
        let started_at =
            otto_hooks_otto_fs::layout::RunName::parse(&spec.run).map_or(0, |n| n.start_secs());
        let run = super::otto_disk::DiskRun {
            project: project.clone(),
            run: spec.run.clone(),
            started_at,
            dir,
        };
        let (record, tasks) =
            super::otto_disk::read(&run, None, &super::otto_disk::detector(&self.home));
        Ok(RunTasks {
            cache_dir: Some(self.home.join(&project).join(".cache")),
            run: record,
            tasks,
        })
    }
}

/// What a frame read knows of one run row of the days it reads.
#[derive(Clone, Copy)]
struct RowInfo {
    /// Its index in the frame ([`NONE`]: outside the scope).
    idx: u32,
    /// Its day.
    day: i64,
    /// Whether it is finished (its tasks belong in its day's block).
    finished: bool,
}

/// One task row (of [`FRAME_COLUMNS`]) as the frame reads it, borrowing
/// the row's texts: its fields after the run id (column 0, which the
/// callers read first to skip the rows of runs they do not want).
fn task_row<'r>(row: RowView<'r>) -> std::result::Result<TaskRow<'r>, String> {
    Ok(TaskRow {
        name: row.text(1)?,
        status: task_status(row.opt_text(2).ok().flatten().unwrap_or_default()),
        exit_code: row.opt_i32(3)?,
        started_at: row.opt_int(4)?,
        duration_seconds: row.opt_real(5)?,
        script_hash: row.opt_text(6)?,
    })
}

/// The run id of a task row (column 0 of [`FRAME_COLUMNS`]); `None` when
/// it is not an integer (otto.db's column does not force it): no run's, so
/// the row is skipped, as a join on `runs` skips it.
fn run_id_of(row: RowView<'_>) -> Option<i64> {
    row.opt_int(0).ok().flatten()
}

/// The columns of `tasks` [`task_row`] reads: [`TASK_COLUMNS`] without the
/// log's path (a long text SQLite would extract a million times for
/// nothing over a whole history).
const FRAME_COLUMNS: &str = "t.run_id, t.name, t.status, t.exit_code, t.started_at, \
     t.duration_seconds, t.script_hash";

/// How many columns [`FRAME_COLUMNS`] names.
const TASK_ROW_WIDTH: usize = 7;

/// Adds task `t` of the frame's run `idx` (of project `project`).
fn push_task(frame: &mut Frame, idx: u32, project: u32, t: &TaskRow<'_>) {
    let started_at = t.started_at.unwrap_or(frame.runs[idx as usize].started_at);
    let exec = super::frame::Exec {
        run: idx,
        project,
        task: frame.tasks.id(t.name),
        hash: t.script_hash.map_or(NONE, |h| frame.hashes.id(h)),
        status: t.status,
        exit_code: t.exit_code,
        started_at,
        duration_seconds: t.duration_seconds,
    };
    frame.execs.push(exec);
}

impl OttoSource {
    /// The frame of `scope`: otto.db's run rows, and their task rows from
    /// the insights cache where its blocks are true (module
    /// [`super::otto_cache`]), else from otto.db; all in one read
    /// transaction of otto.db.
    fn read_frame(&self, scope: &Scope, task: Option<&str>) -> Result<Frame> {
        let _snapshot = self.conn.unchecked_transaction()?;
        let from = scope.from.unwrap_or(i64::MIN);
        let to = scope.to.unwrap_or(i64::MAX);
        // With the cache, whole days are read: a block is a day's.
        let (lo, hi) = match &self.cache_dir {
            Some(_) => (
                if from == i64::MIN {
                    from
                } else {
                    from.div_euclid(DAY) * DAY
                },
                if to == i64::MAX {
                    to
                } else {
                    (to - 1)
                        .div_euclid(DAY)
                        .saturating_add(1)
                        .saturating_mul(DAY)
                },
            ),
            None => (from, to),
        };
        let rows = self.run_rows("r.timestamp >= ?1 AND r.timestamp < ?2", &[&lo, &hi], true)?;
        let in_scope =
            |m: &RunMeta| scope.contains(m.record.started_at) && scope.has_project(&m.project);
        let disk = {
            let named: std::collections::HashSet<(&str, &str)> = rows
                .iter()
                .filter(|(_, m)| in_scope(m))
                .map(|(_, m)| (m.project.as_str(), m.run.as_str()))
                .collect();
            self.rowless(scope, &named, task)
        };
        let mut frame = Frame::default();
        let mut info: FastMap<i64, RowInfo> = FastMap::default();
        info.reserve(rows.len());
        let mut fingerprints: std::collections::BTreeMap<i64, sha2::Sha256> =
            std::collections::BTreeMap::new();
        for (id, m) in rows {
            let key = m.key.as_ref();
            let finished = key.is_some_and(RowKey::finished);
            let day = m.record.started_at.div_euclid(DAY);
            if finished && self.cache_dir.is_some() {
                if let Some(k) = key {
                    k.feed(id, fingerprints.entry(day).or_default());
                }
            }
            let idx = if in_scope(&m) {
                frame.add_run(m.record)
            } else {
                NONE
            };
            info.insert(id, RowInfo { idx, day, finished });
        }
        let mut disk_tasks = Vec::new();
        for (record, tasks) in disk {
            let idx = frame.add_run(record);
            disk_tasks.push((idx, tasks));
        }
        let mut projects = Vec::with_capacity(frame.runs.len());
        for r in &frame.runs {
            projects.push(frame.projects.id(&r.project));
        }
        let cached = match &self.cache_dir {
            Some(dir) => {
                let fingerprints: HashMap<i64, [u8; 32]> = fingerprints
                    .into_iter()
                    .map(|(day, h)| {
                        use sha2::Digest;
                        (day, h.finalize().into())
                    })
                    .collect();
                let mark = frame.execs.len();
                match self.frame_cached(
                    dir,
                    (lo, hi),
                    &info,
                    &fingerprints,
                    &projects,
                    task,
                    &mut frame,
                ) {
                    Ok(()) => true,
                    Err(e) => {
                        // The cache only makes it sooner: otto.db answers alone.
                        tracing::debug!("insights cache not used: {e}");
                        frame.execs.truncate(mark);
                        false
                    }
                }
            }
            None => false,
        };
        if !cached {
            let mut take = |row: RowView<'_>| -> std::result::Result<(), String> {
                let Some(id) = run_id_of(row) else {
                    return Ok(());
                };
                if let Some(i) = info.get(&id).filter(|i| i.idx != NONE) {
                    let t = task_row(row)?;
                    push_task(&mut frame, i.idx, projects[i.idx as usize], &t);
                }
                Ok(())
            };
            let failed = |e: String| InsightError::failed(format!("cannot read otto.db: {e}"));
            if from == i64::MIN && task.is_none() {
                // All time (up to now): every task row in its table's
                // order, without a lookup of its run through two indexes
                // each; a row of a run not read above (started after `to`,
                // an orphan) is skipped.
                self.each_task_row(&mut take).map_err(failed)?;
            } else {
                let mut stmt = self.conn.prepare(&format!(
                    "SELECT {FRAME_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id
                     WHERE r.timestamp >= ?1 AND r.timestamp < ?2 AND (?3 IS NULL OR t.name = ?3)"
                ))?;
                let rows = stmt.query(rusqlite::params![from, to, task])?;
                for_each_row(rows, TASK_ROW_WIDTH, true, &mut take).map_err(failed)?;
            }
        }
        for (idx, tasks) in disk_tasks {
            for e in tasks {
                frame.push(idx, &e);
            }
        }
        Ok(frame)
    }

    /// The task rows of the frame's runs through the cache in `dir`: the
    /// blocks whose fingerprint is the one of the rows read now, the rest
    /// read from otto.db (and their days' blocks stored). `info`: every
    /// run row of the days `range`; `fingerprints`: those days' (with
    /// finished runs). An error leaves the answer to otto.db alone.
    #[allow(clippy::too_many_arguments)]
    fn frame_cached(
        &self,
        dir: &Path,
        range: (i64, i64),
        info: &FastMap<i64, RowInfo>,
        fingerprints: &HashMap<i64, [u8; 32]>,
        projects: &[u32],
        task: Option<&str>,
        frame: &mut Frame,
    ) -> std::result::Result<(), String> {
        let schema: i64 = self
            .conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(|e| format!("otto.db's schema version: {e}"))?
            .unwrap_or(0);
        let cache = Cache::open(dir, &self.home.join("otto.db"), schema)?;
        let (lo, hi) = range;
        let mut hit: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let mut gone: Vec<i64> = Vec::new();
        cache.read(
            lo.div_euclid(DAY),
            (hi - 1).div_euclid(DAY),
            |day, fp, data| match fingerprints.get(&day) {
                None => gone.push(day),
                Some(want) if want[..] == *fp => {
                    if let Some(view) = BlockView::decode(data) {
                        hit.insert(day);
                        add_block(frame, &view, info, projects, task);
                    }
                }
                Some(_) => {}
            },
        )?;
        let missing: std::collections::BTreeSet<i64> = fingerprints
            .keys()
            .copied()
            .filter(|d| !hit.contains(d))
            .collect();
        // Runs in scope not finished: always read from otto.db.
        let unfinished: Vec<i64> = info
            .iter()
            .filter(|(_, i)| i.idx != NONE && !i.finished && !missing.contains(&i.day))
            .map(|(id, _)| *id)
            .collect();
        let mut blocks: FastMap<i64, Block> =
            missing.iter().map(|d| (*d, Block::default())).collect();
        let mut take = |row: RowView<'_>| -> std::result::Result<(), String> {
            // A row of a run not read (an orphan, when otto.db's foreign
            // keys were off) is skipped before anything else of it is read.
            let Some(id) = run_id_of(row) else {
                return Ok(());
            };
            let Some(i) = info.get(&id) else {
                return Ok(());
            };
            let t = task_row(row)?;
            let in_block = i.finished && blocks.contains_key(&i.day);
            if in_block {
                if let Some(b) = blocks.get_mut(&i.day) {
                    b.push(id, &t);
                }
            }
            if i.idx != NONE && (in_block || !i.finished) && task.is_none_or(|w| w == t.name) {
                push_task(frame, i.idx, projects[i.idx as usize], &t);
            }
            Ok(())
        };
        let err = |e: rusqlite::Error| format!("cannot read otto.db: {e}");
        let read_err = |e: String| format!("cannot read otto.db: {e}");
        // A long read (many days) steps SQLite on this thread while the
        // rows are handled on another (module [`super::rows`]).
        let by_range = |lo: i64,
                        hi: i64,
                        two_threads: bool,
                        take: &mut (
                                 dyn FnMut(RowView<'_>) -> std::result::Result<(), String> + Send
                             )| {
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT {FRAME_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id
                     WHERE r.timestamp >= ?1 AND r.timestamp < ?2"
                ))
                .map_err(err)?;
            let rows = stmt.query([lo, hi]).map_err(err)?;
            for_each_row(rows, TASK_ROW_WIDTH, two_threads, take).map_err(read_err)
        };
        let many = missing.len() > 16 || unfinished.len() > 1000;
        if many && lo == i64::MIN {
            // The whole history (all time, up to now), many days to read (a
            // first read): every task row in its table's order, without a
            // lookup of its run through two indexes each (a third of the
            // time); a row of a run not read above (one started after `hi`,
            // an orphan) is skipped.
            self.each_task_row(&mut take).map_err(read_err)?;
        } else if many {
            // Many days to read (a first read): one pass over them all.
            by_range(lo, hi, true, &mut take)?;
        } else {
            for day in &missing {
                by_range(
                    day.saturating_mul(DAY).max(lo),
                    day.saturating_add(1).saturating_mul(DAY).min(hi),
                    false,
                    &mut take,
                )?;
            }
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT {FRAME_COLUMNS} FROM tasks t WHERE t.run_id = ?1 ORDER BY t.id"
                ))
                .map_err(err)?;
            for id in &unfinished {
                let rows = stmt.query([id]).map_err(err)?;
                for_each_row(rows, TASK_ROW_WIDTH, false, &mut take).map_err(read_err)?;
            }
        }
        let store: Vec<(i64, [u8; 32], Block)> = blocks
            .into_iter()
            .filter_map(|(day, b)| Some((day, *fingerprints.get(&day)?, b)))
            .collect();
        // Written while the figures are computed.
        frame.cache_write = cache.write_in_background(store, gone, ());
        Ok(())
    }

    /// Hands every row of otto.db's `tasks` ([`FRAME_COLUMNS`]) to `take`,
    /// in the table's order — a whole-history read, the longest one —
    /// stepping SQLite on this thread while `take` runs on another
    /// ([`for_each_row`]).
    fn each_task_row(
        &self,
        take: &mut (dyn FnMut(RowView<'_>) -> std::result::Result<(), String> + Send),
    ) -> std::result::Result<(), String> {
        let sqlite = |e: rusqlite::Error| e.to_string();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {FRAME_COLUMNS} FROM tasks t"))
            .map_err(sqlite)?;
        let rows = stmt.query([]).map_err(sqlite)?;
        for_each_row(rows, TASK_ROW_WIDTH, true, take)
    }
}

/// Adds the executions of block `view` whose runs are in the frame (and
/// of `task`, when given).
fn add_block(
    frame: &mut Frame,
    view: &BlockView<'_>,
    info: &FastMap<i64, RowInfo>,
    projects: &[u32],
    task: Option<&str>,
) {
    let runs: Vec<u32> = view
        .runs
        .iter()
        .map(|id| info.get(id).map_or(NONE, |i| i.idx))
        .collect();
    if runs.iter().all(|&i| i == NONE) {
        return;
    }
    let wanted = match task {
        Some(t) => match view.strings.iter().position(|s| *s == t) {
            Some(i) => i as u32,
            None => return,
        },
        None => NONE,
    };
    let mut names = vec![NONE; view.strings.len()];
    let mut hashes = vec![NONE; view.strings.len()];
    frame.execs.reserve(view.len());
    for t in view.tasks() {
        let idx = runs[t.run as usize];
        if idx == NONE || (wanted != NONE && t.name != wanted) {
            continue;
        }
        let task = &mut names[t.name as usize];
        if *task == NONE {
            *task = frame.tasks.id(view.strings[t.name as usize]);
        }
        let hash = if t.hash == NONE {
            NONE
        } else {
            let h = &mut hashes[t.hash as usize];
            if *h == NONE {
                *h = frame.hashes.id(view.strings[t.hash as usize]);
            }
            *h
        };
        let started_at = t.started_at.unwrap_or(frame.runs[idx as usize].started_at);
        frame.execs.push(super::frame::Exec {
            run: idx,
            project: projects[idx as usize],
            task: *task,
            hash,
            status: t.status,
            exit_code: t.exit_code,
            started_at,
            duration_seconds: t.duration_seconds,
        });
    }
}

/// The (project, run) names of `runs`.
fn named(runs: &HashMap<i64, RunMeta>) -> std::collections::HashSet<(&str, &str)> {
    runs.values()
        .map(|m| (m.project.as_str(), m.run.as_str()))
        .collect()
}

/// An otto.db with no rows, for a home that has runs and no otto.db: the
/// tables the queries here read, in memory (nothing is written to the
/// home).
fn empty_otto_db() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, project_id INTEGER, timestamp INTEGER,
                            status TEXT, duration_seconds REAL, size_bytes INTEGER,
                            ottofile_path TEXT, run_dir TEXT, ended_at INTEGER);
         CREATE TABLE tasks (id INTEGER PRIMARY KEY, run_id INTEGER, name TEXT, status TEXT,
                             script_hash TEXT, exit_code INTEGER, started_at INTEGER,
                             duration_seconds REAL, stdout_path TEXT);",
    )?;
    Ok(conn)
}

/// The cache hash a task directory's `script.sh` (or `.py`) link names:
/// the target's file stem (`.cache/<hash8>.sh`), or the last component of
/// a legacy `.cache/<task>/<hash>` target.
pub fn script_hash_on_disk(task_dir: &Path) -> Option<String> {
    ["script.sh", "script.py"].iter().find_map(|name| {
        let target = std::fs::read_link(task_dir.join(name)).ok()?;
        let stem = target.file_stem()?.to_str()?;
        Some(stem.to_owned())
    })
}

/// Names the run rows `task_history` meets, one query per run, cached.
struct RowNamer<'c> {
    conn: &'c Connection,
    home: &'c Path,
    seen: HashMap<i64, Option<RunMeta>>,
}

impl<'c> RowNamer<'c> {
    fn new(conn: &'c Connection, home: &'c Path) -> Self {
        RowNamer {
            conn,
            home,
            seen: HashMap::new(),
        }
    }

    fn meta(&mut self, id: i64) -> Result<Option<RunMeta>> {
        if let Some(m) = self.seen.get(&id) {
            return Ok(m.clone());
        }
        let row = self
            .conn
            .query_row(
                "SELECT r.timestamp, r.status, r.duration_seconds, r.size_bytes, r.run_dir,
                        r.ottofile_path,
                        (SELECT COUNT(*) FROM runs o WHERE o.timestamp = r.timestamp
                           AND o.id < r.id AND o.ottofile_path IS r.ottofile_path)
                 FROM runs r WHERE r.id = ?1",
                [id],
                |row| {
                    Ok((
                        row.get::<_, Option<i64>>(0)?.unwrap_or(0),
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<f64>>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, i64>(6)?,
                    ))
                },
            )
            .optional()?;
        let meta = row.and_then(|(ts, status, duration, size, run_dir, ottofile, before)| {
            let (project, run) = match run_dir.as_deref() {
                Some(d) => Namer::default().name(ts, Some(d), None)?,
                None => {
                    let project = project_dir(ottofile.as_deref()?)?;
                    let run = if before == 0 {
                        ts.to_string()
                    } else {
                        format!("{ts}-{before}")
                    };
                    (project, run)
                }
            };
            let dir = run_dir
                .map(PathBuf::from)
                .unwrap_or_else(|| self.home.join(&project).join(&run));
            Some(RunMeta {
                record: RunRecord {
                    run: run_ref::run_ref(&project, &run),
                    project: project.clone(),
                    started_at: ts,
                    status: status.unwrap_or_default(),
                    duration_seconds: duration,
                    size_bytes: size.and_then(|b| u64::try_from(b).ok()),
                },
                project,
                run,
                dir: Some(dir),
                key: None,
            })
        });
        self.seen.insert(id, meta.clone());
        Ok(meta)
    }
}
