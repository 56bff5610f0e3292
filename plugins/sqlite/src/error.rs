//! [`DbError`]: every way a history.db operation can fail, as one-line messages.

use std::fmt;
use std::path::Path;

/// An error from the history store. Its `Display` is one line that says what
/// went wrong and, where there is something to do, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The run (or other object) named does not exist.
    NotFound(String),
    /// A run with this id already exists.
    AlreadyExists(String),
    /// The input was rejected (a bad event, a run in the wrong state, a bad cursor…).
    /// Nothing of the command that carried it was stored.
    Invalid(String),
    /// Another process held the database's write lock for longer than the busy timeout.
    Busy(String),
    /// SQLite failed; the message names the database file.
    Sqlite(String),
    /// The database's schema is not one this code can use (too new, or a migration failed).
    Schema(String),
    /// A file-system operation failed; the message names the path.
    Io(String),
    /// A database server (PostgreSQL) failed or could not be reached; the
    /// message names the server and says whether a write may have landed.
    Server(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NotFound(m)
            | DbError::AlreadyExists(m)
            | DbError::Invalid(m)
            | DbError::Busy(m)
            | DbError::Sqlite(m)
            | DbError::Schema(m)
            | DbError::Io(m)
            | DbError::Server(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DbError {}

impl DbError {
    /// The stable code of the HTTP API design (`NOT_FOUND`, `ALREADY_EXISTS`,
    /// `INVALID_PARAM`, `INTERNAL`).
    pub fn code(&self) -> &'static str {
        match self {
            DbError::NotFound(_) => "NOT_FOUND",
            DbError::AlreadyExists(_) => "ALREADY_EXISTS",
            DbError::Invalid(_) => "INVALID_PARAM",
            DbError::Busy(_)
            | DbError::Sqlite(_)
            | DbError::Schema(_)
            | DbError::Io(_)
            | DbError::Server(_) => "INTERNAL",
        }
    }

    /// Names the database file in a SQLite or busy error (other kinds already
    /// say what they concern).
    pub(crate) fn at(self, path: &Path) -> DbError {
        match self {
            DbError::Sqlite(m) => DbError::Sqlite(format!("{}: {m}", path.display())),
            DbError::Busy(m) => DbError::Busy(format!("{}: {m}", path.display())),
            other => other,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                DbError::Busy(format!(
                    "database is locked by another process ({e}); retry, or find what holds it"
                ))
            }
            _ => DbError::Sqlite(format!("SQLite error: {e}")),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
