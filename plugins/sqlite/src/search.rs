//! Event search: the events API beyond [`EventFilter`]: either direction
//! (`before_seq`, descending order), an `offset` for clients that page that
//! way, and the text search grammar the web UI uses.
//!
//! ## The search grammar (one definition, two implementations)
//!
//! `unit:api type:task.retry timeout "exit status 1"`
//!
//! - Tokens are separated by white space. A token is `key:"quoted phrase"`,
//!   `"quoted phrase"`, or a run of non-space characters.
//! - `unit:<name>` names a unit exactly; several `unit:` tokens are
//!   alternatives.
//! - `type:<family>` is a dotted type family (`task` matches `task` and
//!   `task.*`, not `tasks`); several are alternatives.
//! - Any other token (including `foo:bar`) is a word, looked for ignoring
//!   ASCII case in the event's type, unit, error and payload JSON text;
//!   every word must be found.
//! - Surrounding double quotes are removed from values; empty values are
//!   dropped. The three kinds combine (all must hold).
//!
//! The web UI's `search.js` implements the same grammar for loaded events;
//! both are tested against one list of cases
//! (`core/src/daemon/web/tests/search-cases.json`). The daemon matches
//! words in the payload as stored (the orchestrator's JSON text), the UI in
//! its re-serialisation: they differ only in white space inside the JSON.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde::Serialize;

use crate::error::Result;
use crate::model::EventRow;
use crate::query::{
    EVENT_COLUMNS, EventFilter, EventPage, event_conditions, event_from_row, require_run,
};

/// A parsed search: `unit:` values, `type:` families and words (lower-cased).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchQuery {
    /// Units, any of which matches (exact names).
    pub units: Vec<String>,
    /// Type families, any of which matches.
    pub types: Vec<String>,
    /// Words, all of which must be found (ASCII lower-cased).
    pub words: Vec<String>,
}

impl SearchQuery {
    /// Parses `text` by the grammar in the module documentation.
    pub fn parse(text: &str) -> SearchQuery {
        let mut query = SearchQuery::default();
        for raw in tokens(text) {
            let colon = raw.find(':').filter(|&c| c > 0);
            let key = colon.map(|c| raw[..c].to_ascii_lowercase());
            let keyed = matches!(key.as_deref(), Some("unit" | "type"));
            let mut value = match colon {
                Some(c) if keyed => &raw[c + 1..],
                _ => raw,
            };
            if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                value = &value[1..value.len() - 1];
            }
            if value.is_empty() {
                continue;
            }
            match key.as_deref() {
                Some("unit") => query.units.push(value.to_owned()),
                Some("type") => query.types.push(value.to_owned()),
                _ => query.words.push(value.to_ascii_lowercase()),
            }
        }
        query
    }

    /// Whether the query has no token.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty() && self.types.is_empty() && self.words.is_empty()
    }

    /// Tokens in all (a bound on the SQL a query makes).
    pub fn len(&self) -> usize {
        self.units.len() + self.types.len() + self.words.len()
    }

    /// The SQL conditions (each starting with ` AND`) and their arguments.
    fn conditions(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        if !self.units.is_empty() {
            let marks = vec!["?"; self.units.len()].join(", ");
            sql.push_str(&format!(" AND unit IN ({marks})"));
            args.extend(self.units.iter().map(|u| Value::Text(u.clone())));
        }
        if !self.types.is_empty() {
            let one = "(type = ? OR substr(type, 1, ?) = ?)";
            sql.push_str(&format!(
                " AND ({})",
                vec![one; self.types.len()].join(" OR ")
            ));
            for family in &self.types {
                args.push(Value::Text(family.clone()));
                args.push(Value::Integer(family.chars().count() as i64 + 1));
                args.push(Value::Text(format!("{family}.")));
            }
        }
        for word in &self.words {
            // lower() folds ASCII only, like the UI (search.js).
            sql.push_str(
                " AND instr(lower(type || char(10) || coalesce(unit, '') || char(10) || \
                 coalesce(error, '') || char(10) || coalesce(payload, '')), ?) > 0",
            );
            args.push(Value::Text(word.clone()));
        }
        (sql, args)
    }
}

/// The tokens of a query, as the UI's regular expression
/// `(?:[^\s"]+:)?"[^"]*"|\S+` finds them.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let len =
            quoted(rest).unwrap_or_else(|| rest.find(char::is_whitespace).unwrap_or(rest.len()));
        out.push(&rest[..len]);
        i += len;
    }
    out
}

/// The length of `key:"…"` or `"…"` at the start of `s`, when it is one.
fn quoted(s: &str) -> Option<usize> {
    let closing = |open: usize| s[open + 1..].find('"').map(|k| open + 1 + k + 1);
    // `key:` is non-space, non-quote characters ending in `:` right before `"`.
    let run = s
        .find(|c: char| c.is_whitespace() || c == '"')
        .unwrap_or(s.len());
    if run >= 2 && s[run..].starts_with('"') && s[..run].ends_with(':') {
        if let Some(end) = closing(run) {
            return Some(end);
        }
    }
    if s.starts_with('"') { closing(0) } else { None }
}

/// Which events of a run to read, in which order, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSearch {
    /// The run, the type family and unit, `after_seq` and the page size.
    pub filter: EventFilter,
    /// Only events with `seq` below this.
    pub before_seq: Option<u64>,
    /// Newest first (`seq` descending) instead of oldest first.
    pub descending: bool,
    /// Matching events to skip before the page (0: none).
    pub offset: u64,
    /// The text search, when any.
    pub query: Option<SearchQuery>,
    /// Only failures: a type ending in `.fail` or containing `failed`, or
    /// any event with a non-empty error (the web UI's "Failures only",
    /// `status.js` `isFailureType` plus the error, kept in step).
    pub failed: bool,
}

/// The SQL condition of [`EventSearch::failed`]. `instr` and `substr`
/// compare case-sensitively, like the UI's `endsWith`/`includes`.
const FAILED_SQL: &str = " AND (substr(type, -5) = '.fail' OR instr(type, 'failed') > 0 \
     OR coalesce(error, '') <> '')";

impl EventSearch {
    /// Whether this is a plain [`EventFilter`] page: oldest first, no text
    /// search, no failures-only, no `before_seq`, no offset (what every
    /// backend can answer with its `events`).
    pub fn is_plain(&self) -> bool {
        self.query.is_none()
            && !self.failed
            && !self.descending
            && self.before_seq.is_none()
            && self.offset == 0
    }

    fn conditions(&self) -> (String, Vec<Value>) {
        let (mut sql, mut args) = event_conditions(&self.filter);
        if let Some(q) = &self.query {
            let (more, more_args) = q.conditions();
            sql.push_str(&more);
            args.extend(more_args);
        }
        if self.failed {
            sql.push_str(FAILED_SQL);
        }
        (sql, args)
    }

    /// Whether only `seq` bounds apply (then seqs are contiguous and an
    /// offset is a seq bound, not a scan).
    fn unfiltered(&self) -> bool {
        self.filter.type_prefix.is_none()
            && self.filter.unit.is_none()
            && self.query.as_ref().is_none_or(SearchQuery::is_empty)
            && !self.failed
    }
}

const fn as_int(n: u64) -> i64 {
    if n > i64::MAX as u64 {
        i64::MAX
    } else {
        n as i64
    }
}

/// The page query: the run's seq window on `(run_id, seq)`, the extra
/// conditions, in either order.
fn page_sql(extra: &str, descending: bool) -> String {
    let order = if descending { "DESC" } else { "ASC" };
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? AND seq < ?{extra} \
         ORDER BY seq {order} LIMIT ? OFFSET ?"
    )
}

/// One page of a run's events by `search`. Walks the `(run_id, seq)` index
/// in either direction from the seq bounds. An offset without other filters
/// moves the seq bound (seqs are contiguous); with filters it skips that
/// many matches (SQL OFFSET: it costs what it skips). `NotFound` for an
/// unknown run.
pub fn search_events(conn: &Connection, search: &EventSearch) -> Result<EventPage> {
    let tx = conn.unchecked_transaction()?;
    require_run(&tx, &search.filter.run_id)?;
    let mut after = search.filter.after_seq.unwrap_or(0);
    let mut before = search.before_seq.unwrap_or(u64::MAX);
    let mut offset = search.offset;
    if offset > 0 && search.unfiltered() {
        if search.descending {
            // The newest seq below the bound: one index seek.
            let top: Option<i64> = tx
                .prepare_cached("SELECT MAX(seq) FROM events WHERE run_id = ?1 AND seq < ?2")?
                .query_row(
                    rusqlite::params![search.filter.run_id, as_int(before)],
                    |r| r.get(0),
                )?;
            before = (top.unwrap_or(0).max(0) as u64 + 1).saturating_sub(offset);
        } else {
            after = after.saturating_add(offset);
        }
        offset = 0;
    }
    let (extra, extra_args) = search.conditions();
    let limit = search.filter.limit.max(1) as usize;
    let mut args = vec![
        Value::Text(search.filter.run_id.clone()),
        Value::Integer(as_int(after)),
        Value::Integer(as_int(before)),
    ];
    args.extend(extra_args);
    args.push(Value::Integer(limit as i64 + 1));
    args.push(Value::Integer(as_int(offset)));
    let sql = page_sql(&extra, search.descending);
    let mut events: Vec<EventRow> = tx
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), event_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    tx.finish()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// How many events of the run match `search`'s filters and text search
/// (its seq bounds, order, offset and limit are ignored).
pub fn count_search(conn: &Connection, search: &EventSearch) -> Result<u64> {
    if search.query.as_ref().is_none_or(SearchQuery::is_empty) && !search.failed {
        return crate::query::count_events(conn, &search.filter);
    }
    let tx = conn.unchecked_transaction()?;
    require_run(&tx, &search.filter.run_id)?;
    let (extra, extra_args) = search.conditions();
    let mut args = vec![Value::Text(search.filter.run_id.clone())];
    args.extend(extra_args);
    let n: i64 = tx
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM events WHERE run_id = ?{extra}"
        ))?
        .query_row(params_from_iter(args), |r| r.get(0))?;
    tx.finish()?;
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both orders, with a search, walk the `(run_id, seq)` index: no scan
    /// of the table and no sort.
    #[test]
    fn pages_in_either_order_walk_the_run_seq_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.db");
        crate::HistoryDb::open(&path, &crate::Options::default())
            .expect("open")
            .close()
            .expect("close");
        let conn = Connection::open(&path).expect("connection");
        let search = EventSearch {
            query: Some(SearchQuery::parse("unit:api type:task timeout")),
            ..EventSearch::default()
        };
        let (extra, _) = search.conditions();
        for descending in [false, true] {
            let sql = page_sql(&extra, descending);
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map(
                    params_from_iter(vec![Value::Null; sql.matches('?').count()]),
                    |r| r.get::<_, String>(3),
                )
                .expect("rows")
                .collect::<rusqlite::Result<_>>()
                .expect("plan rows");
            let plan = plan.join(" | ");
            assert!(plan.contains("idx_events_run_seq"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sorted, not walked: {plan}");
        }
    }

    /// The cases both implementations of the grammar pass (search.js in
    /// node, this parser here).
    #[test]
    fn the_parser_agrees_with_the_shared_cases() {
        let cases: serde_json::Value = serde_json::from_str(include_str!(
            "../../../core/src/daemon/web/tests/search-cases.json"
        ))
        .expect("search-cases.json is JSON");
        let cases = cases.as_array().expect("a list");
        assert!(cases.len() >= 10);
        for case in cases {
            let text = case["q"].as_str().expect("q");
            let want = &case["parsed"];
            let got = serde_json::to_value(SearchQuery::parse(text)).expect("json");
            assert_eq!(&got, want, "query {text:?}");
        }
    }
}
