//! The daemon's lifecycle: starting it (in this process, or in the
//! background and waiting until it answers), stopping it gracefully, and
//! the files it leaves under `$OTTO_HOOKS_HOME` ([`DaemonFiles`]).
//!
//! - The daemon holds an exclusive `flock` on its pid file for its whole
//!   life: two `daemon start` at once give one daemon and one clear error,
//!   and a pid file left by a dead daemon (`kill -9`, a crash, a reboot) is
//!   stale — locked by nobody — and taken over, even when its pid now
//!   belongs to another process (which is never signalled).
//! - The listening socket is bound before anything is written, so a port
//!   in use is a one-line error that leaves no file behind.
//! - The token (32 random bytes, hex) is written mode 0600 at each start.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Client, DaemonFiles, read_token};
use crate::own_files;

/// How long `start` waits for the health check.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a health probe may take.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);
/// How long `stop` waits for the process to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and how a daemon listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The address bound (`127.0.0.1` unless configured).
    pub bind: IpAddr,
    /// The port (`8080` unless configured).
    pub port: u16,
}

/// A daemon that answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    /// Its pid.
    pub pid: i32,
    /// Its port.
    pub port: u16,
    /// How long `start` waited for it to answer (zero when it already ran).
    pub waited: Duration,
    /// Whether it was already running.
    pub already: bool,
}

/// Binds the daemon's socket: a port in use is a one-line error.
pub fn bind(listen: &Listen) -> Result<TcpListener, String> {
    let addr = SocketAddr::new(listen.bind, listen.port);
    TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is already in use on {}: stop what listens there, or choose another port with --port (or `[daemon] port`)",
            listen.port, listen.bind
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on {addr}: choose a port above 1023 with --port"
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    })
}

/// The pid file, locked while the daemon runs; removed when dropped (if
/// the path is still this file).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: std::fs::File,
}

impl PidFile {
    /// Locks the pid file for this process and writes its pid. A stale one
    /// (locked by nobody) is taken over; a locked one is an error naming
    /// its pid.
    pub fn acquire(files: &DaemonFiles) -> Result<PidFile, String> {
        use rustix::fs::FlockOperation;
        let path = files.pid();
        let pid = std::process::id();
        for attempt in 0..20 {
            let file = own_files::open(&path, own_files::Access::ReadWrite, Some(0o644))?;
            if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                // Held — or only probed this instant by a client: look twice.
                if attempt < 3 {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let other = files
                    .recorded_pid()
                    .map_or_else(|| "starting".to_owned(), |p| format!("pid {p}"));
                return Err(format!(
                    "a history daemon already runs ({other}, {}); `otto-hooks daemon stop` first",
                    path.display()
                ));
            }
            // The path may have been removed or replaced between the open and
            // the lock (a daemon exiting): then this lock guards nothing.
            if !same_file(&file, &path) {
                continue;
            }
            if files.recorded_pid().is_some() {
                tracing::warn!(
                    "taking over the stale pid file {} (no daemon holds it)",
                    path.display()
                );
            }
            let mut writer = &file;
            file.set_len(0)
                .and_then(|()| writer.write_all(format!("{pid}\n").as_bytes()))
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            return Ok(PidFile { path, file });
        }
        Err(format!(
            "another daemon is starting at the same time ({})",
            path.display()
        ))
    }
}

/// Whether `path` still names the open `file`.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed while still locked, so a new daemon never locks a file
        // about to vanish (it re-checks the path after locking).
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// A fresh token: 32 random bytes in hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        filled +=
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| format!("cannot get random bytes for the token: {e}"))?;
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `token` to `path`, mode 0600 from creation (never readable by
/// others, not even for a moment), replacing it atomically.
pub fn write_token(path: &Path, token: &str) -> Result<(), String> {
    write_atomically(path, &format!("{token}\n"), 0o600)
}

/// Writes `text` to a fresh temporary file of mode `mode` beside `path`,
/// then renames it over `path`: a reader sees the old file or the new one,
/// never a missing or half-written one.
fn write_atomically(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::remove_file(&tmp)
        .or_else(ignore_missing)
        .map_err(|e| format!("cannot replace {}: {e}", tmp.display()))?;
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// The files a serving daemon keeps; removed when dropped.
#[derive(Debug)]
pub struct Serving {
    files: DaemonFiles,
    _pid: PidFile,
    /// The token clients must present.
    pub token: String,
    /// The socket to serve on.
    pub listener: TcpListener,
    /// The Unix socket (`daemon.sock`) for the daemon's own user, when it
    /// could be made.
    pub unix: Option<UnixListener>,
}

impl Serving {
    /// Binds, takes the pid file, writes the port and a fresh token: what
    /// `daemon start --foreground` does before serving.
    pub fn prepare(files: &DaemonFiles, listen: &Listen) -> Result<Serving, String> {
        std::fs::create_dir_all(files.home())
            .map_err(|e| format!("cannot create {}: {e}", files.home().display()))?;
        let pid = PidFile::acquire(files)?;
        let listener = bind(listen)?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?
            .port();
        let token = new_token()?;
        write_token(&files.token(), &token)?;
        // Where clients connect: loopback of the same family when bound to
        // every address, else the bound address itself.
        let connect = match listen.bind {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        write_atomically(&files.port(), &format!("{port}\n{connect}\n"), 0o644)?;
        let unix = match bind_unix(&files.socket()) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("no Unix socket: {e}; clients use the TCP port");
                None
            }
        };
        if !listen.bind.is_loopback() {
            tracing::warn!(
                "listening on {}:{port}, beyond this machine: anyone who can reach it can read the history (writes still need the token)",
                listen.bind
            );
        }
        Ok(Serving {
            files: files.clone(),
            _pid: pid,
            token,
            listener,
            unix,
        })
    }
}

/// Binds the Unix socket at `path`, mode 0600. Called with the pid file
/// held, so a socket left there is a dead daemon's and is replaced; anything
/// else at that path is refused, never removed.
fn bind_unix(path: &Path) -> Result<UnixListener, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace {}: {e}", path.display()))?,
        Ok(_) => {
            return Err(format!("{} is not a socket (remove it)", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    // The peer's uid is checked on every connection too: this only keeps
    // other users from connecting at all.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    Ok(listener)
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.files.port());
        if self.unix.is_some() {
            let _ = std::fs::remove_file(self.files.socket());
        }
    }
}

/// The daemon that answers at the address its files give, if any.
pub fn running(files: &DaemonFiles) -> Option<(i32, u16, Client)> {
    let pid = files.live_pid()?;
    let addr = files.running_addr()?;
    let token = read_token(&files.token()).ok();
    // A wedged daemon must not stall every hook for long.
    let probe = Client::at(addr, token.clone()).with_deadline(HEALTH_DEADLINE);
    let health = probe.health().ok()?;
    if i64::from(health.pid) != i64::from(pid) {
        return None; // someone else answers on that port
    }
    Some((pid, addr.port(), Client::at(addr, token)))
}

/// Starts the daemon in the background (this executable, `daemon start
/// --foreground`, its output appended to the log) and returns once it
/// answers its health check. A daemon already running is returned as is.
pub fn start_background(
    files: &DaemonFiles,
    listen: &Listen,
    exe: &Path,
) -> Result<Running, String> {
    if let Some((pid, port, _)) = running(files) {
        return Ok(Running {
            pid,
            port,
            waited: Duration::ZERO,
            already: true,
        });
    }
    std::fs::create_dir_all(files.home())
        .map_err(|e| format!("cannot create {}: {e}", files.home().display()))?;
    // Fail fast, in this process, on a port in use: the child would only
    // say so in its log.
    drop(bind(listen)?);
    let log = own_files::open(&files.log(), own_files::Access::Append, Some(0o600))
        .map_err(|e| format!("cannot open the daemon's log: {e}"))?;
    let log_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot open the log {}: {e}", files.log().display()))?;
    let started = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(["daemon", "start", "--foreground", "--port"])
            .arg(listen.port.to_string())
            .arg("--bind")
            .arg(listen.bind.to_string())
            .env("OTTO_HOOKS_HOME", files.home())
            // Not the caller's directory: a repository's .otto-hooks.toml
            // must not become the daemon's configuration (its schedule
            // applies retention to every project).
            .current_dir(files.home())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Its own process group: a Ctrl-C in the terminal that started
            // it (or the orchestrator's) does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?
    };
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("cannot watch the daemon: {e}"))?
        {
            // Another start may have won the race: use its daemon.
            if let Some((pid, port, _)) = running(files) {
                return Ok(Running {
                    pid,
                    port,
                    waited: started.elapsed(),
                    already: true,
                });
            }
            let why = last_log_error(&files.log(), log_len)
                .unwrap_or_else(|| format!("it exited ({status}) before answering"));
            return Err(format!("the history daemon did not start: {why}"));
        }
        if let Some((pid, port, _)) = running(files) {
            let ours = pid == child.id() as i32;
            if !ours {
                // Another start won the race: ours must not linger and take
                // over once that daemon stops.
                terminate(&mut child);
            }
            return Ok(Running {
                pid,
                port,
                waited: started.elapsed(),
                already: !ours,
            });
        }
        if started.elapsed() > START_TIMEOUT {
            terminate(&mut child);
            return Err(format!(
                "the history daemon did not answer within {}s (see {})",
                START_TIMEOUT.as_secs(),
                files.log().display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asks `child` to stop (SIGTERM: a daemon half-started still closes its
/// database cleanly) and waits for it.
fn terminate(child: &mut std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let _ = child.wait();
}

/// The last `error:` line the child wrote to the log after `from`.
fn last_log_error(log: &Path, from: u64) -> Option<String> {
    let new = read_log_from(log, from).ok()?;
    let new = String::from_utf8_lossy(&new).into_owned();
    new.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: ").map(str::to_owned))
        .or_else(|| {
            new.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
}

/// What `stop` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The daemon with this pid stopped.
    Stopped(i32),
    /// None ran; a stale pid file (of this pid) was removed.
    Stale(i32),
    /// None ran.
    NotRunning,
}

/// Stops the daemon gracefully (SIGTERM: it stops accepting, drains the
/// writer, checkpoints, removes its pid file) and waits for it to end.
pub fn stop(files: &DaemonFiles) -> Result<Stopped, String> {
    let Some(pid) = files.live_pid() else {
        return Ok(match files.recorded_pid() {
            Some(pid) => {
                // Locked by nobody: stale, and its pid may belong to another
                // process now — never signal it.
                let _ = std::fs::remove_file(files.pid());
                let _ = std::fs::remove_file(files.port());
                Stopped::Stale(pid)
            }
            None => Stopped::NotRunning,
        });
    };
    let target = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| format!("{} holds an invalid pid {pid}", files.pid().display()))?;
    rustix::process::kill_process(target, rustix::process::Signal::TERM)
        .map_err(|e| format!("cannot signal the daemon (pid {pid}): {e}"))?;
    let started = Instant::now();
    while files.live_pid() == Some(pid) {
        if started.elapsed() > STOP_TIMEOUT {
            return Err(format!(
                "the daemon (pid {pid}) did not stop within {}s; see {} (kill -9 {pid} loses nothing acknowledged)",
                STOP_TIMEOUT.as_secs(),
                files.log().display()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Stopped::Stopped(pid))
}

/// The daemon's log from byte `from` to its end, read through a checked
/// descriptor (a planted link is never followed, a FIFO never waited on).
fn read_log_from(path: &Path, from: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = own_files::open(path, own_files::Access::Read, None).map_err(|e| {
        if std::fs::symlink_metadata(path).is_err() {
            std::io::Error::from(std::io::ErrorKind::NotFound)
        } else {
            std::io::Error::other(e)
        }
    })?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `n` lines of `path`.
pub fn tail(path: &Path, n: usize) -> std::io::Result<String> {
    let len = std::fs::symlink_metadata(path)?.len();
    // The last lines are in the last megabyte (the daemon logs one line a
    // request at most); a longer tail reads further back.
    let window = 1_048_576u64.max(n as u64 * 512);
    let text = read_log_from(path, len.saturating_sub(window))?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    let mut out = lines[from..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_random_hex_and_private() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.token");
        std::fs::write(&path, "old").unwrap();
        write_token(&path, &a).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_token(&path).unwrap(), a);
    }

    #[test]
    fn the_pid_file_is_exclusive_and_a_stale_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let files = DaemonFiles::new(dir.path());
        let held = PidFile::acquire(&files).unwrap();
        assert_eq!(files.live_pid(), Some(std::process::id() as i32));
        let err = PidFile::acquire(&files).unwrap_err();
        assert!(
            err.contains(&format!("already runs (pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(!files.pid().exists(), "removed when dropped");
        assert_eq!(files.live_pid(), None);

        // Stale: names a live process (pid 1) that holds no lock on it.
        std::fs::write(files.pid(), "1\n").unwrap();
        let held = PidFile::acquire(&files).unwrap();
        assert_eq!(files.recorded_pid(), Some(std::process::id() as i32));
        drop(held);
    }

    #[test]
    fn a_port_in_use_is_one_line() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = bind(&Listen {
            bind: "127.0.0.1".parse().unwrap(),
            port,
        })
        .unwrap_err();
        assert!(
            err.contains(&format!("port {port} is already in use")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }

    #[test]
    fn tail_gives_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&path, 2).unwrap(), "b\nc\n");
        assert_eq!(tail(&path, 10).unwrap(), "a\nb\nc\n");
    }
}
