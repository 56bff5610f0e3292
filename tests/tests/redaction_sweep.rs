//! The attack sweep, end to end: a run recorded through `otto-hooks hook` with
//! every planted shape in every field, then every file under
//! `$OTTO_HOOKS_HOME` (history.db, its -wal, the active-run files, any log) is
//! searched for each planted value: none may be there. Error messages that echo
//! input must not print them either.

#[path = "../../redact/tests/corpus/shapes.rs"]
mod shapes;

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;

use otto_hooks_tests::hook_cli::{HookWorld, text};
use serde_json::json;

/// A registered secret: its value sits in the environment of every hook call.
const REGISTERED: &str = "zq-Registered-s3cret/value 7731";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read a directory under OTTO_HOOKS_HOME")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Standard base64, padded.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn no_planted_secret_reaches_any_file_under_otto_hooks_home() {
    sweep(&HookWorld::new(), &[]);
}

#[test]
fn no_planted_secret_reaches_any_file_when_the_hooks_record_through_the_daemon() {
    let w = HookWorld::new();
    // Any free port; the hooks start the daemon on demand.
    let config = w
        .dir
        .write_file("daemon.toml", "[daemon]\nport = 0\nauto_start = true\n");
    let config = config.to_string_lossy().into_owned();
    let daemon = [
        ("OTTO_HOOKS_DAEMON_AUTO_START", "1"),
        ("OTTO_HOOKS_CONFIG", config.as_str()),
    ];
    sweep(&w, &daemon);
    let log = w.hooks_home().join("daemon.log");
    assert!(log.exists(), "the daemon ran and logged");
}

/// Records a run with every planted shape (the daemon's variables in `extra`
/// record it through the daemon), then searches every file.
fn sweep(w: &HookWorld, extra: &[(&str, &str)]) {
    // A registered secret in the repository path, the tasks directory and
    // (below) the unit, the type, payload keys and values and the error.
    let name_safe = REGISTERED.replace(['/', ' '], "-");
    let repo = w.dir.path().join(format!("repo-{name_safe}"));
    std::fs::create_dir_all(&repo).expect("create the repository");
    let mut env: Vec<(&str, &str)> = vec![("REG", name_safe.as_str()), ("REG2", REGISTERED)];
    env.extend_from_slice(extra);
    let env = env.as_slice();
    let start = w
        .command(&[
            "hook",
            "run-start",
            "--repo",
            &repo.to_string_lossy(),
            "--tasks-dir",
            &format!("/srv/{name_safe}/tasks"),
            "--secret-env",
            "REG",
            "--secret-env",
            "REG2",
        ])
        .envs(env.iter().copied())
        .bounded_output()
        .expect("run otto-hooks");
    assert!(start.status.success(), "{}", text(&start.stderr));
    let id = text(&start.stdout).trim().to_owned();

    let planted = shapes::true_positives();
    // A token given to a flag that wants a time: clap's error does not quote it.
    let token = &planted[0].secrets[0];
    let out = w
        .command(&[
            "hook",
            "run-start",
            "--repo",
            &w.repo_arg(),
            "--started-at",
            token,
        ])
        .envs(env.iter().copied())
        .bounded_output()
        .expect("run otto-hooks");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--started-at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains(token.as_str()),
        "{}",
        text(&out.stderr)
    );
    let mut lines = String::new();
    for (i, p) in planted.iter().enumerate() {
        let event = json!({
            "type": format!("task.log.{i}"),
            "unit": format!("u{i}"),
            "payload": {"output": p.text, "nested": [{"x": p.text}]},
            "error": p.text,
        });
        lines.push_str(&format!("{event}\n"));
        // The same text in the type and the unit (on one line: storage
        // refuses control characters there).
        let one_line = p.text.trim().replace('\n', " ");
        let event = json!({"type": one_line, "unit": one_line});
        lines.push_str(&format!("{event}\n"));
    }
    let upper = REGISTERED.to_uppercase();
    let url = REGISTERED.replace('/', "%2F").replace(' ', "%20");
    let hexed = hex(REGISTERED);
    let b64 = base64(REGISTERED.as_bytes());
    let keyed = json!({
        "type": format!("unit.{name_safe}"),
        "unit": name_safe,
        "payload": {
            name_safe.clone(): "as a key",
            "forms": [REGISTERED, upper, url, hexed, b64],
            "passphrase": "pp-value-1", "pwd": "pwd-value-2", "pass": "pass-value-3",
            "auth": "auth-value-4", "key": "key-value-5", "ssh_key": "ssh-value-6",
            "encryption_key": "enc-value-7", "signature": "sig-value-8", "dsn": "dsn-value-9",
            "body": json!({"token": "embedded-value-10"}).to_string(),
            "lines": shapes::pem_body(11),
        },
        "error": format!("failed with {REGISTERED}"),
    });
    lines.push_str(&format!("{keyed}\n"));
    let out = w.events(&id, &lines, env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // A bad `time` that is a token: the line is refused, the token not printed.
    let bad = json!({"time": token, "type": "x"}).to_string();
    let out = w.events(&id, &format!("{bad}\n"), env);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    assert!(!stderr.contains(token.as_str()), "{stderr}");
    let out = w
        .command(&["hook", "event", "--run", &id, &bad])
        .envs(env.iter().copied())
        .bounded_output()
        .expect("run otto-hooks");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains(token.as_str()),
        "{}",
        text(&out.stderr)
    );
    // A registered secret echoed by a parse error is masked too.
    let bad = json!({"type": "x", "task": REGISTERED}).to_string();
    let out = w.events(&id, &format!("{bad}\n"), env);
    assert!(
        !text(&out.stderr).contains(REGISTERED),
        "{}",
        text(&out.stderr)
    );

    let done = w
        .command(&[
            "hook",
            "run-complete",
            "--run",
            &id,
            "--status",
            "failed",
            "--error",
            &format!("died printing {REGISTERED} and {}", planted[1].text),
        ])
        .envs(env.iter().copied())
        .bounded_output()
        .expect("run otto-hooks");
    assert!(done.status.success(), "{}", text(&done.stderr));
    if !extra.is_empty() {
        let stop = w
            .command(&["daemon", "stop"])
            .envs(env.iter().copied())
            .bounded_output()
            .expect("run otto-hooks");
        assert!(stop.status.success(), "{}", text(&stop.stderr));
    }

    let mut needles: Vec<String> = planted.iter().flat_map(|p| p.secrets.clone()).collect();
    needles.extend([
        REGISTERED.to_owned(),
        name_safe.clone(),
        REGISTERED.to_uppercase(),
        REGISTERED.replace('/', "%2F").replace(' ', "%20"),
        hex(REGISTERED),
        base64(REGISTERED.as_bytes())
            .trim_end_matches('=')
            .to_owned(),
    ]);
    needles.extend(
        [
            "pp-value-1",
            "pwd-value-2",
            "pass-value-3",
            "auth-value-4",
            "key-value-5",
            "ssh-value-6",
            "enc-value-7",
            "sig-value-8",
            "dsn-value-9",
            "embedded-value-10",
        ]
        .map(str::to_owned),
    );
    needles.extend(shapes::pem_body(11).into_iter().take(2));
    let mut all = Vec::new();
    files(&w.hooks_home(), &mut all);
    assert!(
        all.iter().any(|f| f.ends_with("history.db")),
        "the run was recorded: {all:?}"
    );
    let events: i64 = w
        .read()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .expect("count the stored events");
    assert!(
        events as usize > 2 * planted.len(),
        "{events} events stored"
    );
    for file in &all {
        let bytes = std::fs::read(file).expect("read a file under OTTO_HOOKS_HOME");
        for needle in &needles {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{needle} found in {}",
                file.display()
            );
        }
    }
}
