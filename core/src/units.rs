//! A recorded run's units, from its stored `unit.*` events: what `info`
//! lists for a run the hooks recorded (it has units and events, not otto's
//! task directories).

use otto_hooks_plugin_api::{StoredEvent, Task, TaskStatus, Timestamp};

/// The status a `unit.<what>` event leaves its unit in (`None`: no change).
fn status_after(kind: &str) -> Option<TaskStatus> {
    match kind.strip_prefix("unit.")? {
        "queued" => Some(TaskStatus::Pending),
        "started" => Some(TaskStatus::Running),
        "completed" | "merged" => Some(TaskStatus::Success),
        "blocked" | "skipped" => Some(TaskStatus::Skipped),
        k if k.ends_with("failed") => Some(TaskStatus::Failed),
        _ => None,
    }
}

/// Every unit named by `events` (in `seq` order), in the order they first
/// appear, with the status their last event left and, once finished, how
/// long after its (first) start.
pub fn units_of(events: &[StoredEvent]) -> Vec<Task> {
    let mut units: Vec<(Task, Option<Timestamp>)> = Vec::new();
    for e in events {
        let Some(name) = &e.unit else { continue };
        let Some(status) = status_after(&e.kind) else {
            continue;
        };
        let i = match units.iter().position(|(t, _)| &t.name == name) {
            Some(i) => i,
            None => {
                units.push((
                    Task {
                        name: name.clone(),
                        ..Task::default()
                    },
                    None,
                ));
                units.len() - 1
            }
        };
        let (unit, started) = &mut units[i];
        unit.status = status;
        match status {
            TaskStatus::Running => {
                started.get_or_insert(e.time);
            }
            TaskStatus::Success | TaskStatus::Failed => {
                unit.duration_ms = started.map(|s| millis_between(s, e.time));
            }
            _ => {}
        }
    }
    units.into_iter().map(|(t, _)| t).collect()
}

fn millis_between(from: Timestamp, to: Timestamp) -> u64 {
    let ms =
        (to.secs - from.secs) * 1000 + (i64::from(to.nanos) - i64::from(from.nanos)) / 1_000_000;
    u64::try_from(ms).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: &str, unit: &str, secs: i64) -> StoredEvent {
        StoredEvent {
            seq,
            time: Timestamp::from_secs(secs),
            kind: kind.into(),
            unit: Some(unit.into()),
            task: None,
            pr: None,
            payload: None,
            error: None,
        }
    }

    #[test]
    fn units_keep_their_first_appearance_order_last_status_and_duration() {
        let units = units_of(&[
            event(1, "unit.queued", "api", 100),
            event(2, "unit.started", "app", 100),
            event(3, "unit.started", "api", 101),
            event(4, "unit.completed", "app", 130),
            event(5, "unit.failed", "api", 160),
            event(6, "unit.blocked", "docs", 160),
        ]);
        let got: Vec<(&str, TaskStatus, Option<u64>)> = units
            .iter()
            .map(|u| (u.name.as_str(), u.status, u.duration_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("api", TaskStatus::Failed, Some(59_000)),
                ("app", TaskStatus::Success, Some(30_000)),
                ("docs", TaskStatus::Skipped, None),
            ]
        );
    }

    #[test]
    fn a_unit_still_going_is_running_without_a_duration() {
        let units = units_of(&[event(1, "unit.started", "app", 100)]);
        assert_eq!(units[0].status, TaskStatus::Running);
        assert_eq!(units[0].duration_ms, None);
    }
}
