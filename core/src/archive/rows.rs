//! Database rows in an archive: otto.db's rows of an otto run, and a
//! history run's rows, as JSON objects keyed by column name — read and
//! written generically, columns checked against the destination table.

use std::path::Path;
use std::time::Duration;

use otto_hooks_status_default::{Access, SUPPORTED_SCHEMA, open_otto_db};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A row: column → value.
pub type Row = Map<String, Value>;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// otto.db's rows of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OttoRows {
    /// otto.db's schema version where they were read.
    pub schema_version: i64,
    /// The run directory they named (`runs.run_dir`).
    pub run_dir: String,
    /// The project row (without `id`, `run_count`).
    pub project: Row,
    /// The run row (without `id`, `project_id`).
    pub run: Row,
    /// The task rows (without `id`, `run_id`), by id.
    pub tasks: Vec<Row>,
}

/// What happened to a run's otto.db rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "rows", content = "why")]
pub enum RowsOutcome {
    /// Written.
    Imported,
    /// The same rows were there.
    Unchanged,
    /// The archive has none (a run otto.db did not record with `run_dir`).
    None,
    /// Not written: why.
    NotImported(String),
}

fn cell(v: ValueRef<'_>) -> Result<Value, String> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => return Err("a BLOB column cannot be exported".into()),
    })
}

fn sql(v: &Value) -> Result<SqlValue, String> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().ok_or("a number out of range")?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        _ => return Err("a row value is an array or object".into()),
    })
}

/// Every row `query` returns, as objects without the columns in `skip`.
fn rows(
    conn: &Connection,
    query: &str,
    param: &dyn rusqlite::ToSql,
    skip: &[&str],
) -> Result<Vec<Row>, String> {
    let mut stmt = conn.prepare(query).map_err(|e| e.to_string())?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut out = Vec::new();
    let mut q = stmt.query([param]).map_err(|e| e.to_string())?;
    while let Some(r) = q.next().map_err(|e| e.to_string())? {
        let mut row = Row::new();
        for (i, name) in names.iter().enumerate() {
            if skip.contains(&name.as_str()) {
                continue;
            }
            let v = r.get_ref(i).map_err(|e| e.to_string())?;
            row.insert(name.clone(), cell(v)?);
        }
        out.push(row);
    }
    Ok(out)
}

/// Inserts `row` (plus `extra`) into `table`: only columns the table has;
/// an unknown column is an error (a different schema).
fn insert(
    conn: &Connection,
    table: &str,
    row: &Row,
    extra: &[(&str, SqlValue)],
) -> Result<i64, String> {
    let known = columns(conn, table)?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (k, v) in row {
        if !known.iter().any(|c| c == k) {
            return Err(format!("`{table}` has no column `{k}` here"));
        }
        names.push(k.clone());
        values.push(sql(v)?);
    }
    for (k, v) in extra {
        names.push((*k).to_owned());
        values.push(v.clone());
    }
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    // Column names are the table's own (checked above), never the archive's text.
    let text = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", "),
        marks.join(", ")
    );
    conn.execute(&text, rusqlite::params_from_iter(values))
        .map_err(|e| format!("cannot insert into `{table}`: {e}"))?;
    Ok(conn.last_insert_rowid())
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .map_err(|e| e.to_string())?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(names)
}

fn otto_version(conn: &Connection) -> Result<i64, String> {
    conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
        r.get::<_, Option<i64>>(0)
    })
    .map_err(|e| format!("cannot read its schema version: {e}"))?
    .ok_or_else(|| "it has no schema version".to_owned())
}

/// The otto.db rows of the run directory `run_dir` of `home` (matched by
/// `runs.run_dir`); `None` when otto.db is absent or has no such row.
pub fn export_otto(home: &Path, run_dir: &Path) -> Result<Option<OttoRows>, String> {
    let path = home.join("otto.db");
    if !path.is_file() {
        return Ok(None);
    }
    let conn = open_otto_db(&path, Access::Read).map_err(|e| format!("{}: {e}", path.display()))?;
    let version = otto_version(&conn).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut dirs = vec![run_dir.to_string_lossy().into_owned()];
    if let Ok(c) = run_dir.canonicalize() {
        dirs.push(c.to_string_lossy().into_owned());
    }
    for dir in dirs {
        let ids: Vec<i64> = {
            let mut stmt = conn
                .prepare("SELECT id FROM runs WHERE run_dir = ?1 ORDER BY id DESC LIMIT 1")
                .map_err(|e| e.to_string())?;
            stmt.query_map([&dir], |r| r.get(0))
                .map_err(|e| e.to_string())?
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        };
        let Some(id) = ids.first() else { continue };
        let run = rows(
            &conn,
            "SELECT * FROM runs WHERE id = ?1",
            id,
            &["id", "project_id"],
        )?;
        let project_id: i64 = conn
            .query_row("SELECT project_id FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(|e| e.to_string())?;
        let project = rows(
            &conn,
            "SELECT * FROM projects WHERE id = ?1",
            &project_id,
            &["id", "run_count"],
        )?;
        let tasks = rows(
            &conn,
            "SELECT * FROM tasks WHERE run_id = ?1 ORDER BY id",
            id,
            &["id", "run_id"],
        )?;
        let (Some(run), Some(project)) = (run.into_iter().next(), project.into_iter().next())
        else {
            continue;
        };
        return Ok(Some(OttoRows {
            schema_version: version,
            run_dir: dir,
            project,
            run,
            tasks,
        }));
    }
    Ok(None)
}

/// `rows` with every path under the source run directory moved to `dest`.
fn moved(rows: &OttoRows, dest: &Path) -> (Row, Vec<Row>) {
    let dest = dest.to_string_lossy();
    let fix = |row: &Row, keys: &[&str]| -> Row {
        let mut row = row.clone();
        for key in keys {
            if let Some(Value::String(s)) = row.get(*key) {
                if let Some(rest) = s.strip_prefix(&rows.run_dir) {
                    if rest.is_empty() || rest.starts_with('/') {
                        let new = format!("{dest}{rest}");
                        row.insert((*key).to_owned(), Value::String(new));
                    }
                }
            }
        }
        row
    };
    let run = fix(&rows.run, &["run_dir"]);
    let tasks = rows
        .tasks
        .iter()
        .map(|t| fix(t, &["stdout_path", "stderr_path", "script_path"]))
        .collect();
    (run, tasks)
}

/// Writes `rows` into `<home>/otto.db` for the run now at `dest` — with
/// the care of [`crate::ottodb_rows`]: never creating otto.db, only the
/// schema version the rows were read at (and one otto-hooks knows), in one
/// `BEGIN IMMEDIATE` transaction with otto's busy timeout. A run that has a
/// row already is left as it is.
pub fn import_otto(home: &Path, rows: &OttoRows, dest: &Path) -> RowsOutcome {
    let path = home.join("otto.db");
    if !path.is_file() {
        return RowsOutcome::NotImported(format!(
            "there is no otto.db in {} (otto creates it on its first run); the run's status is inferred from its files",
            home.display()
        ));
    }
    match write_otto(&path, rows, dest) {
        Ok(outcome) => outcome,
        Err(e) => RowsOutcome::NotImported(format!("{}: {e}", path.display())),
    }
}

fn write_otto(path: &Path, rows: &OttoRows, dest: &Path) -> Result<RowsOutcome, String> {
    let conn = open_otto_db(path, Access::Write)?;
    let version = otto_version(&conn)?;
    if version != rows.schema_version || !(1..=SUPPORTED_SCHEMA).contains(&version) {
        return Ok(RowsOutcome::NotImported(format!(
            "its schema version is {version}, the rows were read at version {} (otto-hooks writes 1 to {SUPPORTED_SCHEMA}, the same on both sides)",
            rows.schema_version
        )));
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("cannot begin a transaction (otto is writing?): {e}"))?;
    let result = (|| -> Result<RowsOutcome, String> {
        let (run, tasks) = moved(rows, dest);
        let dest_text = dest.to_string_lossy().into_owned();
        let existing: Option<i64> = conn
            .query_row(
                "SELECT id FROM runs WHERE run_dir = ?1",
                [&dest_text],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        if let Some(id) = existing {
            let have = rows_of(&conn, id)?;
            return Ok(if have == (run, tasks) {
                RowsOutcome::Unchanged
            } else {
                RowsOutcome::NotImported(
                    "otto.db already has a different row for this run directory; it is kept".into(),
                )
            });
        }
        let hash = rows
            .project
            .get("hash")
            .and_then(Value::as_str)
            .ok_or("the project row has no hash")?;
        let found: Option<i64> = conn
            .query_row("SELECT id FROM projects WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| e.to_string())?;
        let project_id = match found {
            Some(id) => id,
            None => insert(
                &conn,
                "projects",
                &rows.project,
                &[("run_count", SqlValue::Integer(0))],
            )?,
        };
        let ts = run.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
        conn.execute(
            "UPDATE projects SET run_count = COALESCE(run_count, 0) + 1,
                    first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?2)
             WHERE id = ?1",
            rusqlite::params![project_id, ts],
        )
        .map_err(|e| e.to_string())?;
        let run_id = insert(
            &conn,
            "runs",
            &run,
            &[("project_id", SqlValue::Integer(project_id))],
        )?;
        for task in &tasks {
            insert(
                &conn,
                "tasks",
                task,
                &[("run_id", SqlValue::Integer(run_id))],
            )?;
        }
        Ok(RowsOutcome::Imported)
    })();
    match &result {
        Ok(RowsOutcome::Imported) => conn
            .execute_batch("COMMIT")
            .map_err(|e| format!("cannot commit: {e}"))?,
        _ => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    result
}

fn rows_of(conn: &Connection, id: i64) -> Result<(Row, Vec<Row>), String> {
    let run = rows(
        conn,
        "SELECT * FROM runs WHERE id = ?1",
        &id,
        &["id", "project_id"],
    )?
    .into_iter()
    .next()
    .unwrap_or_default();
    let tasks = rows(
        conn,
        "SELECT * FROM tasks WHERE run_id = ?1 ORDER BY id",
        &id,
        &["id", "run_id"],
    )?;
    Ok((run, tasks))
}

/// A history run's rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRows {
    /// The history database's schema version.
    pub schema_version: u32,
    /// The run row.
    pub run: Row,
    /// The graph row (without `run_id`), if any.
    pub graph: Option<Row>,
}

/// What happened to a history run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryOutcome {
    /// Written.
    Imported,
    /// The same run was there.
    Unchanged,
    /// A different run with this id is there: kept.
    Conflict,
}

fn open_history(db: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn history_of(conn: &Connection, id: &str) -> Result<Option<(HistoryRows, Vec<Row>)>, String> {
    let version = otto_hooks_sqlite::migrate::current_version(conn).map_err(|e| e.to_string())?;
    let Some(run) = rows(conn, "SELECT * FROM runs WHERE id = ?1", &id, &[])?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let graph = rows(
        conn,
        "SELECT * FROM graphs WHERE run_id = ?1",
        &id,
        &["run_id"],
    )?
    .into_iter()
    .next();
    let events = rows(
        conn,
        "SELECT * FROM events WHERE run_id = ?1 ORDER BY seq, id",
        &id,
        &["id", "run_id"],
    )?;
    Ok(Some((
        HistoryRows {
            schema_version: version,
            run,
            graph,
        },
        events,
    )))
}

/// History run `id` of database `db`, with its events; `None` when absent.
pub fn export_history(db: &Path, id: &str) -> Result<Option<(HistoryRows, Vec<Row>)>, String> {
    if !db.is_file() {
        return Ok(None);
    }
    let conn = open_history(db)?;
    history_of(&conn, id).map_err(|e| format!("{}: {e}", db.display()))
}

/// Writes a history run into `db` (created and migrated when missing) in
/// one transaction; an existing run with the same id is compared, never
/// replaced.
pub fn import_history(
    db: &Path,
    run: &HistoryRows,
    events: &[Row],
) -> Result<HistoryOutcome, String> {
    // Creates and migrates the database as the hooks would.
    otto_hooks_sqlite::HistoryDb::open(db, &otto_hooks_sqlite::Options::default())
        .and_then(otto_hooks_sqlite::HistoryDb::close)
        .map_err(|e| format!("cannot open the history database {}: {e}", db.display()))?;
    let conn = open_history(db)?;
    let version = otto_hooks_sqlite::migrate::current_version(&conn).map_err(|e| e.to_string())?;
    if version != run.schema_version {
        return Err(format!(
            "{} is schema version {version}, the run was exported at version {}: upgrade the older otto-hooks",
            db.display(),
            run.schema_version
        ));
    }
    let id = run
        .run
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the run row has no id")?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("cannot begin a transaction on {}: {e}", db.display()))?;
    let result = (|| -> Result<HistoryOutcome, String> {
        if let Some((have, have_events)) = history_of(&conn, id)? {
            return Ok(if have == *run && have_events == events {
                HistoryOutcome::Unchanged
            } else {
                HistoryOutcome::Conflict
            });
        }
        insert(&conn, "runs", &run.run, &[])?;
        for event in events {
            insert(
                &conn,
                "events",
                event,
                &[("run_id", SqlValue::Text(id.to_owned()))],
            )?;
        }
        if let Some(graph) = &run.graph {
            insert(
                &conn,
                "graphs",
                graph,
                &[("run_id", SqlValue::Text(id.to_owned()))],
            )?;
        }
        Ok(HistoryOutcome::Imported)
    })();
    match &result {
        Ok(HistoryOutcome::Imported) => conn
            .execute_batch("COMMIT")
            .map_err(|e| format!("cannot commit to {}: {e}", db.display()))?,
        _ => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    result
}
