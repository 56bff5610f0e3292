#![allow(clippy::unwrap_used)]

use std::io::Write;

use super::*;

fn run(target: &str) -> Subject {
    Subject {
        kind: Some(Kind::OttoRun),
        project: Some("web-6b20a2e4".into()),
        target: target.into(),
        path: Some(format!("/o/web-6b20a2e4/{target}")),
        rule: Some("retention.standard".into()),
        reasons: vec!["older than 30 days".into()],
        bytes: Some(100),
    }
}

#[test]
fn an_intent_and_its_outcome_read_back_as_one_deletion_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(tmp.path()).unwrap();
    let a = log.intent(&run("1700000000")).unwrap();
    log.outcome(Some(&a), &run("1700000000"), Outcome::Deleted, None)
        .unwrap();
    let b = log.intent(&run("1700000001")).unwrap();
    log.outcome(Some(&b), &run("1700000001"), Outcome::Failed, Some("boom"))
        .unwrap();
    log.outcome(None, &run("1700000002"), Outcome::Held, None)
        .unwrap();
    log.finish().unwrap();
    let report = read(tmp.path(), &AuditQuery::default()).unwrap();
    let seen: Vec<(&str, Outcome, bool)> = report
        .entries
        .iter()
        .map(|e| (e.target.as_str(), e.outcome, e.intent))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("1700000002", Outcome::Held, false),
            ("1700000001", Outcome::Failed, true),
            ("1700000000", Outcome::Deleted, true),
        ]
    );
    assert_eq!(report.entries[1].error.as_deref(), Some("boom"));
    assert_eq!(report.skipped_lines, 0);
    let mode = std::fs::metadata(tmp.path().join(AUDIT_LOG)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
}

#[test]
fn an_intent_without_an_outcome_reads_as_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(tmp.path()).unwrap();
    log.intent(&run("1700000000")).unwrap();
    drop(log); // a crash: no outcome, no finish
    let report = read(tmp.path(), &AuditQuery::default()).unwrap();
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.entries[0].outcome, Outcome::Interrupted);
}

#[test]
fn a_torn_last_line_is_skipped_with_a_warning_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(tmp.path()).unwrap();
    log.outcome(None, &run("1700000000"), Outcome::Deleted, None)
        .unwrap();
    log.finish().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join(AUDIT_LOG))
        .unwrap();
    file.write_all(br#"{"v":1,"phase":"intent","id":"9-1","timest"#)
        .unwrap();
    let report = read(tmp.path(), &AuditQuery::default()).unwrap();
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.skipped_lines, 1);
    assert!(
        report.warnings[0].contains("torn last line"),
        "{:?}",
        report.warnings
    );
}

#[test]
fn the_log_rotates_by_size_keeps_n_files_and_the_reader_reads_them_all() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 1,
        keep: 2,
    };
    for i in 0..4 {
        let mut log = AuditLog::open_with(tmp.path(), limits).unwrap();
        log.outcome(None, &run(&format!("170000000{i}")), Outcome::Deleted, None)
            .unwrap();
        log.finish().unwrap();
    }
    // 4 commands, each rotating the previous one's file: audit.log, .1, .2.
    assert!(tmp.path().join("audit.log.2").exists());
    assert!(!tmp.path().join("audit.log.3").exists());
    let report = read(tmp.path(), &AuditQuery::default()).unwrap();
    let targets: Vec<&str> = report.entries.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, vec!["1700000003", "1700000002", "1700000001"]);
    assert_eq!(report.files.len(), 3);
}

#[test]
fn a_failed_write_breaks_the_log_and_every_later_intent_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(AUDIT_LOG);
    std::fs::write(&path, "").unwrap();
    // A descriptor that cannot write: every write fails with EBADF.
    let read_only = std::fs::File::open(&path).unwrap();
    let mut log = AuditLog::from_file(read_only, path);
    let e = log.intent(&run("1700000000")).unwrap_err();
    assert!(e.contains("cannot write"), "{e}");
    assert!(log.broken().is_some());
    let again = log.intent(&run("1700000001")).unwrap_err();
    assert!(again.contains("nothing more is deleted"), "{again}");
}

#[test]
fn a_planted_symlink_or_directory_as_the_log_is_refused_and_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("bashrc");
    std::fs::write(&target, "precious").unwrap();
    std::os::unix::fs::symlink(&target, tmp.path().join(AUDIT_LOG)).unwrap();
    let e = AuditLog::open(tmp.path()).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(read(tmp.path(), &AuditQuery::default()).is_err());

    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join(AUDIT_LOG)).unwrap();
    assert!(AuditLog::open(other.path()).is_err());
}

#[test]
fn since_and_project_filter_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(tmp.path()).unwrap();
    log.outcome(None, &run("1700000000"), Outcome::Deleted, None)
        .unwrap();
    let mut other = run("1700000001");
    other.project = Some("fabc-0badc0de".into());
    log.outcome(None, &other, Outcome::Deleted, None).unwrap();
    log.finish().unwrap();
    let only = |project: &str| {
        read(
            tmp.path(),
            &AuditQuery {
                since: None,
                project: Some(project.into()),
            },
        )
        .unwrap()
        .entries
        .len()
    };
    assert_eq!(only("web"), 1);
    assert_eq!(only("6b20a2e4"), 1);
    assert_eq!(only("web-6b20a2e4"), 1);
    assert_eq!(only("abc"), 0, "never a substring");
    let future = read(
        tmp.path(),
        &AuditQuery {
            since: Some(i64::MAX),
            project: None,
        },
    )
    .unwrap();
    assert!(future.entries.is_empty());
}

#[test]
fn a_clean_whose_audit_writes_fail_deletes_no_run() {
    use crate::policy::{Group, Plan, PlannedDecision};
    use otto_hooks_fixture::otto_home::{OttoHome, TaskSpec};
    use otto_hooks_plugin_api::{Action, Run};

    let tmp = tempfile::tempdir().unwrap();
    let home = OttoHome::new(tmp.path().join("otto"));
    let web = home.project("web", "/src/web");
    let runs: Vec<_> = (0..3)
        .map(|i| {
            web.run(1_700_000_000 + i)
                .task("build", TaskSpec::ok())
                .write()
        })
        .collect();
    let decisions = runs
        .iter()
        .map(|r| PlannedDecision {
            run: Run {
                id: r.id.clone(),
                project: web.dir_name(),
                location: r.dir.display().to_string(),
                ..Run::default()
            },
            action: Action::Delete,
            reasons: vec!["old".into()],
        })
        .collect();
    let plan = Plan {
        groups: vec![Group {
            project: web.dir_name(),
            policy: Some("retention.standard".into()),
            decisions,
            refused: None,
            hold: None,
        }],
        warnings: Vec::new(),
    };
    let hooks = tmp.path().join("hooks");
    let lock = crate::fsops::lock_clean(&hooks).unwrap();
    // The log opened, then every write fails (a descriptor that cannot
    // write): the first intent fails, so nothing may go.
    let path = hooks.join(AUDIT_LOG);
    std::fs::write(&path, "").unwrap();
    let mut log = AuditLog::from_file(std::fs::File::open(&path).unwrap(), path);
    let done = crate::policy::execute_audited(
        &plan,
        &lock,
        &crate::policy::RowOptions::default(),
        Some(&mut log),
        |_, _| {},
    )
    .unwrap();
    assert!(done.document.deleted.is_empty(), "{:?}", done.document);
    assert_eq!(done.document.refused.len(), 3);
    assert!(
        done.document.refused[0].error.contains("no audit record"),
        "{:?}",
        done.document.refused
    );
    for r in &runs {
        assert!(r.dir.join("run.yaml").exists(), "{} was touched", r.id);
    }
}
