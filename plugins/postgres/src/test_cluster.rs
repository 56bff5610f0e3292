//! Test support: a throw-away PostgreSQL cluster on a free local port.
//!
//! [`TestCluster::shared`] starts one cluster per test process with
//! Debian's `initdb` and `postgres` (found under
//! `/usr/lib/postgresql/*/bin`, or `OTTO_HOOKS_PG_BIN`), in a temporary
//! directory, listening on `127.0.0.1` only, password (SCRAM) auth for TCP.
//! PostgreSQL refuses to run as root, so as root the cluster runs as
//! `nobody` (through `setpriv`). A watchdog shell started with the server
//! stops it and removes the directory once the test process is gone (Rust's
//! test harness has no end-of-run hook).
//!
//! Without the binaries a test skips with one line on stderr — unless
//! `CI=true`, where a missing server is a failure.
//!
//! This module is for tests (this crate's and the daemon's); it is not used
//! by the storage itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::settings::PgTarget;

/// The superuser the test cluster is created with.
pub const SUPERUSER: &str = "otto";

/// A running throw-away cluster.
#[derive(Debug)]
pub struct TestCluster {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    password: String,
    databases: AtomicU32,
}

/// The uid/gid a root test process runs the server as (`nobody`).
const NOBODY: u32 = 65534;

impl TestCluster {
    /// The cluster of this test process, started on first use. `None` (after
    /// one line on stderr) when PostgreSQL is not installed and `CI` is not
    /// `true`; panics when it is, or when the cluster fails to start.
    pub fn shared() -> Option<&'static TestCluster> {
        static CLUSTER: OnceLock<Option<TestCluster>> = OnceLock::new();
        CLUSTER
            .get_or_init(|| match bin_dir() {
                Some(bin) => {
                    Some(start(&bin).unwrap_or_else(|e| {
                        panic!("cannot start the test PostgreSQL cluster: {e}")
                    }))
                }
                None if std::env::var("CI").as_deref() == Ok("true") => panic!(
                    "PostgreSQL (initdb, postgres) is not installed and CI=true: \
                     install Debian's `postgresql` (.ci/run does)"
                ),
                None => {
                    eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
                    None
                }
            })
            .as_ref()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The cluster's directory (data, socket, password file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Restarts the server (fast shutdown: every connection is cut, as when
    /// a database server is restarted under its clients) on the same port
    /// and data; returns once it accepts connections again.
    pub fn restart(&self) -> Result<(), String> {
        let out = as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        spawn_server(&self.bin, &self.dir, self.port)?;
        self.wait_ready()
    }

    /// Turns TLS on: the server presents `cert_pem` (with the chain it
    /// holds) and the key `key_pem`, copied into the cluster's directory and
    /// given to its owner (PostgreSQL refuses a key others may read). Plain
    /// connections stay allowed (pg_hba `host`), so `sslmode` decides.
    pub fn enable_tls(&self, cert_pem: &Path, key_pem: &Path) -> Result<(), String> {
        let data = self.dir.join("data");
        for (from, name) in [(cert_pem, "server.crt"), (key_pem, "server.key")] {
            let to = data.join(name);
            std::fs::copy(from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("{}: {e}", to.display()))?;
            if is_root() {
                rustix::fs::chown(
                    &to,
                    Some(rustix::process::Uid::from_raw(NOBODY)),
                    Some(rustix::process::Gid::from_raw(NOBODY)),
                )
                .map_err(|e| format!("cannot give {} to nobody: {e}", to.display()))?;
            }
        }
        let mut admin = self.admin().connect().map_err(|e| e.to_string())?;
        // One statement at a time: ALTER SYSTEM refuses to run in the
        // implicit transaction of a multi-statement query.
        for sql in [
            "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
            "ALTER SYSTEM SET ssl_key_file = 'server.key'",
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ] {
            admin.batch_execute(sql).map_err(|e| {
                format!("cannot turn TLS on ({sql}): {}", crate::error::describe(&e))
            })?;
        }
        // The reload is asynchronous: wait until the server says it is on.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut c = self.admin().connect().map_err(|e| e.to_string())?;
            let on: String = c
                .query_one("SHOW ssl", &[])
                .and_then(|r| r.try_get(0))
                .map_err(|e| e.to_string())?;
            if on == "on" {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(format!("the server did not turn TLS on:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = match self.admin().connect() {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            if log.contains("could not bind") || log.contains("could not create any TCP/IP") {
                return Err(log);
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not accept connections: {last}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The target of the maintenance database `postgres`, as the superuser.
    pub fn admin(&self) -> PgTarget {
        self.target("postgres")
    }

    /// The target of database `name`, as the superuser.
    pub fn target(&self, name: &str) -> PgTarget {
        PgTarget {
            url: format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port),
            password: Some(self.password.clone()),
        }
    }

    /// A new, empty database of its own for one test.
    pub fn fresh_database(&self) -> PgTarget {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let mut admin = self
            .admin()
            .connect()
            .unwrap_or_else(|e| panic!("cannot reach the test cluster: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        self.target(&name)
    }
}

/// Where `initdb` and `postgres` are: `OTTO_HOOKS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("OTTO_HOOKS_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A command run as the cluster's owner: `nobody` when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn start(bin: &Path) -> Result<TestCluster, String> {
    let base = std::env::temp_dir().join(format!(
        "otto-hooks-pg-{}-{:x}",
        std::process::id(),
        rand_u64()
    ));
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let password = format!("pw-{:x}", rand_u64());
    let pwfile = base.join("pwfile");
    std::fs::write(&pwfile, &password).map_err(|e| format!("{}: {e}", pwfile.display()))?;
    if is_root() {
        for p in [&base, &pwfile] {
            rustix::fs::chown(
                p,
                Some(rustix::process::Uid::from_raw(NOBODY)),
                Some(rustix::process::Gid::from_raw(NOBODY)),
            )
            .map_err(|e| format!("cannot give {} to nobody: {e}", p.display()))?;
        }
    }
    let data = base.join("data");
    let out = as_owner(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        spawn_server(bin, &base, port)?;
        let cluster = TestCluster {
            port,
            dir: base.clone(),
            bin: bin.to_path_buf(),
            password: password.clone(),
            databases: AtomicU32::new(0),
        };
        match cluster.wait_ready() {
            Ok(()) => return Ok(cluster),
            // Most likely the port was taken meanwhile: another one.
            Err(e) => last = e,
        }
    }
    Err(format!("the server did not start: {last}"))
}

/// Starts the server on `port` under a watchdog shell that stops it, and
/// removes `base`, once the test process is gone.
fn spawn_server(bin: &Path, base: &Path, port: u16) -> Result<(), String> {
    let script = format!(
        "\"$1\" -D \"$2\" -p {port} -k \"$3\" -c listen_addresses=127.0.0.1 \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
         -c max_connections=300 >\"$3/server.log\" 2>&1 &
         server=$!
         while [ -d /proc/{test} ] && kill -0 $server 2>/dev/null; do sleep 0.5; done
         kill -INT $server 2>/dev/null; wait $server
         [ -d /proc/{test} ] || rm -rf \"$3\"",
        test = std::process::id(),
    );
    as_owner(Path::new("/bin/sh"))
        .arg("-c")
        .arg(script)
        .arg("otto-hooks-test-pg")
        .arg(bin.join("postgres"))
        .arg(base.join("data"))
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start postgres: {e}"))
}

/// A random number for the password (from the kernel).
fn rand_u64() -> u64 {
    let mut buf = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(buf)
}
