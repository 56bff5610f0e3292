//! Retention as plan → explain → execute.
//!
//! **Plan.** Runs are grouped by project — explicitly: a group is one
//! project, and the plan shows every group with its kept and deleted counts
//! and bytes. Each group goes to the retention plugin configured for its
//! project (`[retention]`, `[projects."glob".retention]`, command-line
//! flags over both), whose decision is a pure function of the group's runs,
//! the policy and the reference time.
//!
//! **Host rules over any plugin.** A running run (its lock held) and a
//! pinned run are kept whatever the plugin says; a run without a decision
//! is kept. A group whose plan would delete every run of the project, or
//! more than the configured share of it (default 50%), is held without
//! `--force`, naming the project and the numbers. The guard blocks the
//! deletion, never the plan: a held group's runs are still listed, each
//! with its reasons and the guard's verdict ([`Hold`]), with the flag that
//! lets them through.
//!
//! **Explain.** Every run carries every reason that applied
//! ([`PlannedDecision::reasons`]); `otto-hooks why` prints them for one run.
//!
//! **Execute.** Only [`crate::fsops`] deletes, with all its checks; what it
//! refuses is reported with its reason and makes the command exit 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use otto_hooks_plugin_api::report::{CleanPlan, GroupPlan, PlannedRun, RefusedRun};
use otto_hooks_plugin_api::{Action, RetentionInput, Run, RunStatus, Timestamp};

use crate::config::Config;
use crate::history::{History, HistoryError};
use crate::hooks::ProjectRef;
use crate::registry::Registry;
use crate::registry::proxy::PluginInstance;

/// How a plan is made.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Only this project (key, name or hash, exactly).
    pub project: Option<String>,
    /// The reference time.
    pub now: Timestamp,
    /// The largest share of a project's runs a plan may delete without
    /// `force` (0.0–1.0).
    pub max_share: f64,
    /// Allow plans beyond `max_share`, or deleting every run of a project.
    pub force: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            project: None,
            now: Timestamp::now(),
            max_share: 0.5,
            force: false,
        }
    }
}

/// One run's decision, after the host's rules.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedDecision {
    /// The run.
    pub run: Run,
    /// Keep or delete.
    pub action: Action,
    /// Every reason, the plugin's and the host's.
    pub reasons: Vec<String>,
}

/// One project's plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The project key.
    pub project: String,
    /// The retention instance that decided (`None`: no policy, all kept).
    pub policy: Option<String>,
    /// Every run of the project, newest first.
    pub decisions: Vec<PlannedDecision>,
    /// Why the group's deletions are refused (a guard), if they are: the
    /// whole sentence, with the flag that allows them.
    pub refused: Option<String>,
    /// The guard's hold on the group's deletions, if any (what `refused`
    /// says, in parts).
    pub hold: Option<Hold>,
}

/// What lets a held group's deletions through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Allow {
    /// `--max-share PERCENT` (or the `clean.max_share` setting): the
    /// smallest share that admits the plan.
    MaxShare(u8),
    /// Only `--force` (the plan deletes every run of the project).
    Force,
}

impl std::fmt::Display for Allow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allow::MaxShare(percent) => write!(f, "--max-share {percent}"),
            Allow::Force => f.write_str("--force"),
        }
    }
}

/// A guard holding a group's deletions.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    /// What the plan would do and which limit it passes:
    /// `would delete 361 of 480 runs of web-… (76%, more than max_share 50%)`.
    pub verdict: String,
    /// The short verdict shown beside each held run:
    /// `held by guard: would delete 75% of web-…'s runs (max_share 50%)`.
    pub short: String,
    /// The flag that lets it through.
    pub allow: Allow,
    /// The share limit the plan passes, in percent (`None`: the plan
    /// deletes every run, which no share admits without `--force`).
    pub limit: Option<u8>,
}

impl Group {
    /// The runs the policy would delete that the guard holds (none when
    /// the group is not held).
    pub fn held(&self) -> impl Iterator<Item = &PlannedDecision> {
        self.decisions
            .iter()
            .filter(|d| d.action == Action::Delete && self.refused.is_some())
    }

    /// The runs that will be deleted (none when the group is refused).
    pub fn deletions(&self) -> impl Iterator<Item = &PlannedDecision> {
        self.decisions
            .iter()
            .filter(|d| d.action == Action::Delete && self.refused.is_none())
    }
}

/// A whole plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One group per project, in project order.
    pub groups: Vec<Group>,
    /// Plugin problems met while planning, one line each.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The flag that lets every held group through: `--force` when one
    /// needs it, else the largest `--max-share` any needs; `None` when no
    /// group is held.
    pub fn allow(&self) -> Option<Allow> {
        self.groups
            .iter()
            .filter_map(|g| g.hold.as_ref().map(|h| h.allow))
            .max()
    }

    /// The refusals of the held groups' deletions, once per group (run
    /// `*`), for the document of a clean that was not a dry run.
    pub fn refusals(&self) -> impl Iterator<Item = RefusedRun> + '_ {
        self.groups.iter().filter_map(|g| {
            g.refused.as_ref().map(|reason| RefusedRun {
                project: g.project.clone(),
                run: "*".to_owned(),
                error: reason.clone(),
            })
        })
    }

    /// The runs that will be deleted, of every group.
    pub fn deletions(&self) -> impl Iterator<Item = &PlannedDecision> {
        self.groups.iter().flat_map(Group::deletions)
    }

    /// The runs the guard holds, of every group.
    pub fn held(&self) -> impl Iterator<Item = &PlannedDecision> {
        self.groups.iter().flat_map(Group::held)
    }
}

/// Makes the plan for every project `history`'s storage holds.
pub fn plan(
    history: &History<'_>,
    config: &Config,
    registry: &Registry,
    data_dir: &Path,
    options: &PlanOptions,
) -> Result<Plan, HistoryError> {
    let runs = history.detected_runs(options.project.as_deref())?;
    plan_runs(history, runs, config, registry, data_dir, options)
}

/// Makes the plan for `runs`, listed from `history` with their statuses
/// detected (as [`History::detected_runs`] gives them): for a caller that
/// has the runs already.
pub fn plan_runs(
    history: &History<'_>,
    runs: Vec<Run>,
    config: &Config,
    registry: &Registry,
    data_dir: &Path,
    options: &PlanOptions,
) -> Result<Plan, HistoryError> {
    // Each group's list is sized first: at 100,000 runs, lists grown by
    // doubling would hold a quarter more than the runs.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *counts.entry(run.project.as_str()).or_default() += 1;
    }
    let mut by_project: BTreeMap<String, Vec<Run>> = counts
        .into_iter()
        .map(|(project, n)| (project.to_owned(), Vec::with_capacity(n)))
        .collect();
    for run in runs {
        if let Some(group) = by_project.get_mut(run.project.as_str()) {
            group.push(run);
        }
    }
    let mut plan = Plan::default();
    // One instance per retention entry, however many projects share it: an
    // isolated one is a runner process, started once.
    let mut instances = Vec::new();
    for (project, runs) in by_project {
        let group = plan_group(
            project,
            runs,
            config,
            (registry, &mut instances),
            data_dir,
            options,
            &mut plan.warnings,
        )?;
        plan.groups.push(group);
    }
    plan.warnings.extend(history.take_warnings());
    Ok(plan)
}

/// The retention instances made so far, by the entry that made them.
type Instances = Vec<(crate::config::InstanceSpec, PluginInstance)>;

fn plan_group(
    project: String,
    runs: Vec<Run>,
    config: &Config,
    (registry, instances): (&Registry, &mut Instances),
    data_dir: &Path,
    options: &PlanOptions,
    warnings: &mut Vec<String>,
) -> Result<Group, HistoryError> {
    let project_ref = ProjectRef::from_key(&project);
    let spec = config
        .selection(&project_ref.name, &project_ref.key)
        .retention
        .into_iter()
        .next();
    let keep_all = |runs: Vec<Run>, reason: &str| -> Vec<PlannedDecision> {
        runs.into_iter()
            .map(|run| PlannedDecision {
                run,
                action: Action::Keep,
                reasons: vec![reason.to_owned()],
            })
            .collect()
    };
    let Some(spec) = spec else {
        return Ok(Group {
            project,
            policy: None,
            decisions: keep_all(runs, "no retention policy"),
            refused: None,
            hold: None,
        });
    };
    // A policy that cannot be created (a bad setting, a missing plugin) is
    // the user's to fix: nothing is planned at all.
    let at = match instances.iter().position(|(s, _)| *s == spec) {
        Some(at) => at,
        None => {
            let instance = registry
                .retention(&spec, data_dir)
                .map_err(|e| HistoryError {
                    message: e,
                    bad_input: true,
                })?;
            instances.push((spec.clone(), instance));
            instances.len() - 1
        }
    };
    let instance = &instances[at].1;
    let decided = instance.decide(&RetentionInput {
        group: &project,
        now: options.now,
        runs: &runs,
    });
    let decisions = match decided {
        Ok(decisions) => decisions,
        Err(e) => {
            warnings.push(format!("{project}: {e}; every run of the project is kept"));
            return Ok(Group {
                project,
                policy: Some(spec.instance),
                decisions: keep_all(runs, "retention failed"),
                refused: None,
                hold: None,
            });
        }
    };
    let mut by_id: BTreeMap<String, otto_hooks_plugin_api::Decision> = BTreeMap::new();
    for d in decisions {
        by_id.entry(d.run_id.clone()).or_insert(d);
    }
    let decisions: Vec<PlannedDecision> = runs
        .into_iter()
        .map(|run| {
            let (mut action, mut reasons) = match by_id.remove(&run.id) {
                Some(d) if d.action == Action::Delete => (Action::Delete, d.reasons),
                Some(d) => (Action::Keep, d.reasons),
                None => (Action::Keep, vec!["no decision".to_owned()]),
            };
            // The host's rules, whatever the plugin said.
            if run.status == RunStatus::Running && action == Action::Delete {
                action = Action::Keep;
                reasons = vec!["running".to_owned()];
            }
            if run.pinned && action == Action::Delete {
                action = Action::Keep;
                reasons = vec!["pinned".to_owned()];
            }
            PlannedDecision {
                run,
                action,
                reasons,
            }
        })
        .collect();
    let total = decisions.len();
    let deleting = decisions
        .iter()
        .filter(|d| d.action == Action::Delete)
        .count();
    let hold = guard(&project, deleting, total, options);
    Ok(Group {
        project,
        policy: Some(spec.instance),
        decisions,
        refused: hold.as_ref().map(|h| {
            format!(
                "held by the guard: the plan {}; pass {} to allow it",
                h.verdict, h.allow
            )
        }),
        hold,
    })
}

/// The host's guards over a group whose plan deletes `deleting` of its
/// `total` runs: every run of a project, or more than `max_share` of them,
/// is held unless `force`.
fn guard(project: &str, deleting: usize, total: usize, options: &PlanOptions) -> Option<Hold> {
    if options.force || deleting == 0 {
        return None;
    }
    if deleting == total {
        return Some(Hold {
            verdict: format!("would delete every run of {project} ({deleting} of {total})"),
            short: format!("held by guard: would delete every run of {project}"),
            allow: Allow::Force,
            limit: None,
        });
    }
    // In whole percents, in integers: the share the flag takes and the
    // share that admits the plan must agree exactly.
    let allowed = (options.max_share * 100.0).round().clamp(0.0, 100.0) as usize;
    if deleting * 100 <= allowed * total {
        return None;
    }
    let needed = (deleting * 100).div_ceil(total);
    // Rounded up: a share just over the limit never reads as the limit.
    let shown = needed;
    Some(Hold {
        verdict: format!(
            "would delete {deleting} of {total} runs of {project} ({shown}%, more than max_share {allowed}%)"
        ),
        short: format!(
            "held by guard: would delete {shown}% of {project}'s runs (max_share {allowed}%)"
        ),
        allow: Allow::MaxShare(u8::try_from(needed).unwrap_or(100)),
        limit: Some(u8::try_from(allowed).unwrap_or(100)),
    })
}

impl Plan {
    /// The plan as the `clean` document (before execution: a dry run).
    /// Runs a guard holds are listed in `held`, each with the guard's
    /// verdict; `with_kept` lists the kept runs too.
    pub fn document(&self, with_kept: bool) -> CleanPlan {
        let mut doc = CleanPlan {
            dry_run: true,
            allow: self.allow().map(|a| a.to_string()),
            ..CleanPlan::default()
        };
        for group in &self.groups {
            let mut g = GroupPlan {
                project: group.project.clone(),
                policy: group.policy.clone(),
                guard: group.hold.as_ref().map(|h| h.verdict.clone()),
                allow: group.hold.as_ref().map(|h| h.allow.to_string()),
                ..GroupPlan::default()
            };
            for d in &group.decisions {
                let size = d.run.size_bytes.unwrap_or(0);
                let planned = || planned_run(&group.project, d);
                if d.action == Action::Delete {
                    if let Some(hold) = &group.hold {
                        // Kept, but only by the guard: listed as held, with
                        // the guard's verdict beside the policy's reasons.
                        g.kept += 1;
                        g.kept_bytes += size;
                        g.held += 1;
                        g.held_bytes += size;
                        doc.held.push(PlannedRun {
                            held: Some(hold.short.clone()),
                            ..planned()
                        });
                    } else {
                        g.deleted += 1;
                        g.deleted_bytes += size;
                        doc.deleted.push(planned());
                    }
                } else {
                    g.kept += 1;
                    g.kept_bytes += size;
                    if with_kept {
                        doc.kept.push(planned());
                    }
                }
            }
            doc.groups.push(g);
        }
        doc
    }

    /// The decision for run `run_id` of `project` (or of any project when
    /// `None`), with its group.
    pub fn find(&self, project: Option<&str>, run_id: &str) -> Vec<(&Group, &PlannedDecision)> {
        self.groups
            .iter()
            .filter(|g| project.is_none_or(|p| g.project == p))
            .flat_map(|g| {
                g.decisions
                    .iter()
                    .filter(|d| d.run.id == run_id)
                    .map(move |d| (g, d))
            })
            .collect()
    }
}

/// The `$OTTO_HOME` a run lives under: its location's grandparent
/// (`<root>/<project>/<run>`), when the location has that shape.
pub fn otto_root_of(run: &Run) -> Option<PathBuf> {
    let location = Path::new(&run.location);
    let name = location.file_name()?.to_str()?;
    let project = location.parent()?;
    (name == run.id && project.file_name()?.to_str()? == run.project)
        .then(|| project.parent().map(Path::to_path_buf))
        .flatten()
}

/// What executing a plan did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Executed {
    /// The `clean` document: what was deleted (with the bytes it freed),
    /// what was refused and why.
    pub document: CleanPlan,
    /// Notes for stderr (runs already gone, trash left from an earlier
    /// interrupted command).
    pub warnings: Vec<String>,
}

/// What [`execute_with`] does to otto's `otto.db` beyond the rows of the
/// runs it deletes (which always go with them: [`crate::ottodb_rows`]).
#[derive(Clone, Debug, Default)]
pub struct RowOptions {
    /// The `$OTTO_HOME` whose otto.db is reported (and pruned) even when no
    /// run of it is deleted.
    pub otto_home: Option<PathBuf>,
    /// Delete the rows whose run directory is gone (`--prune-rows`).
    pub prune_rows: bool,
}

/// Deletes the runs `plan` deletes, through [`crate::fsops`], each with its
/// otto.db rows; the caller holds the clean lock (`_lock`).
/// `progress(done, total)` is called after each run.
pub fn execute(
    plan: &Plan,
    lock: &crate::fsops::CleanLock,
    progress: impl FnMut(usize, usize),
) -> Result<Executed, String> {
    execute_with(plan, lock, &RowOptions::default(), progress)
}

/// [`execute`], with what else to do to otto.db (`rows`).
pub fn execute_with(
    plan: &Plan,
    lock: &crate::fsops::CleanLock,
    rows: &RowOptions,
    progress: impl FnMut(usize, usize),
) -> Result<Executed, String> {
    execute_audited(plan, lock, rows, None, progress)
}

/// [`execute_with`], recording every deletion in `audit` (the commands'
/// path): an intent before each run leaves its project — a failure to
/// write it refuses the run and every later one — then the outcome; the
/// guard's held runs as `held`. See [`crate::audit`].
pub fn execute_audited(
    plan: &Plan,
    _lock: &crate::fsops::CleanLock,
    rows: &RowOptions,
    mut audit: Option<&mut crate::audit::AuditLog>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Executed, String> {
    let mut dbs = crate::ottodb_rows::Databases::default();
    let mut doc = plan.document(false);
    doc.dry_run = false;
    doc.deleted.clear();
    // A held group's deletions were refused: once per group, `*`.
    doc.refused.extend(plan.refusals());
    let mut out = Executed::default();
    let mut roots: BTreeMap<PathBuf, Result<crate::fsops::OttoRoot, String>> = BTreeMap::new();
    let mut deletions: Vec<&PlannedDecision> =
        plan.groups.iter().flat_map(Group::deletions).collect();
    // Same-second runs last suffix first (`<ts>-2`, `<ts>-1`, `<ts>`): otto.db
    // rows placed by their order in a second go only from the end, so that
    // no row is ever shifted onto another run (see `ottodb_rows`).
    deletions.sort_by_key(|d| crate::ottodb_rows::deletion_order(&d.run.project, &d.run.id));
    let total = deletions.len();
    for (done, d) in deletions.into_iter().enumerate() {
        let refuse = |doc: &mut CleanPlan, error: String| {
            doc.refused.push(RefusedRun {
                project: d.run.project.clone(),
                run: d.run.id.clone(),
                error,
            });
        };
        // Nothing goes that the audit log cannot account for.
        if let Some(broken) = audit.as_deref().and_then(crate::audit::AuditLog::broken) {
            refuse(&mut doc, format!("not deleted: {broken}"));
            progress(done + 1, total);
            continue;
        }
        let Some(root_path) = otto_root_of(&d.run) else {
            refuse(
                &mut doc,
                format!("not an otto run directory: {}", d.run.location),
            );
            continue;
        };
        let root = roots.entry(root_path.clone()).or_insert_with(|| {
            let root = crate::fsops::OttoRoot::open(&root_path)
                .map_err(|e| format!("cannot open {}: {e}", root_path.display()))?;
            // Finish what an interrupted earlier command left in the trash.
            match root.purge_trash() {
                Ok(0) => {}
                Ok(bytes) => out.warnings.push(format!(
                    "finished purging {} left in {}'s trash by an interrupted earlier clean",
                    otto_hooks_reporters::format::human_size(bytes),
                    root_path.display()
                )),
                Err(e) => out.warnings.push(format!(
                    "cannot purge the trash under {}: {e}",
                    root_path.display()
                )),
            }
            Ok(root)
        });
        let db = dbs.of(&root_path, &mut out.warnings);
        let mut companion = db.companion(&d.run.project, &d.run.id);
        let mut audited = crate::audit::hook::Audited::new(
            &mut companion,
            audit.as_deref_mut(),
            crate::audit::hook::run_subject(plan, d),
        );
        let outcome = match root {
            Err(e) => crate::fsops::Outcome::Refused(e.clone()),
            Ok(root) => root.delete_run_with(&d.run.project, &d.run.id, &mut audited),
        };
        // The outcome record follows the intent the companion wrote.
        match audited.finish(outcome) {
            crate::fsops::Outcome::Deleted { bytes_freed } => {
                doc.bytes_freed += bytes_freed;
                doc.deleted.push(PlannedRun {
                    size_bytes: Some(bytes_freed),
                    ..planned_run(&d.run.project, d)
                });
            }
            crate::fsops::Outcome::AlreadyGone => out.warnings.push(format!(
                "{}/{} was already gone: nothing freed",
                d.run.project, d.run.id
            )),
            crate::fsops::Outcome::Refused(e) | crate::fsops::Outcome::Failed(e) => {
                refuse(&mut doc, e)
            }
        }
        progress(done + 1, total);
    }
    if let Some(audit) = audit.as_deref_mut() {
        crate::audit::hook::record_held(audit, plan);
    }
    count_what_happened(plan, &mut doc);
    if let Some(home) = rows.otto_home.as_deref().filter(|_| rows.prune_rows) {
        dbs.of(home, &mut out.warnings);
    }
    // Pruned rows are deletions too: in the audit log, intent first.
    doc.otto_db = dbs.finish(rows.prune_rows, audit, &mut out.warnings);
    // The trash the runs went through must not stay in $OTTO_HOME.
    for root in roots.values().flatten() {
        root.remove_trash_if_empty();
    }
    out.document = doc;
    Ok(out)
}

/// Makes each project's counts say what happened, not what was planned: a
/// run refused or failed is counted as kept (it is still there), a run
/// already gone as neither.
fn count_what_happened(plan: &Plan, doc: &mut CleanPlan) {
    use std::collections::BTreeSet;
    let deleted: BTreeSet<(&str, &str)> = doc
        .deleted
        .iter()
        .map(|d| (d.project.as_str(), d.run.as_str()))
        .collect();
    let refused: BTreeSet<(&str, &str)> = doc
        .refused
        .iter()
        .map(|r| (r.project.as_str(), r.run.as_str()))
        .collect();
    let mut counts: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for d in plan.groups.iter().flat_map(Group::deletions) {
        let key = (d.run.project.as_str(), d.run.id.as_str());
        let entry = counts.entry(d.run.project.clone()).or_default();
        if deleted.contains(&key) {
            continue;
        }
        if refused.contains(&key) {
            entry.2 += 1;
            entry.3 += d.run.size_bytes.unwrap_or(0);
        }
    }
    for d in &doc.deleted {
        let entry = counts.entry(d.project.clone()).or_default();
        entry.0 += 1;
        entry.1 += d.size_bytes.unwrap_or(0);
    }
    for g in &mut doc.groups {
        let (deleted, deleted_bytes, stayed, stayed_bytes) =
            counts.get(&g.project).copied().unwrap_or_default();
        g.deleted = deleted;
        g.deleted_bytes = deleted_bytes;
        g.kept += stayed;
        g.kept_bytes += stayed_bytes;
    }
}

/// A planned run as the document lists it: its start (epoch seconds and
/// RFC 3339), size and reasons.
fn planned_run(project: &str, d: &PlannedDecision) -> PlannedRun {
    PlannedRun {
        project: project.to_owned(),
        run: d.run.id.clone(),
        size_bytes: d.run.size_bytes,
        reasons: d.reasons.clone(),
        timestamp: Some(d.run.started_at.secs),
        started_at: Some(crate::hooks::wire::rfc3339(d.run.started_at)),
        held: None,
    }
}

/// The `why` document: the plan of one run's group, with only that run.
/// A run the policy would delete but the guard holds is listed in `held`
/// with the guard's verdict and the flag that lets it through; the guard
/// says nothing about a kept run.
pub fn why_document(group: &Group, decision: &PlannedDecision) -> CleanPlan {
    let planned = planned_run(&group.project, decision);
    let size = decision.run.size_bytes.unwrap_or(0);
    let would_delete = decision.action == Action::Delete;
    let hold = group.hold.as_ref().filter(|_| would_delete);
    let deleting = would_delete && hold.is_none();
    let mut doc = CleanPlan {
        dry_run: true,
        groups: vec![GroupPlan {
            project: group.project.clone(),
            policy: group.policy.clone(),
            kept: u64::from(!deleting),
            kept_bytes: if deleting { 0 } else { size },
            deleted: u64::from(deleting),
            deleted_bytes: if deleting { size } else { 0 },
            held: u64::from(hold.is_some()),
            held_bytes: if hold.is_some() { size } else { 0 },
            guard: hold.map(|h| h.verdict.clone()),
            allow: hold.map(|h| h.allow.to_string()),
        }],
        allow: hold.map(|h| h.allow.to_string()),
        ..CleanPlan::default()
    };
    match hold {
        Some(hold) => doc.held.push(PlannedRun {
            held: Some(hold.short.clone()),
            ..planned
        }),
        None if deleting => doc.deleted.push(planned),
        None => doc.kept.push(planned),
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(percent: u8, force: bool) -> PlanOptions {
        PlanOptions {
            project: None,
            now: Timestamp::from_secs(0),
            max_share: f64::from(percent) / 100.0,
            force,
        }
    }

    #[test]
    fn the_flag_a_hold_names_is_exactly_the_smallest_share_that_admits_the_plan() {
        for total in 1..=120 {
            for deleting in 1..total {
                let Some(hold) = guard("web", deleting, total, &options(50, false)) else {
                    assert!(deleting * 2 <= total, "{deleting} of {total} passes 50%");
                    continue;
                };
                let Allow::MaxShare(needed) = hold.allow else {
                    panic!("{deleting} of {total}: a share admits it, not only --force");
                };
                assert!(
                    guard("web", deleting, total, &options(needed, false)).is_none(),
                    "--max-share {needed} admits {deleting} of {total}"
                );
                assert!(
                    guard("web", deleting, total, &options(needed - 1, false)).is_some(),
                    "--max-share {} still holds {deleting} of {total}",
                    needed - 1
                );
                assert_eq!(hold.limit, Some(50));
            }
        }
    }

    #[test]
    fn deleting_every_run_is_held_whatever_the_share_and_only_force_lets_it_through() {
        let hold = guard("web", 4, 4, &options(100, false)).expect("held");
        assert_eq!(hold.allow, Allow::Force);
        assert_eq!(hold.allow.to_string(), "--force");
        assert!(hold.short.contains("every run of web"), "{}", hold.short);
        assert!(guard("web", 4, 4, &options(100, true)).is_none());
        assert!(
            guard("web", 0, 4, &options(0, false)).is_none(),
            "nothing to hold"
        );
    }

    #[test]
    fn the_plan_names_the_one_flag_that_lets_every_held_group_through() {
        let group = |hold: Option<Hold>| Group {
            project: "p".to_owned(),
            policy: None,
            decisions: Vec::new(),
            refused: hold.as_ref().map(|h| h.verdict.clone()),
            hold,
        };
        let plan = |holds: Vec<Option<Hold>>| Plan {
            groups: holds.into_iter().map(group).collect(),
            warnings: Vec::new(),
        };
        let o = options(50, false);
        assert_eq!(plan(vec![None]).allow(), None);
        let a = guard("a", 3, 4, &o);
        let b = guard("b", 9, 10, &o);
        assert_eq!(
            plan(vec![a.clone(), b.clone(), None]).allow(),
            Some(Allow::MaxShare(90))
        );
        let every = guard("c", 2, 2, &o);
        assert_eq!(plan(vec![a, every, b]).allow(), Some(Allow::Force));
    }
}
