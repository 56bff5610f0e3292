//! A history daemon served in this process (the server of `daemon start`,
//! `otto_hooks_core::daemon::serve`, on a thread), over real HTTP on
//! 127.0.0.1, with a fresh history.db in a temporary directory or a
//! PostgreSQL store; stopped when dropped. And the one HTTP client the
//! tests talk to it with.
// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use otto_hooks_core::daemon::{ServerOptions, StoreOpener, serve};
use otto_hooks_postgres::{PgHistory, PgTarget};
use otto_hooks_sqlite::{HistoryDb, HistoryStore, Options};
use serde_json::Value;

/// The write token of every served daemon.
pub const TOKEN: &str = "test-token-0123456789";

/// Every call, a stream's reading included, ends within this.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A daemon serving until dropped or [`Served::shutdown`].
pub struct Served {
    addr: SocketAddr,
    db_path: PathBuf,
    agent: ureq::Agent,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<Result<(), String>>>>,
    dir: tempfile::TempDir,
}

impl Served {
    /// A daemon on a fresh history.db.
    pub fn start() -> Served {
        Served::start_with(|_| {})
    }

    /// A daemon on a fresh history.db, with `configure` applied to its
    /// options first.
    pub fn start_with(configure: impl FnOnce(&mut ServerOptions)) -> Served {
        Served::start_in(|options, _| configure(options))
    }

    /// A daemon on a fresh history.db, with `configure` applied to its
    /// options first, given the daemon's temporary directory.
    pub fn start_in(configure: impl FnOnce(&mut ServerOptions, &Path)) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("history.db");
        let mut options = ServerOptions::new(&db_path, TOKEN);
        configure(&mut options, dir.path());
        Served::serve(options, dir)
    }

    /// A daemon on the history.db at `path` (kept by the caller).
    pub fn on_sqlite(path: &Path) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        Served::serve(ServerOptions::new(path, TOKEN), dir)
    }

    /// A daemon whose store is the PostgreSQL database `target`.
    pub fn on_postgres(target: &PgTarget) -> Served {
        Served::start_with(|options| options.open_store = Some(postgres_store(target)))
    }

    fn serve(options: ServerOptions, dir: tempfile::TempDir) -> Served {
        let db_path = options.db_path.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            serve(options, listener, async move {
                let _ = rx.await;
            })
        });
        Served {
            addr,
            db_path,
            agent: agent(),
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The history.db served (unused when the store is elsewhere).
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The temporary directory the daemon was given (its history.db is in
    /// it unless the store is elsewhere).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The HTTP client (no error on 4xx/5xx; every call bounded).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// GET: the status and the body as JSON (a JSON string when it is not).
    pub fn get(&self, path: &str) -> (u16, Value) {
        reply(self.agent.get(&self.url(path)).call().expect("GET"))
    }

    /// GET that must answer 200: the body as JSON.
    pub fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POSTs `body` (JSON) with the token and any extra headers.
    pub fn post_with(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .agent
            .post(&self.url(path))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.send(body).expect("POST"))
    }

    /// POSTs `body` with the token.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let auth = format!("Bearer {TOKEN}");
        self.post_with(
            path,
            body.to_string().as_bytes(),
            &[("Authorization", &auth)],
        )
    }

    /// POST that must succeed (200 or 201): the body.
    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, reply) = self.post(path, body);
        assert!(
            status == 200 || status == 201,
            "POST {path}: {status} {reply}"
        );
        reply
    }

    /// Stops the server and waits for `serve` to return.
    pub fn shutdown(&self) -> Result<(), String> {
        if let Some(tx) = self.stop.lock().expect("stop lock").take() {
            let _ = tx.send(());
        }
        let thread = self.thread.lock().expect("thread lock").take();
        match thread {
            Some(t) => t.join().expect("serve thread"),
            None => Ok(()),
        }
    }

    /// Opens the history.db directly (after shutdown, or beside it).
    pub fn open_db(&self) -> HistoryDb {
        HistoryDb::open(&self.db_path, &Options::default()).expect("open history.db")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Opens the PostgreSQL database `target` as a daemon's store.
pub fn postgres_store(target: &PgTarget) -> StoreOpener {
    let target = target.clone();
    Box::new(move || {
        PgHistory::open(target)
            .map(|db| Box::new(db) as Box<dyn HistoryStore>)
            .map_err(|e| e.to_string())
    })
}

/// An HTTP client that returns 4xx/5xx as answers and bounds every call.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_LIMIT))
        .build()
        .into()
}

/// The status and the body as JSON (a JSON string when it is not).
pub fn reply(mut resp: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}
