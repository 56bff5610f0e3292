//! The localhost rules, checked before any route runs.
//!
//! A server on the loopback interface is still reachable from any web page
//! the user opens: through DNS rebinding (a hostile name that resolves to
//! 127.0.0.1) a page can send requests that carry its own `Host`, and a
//! page can always post to `http://127.0.0.1:<port>` with its own
//! `Origin`. So:
//!
//! 1. every request's `Host` must be `127.0.0.1:<port>`, `localhost:<port>`
//!    or `[::1]:<port>` (`<port>` the listener's; the listener's own
//!    address too when it is bound to a specific non-loopback one), else
//!    403 `FORBIDDEN`;
//! 2. a write (any method but GET, HEAD and OPTIONS) carrying an `Origin`
//!    must come from `http://` one of those hosts, else 403 `FORBIDDEN`;
//! 3. a write needs `Authorization: Bearer <token>` (compared in constant
//!    time), else 401 `UNAUTHORIZED` — unless the server runs in
//!    [`AuthMode::Local`], where a write without the token is accepted from
//!    a loopback peer when its `Content-Type` is `application/json` (else 415
//!    `UNSUPPORTED_MEDIA_TYPE`): a browser can send a cross-site request
//!    without a preflight only as `text/plain`, a form or multipart, and the
//!    preflight a JSON one needs is never granted (no CORS);
//! 4. a write whose `Content-Length` is over the cap gets 413 at once,
//!    before its body is read.
//!
//! Reads need no token: they serve the local user's own history, and the
//! `Host` rule keeps foreign pages from reading it.
//!
//! A request on the Unix socket (its peer's uid checked to be ours when it
//! connected, see `conn::serve_unix`) skips rules 1–3: no browser can reach
//! a Unix socket, and its peer is the user the token stands for.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::errors::ApiError;

/// Who may write (`[daemon] auth` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Every write needs `Authorization: Bearer <token>`, the token the
    /// daemon writes to `daemon.token` (mode 0600) at start. The default.
    #[default]
    Token,
    /// Writes from a loopback peer are accepted without the token when they
    /// are JSON (`Content-Type: application/json`); the `Host` and `Origin`
    /// rules still hold, and peers that are not loopback still need the
    /// token. For clients that cannot read the token (choo's history
    /// client). Any local user can then write history.
    Local,
}

impl AuthMode {
    /// Parses the configuration spelling: `token` or `local`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "token" => Ok(AuthMode::Token),
            "local" => Ok(AuthMode::Local),
            other => Err(format!(
                "unknown daemon auth mode {other:?}: expected \"token\" or \"local\""
            )),
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Token => "token",
            AuthMode::Local => "local",
        }
    }
}

/// The rules of one server: its token, the hosts it answers to, its body cap.
pub(crate) struct Guard {
    token: String,
    auth: AuthMode,
    /// Allowed `Host` values, lower case (`127.0.0.1:8080`, …).
    hosts: Vec<String>,
    max_body: usize,
}

impl Guard {
    /// The rules for a server listening on `local`.
    pub(crate) fn new(token: String, auth: AuthMode, local: SocketAddr, max_body: usize) -> Self {
        let port = local.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if port == 80 {
            // Browsers leave out the default port.
            hosts.extend(["127.0.0.1", "localhost", "[::1]"].map(String::from));
        }
        let ip = local.ip();
        if !ip.is_loopback() && !ip.is_unspecified() {
            hosts.push(match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            });
        }
        Guard {
            token,
            auth,
            hosts,
            max_body,
        }
    }

    /// The request body cap.
    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    /// Whether `host` (a `Host` header or a URI authority) names this server.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim();
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `origin` is one of this server's own pages.
    pub(crate) fn origin_allowed(&self, origin: &str) -> bool {
        origin
            .trim()
            .strip_prefix("http://")
            .is_some_and(|host| self.host_allowed(host))
    }

    /// Whether the headers carry `Authorization: Bearer <token>`.
    pub(crate) fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, presented)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(presented.trim().as_bytes(), self.token.as_bytes())
    }

    /// Whether a write without the token is accepted ([`AuthMode::Local`]):
    /// from a loopback `peer`, as JSON. `Ok(false)`: the token is needed.
    fn tokenless_write_ok(
        &self,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<bool, ApiError> {
        if self.auth != AuthMode::Local || !peer.is_some_and(|p| p.ip().is_loopback()) {
            return Ok(false);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)"));
        if content_type.is_some_and(is_json) {
            return Ok(true);
        }
        Err(ApiError::unsupported_media_type(format!(
            "a write without the token must be JSON (`Content-Type: application/json`), not {}",
            content_type.map_or_else(
                || "one without a Content-Type".to_owned(),
                |c| format!("{c:?}")
            )
        )))
    }

    /// Checks a request's headers (`peer`: the connection's remote address,
    /// when known); the refusal when a rule is broken.
    pub(crate) fn check(
        &self,
        method: &Method,
        uri_host: Option<&str>,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if headers.get_all(header::HOST).iter().count() > 1 {
            return Err(ApiError::forbidden(
                "the request has more than one Host header",
            ));
        }
        if headers.get_all(header::ORIGIN).iter().count() > 1 {
            return Err(ApiError::forbidden(
                "the request has more than one Origin header",
            ));
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        match host {
            Some(h) if self.host_allowed(h) => {}
            Some(h) => {
                return Err(ApiError::forbidden(format!(
                    "Host {h:?} is not this server; use http://127.0.0.1:<port> or http://localhost:<port>"
                )));
            }
            None => return Err(ApiError::forbidden("the request has no Host header")),
        }
        if let Some(authority) = uri_host.filter(|a| !self.host_allowed(a)) {
            return Err(ApiError::forbidden(format!(
                "{authority:?} is not this server"
            )));
        }
        if !is_write(method) {
            return Ok(());
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            if !self.origin_allowed(origin) {
                return Err(ApiError::forbidden(format!(
                    "writes from Origin {origin:?} are refused; only this server's own pages may write"
                )));
            }
        }
        if !self.token_ok(headers) && !self.tokenless_write_ok(peer, headers)? {
            return Err(ApiError::unauthorized(
                if headers.contains_key(header::AUTHORIZATION) {
                    "wrong token: send `Authorization: Bearer <token>` with the daemon's token"
                } else {
                    "writes need `Authorization: Bearer <token>` with the daemon's token"
                },
            ));
        }
        self.check_length(headers)
    }

    /// The body cap, checked on the declared `Content-Length`.
    pub(crate) fn check_length(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|n| n > self.max_body as u64) {
            return Err(ApiError::too_large(self.max_body));
        }
        Ok(())
    }
}

/// Whether a `Content-Type` value is `application/json` (parameters such as
/// `charset` allowed, case ignored).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether `method` changes something (everything but GET, HEAD, OPTIONS).
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares two byte strings in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The middleware in front of every route.
pub(crate) async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if request.extensions().get::<super::conn::OwnUser>().is_some() {
        // The Unix socket: no browser can reach it (so neither the Host nor
        // the Origin rule has anything to stop) and its peer's uid is ours.
        return match state.guard.check_length(request.headers()) {
            Ok(()) => next.run(request).await,
            Err(refusal) => refusal.into_response(),
        };
    }
    let uri_host = request.uri().authority().map(|a| a.as_str().to_owned());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    match state.guard.check(
        request.method(),
        uri_host.as_deref(),
        peer,
        request.headers(),
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn guard() -> Guard {
        Guard::new(
            "s3cret".into(),
            AuthMode::Token,
            "127.0.0.1:8080".parse().unwrap(),
            1024,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn code(r: Result<(), ApiError>) -> &'static str {
        r.err().map_or("ok", |e| e.code())
    }

    #[test]
    fn only_loopback_names_with_our_port_are_accepted_hosts() {
        let g = guard();
        for ok in ["127.0.0.1:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "localhost",
            "evil.example:8080",
            "127.0.0.1.evil.example:8080",
            "",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let bound = Guard::new(
            "t".into(),
            AuthMode::Token,
            "192.168.1.5:9000".parse().unwrap(),
            1,
        );
        assert!(bound.host_allowed("192.168.1.5:9000"));
        let any = Guard::new(
            "t".into(),
            AuthMode::Token,
            "0.0.0.0:9000".parse().unwrap(),
            1,
        );
        assert!(!any.host_allowed("0.0.0.0:9000"));
    }

    #[test]
    fn reads_need_the_host_rule_only() {
        let g = guard();
        let get = Method::GET;
        assert_eq!(
            code(g.check(&get, None, None, &headers(&[("host", "localhost:8080")]))),
            "ok"
        );
        assert_eq!(
            code(g.check(
                &get,
                None,
                None,
                &headers(&[
                    ("host", "localhost:8080"),
                    ("origin", "http://evil.example")
                ])
            )),
            "ok"
        );
        assert_eq!(
            code(g.check(&get, None, None, &headers(&[("host", "evil:8080")]))),
            "FORBIDDEN"
        );
        assert_eq!(
            code(g.check(&get, None, None, &HeaderMap::new())),
            "FORBIDDEN"
        );
        // A second Host (or Origin) header is not ignored.
        let mut two = headers(&[("host", "127.0.0.1:8080")]);
        two.append(header::HOST, HeaderValue::from_static("evil:8080"));
        assert_eq!(code(g.check(&get, None, None, &two)), "FORBIDDEN");
        assert_eq!(
            code(g.check(
                &get,
                Some("evil:8080"),
                None,
                &headers(&[("host", "localhost:8080")])
            )),
            "FORBIDDEN"
        );
    }

    #[test]
    fn writes_need_our_origin_the_token_and_a_small_body() {
        let g = guard();
        let post = Method::POST;
        let host = ("host", "127.0.0.1:8080");
        let auth = ("authorization", "Bearer s3cret");
        assert_eq!(
            code(g.check(&post, None, None, &headers(&[host, auth]))),
            "ok"
        );
        assert_eq!(
            code(g.check(
                &post,
                None,
                None,
                &headers(&[host, auth, ("origin", "http://localhost:8080")])
            )),
            "ok"
        );
        for origin in [
            "http://evil.example",
            "null",
            "https://localhost:8080",
            "http://localhost:8081",
        ] {
            assert_eq!(
                code(g.check(
                    &post,
                    None,
                    None,
                    &headers(&[host, auth, ("origin", origin)])
                )),
                "FORBIDDEN",
                "{origin}"
            );
        }
        assert_eq!(
            code(g.check(&post, None, None, &headers(&[host]))),
            "UNAUTHORIZED"
        );
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert_eq!(
                code(g.check(
                    &post,
                    None,
                    None,
                    &headers(&[host, ("authorization", wrong)])
                )),
                "UNAUTHORIZED",
                "{wrong}"
            );
        }
        assert_eq!(
            code(g.check(
                &post,
                None,
                None,
                &headers(&[host, auth, ("content-length", "1025")])
            )),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            code(g.check(
                &post,
                None,
                None,
                &headers(&[host, auth, ("content-length", "1024")])
            )),
            "ok"
        );
    }

    #[test]
    fn local_mode_takes_tokenless_json_writes_from_loopback_only() {
        let g = Guard::new(
            "s3cret".into(),
            AuthMode::Local,
            "127.0.0.1:8080".parse().unwrap(),
            1024,
        );
        let post = Method::POST;
        let loopback: Option<SocketAddr> = Some("127.0.0.1:50000".parse().unwrap());
        let host = ("host", "127.0.0.1:8080");
        let json = ("content-type", "application/json");
        assert_eq!(
            code(g.check(&post, None, loopback, &headers(&[host, json]))),
            "ok"
        );
        assert_eq!(
            code(g.check(
                &post,
                None,
                Some("[::1]:50000".parse().unwrap()),
                &headers(&[host, ("content-type", "Application/JSON; charset=utf-8")])
            )),
            "ok"
        );
        // What a browser can send cross-site without a preflight.
        for simple in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            assert_eq!(
                code(g.check(
                    &post,
                    None,
                    loopback,
                    &headers(&[host, ("content-type", simple)])
                )),
                "UNSUPPORTED_MEDIA_TYPE",
                "{simple}"
            );
        }
        assert_eq!(
            code(g.check(&post, None, loopback, &headers(&[host]))),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        // The Host and Origin rules still hold.
        assert_eq!(
            code(g.check(
                &post,
                None,
                loopback,
                &headers(&[host, json, ("origin", "http://evil.example")])
            )),
            "FORBIDDEN"
        );
        assert_eq!(
            code(g.check(
                &post,
                None,
                loopback,
                &headers(&[("host", "evil.example:8080"), json])
            )),
            "FORBIDDEN"
        );
        // A peer that is not loopback (or unknown) still needs the token.
        for peer in [Some("192.168.1.9:4000".parse().unwrap()), None] {
            assert_eq!(
                code(g.check(&post, None, peer, &headers(&[host, json]))),
                "UNAUTHORIZED"
            );
            assert_eq!(
                code(g.check(
                    &post,
                    None,
                    peer,
                    &headers(&[host, json, ("authorization", "Bearer s3cret")])
                )),
                "ok"
            );
        }
        // The token mode ignores the peer.
        assert_eq!(
            code(guard().check(&post, None, loopback, &headers(&[host, json]))),
            "UNAUTHORIZED"
        );
    }

    #[test]
    fn auth_modes_parse_their_config_spelling() {
        assert_eq!(AuthMode::parse("token"), Ok(AuthMode::Token));
        assert_eq!(AuthMode::parse("local"), Ok(AuthMode::Local));
        assert!(AuthMode::parse("none").is_err());
        assert_eq!(AuthMode::Local.as_str(), "local");
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
