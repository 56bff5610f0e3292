//! The daemon's HTTP server: axum on a tokio runtime of its own.
//!
//! ## Model
//!
//! - **One [`HistoryDb`]** is the only writer. Its API is synchronous
//!   (a writer thread that answers after COMMIT), so every call runs on
//!   tokio's blocking pool, never on the async workers.
//! - **Writes** (`POST /api/runs…`) parse and validate the whole request,
//!   redact every payload and error text, then make one engine call: a batch
//!   of events is one command in one transaction, so a bad event stores
//!   nothing. The reply goes out after COMMIT.
//! - **Live streams**: the engine calls a listener on its writer thread
//!   after each COMMIT with the rows it stored, in commit order; the
//!   listener puts them on a tokio broadcast channel that every stream
//!   follows (module `sse`). A stream replays from the database first, so
//!   it never misses what was committed before it subscribed.
//! - **Security** (module `security`) runs before any route: `Host` must
//!   name the loopback interface, writes with a foreign `Origin` are
//!   refused, writes need the bearer token (or, in `auth = "local"` mode,
//!   come from loopback as JSON), bodies are capped.
//! - **Shutdown**: when the caller's `shutdown` future resolves the server
//!   stops accepting, lets in-flight requests finish, ends the streams,
//!   waits for the scheduled pass in progress, then drains the writer and
//!   checkpoints the WAL (`TRUNCATE`) before [`serve`] returns. Each wait
//!   is bounded; with [`ServerOptions::stop_deadline`] (the `daemon`
//!   command's) a watchdog thread also bounds the whole stop (module
//!   `stop_watchdog`).

mod body;
mod conn;
mod errors;
mod export;
mod health;
mod ingest;
mod insights;
#[doc(hidden)]
pub use ingest::fuzzing;
mod live;
mod reads;
mod schedule;
mod security;
mod sse;
mod stop_watchdog;
mod web;

use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use otto_hooks_redact::Redactor;
use otto_hooks_sqlite::{EventRow, HistoryDb, HistoryStore, Options};
use tokio::sync::{broadcast, watch};

use stop_watchdog::{Budget, StopStep, StopWatchdog};

pub use conn::ConnectionLimits;
use errors::ApiError;
pub use security::AuthMode;

/// The default cap on a request body: 8 MiB (about 40,000 events of 200
/// bytes in one batch).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Batches of stored events the live channel holds for a slow stream
/// before it lags (a lagging stream re-reads the database).
const LIVE_CAPACITY: usize = 1024;

/// How long shutdown waits for request tasks still holding the database
/// (a client that hung up mid-request leaves its engine call running).
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// How long open connections may take to finish after the shutdown
/// signal. With [`DRAIN_WAIT`], stays well under `daemon stop`'s patience.
const CONNECTIONS_WAIT: Duration = Duration::from_secs(5);
/// How long shutdown waits for a warming of the insights cache in progress.
const WARMER_WAIT: Duration = Duration::from_secs(2);

/// What [`serve`] needs.
pub struct ServerOptions {
    /// The history database (`history.db`), opened with [`HistoryDb::open`].
    pub db_path: PathBuf,
    /// The token writes must present as `Authorization: Bearer <token>`.
    /// Must not be empty.
    pub token: String,
    /// Whether writes from loopback may go without the token
    /// ([`AuthMode::Local`]); [`AuthMode::Token`] by default.
    pub auth: AuthMode,
    /// Applied to every event payload, event error, completion error and
    /// stop reason before it is written.
    pub redactor: Redactor,
    /// The largest request body accepted ([`DEFAULT_MAX_BODY_BYTES`]);
    /// larger ones get 413 `PAYLOAD_TOO_LARGE`.
    pub max_body_bytes: usize,
    /// A pass to run periodically (retention, run-policies), when any.
    pub schedule: Option<Schedule>,
    /// Header timeout and connection cap ([`ConnectionLimits::default`]).
    pub limits: ConnectionLimits,
    /// A Unix socket to serve the same API on, to this process's user only
    /// (each peer's uid is checked; their writes need no token), when any.
    pub unix_listener: Option<std::os::unix::net::UnixListener>,
    /// Opens another history store instead of `db_path` (the `postgres`
    /// storage); `None` serves history.db at `db_path`.
    pub open_store: Option<StoreOpener>,
    /// The insights cache directory (`$OTTO_HOOKS_HOME/insights`, the one
    /// the CLI's `stats` and `flaky` use): `/api/history/stats` and
    /// `/flaky` over history.db read their windows through it, and the
    /// daemon keeps it warm ([`ServerOptions::insights_warm_every`]).
    /// `None`: history.db alone, nothing warmed. A PostgreSQL history is
    /// read without it.
    pub insights_cache: Option<PathBuf>,
    /// How often the daemon looks whether the history changed (a write, a
    /// scheduled pass) since it last warmed the insights cache, and warms
    /// it again if so; the first warming starts with the server.
    pub insights_warm_every: Duration,
    /// The most a stop may take after the shutdown signal: past it the
    /// process logs the step it was stuck in and exits with status 1, so
    /// a stuck step cannot keep the daemon alive. A scheduled pass in
    /// progress is waited for on top (up to [`PASS_LIMIT`] after the
    /// signal), then 10 s are left for the rest. Nothing
    /// acknowledged is lost by that exit. `None` (the default, for a server
    /// embedded in another program): the stop is bounded only by its
    /// steps' own waits.
    pub stop_deadline: Option<Duration>,
}

/// The stop deadline the `daemon` command uses: under `daemon stop`'s
/// patience (20 s), above the sum of the stop's own bounded waits
/// (connections 5 s + insights warmer 2 s + store drain 5 s + runtime
/// 2 s: 14 s).
pub const DAEMON_STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Left for the rest of the stop once a scheduled pass it waited for ends
/// (the waits after it add up to 9 s).
const AFTER_PASS_DEADLINE: Duration = Duration::from_secs(10);

/// A scheduled pass still running this long after the shutdown signal (a
/// database connection that never answers) is no longer waited for.
pub const PASS_LIMIT: Duration = Duration::from_secs(300);

/// How long the runtime's last tasks (an engine call of a request whose
/// client went away) get once the store is closed.
const RUNTIME_WAIT: Duration = Duration::from_secs(2);

/// How often the insights cache is re-warmed after changes, by default.
pub const DEFAULT_INSIGHTS_WARM_EVERY: Duration = Duration::from_secs(60);

/// Opens the store a daemon serves, on the thread that calls [`serve`].
pub type StoreOpener = Box<dyn FnOnce() -> Result<Box<dyn HistoryStore>, String> + Send>;

impl ServerOptions {
    /// Options with the default redactor and body cap and no schedule.
    pub fn new(db_path: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        ServerOptions {
            db_path: db_path.into(),
            token: token.into(),
            auth: AuthMode::default(),
            redactor: Redactor::new(Default::default()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            schedule: None,
            limits: ConnectionLimits::default(),
            unix_listener: None,
            open_store: None,
            insights_cache: None,
            insights_warm_every: DEFAULT_INSIGHTS_WARM_EVERY,
            stop_deadline: None,
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("db_path", &self.db_path)
            .field("token", &"[REDACTED]")
            .field("auth", &self.auth)
            .field("redactor", &self.redactor)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("schedule", &self.schedule)
            .field("limits", &self.limits)
            .field("unix_listener", &self.unix_listener)
            .field("open_store", &self.open_store.is_some())
            .field("insights_cache", &self.insights_cache)
            .field("insights_warm_every", &self.insights_warm_every)
            .field("stop_deadline", &self.stop_deadline)
            .finish()
    }
}

/// A pass the server runs every `interval` on a blocking thread, the first
/// one an interval after it starts. Its returned summary is logged
/// (`tracing::info!`); a pass that panics is logged as a warning and the
/// schedule goes on. Passes never overlap: a late one delays the next.
pub struct Schedule {
    /// Time between the end of one pass and the start of the next
    /// (at least 10 ms).
    pub interval: Duration,
    /// The pass; returns a one-line summary of what it did.
    pub pass: Box<dyn Fn() -> String + Send + Sync>,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Events stored by one engine command, in `seq` order.
pub(crate) type Batch = Arc<Vec<EventRow>>;

/// What every handler shares.
pub(crate) struct AppState {
    db: Arc<dyn HistoryStore>,
    redactor: Redactor,
    guard: security::Guard,
    live: broadcast::Sender<Batch>,
    shutdown: watch::Receiver<bool>,
    meter: health::Meter,
    started: Instant,
    local: SocketAddr,
    /// The insights cache directory, when the daemon has one.
    insights_cache: Option<PathBuf>,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The request body cap.
    fn body_limit(&self) -> usize {
        self.guard.max_body()
    }

    /// Runs `f` on the blocking pool with the database.
    async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn HistoryStore) -> Result<T, ApiError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&*db))
            .await
            .map_err(|e| ApiError::internal(format!("a history.db task failed: {e}")))?
    }
}

/// Serves the history API on `listener` (already bound by the caller, so
/// "port in use" is the caller's error) until `shutdown` resolves.
///
/// Then it stops accepting connections, lets in-flight requests finish,
/// ends the live streams, waits for a scheduled pass in progress, drains
/// the database writer and checkpoints the WAL with `TRUNCATE`, and
/// returns. Every write acknowledged before is in the database file.
///
/// It runs its own tokio runtime: call it from a plain thread (not from
/// inside a tokio runtime). `shutdown` is polled on that runtime, so it may
/// use tokio (a signal listener created inside an `async` block, a
/// channel).
///
/// Errors (one line each): an empty token, a database that can't be
/// opened, a runtime or listener that can't be set up.
pub fn serve(
    options: ServerOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    if options.token.is_empty() {
        return Err("the daemon token is empty; writes could not be authenticated".into());
    }
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up the listener on {local}: {e}"))?;

    let mut db: Box<dyn HistoryStore> = match options.open_store {
        Some(open) => open()?,
        None => Box::new(
            HistoryDb::open(&options.db_path, &Options::default())
                .map_err(|e| format!("cannot open the history database: {e}"))?,
        ),
    };
    let (live, _) = broadcast::channel::<Batch>(LIVE_CAPACITY);
    // Bumped by every commit and every scheduled pass: the insights warmer
    // warms again only after a change.
    let changes = Arc::new(AtomicU64::new(0));
    {
        let live = live.clone();
        let changes = Arc::clone(&changes);
        db.set_listener(Arc::new(move |rows: &[EventRow]| {
            changes.fetch_add(1, Ordering::Relaxed);
            // No follower, no copy. One subscribing meanwhile reads these
            // rows from the database: they are committed.
            if live.receiver_count() > 0 {
                let _ = live.send(Arc::new(rows.to_vec()));
            }
        }));
    }
    let db: Arc<dyn HistoryStore> = Arc::from(db);

    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("otto-hooks-daemon")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the daemon runtime: {e}"))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let state = Arc::new(AppState {
        db: Arc::clone(&db),
        redactor: options.redactor,
        guard: security::Guard::new(options.token, options.auth, local, options.max_body_bytes),
        live,
        shutdown: stop_rx.clone(),
        meter: health::Meter::new(),
        started: Instant::now(),
        local,
        insights_cache: options.insights_cache,
    });
    let warm_every = options.insights_warm_every;
    let stop_deadline = options.stop_deadline;
    let watchdog = StopWatchdog::default();
    let stop_progress = &watchdog;
    let warm_state = Arc::clone(&state);
    let app = router(state, options.max_body_bytes);
    let schedule = options.schedule;
    let limits = options.limits;
    let unix = match options.unix_listener {
        None => None,
        Some(l) => {
            l.set_nonblocking(true)
                .map_err(|e| format!("cannot set up the Unix socket: {e}"))?;
            Some(l)
        }
    };

    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot set up the listener on {local}: {e}"))?;
        let mut stopping = stop_rx.clone();
        let stop_rx_unix = stop_rx.clone();
        let unix = match unix {
            None => None,
            Some(l) => Some(
                tokio::net::UnixListener::from_std(l)
                    .map_err(|e| format!("cannot set up the Unix socket: {e}"))?,
            ),
        };
        let tcp = conn::serve(listener, app.clone(), limits, stop_rx.clone());
        let server = async move {
            match unix {
                None => tcp.await,
                Some(l) => {
                    let unix = conn::serve_unix(l, app, limits, stop_rx_unix);
                    tokio::join!(tcp, unix);
                }
            }
        };
        let scheduler = schedule.map(|s| {
            schedule::spawn(s, stop_rx.clone(), Arc::clone(&changes), stop_progress.clone())
        });
        let warmer = insights::spawn_warmer(warm_state, warm_every, changes, stop_rx);
        tracing::info!(address = %local, "history daemon listening");
        let arming = stop_progress.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("history daemon shutting down");
            if let Some(total) = stop_deadline {
                let budget = Budget {
                    total,
                    after_pass: AFTER_PASS_DEADLINE,
                    pass_limit: PASS_LIMIT,
                };
                arming.arm(budget, exit_stuck);
            }
            let _ = stop_tx.send(true);
        });
        // After the signal, connections get a bounded time to finish: a
        // client that stalls mid-request must not keep the daemon alive.
        let grace = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(CONNECTIONS_WAIT).await;
        };
        let served = tokio::select! {
            () = server => Ok(()),
            () = grace => {
                tracing::warn!(
                    "connections still open {}s after the shutdown signal: closing them",
                    CONNECTIONS_WAIT.as_secs()
                );
                Ok(())
            }
        };
        if let Some(handle) = scheduler {
            stop_progress.step(StopStep::ScheduledPass);
            let _ = handle.await;
        }
        if let Some(handle) = warmer {
            stop_progress.step(StopStep::InsightsWarmer);
            // A warming in progress is waited for a moment, not for good:
            // the cache is written a transaction at a time, so one left
            // unfinished costs the next warming, never a wrong answer, and
            // `daemon stop` must not run out of patience on it.
            if tokio::time::timeout(WARMER_WAIT, handle).await.is_err() {
                tracing::warn!(
                    "the insights cache was still being warmed {}s after the shutdown signal: left unfinished",
                    WARMER_WAIT.as_secs()
                );
            }
        }
        stop_progress.step(StopStep::ClosingStore);
        drain(db).await;
        served
    });
    watchdog.step(StopStep::Runtime);
    runtime.shutdown_timeout(RUNTIME_WAIT);
    watchdog.finished();
    result
}

/// A stop past its deadline: says where it was stuck, then ends the
/// process (every acknowledged write is already committed).
fn exit_stuck(step: StopStep, waited: Duration) {
    // Should the log itself not take the line (the disk that hung the
    // stop), the process still ends.
    let _ = std::thread::Builder::new()
        .name("stop-exit".into())
        .spawn(|| {
            std::thread::sleep(Duration::from_secs(2));
            std::process::exit(1);
        });
    tracing::error!(
        threads = %stop_watchdog::threads_report(),
        "the stop was still {} {:.1}s after the shutdown signal: exiting now; nothing acknowledged is lost",
        step.describe(),
        waited.as_secs_f64()
    );
    std::process::exit(1);
}

/// Waits until no request task holds the database, then closes it
/// (pending commands committed; history.db's WAL checkpointed with
/// TRUNCATE, a server's connections closed).
async fn drain(mut db: Arc<dyn HistoryStore>) {
    let deadline = Instant::now() + DRAIN_WAIT;
    loop {
        if Arc::get_mut(&mut db).is_some() {
            let closed = tokio::task::spawn_blocking(move || {
                let mut db = db;
                Arc::get_mut(&mut db).map(|store| store.shut())
            })
            .await;
            match closed {
                Ok(Some(Ok(()))) => tracing::info!("history store closed"),
                Ok(Some(Err(e))) => tracing::warn!(error = %e, "closing the history store"),
                Ok(None) => tracing::warn!("history store still shared at close"),
                Err(e) => tracing::warn!(error = %e, "closing the history store"),
            }
            return;
        }
        if Instant::now() >= deadline {
            // A request task is stuck; checkpoint what is committed.
            tracing::warn!("history store still in use after shutdown; checkpointing only");
            let _ = tokio::task::spawn_blocking(move || db.checkpoint()).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every route, behind the security checks.
fn router(state: Shared, max_body: usize) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/ui/{*file}", get(web::file))
        .route("/api/health", get(health::health))
        // choo's names: tasks/daemon/04 (`/health`, the CLI's reads under
        // `/api/runs/…`), DAEMON.md and the live UI (`/api/state`,
        // `/api/graph`, `/api/events`).
        .route("/health", get(health::health))
        .route("/api/state", get(live::state))
        .route("/api/graph", get(live::graph))
        .route("/api/events", get(sse::all_stream))
        .route("/api/runs/{id}", get(reads::get_run))
        .route("/api/runs/{id}/graph", get(reads::graph))
        .route("/api/runs/{id}/stream", get(sse::run_stream))
        .route("/api/history/repos", get(reads::list_repos))
        .route("/api/history/runs", get(reads::list_runs))
        .route("/api/history/runs/{id}", get(reads::get_run))
        .route("/api/history/runs/{id}/events", get(reads::list_events))
        .route(
            "/api/history/runs/{id}/events.ndjson",
            get(export::export_events),
        )
        .route("/api/history/runs/{id}/graph", get(reads::graph))
        .route("/api/history/runs/{id}/units", get(reads::list_units))
        .route("/api/history/runs/{id}/stream", get(sse::run_stream))
        .route("/api/history/stats", get(insights::stats))
        .route("/api/history/tasks/{name}", get(insights::task_history))
        .route("/api/history/compare", get(insights::compare))
        .route("/api/history/flaky", get(insights::flaky))
        .route("/api/stream", get(sse::all_stream))
        .route("/api/runs", post(ingest::start_run))
        .route(
            "/api/runs/{id}/events",
            post(ingest::append_events).get(reads::list_events),
        )
        .route("/api/runs/{id}/complete", post(ingest::complete_run))
        .route("/api/runs/{id}/stop", post(ingest::stop_run))
        .route("/api/runs/{id}/resume", post(ingest::resume_run))
        .fallback(errors::no_route)
        .method_not_allowed_fallback(errors::wrong_method)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            security::guard,
        ))
        .with_state(state)
}
