//! The `table` reporter.

use otto_hooks_plugin_api::DocumentKind;
use otto_hooks_reporters::format::local_time;

use crate::samples::{self, T0, to_json};

fn table(kind: DocumentKind, json: &str) -> String {
    crate::render("table", kind, json)
}

/// The char offset of `needle` in `line`.
fn column(line: &str, needle: &str) -> usize {
    let byte = line
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in {line:?}"));
    line[..byte].chars().count()
}

/// The char offset just past `needle` in `line`.
fn column_end(line: &str, needle: &str) -> usize {
    column(line, needle) + needle.chars().count()
}

#[test]
fn run_list_is_an_aligned_table_in_local_time() {
    let out = table(DocumentKind::RunList, &to_json(&samples::run_list()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let header = lines[0];
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ID", "TIMESTAMP", "TASKS", "STATUS", "SIZE"]
    );
    assert!(lines[1].chars().all(|c| c == '─'), "{out}");
    assert_eq!(lines[1].chars().count(), header.chars().count(), "{out}");

    let rows = &lines[2..];
    let expected = [
        ("web-3f2a1b9c/1700000000", T0, "12", "success", "45.2 MB"),
        (
            "web-3f2a1b9c/1699990000",
            T0 - 10_000,
            "3",
            "failed",
            "812 B",
        ),
        ("api-77aa/1699900000-2", T0 - 100_000, "140", "running", "-"),
    ];
    for (row, (id, ts, tasks, status, size)) in rows.iter().zip(expected) {
        let time = local_time(ts);
        assert_eq!(column(row, id), column(header, "ID"), "{out}");
        assert_eq!(column(row, &time), column(header, "TIMESTAMP"), "{out}");
        // Counts and sizes are right-aligned under their headers.
        assert_eq!(
            column_end(row, &format!(" {tasks} ")) - 1,
            column_end(header, "TASKS"),
            "{out}"
        );
        assert_eq!(column(row, status), column(header, "STATUS"), "{out}");
        assert!(row.ends_with(size), "{out}");
        assert_eq!(row.chars().count(), header.chars().count(), "{out}");
    }
}

#[test]
fn timestamps_look_like_local_date_times() {
    let out = table(DocumentKind::RunList, &to_json(&samples::run_list()));
    let time = local_time(T0);
    assert!(out.contains(&time), "{out}");
    let shape: String = time
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99 99:99:99");
}

#[test]
fn an_empty_run_list_says_so() {
    let out = table(DocumentKind::RunList, "[]");
    assert!(out.starts_with("No runs found"), "{out}");
    assert!(!out.contains("PROJECT"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn run_info_shows_the_run_then_its_tasks() {
    let out = table(DocumentKind::RunInfo, &to_json(&samples::run_info()));
    let started = local_time(T0);
    for expected in [
        "Run:      web-3f2a1b9c/1700000000\n",
        "Project:  web-3f2a1b9c\n",
        "Path:     /home/alice/.otto/web-3f2a1b9c/1700000000\n",
        "Status:   failed (exit-code)\n",
        &format!("Started:  {started}\n"),
        "Duration: 3m 12s\n",
        "Size:     2.3 GB\n",
        "User:     alice\n",
        "Cwd:      /home/alice/src/web\n",
        "Ottofile: /home/alice/src/web/otto.yml\n",
        "Args:     ci --jobs 4\n",
        "Hostname: build-01\n",
        "\nTasks (3):\n",
        "  build     success  (2.3s)\n",
        "    stdout  /home/alice/.otto/web-3f2a1b9c/1700000000/tasks/build/stdout.log\n",
        "    script  /home/alice/.otto/web-3f2a1b9c/1700000000/tasks/build/script.sh -> /home/alice/.otto/web-3f2a1b9c/.cache/9e1c.sh\n",
        "  check:db  failed    (45s)  exit 1\n",
        "    stderr  /home/alice/.otto/web-3f2a1b9c/1700000000/tasks/check:db/stderr.log\n",
        "  deploy    skipped\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The well-known attributes come before the others.
    assert!(out.find("User:") < out.find("Hostname:"), "{out}");
}

#[test]
fn usage_lists_projects_runs_cache_and_recommendations() {
    let out = table(DocumentKind::Usage, &to_json(&samples::usage()));
    for expected in [
        "Disk usage: 2.3 GB (2.4 GB on disk)\n",
        "\nBy project:\n",
        "  web-3f2a1b9c    1.9 GB    (2.0 GB on disk)  12 runs  oldest ",
        "cache 120.0 MB\n",
        "  api-77aa      445.0 MB  (450.0 MB on disk)   1 run   oldest ",
        "\nLargest runs:\n  1.  web-3f2a1b9c/1699990000  450.0 MB\n  2.  api-77aa/1699900000-2    445.0 MB\n",
        "\nOrphaned cache: 12.0 MB",
        "\nRecommendations:\n  • cleaning runs older than 30 days would free 812.0 MB\n    otto-hooks clean --older-than 30d\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(" oldest ")).collect();
    assert_eq!(
        column(lines[0], "oldest"),
        column(lines[1], "oldest"),
        "{out}"
    );
    assert_eq!(
        column(lines[0], "cache"),
        column(lines[1], "cache"),
        "{out}"
    );
}

#[test]
fn a_dry_run_plan_shows_groups_runs_with_reasons_and_what_it_would_free() {
    let out = table(
        DocumentKind::CleanPlan,
        &to_json(&samples::clean_plan(true)),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PROJECT", "POLICY", "KEEP", "DELETE"]
    );
    assert!(lines[1].chars().all(|c| c == '─'));
    assert_eq!(column(lines[2], "standard"), column(lines[0], "POLICY"));
    assert_eq!(column(lines[3], "weekday"), column(lines[0], "POLICY"));
    for expected in [
        "web-3f2a1b9c  standard  10 (1.2 GB)   2 (500.0 MB)\n",
        "api-77aa      weekday   1 (445.0 MB)  0 (0 B)\n",
        // The plan spans two projects, so runs are named with theirs.
        "\nWould delete (2):\n  web-3f2a1b9c/1690000000  450.0 MB  older than 30d, not in last 10\n  web-3f2a1b9c/1690000100   50.0 MB  status failed|interrupted\n",
        "\nKept (1):\n  api-77aa/1699900000-2  445.0 MB  running, last#1\n",
        "\nRefused (1):\n  web-3f2a1b9c/1690000200  its .lock is held by pid 4242\n",
        "\nCache: would delete 1 file (2 KB)\n  web-3f2a1b9c  9e1c.sh  2 KB\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        out.ends_with("\nWould free 500.0 MB (runs 500.0 MB, cache 2 KB)\n"),
        "{out}"
    );
}

#[test]
fn an_executed_plan_says_what_it_freed() {
    let out = table(
        DocumentKind::CleanPlan,
        &to_json(&samples::clean_plan(false)),
    );
    assert!(out.contains("\nDeleted (2):\n"), "{out}");
    assert!(out.contains("\nCache: deleted 1 file (2 KB)\n"), "{out}");
    assert!(
        out.ends_with("\nFreed 450.0 MB (runs 450.0 MB, cache 2 KB)\n"),
        "{out}"
    );
}

#[test]
fn a_plan_without_kept_runs_has_no_kept_section() {
    let mut plan = samples::clean_plan(true);
    plan.kept.clear();
    plan.cache = None;
    let out = table(DocumentKind::CleanPlan, &to_json(&plan));
    assert!(!out.contains("Kept"), "{out}");
    assert!(!out.contains("Cache"), "{out}");
    assert!(out.ends_with("\nWould free 500.0 MB\n"), "{out}");

    let empty = table(
        DocumentKind::CleanPlan,
        r#"{"dry_run":true,"deleted":[],"kept":[],"refused":[],"bytes_freed":0}"#,
    );
    assert_eq!(empty, "Nothing to delete.\nWould free 0 B\n");
}

#[test]
fn run_summary_is_one_line_plus_error_and_warnings() {
    let out = table(DocumentKind::RunSummary, &to_json(&samples::run_summary()));
    assert_eq!(
        out,
        "run run_20231114_221320_ab12 failed in 1h 5m — 10 completed, 1 failed, 2 blocked\n\
         error: unit `db` failed\n\
         warning: reporter `slack` failed: connection refused\n"
    );
    let mut quiet = samples::run_summary();
    quiet.status = otto_hooks_plugin_api::RunStatus::Success;
    quiet.duration_seconds = None;
    quiet.completed_units = None;
    quiet.failed_units = None;
    quiet.blocked_units = None;
    quiet.error = None;
    quiet.warnings.clear();
    assert_eq!(
        table(DocumentKind::RunSummary, &to_json(&quiet)),
        "run run_20231114_221320_ab12 success\n"
    );
}

#[test]
fn plugin_list_is_a_table() {
    let out = table(DocumentKind::PluginList, &to_json(&samples::plugin_list()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "KIND", "VERSION", "ABI", "SOURCE", "STATE"]
    );
    for row in &lines[2..] {
        assert_eq!(column(row, "re"), column(lines[0], "KIND"), "{out}"); // reporter / retention
    }
    assert!(lines[4].ends_with("refused: built for plugin ABI 2.0, this host supports 1.0 to 1.0"));
    assert_eq!(table(DocumentKind::PluginList, "[]"), "No plugins found.\n");
}

#[test]
fn config_lists_files_then_aligned_values_with_sources() {
    let out = table(DocumentKind::Config, &to_json(&samples::config()));
    assert!(out.starts_with(
        "Files:\n  /home/alice/.otto-hooks/config.toml\n  /home/alice/src/web/.otto-hooks.toml\n\n"
    ));
    let values: Vec<&str> = out.lines().filter(|l| l.contains(" = ")).collect();
    assert_eq!(values.len(), 3);
    assert_eq!(
        values[0],
        "retention.plugin              = \"standard\"  # default"
    );
    for line in &values {
        assert_eq!(column(line, "= "), column(values[0], "= "), "{out}");
        assert_eq!(column(line, "# "), column(values[0], "# "), "{out}");
    }
}

#[test]
fn an_unknown_kind_is_pretty_json() {
    let out = table(DocumentKind::Unknown, r#"{"future":[1,2]}"#);
    assert_eq!(out, "{\n  \"future\": [\n    1,\n    2\n  ]\n}\n");
}

#[test]
fn output_never_carries_ansi_escapes() {
    for (kind, json) in samples::all() {
        let out = table(kind, &json);
        assert!(!out.contains('\x1b'), "{kind}: {out:?}");
        assert!(
            out.lines().all(|l| l == l.trim_end()),
            "{kind}: trailing spaces in {out:?}"
        );
    }
}

#[test]
fn a_guessed_status_shows_a_question_mark_in_the_list_and_in_info() {
    let mut runs = samples::run_list();
    runs[1].status_source = Some("guess: no otto.db row; task build wrote no output".into());
    runs[1].status_guessed = true;
    // A document of an older host has no flag: the source says it.
    runs[0].status_source = Some("guess: no otto.db row; every task wrote its output".into());
    let out = table(DocumentKind::RunList, &to_json(&runs));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[2].contains(" success? "), "{out}");
    assert!(lines[3].contains(" failed? "), "{out}");
    assert!(lines[4].contains(" running "), "{out}");

    let mut info = samples::run_info();
    info.status_source = "guess: no otto.db row; task build wrote no output".into();
    info.status_guessed = true;
    let out = table(DocumentKind::RunInfo, &to_json(&info));
    assert!(
        out.contains("failed? (guess: no otto.db row; task build wrote no output)"),
        "{out}"
    );
}

#[test]
fn a_plan_names_the_otto_db_rows_that_go_and_those_whose_run_is_gone() {
    let mut plan = samples::clean_plan(true);
    plan.otto_db = vec![otto_hooks_plugin_api::report::OttoDbRows {
        path: "/home/me/.otto/otto.db".into(),
        schema_version: Some(5),
        rows: vec![otto_hooks_plugin_api::report::OttoDbRow {
            id: 17,
            project: Some("web-3f2a1b9c".into()),
            run: Some("1690000000".into()),
            run_dir: None,
            timestamp: Some(1_690_000_000),
            tasks: 3,
        }],
        orphan_rows: vec![otto_hooks_plugin_api::report::OttoDbRow {
            id: 9,
            run_dir: Some("/home/me/.otto/web-3f2a1b9c/1680000000".into()),
            tasks: 1,
            ..Default::default()
        }],
        ..Default::default()
    }];
    let out = table(DocumentKind::CleanPlan, &to_json(&plan));
    for expected in [
        "\notto.db (/home/me/.otto/otto.db): would delete 1 row with the runs\n  row 17  web-3f2a1b9c/1690000000  (3 tasks)\n",
        "1 row whose run directory is gone (--prune-rows deletes them):\n  row 9  /home/me/.otto/web-3f2a1b9c/1680000000  (1 task)\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    plan.otto_db[0].not_written = Some("its schema version 6 is not one otto-hooks knows".into());
    plan.otto_db[0].rows.clear();
    plan.otto_db[0].orphan_rows.clear();
    let out = table(DocumentKind::CleanPlan, &to_json(&plan));
    assert!(
        out.contains("otto.db (/home/me/.otto/otto.db): not written: its schema version 6"),
        "{out}"
    );
}

#[test]
fn a_run_the_hooks_recorded_is_named_by_its_id_with_its_project_beside_it() {
    let mut runs = samples::run_list();
    runs[1].id = "run_20250120_143052_a1b2".into();
    runs[1].project = "/src/web".into();
    let out = table(DocumentKind::RunList, &to_json(&runs));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "PROJECT", "TIMESTAMP", "TASKS", "STATUS", "SIZE"]
    );
    assert!(
        lines[3].starts_with("run_20250120_143052_a1b2  /src/web "),
        "{out}"
    );
    assert!(lines[2].starts_with("web-3f2a1b9c/1700000000 "), "{out}");
}

#[test]
fn usage_without_allocated_figures_shows_apparent_sizes_only() {
    let mut usage = samples::usage();
    usage.total_allocated_bytes = None;
    for p in &mut usage.projects {
        p.allocated_bytes = None;
    }
    let out = table(DocumentKind::Usage, &to_json(&usage));
    assert!(out.starts_with("Disk usage: 2.3 GB\n"), "{out}");
    assert!(!out.contains("on disk"), "{out}");
}
