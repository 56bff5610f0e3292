//! `GET /api/health` and the ingest-rate meter behind its
//! `events_per_second`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use otto_hooks_sqlite::RunFilter;
use serde::Serialize;

use super::Shared;
use super::errors::ApiError;

/// Seconds the ingest rate is averaged over.
const RATE_WINDOW: u64 = 10;

/// Counts stored events per second over the last [`RATE_WINDOW`] seconds.
pub(crate) struct Meter {
    start: Instant,
    /// `(second since start, events stored in it)`, one slot per second of
    /// the window (plus the current one), reused round-robin.
    slots: Mutex<[(u64, u64); RATE_WINDOW as usize + 1]>,
    total: AtomicU64,
}

impl Meter {
    pub(crate) fn new() -> Self {
        Meter {
            start: Instant::now(),
            slots: Mutex::new([(u64::MAX, 0); RATE_WINDOW as usize + 1]),
            total: AtomicU64::new(0),
        }
    }

    /// Counts `n` events stored now.
    pub(crate) fn record(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        let second = self.start.elapsed().as_secs();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let len = slots.len() as u64;
        let slot = &mut slots[(second % len) as usize];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += n;
    }

    /// Events stored since the server started.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Events per second over the last [`RATE_WINDOW`] seconds (over the
    /// uptime while it is shorter).
    pub(crate) fn rate(&self) -> f64 {
        let elapsed = self.start.elapsed();
        let second = elapsed.as_secs();
        let oldest = second.saturating_sub(RATE_WINDOW - 1);
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let events: u64 = slots
            .iter()
            .filter(|(s, _)| *s != u64::MAX && *s >= oldest && *s <= second)
            .map(|(_, n)| n)
            .sum();
        let span = elapsed.as_secs_f64().clamp(1.0, RATE_WINDOW as f64);
        events as f64 / span
    }
}

/// The health document.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    status: &'static str,
    version: &'static str,
    pid: u32,
    port: u16,
    uptime_seconds: u64,
    database: String,
    runs: u64,
    events_per_second: f64,
    events_ingested: u64,
}

/// `GET /api/health`.
pub(crate) async fn health(State(state): State<Shared>) -> Result<Json<Health>, ApiError> {
    let runs = state
        .blocking(|db| Ok(db.count_runs(&RunFilter::default())?))
        .await?;
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        port: state.local.port(),
        uptime_seconds: state.started.elapsed().as_secs(),
        database: state.db.location(),
        runs,
        events_per_second: (state.meter.rate() * 10.0).round() / 10.0,
        events_ingested: state.meter.total(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_counts_recent_events() {
        let m = Meter::new();
        m.record(100);
        m.record(50);
        assert_eq!(m.total(), 150);
        // Within the first second the span is one second.
        assert!((m.rate() - 150.0).abs() < 1e-9, "{}", m.rate());
    }
}
