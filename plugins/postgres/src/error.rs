//! PostgreSQL errors as the history's [`DbError`]s.

use otto_hooks_sqlite::DbError;
use postgres::error::SqlState;

/// A client error as a [`DbError`]: lock and serialization conflicts are
/// `Busy`, text PostgreSQL cannot store (a NUL character) is `Invalid`, a
/// lost connection and everything else the server said are `Server`.
pub(crate) fn pg(e: postgres::Error) -> DbError {
    let Some(db) = e.as_db_error() else {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        return DbError::Server(if e.is_closed() || io {
            format!("PostgreSQL connection failed: {}", describe(&e))
        } else {
            format!("PostgreSQL client error: {}", describe(&e))
        });
    };
    let code = db.code();
    // The server going away (shutdown, restart, starting up) or the link
    // breaking: a lost connection, which a caller may retry on a new one.
    if code.code().starts_with("57P") || code.code().starts_with("08") {
        return DbError::Server(format!("PostgreSQL connection failed: {}", db.message()));
    }
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
    {
        DbError::Busy(format!("PostgreSQL: {}; retry", db.message()))
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        || *code == SqlState::UNTRANSLATABLE_CHARACTER
    {
        DbError::Invalid(format!(
            "PostgreSQL cannot store this text ({}): it holds a NUL character",
            db.message()
        ))
    } else {
        DbError::Server(format!("PostgreSQL error: {}", db.message()))
    }
}

/// Whether the error means the connection is gone (the server restarted,
/// the network broke): such a connection is dropped, not pooled.
pub(crate) fn is_connection_loss(e: &DbError, closed: bool) -> bool {
    closed
        || matches!(e, DbError::Server(m) if m.starts_with("PostgreSQL connection failed") || m.starts_with("cannot connect"))
}

/// The error with what caused it, on one line (the client's `Display`
/// names only the kind, e.g. "db error").
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_of(source);
    }
    text.replace('\n', " ")
}

fn cause_of<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(std::error::Error::source)
}
