//! # `standard`: the built-in otto-hooks retention plugin
//!
//! Which runs of a group (usually a project) may be deleted, and why each one
//! stays: restic's `forget` policy — keep-last, ages, calendar buckets —
//! plus Jenkins' "newest success" and "newest failure", pins, and budgets.
//!
//! The decision is a pure function of the runs of one group, the settings
//! and the reference time (`input.now`): no I/O, no clock. It is public as
//! [`decide`], so the host and tests call it directly; the plugin
//! [`Standard`] wraps it, and [`MODULE`] declares the plugin for the host,
//! which calls it through the ABI like any other plugin. Deleting is the
//! host's job.
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `keep_days` | `30` | successful, unknown and stopped runs younger than this many days are kept |
//! | `keep_failed_days` | `keep_days` | failed and interrupted runs younger than this many days are kept (a *guessed* status gets the longer of the two) |
//! | `keep_last` | `10` | the N newest *finished* runs are kept, whatever their age or status |
//! | `keep_hourly` | off | the newest run of each of the N most recent UTC hours that have runs |
//! | `keep_daily` | off | … of each of the N most recent UTC days that have runs |
//! | `keep_weekly` | off | … of each of the N most recent ISO weeks (Monday to Sunday, UTC) that have runs |
//! | `keep_monthly` | off | … of each of the N most recent months that have runs |
//! | `keep_yearly` | off | … of each of the N most recent years that have runs |
//! | `keep_newest_success` | `false` | keep the newest run whose status is `success` |
//! | `keep_newest_failure` | `false` | keep the newest run whose status is `failed` or `interrupted` |
//! | `pinned` | `[]` | run ids to keep, besides runs storage reports as pinned (otto: a `.keep` file) |
//! | `max_runs` | none | at most this many runs stay (see [Budgets](#budgets)); at least 1 |
//! | `max_bytes` | none | at most this many bytes stay: `1000000000`, `"10 GB"`, `"512 MiB"`; at least 1 |
//! | `age_from` | `"now"` | ages count from `"now"` (the host's reference time) or from the group's `"newest"` run |
//!
//! **Defaults.** `keep_days = 30` and `keep_last = 10` each apply whenever
//! that key is unset, whatever else is configured; set one to `0` to turn
//! it off. `keep_failed_days` follows the effective `keep_days` unless set.
//! Every other rule is off unless set. So an empty table keeps 30 days and
//! the last 10 runs, and `keep_days = 30` alone (what `clean --keep 30`
//! asks for) deletes exactly the runs older than 30 days that the last 10
//! and pins don't hold.
//!
//! **Refused**, each with one line naming the key: an unknown key; a
//! negative, fractional or mistyped value; an `age_from` other than `now`
//! or `newest`; `max_runs = 0` or `max_bytes = 0`; an empty id in
//! `pinned`; and a policy with every keep rule off (`keep_days = 0`,
//! `keep_last = 0`, no calendar, newest or `keep_failed_days` rule), which
//! would delete every run that is not pinned or running.
//!
//! ## The policy, precisely
//!
//! **Order.** A run is newer than another when it started later; within one
//! start time, when otto's same-second suffix is higher (`<ts>-2` is newer
//! than `<ts>-1`, which is newer than `<ts>`, and `-10` is newer than
//! `-9`); then when its id is greater. The order is total, so "the newest"
//! is always one run.
//!
//! **Statuses.** `running` runs are always kept and take part in no other
//! rule: they do not count toward `keep_last`, calendar buckets or the
//! newest rules, and no age rule applies to them. `failed` and
//! `interrupted` runs are *failures*: `keep_failed_days` applies to them
//! and `keep_newest_failure` picks among them. `success`, `unknown` and
//! `stopped` runs are governed by `keep_days`; only `success` counts for
//! `keep_newest_success` (a run whose status nobody could decide is not a
//! known good run). Every finished run (all but `running`), failures
//! included, counts for `keep_last` and the calendar buckets.
//!
//! **Guesses.** A status whose source marks it a guess
//! ([`Run::status_is_guess`](otto_hooks_plugin_api::Run::status_is_guess):
//! the source starts with `guess: `, e.g. a run without an otto.db row
//! judged by its task files) is never deleted sooner than an `unknown` run:
//! whatever its status, the age rule that applies is the longer of
//! `keep_days` and `keep_failed_days` (`within 30d (status guessed)`). The
//! newest rules pick the newest run whose status was recorded, and only
//! when the group has none of that kind, the newest guessed one (`newest
//! failure (status guessed)`).
//!
//! **Ages.** A run is *within N days* when `reference - started_at <
//! N × 86,400` seconds, to the nanosecond. The reference is `now`, or with
//! `age_from = "newest"` the start of the group's newest run (running runs
//! included) — or `now` if that start is later than `now`, so that neither
//! a stalled orchestrator nor a run dated in the future can age every run
//! out. A run dated after the reference is within any positive number of
//! days.
//!
//! **Calendar buckets**, restic's way: natural UTC boundaries (hour; day from
//! 00:00; ISO 8601 week from Monday 00:00, numbered so that 2027-01-01 is in
//! `2026-W53`; month; year). Walking the finished runs newest first, each
//! run that starts a new bucket holds it while the rule has counts left, so
//! a rule keeps the newest run of each of the N most recent buckets that
//! *have* runs (gaps don't count). When the rule cannot be met (fewer
//! buckets than N), the group's oldest finished run is kept too — labelled
//! `oldest (daily)` when it shares its bucket with a newer run that holds
//! it, and simply as its bucket's holder otherwise.
//!
//! **A run is kept** when any rule holds it, and its decision lists every
//! rule that does, in this order:
//!
//! | reason | when |
//! |---|---|
//! | `running` | its status is `running` |
//! | `pinned` | storage reports it pinned, or its id is in `pinned` |
//! | `last#3` | it is the 3rd newest finished run and `keep_last ≥ 3` |
//! | `within 30d` | success, unknown or stopped, within `keep_days` (here 30) |
//! | `failed within 7d` | failed or interrupted, within `keep_failed_days` (here 7) |
//! | `within 30d (status guessed)` | a guessed status, within the longer of `keep_days` and `keep_failed_days` (here 30) |
//! | `newest success` | `keep_newest_success` and it is the newest `success` run whose status was recorded (`newest success (status guessed)`: the newest guessed one, when there is none) |
//! | `newest failure` | `keep_newest_failure` and it is the newest failed or interrupted run whose status was recorded (`newest failure (status guessed)`: likewise) |
//! | `hourly 2026-11-01T14` / `oldest (hourly)` | `keep_hourly` holds it |
//! | `daily 2026-11-01` / `oldest (daily)` | `keep_daily` holds it |
//! | `weekly 2026-W44` / `oldest (weekly)` | `keep_weekly` holds it |
//! | `monthly 2026-11` / `oldest (monthly)` | `keep_monthly` holds it |
//! | `yearly 2026` / `oldest (yearly)` | `keep_yearly` holds it |
//!
//! **A run is deleted** otherwise, with exactly one reason:
//!
//! | reason | when |
//! |---|---|
//! | `over max_runs 50` | the rules held it, but `max_runs` (here 50) removed it |
//! | `over max_bytes 1.0 GB` | the rules held it, but `max_bytes` removed it (the budget shown in 1000-based units, as the host prints sizes) |
//! | `older than 30d` | success, unknown or stopped, not within `keep_days` (here 30), and no other rule holds it |
//! | `failed, older than 7d` | failed or interrupted, not within `keep_failed_days` (here 7), and no other rule holds it |
//! | `older than 30d (status guessed)` | a guessed status, not within the longer of `keep_days` and `keep_failed_days` (here 30), and no other rule holds it |
//! | `no rule keeps it` | the age rule for its status is off (`0`) and no other rule holds it |
//!
//! Ages in reasons are measured from the reference time, so with
//! `age_from = "newest"` `older than 30d` means 30 days older than the
//! group's newest run.
//!
//! ## Budgets
//!
//! `max_runs` and `max_bytes` apply after the rules, to the runs the rules
//! keep. They override `keep_last`, the age rules and the calendar rules
//! (including `oldest (…)`), but never `running`, `pinned`, `newest
//! success` or `newest failure`: a run held by any of those four is
//! *protected*.
//!
//! 1. `max_runs`: while more than `max_runs` runs are kept, the oldest kept
//!    run that is not protected is deleted (`over max_runs N`). Protected
//!    runs count toward the budget, so they use it up first; when they
//!    alone exceed it, every unprotected run goes and the protected ones
//!    stay.
//! 2. `max_bytes`, on what `max_runs` left: while the sizes of the kept runs
//!    add up to more than `max_bytes`, the oldest kept run that is not
//!    protected is deleted (`over max_bytes …`). Protected runs count toward
//!    the total. A run whose size is unknown counts as 0 bytes and is
//!    skipped, as is a run of 0 bytes: deleting it would free nothing.
//!
//! A budget never deletes a run the rules would delete anyway, so each
//! deleted run has one reason: the budget that removed it, or its age.
//!
//! ## Golden files
//!
//! The policy is specified by the cases in `tests/golden/NN_name.json`:
//! a reference time, a policy, runs, and the expected decisions with their
//! reasons. `tests/golden.rs` runs each case through [`decide`] and through
//! the ABI, and compares. After an intended change of behaviour,
//! `UPDATE_GOLDEN=1 cargo test -p otto-hooks-retention-standard --test
//! golden` rewrites every `expected` from what the code now decides; read
//! the diff and check each changed decision against the rules above before
//! committing it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buckets;
mod decide;
mod policy;

use otto_hooks_plugin_api::{
    Decision, Plugin, PluginConfig, PluginError, Retention, RetentionInput,
};

pub use decide::decide;
pub use policy::{AgeFrom, ByteSize, DEFAULT_KEEP_DAYS, DEFAULT_KEEP_LAST, Policy};

otto_hooks_plugin_api::plugin_module! {
    /// The plugins of this crate: the `standard` retention plugin.
    pub static MODULE = [retention(Standard)];
}

/// The `standard` retention plugin: one instance per configuration entry,
/// holding its checked [`Policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standard {
    policy: Policy,
}

impl Standard {
    /// An instance with `policy`, checked as [`Plugin::new`] checks settings.
    pub fn with_policy(policy: Policy) -> Result<Self, PluginError> {
        policy.check().map_err(PluginError::invalid)?;
        Ok(Standard { policy })
    }

    /// The instance's settings, as configured (defaults not filled in).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl Plugin for Standard {
    const NAME: &'static str = "standard";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Keeps the last 10 runs and 30 days by default; keep_last, ages, hourly to yearly buckets, newest success/failure, pins, max_runs/max_bytes";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(Standard {
            policy: Policy::from_config(config)?,
        })
    }
}

impl Retention for Standard {
    fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, PluginError> {
        Ok(decide(input.runs, &self.policy, input.now))
    }
}
