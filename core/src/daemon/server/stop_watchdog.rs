//! The bound on a stop: whatever hangs after the shutdown signal, the
//! daemon's process ends in time.
//!
//! A stop waits for open connections, a scheduled pass in progress, the
//! insights warmer and the store's last checkpoint, each wait bounded on
//! its own. Should one of them hang anyway (a bug, a stuck disk, a worker
//! thread blocked so that the runtime's timers never fire), `daemon stop`
//! must still end the daemon rather than report a daemon that "did not
//! stop". A plain thread, outside the async runtime, watches the stop: past
//! its deadline it logs the step the stop was stuck in and the state of
//! every thread, then runs the caller's expiry (the daemon exits). Nothing
//! acknowledged is lost by that exit: every write is committed before it
//! is answered.
//!
//! A scheduled pass in progress is waited for, not cut short (it may be
//! deleting runs): while one runs (whatever step the stop is at, so a
//! stop stuck before that step does not cut it short either) the deadline
//! keeps moving, so at least [`Budget::after_pass`] is left once the pass
//! is over. Only a pass still running [`Budget::pass_limit`] after the
//! signal (a hung database connection) is given up on.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the watchdog looks at the stop's step.
const POLL: Duration = Duration::from_millis(50);

/// A step of the stop, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum StopStep {
    /// Connections finishing their requests; streams ending.
    Connections = 0,
    /// A scheduled pass in progress finishing.
    ScheduledPass = 1,
    /// A warming of the insights cache finishing.
    InsightsWarmer = 2,
    /// The store committing what is pending and checkpointing.
    ClosingStore = 3,
    /// The runtime ending its last tasks.
    Runtime = 4,
}

impl StopStep {
    fn from_u8(n: u8) -> StopStep {
        match n {
            1 => StopStep::ScheduledPass,
            2 => StopStep::InsightsWarmer,
            3 => StopStep::ClosingStore,
            4 => StopStep::Runtime,
            _ => StopStep::Connections,
        }
    }

    /// What the stop was doing, for the log.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            StopStep::Connections => "waiting for open connections to finish",
            StopStep::ScheduledPass => "waiting for the scheduled pass to finish",
            StopStep::InsightsWarmer => "waiting for the insights warmer",
            StopStep::ClosingStore => "closing the history store (commit and checkpoint)",
            StopStep::Runtime => "ending the runtime's last tasks",
        }
    }
}

/// The stop's progress, shared by the stop (which moves it on) and the
/// watchdog thread (which reads it). Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct StopWatchdog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    step: AtomicU8,
    pass_running: AtomicBool,
    finished: Mutex<bool>,
    wake: Condvar,
}

/// How long a stop may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// The whole stop, from the signal.
    pub total: Duration,
    /// Left for the rest of the stop once a scheduled pass ends.
    pub after_pass: Duration,
    /// A scheduled pass still running this long after the signal is no
    /// longer waited for.
    pub pass_limit: Duration,
}

impl StopWatchdog {
    /// Records that the stop is now at `step`.
    pub(crate) fn step(&self, step: StopStep) {
        self.shared.step.store(step as u8, Ordering::SeqCst);
    }

    /// Records whether a scheduled pass is running (set by the schedule
    /// around each pass, stop or no stop).
    pub(crate) fn pass_running(&self, running: bool) {
        self.shared.pass_running.store(running, Ordering::SeqCst);
    }

    fn current(&self) -> StopStep {
        StopStep::from_u8(self.shared.step.load(Ordering::SeqCst))
    }

    /// Records that the stop is over: an armed watchdog returns without
    /// calling its expiry.
    pub(crate) fn finished(&self) {
        *self
            .shared
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
    }

    /// Starts the watchdog thread: unless [`finished`](Self::finished) is
    /// called within `budget.total` (or, when a scheduled pass ran, within
    /// `budget.after_pass` of its end), `expire` is called with the step
    /// the stop was at and the time since arming. Returns `None` when no
    /// thread can be started (the stop is then bounded by its steps only).
    pub(crate) fn arm(
        &self,
        budget: Budget,
        expire: impl FnOnce(StopStep, Duration) + Send + 'static,
    ) -> Option<std::thread::JoinHandle<()>> {
        let watchdog = self.clone();
        std::thread::Builder::new()
            .name("stop-watchdog".into())
            .spawn(move || watchdog.watch(budget, expire))
            .map_err(|e| tracing::warn!(error = %e, "cannot start the stop watchdog"))
            .ok()
    }

    fn watch(&self, budget: Budget, expire: impl FnOnce(StopStep, Duration)) {
        let armed = Instant::now();
        let mut deadline = armed + budget.total;
        let mut finished = self
            .shared
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if *finished {
                return;
            }
            let now = Instant::now();
            let step = self.current();
            let pass =
                step == StopStep::ScheduledPass || self.shared.pass_running.load(Ordering::SeqCst);
            if pass && now.duration_since(armed) < budget.pass_limit {
                deadline = deadline.max(now + budget.after_pass);
            }
            if now >= deadline {
                drop(finished);
                expire(step, armed.elapsed());
                return;
            }
            let wait = deadline.saturating_duration_since(now).min(POLL);
            finished = self
                .shared
                .wake
                .wait_timeout(finished, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Every thread of this process as `name (state, waiting in WCHAN)`, from
/// `/proc/self/task`: what a stuck stop was blocked on, for its log line.
pub(crate) fn threads_report() -> String {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return "threads unknown (no /proc/self/task)".to_owned();
    };
    let mut threads: Vec<String> = tasks
        .flatten()
        .map(|task| {
            let dir = task.path();
            let read = |file: &str| {
                std::fs::read_to_string(dir.join(file))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            let name = read("comm");
            // `stat`: "pid (comm) S …"; the comm may hold spaces and ')'.
            let stat = read("stat");
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?")
                .to_owned();
            let wchan = read("wchan");
            if wchan.is_empty() || wchan == "0" {
                format!("{name} ({state})")
            } else {
                format!("{name} ({state}, in {wchan})")
            }
        })
        .collect();
    threads.sort();
    threads.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    const LONG: Duration = Duration::from_secs(30);

    fn budget(total: Duration, after_pass: Duration) -> Budget {
        Budget {
            total,
            after_pass,
            pass_limit: LONG,
        }
    }

    #[test]
    fn a_stop_that_finishes_in_time_never_expires() {
        let watchdog = StopWatchdog::default();
        let (tx, rx) = channel();
        let handle = watchdog
            .arm(budget(LONG, LONG), move |step, _| tx.send(step).unwrap())
            .unwrap();
        watchdog.step(StopStep::ClosingStore);
        watchdog.finished();
        handle.join().unwrap();
        assert!(rx.try_recv().is_err(), "expired although finished");
    }

    #[test]
    fn a_stuck_stop_expires_naming_the_step_it_was_stuck_in() {
        let watchdog = StopWatchdog::default();
        watchdog.step(StopStep::ClosingStore);
        let (tx, rx) = channel();
        let handle = watchdog
            .arm(
                budget(Duration::from_millis(20), LONG),
                move |step, waited| {
                    tx.send((step, waited)).unwrap();
                },
            )
            .unwrap();
        handle.join().unwrap();
        let (step, waited) = rx.recv().unwrap();
        assert_eq!(step, StopStep::ClosingStore);
        assert!(waited >= Duration::from_millis(20), "{waited:?}");
    }

    #[test]
    fn a_scheduled_pass_in_progress_is_waited_for_then_the_rest_is_bounded() {
        let watchdog = StopWatchdog::default();
        watchdog.step(StopStep::ScheduledPass);
        let (tx, rx) = channel();
        let handle = watchdog
            .arm(
                budget(Duration::from_millis(10), Duration::from_millis(200)),
                move |step, waited| tx.send((step, waited)).unwrap(),
            )
            .unwrap();
        // The pass takes far longer than the budget: no expiry meanwhile.
        std::thread::sleep(Duration::from_millis(400));
        assert!(rx.try_recv().is_err(), "a pass in progress was cut short");
        // After it, the rest of the stop hangs: the watchdog ends it.
        watchdog.step(StopStep::InsightsWarmer);
        handle.join().unwrap();
        let (step, waited) = rx.recv().unwrap();
        assert_eq!(step, StopStep::InsightsWarmer);
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
    }

    #[test]
    fn a_pass_running_while_the_stop_is_at_an_earlier_step_is_not_cut_short() {
        let watchdog = StopWatchdog::default();
        watchdog.pass_running(true);
        let (tx, rx) = channel();
        let handle = watchdog
            .arm(
                budget(Duration::from_millis(10), Duration::from_millis(200)),
                move |step, _| tx.send(step).unwrap(),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(rx.try_recv().is_err(), "a pass in progress was cut short");
        watchdog.pass_running(false);
        handle.join().unwrap();
        assert_eq!(rx.recv().unwrap(), StopStep::Connections);
    }

    #[test]
    fn a_pass_still_running_at_the_pass_limit_is_given_up_on() {
        let watchdog = StopWatchdog::default();
        watchdog.step(StopStep::ScheduledPass);
        watchdog.pass_running(true);
        let (tx, rx) = channel();
        let handle = watchdog
            .arm(
                Budget {
                    total: Duration::from_millis(10),
                    after_pass: Duration::from_millis(50),
                    pass_limit: Duration::from_millis(300),
                },
                move |step, waited| tx.send((step, waited)).unwrap(),
            )
            .unwrap();
        handle.join().unwrap();
        let (step, waited) = rx.recv().unwrap();
        assert_eq!(step, StopStep::ScheduledPass);
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_threads_report_names_this_thread() {
        let name = "report-probe";
        let report = std::thread::Builder::new()
            .name(name.into())
            .spawn(threads_report)
            .unwrap()
            .join()
            .unwrap();
        assert!(report.contains(name), "{report}");
    }
}
