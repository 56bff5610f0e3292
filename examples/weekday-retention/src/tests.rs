//! The policy, as specifications. "Now" is Friday 2026-11-20 18:00 UTC, so
//! the default 8-week window is Sat 2026-09-26 ..= Fri 2026-11-20.

use otto_hooks_plugin_api::{
    Action, Decision, ErrorKind, Plugin, PluginConfig, PluginError, Retention, RetentionInput, Run,
    RunStatus, Timestamp,
};

use super::Weekday;

const PROJECT: &str = "web-1a2b3c4d";

/// Epoch seconds of `"YYYY-MM-DD HH:MM"` UTC (Hinnant's `days_from_civil`).
fn secs(when: &str) -> i64 {
    let (date, time) = when.split_once(' ').unwrap();
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        ymd.next().unwrap(),
        ymd.next().unwrap(),
        ymd.next().unwrap(),
    );
    let (hh, mm) = time.split_once(':').unwrap();
    let (hh, mm): (i64, i64) = (hh.parse().unwrap(), mm.parse().unwrap());
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60
}

fn now() -> Timestamp {
    Timestamp::from_secs(secs("2026-11-20 18:00"))
}

/// A finished otto run started at `when`, named like otto names it: `<ts>`.
fn run(when: &str) -> Run {
    let started = secs(when);
    Run {
        id: started.to_string(),
        project: PROJECT.to_owned(),
        started_at: Timestamp::from_secs(started),
        ended_at: Some(Timestamp::from_secs(started + 240)),
        status: RunStatus::Success,
        task_count: 3,
        location: format!("/home/dev/.otto/{PROJECT}/{started}"),
        ..Run::default()
    }
}

fn with_id(mut run: Run, id: &str) -> Run {
    run.id = id.to_owned();
    run
}

fn pinned(mut run: Run) -> Run {
    run.pinned = true;
    run
}

fn running(mut run: Run) -> Run {
    run.status = RunStatus::Running;
    run.ended_at = None;
    run
}

fn plugin(settings: &str) -> Result<Weekday, PluginError> {
    let config = PluginConfig::from_toml("retention.weekday", settings, "/tmp/otto-hooks")?;
    Weekday::new(&config)
}

fn decide_at(settings: &str, now: Timestamp, runs: &[Run]) -> Vec<Decision> {
    let input = RetentionInput {
        group: PROJECT,
        now,
        runs,
    };
    plugin(settings).unwrap().decide(&input).unwrap()
}

fn decide(settings: &str, runs: &[Run]) -> Vec<Decision> {
    decide_at(settings, now(), runs)
}

/// The decision for `run`, as (action, reasons).
fn verdict<'a>(decisions: &'a [Decision], run: &Run) -> (Action, Vec<&'a str>) {
    let found: Vec<_> = decisions.iter().filter(|d| d.run_id == run.id).collect();
    assert_eq!(found.len(), 1, "exactly one decision for {}", run.id);
    (
        found[0].action,
        found[0].reasons.iter().map(String::as_str).collect(),
    )
}

fn refusal(settings: &str) -> PluginError {
    plugin(settings).unwrap_err()
}

// --- the weekday rule ------------------------------------------------------

#[test]
fn the_newest_run_of_a_day_is_kept_and_the_older_runs_of_that_day_are_deleted() {
    let morning = run("2026-11-17 08:15");
    let noon = run("2026-11-17 12:40");
    let evening = run("2026-11-17 19:05");
    let d = decide("", &[noon.clone(), evening.clone(), morning.clone()]);

    assert_eq!(
        verdict(&d, &evening),
        (Action::Keep, vec!["weekday Tue 2026-11-17"])
    );
    for older in [&morning, &noon] {
        assert_eq!(
            verdict(&d, older),
            (Action::Delete, vec!["not the newest of Tue 2026-11-17"])
        );
    }
}

#[test]
fn each_day_of_the_window_keeps_its_own_newest_run() {
    let runs = [
        run("2026-11-16 09:00"),
        run("2026-11-16 17:00"),
        run("2026-11-17 09:00"),
        run("2026-11-18 09:00"),
        run("2026-11-18 10:00"),
    ];
    let d = decide("", &runs);
    let kept: Vec<_> = d
        .iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| d.reasons.join(", "))
        .collect();
    assert_eq!(
        kept,
        [
            "weekday Mon 2026-11-16",
            "weekday Tue 2026-11-17",
            "weekday Wed 2026-11-18"
        ]
    );
}

#[test]
fn runs_started_in_the_same_second_keep_the_highest_otto_suffix() {
    // otto names same-second runs <ts>, <ts>-1, <ts>-2 …; -10 is newer than -9.
    let base = run("2026-11-19 14:00");
    let ts = base.id.clone();
    let runs: Vec<Run> = ["", "-1", "-9", "-10"]
        .iter()
        .map(|suffix| with_id(base.clone(), &format!("{ts}{suffix}")))
        .collect();
    let d = decide("", &runs);

    assert_eq!(
        verdict(&d, &runs[3]),
        (Action::Keep, vec!["weekday Thu 2026-11-19"])
    );
    for run in &runs[..3] {
        assert_eq!(verdict(&d, run).0, Action::Delete, "{}", run.id);
    }
}

#[test]
fn failed_runs_hold_their_day_like_any_finished_run() {
    let ok = run("2026-11-19 08:00");
    let mut failed = run("2026-11-19 16:00");
    failed.status = RunStatus::Failed;
    let d = decide("", &[ok.clone(), failed.clone()]);
    assert_eq!(
        verdict(&d, &failed),
        (Action::Keep, vec!["weekday Thu 2026-11-19"])
    );
    assert_eq!(verdict(&d, &ok).0, Action::Delete);
}

// --- the window ------------------------------------------------------------

#[test]
fn the_default_window_is_eight_weeks_of_days_ending_today() {
    let first_day = run("2026-09-26 23:00"); // Sat, 55 days before today
    let day_before = run("2026-09-25 23:00"); // Fri, 56 days before today
    let today = run("2026-11-20 07:30");
    let d = decide("", &[first_day.clone(), day_before.clone(), today.clone()]);

    assert_eq!(
        verdict(&d, &first_day),
        (Action::Keep, vec!["weekday Sat 2026-09-26"])
    );
    assert_eq!(
        verdict(&d, &today),
        (Action::Keep, vec!["weekday Fri 2026-11-20"])
    );
    assert_eq!(
        verdict(&d, &day_before),
        (Action::Delete, vec!["older than 8 weeks"])
    );
}

#[test]
fn days_beyond_a_shorter_window_are_deleted() {
    let inside = run("2026-11-14 10:00"); // Sat, 6 days ago
    let outside = run("2026-11-13 10:00"); // Fri, 7 days ago
    let long_ago = run("2026-03-02 10:00");
    let d = decide(
        "weeks = 1",
        &[inside.clone(), outside.clone(), long_ago.clone()],
    );

    assert_eq!(
        verdict(&d, &inside),
        (Action::Keep, vec!["weekday Sat 2026-11-14"])
    );
    assert_eq!(
        verdict(&d, &outside),
        (Action::Delete, vec!["older than 1 week"])
    );
    assert_eq!(
        verdict(&d, &long_ago),
        (Action::Delete, vec!["older than 1 week"])
    );
}

#[test]
fn the_window_is_measured_from_input_now_not_from_a_clock() {
    let runs = [run("2026-11-17 09:00"), run("2026-11-18 09:00")];
    let eight_weeks_later = Timestamp::from_secs(now().secs + 56 * 86_400);
    let d = decide_at("", eight_weeks_later, &runs);
    assert!(
        d.iter()
            .all(|d| d.action == Action::Delete && d.reasons == ["older than 8 weeks"]),
        "{d:?}"
    );
}

#[test]
fn a_run_dated_after_now_counts_as_recent() {
    // Clock skew between machines: never delete a run for being in the future.
    let tomorrow = run("2026-11-21 09:00");
    let d = decide("", std::slice::from_ref(&tomorrow));
    assert_eq!(
        verdict(&d, &tomorrow),
        (Action::Keep, vec!["weekday Sat 2026-11-21"])
    );
}

#[test]
fn a_utc_offset_moves_the_day_boundary() {
    // 23:30 UTC on Tuesday is 00:30 Wednesday in UTC+1: a different day.
    let tue_late = run("2026-11-17 23:30");
    let tue_noon = run("2026-11-17 12:00");
    let runs = [tue_noon.clone(), tue_late.clone()];

    let utc = decide("", &runs);
    assert_eq!(verdict(&utc, &tue_late).0, Action::Keep);
    assert_eq!(verdict(&utc, &tue_noon).0, Action::Delete);

    let cet = decide("utc_offset_hours = 1", &runs);
    assert_eq!(
        verdict(&cet, &tue_late),
        (Action::Keep, vec!["weekday Wed 2026-11-18"])
    );
    assert_eq!(
        verdict(&cet, &tue_noon),
        (Action::Keep, vec!["weekday Tue 2026-11-17"])
    );
}

// --- the weekdays filter -----------------------------------------------------

#[test]
fn only_the_selected_weekdays_are_kept() {
    let sat = run("2026-11-14 11:00");
    let sun = run("2026-11-15 11:00");
    let mon = run("2026-11-16 11:00");
    let fri = run("2026-11-13 11:00");
    let d = decide(
        r#"weekdays = ["mon", "tue", "wed", "thu", "fri"]"#,
        &[sat.clone(), sun.clone(), mon.clone(), fri.clone()],
    );

    assert_eq!(
        verdict(&d, &mon),
        (Action::Keep, vec!["weekday Mon 2026-11-16"])
    );
    assert_eq!(
        verdict(&d, &fri),
        (Action::Keep, vec!["weekday Fri 2026-11-13"])
    );
    assert_eq!(
        verdict(&d, &sat),
        (Action::Delete, vec!["Sat not in weekdays"])
    );
    assert_eq!(
        verdict(&d, &sun),
        (Action::Delete, vec!["Sun not in weekdays"])
    );
}

#[test]
fn weekday_names_may_be_long_and_in_any_case() {
    let mon = run("2026-11-16 11:00");
    let tue = run("2026-11-17 11:00");
    let d = decide(r#"weekdays = ["Monday"]"#, &[mon.clone(), tue.clone()]);
    assert_eq!(verdict(&d, &mon).0, Action::Keep);
    assert_eq!(
        verdict(&d, &tue),
        (Action::Delete, vec!["Tue not in weekdays"])
    );
}

// --- pins and running runs ---------------------------------------------------

#[test]
fn pinned_runs_are_kept_even_when_older_than_the_window() {
    let release = pinned(run("2026-03-02 10:00"));
    let superseded = pinned(run("2026-11-17 08:00"));
    let newest = run("2026-11-17 20:00");
    let weekend = pinned(run("2026-11-15 10:00"));
    let d = decide(
        r#"weekdays = ["mon", "tue", "wed", "thu", "fri"]"#,
        &[
            release.clone(),
            superseded.clone(),
            newest.clone(),
            weekend.clone(),
        ],
    );

    assert_eq!(verdict(&d, &release), (Action::Keep, vec!["pinned"]));
    assert_eq!(verdict(&d, &superseded), (Action::Keep, vec!["pinned"]));
    assert_eq!(verdict(&d, &weekend), (Action::Keep, vec!["pinned"]));
    assert_eq!(
        verdict(&d, &newest),
        (Action::Keep, vec!["weekday Tue 2026-11-17"])
    );
}

#[test]
fn running_runs_are_kept_and_do_not_take_their_days_slot() {
    let finished = run("2026-11-20 09:00");
    let live = running(run("2026-11-20 17:55"));
    let stale = running(run("2026-01-05 10:00")); // the host decides liveness, not us
    let d = decide("", &[finished.clone(), live.clone(), stale.clone()]);

    assert_eq!(verdict(&d, &live), (Action::Keep, vec!["running"]));
    assert_eq!(verdict(&d, &stale), (Action::Keep, vec!["running"]));
    // The day stays with its last finished run, in case the live one dies.
    assert_eq!(
        verdict(&d, &finished),
        (Action::Keep, vec!["weekday Fri 2026-11-20"])
    );
}

#[test]
fn a_run_that_matches_several_rules_lists_every_reason() {
    let pinned_newest = pinned(run("2026-11-18 21:00"));
    let older_same_day = run("2026-11-18 07:00");
    let pinned_live = pinned(running(run("2026-11-20 17:50")));
    let d = decide(
        "",
        &[
            older_same_day.clone(),
            pinned_newest.clone(),
            pinned_live.clone(),
        ],
    );

    assert_eq!(
        verdict(&d, &pinned_newest),
        (Action::Keep, vec!["weekday Wed 2026-11-18", "pinned"])
    );
    assert_eq!(
        verdict(&d, &pinned_live),
        (Action::Keep, vec!["pinned", "running"])
    );
    assert_eq!(
        verdict(&d, &older_same_day),
        (Action::Delete, vec!["not the newest of Wed 2026-11-18"])
    );
}

// --- the shape of the output -------------------------------------------------

#[test]
fn empty_input_gives_empty_output() {
    assert_eq!(decide("", &[]), Vec::<Decision>::new());
}

#[test]
fn there_is_one_decision_per_run_in_input_order() {
    let runs = [
        run("2026-11-18 09:00"),
        run("2026-02-01 09:00"),
        run("2026-11-18 10:00"),
        pinned(run("2026-05-01 09:00")),
        run("2026-11-19 09:00"),
    ];
    let d = decide("", &runs);
    let ids: Vec<_> = d.iter().map(|d| d.run_id.as_str()).collect();
    let expected: Vec<_> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    assert!(d.iter().all(|d| !d.reasons.is_empty()));
}

#[test]
fn the_same_input_gives_the_same_decisions() {
    let runs = [
        run("2026-11-18 09:00"),
        run("2026-11-18 10:00"),
        run("2026-10-01 09:00"),
    ];
    assert_eq!(decide("", &runs), decide("", &runs));
}

// --- settings ----------------------------------------------------------------

#[test]
fn defaults_are_eight_weeks_and_every_day() {
    assert_eq!(
        plugin("").unwrap(),
        plugin(
            r#"weeks = 8
           weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
           utc_offset_hours = 0"#
        )
        .unwrap()
    );
}

#[test]
fn an_unknown_setting_key_is_refused_naming_it() {
    let err = refusal("weeks = 8\nkeep_weekends = true");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("keep_weekends"), "{}", err.message);
    assert!(err.message.contains("retention.weekday"), "{}", err.message);
    assert!(!err.message.contains('\n'));
}

#[test]
fn an_unknown_weekday_is_refused_naming_it() {
    let err = refusal(r#"weekdays = ["mon", "funday"]"#);
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("`funday`"), "{}", err.message);
    assert!(err.message.contains("weekdays"), "{}", err.message);
}

#[test]
fn an_empty_weekday_list_is_refused() {
    let err = refusal("weekdays = []");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("`weekdays` is empty"),
        "{}",
        err.message
    );
}

#[test]
fn zero_weeks_is_refused() {
    let err = refusal("weeks = 0");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("`weeks`"), "{}", err.message);
}

#[test]
fn a_setting_of_the_wrong_type_is_refused_quoting_the_value() {
    // PluginConfig::parse does not name the key for type errors (toml's
    // `try_into` loses the path), but it quotes the value and the instance.
    let err = refusal(r#"weeks = "eight""#);
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("\"eight\""), "{}", err.message);
    assert!(err.message.contains("retention.weekday"), "{}", err.message);
}

#[test]
fn utc_offsets_are_whole_quarter_hours_within_range() {
    for ok in [
        "utc_offset_hours = -8",
        "utc_offset_hours = 5.5",
        "utc_offset_hours = 5.75",
    ] {
        assert!(plugin(ok).is_ok(), "{ok}");
    }
    for bad in [
        "utc_offset_hours = 15",
        "utc_offset_hours = -13",
        "utc_offset_hours = 1.1",
        "utc_offset_hours = nan",
    ] {
        let err = refusal(bad);
        assert_eq!(err.kind, ErrorKind::Invalid, "{bad}");
        assert!(
            err.message.contains("utc_offset_hours"),
            "{bad}: {}",
            err.message
        );
    }
}

#[test]
fn the_plugin_is_named_weekday() {
    assert_eq!(Weekday::NAME, "weekday");
    assert_eq!(Weekday::VERSION, env!("CARGO_PKG_VERSION"));
    assert!(!Weekday::DESCRIPTION.is_empty());
}
