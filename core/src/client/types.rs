//! The API's request and answer shapes (`docs/API.md`), as the client
//! sends and reads them. Unknown fields in answers are ignored, so a newer
//! daemon keeps working with an older client.

use serde::{Deserialize, Serialize, Serializer};

pub use crate::hooks::wire::WireEvent;

/// `POST /api/runs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NewRun {
    /// The repository (its canonical path, for choo).
    pub repo_path: String,
    /// The project key the run belongs to (default: `repo_path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The orchestrator's own id; minted (`run_YYYYMMDD_HHMMSS_xxxx`) when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Parallelism.
    pub parallelism: u32,
    /// Planned units.
    pub total_units: u32,
    /// Tasks directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks_dir: Option<String>,
    /// A dry run.
    pub dry_run: bool,
    /// Start time, RFC 3339 (default: when the daemon receives it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// `POST /api/runs/{id}/complete`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Completion {
    /// `completed`, `failed` or `stopped`.
    pub status: String,
    /// Units completed.
    pub completed_units: u32,
    /// Units failed.
    pub failed_units: u32,
    /// Units blocked.
    pub blocked_units: u32,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// End time, RFC 3339 (default: when the daemon receives it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

impl Completion {
    /// A completion with `status` and no counts.
    pub fn status(status: &str) -> Self {
        Completion {
            status: status.to_owned(),
            ..Completion::default()
        }
    }
}

/// The sequence numbers a batch of events got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct SeqRange {
    /// The first event's.
    pub first_seq: u64,
    /// The last event's.
    pub last_seq: u64,
}

/// `GET /api/health`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The daemon's version.
    #[serde(default)]
    pub version: String,
    /// Its pid.
    #[serde(default)]
    pub pid: u32,
    /// Seconds since it started.
    #[serde(default)]
    pub uptime_seconds: f64,
    /// The history database.
    #[serde(default)]
    pub database: String,
    /// Runs recorded.
    #[serde(default)]
    pub runs: u64,
    /// Recent ingest rate.
    #[serde(default)]
    pub events_per_second: f64,
}

/// A run as the API shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ApiRun {
    /// `run_YYYYMMDD_HHMMSS_xxxx` or the orchestrator's id.
    pub id: String,
    /// The repository.
    pub repo_path: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once ended.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// `running|completed|failed|stopped`.
    pub status: String,
    /// Parallelism.
    #[serde(default)]
    pub parallelism: u32,
    /// Planned units.
    #[serde(default)]
    pub total_units: u32,
    /// Units completed.
    #[serde(default)]
    pub completed_units: u32,
    /// Units failed.
    #[serde(default)]
    pub failed_units: u32,
    /// Units blocked.
    #[serde(default)]
    pub blocked_units: u32,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Tasks directory.
    #[serde(default)]
    pub tasks_dir: Option<String>,
    /// A dry run.
    #[serde(default)]
    pub dry_run: bool,
}

/// An event as the API shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ApiEvent {
    /// Its row id (monotonic across runs).
    #[serde(default)]
    pub id: u64,
    /// The run.
    pub run_id: String,
    /// Its sequence number in the run, from 1.
    pub seq: u64,
    /// RFC 3339.
    pub time: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Task.
    #[serde(default)]
    pub task: Option<i64>,
    /// Pull request.
    #[serde(default)]
    pub pr: Option<i64>,
    /// Payload.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    /// Error.
    #[serde(default)]
    pub error: Option<String>,
}

/// A page of runs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunsPage {
    /// Newest first.
    pub runs: Vec<ApiRun>,
    /// Runs matching the filter.
    pub total: u64,
    /// More after this page.
    pub has_more: bool,
    /// The cursor of the next page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A page of events.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EventsPage {
    /// In seq order.
    pub events: Vec<ApiEvent>,
    /// Events matching the filter.
    pub total: u64,
    /// More after this page.
    pub has_more: bool,
}

/// `GET /api/history/runs` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunsQuery {
    /// Only this repository.
    pub repo: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Page size (at most 100).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl RunsQuery {
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = &self.repo {
            out.push(("repo", v.clone()));
        }
        if let Some(v) = &self.status {
            out.push(("status", v.clone()));
        }
        if let Some(v) = self.limit {
            out.push(("limit", v.to_string()));
        }
        if let Some(v) = &self.cursor {
            out.push(("cursor", v.clone()));
        }
        out
    }
}

/// `GET /api/history/runs/{id}/events` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Only types starting with these dotted segments.
    pub type_prefix: Option<String>,
    /// Only this unit.
    pub unit: Option<String>,
    /// Only after this seq (the previous page's last).
    pub after_seq: Option<u64>,
    /// Page size (at most 1000).
    pub limit: Option<u32>,
}

impl EventsQuery {
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = &self.type_prefix {
            out.push(("type", v.clone()));
        }
        if let Some(v) = &self.unit {
            out.push(("unit", v.clone()));
        }
        if let Some(v) = self.after_seq {
            out.push(("after_seq", v.to_string()));
        }
        if let Some(v) = self.limit {
            out.push(("limit", v.to_string()));
        }
        out
    }
}

impl WireEvent {
    /// An event of type `kind` happening now.
    pub fn now(kind: &str) -> Self {
        WireEvent {
            time: otto_hooks_plugin_api::Timestamp::now(),
            kind: kind.to_owned(),
            unit: None,
            task: None,
            pr: None,
            payload: None,
            error: None,
        }
    }

    /// With this unit.
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.to_owned());
        self
    }

    /// With this payload (a JSON object).
    pub fn payload(mut self, payload: &serde_json::Value) -> Self {
        self.payload = Some(payload.to_string());
        self
    }
}

/// choo's JSON: `{"time", "type", "unit", "task", "pr", "payload", "error"}`,
/// empty fields omitted.
impl Serialize for WireEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("time", &crate::hooks::wire::rfc3339(self.time))?;
        map.serialize_entry("type", &self.kind)?;
        if let Some(v) = &self.unit {
            map.serialize_entry("unit", v)?;
        }
        if let Some(v) = self.task {
            map.serialize_entry("task", &v)?;
        }
        if let Some(v) = self.pr {
            map.serialize_entry("pr", &v)?;
        }
        if let Some(v) = &self.payload {
            let raw =
                serde_json::value::RawValue::from_string(v.clone()).map_err(S::Error::custom)?;
            map.serialize_entry("payload", &raw)?;
        }
        if let Some(v) = &self.error {
            map.serialize_entry("error", v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_choo_json_and_parse_back() {
        let event = WireEvent::now("unit.started")
            .unit("api")
            .payload(&serde_json::json!({"total_tasks": 3}));
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""type":"unit.started""#), "{text}");
        assert!(text.contains(r#""payload":{"total_tasks":3}"#), "{text}");
        assert!(!text.contains("error"), "{text}");
        let back = crate::hooks::wire::parse_event(&text, event.time).unwrap();
        assert_eq!(back, event);
    }
}
