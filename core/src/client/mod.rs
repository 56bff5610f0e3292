//! A blocking client of the history daemon's HTTP API (`docs/API.md`):
//! what the hook commands use when the daemon runs, and what a Rust
//! orchestrator can use directly.
//!
//! ```no_run
//! use otto_hooks_core::client::{Client, NewRun, WireEvent};
//! let client = Client::discover(&otto_hooks_core::paths::hooks_home())?.expect("daemon running");
//! let id = client.start_run(&NewRun { repo_path: "/src/shop".into(), parallelism: 4, total_units: 12, ..Default::default() })?;
//! client.post_events(&id, &[WireEvent::now("unit.started").unit("api")])?;
//! client.complete_run(&id, &otto_hooks_core::client::Completion::status("completed"))?;
//! # Ok::<(), otto_hooks_core::client::ClientError>(())
//! ```
//!
//! Every call has a deadline (connect 2 s, whole request 30 s): a wedged
//! daemon is an error, never a hang.

mod fallback;
mod files;
pub mod plugin;
mod types;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use files::{DaemonFiles, process_alive, read_token};
pub use types::{
    ApiEvent, ApiRun, Completion, EventsPage, EventsQuery, Health, NewRun, RunsPage, RunsQuery,
    SeqRange, WireEvent,
};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Nothing answered at the address (not running, or another program
    /// holds the port), or the connection broke.
    Unreachable(String),
    /// The daemon refused: HTTP status, its error code (`NOT_FOUND`,
    /// `ALREADY_EXISTS`, `INVALID_JSON`, …) and message.
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
    },
    /// An answer that is not the API's shape.
    BadResponse(String),
}

impl ClientError {
    /// The API error code, when the daemon answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(m) => write!(f, "the history daemon is unreachable: {m}"),
            ClientError::Api { code, message, .. } => write!(f, "{code}: {message}"),
            ClientError::BadResponse(m) => write!(f, "unexpected answer from the daemon: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A connection to one daemon.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    code: String,
}

impl Client {
    /// A client of the daemon at `127.0.0.1:port`; `token` for writes.
    pub fn new(port: u16, token: Option<String>) -> Self {
        Self::with_base(format!("http://127.0.0.1:{port}"), token)
    }

    /// A client of the daemon at `addr` (an IPv6 address in brackets).
    pub fn at(addr: std::net::SocketAddr, token: Option<String>) -> Self {
        Self::with_base(format!("http://{addr}"), token)
    }

    /// A client of the daemon at `base` (`http://127.0.0.1:8080`).
    pub fn with_base(base: impl Into<String>, token: Option<String>) -> Self {
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            token,
            agent: agent(Duration::from_secs(30)),
        }
    }

    /// The same client with every request's deadline set to `deadline`
    /// (30 s by default): a health probe wants an answer fast or none.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.agent = agent(deadline);
        self
    }

    /// The client of the daemon whose files are under `hooks_home`, when
    /// its files say one runs (its address and token); `None` when none
    /// does. Does not check that it answers: see [`Client::health`].
    pub fn discover(hooks_home: &std::path::Path) -> Result<Option<Self>, ClientError> {
        let files = DaemonFiles::new(hooks_home);
        let Some(addr) = files.running_addr() else {
            return Ok(None);
        };
        let token = read_token(&files.token()).map_err(ClientError::Unreachable)?;
        Ok(Some(Client::at(addr, Some(token))))
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /api/health`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.get("/api/health", &[])
    }

    /// `POST /api/runs`: records a new run; its id (minted when
    /// `run.run_id` is `None`). `ALREADY_EXISTS` when the id is taken.
    pub fn start_run(&self, run: &NewRun) -> Result<String, ClientError> {
        #[derive(serde::Deserialize)]
        struct Started {
            run_id: String,
        }
        let started: Started = self.post("/api/runs", run)?;
        Ok(started.run_id)
    }

    /// `POST /api/runs/{id}/events`: a batch, stored all or nothing; the
    /// sequence numbers it got, once committed.
    pub fn post_events(&self, run_id: &str, events: &[WireEvent]) -> Result<SeqRange, ClientError> {
        #[derive(Serialize)]
        struct Batch<'a> {
            events: &'a [WireEvent],
        }
        self.post(
            &format!("/api/runs/{}/events", segment(run_id)),
            &Batch { events },
        )
    }

    /// `POST /api/runs/{id}/complete`.
    pub fn complete_run(&self, run_id: &str, completion: &Completion) -> Result<(), ClientError> {
        self.post::<serde_json::Value>(
            &format!("/api/runs/{}/complete", segment(run_id)),
            completion,
        )
        .map(drop)
    }

    /// `POST /api/runs/{id}/stop`: a stop on purpose; the run may resume.
    pub fn stop_run(
        &self,
        run_id: &str,
        reason: Option<&str>,
        at: Option<&str>,
    ) -> Result<(), ClientError> {
        let body = serde_json::json!({ "reason": reason, "at": at });
        self.post::<serde_json::Value>(&format!("/api/runs/{}/stop", segment(run_id)), &body)
            .map(drop)
    }

    /// `POST /api/runs/{id}/resume`.
    pub fn resume_run(&self, run_id: &str, at: Option<&str>) -> Result<(), ClientError> {
        let body = serde_json::json!({ "at": at });
        self.post::<serde_json::Value>(&format!("/api/runs/{}/resume", segment(run_id)), &body)
            .map(drop)
    }

    /// `GET /api/history/runs`: a page of runs, newest first.
    pub fn runs(&self, query: &RunsQuery) -> Result<RunsPage, ClientError> {
        self.get("/api/history/runs", &query.params())
    }

    /// `GET /api/history/runs/{id}`.
    pub fn run(&self, run_id: &str) -> Result<ApiRun, ClientError> {
        self.get(&format!("/api/history/runs/{}", segment(run_id)), &[])
    }

    /// `GET /api/history/runs/{id}/events`: a page of a run's events.
    pub fn events(&self, run_id: &str, query: &EventsQuery) -> Result<EventsPage, ClientError> {
        self.get(
            &format!("/api/history/runs/{}/events", segment(run_id)),
            &query.params(),
        )
    }

    fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in query {
            request = request.query(*k, v);
        }
        answer(request.call())
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let text = serde_json::to_vec(body)
            .map_err(|e| ClientError::BadResponse(format!("cannot encode the request: {e}")))?;
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        answer(request.send(&text[..]))
    }
}

fn agent(deadline: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(2).min(deadline)))
        .timeout_global(Some(deadline))
        // The daemon closes a connection idle for its header timeout
        // (10 s): never reuse one that old.
        .max_idle_age(Duration::from_secs(4))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A run id as one path segment: ids are `[A-Za-z0-9._:-]`, but escape
/// anything else rather than trust it.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn answer<T: DeserializeOwned>(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, ClientError> {
    let mut response = response.map_err(|e| ClientError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ClientError::Unreachable(format!("reading the answer: {e}")))?;
    if !(200..300).contains(&status) {
        return Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api {
                status,
                code: body.code,
                message: body.error,
            },
            Err(_) => ClientError::Api {
                status,
                code: "HTTP".to_owned(),
                message: format!("status {status}: {}", one_line(&text)),
            },
        });
    }
    serde_json::from_str(&text)
        .map_err(|e| ClientError::BadResponse(format!("{e}: {}", one_line(&text))))
}

/// `text` folded to one line of at most 200 characters, for messages.
fn one_line(text: &str) -> String {
    let folded: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &folded[..at]),
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_answers_fold_to_one_short_line() {
        assert_eq!(one_line("a\n  b\r\nc"), "a b c");
        assert_eq!(one_line(&"x".repeat(500)).chars().count(), 201);
    }

    #[test]
    fn run_ids_are_one_path_segment() {
        assert_eq!(
            segment("run_20260101_000000_ab12"),
            "run_20260101_000000_ab12"
        );
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        // Port 1 on loopback: nothing listens there on a sane machine.
        let client = Client::new(1, None);
        match client.health() {
            Err(ClientError::Unreachable(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}
