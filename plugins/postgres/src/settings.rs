//! Where a PostgreSQL history is and how to log in: [`PgTarget`], and the
//! `[storage]` settings of the `postgres` plugin.
//!
//! The password never comes from the command line nor from the URL (config
//! files get committed and shown): it comes from a file readable by its
//! owner only (`password_file`) or from an environment variable
//! (`password_env`, by default `PGPASSWORD`; its name must end in
//! `PGPASSWORD`, so that a configuration cannot hand another secret to a
//! server it names).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use otto_hooks_sqlite::DbError;
use postgres::Client;

use crate::tls::{TlsOptions, split_url};

/// The environment variable read for the password when neither
/// `password_file` nor `password_env` is set.
pub const DEFAULT_PASSWORD_ENV: &str = "PGPASSWORD";

/// How long a connection attempt may take before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database to hold the history: a `postgres://` URL without
/// password, and the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// `postgres://user@host:port/database[?options]` (no password).
    pub url: String,
    /// The password, when the server asks for one.
    pub password: Option<String>,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl PgTarget {
    /// A target from a URL and the password settings: `password_file` (a
    /// file only its owner may read; one trailing newline is ignored), else
    /// the variable `password_env` names (default
    /// [`DEFAULT_PASSWORD_ENV`]), else none.
    pub fn resolve(
        url: &str,
        password_file: Option<&Path>,
        password_env: Option<&str>,
    ) -> Result<PgTarget, DbError> {
        let password = match password_file {
            Some(path) => Some(read_password_file(path)?),
            None => {
                let var = password_env.unwrap_or(DEFAULT_PASSWORD_ENV);
                // Only a variable meant for it: a configuration (a project
                // file) must not send AWS_SECRET_ACCESS_KEY to a server it names.
                if !var.ends_with("PGPASSWORD") {
                    return Err(DbError::Invalid(format!(
                        "password_env {var:?}: the variable's name must end in PGPASSWORD \
                         (PGPASSWORD, TEAM_PGPASSWORD, …)"
                    )));
                }
                match std::env::var(var) {
                    Ok(p) if !p.is_empty() => Some(p),
                    Ok(_) | Err(std::env::VarError::NotPresent) => None,
                    Err(std::env::VarError::NotUnicode(_)) => {
                        return Err(DbError::Invalid(format!(
                            "the password in ${var} is not UTF-8"
                        )));
                    }
                }
            }
        };
        let target = PgTarget {
            url: url.to_owned(),
            password,
        };
        target.config()?;
        Ok(target)
    }

    /// The client configuration: the URL, checked, plus the password.
    pub fn config(&self) -> Result<postgres::Config, DbError> {
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(DbError::Invalid(format!(
                "the PostgreSQL url must start with postgres:// (got {:?})",
                self.describe()
            )));
        }
        let (url, tls) = split_url(&self.url)?;
        let mut config: postgres::Config = url.parse().map_err(|e| {
            DbError::Invalid(format!(
                "the PostgreSQL url {:?} is not valid: {e}",
                self.describe()
            ))
        })?;
        if config.get_password().is_some() {
            return Err(DbError::Invalid(
                "the PostgreSQL url carries a password: remove it, and put the password in \
                 a file (`password_file`) or an environment variable (`password_env`)"
                    .into(),
            ));
        }
        config.ssl_mode(tls.client_mode());
        if let Some(p) = &self.password {
            config.password(p.as_bytes());
        }
        if config.get_application_name().is_none() {
            config.application_name("otto-hooks");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(config)
    }

    /// The TLS settings of the URL (`sslmode`, `sslrootcert`).
    pub fn tls(&self) -> Result<TlsOptions, DbError> {
        split_url(&self.url).map(|(_, tls)| tls)
    }

    /// Opens a connection, over TLS as `sslmode` says (module [`tls`](crate::tls)).
    pub fn connect(&self) -> Result<Client, DbError> {
        let config = self.config()?;
        let connector = self.tls()?.connector()?;
        config.connect(connector).map_err(|e| {
            DbError::Server(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.describe(),
                crate::error::describe(&e)
            ))
        })
    }

    /// The URL without its query part, for messages; a password someone
    /// put in it (refused at use) is redacted.
    pub fn describe(&self) -> String {
        crate::redacted_url(
            self.url
                .split_once('?')
                .map_or(self.url.as_str(), |(base, _)| base),
        )
    }
}

/// Reads a password file: refuses one that others may read, like libpq's
/// `.pgpass`.
fn read_password_file(path: &Path) -> Result<String, DbError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        DbError::Invalid(format!("cannot read password_file {}: {e}", path.display()))
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(DbError::Invalid(format!(
            "password_file {} may be read by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        DbError::Invalid(format!("cannot read password_file {}: {e}", path.display()))
    })?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(DbError::Invalid(format!(
            "password_file {} is empty",
            path.display()
        )));
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused() {
        let t = PgTarget {
            url: "postgres://u:secret@localhost/db".into(),
            password: None,
        };
        let e = t.config().unwrap_err().to_string();
        assert!(e.contains("password_file"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(t.describe(), "postgres://u:[REDACTED]@localhost/db");
        let bad = PgTarget {
            url: "postgres://u:secret@localhost:notaport/db".into(),
            password: None,
        };
        let e = bad.config().unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn the_verify_modes_are_taken_from_the_url_and_the_client_is_told_to_require_tls() {
        let t = PgTarget {
            url: "postgres://u@localhost/db?sslmode=verify-full&sslrootcert=/ca.pem".into(),
            password: None,
        };
        let config = t.config().unwrap();
        assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(t.tls().unwrap().mode, crate::tls::SslMode::VerifyFull);
        assert_eq!(t.describe(), "postgres://u@localhost/db");
    }

    #[test]
    fn a_password_file_readable_by_others_is_refused_and_a_private_one_is_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = PgTarget::resolve("postgres://u@h/db", Some(&path), None).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = PgTarget::resolve("postgres://u@h/db", Some(&path), None).unwrap();
        assert_eq!(t.password.as_deref(), Some("s3cret"));
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn the_password_comes_from_the_named_variable() {
        // A variable name of this test only: tests run in parallel.
        let var = "SETTINGS_TEST_PGPASSWORD";
        // SAFETY: no other thread reads or writes this variable.
        unsafe { std::env::set_var(var, "from-env") };
        let t = PgTarget::resolve("postgres://u@h/db", None, Some(var)).unwrap();
        assert_eq!(t.password.as_deref(), Some("from-env"));
        assert_eq!(t.describe(), "postgres://u@h/db");
        let e = PgTarget::resolve("postgres://u@h/db", None, Some("AWS_SECRET_ACCESS_KEY"));
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("must end in PGPASSWORD")
        );
    }
}
