//! Reading a long query on two cores. A whole-history fill of the insights
//! caches reads a million rows: about as much time goes into SQLite's
//! stepping as into what is done with each row (interning names, building
//! the day's block, the frame). [`for_each_row`] splits the two: the calling
//! thread steps the statement and copies each row's values into a batch,
//! a second thread hands the batches' rows to the caller's function. Rows
//! keep their order, and the caller's function runs on one thread at a
//! time, so it sees exactly what a plain loop over the rows would.
//!
//! The connection stays on the calling thread (a `rusqlite::Connection` is
//! not `Sync`), so the read stays one read, in the caller's transaction.

use std::sync::mpsc;

/// Rows in a batch handed to the second thread.
const BATCH_ROWS: usize = 2048;

/// One value of a row, copied out of SQLite.
#[derive(Clone, Copy, Debug)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    /// Text, as the byte range `start..end` of the batch's text.
    Text(u32, u32),
    /// Text that is not UTF-8.
    BadText,
    Blob,
}

impl Cell {
    /// What the value is, for an error message.
    fn kind(self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "an integer",
            Cell::Real(_) => "a real",
            Cell::Text(..) => "text",
            Cell::BadText => "text that is not UTF-8",
            Cell::Blob => "a blob",
        }
    }
}

/// Rows of values copied out of SQLite, their texts in one buffer.
#[derive(Debug)]
struct Batch {
    columns: usize,
    cells: Vec<Cell>,
    text: String,
}

impl Batch {
    fn new(columns: usize) -> Batch {
        Batch {
            columns,
            cells: Vec::with_capacity(columns * BATCH_ROWS),
            text: String::with_capacity(64 * BATCH_ROWS),
        }
    }

    fn rows(&self) -> usize {
        self.cells.len() / self.columns.max(1)
    }

    fn clear(&mut self) {
        self.cells.clear();
        self.text.clear();
    }

    /// Copies the first `columns` values of `row`.
    fn push(&mut self, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        use rusqlite::types::ValueRef;
        for i in 0..self.columns {
            let cell = match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                    Ok(s) => {
                        let start = self.text.len();
                        self.text.push_str(s);
                        match (u32::try_from(start), u32::try_from(self.text.len())) {
                            (Ok(a), Ok(b)) => Cell::Text(a, b),
                            _ => Cell::BadText,
                        }
                    }
                    Err(_) => Cell::BadText,
                },
                ValueRef::Blob(_) => Cell::Blob,
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    fn row(&self, n: usize) -> RowView<'_> {
        RowView {
            cells: &self.cells[n * self.columns..(n + 1) * self.columns],
            text: &self.text,
        }
    }
}

/// One row as copied, read with the same type rules as `rusqlite::Row`'s
/// `get` (an integer is not a text, a real is not an integer).
#[derive(Clone, Copy, Debug)]
pub struct RowView<'b> {
    cells: &'b [Cell],
    text: &'b str,
}

impl<'b> RowView<'b> {
    fn cell(&self, i: usize) -> Result<Cell, String> {
        self.cells
            .get(i)
            .copied()
            .ok_or_else(|| format!("no column {i}"))
    }

    /// Column `i` as text, or `None` when NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<&'b str>, String> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(a, b) => Ok(self.text.get(a as usize..b as usize)),
            Cell::BadText => Err(format!("column {i} is not UTF-8 text")),
            other => Err(format!("column {i} is {}, not text", other.kind())),
        }
    }

    /// Column `i` as text (NULL is an error).
    pub fn text(&self, i: usize) -> Result<&'b str, String> {
        self.opt_text(i)?
            .ok_or_else(|| format!("column {i} is NULL, not text"))
    }

    /// Column `i` as an integer, or `None` when NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, String> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v)),
            other => Err(format!("column {i} is {}, not an integer", other.kind())),
        }
    }

    /// Column `i` as an integer (NULL is an error).
    pub fn int(&self, i: usize) -> Result<i64, String> {
        self.opt_int(i)?
            .ok_or_else(|| format!("column {i} is NULL, not an integer"))
    }

    /// Column `i` as a 32-bit integer, or `None` when NULL (out of range is
    /// an error).
    pub fn opt_i32(&self, i: usize) -> Result<Option<i32>, String> {
        self.opt_int(i)?
            .map(|v| i32::try_from(v).map_err(|_| format!("column {i}: {v} is out of range")))
            .transpose()
    }

    /// Column `i` as a real (an integer converts), or `None` when NULL.
    pub fn opt_real(&self, i: usize) -> Result<Option<f64>, String> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v as f64)),
            Cell::Real(v) => Ok(Some(v)),
            other => Err(format!("column {i} is {}, not a number", other.kind())),
        }
    }
}

/// The cores this process may use, read once (it reads the cgroup's
/// files on Linux).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Calls `each` with every row of `rows` (of which `columns` values are
/// read), in order. With `two_threads` (and two cores), SQLite is stepped
/// on this thread while `each` runs on another; else one after the other.
/// Stops at the first error, of SQLite's or of `each`.
pub fn for_each_row(
    mut rows: rusqlite::Rows<'_>,
    columns: usize,
    two_threads: bool,
    each: &mut (dyn FnMut(RowView<'_>) -> Result<(), String> + Send),
) -> Result<(), String> {
    let sqlite = |e: rusqlite::Error| e.to_string();
    if !two_threads || cores() < 2 {
        let mut batch = Batch::new(columns);
        while let Some(row) = rows.next().map_err(sqlite)? {
            batch.clear();
            batch.push(row).map_err(sqlite)?;
            each(batch.row(0))?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        // Two batches in flight at most: the one being filled and the one
        // being read, plus one waiting.
        let (full, full_rx) = mpsc::sync_channel::<Batch>(1);
        let (spare, spare_rx) = mpsc::channel::<Batch>();
        let worker = std::thread::Builder::new()
            .name("insights-rows".into())
            .spawn_scoped(scope, move || {
                for batch in full_rx {
                    for n in 0..batch.rows() {
                        each(batch.row(n))?;
                    }
                    let mut batch = batch;
                    batch.clear();
                    // The reader may be done: the batch is then dropped.
                    let _ = spare.send(batch);
                }
                Ok::<(), String>(())
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        let mut read = || -> Result<(), String> {
            let mut batch = Batch::new(columns);
            while let Some(row) = rows.next().map_err(sqlite)? {
                batch.push(row).map_err(sqlite)?;
                if batch.rows() >= BATCH_ROWS {
                    let next = spare_rx.try_recv().unwrap_or_else(|_| Batch::new(columns));
                    if full.send(std::mem::replace(&mut batch, next)).is_err() {
                        // The worker stopped on an error: it says which.
                        return Ok(());
                    }
                }
            }
            if batch.rows() > 0 {
                let _ = full.send(batch);
            }
            Ok(())
        };
        let stepped = read();
        drop(full);
        let handled = match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        stepped.and(handled)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(n: i64) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB)")
            .unwrap();
        let mut put = conn
            .prepare("INSERT INTO t VALUES (?1, ?2, ?3, NULL)")
            .unwrap();
        for i in 0..n {
            let b = (i % 3 != 0).then(|| format!("row {i} ünïcode"));
            put.execute(rusqlite::params![i, b, i as f64 / 2.0])
                .unwrap();
        }
        drop(put);
        conn
    }

    fn read_all(conn: &rusqlite::Connection, two: bool) -> Result<Vec<String>, String> {
        let mut stmt = conn.prepare("SELECT a, b, c, d FROM t ORDER BY a").unwrap();
        let rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        for_each_row(rows, 4, two, &mut |r| {
            assert_eq!(r.opt_text(3)?, None);
            out.push(format!(
                "{}|{:?}|{:?}",
                r.int(0)?,
                r.opt_text(1)?,
                r.opt_real(2)?
            ));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn two_threads_see_every_row_in_order_as_one_does() {
        // Several batches and a partial last one.
        let conn = db(3 * BATCH_ROWS as i64 + 17);
        let one = read_all(&conn, false).unwrap();
        assert_eq!(one.len(), 3 * BATCH_ROWS + 17);
        assert_eq!(one[1], "1|Some(\"row 1 ünïcode\")|Some(0.5)");
        assert_eq!(read_all(&conn, true).unwrap(), one);
        assert!(read_all(&db(0), true).unwrap().is_empty());
    }

    #[test]
    fn values_are_read_with_sqlite_s_type_rules() {
        let conn = db(3);
        let mut stmt = conn.prepare("SELECT a, b, c, d FROM t ORDER BY a").unwrap();
        let rows = stmt.query([]).unwrap();
        let mut seen = 0;
        for_each_row(rows, 4, false, &mut |r| {
            assert!(r.text(0).is_err(), "an integer is not text");
            assert!(r.opt_int(2).is_err(), "a real is not an integer");
            assert_eq!(r.opt_real(0)?, Some(seen as f64), "an integer is a number");
            assert!(r.text(3).is_err(), "NULL is not text");
            assert!(r.int(9).is_err(), "no such column");
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 3);
        let big = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = big.prepare("SELECT 5000000000, x'ff'").unwrap();
        for_each_row(stmt.query([]).unwrap(), 2, false, &mut |r| {
            assert!(r.opt_i32(0).is_err(), "out of an i32's range");
            assert!(r.opt_text(1).is_err(), "a blob is not text");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn an_error_of_the_function_stops_the_read_and_is_returned() {
        let conn = db(5 * BATCH_ROWS as i64);
        for two in [false, true] {
            let mut stmt = conn.prepare("SELECT a FROM t ORDER BY a").unwrap();
            let mut calls = 0;
            let err = for_each_row(stmt.query([]).unwrap(), 1, two, &mut |r| {
                calls += 1;
                if r.int(0)? == 100 {
                    return Err("stop at 100".into());
                }
                Ok(())
            })
            .unwrap_err();
            assert_eq!(err, "stop at 100");
            assert_eq!(calls, 101, "no row after the error is handed on");
        }
    }
}
