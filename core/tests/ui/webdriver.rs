//! A small WebDriver client (the W3C protocol is JSON over HTTP) over
//! `ureq`, driving Debian's `chromedriver` and headless `chromium`: enough
//! to navigate, run scripts, find and click elements, press keys and take
//! screenshots, without pulling a browser-automation crate into the tree.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where the driver and browser are, or why the tests cannot run.
pub fn find_browser() -> Result<(PathBuf, PathBuf), String> {
    let find = |env: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(env) {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
            for name in names {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
        None
    };
    let driver = find("CHROMEDRIVER", &["chromedriver"])
        .ok_or("chromedriver not found (apt-get install chromium-driver, or set CHROMEDRIVER)")?;
    let browser = find(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    )
    .ok_or("chromium not found (apt-get install chromium, or set CHROME_BIN)")?;
    Ok((driver, browser))
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver on a free port and a headless session.
    pub fn start(driver: &Path, browser: &Path) -> Browser {
        let port = free_port();
        // A zone 5:30 off UTC, so a local time is told apart from a UTC one.
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .env("TZ", "Asia/Kolkata")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = agent
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1440,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": browser.to_string_lossy(), "args": args},
        }}});
        let mut browser = Browser {
            driver: child,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let reply = browser.call("POST", "/session", Some(caps));
        browser.session = reply["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; its `value`, or a panic naming the error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.try_call(method, path, body);
        match reply {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.map_err(|e| json!(e.to_string()))?;
        let ok = response.status().is_success();
        let value: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| json!(e.to_string()))?;
        let inner = value.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            // New sessions answer {value: {sessionId, capabilities}}.
            Ok(inner)
        } else {
            Err(inner)
        }
    }

    fn session_path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session)
    }

    /// Opens `url`.
    /// The CPU time (user + system, ms) the browser's processes have used
    /// so far: those whose command line names this session's profile
    /// directory (the browser and its renderer, GPU and utility
    /// processes), read from `/proc`; 0 where there is none. Unlike frame
    /// times, it does not grow when other programs keep the cores busy.
    #[allow(dead_code)]
    pub fn cpu_ms(&self) -> u64 {
        let profile = self._profile.path().to_string_lossy().into_owned();
        let tick_ms = 10; // USER_HZ is 100 on Linux
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let mut ticks = 0;
        for entry in dir.flatten() {
            let path = entry.path();
            let ours = std::fs::read(path.join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&profile));
            if !ours {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            // After the command's name (in parentheses): utime and stime
            // are the 12th and 13th fields.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            for i in [11, 12] {
                ticks += fields
                    .get(i)
                    .and_then(|f| f.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        ticks * tick_ms
    }

    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        );
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs an asynchronous `script`: it calls `arguments[arguments.length - 1]`
    /// with its result.
    pub fn js_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/async"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits (up to 30 s) until `script` returns a truthy value; returns it.
    /// A wait, not a timing assertion: the bound only keeps a broken page
    /// from hanging the test.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script, json!([]));
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let body = self.js("return document.body.innerText.slice(0, 2000)", json!([]));
                panic!("timed out waiting for {what}; the page says:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The text of every element matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let v = self.js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())",
            json!([css]),
        );
        serde_json::from_value(v).unwrap_or_default()
    }

    /// Clicks the first element matching `css` (through WebDriver, as a user would).
    pub fn click(&self, css: &str) {
        let found = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned();
        self.call(
            "POST",
            &self.session_path(&format!("/element/{id}/click")),
            None,
        );
    }

    /// Types keys, one character at a time (WebDriver key values: "j",
    /// "\u{E007}" for Enter; "type:x" types five characters).
    pub fn keys(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for k in keys.iter().flat_map(|k| k.chars()) {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        self.call(
            "POST",
            &self.session_path("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Presses `keys` together (a modifier first: `["\u{E008}", "\u{E007}"]`
    /// is Shift+Enter), then lets them go in reverse order.
    pub fn chord(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for k in keys {
            actions.push(json!({"type": "keyDown", "value": k}));
        }
        for k in keys.iter().rev() {
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        self.call(
            "POST",
            &self.session_path("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Resizes the browser's window (CSS pixels of its outer size).
    pub fn window_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Whether a JavaScript dialog (alert, confirm) is open.
    pub fn alert_open(&self) -> bool {
        self.try_call("GET", &self.session_path("/alert/text"), None)
            .is_ok()
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", &self.session_path("/screenshot"), None);
        let png = decode_base64(b64.as_str().expect("screenshot is base64"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshot encoding), without a dependency.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The browser, or None (after one line) when it is not installed outside
/// CI; under `CI=true` (or `CI=1`) a missing browser fails the test.
pub fn browser() -> Option<Browser> {
    match find_browser() {
        Ok((driver, chromium)) => Some(Browser::start(&driver, &chromium)),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true and the UI tests cannot run: {why}");
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// Saves a screenshot as `target/ui-shots/<name>.png`.
pub fn shot(browser: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-shots");
    browser.screenshot(&dir.join(format!("{name}.png")));
}

/// Runs axe-core (vendored in `tests/ui/axe/`, for the tests only) on the
/// page; panics on any serious or critical violation, naming them.
pub fn assert_accessible(b: &Browser, screen: &str) {
    static AXE: &str = include_str!("axe/axe.min.js");
    b.js(AXE, json!([]));
    let found = b.js_async(
        "const done = arguments[arguments.length - 1];
         axe.run(document, {resultTypes: ['violations']}).then(
           r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))),
           e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
        json!([]),
    );
    let bad: Vec<&Value> = found
        .as_array()
        .expect("axe results")
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect();
    assert!(
        bad.is_empty(),
        "{screen}: serious or critical accessibility violations:\n{}",
        serde_json::to_string_pretty(&bad).unwrap_or_default()
    );
}
