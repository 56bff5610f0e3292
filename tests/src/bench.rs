//! What the benchmark binaries (`bench-history`, `bench-clean`) share:
//! finding sibling binaries, timing real processes, peak memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A sibling binary of the running one (`target/<profile>/<name>`); exits
/// with the build command to run when it is missing.
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot find this binary: {e}"));
    let path = exe.with_file_name(name);
    if !path.exists() {
        eprintln!(
            "error: {} is missing: run `cargo build --release --workspace` first",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

/// `otto-hooks` over one `$OTTO_HOME`, timed.
#[derive(Debug)]
pub struct Bench {
    /// The `otto-hooks` binary.
    pub otto_hooks: PathBuf,
    /// The tree.
    pub otto_home: PathBuf,
    /// Timed runs per median.
    pub rounds: usize,
}

impl Bench {
    /// `otto-hooks ARGS` with `$OTTO_HOME` and `$OTTO_HOOKS_HOME` set, stdout
    /// discarded.
    pub fn command(&self, hooks_home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.otto_hooks);
        c.args(args)
            .env("OTTO_HOME", &self.otto_home)
            .env("OTTO_HOOKS_HOME", hooks_home)
            .env_remove("OTTO_HOOKS_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `c` once and returns its wall time; fails loudly on a non-zero exit.
    pub fn time_once(mut c: Command) -> Duration {
        let start = Instant::now();
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
        let elapsed = start.elapsed();
        assert!(
            out.status.success(),
            "{c:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        elapsed
    }

    /// The median of `rounds` runs of `make()`, after one warm-up run.
    pub fn median(&self, make: impl Fn() -> Command) -> Duration {
        Self::time_once(make());
        let mut times: Vec<Duration> = (0..self.rounds).map(|_| Self::time_once(make())).collect();
        times.sort();
        times[times.len() / 2]
    }

    /// Peak resident set size of one run of `otto-hooks ARGS`, in MB.
    pub fn peak_mb(&self, hooks_home: &Path, args: &[&str]) -> f64 {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg(&self.otto_hooks).args(args);
        c.env("OTTO_HOME", &self.otto_home)
            .env("OTTO_HOOKS_HOME", hooks_home)
            .stdout(Stdio::null());
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("cannot run /usr/bin/time: {e}"));
        let text = String::from_utf8_lossy(&out.stderr);
        let kb: f64 = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak memory in {text:?}"));
        kb / 1000.0
    }
}

/// `du -sb PATH`, output discarded.
pub fn du_sb(path: &Path) -> Command {
    let mut c = Command::new("du");
    c.arg("-sb").arg(path).stdout(Stdio::null());
    c
}

/// Drops the page cache (root only); whether it could.
pub fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Generates a tree with `otto-fixture gen` unless `root` already holds one.
pub fn generate(root: &Path, projects: u64, runs: u64, tasks: u64) {
    if root.join("otto.db").exists()
        || std::fs::read_dir(root).is_ok_and(|mut d| d.next().is_some())
    {
        return;
    }
    let start = Instant::now();
    let status = Command::new(sibling("otto-fixture"))
        .args(["gen", "--root"])
        .arg(root)
        .args(["--projects", &projects.to_string()])
        .args(["--runs", &runs.to_string(), "--tasks", &tasks.to_string()])
        .arg("--with-db")
        .status()
        .unwrap_or_else(|e| panic!("cannot run otto-fixture: {e}"));
    assert!(status.success(), "otto-fixture failed");
    eprintln!("generated in {:.1} s", start.elapsed().as_secs_f64());
}
