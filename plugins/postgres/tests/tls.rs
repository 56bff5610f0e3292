//! TLS against a real server: the throw-away cluster with `ssl = on` and a
//! certificate for `db.example.test` signed by a CA this test makes with the
//! `openssl` command (its own test binary, so its own cluster). Skipped with
//! one line without PostgreSQL or openssl; a failure under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use otto_hooks_plugin_api::Timestamp;
use otto_hooks_postgres::test_cluster::{SUPERUSER, TestCluster};
use otto_hooks_postgres::{PgHistory, PgSettings, PgTarget};
use otto_hooks_sqlite::{HistoryStore, NewRun};

/// The host name the server's certificate is issued for.
const SERVER_NAME: &str = "db.example.test";

/// The cluster with TLS on, and the CA files.
struct Tls {
    cluster: &'static TestCluster,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that did not.
    other_ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn tls() -> Option<&'static Tls> {
    static TLS: OnceLock<Option<Tls>> = OnceLock::new();
    TLS.get_or_init(|| {
        let cluster = TestCluster::shared()?;
        if Command::new("openssl")
            .arg("version")
            .stdin(Stdio::null())
            .output()
            .is_err()
        {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "openssl is not installed and CI=true: install Debian's `openssl` (.ci/run does)"
            );
            eprintln!("skipped: the openssl command is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = make_ca(dir.path(), "ca");
        let other_ca = make_ca(dir.path(), "other-ca");
        let (cert, key) = make_server_cert(dir.path(), "ca");
        cluster.enable_tls(&cert, &key).unwrap();
        Some(Tls {
            cluster,
            ca,
            other_ca,
            _dir: dir,
        })
    })
    .as_ref()
}

/// Runs openssl; panics with its stderr when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA: `<name>.pem` and `<name>.key` in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=otto-hooks test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A server certificate for [`SERVER_NAME`] signed by CA `ca`.
fn make_server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &format!("/CN={SERVER_NAME}"),
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=DNS:{SERVER_NAME}\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    (dir.join("server.pem"), dir.join("server.key"))
}

/// The superuser's target on `host` (TCP to 127.0.0.1 whatever the name)
/// with these TLS options.
fn target(t: &Tls, host: &str, options: &str) -> PgTarget {
    PgTarget {
        url: format!(
            "postgres://{SUPERUSER}@{host}:{}/postgres?hostaddr=127.0.0.1&{options}",
            t.cluster.port()
        ),
        password: Some(t.cluster.password().to_owned()),
    }
}

fn rootcert(path: &Path) -> String {
    format!("sslrootcert={}", path.display())
}

/// Whether the server sees this connection as encrypted.
fn encrypted(target: &PgTarget) -> Result<bool, String> {
    let mut client = target.connect().map_err(|e| e.to_string())?;
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| e.to_string())
}

#[test]
fn verify_full_accepts_the_host_the_certificate_names_and_the_history_works_over_it() {
    let Some(t) = tls() else { return };
    let good = target(
        t,
        SERVER_NAME,
        &format!("sslmode=verify-full&{}", rootcert(&t.ca)),
    );
    assert_eq!(encrypted(&good), Ok(true));

    // The store itself (migrations, a write, a read) over verified TLS.
    let mut admin = good.connect().unwrap();
    admin.batch_execute("CREATE DATABASE tls_history").unwrap();
    let mut store = good.clone();
    store.url = store.url.replace("/postgres?", "/tls_history?");
    let db = PgHistory::open(store).unwrap();
    db.start_run(NewRun {
        id: "r".into(),
        project: "/p".into(),
        repo_path: "/p".into(),
        started_at: Timestamp::from_secs(1_737_367_200),
        parallelism: 1,
        total_units: 1,
        tasks_dir: None,
        dry_run: false,
    })
    .unwrap();
    assert_eq!(db.get_run("r").unwrap().unwrap().id, "r");
}

#[test]
fn verify_full_refuses_a_host_the_certificate_does_not_name_and_verify_ca_accepts_it() {
    let Some(t) = tls() else { return };
    let wrong_host = target(
        t,
        "127.0.0.1",
        &format!("sslmode=verify-full&{}", rootcert(&t.ca)),
    );
    let e = encrypted(&wrong_host).unwrap_err();
    assert!(e.contains("not valid for name"), "{e}");
    // verify-ca trusts the CA for any host name.
    let any_host = target(
        t,
        "127.0.0.1",
        &format!("sslmode=verify-ca&{}", rootcert(&t.ca)),
    );
    assert_eq!(encrypted(&any_host), Ok(true));
}

#[test]
fn a_certificate_from_another_ca_is_refused_by_verify_full_verify_ca_and_require_with_a_ca() {
    let Some(t) = tls() else { return };
    for mode in ["verify-full", "verify-ca", "require"] {
        let wrong_ca = target(
            t,
            SERVER_NAME,
            &format!("sslmode={mode}&{}", rootcert(&t.other_ca)),
        );
        let e = encrypted(&wrong_ca).unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{mode}: {e}");
    }
    // Without a CA, require encrypts and checks no issuer (libpq's meaning).
    assert_eq!(
        encrypted(&target(t, SERVER_NAME, "sslmode=require")),
        Ok(true)
    );
}

#[test]
fn disable_connects_in_clear_and_prefer_encrypts_when_the_server_offers_tls() {
    let Some(t) = tls() else { return };
    assert_eq!(
        encrypted(&target(t, "127.0.0.1", "sslmode=disable")),
        Ok(false)
    );
    assert_eq!(
        encrypted(&target(t, "127.0.0.1", "sslmode=prefer")),
        Ok(true)
    );
    assert_eq!(
        encrypted(&target(t, "127.0.0.1", "application_name=default-mode")),
        Ok(true),
        "prefer is the default"
    );
}

#[test]
fn the_sslmode_and_sslrootcert_settings_reach_the_connection() {
    let Some(t) = tls() else { return };
    let data_dir = t.ca.parent().unwrap();
    let settings = |ca: &str| PgSettings {
        url: Some(format!(
            "postgres://{SUPERUSER}@{SERVER_NAME}:{}/postgres?hostaddr=127.0.0.1",
            t.cluster.port()
        )),
        password_file: None,
        password_env: Some("TLS_TEST_PGPASSWORD".into()),
        retention_days: None,
        sslmode: Some("verify-full".into()),
        // Relative: taken from the data directory.
        sslrootcert: Some(PathBuf::from(ca)),
    };
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var("TLS_TEST_PGPASSWORD", t.cluster.password()) };
    let good = settings("ca.pem").target("team", data_dir).unwrap();
    assert_eq!(encrypted(&good), Ok(true));
    let bad = settings("other-ca.pem").target("team", data_dir).unwrap();
    let e = encrypted(&bad).unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
}
