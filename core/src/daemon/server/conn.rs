//! Accepting and serving connections within bounds.
//!
//! A local daemon is reached by every hook of every run, by browsers and by
//! scripts; none of them may be able to stop the others from reaching it.
//! Three bounds hold that:
//!
//! - **a header timeout**: a connection has [`ConnectionLimits::header_timeout`]
//!   to send a request's whole header, and the same time to start the next
//!   one on a kept-alive connection. An idle or stalled connection is closed;
//!   a live stream (SSE), which sends and does not wait for headers, is not
//!   affected;
//! - **a connection cap** below the descriptor limit (whose soft value is
//!   raised to the hard one at start): beyond it a connection is answered
//!   `503` with `Retry-After` and closed at once, so the daemon never runs out
//!   of descriptors for its database and its accepted connections;
//! - accept errors (`EMFILE` and the like) never end the accept loop.
//!
//! Requests are served by hyper's HTTP/1 server with the axum router as the
//! service, as `axum::serve` does, which offers no timeouts.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{Semaphore, watch};

/// Descriptors kept for everything but connections: the database and its
/// WAL, the log, the listener, blocking-pool files.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The cap on connections whatever the descriptor limit.
const MAX_CONNECTIONS: usize = 8192;

/// How connections are bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a request's header, and to start the next request on
    /// a kept-alive connection (default 10 s).
    pub header_timeout: Duration,
    /// At most this many connections at once; `None`: derived from the
    /// descriptor limit (see the module docs).
    pub max_connections: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: None,
        }
    }
}

impl ConnectionLimits {
    /// The connection cap: the configured one, or the descriptor limit
    /// (raised first) minus a reserve.
    pub(crate) fn cap(&self) -> usize {
        if let Some(n) = self.max_connections {
            return n.max(1);
        }
        let soft = raise_descriptor_limit();
        let usable = soft.saturating_sub(RESERVED_DESCRIPTORS).max(16);
        usize::try_from(usable)
            .unwrap_or(MAX_CONNECTIONS)
            .min(MAX_CONNECTIONS)
    }
}

/// Raises the soft limit on open descriptors to the hard limit; returns the
/// soft limit in force afterwards.
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        // Unlimited.
        return MAX_CONNECTIONS as u64 + RESERVED_DESCRIPTORS;
    };
    let wanted = hard.unwrap_or(u64::MAX).min(MAX_CONNECTIONS as u64 * 2);
    if wanted > soft {
        let mut raised = limit;
        raised.current = Some(wanted);
        if setrlimit(Resource::Nofile, raised).is_ok() {
            tracing::debug!(from = soft, to = wanted, "raised the descriptor limit");
            return wanted;
        }
    }
    soft
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting,
/// asks every connection to finish its request in progress, and returns
/// when all have closed (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let cap = limits.cap();
    tracing::debug!(cap, header_timeout = ?limits.header_timeout, "connection limits");
    let slots = Arc::new(Semaphore::new(cap));
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopping| *stopping) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // EMFILE, ENFILE, ECONNABORTED…: never fatal. Back off a
                // little so a full descriptor table is not spun on.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small answers and stream messages go out at once.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse_busy(tcp, cap));
            continue;
        };
        // The peer's address reaches the security rules as `ConnectInfo`
        // (the `auth = "local"` mode accepts token-free writes from
        // loopback only).
        let app = match tcp.peer_addr() {
            Ok(peer) => app.clone().layer(Extension(ConnectInfo(peer))),
            Err(_) => app.clone(),
        };
        let stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            serve_one(tcp, app, limits.header_timeout, stop).await;
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

/// A connection on the Unix socket from the daemon's own user (its uid
/// checked): the security rules let its writes go without the token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnUser;

/// Serves `app` on the Unix socket like [`serve`] does on TCP, with the same
/// limits, to connections whose peer runs as this process's user; any
/// other peer is closed at once.
pub(crate) async fn serve_unix(
    listener: UnixListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let cap = limits.cap();
    let slots = Arc::new(Semaphore::new(cap));
    let own_uid = rustix::process::getuid().as_raw();
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopping| *stopping) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection on the Unix socket");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == own_uid => {}
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    "refused a Unix-socket connection from another user"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a Unix-socket peer's uid; refused");
                continue;
            }
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let app = app.clone().layer(Extension(OwnUser));
        let stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            serve_one(stream, app, limits.header_timeout, stop).await;
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

/// Serves one connection until it closes, or finishes it gracefully when
/// `stop` turns true.
async fn serve_one<IO>(
    io: IO,
    app: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection over the cap with `503` and closes it.
async fn refuse_busy(mut tcp: TcpStream, cap: usize) {
    let body = format!(
        "{{\"error\":\"the daemon has {cap} connections open, its limit; retry shortly\",\"code\":\"UNAVAILABLE\"}}"
    );
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        let _ = tcp.write_all(reply.as_bytes()).await;
        let _ = tcp.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
