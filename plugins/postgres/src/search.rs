//! Event search on PostgreSQL: the events API beyond the plain page —
//! either order (`before_seq`, newest first), offsets, failures only and
//! the web UI's search grammar — with history.db's answers.
//!
//! The grammar is parsed once, by [`SearchQuery::parse`] (the definition
//! and the cases shared with the UI are in `otto_hooks_sqlite::search`);
//! this module turns the parsed query into PostgreSQL conditions that
//! match what SQLite's do:
//!
//! - a word is looked for with `strpos` (no `LIKE`: `%` and `_` are plain
//!   characters) in `lower(type ⏎ unit ⏎ error ⏎ payload)` taken `COLLATE
//!   "C"`, which folds ASCII letters only — SQLite's `lower()` and the UI's
//!   rule; the database's own locale would fold `É` too;
//! - a `type:` family is the type or what starts with `family.`;
//! - failures only: a type ending in `.fail` or containing `failed`
//!   (case-sensitive), or a non-empty error.
//!
//! Pages walk the `(run_id, seq)` unique index in either direction from the
//! seq bounds, as in SQLite.

use otto_hooks_sqlite::{DbError, EventPage, EventSearch, SearchQuery};
use postgres::GenericClient;

use crate::error::pg;
use crate::query::{Args, EVENT_COLUMNS, count, event_conditions, event_from_row, require_run};

type Result<T> = std::result::Result<T, DbError>;

/// The condition of [`EventSearch::failed`] (history.db's `FAILED_SQL`).
const FAILED_SQL: &str = " AND (right(type, 5) = '.fail' OR strpos(type, 'failed') > 0 \
     OR COALESCE(error, '') <> '')";

/// The text every word is looked for in, ASCII lower-cased.
const SEARCHED_TEXT: &str = "lower((type || E'\\n' || COALESCE(unit, '') || E'\\n' || \
     COALESCE(error, '') || E'\\n' || COALESCE(payload, '')) COLLATE \"C\")";

/// The conditions of a parsed query, each starting with ` AND`.
fn query_conditions(q: &SearchQuery, args: &mut Args) -> String {
    let mut sql = String::new();
    if !q.units.is_empty() {
        sql.push_str(&format!(
            " AND unit = ANY({}::TEXT[])",
            args.push(q.units.clone())
        ));
    }
    if !q.types.is_empty() {
        let alternatives: Vec<String> = q
            .types
            .iter()
            .map(|family| {
                let exact = args.push(family.clone());
                let below = args.push(format!("{family}."));
                format!("type = {exact} OR starts_with(type, {below})")
            })
            .collect();
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    for word in &q.words {
        sql.push_str(&format!(
            " AND strpos({SEARCHED_TEXT}, {}) > 0",
            args.push(word.clone())
        ));
    }
    sql
}

/// Every condition of `search` but the run and the seq bounds.
fn conditions(search: &EventSearch, args: &mut Args) -> String {
    let mut sql = event_conditions(&search.filter, args);
    if let Some(q) = &search.query {
        sql.push_str(&query_conditions(q, args));
    }
    if search.failed {
        sql.push_str(FAILED_SQL);
    }
    sql
}

/// Whether only seq bounds apply (then seqs are contiguous and an offset
/// moves a bound instead of skipping rows).
fn unfiltered(search: &EventSearch) -> bool {
    search.filter.type_prefix.is_none()
        && search.filter.unit.is_none()
        && search.query.as_ref().is_none_or(SearchQuery::is_empty)
        && !search.failed
}

const fn as_int(n: u64) -> i64 {
    if n > i64::MAX as u64 {
        i64::MAX
    } else {
        n as i64
    }
}

/// One page of a run's events by `search` (history.db's `search_events`).
/// `NotFound` for an unknown run.
pub(crate) fn search_events(c: &mut impl GenericClient, search: &EventSearch) -> Result<EventPage> {
    let run_id = &search.filter.run_id;
    require_run(c, run_id)?;
    let mut after = search.filter.after_seq.unwrap_or(0);
    let mut before = search.before_seq.unwrap_or(u64::MAX);
    let mut offset = search.offset;
    if offset > 0 && unfiltered(search) {
        if search.descending {
            // The newest seq below the bound: one index seek.
            let top: Option<i64> = c
                .query_one(
                    "SELECT MAX(seq) FROM events WHERE run_id = $1 AND seq < $2",
                    &[run_id, &as_int(before)],
                )
                .map_err(pg)?
                .get(0);
            before = (top.unwrap_or(0).max(0) as u64 + 1).saturating_sub(offset);
        } else {
            after = after.saturating_add(offset);
        }
        offset = 0;
    }
    let mut args = Args::default();
    let run = args.push(run_id.clone());
    let lo = args.push(as_int(after));
    let hi = args.push(as_int(before));
    let extra = conditions(search, &mut args);
    let limit = search.filter.limit.max(1) as usize;
    let lim = args.push(limit as i64 + 1);
    let off = args.push(as_int(offset));
    let order = if search.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = {run} AND seq > {lo} AND seq < {hi}\
         {extra} ORDER BY seq {order} LIMIT {lim} OFFSET {off}"
    );
    let rows = c.query(&sql, &args.refs()).map_err(pg)?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(EventPage { events, has_more })
}

/// How many events of the run match `search`'s filters and text search
/// (its seq bounds, order, offset and limit ignored).
pub(crate) fn count_search(c: &mut impl GenericClient, search: &EventSearch) -> Result<u64> {
    if search.query.as_ref().is_none_or(SearchQuery::is_empty) && !search.failed {
        return crate::query::count_events(c, &search.filter);
    }
    require_run(c, &search.filter.run_id)?;
    let mut args = Args::default();
    let run = args.push(search.filter.run_id.clone());
    let extra = conditions(search, &mut args);
    let n: i64 = c
        .query_one(
            &format!("SELECT COUNT(*) FROM events WHERE run_id = {run}{extra}"),
            &args.refs(),
        )
        .map_err(pg)?
        .get(0);
    Ok(count(n))
}
