//! A run pinned (`.keep`) after the plan was made — while `clean --yes`
//! deletes — is never deleted: the pin is checked on the run's descriptor
//! once it is out of otto's reach, and a pinned run is put back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use otto_hooks_tests::otto_home::TaskSpec;
use otto_hooks_tests::otto_world::{OttoWorld, text};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn runs_pinned_while_clean_deletes_are_never_deleted() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let runs: Vec<_> = (0..160u64)
        .map(|i| {
            web.run(now() - 100 * 86_400 - i * 60)
                .task("build", TaskSpec::ok().stdout("ok\n"))
                .task("test", TaskSpec::ok().stdout("ok\n"))
                .write()
        })
        .collect();
    let mut child = std::process::Command::new(otto_hooks_tests::otto_hooks_binary())
        .args([
            "clean",
            "--keep",
            "1",
            "--keep-last",
            "0",
            "--force",
            "--yes",
            "--json",
        ])
        .env_clear()
        .env("HOME", w.dir.path())
        .env("OTTO_HOME", w.otto.root())
        .env("OTTO_HOOKS_HOME", w.hooks_home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Pin runs in an order unrelated to the deletion's, as fast as we can,
    // while it runs. A pin that finds its run already gone is too late.
    let mut pinned = Vec::new();
    let mut order: Vec<usize> = (0..runs.len()).collect();
    let mut state: u32 = 0x9e37_79b9;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        order.swap(i, state as usize % (i + 1));
    }
    for i in order {
        if std::fs::write(runs[i].dir.join(".keep"), b"").is_ok() {
            pinned.push(i);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let out = otto_hooks_tests::bounded::finish("otto-hooks clean", child);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    let lost: Vec<&str> = pinned
        .iter()
        .filter(|&&i| !runs[i].dir.exists())
        .map(|&i| runs[i].id.as_str())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} runs pinned during the clean were deleted: {lost:?}",
        lost.len(),
        pinned.len()
    );
    // The race was real: some runs were pinned before their turn came.
    assert!(!pinned.is_empty());
    // The per-project counts say what happened: runs put back are kept.
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deleted = doc["deleted"].as_array().unwrap().len() as u64;
    let group = &doc["groups"][0];
    assert_eq!(group["deleted"].as_u64(), Some(deleted), "{group:#}");
    let on_disk = runs.iter().filter(|r| r.dir.exists()).count() as u64;
    assert_eq!(group["kept"].as_u64(), Some(on_disk), "{group:#}");
}
