//! The web UI's pure logic (durations, paging arithmetic, unit statuses
//! replayed from events, attempts, graph layout, routes), tested by
//! `node --test` on the very files the daemon serves.
//!
//! Without `node` this prints one line and passes, except under `CI=true`,
//! where a missing node is a failure.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_ui_logic_passes_its_node_tests() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/daemon/web");
    // The files by name: node 18 takes a directory, node 22 only globs.
    let mut files: Vec<PathBuf> = std::fs::read_dir(web.join("tests"))
        .expect("the UI test directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "UI test files missing: {files:?}");
    let output = match Command::new("node")
        .arg("--test")
        .args(&files)
        .current_dir(&web)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true and node cannot run: {e}");
            eprintln!("skipped: node not found ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node --test failed:\n{stdout}\n{stderr}"
    );
    // node --test reports "# pass N"; zero would mean no test file was found.
    let passed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed >= 20, "too few node tests ran ({passed}):\n{stdout}");
}
