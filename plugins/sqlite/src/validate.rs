//! Checks on input before anything is written, with messages that say which
//! field of which event is wrong.

use serde_json::value::RawValue;

use crate::error::{DbError, Result};
use crate::model::{NewEvent, NewRun};

/// Longest event type accepted.
pub const MAX_TYPE_CHARS: usize = 128;
/// Longest unit name accepted.
pub const MAX_UNIT_CHARS: usize = 256;
/// Longest run id accepted.
pub const MAX_RUN_ID_CHARS: usize = 128;

/// Checks a run id: 1–128 characters, no control characters.
pub fn run_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(DbError::Invalid("run id is empty".into()));
    }
    if id.chars().count() > MAX_RUN_ID_CHARS {
        return Err(DbError::Invalid(format!(
            "run id is longer than {MAX_RUN_ID_CHARS} characters"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(DbError::Invalid(format!(
            "run id {id:?} contains control characters"
        )));
    }
    Ok(())
}

/// Checks a new run: its id, a non-empty project.
pub fn new_run(run: &NewRun) -> Result<()> {
    run_id(&run.id)?;
    if run.project.is_empty() {
        return Err(DbError::Invalid(format!(
            "run {}: project is empty",
            run.id
        )));
    }
    Ok(())
}

/// Checks one event (`index` is its position in the batch, for the message).
pub fn event(index: usize, ev: &NewEvent) -> Result<()> {
    let what = |msg: String| DbError::Invalid(format!("event {index} of the batch: {msg}"));
    if ev.kind.is_empty() {
        return Err(what("type is empty".into()));
    }
    if ev.kind.chars().count() > MAX_TYPE_CHARS {
        return Err(what(format!(
            "type is longer than {MAX_TYPE_CHARS} characters"
        )));
    }
    if ev.kind.chars().any(char::is_control) {
        return Err(what(format!(
            "type {:?} contains control characters",
            ev.kind
        )));
    }
    if let Some(unit) = &ev.unit {
        if unit.chars().count() > MAX_UNIT_CHARS {
            return Err(what(format!(
                "unit is longer than {MAX_UNIT_CHARS} characters"
            )));
        }
        if unit.chars().any(char::is_control) {
            return Err(what(format!("unit {unit:?} contains control characters")));
        }
    }
    if let Some(payload) = &ev.payload {
        // Validates without building a tree.
        serde_json::from_str::<&RawValue>(payload)
            .map_err(|e| what(format!("payload of {} is not valid JSON ({e})", ev.kind)))?;
    }
    Ok(())
}

/// Checks a completion status.
pub fn completion_status(status: &str) -> Result<()> {
    match status {
        "completed" | "failed" | "stopped" => Ok(()),
        other => Err(DbError::Invalid(format!(
            "run status {other:?} is not one of completed, failed, stopped"
        ))),
    }
}
