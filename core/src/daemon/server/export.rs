//! `GET /api/history/runs/{id}/events.ndjson`: every event of a run (or
//! every match of the events route's filters and search) as
//! newline-delimited JSON, one stored event per line, in `seq` order, as a
//! download (`Content-Disposition: attachment`).
//!
//! The body is streamed: a blocking task reads pages of [`PAGE`] events by
//! keyset (`after_seq`) and hands each page's lines to the response through
//! a channel of [`AHEAD`] chunks, so memory stays bounded whatever the
//! run's size, and a client that stops reading stops the reads. The export
//! is a snapshot: it ends at the run's last event when the request came.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::Shared;
use super::body;
use super::errors::ApiError;
use super::reads::{EventsQuery, event_search};

/// Events read per page.
const PAGE: u32 = 1000;
/// Pages the reader may be ahead of the client.
const AHEAD: usize = 4;

/// A file name for the run's export: the id with anything but
/// `[A-Za-z0-9._-]` replaced (ids are untrusted text).
fn file_name(run_id: &str) -> String {
    let safe: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.ndjson", safe.trim_start_matches('.'))
}

/// `GET /api/history/runs/{id}/events.ndjson`. Takes the events route's
/// `type`, `unit`, `q`, `after_seq` and `before_seq`; `limit`, `order` and
/// `offset` are refused (it is always every match, oldest first).
pub(crate) async fn export_events(
    State(state): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let run_id = body::path_id(path)?;
    let q = body::query(query)?;
    if let Some(name) = q.paging_param() {
        return Err(ApiError::invalid_param(format!(
            "`{name}` does not apply to the NDJSON export: it holds every matching event in seq order"
        )));
    }
    let mut search = event_search(run_id.clone(), q, (PAGE, PAGE))?;
    let id = run_id.clone();
    let last = state
        .blocking(move |db| match db.get_run(&id)? {
            Some(run) => Ok(run.last_seq),
            None => Err(ApiError::not_found(format!("no run {id:?}"))),
        })
        .await?;
    // The snapshot: nothing stored after the request is included.
    let end = last.saturating_add(1);
    search.before_seq = Some(search.before_seq.map_or(end, |b| b.min(end)));

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(AHEAD);
    let db = std::sync::Arc::clone(&state.db);
    let shutdown = state.shutdown.clone();
    tokio::task::spawn_blocking(move || {
        loop {
            // A daemon shutting down lets go of the database between pages.
            if *shutdown.borrow() {
                return;
            }
            let page = match db.search_events(&search) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "an NDJSON export stopped");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            let mut chunk = Vec::with_capacity(page.events.len() * 256);
            for event in &page.events {
                if serde_json::to_writer(&mut chunk, event).is_ok() {
                    chunk.push(b'\n');
                }
            }
            let next = page.events.last().map(|e| e.seq);
            if !chunk.is_empty() && tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return; // the client went away
            }
            match next {
                Some(seq) if page.has_more => search.filter.after_seq = Some(seq),
                _ => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let disposition = format!("attachment; filename=\"{}\"", file_name(&run_id));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn the_file_name_keeps_only_safe_characters() {
        assert_eq!(
            file_name("run_20261202_184200_0ffe"),
            "run_20261202_184200_0ffe.ndjson"
        );
        assert_eq!(file_name("../a\"b\r\nc"), "_a_b__c.ndjson");
    }
}
