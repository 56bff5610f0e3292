//! The `markdown` reporter.

use otto_hooks_plugin_api::DocumentKind;

use crate::samples::{self, to_json};

fn markdown(kind: DocumentKind, json: &str) -> String {
    crate::render("markdown", kind, json)
}

/// The cells of a table row, split on unescaped pipes.
fn cells(line: &str) -> Vec<String> {
    let inner = line
        .trim()
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or_else(|| panic!("not a row: {line:?}"));
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(cell) = cells.last_mut() {
                    cell.push('|');
                }
            }
            '|' => cells.push(String::new()),
            c => {
                if let Some(cell) = cells.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// Every table of `out`: its rows, each as cells (header first, no
/// alignment row). Checks every row has the header's column count.
fn tables(out: &str) -> Vec<Vec<Vec<String>>> {
    let mut tables = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in out.lines() {
        if line.starts_with('|') {
            current.push(cells(line));
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    for table in &tables {
        assert!(table.len() >= 2, "{out}");
        assert!(
            table[1].iter().all(|c| c == "---" || c == "---:"),
            "no alignment row in:\n{out}"
        );
        for row in table {
            assert_eq!(row.len(), table[0].len(), "ragged table in:\n{out}");
        }
    }
    tables
        .into_iter()
        .map(|mut t| {
            t.remove(1);
            t
        })
        .collect()
}

#[test]
fn every_kind_is_well_formed() {
    for (kind, json) in samples::all() {
        let out = markdown(kind, &json);
        tables(&out);
        assert!(!out.contains('\x1b'), "{kind}");
    }
}

#[test]
fn run_list_is_a_table_with_utc_times_and_bold_status() {
    let out = markdown(DocumentKind::RunList, &to_json(&samples::run_list()));
    assert!(out.starts_with("### Runs\n\n"), "{out}");
    let t = &tables(&out)[0];
    assert_eq!(
        t[0],
        ["Project", "Run", "Started", "Tasks", "Status", "Size"]
    );
    assert_eq!(
        t[1],
        [
            "`web-3f2a1b9c`",
            "`web-3f2a1b9c/1700000000`",
            "2023-11-14 22:13:20 UTC",
            "12",
            "**success**",
            "45.2 MB"
        ]
    );
    assert_eq!(t[3][5], "-");
    assert!(
        out.contains("| --- | --- | --- | ---: | --- | ---: |"),
        "{out}"
    );
}

#[test]
fn an_empty_run_list_says_so() {
    let out = markdown(DocumentKind::RunList, "[]");
    assert!(out.contains("_No runs found"), "{out}");
    assert!(!out.contains('|'), "{out}");
}

#[test]
fn pipes_in_cells_are_escaped() {
    let out = markdown(
        DocumentKind::CleanPlan,
        &to_json(&samples::clean_plan(true)),
    );
    assert!(out.contains("status failed\\|interrupted"), "{out}");
    let deleted = tables(&out)
        .into_iter()
        .find(|t| t[0][3] == "Reasons")
        .expect("a runs table");
    assert_eq!(deleted[2][3], "status failed|interrupted");

    let mut info = samples::run_info();
    info.tasks[0].name = "lint|fmt".into();
    let out = markdown(DocumentKind::RunInfo, &to_json(&info));
    let tasks = tables(&out)
        .into_iter()
        .find(|t| t[0][0] == "Task")
        .expect("a task table");
    assert_eq!(tasks[1][0], "`lint|fmt`");
}

#[test]
fn run_info_has_fields_attributes_and_tasks() {
    let out = markdown(DocumentKind::RunInfo, &to_json(&samples::run_info()));
    for expected in [
        "### Run `web-3f2a1b9c/1700000000` — **failed**\n",
        "- **Status:** **failed** (exit-code)\n",
        "- **Started:** 2023-11-14 22:13:20 UTC\n",
        "- **Ended:** 2023-11-14 22:16:32 UTC\n",
        "- **Duration:** 3m 12s\n",
        "- **Size:** 2.3 GB\n",
        "#### Tasks (3)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let all = tables(&out);
    assert_eq!(all[0][1], ["user", "`alice`"]);
    assert_eq!(all[0][4], ["args", "`ci --jobs 4`"]);
    let tasks = &all[1];
    assert_eq!(tasks[0], ["Task", "Status", "Duration", "Exit", "Files"]);
    assert_eq!(tasks[2][..4], ["`check:db`", "**failed**", "45s", "1"]);
    assert!(tasks[1][4].contains("script target: `/home/alice/.otto/web-3f2a1b9c/.cache/9e1c.sh`"));
    assert_eq!(tasks[3][2], "--");
}

#[test]
fn usage_has_a_project_table_and_recommendations() {
    let out = markdown(DocumentKind::Usage, &to_json(&samples::usage()));
    assert!(
        out.starts_with("### Disk usage: 2.3 GB (2.4 GB on disk)\n"),
        "{out}"
    );
    let t = &tables(&out)[0];
    assert_eq!(t[0][1..3], ["Total", "On disk"]);
    assert_eq!(
        t[1],
        [
            "`web-3f2a1b9c`",
            "1.9 GB",
            "2.0 GB",
            "12",
            "1.8 GB",
            "120.0 MB",
            "2023-09-30 22:13:20 UTC"
        ]
    );
    assert!(
        out.contains("1. `web-3f2a1b9c/1699990000` — 450.0 MB\n"),
        "{out}"
    );
    assert!(out.contains("**Orphaned cache:** 12.0 MB"), "{out}");
    assert!(out.contains("- cleaning runs older than 30 days would free 812.0 MB: `otto-hooks clean --older-than 30d`\n"), "{out}");
}

#[test]
fn clean_plan_states_what_it_would_free() {
    let out = markdown(
        DocumentKind::CleanPlan,
        &to_json(&samples::clean_plan(true)),
    );
    assert!(out.starts_with("### Clean plan (dry run)\n"), "{out}");
    assert!(out.contains("#### Would delete (2)"), "{out}");
    assert!(out.contains("#### Kept (1)"), "{out}");
    assert!(out.contains("#### Refused (1)"), "{out}");
    assert!(out.ends_with("\n**Would free 500.0 MB**\n"), "{out}");
    let groups = &tables(&out)[0];
    assert_eq!(
        groups[1],
        [
            "`web-3f2a1b9c`",
            "`standard`",
            "10 (1.2 GB)",
            "2 (500.0 MB)"
        ]
    );

    let out = markdown(
        DocumentKind::CleanPlan,
        &to_json(&samples::clean_plan(false)),
    );
    assert!(out.starts_with("### Clean\n"), "{out}");
    assert!(out.ends_with("\n**Freed 450.0 MB**\n"), "{out}");
    assert!(out.contains("#### Cache: deleted 1 file (2 KB)\n"), "{out}");

    let out = markdown(
        DocumentKind::CleanPlan,
        r#"{"dry_run":true,"deleted":[],"kept":[],"refused":[],"bytes_freed":0}"#,
    );
    assert_eq!(
        out,
        "### Clean plan (dry run)\n\n_Nothing to delete._\n\n**Would free 0 B**\n"
    );

    let out = markdown(
        DocumentKind::CleanPlan,
        &to_json(&samples::history_clean(false)),
    );
    assert!(
        out.contains("#### History: deleted 2 runs and 81 events\n\n`storage.sqlite` keeps 90 days; runs that ended before 2026-08-24T00:00:00Z go.\n\n- `run_20260101_000000_aaaa`\n- `run_20260102_000000_bbbb`\n"),
        "{out}"
    );
    assert!(
        out.ends_with("\n**Freed 41 KB**\n") && !out.contains("Nothing"),
        "{out}"
    );
}

#[test]
fn run_summary_has_status_units_error_and_warnings() {
    let out = markdown(DocumentKind::RunSummary, &to_json(&samples::run_summary()));
    for expected in [
        "### Run `run_20231114_221320_ab12` — **failed** in 1h 5m\n",
        "- **Ended:** 2023-11-14 23:18:20 UTC\n",
        "- **Units:** 10 completed, 1 failed, 2 blocked\n",
        "- **Error:** unit \\`db\\` failed\n",
        "#### Warnings\n\n- reporter \\`slack\\` failed: connection refused\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn plugins_and_config_are_tables() {
    let out = markdown(DocumentKind::PluginList, &to_json(&samples::plugin_list()));
    let t = &tables(&out)[0];
    assert_eq!(t[0], ["Name", "Kind", "Version", "ABI", "Source", "State"]);
    assert_eq!(
        t[1],
        ["`table`", "reporter", "0.1.0", "1.0", "`built-in`", "ok"]
    );

    let out = markdown(DocumentKind::Config, &to_json(&samples::config()));
    assert!(
        out.contains(
            "1. `/home/alice/.otto-hooks/config.toml`\n1. `/home/alice/src/web/.otto-hooks.toml`\n"
        ),
        "{out}"
    );
    let t = &tables(&out)[0];
    assert_eq!(
        t[2],
        [
            "`retention.settings.keep_last`",
            "`10`",
            "/home/alice/.otto-hooks/config.toml:4"
        ]
    );
}

#[test]
fn an_unknown_kind_is_a_json_code_block() {
    let out = markdown(DocumentKind::Unknown, r#"{"future":1}"#);
    assert_eq!(out, "```json\n{\n  \"future\": 1\n}\n```\n");
}

#[test]
fn a_guessed_status_is_bold_with_a_question_mark() {
    let mut runs = samples::run_list();
    runs[1].status_source = Some("guess: no otto.db row".into());
    runs[1].status_guessed = true;
    let out = markdown(DocumentKind::RunList, &to_json(&runs));
    assert!(out.contains("| **failed?** |"), "{out}");
    assert!(out.contains("| **success** |"), "{out}");
    let mut info = samples::run_info();
    info.status_source = "guess: no otto.db row".into();
    info.status_guessed = true;
    let out = markdown(DocumentKind::RunInfo, &to_json(&info));
    assert!(
        out.starts_with("### Run `web-3f2a1b9c/1700000000` — **failed?**"),
        "{out}"
    );
}
