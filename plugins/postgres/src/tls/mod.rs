//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, with rustls.
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | no |
//! | `require` | always | no (as `verify-ca` when `sslrootcert` is set, like libpq) |
//! | `verify-ca` | always | signed by the CA of `sslrootcert` |
//! | `verify-full` | always | signed by that CA **and** issued for the host of the URL |
//!
//! `sslrootcert` is a PEM file of one or more CA certificates; `system` takes
//! the system's bundle (and, as in libpq, implies `verify-full`). Without it,
//! `verify-ca`/`verify-full` use `~/.postgresql/root.crt`, like libpq, and
//! fail with a clear message when that file does not exist.
//!
//! The client in `tokio-postgres` knows only disable/prefer/require; the
//! verification level is this module's: the URL's `sslmode` and
//! `sslrootcert` are taken out of the URL ([`split_url`]) and the
//! connector's certificate verifier enforces them ([`TlsOptions::connector`]).
//! SCRAM channel binding is not offered (plain SCRAM-SHA-256 over the TLS
//! channel): the server's identity is what `verify-full` checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use otto_hooks_sqlite::DbError;
use postgres::config::SslMode as ClientSslMode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

mod connect;
mod verify;

pub use connect::{RustlsConnect, RustlsConnectHost, RustlsStream};
use verify::{ChainOnly, EncryptOnly};

/// How a connection uses TLS (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, its certificate unchecked (libpq's default).
    #[default]
    Prefer,
    /// Always TLS; the certificate is checked only when a CA is given.
    Require,
    /// Always TLS, the certificate signed by the given CA.
    VerifyCa,
    /// Always TLS, the certificate signed by the CA and issued for the host.
    VerifyFull,
}

impl SslMode {
    /// Every mode, as written in a URL or a setting.
    pub const NAMES: [&'static str; 5] =
        ["disable", "prefer", "require", "verify-ca", "verify-full"];

    /// The mode a setting or URL names.
    pub fn parse(text: &str) -> Result<SslMode, DbError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(DbError::Invalid(format!(
                    "sslmode {other:?} is not one of {}",
                    SslMode::NAMES.join(", ")
                )));
            }
        })
    }

    /// The name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file.
    File(PathBuf),
    /// The system's CA bundle (`sslrootcert=system`).
    System,
}

/// The TLS part of a connection's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`.
    pub root_cert: Option<RootCert>,
}

/// The system CA bundles tried for `sslrootcert=system`, after `$SSL_CERT_FILE`.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query:
/// the URL left (for `tokio-postgres`, which knows neither verify mode nor
/// `sslrootcert`) and the TLS options.
pub fn split_url(url: &str) -> Result<(String, TlsOptions), DbError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), TlsOptions::default()));
    };
    let mut options = TlsOptions::default();
    let mut mode = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(SslMode::parse(&percent_decode(value)?)?),
            "sslrootcert" => {
                let value = percent_decode(value)?;
                options.root_cert = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(PathBuf::from(value))
                });
            }
            // Client certificates are not supported: say so rather than
            // connect without the certificate the server may expect.
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                return Err(DbError::Invalid(format!(
                    "{key}: client certificates are not supported; authenticate with a \
                     password (docs/TEAM-HISTORY.md)"
                )));
            }
            _ => kept.push(pair),
        }
    }
    options.mode = match (mode, &options.root_cert) {
        (Some(m), _) => m,
        // libpq: sslrootcert=system without sslmode means verify-full.
        (None, Some(RootCert::System)) => SslMode::VerifyFull,
        (None, _) => SslMode::Prefer,
    };
    if options.root_cert == Some(RootCert::System) && options.mode != SslMode::VerifyFull {
        return Err(DbError::Invalid(format!(
            "sslrootcert=system needs sslmode=verify-full (got {}): the system's CAs \
             vouch for host names",
            options.mode
        )));
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, options))
}

/// `%XX` decoding of a URL query value (`+` is a plus, as libpq reads it).
fn percent_decode(text: &str) -> Result<String, DbError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    DbError::Invalid(format!("bad %-escape in the PostgreSQL url: {text:?}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| DbError::Invalid(format!("the PostgreSQL url value {text:?} is not UTF-8")))
}

/// The URL with the `sslmode` and `sslrootcert` settings added to its
/// query (a relative `sslrootcert` is taken from `data_dir`, `~/` from
/// `$HOME`). A setting the URL also gives differently is refused: one
/// configuration, one meaning.
pub fn with_settings(
    url: &str,
    sslmode: Option<&str>,
    sslrootcert: Option<&Path>,
    data_dir: &Path,
) -> Result<String, DbError> {
    let (_, in_url) = split_url(url)?;
    let has = |key: &str| {
        url.split_once('?').is_some_and(|(_, q)| {
            q.split('&')
                .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == key)
        })
    };
    let mut url = url.to_owned();
    let mut add = |key: &str, value: &str| {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(key);
        url.push('=');
        url.push_str(&percent_encode(value));
    };
    if let Some(mode) = sslmode {
        let mode = SslMode::parse(mode)?;
        if has("sslmode") && in_url.mode != mode {
            return Err(DbError::Invalid(format!(
                "sslmode = {mode:?} but the url says sslmode={}: keep one",
                in_url.mode
            )));
        }
        if !has("sslmode") {
            add("sslmode", mode.as_str());
        }
    }
    if let Some(root) = sslrootcert {
        if has("sslrootcert") {
            return Err(DbError::Invalid(
                "sslrootcert is both a setting and in the url: keep one".into(),
            ));
        }
        let text = root.to_string_lossy();
        let value = if text == "system" {
            "system".to_owned()
        } else {
            otto_hooks_sqlite::db_path(Some(&text), data_dir)
                .to_string_lossy()
                .into_owned()
        };
        add("sslrootcert", &value);
    }
    split_url(&url)?;
    Ok(url)
}

/// `%XX` encoding of a query value (a path put into a URL).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TlsOptions {
    /// The mode `tokio-postgres` negotiates with: whether TLS is off,
    /// optional or mandatory (the verification is the connector's).
    pub fn client_mode(&self) -> ClientSslMode {
        match self.mode {
            SslMode::Disable => ClientSslMode::Disable,
            SslMode::Prefer => ClientSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => ClientSslMode::Require,
        }
    }

    /// The CA file the options name, or libpq's default for the verify
    /// modes (`~/.postgresql/root.crt`); `None` when nothing is checked.
    fn roots(&self) -> Result<Option<RootCertStore>, DbError> {
        let source = match (&self.root_cert, self.mode) {
            (_, SslMode::Disable) => return Ok(None),
            (Some(RootCert::System), _) => system_bundle()?,
            (Some(RootCert::File(path)), _) => path.clone(),
            (None, SslMode::VerifyCa | SslMode::VerifyFull) => {
                let default = std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
                    .filter(|p| p.exists());
                default.ok_or_else(|| {
                    DbError::Invalid(format!(
                        "sslmode={}: no CA to check the server against; set `sslrootcert` \
                         to a PEM file of the CA (or `system`)",
                        self.mode
                    ))
                })?
            }
            (None, SslMode::Prefer | SslMode::Require) => return Ok(None),
        };
        load_roots(&source).map(Some)
    }

    /// The connector for these options: rustls with a verifier that checks
    /// what the mode asks and no more. Read at every connection, so a
    /// renewed CA file is picked up without a restart.
    pub fn connector(&self) -> Result<RustlsConnect, DbError> {
        // ring, not aws-lc-rs: no cmake and a much shorter build. rustls
        // deprecates it for lacking post-quantum key exchange, which a
        // database link inside a team's network can do without for now.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match self.roots()? {
            None => Arc::new(EncryptOnly { algorithms }),
            Some(roots) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| DbError::Invalid(format!("sslrootcert: {e}")))?;
                if self.mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Invalid(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(RustlsConnect {
            config: Arc::new(config),
        })
    }
}

/// The first system CA bundle that exists.
fn system_bundle() -> Result<PathBuf, DbError> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            DbError::Invalid(format!(
                "sslrootcert=system: no CA bundle found ($SSL_CERT_FILE, {}); install \
                 ca-certificates or name a CA file",
                SYSTEM_BUNDLES.join(", ")
            ))
        })
}

/// The CA certificates of a PEM file.
fn load_roots(path: &Path) -> Result<RootCertStore, DbError> {
    let bad =
        |e: &dyn fmt::Display| DbError::Invalid(format!("sslrootcert {}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(&e))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(&e))?;
        roots.add(cert).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_url_takes_out_the_tls_options_and_keeps_the_rest() {
        let (url, tls) = split_url(
            "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(
            tls.root_cert,
            Some(RootCert::File(PathBuf::from("/etc/ca x.pem")))
        );
        let (url, tls) = split_url("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(tls, TlsOptions::default());
        assert_eq!(tls.mode, SslMode::Prefer, "libpq's default");
    }

    #[test]
    fn unknown_modes_client_certificates_and_system_without_verify_full_are_refused() {
        let e = split_url("postgres://u@h/db?sslmode=allow").unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
        let e = split_url("postgres://u@h/db?sslcert=/c.pem").unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = split_url("postgres://u@h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
        let (_, tls) = split_url("postgres://u@h/db?sslrootcert=system").unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
    }

    #[test]
    fn a_verify_mode_without_a_ca_says_to_set_sslrootcert() {
        let tls = TlsOptions {
            mode: SslMode::VerifyCa,
            root_cert: Some(RootCert::File("/nonexistent/ca.pem".into())),
        };
        let e = tls.connector().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let tls = TlsOptions {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File(empty)),
        };
        let e = tls.connector().unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn settings_join_the_url_and_a_contradiction_is_refused() {
        let data = Path::new("/data");
        let url = with_settings(
            "postgres://u@h/db",
            Some("verify-full"),
            Some(Path::new("ca.pem")),
            data,
        )
        .unwrap();
        let (_, tls) = split_url(&url).unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(
            tls.root_cert,
            Some(RootCert::File(PathBuf::from("/data/ca.pem")))
        );
        let same = with_settings(
            "postgres://u@h/db?sslmode=require",
            Some("require"),
            None,
            data,
        );
        assert_eq!(same.unwrap(), "postgres://u@h/db?sslmode=require");
        let e = with_settings(
            "postgres://u@h/db?sslmode=disable",
            Some("verify-ca"),
            None,
            data,
        )
        .unwrap_err();
        assert!(e.to_string().contains("keep one"), "{e}");
    }

    #[test]
    fn percent_encoding_round_trips_paths() {
        let path = "/home/a b/ca&x=1%.pem";
        assert_eq!(percent_decode(&percent_encode(path)).unwrap(), path);
    }
}
