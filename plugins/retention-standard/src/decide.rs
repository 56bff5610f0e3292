//! The policy as a pure function: runs, settings and a reference time in,
//! one explained decision per run out.
//!
//! The steps, each described in the crate docs:
//!
//! 1. order the finished runs newest first;
//! 2. mark every rule that holds each run (running, pinned, last, ages,
//!    newest success/failure, calendar buckets);
//! 3. apply the budgets (`max_runs`, then `max_bytes`) to the runs the rules
//!    keep, oldest first, sparing protected runs;
//! 4. turn the marks into reasons, in a fixed order.

use std::cmp::Ordering;
use std::collections::HashSet;

use otto_hooks_plugin_api::{Decision, Run, RunStatus, Timestamp};

use crate::buckets::Period;
use crate::policy::{AgeFrom, Policy};

const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;

/// Decides for every run of one group: one decision per run of `runs`, in
/// the same order, each with every reason that applies.
///
/// A pure function of its arguments: no I/O, no clock. `now` is the
/// reference time (`RetentionInput::now`); `runs` may come in any order.
/// The policy is used as it is: check it first with
/// [`Policy::check`](crate::Policy::check) (the plugin does, when it is
/// created).
///
/// ```
/// use otto_hooks_plugin_api::{Action, Run, RunStatus, Timestamp};
/// use otto_hooks_retention_standard::{decide, Policy};
///
/// let now = Timestamp::from_secs(1_795_197_600); // 2026-11-20 18:00 UTC
/// let run = |id: &str, days_ago: i64| Run {
///     id: id.into(),
///     started_at: Timestamp::from_secs(now.secs - days_ago * 86_400),
///     status: RunStatus::Success,
///     ..Run::default()
/// };
/// let policy = Policy { keep_last: Some(1), ..Policy::default() }; // keep_days stays 30
/// let decisions = decide(&[run("old", 40), run("new", 2), run("older", 50)], &policy, now);
///
/// assert_eq!(decisions[0].action, Action::Delete);
/// assert_eq!(decisions[0].reasons, ["older than 30d"]);
/// assert_eq!(decisions[1].reasons, ["last#1", "within 30d"]);
/// assert_eq!(decisions[2].action, Action::Delete);
/// ```
pub fn decide(runs: &[Run], policy: &Policy, now: Timestamp) -> Vec<Decision> {
    let keep_days = policy.effective_keep_days();
    let keep_failed_days = policy.effective_keep_failed_days();
    let ages = Ages {
        keep_days,
        keep_failed_days,
        guess_days: guess_days(keep_days, keep_failed_days),
    };
    let reference = reference_time(runs, policy.age_from, now);

    let pinned: HashSet<&str> = policy.pinned.iter().map(String::as_str).collect();

    let mut marks = vec![Marks::default(); runs.len()];
    for (run, m) in runs.iter().zip(marks.iter_mut()) {
        m.running = run.status == RunStatus::Running;
        m.pinned = run.pinned || pinned.contains(run.id.as_str());
        m.guessed = run.status_is_guess();
        match class(run.status) {
            Class::Running => {}
            // A guess is never deleted sooner than an `unknown` run, nor
            // sooner than a failure: the longer age rule holds it.
            _ if m.guessed => m.guess_within = within(reference, run.started_at, ages.guess_days),
            Class::Good => m.within = within(reference, run.started_at, keep_days),
            Class::Failed => m.failed_within = within(reference, run.started_at, keep_failed_days),
        }
    }

    let finished: Vec<usize> = newest_first(runs)
        .into_iter()
        .filter(|&i| runs[i].status.is_finished())
        .collect();

    let keep_last = usize::try_from(policy.effective_keep_last()).unwrap_or(usize::MAX);
    for (rank, &i) in finished.iter().take(keep_last).enumerate() {
        marks[i].last = Some(rank + 1);
    }

    // The newest run of a kind whose status was recorded; only when no
    // such run exists, the newest whose status was guessed (a group whose
    // every status is a guess, say runs of an otto without otto.db).
    let newest = |wanted: fn(RunStatus) -> bool| {
        let of_kind = |guessed: bool| {
            finished
                .iter()
                .copied()
                .find(|&i| wanted(runs[i].status) && runs[i].status_is_guess() == guessed)
        };
        of_kind(false).or_else(|| of_kind(true))
    };
    if policy.keep_newest_success {
        if let Some(i) = newest(|s| s == RunStatus::Success) {
            marks[i].newest_success = true;
        }
    }
    if policy.keep_newest_failure {
        if let Some(i) = newest(|s| class(s) == Class::Failed) {
            marks[i].newest_failure = true;
        }
    }

    for (slot, (period, count)) in Period::ALL.into_iter().zip(policy.buckets()).enumerate() {
        mark_buckets(runs, &finished, period, count, |i, held| {
            marks[i].buckets[slot] = Some(held);
        });
    }

    apply_budgets(runs, policy, &finished, &mut marks);

    runs.iter()
        .zip(&marks)
        .map(|(run, m)| {
            if m.keeps() {
                Decision::keep(&run.id, m.keep_reasons(&ages))
            } else {
                Decision::delete(&run.id, vec![m.delete_reason(run.status, &ages)])
            }
        })
        .collect()
}

/// The age rules' cutoffs, in days.
#[derive(Clone, Copy, Debug)]
struct Ages {
    /// `keep_days`: success, unknown, stopped.
    keep_days: u32,
    /// `keep_failed_days`: failed, interrupted.
    keep_failed_days: u32,
    /// A guessed status: the longer of the two.
    guess_days: u32,
}

/// The age cutoff of a guessed status: the longer of `keep_days` (what an
/// `unknown` run gets) and `keep_failed_days`, so that a guess is deleted
/// neither sooner than a run nobody could judge nor sooner than the status
/// it may really have.
fn guess_days(keep_days: u32, keep_failed_days: u32) -> u32 {
    keep_days.max(keep_failed_days)
}

/// How the age rules see a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Still running: no age rule applies; always kept.
    Running,
    /// Success, unknown or stopped: `keep_days`.
    Good,
    /// Failed or interrupted: `keep_failed_days`.
    Failed,
}

fn class(status: RunStatus) -> Class {
    match status {
        RunStatus::Running => Class::Running,
        RunStatus::Failed | RunStatus::Interrupted => Class::Failed,
        RunStatus::Success | RunStatus::Unknown | RunStatus::Stopped => Class::Good,
    }
}

/// What a calendar rule did for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Held {
    /// It is the newest run of this bucket (the label).
    Bucket(String),
    /// The rule could not be met and this is the oldest run.
    Oldest,
}

/// Every rule that holds one run, and the budget that overrides them.
#[derive(Clone, Debug, Default)]
struct Marks {
    running: bool,
    pinned: bool,
    /// 1 for the newest finished run.
    last: Option<usize>,
    within: bool,
    failed_within: bool,
    /// The status is a guess (its source says so).
    guessed: bool,
    /// A guessed status, within the longer age rule.
    guess_within: bool,
    newest_success: bool,
    newest_failure: bool,
    /// Indexed like [`Period::ALL`].
    buckets: [Option<Held>; 5],
    /// The budget that deletes it despite the rules, as a reason.
    over_budget: Option<String>,
}

impl Marks {
    /// Held by a rule no budget overrides.
    fn protected(&self) -> bool {
        self.running || self.pinned || self.newest_success || self.newest_failure
    }

    /// Held by some rule (before budgets).
    fn held(&self) -> bool {
        self.protected()
            || self.last.is_some()
            || self.within
            || self.failed_within
            || self.guess_within
            || self.buckets.iter().any(Option::is_some)
    }

    /// Kept, after budgets.
    fn keeps(&self) -> bool {
        self.held() && self.over_budget.is_none()
    }

    /// Every rule that holds the run, in the documented order.
    fn keep_reasons(&self, ages: &Ages) -> Vec<String> {
        let Ages {
            keep_days,
            keep_failed_days,
            guess_days,
        } = *ages;
        let guessed = if self.guessed {
            " (status guessed)"
        } else {
            ""
        };
        let mut reasons = Vec::new();
        if self.running {
            reasons.push("running".to_owned());
        }
        if self.pinned {
            reasons.push("pinned".to_owned());
        }
        if let Some(n) = self.last {
            reasons.push(format!("last#{n}"));
        }
        if self.within {
            reasons.push(format!("within {keep_days}d"));
        }
        if self.failed_within {
            reasons.push(format!("failed within {keep_failed_days}d"));
        }
        if self.guess_within {
            reasons.push(format!("within {guess_days}d (status guessed)"));
        }
        if self.newest_success {
            reasons.push(format!("newest success{guessed}"));
        }
        if self.newest_failure {
            reasons.push(format!("newest failure{guessed}"));
        }
        for (period, held) in Period::ALL.into_iter().zip(&self.buckets) {
            match held {
                Some(Held::Bucket(label)) => reasons.push(format!("{} {label}", period.name())),
                Some(Held::Oldest) => reasons.push(format!("oldest ({})", period.name())),
                None => {}
            }
        }
        reasons
    }

    /// Why a run that is not kept goes: the budget, or the age rule that
    /// let it go.
    fn delete_reason(&self, status: RunStatus, ages: &Ages) -> String {
        let Ages {
            keep_days,
            keep_failed_days,
            guess_days,
        } = *ages;
        if let Some(budget) = &self.over_budget {
            return budget.clone();
        }
        match class(status) {
            Class::Running => "no rule keeps it".to_owned(),
            _ if self.guessed && guess_days > 0 => {
                format!("older than {guess_days}d (status guessed)")
            }
            Class::Good if keep_days > 0 => format!("older than {keep_days}d"),
            Class::Failed if keep_failed_days > 0 => {
                format!("failed, older than {keep_failed_days}d")
            }
            _ => "no rule keeps it".to_owned(),
        }
    }
}

/// The time ages are measured from.
fn reference_time(runs: &[Run], age_from: AgeFrom, now: Timestamp) -> Timestamp {
    match age_from {
        AgeFrom::Now => now,
        AgeFrom::Newest => runs
            .iter()
            .map(|r| r.started_at)
            .max()
            .map_or(now, |newest| newest.min(now)),
    }
}

/// Whether `start` is less than `days` days before `reference`, to the
/// nanosecond. A run dated after the reference is within any positive
/// number of days; nothing is within 0 days.
fn within(reference: Timestamp, start: Timestamp, days: u32) -> bool {
    let nanos = |t: Timestamp| i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
    days > 0 && nanos(reference) - nanos(start) < i128::from(days) * NANOS_PER_DAY
}

/// Indices of `runs`, newest first.
///
/// Newer means a later start; within one start time, a higher otto
/// same-second suffix (`<ts>-2` after `<ts>-1` after `<ts>`, and `-10`
/// after `-9`); then the greater id, so that the order is total.
fn newest_first(runs: &[Run]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| newer(&runs[b], &runs[a]));
    order
}

/// Compares `a` to `b` in age order: `Greater` when `a` is newer.
fn newer(a: &Run, b: &Run) -> Ordering {
    (a.started_at, same_second_suffix(&a.id), &a.id).cmp(&(
        b.started_at,
        same_second_suffix(&b.id),
        &b.id,
    ))
}

/// otto names a second run started in the same second `<ts>-1`, then
/// `<ts>-2`…: that suffix as a number. Any other id reads as 0.
fn same_second_suffix(id: &str) -> u64 {
    match id.rsplit_once('-') {
        Some((ts, n)) if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()) => {
            n.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// One calendar rule, restic's way: walking the finished runs newest first,
/// each run that starts a new bucket holds it while the rule has counts
/// left. If counts are still left at the oldest run and that run shares a
/// bucket with a newer one, it is kept too, as `oldest`.
fn mark_buckets(
    runs: &[Run],
    finished: &[usize],
    period: Period,
    count: u32,
    mut mark: impl FnMut(usize, Held),
) {
    let mut left = count;
    let mut previous: Option<String> = None;
    for (pos, &i) in finished.iter().enumerate() {
        if left == 0 {
            break;
        }
        let label = period.label(runs[i].started_at.secs);
        if previous.as_deref() != Some(label.as_str()) {
            mark(i, Held::Bucket(label.clone()));
            left -= 1;
            previous = Some(label);
        } else if pos + 1 == finished.len() {
            mark(i, Held::Oldest);
        }
    }
}

/// The budgets: after the rules, delete the oldest runs still kept until
/// the group is within `max_runs`, then within `max_bytes`, never touching
/// a protected run. Protected runs count toward both budgets.
fn apply_budgets(runs: &[Run], policy: &Policy, finished: &[usize], marks: &mut [Marks]) {
    if policy.max_runs.is_none() && policy.max_bytes.is_none() {
        return;
    }
    // Running runs are protected, so the evictable ones are all finished.
    let mut evictable = finished
        .iter()
        .rev()
        .copied()
        .filter(|&i| marks[i].held() && !marks[i].protected())
        .collect::<Vec<_>>()
        .into_iter();

    if let Some(max) = policy.max_runs {
        let kept = marks.iter().filter(|m| m.keeps()).count() as u64;
        let mut excess = kept.saturating_sub(max);
        while excess > 0 {
            let Some(i) = evictable.next() else { break };
            marks[i].over_budget = Some(format!("over max_runs {max}"));
            excess -= 1;
        }
    }

    if let Some(max) = policy.max_bytes {
        let size = |i: usize| runs[i].size_bytes.unwrap_or(0);
        let mut total = (0..runs.len())
            .filter(|&i| marks[i].keeps())
            .fold(0_u64, |sum, i| sum.saturating_add(size(i)));
        for i in evictable {
            if total <= max.0 {
                break;
            }
            // Deleting a run of no known size would free nothing.
            if size(i) == 0 {
                continue;
            }
            marks[i].over_budget = Some(format!("over max_bytes {max}"));
            total = total.saturating_sub(size(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use otto_hooks_plugin_api::Action;

    use super::*;
    use crate::policy::ByteSize;

    /// 2026-11-20 18:00 UTC.
    const NOW: i64 = 1_795_197_600;
    const DAY: i64 = 86_400;

    fn run(id: &str, secs: i64, status: RunStatus) -> Run {
        Run {
            id: id.to_owned(),
            project: "web-1a2b3c4d".to_owned(),
            started_at: Timestamp::from_secs(secs),
            status,
            ..Run::default()
        }
    }

    fn ok(id: &str, days_ago: i64) -> Run {
        run(id, NOW - days_ago * DAY, RunStatus::Success)
    }

    fn only(policy: &str) -> Policy {
        let config = otto_hooks_plugin_api::PluginConfig::from_toml("t", policy, "/tmp")
            .expect("valid TOML");
        Policy::from_config(&config).expect("valid policy")
    }

    fn verdicts(decisions: &[Decision]) -> Vec<(&str, Action, String)> {
        decisions
            .iter()
            .map(|d| (d.run_id.as_str(), d.action, d.reasons.join(", ")))
            .collect()
    }

    #[test]
    fn one_decision_per_run_in_input_order() {
        let runs = [ok("c", 3), ok("a", 1), ok("b", 2)];
        let d = decide(
            &runs,
            &only("keep_last = 2\nkeep_days = 0"),
            Timestamp::from_secs(NOW),
        );
        assert_eq!(
            verdicts(&d),
            [
                ("c", Action::Delete, "no rule keeps it".to_owned()),
                ("a", Action::Keep, "last#1".to_owned()),
                ("b", Action::Keep, "last#2".to_owned()),
            ]
        );
    }

    #[test]
    fn no_runs_no_decisions() {
        assert!(decide(&[], &Policy::default(), Timestamp::from_secs(NOW)).is_empty());
    }

    #[test]
    fn within_is_exact_to_the_nanosecond() {
        let reference = Timestamp {
            secs: NOW,
            nanos: 0,
        };
        let start = |secs: i64, nanos: u32| Timestamp { secs, nanos };
        assert!(within(reference, start(NOW - 30 * DAY, 1), 30));
        assert!(!within(reference, start(NOW - 30 * DAY, 0), 30));
        assert!(within(reference, start(NOW + 5 * DAY, 0), 1));
        assert!(!within(reference, start(NOW, 0), 0));
    }

    #[test]
    fn same_second_runs_order_by_their_numeric_suffix() {
        assert_eq!(same_second_suffix("1794902400"), 0);
        assert_eq!(same_second_suffix("1794902400-2"), 2);
        assert_eq!(same_second_suffix("1794902400-10"), 10);
        assert_eq!(same_second_suffix("run_20261117_080000_ab-3"), 0);
        assert_eq!(same_second_suffix("-3"), 0);
        let t = NOW - DAY;
        let runs = [
            run("1795111200-2", t, RunStatus::Success),
            run("1795111200-10", t, RunStatus::Success),
            run("1795111200", t, RunStatus::Success),
            run("1795111200-9", t, RunStatus::Success),
        ];
        let order: Vec<&str> = newest_first(&runs)
            .into_iter()
            .map(|i| runs[i].id.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "1795111200-10",
                "1795111200-9",
                "1795111200-2",
                "1795111200"
            ]
        );
    }

    #[test]
    fn age_from_newest_never_reaches_past_now() {
        let runs = [ok("a", 100), ok("future", -400)];
        let now = Timestamp::from_secs(NOW);
        assert_eq!(reference_time(&runs, AgeFrom::Newest, now), now);
        let runs = [ok("a", 100), ok("b", 90)];
        assert_eq!(
            reference_time(&runs, AgeFrom::Newest, now),
            Timestamp::from_secs(NOW - 90 * DAY)
        );
        assert_eq!(reference_time(&[], AgeFrom::Newest, now), now);
    }

    #[test]
    fn the_bytes_budget_skips_runs_of_unknown_size() {
        let mut runs = vec![ok("new", 1), ok("unmeasured", 2), ok("old", 3)];
        runs[0].size_bytes = Some(600);
        runs[2].size_bytes = Some(600);
        let policy = Policy {
            max_bytes: Some(ByteSize(1000)),
            ..Policy::default()
        };
        let d = decide(&runs, &policy, Timestamp::from_secs(NOW));
        assert_eq!(
            verdicts(&d),
            [
                ("new", Action::Keep, "last#1, within 30d".to_owned()),
                ("unmeasured", Action::Keep, "last#2, within 30d".to_owned()),
                ("old", Action::Delete, "over max_bytes 1 KB".to_owned()),
            ]
        );
    }

    #[test]
    fn an_unchecked_zero_budget_deletes_only_unprotected_runs() {
        // `Policy::check` refuses this; `decide` still never touches protected runs.
        let mut runs = vec![ok("a", 1), ok("b", 2), run("live", NOW, RunStatus::Running)];
        runs[1].pinned = true;
        let policy = Policy {
            max_runs: Some(0),
            ..Policy::default()
        };
        let d = decide(&runs, &policy, Timestamp::from_secs(NOW));
        assert_eq!(
            verdicts(&d),
            [
                ("a", Action::Delete, "over max_runs 0".to_owned()),
                ("b", Action::Keep, "pinned, last#2, within 30d".to_owned()),
                ("live", Action::Keep, "running".to_owned()),
            ]
        );
    }
}
