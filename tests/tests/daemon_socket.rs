//! The daemon's Unix socket, `$OTTO_HOOKS_HOME/daemon.sock`: the same API
//! for the daemon's own user (mode 0600, the peer's uid checked), whose
//! writes need no token; replaced after a crash, removed at stop, and never
//! put in place of a file that is not a socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use otto_hooks_core::client::DaemonFiles;
use otto_hooks_tests::PrivateDir;
use serde_json::Value;

struct World {
    dir: PrivateDir,
}

impl World {
    fn new() -> Self {
        let dir = PrivateDir::new();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        World { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn files(&self) -> DaemonFiles {
        DaemonFiles::new(&self.home())
    }

    fn daemon(&self, args: &[&str]) -> Output {
        let out = Command::new(otto_hooks_tests::otto_hooks_binary())
            .args(["--set", "daemon.port=0", "daemon"])
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("OTTO_HOOKS_HOME", self.home())
            .env("OTTO_HOME", self.dir.path().join("otto"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .bounded_output()
            .unwrap();
        assert!(
            out.status.success(),
            "daemon {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(pid) = self.files().live_pid() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// One request on a fresh connection to the socket (`Connection: close`);
/// status and JSON body.
fn request(socket: &Path, head: &str, body: &str) -> (u16, Value) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{head}\r\nHost: unix\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let json = answer.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(json).unwrap())
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[test]
fn the_own_user_writes_over_the_unix_socket_without_a_token() {
    let w = World::new();
    w.daemon(&["start"]);
    let socket = w.files().socket();
    assert!(is_socket(&socket));
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The default mode (`token`): no token, any Host, no Content-Type.
    let repo = w.dir.path().to_str().unwrap().to_owned();
    let (status, run) = request(
        &socket,
        "POST /api/runs HTTP/1.1",
        &format!(r#"{{"repo_path":"{repo}","parallelism":1,"total_units":1}}"#),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["run_id"].as_str().unwrap();
    let (status, _) = request(
        &socket,
        &format!("POST /api/runs/{id}/events HTTP/1.1"),
        r#"{"events":[{"type":"unit.started","unit":"a"}]}"#,
    );
    assert_eq!(status, 200);
    let (status, runs) = request(&socket, "GET /api/history/runs HTTP/1.1", "");
    assert_eq!(status, 200);
    assert_eq!(runs["runs"][0]["event_count"], 1);

    // Over TCP the same tokenless write is still refused.
    let port = w.files().running_port().unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = format!(r#"{{"repo_path":"{repo}","parallelism":1,"total_units":1}}"#);
    write!(
        tcp,
        "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    w.daemon(&["stop"]);
    assert!(!socket.exists(), "the socket outlived the daemon");
}

#[test]
fn a_crashed_daemon_s_socket_is_replaced_and_a_file_that_is_not_a_socket_is_left_alone() {
    let w = World::new();
    w.daemon(&["start"]);
    let socket = w.files().socket();
    let pid = w.files().live_pid().unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    for _ in 0..500 {
        if !otto_hooks_core::client::process_alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(is_socket(&socket), "kill -9 leaves the socket behind");
    w.daemon(&["start"]);
    let (status, _) = request(&socket, "GET /health HTTP/1.1", "");
    assert_eq!(status, 200, "the new daemon answers on a new socket");
    w.daemon(&["stop"]);

    // Something else at that path: kept, and the daemon serves TCP only.
    std::fs::write(&socket, "not a socket").unwrap();
    w.daemon(&["start"]);
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
    w.daemon(&["stop"]);
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
}
