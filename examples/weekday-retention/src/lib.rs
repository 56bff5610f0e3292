//! # `weekday`: an example otto-hooks retention plugin
//!
//! The policy a team would write: *keep the newest run of each weekday for
//! eight weeks, plus any run with a `.keep` marker.* It is built as a
//! `cdylib` against `otto-hooks-plugin-api` only, and loaded by otto-hooks
//! at run time (see the crate's `README.md` for the walk-through).
//!
//! ## Settings
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `weeks` | `8` | how many weeks of days to keep a run for (at least 1) |
//! | `weekdays` | all seven | which days count: `["mon", "tue", "wed", "thu", "fri"]`; `mon` or `monday`, any case |
//! | `utc_offset_hours` | `0` | a fixed offset for where a day starts, `-12` to `14` in quarter hours (`5.5` for India); no summer time |
//!
//! Any other key, an unknown weekday name, an empty `weekdays`, `weeks = 0`
//! or an offset out of range is refused when the instance is created, with
//! a one-line message naming the key or value.
//!
//! ## The policy, precisely
//!
//! Days are calendar days of 24 hours starting at midnight UTC (or at
//! midnight at `utc_offset_hours`). *Today* is the day containing
//! `input.now`; the *window* is today and the `weeks * 7 - 1` days before
//! it (56 days for 8 weeks). A run belongs to the day its `started_at`
//! falls in. A run dated after `now` (clock skew) counts as recent.
//!
//! A run is **kept** when one or more of these hold, and its decision lists
//! every one of them, in this order:
//!
//! | reason | when |
//! |---|---|
//! | `weekday Tue 2026-11-17` | it is the newest finished run of a day in the window whose weekday is selected |
//! | `pinned` | the host marked it pinned (otto: a `.keep` file in the run directory) |
//! | `running` | it is still running |
//!
//! Every other run may be **deleted**, with exactly one reason, the first
//! that applies:
//!
//! | reason | when |
//! |---|---|
//! | `older than 8 weeks` | its day is before the window |
//! | `Sat not in weekdays` | its weekday is not selected |
//! | `not the newest of Tue 2026-11-17` | a newer run of the same day holds the day |
//!
//! "Newest" compares start times, then otto's same-second suffix (`<ts>-2`
//! is newer than `<ts>-1`, which is newer than `<ts>`), then the run id, so
//! exactly one run holds each day. A running run never holds a day: it is
//! kept anyway, and if it dies the day keeps its last *finished* run rather
//! than an interrupted one. Failed runs count like any other finished run.
//!
//! `decide` is a pure function of its input: no I/O, no clock. It returns
//! one decision per input run, in input order.

#![forbid(unsafe_code)]

mod calendar;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use otto_hooks_plugin_api::{
    Decision, Plugin, PluginConfig, PluginError, Retention, RetentionInput, Run, RunStatus,
};
use serde::Deserialize;

use calendar::{Day, DayOfWeek};

/// The settings as written in `config.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_weeks")]
    weeks: u32,
    #[serde(default = "every_weekday")]
    weekdays: Vec<String>,
    #[serde(default)]
    utc_offset_hours: f64,
}

fn default_weeks() -> u32 {
    8
}

fn every_weekday() -> Vec<String> {
    DayOfWeek::ALL
        .iter()
        .map(|d| d.short_name().to_ascii_lowercase())
        .collect()
}

/// The `weekday` retention plugin: one instance per configuration entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekday {
    weeks: u32,
    /// Indexed by [`DayOfWeek::index`].
    selected: [bool; 7],
    offset_secs: i64,
}

impl Weekday {
    fn selects(&self, day: Day) -> bool {
        self.selected[day.weekday().index()]
    }

    fn day_of(&self, run: &Run) -> Day {
        Day::containing(run.started_at.secs, self.offset_secs)
    }

    fn older_than(&self) -> String {
        match self.weeks {
            1 => "older than 1 week".to_owned(),
            n => format!("older than {n} weeks"),
        }
    }
}

impl Plugin for Weekday {
    const NAME: &'static str = "weekday";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Keeps the newest run of each selected weekday for N weeks (default 8), plus pinned and running runs";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        let settings: Settings = config.parse()?;
        let instance = config.instance();

        if settings.weeks == 0 {
            return Err(PluginError::invalid(format!(
                "settings of `{instance}`: `weeks` must be at least 1 (0 would delete every run that is not pinned)"
            )));
        }

        let mut selected = [false; 7];
        for name in &settings.weekdays {
            let day = DayOfWeek::parse(name).ok_or_else(|| {
                PluginError::invalid(format!(
                    "settings of `{instance}`: unknown weekday `{name}` in `weekdays` \
                     (expected mon, tue, wed, thu, fri, sat or sun)"
                ))
            })?;
            selected[day.index()] = true;
        }
        if !selected.contains(&true) {
            return Err(PluginError::invalid(format!(
                "settings of `{instance}`: `weekdays` is empty; list at least one day, \
                 or leave it out to keep all seven"
            )));
        }

        let hours = settings.utc_offset_hours;
        let quarters = hours * 4.0;
        if !(-12.0..=14.0).contains(&hours) || quarters.fract() != 0.0 {
            return Err(PluginError::invalid(format!(
                "settings of `{instance}`: `utc_offset_hours = {hours}` must be between -12 and 14 \
                 in quarter hours (e.g. 1, -8, 5.5, 5.75)"
            )));
        }
        // Exact: a whole number of quarter hours between -48 and 56.
        let offset_secs = quarters as i64 * 900;

        Ok(Weekday {
            weeks: settings.weeks,
            selected,
            offset_secs,
        })
    }
}

/// Whether `a` is newer than `b`: start time, then otto's same-second
/// suffix, then the id, so that the order is total and deterministic.
fn is_newer(a: &Run, b: &Run) -> bool {
    let key = |r: &Run| (r.started_at, same_second_suffix(&r.id));
    (key(a), &a.id) > (key(b), &b.id)
}

/// otto names a second run started in the same second `<ts>-1`, then
/// `<ts>-2`…: compare that suffix as a number (`-10` after `-9`). Any other
/// id reads as 0 and falls back to comparing ids.
fn same_second_suffix(id: &str) -> u32 {
    match id.rsplit_once('-') {
        Some((ts, n)) if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()) => {
            n.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

impl Retention for Weekday {
    fn decide(&self, input: &RetentionInput<'_>) -> Result<Vec<Decision>, PluginError> {
        let today = Day::containing(input.now.secs, self.offset_secs);
        let first_day = today.minus(i64::from(self.weeks) * 7 - 1);
        let in_window = |day: Day| day >= first_day;

        // The run (by index) that holds each selected day of the window.
        let mut holder: HashMap<Day, usize> = HashMap::new();
        for (i, run) in input.runs.iter().enumerate() {
            let day = self.day_of(run);
            if run.status == RunStatus::Running || !in_window(day) || !self.selects(day) {
                continue;
            }
            match holder.entry(day) {
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
                Entry::Occupied(mut slot) => {
                    if is_newer(run, &input.runs[*slot.get()]) {
                        slot.insert(i);
                    }
                }
            }
        }

        let decisions = input
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let day = self.day_of(run);
                let mut keep = Vec::new();
                if holder.get(&day) == Some(&i) {
                    keep.push(format!("weekday {day}"));
                }
                if run.pinned {
                    keep.push("pinned".to_owned());
                }
                if run.status == RunStatus::Running {
                    keep.push("running".to_owned());
                }
                if !keep.is_empty() {
                    Decision::keep(&run.id, keep)
                } else if !in_window(day) {
                    Decision::delete(&run.id, vec![self.older_than()])
                } else if !self.selects(day) {
                    Decision::delete(&run.id, vec![format!("{} not in weekdays", day.weekday())])
                } else {
                    Decision::delete(&run.id, vec![format!("not the newest of {day}")])
                }
            })
            .collect();
        Ok(decisions)
    }
}

otto_hooks_plugin_api::export_plugins![retention(Weekday)];

#[cfg(test)]
mod tests;
