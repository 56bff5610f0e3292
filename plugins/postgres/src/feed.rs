//! The all-runs feed on PostgreSQL, in commit-safe order.
//!
//! Event ids come from a sequence: two writers draw ids 100 and 101, the
//! second commits first, a reader that follows ids sees 101, moves past
//! 100 and never sees it. So the feed is ordered by `(tx, id)` — `tx` the
//! id of the transaction that stored the event (`pg_current_xact_id()`,
//! schema version 2) — and a read shows only the events whose `tx` is below
//! the `xmin` of its own snapshot: every transaction older than that has
//! ended (committed, and visible to the read, or rolled back), and every
//! transaction still open or yet to write has a `tx` at or above it. A
//! position once passed can therefore never get an event behind it.
//!
//! The price: an event shows in the feed once every older writing
//! transaction on the server has ended, so a long write transaction (of any
//! database of the cluster) holds the feed back until it ends. Read-only
//! transactions have no transaction id and hold nothing back. A page says
//! `waiting` when stored events are held back, so a follower reads again.

use otto_hooks_sqlite::{DbError, FeedPage, FeedPosition};
use postgres::GenericClient;

use crate::error::pg;
use crate::query::{EVENT_COLUMNS, event_from_row_at};

type Result<T> = std::result::Result<T, DbError>;

/// The snapshot's horizon: transactions below it have all ended.
const STABLE: &str = "pg_snapshot_xmin(pg_current_snapshot())";

fn position(tx: &str, id: i64) -> Result<FeedPosition> {
    let tx = tx
        .parse()
        .map_err(|_| DbError::Server(format!("PostgreSQL returned the transaction id {tx:?}")))?;
    Ok(FeedPosition { tx, id })
}

/// Up to `limit` events after `after`, in `(tx, id)` order, of ended
/// transactions only.
///
/// The horizon is read once and both statements use it: were each to take
/// its own, a transaction ending between them would make the first hold
/// its events back and the second see nothing held back, and a follower
/// told "not waiting" would never read them.
pub(crate) fn feed_after(
    c: &mut impl GenericClient,
    after: FeedPosition,
    limit: u32,
) -> Result<FeedPage> {
    let limit = limit.max(1) as usize;
    let horizon: String = c
        .query_one(&format!("SELECT {STABLE}::TEXT"), &[])
        .map_err(pg)?
        .get(0);
    let tx = after.tx.to_string();
    // Every transaction below the horizon has ended: its events are visible
    // to this statement, whatever its own snapshot.
    let rows = c
        .query(
            &format!(
                "SELECT tx::TEXT, {EVENT_COLUMNS} FROM events \
                 WHERE (tx, id) > ($1::TEXT::xid8, $2) AND tx < $3::TEXT::xid8 \
                 ORDER BY tx, id LIMIT $4"
            ),
            &[&tx, &after.id, &horizon, &(limit as i64 + 1)],
        )
        .map_err(pg)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        // The event columns follow the position's transaction.
        let event = event_from_row_at(row, 1)?;
        events.push((position(row.get(0), event.id)?, event));
    }
    let has_more = events.len() > limit;
    events.truncate(limit);
    let waiting = if has_more {
        false
    } else {
        // Anything at or past the horizon — stored by a transaction that
        // was open at the first read, or has ended since — is read again.
        let from = events.last().map_or(after, |(p, _)| *p);
        c.query_one(
            "SELECT EXISTS (SELECT 1 FROM events \
             WHERE (tx, id) > ($1::TEXT::xid8, $2) AND tx >= $3::TEXT::xid8)",
            &[&from.tx.to_string(), &from.id, &horizon],
        )
        .map_err(pg)?
        .get(0)
    };
    Ok(FeedPage {
        events,
        has_more,
        waiting,
    })
}

/// The feed's end: the last event of an ended transaction ((0, 0) when
/// none). Events held back now come after it.
pub(crate) fn feed_head(c: &mut impl GenericClient) -> Result<FeedPosition> {
    let row = c
        .query_opt(
            &format!(
                "SELECT tx::TEXT, id FROM events WHERE tx < {STABLE} \
                 ORDER BY tx DESC, id DESC LIMIT 1"
            ),
            &[],
        )
        .map_err(pg)?;
    match row {
        Some(r) => position(r.get(0), r.get(1)),
        None => Ok(FeedPosition::default()),
    }
}
