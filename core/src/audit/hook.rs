//! Where the deletion paths meet the audit log: one hook each.
//!
//! - otto runs ([`crate::policy::execute_audited`]): [`Audited`] wraps the
//!   run's companion, so that the intent is written with the run's lock
//!   held, just before it moves into the trash, and a failure to write it
//!   refuses the run untouched; [`Audited::finish`] writes the outcome.
//!   [`record_held`] records the guard's held runs.
//! - cache files ([`record_cache`]): outcome records after the collection
//!   (a cache file is an unreferenced copy of a script: no intent).
//! - history retention ([`expire_audited`]): the runs a dry run selects
//!   get intents, then the storage deletes, then the outcomes.

use std::path::Path;

use crate::registry::proxy::PluginInstance as Instance;
use otto_hooks_plugin_api::Timestamp;
use otto_hooks_plugin_api::report::{CachePlan, HistoryExpiry};

use super::{AuditLog, Kind, Outcome, Subject};
use crate::fsops::{self, Companion};
use crate::history_retention::HistoryRetention;
use crate::policy::{Plan, PlannedDecision};

/// The subject of deleting the planned run `d` of `plan`.
pub(crate) fn run_subject(plan: &Plan, d: &PlannedDecision) -> Subject {
    let policy = plan
        .groups
        .iter()
        .find(|g| g.project == d.run.project)
        .and_then(|g| g.policy.clone());
    Subject {
        kind: Some(Kind::OttoRun),
        project: Some(d.run.project.clone()),
        target: d.run.id.clone(),
        path: Some(d.run.location.clone()),
        rule: policy,
        reasons: d.reasons.clone(),
        bytes: d.run.size_bytes,
    }
}

/// A run's companion with the audit intent in front of it.
pub(crate) struct Audited<'a> {
    inner: &'a mut dyn Companion,
    audit: Option<&'a mut AuditLog>,
    subject: Subject,
    id: Option<String>,
}

impl<'a> Audited<'a> {
    /// `inner`, audited in `audit` (not audited when `None`).
    pub(crate) fn new(
        inner: &'a mut dyn Companion,
        audit: Option<&'a mut AuditLog>,
        subject: Subject,
    ) -> Self {
        Audited {
            inner,
            audit,
            subject,
            id: None,
        }
    }

    /// Records how the deletion ended and hands the outcome back. A
    /// failure to write it breaks the log: later runs are refused.
    pub(crate) fn finish(mut self, outcome: fsops::Outcome) -> fsops::Outcome {
        let Some(audit) = self.audit.take() else {
            return outcome;
        };
        if audit.broken().is_some() {
            return outcome;
        }
        let (what, error) = match &outcome {
            fsops::Outcome::Deleted { bytes_freed } => {
                self.subject.bytes = Some(*bytes_freed);
                (Outcome::Deleted, None)
            }
            fsops::Outcome::AlreadyGone => {
                self.subject.bytes = Some(0);
                (Outcome::AlreadyGone, None)
            }
            fsops::Outcome::Refused(e) => (Outcome::Refused, Some(e.as_str())),
            fsops::Outcome::Failed(e) => (Outcome::Failed, Some(e.as_str())),
        };
        if let Err(e) = audit.outcome(self.id.as_deref(), &self.subject, what, error) {
            tracing::warn!("{e}");
        }
        outcome
    }
}

impl Companion for Audited<'_> {
    fn prepare(&mut self) -> Result<(), String> {
        if let Some(audit) = self.audit.as_deref_mut() {
            let id = audit
                .intent(&self.subject)
                .map_err(|e| format!("not deleted: no audit record could be written ({e})"))?;
            self.id = Some(id);
        }
        self.inner.prepare()
    }

    fn commit(&mut self) -> Result<(), String> {
        self.inner.commit()
    }

    fn abort(&mut self) {
        self.inner.abort();
    }
}

/// Records the runs the guard holds (the policy would delete them).
pub(crate) fn record_held(audit: &mut AuditLog, plan: &Plan) {
    for group in &plan.groups {
        let Some(hold) = &group.hold else { continue };
        for d in group.held() {
            let subject = run_subject(plan, d);
            if let Err(e) = audit.outcome(None, &subject, Outcome::Held, Some(&hold.short)) {
                tracing::warn!("{e}");
                return;
            }
        }
    }
}

/// Records the cache files a collection deleted.
pub fn record_cache(audit: &mut AuditLog, cache: &CachePlan) -> Result<(), String> {
    for file in &cache.deleted {
        let subject = Subject {
            kind: Some(Kind::CacheFile),
            project: Some(file.project.clone()),
            target: format!(".cache/{}", file.file),
            path: None,
            rule: Some("cache: referenced by no remaining run".to_owned()),
            reasons: vec![format!(
                "unreferenced for longer than the grace period ({}s)",
                cache.grace_seconds
            )],
            bytes: Some(file.size_bytes),
        };
        audit.outcome(None, &subject, Outcome::Deleted, None)?;
    }
    Ok(())
}

/// Applies history retention for real, audited: the runs a dry run at the
/// same `now` selects are recorded as intents (a failure deletes nothing),
/// the storage deletes, and each run's outcome follows — `deleted`, or
/// `already-gone` for a planned run the storage no longer had. A run the
/// storage deleted that the dry run did not show is recorded as deleted
/// too.
pub fn expire_audited(
    retention: &HistoryRetention,
    storage: &Instance,
    now: Timestamp,
    hooks_home: &Path,
) -> Result<Option<HistoryExpiry>, String> {
    let Some(planned) = retention.apply(storage, now, true)? else {
        return Ok(None);
    };
    if planned.run_ids.is_empty() {
        return Ok(Some(planned));
    }
    let mut audit =
        AuditLog::open(hooks_home).map_err(|e| format!("{e}: nothing deleted from the history"))?;
    let subject = |id: &str| Subject {
        kind: Some(Kind::HistoryRun),
        project: None,
        target: id.to_owned(),
        path: None,
        rule: Some(format!(
            "{}: retention_days = {}",
            retention.storage, retention.days
        )),
        reasons: vec![format!("ended before {}", planned.cutoff)],
        bytes: None,
    };
    let mut intents = Vec::with_capacity(planned.run_ids.len());
    for id in &planned.run_ids {
        let record = audit
            .intent(&subject(id))
            .map_err(|e| format!("{e}: nothing deleted from the history"))?;
        intents.push((id.as_str(), record));
    }
    let done = match retention.apply(storage, now, false) {
        Ok(done) => done,
        Err(e) => {
            for (id, record) in &intents {
                let _ = audit.outcome(Some(record), &subject(id), Outcome::Failed, Some(&e));
            }
            let _ = audit.finish();
            return Err(e);
        }
    };
    let deleted: std::collections::BTreeSet<&str> = done
        .as_ref()
        .map(|d| d.run_ids.iter().map(String::as_str).collect())
        .unwrap_or_default();
    for (id, record) in &intents {
        let what = if deleted.contains(id) {
            Outcome::Deleted
        } else {
            Outcome::AlreadyGone
        };
        audit.outcome(Some(record), &subject(id), what, None)?;
    }
    for id in deleted
        .iter()
        .filter(|id| !planned.run_ids.iter().any(|p| p == *id))
    {
        audit.outcome(None, &subject(id), Outcome::Deleted, None)?;
    }
    audit.finish()?;
    Ok(done)
}
