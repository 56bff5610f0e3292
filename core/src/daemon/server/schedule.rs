//! Running the [`Schedule`]'s pass periodically on a blocking thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Schedule;
use super::stop_watchdog::StopWatchdog;

/// The shortest interval accepted (tokio refuses a zero period).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Starts the schedule: a pass one interval after the start, then one
/// interval after each pass ends, until `shutdown` turns true. A pass in
/// progress at shutdown is waited for (the returned task ends after it).
/// Each pass, whatever it did, bumps `changes` (it may have deleted runs).
/// `watchdog` is told while a pass runs, so a stop never cuts one short.
pub(crate) fn spawn(
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
    changes: Arc<AtomicU64>,
    watchdog: StopWatchdog,
) -> JoinHandle<()> {
    let interval = schedule.interval.max(MIN_INTERVAL);
    let pass: Arc<dyn Fn() -> String + Send + Sync> = Arc::from(schedule.pass);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(interval) => {}
            }
            let pass = Arc::clone(&pass);
            let started = std::time::Instant::now();
            watchdog.pass_running(true);
            let ran = tokio::task::spawn_blocking(move || pass()).await;
            watchdog.pass_running(false);
            changes.fetch_add(1, Ordering::Relaxed);
            match ran {
                Ok(summary) => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "scheduled pass: {summary}"
                ),
                Err(e) => tracing::warn!(error = %e, "scheduled pass failed"),
            }
        }
    })
}
