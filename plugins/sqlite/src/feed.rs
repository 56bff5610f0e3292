//! The all-runs feed (`GET /api/stream`): every stored event of every run,
//! in an order a reader can resume from without skipping anything.
//!
//! A [`FeedPosition`] is where a reader is. In history.db it is the event
//! id (`tx` 0): one writer commits, and ids grow in commit order. In
//! PostgreSQL, ids come from a sequence and concurrent writers may commit a
//! lower id after a higher one, so the feed is ordered by the writing
//! transaction's id first (`tx`, PostgreSQL's `xid8`) and only shows events
//! whose transaction — and every older one — has ended: nothing can then
//! appear behind a position already read.
//!
//! Positions are written `id` (tx 0) or `tx.id`: the `id:` of the SSE
//! messages, which browsers send back as `Last-Event-ID`.

use std::fmt;

use serde::Serialize;

use crate::model::EventRow;

/// A position in the all-runs feed: after the event `id` of transaction
/// `tx` (0: a history whose ids are in commit order). Ordered by `tx`,
/// then `id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FeedPosition {
    /// The writing transaction (0 in history.db).
    pub tx: u64,
    /// The event's database id.
    pub id: i64,
}

impl FeedPosition {
    /// The position of event `id` in a feed ordered by id.
    pub const fn of_id(id: i64) -> FeedPosition {
        FeedPosition { tx: 0, id }
    }

    /// Reads `id` or `tx.id` (what [`Display`](fmt::Display) writes).
    pub fn parse(text: &str) -> Option<FeedPosition> {
        let text = text.trim();
        match text.split_once('.') {
            None => text.parse().ok().filter(|id| *id >= 0).map(Self::of_id),
            Some((tx, id)) => Some(FeedPosition {
                tx: tx.parse().ok()?,
                id: id.parse().ok().filter(|id: &i64| *id >= 0)?,
            }),
        }
    }
}

impl fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tx == 0 {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}.{}", self.tx, self.id)
        }
    }
}

/// A page of the all-runs feed.
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    /// The events, each with its position, in feed order.
    pub events: Vec<(FeedPosition, EventRow)>,
    /// Whether more follow now (read again from the last position).
    pub has_more: bool,
    /// Whether events are stored that the feed does not show yet (an older
    /// transaction is still open): read again shortly, even without news.
    pub waiting: bool,
}
