//! Live streams as Server-Sent Events.
//!
//! - `GET /api/history/runs/{id}/stream` follows one run. Each message's
//!   `id:` is the event's `seq`. Without a resume point it starts at the
//!   run's first event.
//! - `GET /api/stream` follows every run. Each message's `id:` is the
//!   event's database id (`events.id`: it only grows, in the order events
//!   were stored). Without a resume point it starts with the events stored
//!   after the connection.
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
//! sends it back to the database.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use otto_hooks_sqlite::{EventFilter, EventRow};
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
    /// The id of the last event sent (or the resume point).
    cursor: u64,
    live: broadcast::Receiver<Batch>,
    /// Events to send, each marked whether it came from the database
    /// (trusted to follow the cursor) or from the channel.
    pending: VecDeque<(EventRow, bool)>,
    /// Whether the next events must be read from the database.
    catching_up: bool,
    shutdown: watch::Receiver<bool>,
}

impl Follower {
    fn key(&self, e: &EventRow) -> u64 {
        match self.scope {
            Scope::Run(_) => e.seq,
            Scope::All => e.id.max(0) as u64,
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
    async fn next(&mut self) -> Option<(u64, EventRow)> {
        loop {
            while let Some((event, from_db)) = self.pending.pop_front() {
                if event.seq == 0 && !from_db {
                    // A run-created notice: no id, never counted.
                    if matches!(self.scope, Scope::All) {
                        return Some((0, event));
                    }
                    continue;
                }
                let key = self.key(&event);
                if key <= self.cursor {
                    continue; // sent already
                }
                if !from_db && key != self.cursor + 1 {
                    // An id is missing (a seq of this run; or, for all
                    // runs, an event another writer stored, which the
                    // daemon never announced): read it from the database.
                    self.pending.clear();
                    self.catching_up = true;
                    break;
                }
                self.cursor = key;
                return Some((key, event));
            }
            if self.catching_up {
                match self.read_page().await {
                    Ok((rows, more)) => {
                        self.pending.extend(rows.into_iter().map(|e| (e, true)));
                        self.catching_up = more;
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
            };
            match received {
                Ok(batch) => {
                    let mine: Vec<(EventRow, bool)> = batch
                        .iter()
                        .filter(|e| self.follows(e))
                        .map(|e| (e.clone(), false))
                        .collect();
                    self.pending.extend(mine);
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next page after the cursor from the database, and whether more follow.
    async fn read_page(&self) -> Result<(Vec<EventRow>, bool), ApiError> {
        let cursor = self.cursor;
        match &self.scope {
            Scope::Run(run_id) => {
                let filter = EventFilter {
                    run_id: run_id.clone(),
                    after_seq: Some(cursor),
                    limit: REPLAY_PAGE,
                    ..EventFilter::default()
                };
                self.state
                    .blocking(move |db| {
                        let page = db.events(&filter)?;
                        Ok((page.events, page.has_more))
                    })
                    .await
            }
            Scope::All => {
                let after = i64::try_from(cursor).unwrap_or(i64::MAX);
                self.state
                    .blocking(move |db| {
                        let page = db.events_after_id(after, REPLAY_PAGE)?;
                        Ok((page.events, page.has_more))
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

/// The resume point: `Last-Event-ID`, else `?after=`.
fn resume_point(headers: &HeaderMap, after: Option<&str>) -> Result<Option<u64>, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value.to_str().unwrap_or("(not text)").trim();
        if !text.is_empty() {
            return text.parse().map(Some).map_err(|_| {
                ApiError::invalid_param(format!(
                    "Last-Event-ID must be an id this stream sent, not {text:?}"
                ))
            });
        }
    }
    body::number("after", after)
}

/// The SSE response for a follower.
fn respond(follower: Follower) -> Response {
    let stream = futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            let (key, event) = f.next().await?;
            match serde_json::to_string(&event) {
                Ok(json) => {
                    let message = match key {
                        0 => Event::default().data(json), // a run-created notice
                        key => Event::default().id(key.to_string()).data(json),
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
        cursor: after.unwrap_or(0),
        live,
        pending: VecDeque::new(),
        catching_up: true,
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
        None => {
            state
                .blocking(|db| Ok(db.last_event_id()?.max(0) as u64))
                .await?
        }
    };
    Ok(respond(Follower {
        shutdown: state.shutdown.clone(),
        state,
        scope: Scope::All,
        cursor,
        live,
        pending: VecDeque::new(),
        catching_up: after.is_some(),
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
            cursor: 0,
            live: live.subscribe(),
            pending: VecDeque::new(),
            catching_up,
            shutdown: state.shutdown.clone(),
        }
    }

    async fn keys(f: &mut Follower, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(f.next().await.unwrap().0);
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
        assert_eq!(resume_point(&h, Some("5")), Ok(Some(5)));
        assert_eq!(resume_point(&h, None), Ok(None));
        h.insert("last-event-id", HeaderValue::from_static("42"));
        assert_eq!(resume_point(&h, Some("5")), Ok(Some(42)));
        h.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(resume_point(&h, Some("5")), Ok(Some(5)));
        h.insert("last-event-id", HeaderValue::from_static("abc"));
        assert_eq!(resume_point(&h, None).unwrap_err().code(), "INVALID_PARAM");
    }
}
