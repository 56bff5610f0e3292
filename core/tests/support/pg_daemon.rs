//! Real history daemons (the `otto-hooks` binary, `daemon start
//! --foreground`) serving a PostgreSQL history of the throw-away cluster,
//! each in an `OTTO_HOOKS_HOME` of its own, killed when dropped; and a
//! writer that records which events the daemons acknowledged.
// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use otto_hooks_core::client::{Client, DaemonFiles};
use otto_hooks_core::hooks::wire::WireEvent;
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::PgTarget;
use otto_hooks_sqlite::{HistoryStore, all_events};

/// How long a daemon may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The `OTTO_HOOKS_HOME` of a daemon whose storage is `target`.
pub struct Home {
    dir: tempfile::TempDir,
    password: String,
}

impl Home {
    pub fn new(target: &PgTarget) -> Home {
        let dir = tempfile::tempdir().unwrap();
        // No scheduled clean: these tests count what is stored.
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "[storage]\nplugin = \"postgres\"\nurl = \"{}\"\n\n[policies]\ndaemon = false\n",
                target.url
            ),
        )
        .unwrap();
        Home {
            dir,
            password: target.password.clone().unwrap_or_default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts a daemon here (not waiting for it).
    pub fn spawn(&self) -> Daemon {
        let log = std::fs::File::create(self.log()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_otto-hooks"))
            .args(["--set", "daemon.port=0", "daemon", "start", "--foreground"])
            .env_clear()
            .env("HOME", self.path())
            .env("OTTO_HOOKS_HOME", self.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PGPASSWORD", &self.password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: nobody has to drain it.
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child,
            home: self.path().to_path_buf(),
        }
    }

    /// Starts a daemon here and waits until it answers.
    pub fn start(&self) -> Daemon {
        let mut d = self.spawn();
        d.wait_ready();
        d
    }

    fn log(&self) -> PathBuf {
        self.path().join("daemon.stderr")
    }
}

/// A running daemon, SIGKILLed and reaped when dropped.
pub struct Daemon {
    child: Child,
    home: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) until the daemon's files name it and it answers
    /// `/api/health`; panics with its log otherwise.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status}):\n{}", self.log());
            }
            if DaemonFiles::new(&self.home).live_pid() == Some(self.pid() as i32) {
                if let Some(c) = client_of(&self.home) {
                    if c.health().is_ok() {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not answer within {} s:\n{}",
                READY_WITHIN.as_secs(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn client(&self) -> Client {
        client_of(&self.home).expect("the daemon's files name it")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("daemon.stderr")).unwrap_or_default()
    }

    /// `kill -9` (a crash: no shutdown at all), reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (`daemon stop`'s way), then waits (bounded) for the exit.
    pub fn stop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.alive() {
            assert!(Instant::now() < deadline, "the daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client of whichever daemon runs in `home` now.
pub fn client_of(home: &Path) -> Option<Client> {
    Client::discover(home)
        .ok()
        .flatten()
        .map(|c| c.with_deadline(Duration::from_secs(20)))
}

/// One event carrying the writer's number `n`.
pub fn numbered(n: u64) -> WireEvent {
    WireEvent {
        time: Timestamp::now(),
        kind: "task.completed".into(),
        unit: None,
        task: None,
        pr: None,
        payload: Some(format!(r#"{{"n":{n}}}"#)),
        error: None,
    }
}

/// What a writer saw: the numbers acknowledged (with their seq) and the
/// errors reported instead of an acknowledgement.
#[derive(Debug, Default)]
pub struct Ingest {
    pub acked: Vec<(u64, u64)>,
    pub failures: Vec<String>,
}

/// Sets the flag when dropped: the writer of a test whose main thread
/// panicked stops too (a scoped thread is joined even then).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Posts numbered events one by one to the daemon of `home` (whichever runs
/// there now) until `stop` is set and at least `min` are acknowledged. A
/// refused or unanswered post is reported, then — as a client should — the
/// history is read before retrying, so a post that was stored is not
/// written twice. Bounded: panics if no daemon acknowledges anything for
/// two minutes, and stops after ten minutes whatever happens.
pub fn ingest(
    home: &Path,
    run: &str,
    db: &dyn HistoryStore,
    stop: &AtomicBool,
    min: u64,
) -> Ingest {
    let mut out = Ingest::default();
    let mut n = 0u64;
    let started = Instant::now();
    let mut last_ack = Instant::now();
    while (!stop.load(Ordering::SeqCst) || n < min) && started.elapsed() < Duration::from_secs(600)
    {
        assert!(
            last_ack.elapsed() < Duration::from_secs(120),
            "no acknowledgement for 2 minutes; last errors: {:?}",
            out.failures.iter().rev().take(3).collect::<Vec<_>>()
        );
        let posted = match client_of(home) {
            Some(c) => c
                .post_events(run, &[numbered(n)])
                .map_err(|e| e.to_string()),
            None => Err("no daemon runs".to_owned()),
        };
        match posted {
            Ok(range) => {
                out.acked.push((n, range.first_seq));
                n += 1;
                last_ack = Instant::now();
            }
            Err(e) => {
                out.failures.push(e);
                std::thread::sleep(Duration::from_millis(50));
                // Stored after all (the answer was lost)? Then it counts.
                let stored = all_events(db, run)
                    .ok()
                    .and_then(|events| events.last().cloned())
                    .filter(|last| {
                        last.payload.as_ref().map(|p| p.get().to_owned())
                            == Some(format!(r#"{{"n":{n}}}"#))
                    });
                if let Some(last) = stored {
                    out.acked.push((n, last.seq));
                    n += 1;
                }
            }
        }
    }
    out
}

/// The history holds every acknowledged event exactly once at the seq it
/// was acknowledged with, nothing else, with seq 1..=N.
pub fn assert_every_acknowledged_event_once(db: &dyn HistoryStore, run: &str, ingest: &Ingest) {
    let events = all_events(db, run).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "seq contiguous"
    );
    assert_eq!(
        events.len(),
        ingest.acked.len(),
        "each acknowledged event once, nothing else"
    );
    for (n, seq) in &ingest.acked {
        let e = &events[*seq as usize - 1];
        assert_eq!(
            e.payload.as_ref().unwrap().get(),
            format!(r#"{{"n":{n}}}"#),
            "seq {seq}"
        );
    }
}
