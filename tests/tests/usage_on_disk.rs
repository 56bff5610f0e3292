//! End-to-end: `usage` shows what otto's runs take on disk (allocated,
//! `du -sB1`) beside their apparent size (`du -sb`), per project and in
//! all, measured on a real otto layout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;
use std::process::Command;

use otto_hooks_tests::otto_home::TaskSpec;
use otto_hooks_tests::otto_world::{OttoWorld, text};
use serde_json::Value;

const T0: u64 = 1_790_000_000;

fn du(path: &Path, flag: &str) -> u64 {
    let out = Command::new("du")
        .arg(flag)
        .arg(path)
        .bounded_output()
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn usage_gives_allocated_bytes_as_du_counts_them_beside_apparent_bytes() {
    let w = OttoWorld::new();
    let web = w.project("web");
    let api = w.project("api");
    // Many small files (each takes a whole block) and a large one.
    for i in 0..4 {
        web.run(T0 + i)
            .task("build", TaskSpec::ok().stdout("ok\n"))
            .task_with_deps("test", &["build"], TaskSpec::ok().stdout("passed\n"))
            .write();
    }
    api.run(T0 + 10)
        .task("build", TaskSpec::ok().stdout(&"x".repeat(300_000)))
        .write();
    web.run(T0).suffix(1).task("lint", TaskSpec::ok()).write();

    // Twice: measured, then read from the size index.
    for round in ["measured", "from the index"] {
        let usage: Value = w.json(&["usage", "--json"]);
        let mut total = 0;
        for p in [&web, &api] {
            let doc = usage["projects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["project"] == p.dir_name().as_str())
                .unwrap_or_else(|| panic!("{round}: {usage:#}"));
            assert_eq!(doc["bytes"], du(&p.dir, "-sb"), "{round}: {doc:#}");
            assert_eq!(
                doc["allocated_bytes"],
                du(&p.dir, "-sB1"),
                "{round}: {doc:#}"
            );
            total += du(&p.dir, "-sB1");
        }
        assert_eq!(usage["total_allocated_bytes"], total, "{round}");
        assert!(
            usage["total_allocated_bytes"].as_u64() > usage["total_bytes"].as_u64(),
            "small files take whole blocks: {usage:#}"
        );
    }

    let shown = text(&w.run(&["usage"]).stdout);
    assert!(shown.starts_with("Disk usage: "), "{shown}");
    assert!(
        shown.lines().next().unwrap().ends_with(" on disk)"),
        "{shown}"
    );
    assert_eq!(shown.matches(" on disk)").count(), 3, "{shown}");
}

#[test]
fn usage_of_the_history_has_no_allocated_figures_and_says_none() {
    let w = OttoWorld::new();
    let web = w.project("web");
    web.run(T0).task("build", TaskSpec::ok()).write();
    w.json(&["import", "otto", "--json"]);
    let usage = w.json(&["usage", "--backend", "sqlite", "--json"]);
    assert_eq!(usage["total_allocated_bytes"], Value::Null, "{usage:#}");
    let shown = text(&w.run(&["usage", "--backend", "sqlite"]).stdout);
    assert!(!shown.contains("on disk"), "{shown}");
}
