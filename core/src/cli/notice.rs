//! A one-line notice on stderr when reading the history takes long.
//!
//! A first `list` over 100,000 otto runs measures every run directory (the
//! size index is empty) and takes tens of seconds; saying nothing for that
//! long reads as a hang. After [`SLOW_AFTER`] a line says what is going on
//! and that later runs are quick. It is one whole line, never rewritten, so
//! that warnings printed meanwhile (by plugins too) stay readable; it goes
//! to stderr only when that is a terminal and `-q` was not given.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a read may take before the notice appears.
pub(crate) const SLOW_AFTER: Duration = Duration::from_secs(2);

/// Shows `line` once if it is still alive after a delay; dropping it first
/// shows nothing. Dropping it waits for its thread (at once: it is woken).
#[derive(Debug)]
pub(crate) struct SlowNotice {
    done: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SlowNotice {
    /// Writes `line` (and a newline) to `out` after `delay`, unless dropped
    /// before.
    pub fn after(delay: Duration, line: String, mut out: impl Write + Send + 'static) -> Self {
        let (done, wait) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("slow-notice".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(delay) {
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            })
            .ok();
        SlowNotice {
            done: Some(done),
            thread,
        }
    }

    /// Nothing to show (quiet, or stderr is not a terminal).
    pub fn none() -> Self {
        SlowNotice {
            done: None,
            thread: None,
        }
    }
}

impl Drop for SlowNotice {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_quick_read_shows_nothing_and_does_not_wait_for_the_delay() {
        let out = Shared::default();
        // Dropping wakes the thread: this returns at once, not in a day.
        drop(SlowNotice::after(
            Duration::from_secs(86_400),
            "slow".into(),
            out.clone(),
        ));
        assert_eq!(out.text(), "");
    }

    #[test]
    fn a_slow_read_shows_the_line_once() {
        let out = Shared::default();
        let notice = SlowNotice::after(Duration::ZERO, "still reading".into(), out.clone());
        // The line is written by the notice's thread; dropping joins it.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while out.text().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(notice);
        assert_eq!(out.text(), "still reading\n");
    }

    #[test]
    fn none_shows_nothing() {
        drop(SlowNotice::none());
    }
}
