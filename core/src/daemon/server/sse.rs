//! Live streams as Server-Sent Events.
//!
//! - `GET /api/history/runs/{id}/stream` follows one run. Each message's
//!   `id:` is the event's `seq`. Without a resume point it starts at the
//!   run's first event.
//! - `GET /api/stream` follows every run. Each message's `id:` is the
//!   event's position in the all-runs feed (`otto_hooks_sqlite::feed`): on
//!   history.db the event's database id (`events.id`: it only grows, in the
//!   order events were stored); on PostgreSQL `tx.id`, the storing
//!   transaction and the event id, so that an event committed after one
//!   with a higher id is still sent (the feed holds later events back until
//!   older transactions end). Without a resume point it starts with the
//!   events stored after the connection.
//!
//! Every stored event is one message with no `event:` field, so that
//! `EventSource.onmessage` receives them all; `data:` is the event as the
//! events route returns it (`{id, run_id, seq, time, type, unit, task, pr,
//! payload, error}`; its `type` says what it is). Run-level changes are
//! events too: `run.stopped`, `run.resumed`, `run.completed`,
//! `run.failed`. A comment line every 15 s keeps idle connections open.
//!
//! A run created by `POST /api/runs` is announced on `/api/stream` at once
//! (before its first event) by a `run.started` message of the same shape
//! that is not stored: `seq` 0, `id` 0, `time` the run's start, `payload`
//! the run as `GET /api/history/runs/{id}` returns it, and no SSE `id:`
//! line (so a reconnect's `Last-Event-ID` is unchanged). It is not
//! replayed after a reconnect or a lag: a client re-reads the run list then.
//!
//! ## Resuming without gaps or duplicates
//!
//! A client resumes with the `Last-Event-ID` header (browsers send it when
//! they reconnect) or `?after=<id>` (the header wins). The stream
//! subscribes to the live channel *first*, then replays from the database
//! everything after the resume point, then follows the channel, dropping
//! what it already sent (by id). An event committed before the replay's
//! read is in the database; one committed after it is on the channel,
//! which was already subscribed. A stream that falls behind the channel
//! (it lagged) goes back to the database from its last id. On the per-run
//! stream, whose ids are contiguous, a jump in `seq` from the channel also
//! sends it back to the database. On a store whose feed is not in commit
//! order (PostgreSQL), the all-runs stream takes the channel as news only
//! and reads every event from the feed, again every [`FEED_POLL`] while the
//! feed says it holds events back.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use otto_hooks_sqlite::{EventFilter, EventRow, FeedPosition};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::body;
use super::errors::ApiError;
use super::{Batch, Shared};

/// Events read from the database per replay step.
const REPLAY_PAGE: u32 = 500;
/// Time between keep-alive comments on an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Time between reads of a feed that holds events back (PostgreSQL: an
/// older transaction is still open).
const FEED_POLL: Duration = Duration::from_millis(200);

/// The stream parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    after: Option<String>,
}

/// What a stream follows, and so what its ids are.
enum Scope {
    /// One run; ids are `seq`.
    Run(String),
    /// Every run; ids are database event ids.
    All,
}

/// One connected stream: where it is, and what it has yet to send.
struct Follower {
    state: Shared,
    scope: Scope,
    /// The id of the last event sent (or the resume point): its seq on a
    /// run's stream, its feed position on the all-runs stream.
    cursor: FeedPosition,
    live: broadcast::Receiver<Batch>,
    /// Events to send, each with its position when it came from the
    /// database (trusted to follow the cursor), `None` from the channel.
    pending: VecDeque<(EventRow, Option<FeedPosition>)>,
    /// Whether the next events must be read from the database.
    catching_up: bool,
    /// Whether channel events may be sent as they come: the store's feed
    /// is in commit order (and a run's seqs always are). When not, they
    /// only say that the feed has news.
    live_ordered: bool,
    /// Whether the feed said it holds events back: read it again soon.
    waiting: bool,
    shutdown: watch::Receiver<bool>,
}

impl Follower {
    fn key(&self, e: &EventRow) -> FeedPosition {
        match self.scope {
            Scope::Run(_) => FeedPosition::of_id(i64::try_from(e.seq).unwrap_or(i64::MAX)),
            Scope::All => FeedPosition::of_id(e.id),
        }
    }

    fn follows(&self, e: &EventRow) -> bool {
        match &self.scope {
            Scope::Run(id) => e.run_id == *id,
            Scope::All => true,
        }
    }

    /// The next event to send with its stream id, or `None` when the
    /// stream ends (server shutdown, the run deleted, a database error).
    async fn next(&mut self) -> Option<(Option<FeedPosition>, EventRow)> {
        loop {
            while let Some((event, from_db)) = self.pending.pop_front() {
                if event.seq == 0 && from_db.is_none() {
                    // A run-created notice: no id, never counted.
                    if matches!(self.scope, Scope::All) {
                        return Some((None, event));
                    }
                    continue;
                }
                let key = from_db.unwrap_or_else(|| self.key(&event));
                if key <= self.cursor {
                    continue; // sent already
                }
                if from_db.is_none() && key != FeedPosition::of_id(self.cursor.id.saturating_add(1))
                {
                    // An id is missing (a seq of this run; or, for all
                    // runs, an event another writer stored, which the
                    // daemon never announced): read it from the database.
                    self.pending.clear();
                    self.catching_up = true;
                    break;
                }
                self.cursor = key;
                return Some((Some(key), event));
            }
            if self.catching_up {
                match self.read_page().await {
                    Ok((rows, more, waiting)) => {
                        self.pending
                            .extend(rows.into_iter().map(|(p, e)| (e, Some(p))));
                        self.catching_up = more;
                        self.waiting = waiting;
                    }
                    Err(e) => {
                        tracing::warn!(error = ?e, "a live stream ended");
                        return None;
                    }
                }
                continue;
            }
            let received = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
                received = self.live.recv() => received,
                _ = tokio::time::sleep(FEED_POLL), if self.waiting => {
                    self.catching_up = true;
                    continue;
                }
            };
            match received {
                Ok(batch) if self.live_ordered => {
                    let mine: Vec<(EventRow, Option<FeedPosition>)> = batch
                        .iter()
                        .filter(|e| self.follows(e))
                        .map(|e| (e.clone(), None))
                        .collect();
                    self.pending.extend(mine);
                }
                Ok(batch) => {
                    // News only: notices pass, stored events are read from
                    // the feed in its order.
                    let mine: Vec<&EventRow> = batch.iter().filter(|e| self.follows(e)).collect();
                    for e in mine {
                        if e.seq == 0 {
                            self.pending.push_back((e.clone(), None));
                        } else {
                            self.catching_up = true;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next page after the cursor from the database, each event with
    /// its position; whether more follow; whether the feed holds some back.
    async fn read_page(&self) -> Result<(Vec<(FeedPosition, EventRow)>, bool, bool), ApiError> {
        let cursor = self.cursor;
        match &self.scope {
            Scope::Run(run_id) => {
                let filter = EventFilter {
                    run_id: run_id.clone(),
                    after_seq: Some(cursor.id.max(0) as u64),
                    limit: REPLAY_PAGE,
                    ..EventFilter::default()
                };
                self.state
                    .blocking(move |db| {
                        let page = db.events(&filter)?;
                        let rows = page
                            .events
                            .into_iter()
                            .map(|e| {
                                let seq = i64::try_from(e.seq).unwrap_or(i64::MAX);
                                (FeedPosition::of_id(seq), e)
                            })
                            .collect();
                        Ok((rows, page.has_more, false))
                    })
                    .await
            }
            Scope::All => {
                self.state
                    .blocking(move |db| {
                        let page = db.feed_after(cursor, REPLAY_PAGE)?;
                        Ok((page.events, page.has_more, page.waiting))
                    })
                    .await
            }
        }
    }
}

/// Announces the run `run_id` (just created) to the all-runs streams as a
/// `run.started` notice (see the module documentation). Nothing when no
/// stream listens or the run cannot be read.
pub(crate) async fn announce_run(state: &Shared, run_id: String) {
    if state.live.receiver_count() == 0 {
        return;
    }
    let read = state.blocking(move |db| Ok(db.get_run(&run_id)?)).await;
    let Ok(Some(run)) = read else { return };
    let Ok(payload) = serde_json::value::to_raw_value(&run) else {
        return;
    };
    let notice = EventRow {
        id: 0,
        run_id: run.id.clone(),
        seq: 0,
        time: run.started_at,
        kind: "run.started".to_owned(),
        unit: None,
        task: None,
        pr: None,
        payload: Some(payload),
        error: None,
    };
    let _ = state.live.send(std::sync::Arc::new(vec![notice]));
}

/// The resume point: `Last-Event-ID`, else `?after=` (an id this stream
/// sent: a number, or `tx.id` on the all-runs stream of PostgreSQL).
fn resume_point(
    headers: &HeaderMap,
    after: Option<&str>,
) -> Result<Option<FeedPosition>, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value.to_str().unwrap_or("(not text)").trim();
        if !text.is_empty() {
            return FeedPosition::parse(text).map(Some).ok_or_else(|| {
                ApiError::invalid_param(format!(
                    "Last-Event-ID must be an id this stream sent, not {text:?}"
                ))
            });
        }
    }
    match after.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(text) => FeedPosition::parse(text).map(Some).ok_or_else(|| {
            ApiError::invalid_param(format!(
                "`after` must be an id this stream sent, not {text:?}"
            ))
        }),
    }
}

/// The SSE response for a follower.
fn respond(follower: Follower) -> Response {
    let stream = futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            let (key, event) = f.next().await?;
            match serde_json::to_string(&event) {
                Ok(json) => {
                    let message = match key {
                        None => Event::default().data(json), // a run-created notice
                        Some(key) => Event::default().id(key.to_string()).data(json),
                    };
                    return Some((Ok::<_, Infallible>(message), f));
                }
                Err(e) => tracing::warn!(error = %e, id = event.id, "event not streamable"),
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// `GET /api/history/runs/{id}/stream`.
pub(crate) async fn run_stream(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run_id = body::path_id(path)?;
    let after = resume_point(&headers, body::query(query)?.after.as_deref())?;
    if after.is_some_and(|a| a.tx != 0) {
        return Err(ApiError::invalid_param(
            "a run's stream resumes after a seq (a number), not an all-runs position",
        ));
    }
    // Subscribe before reading anything, so nothing committed is missed.
    let live = state.live.subscribe();
    let id = run_id.clone();
    state
        .blocking(move |db| match db.get_run(&id)? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(format!("no run {id:?}"))),
        })
        .await?;
    Ok(respond(Follower {
        shutdown: state.shutdown.clone(),
        state,
        scope: Scope::Run(run_id),
        cursor: after.unwrap_or_default(),
        live,
        pending: VecDeque::new(),
        catching_up: true,
        live_ordered: true,
        waiting: false,
    }))
}

/// `GET /api/stream`.
pub(crate) async fn all_stream(
    State(state): State<Shared>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = resume_point(&headers, body::query(query)?.after.as_deref())?;
    let live = state.live.subscribe();
    let cursor = match after {
        Some(after) => after,
        None => state.blocking(|db| Ok(db.feed_head()?)).await?,
    };
    let live_ordered = state.db.feed_is_commit_ordered();
    Ok(respond(Follower {
        shutdown: state.shutdown.clone(),
        state,
        scope: Scope::All,
        cursor,
        live,
        pending: VecDeque::new(),
        // A feed not in commit order may hold events back at its head.
        catching_up: after.is_some() || !live_ordered,
        live_ordered,
        waiting: false,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::daemon::server::{AppState, health, security};
    use axum::http::HeaderValue;
    use otto_hooks_plugin_api::Timestamp;
    use otto_hooks_sqlite::{HistoryDb, NewEvent, NewRun, Options};

    /// A server state over a fresh database whose live channel the test
    /// feeds by hand (capacity 2, so a follower lags easily).
    fn state() -> (
        tempfile::TempDir,
        Shared,
        broadcast::Sender<Batch>,
        watch::Sender<bool>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(dir.path().join("history.db"), &Options::default()).unwrap();
        db.start_run(NewRun {
            id: "r".into(),
            project: "/p".into(),
            repo_path: "/p".into(),
            started_at: Timestamp::from_secs(1_700_000_000),
            parallelism: 1,
            total_units: 1,
            tasks_dir: None,
            dry_run: false,
        })
        .unwrap();
        let (live, _) = broadcast::channel(2);
        let (stop, stopped) = watch::channel(false);
        let local = "127.0.0.1:1".parse().unwrap();
        let state = Arc::new(AppState {
            db: Arc::new(db),
            redactor: otto_hooks_redact::Redactor::new(Default::default()),
            guard: security::Guard::new("t".into(), security::AuthMode::Token, local, 1024),
            live: live.clone(),
            shutdown: stopped,
            meter: health::Meter::new(),
            started: std::time::Instant::now(),
            local,
            insights_cache: None,
        });
        (dir, state, live, stop)
    }

    /// Stores `n` events in run `r`; returns the stored rows.
    fn store(state: &Shared, n: usize) -> Vec<EventRow> {
        let events = (0..n)
            .map(|_| NewEvent::new(Timestamp::from_secs(1_700_000_001), "unit.started"))
            .collect();
        let range = state.db.append_events("r", events).unwrap();
        state
            .db
            .events(&EventFilter {
                run_id: "r".into(),
                after_seq: Some(range.first - 1),
                limit: 1000,
                ..EventFilter::default()
            })
            .unwrap()
            .events
    }

    fn follower(state: &Shared, live: &broadcast::Sender<Batch>, catching_up: bool) -> Follower {
        Follower {
            state: Arc::clone(state),
            scope: Scope::Run("r".into()),
            cursor: FeedPosition::default(),
            live: live.subscribe(),
            pending: VecDeque::new(),
            catching_up,
            live_ordered: true,
            waiting: false,
            shutdown: state.shutdown.clone(),
        }
    }

    async fn keys(f: &mut Follower, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(f.next().await.unwrap().0.unwrap().id as u64);
        }
        out
    }

    #[tokio::test]
    async fn a_lagging_follower_reads_what_it_missed_from_the_database() {
        let (_dir, state, live, _stop) = state();
        let mut f = follower(&state, &live, false);
        for _ in 0..5 {
            let rows = store(&state, 2);
            live.send(Arc::new(rows)).unwrap();
        }
        assert_eq!(keys(&mut f, 10).await, (1..=10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn replayed_events_are_not_sent_twice_and_a_missing_seq_is_read_back() {
        let (_dir, state, live, stop) = state();
        let mut f = follower(&state, &live, true);
        let first = store(&state, 4);
        // The channel repeats 3..4 (committed before the replay read).
        live.send(Arc::new(first[2..].to_vec())).unwrap();
        assert_eq!(keys(&mut f, 4).await, [1, 2, 3, 4]);
        let more = store(&state, 4);
        // Seqs 5..6 never reach the channel: 7..8 do.
        live.send(Arc::new(more[2..].to_vec())).unwrap();
        assert_eq!(keys(&mut f, 4).await, [5, 6, 7, 8]);
        stop.send(true).unwrap();
        assert!(f.next().await.is_none(), "shutdown ends the stream");
    }

    #[test]
    fn the_header_wins_over_the_query() {
        let mut h = HeaderMap::new();
        let at = |id| Ok(Some(FeedPosition::of_id(id)));
        assert_eq!(resume_point(&h, Some("5")), at(5));
        assert_eq!(resume_point(&h, None), Ok(None));
        h.insert("last-event-id", HeaderValue::from_static("42"));
        assert_eq!(resume_point(&h, Some("5")), at(42));
        h.insert("last-event-id", HeaderValue::from_static("7.42"));
        assert_eq!(
            resume_point(&h, None),
            Ok(Some(FeedPosition { tx: 7, id: 42 }))
        );
        h.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(resume_point(&h, Some("5")), at(5));
        assert_eq!(
            resume_point(&h, Some("x")).unwrap_err().code(),
            "INVALID_PARAM"
        );
        h.insert("last-event-id", HeaderValue::from_static("abc"));
        assert_eq!(resume_point(&h, None).unwrap_err().code(), "INVALID_PARAM");
    }
}
