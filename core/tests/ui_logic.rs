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

/// The unit states the page replays (`status.js`, `UNIT_STATE_OF`) and the
/// ones the daemon's per-unit summary uses (`otto_hooks_sqlite::units`)
/// are one table: a type added to one and not the other would make the
/// waterfall and the graph disagree.
#[test]
fn the_page_and_the_daemon_derive_unit_states_from_the_same_table() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/daemon/web");
    let output = match Command::new("node")
        .arg("--input-type=module")
        .arg("-e")
        .arg("import { UNIT_STATE_OF } from './status.js'; console.log(JSON.stringify(UNIT_STATE_OF));")
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
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&output.stdout).expect("the page's table as JSON");
    let daemon: std::collections::BTreeMap<String, String> = otto_hooks_sqlite::units::UNIT_STATES
        .iter()
        .map(|(t, s)| ((*t).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(page, daemon);
}
