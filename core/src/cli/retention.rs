//! `otto-hooks clean | run-policies | why`: retention, with a plan shown
//! before anything goes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use otto_hooks_plugin_api::{DocumentKind, Timestamp};

use super::{CmdResult, Context, Failure, exit};
use crate::config::Override;
use crate::history::{History, HistoryError, storage_spec};
use crate::policy::{self, Plan, PlanOptions};

/// Options of every retention command.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Only this project: its directory name, its name or its hash, exactly.
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
    /// Keep successful runs younger than DAYS (the `standard` policy's keep_days).
    #[arg(long, value_name = "DAYS")]
    pub keep: Option<u32>,
    /// Keep the N newest finished runs of each project, whatever their age.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep failed and interrupted runs younger than DAYS.
    #[arg(long, value_name = "DAYS")]
    pub keep_failed: Option<u32>,
    /// Read runs through this storage plugin (default: the configured one).
    #[arg(long, value_name = "PLUGIN")]
    pub backend: Option<String>,
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl PolicyArgs {
    /// Retention flags become configuration overrides: they choose the
    /// `standard` policy with these settings over whatever is configured.
    pub fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let mut set = |key: &str, value: u32, flag: &str| {
            out.push(Override::new(
                format!("retention.{key}"),
                toml::Value::Integer(i64::from(value)),
                format!("{flag} {value}"),
            ));
        };
        if let Some(v) = self.keep {
            set("keep_days", v, "--keep");
        }
        if let Some(v) = self.keep_last {
            set("keep_last", v, "--keep-last");
        }
        if let Some(v) = self.keep_failed {
            set("keep_failed_days", v, "--keep-failed");
        }
        if !out.is_empty() {
            out.insert(
                0,
                Override::new(
                    "retention.plugin",
                    toml::Value::String("standard".into()),
                    "retention flags",
                ),
            );
        }
        out
    }
}

/// `clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow a plan that deletes every run of a project, or more than --max-share of it.
    #[arg(long)]
    pub force: bool,
    /// The largest share of a project's runs deleted without --force, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_share: u8,
    /// List the kept runs too, each with its reasons.
    #[arg(long)]
    pub reasons: bool,
}

/// `run-policies`.
#[derive(Debug, Args)]
pub struct RunPoliciesArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do nothing unless --interval has passed since the last application.
    #[arg(long)]
    pub if_due: bool,
    /// How often policies are due, with --if-due: e.g. `24h`, `30m`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub interval: Duration,
    /// Allow plans beyond --max-share.
    #[arg(long)]
    pub force: bool,
    /// The largest share of a project's runs deleted without --force, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_share: u8,
}

/// `why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The run: `<timestamp>`, `<timestamp>-<n>` or `<project-dir>/<timestamp>`.
    pub run: String,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Parses `30m`, `24h`, `7d`, `90s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30m, 24h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}` is not a duration like 30m, 24h or 7d")),
    };
    Ok(Duration::from_secs(secs))
}

fn failure(e: HistoryError) -> Failure {
    if e.bad_input {
        Failure::usage(e.message)
    } else {
        Failure::failed(e.message)
    }
}

/// Makes the plan with the configured (or flag-chosen) policies.
fn make_plan(
    ctx: &Context,
    args: &PolicyArgs,
    force: bool,
    max_share: u8,
) -> Result<(Plan, crate::registry::Registry), Failure> {
    let registry = ctx.registry();
    let spec = storage_spec(&ctx.config, args.backend.as_deref()).map_err(failure)?;
    let plan = {
        let history =
            History::open(&ctx.config, &registry, &ctx.hooks_home, &spec).map_err(failure)?;
        policy::plan(
            &history,
            &ctx.config,
            &registry,
            &ctx.hooks_home,
            &PlanOptions {
                project: args.project.clone(),
                now: Timestamp::now(),
                max_share: f64::from(max_share) / 100.0,
                force,
            },
        )
        .map_err(failure)?
    };
    for w in &plan.warnings {
        ctx.warn(w);
    }
    Ok((plan, registry))
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Deletes what the plan says and prints the result; exit 1 when anything
/// was refused or failed.
fn execute_and_report(
    ctx: &Context,
    plan: &Plan,
    registry: &crate::registry::Registry,
    json: bool,
) -> CmdResult {
    let progress = !ctx.quiet && !json && std::io::stderr().is_terminal();
    let result = policy::execute(plan, &ctx.hooks_home, |done, total| {
        if progress {
            eprint!("\rdeleting runs: {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    })
    .map_err(Failure::failed)?;
    for w in &result.warnings {
        ctx.warn(w);
    }
    ctx.print(registry, json, DocumentKind::CleanPlan, &result.document)?;
    Ok(if result.document.refused.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    })
}

pub(super) fn clean(ctx: &Context, args: CleanArgs) -> CmdResult {
    let (plan, registry) = make_plan(ctx, &args.policy, args.force, args.max_share)?;
    let doc = plan.document(args.reasons || args.policy.json);
    let deletions: usize = plan.groups.iter().map(|g| g.deletions().count()).sum();
    if args.dry_run || deletions == 0 {
        ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
        return Ok(if doc.refused.is_empty() {
            exit::OK
        } else {
            exit::FAILURES
        });
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes {
        if !interactive {
            ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
            return Err(Failure::usage(format!(
                "not deleting {deletions} run(s) without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to only show the plan)"
            )));
        }
        ctx.print(&registry, false, DocumentKind::CleanPlan, &doc)?;
        let bytes: u64 = plan
            .groups
            .iter()
            .flat_map(|g| g.deletions())
            .map(|d| d.run.size_bytes.unwrap_or(0))
            .sum();
        if !confirm(&format!(
            "Delete {deletions} run(s), {}?",
            otto_hooks_reporters::format::human_size(bytes)
        )) {
            eprintln!("nothing deleted");
            return Ok(exit::OK);
        }
    }
    execute_and_report(ctx, &plan, &registry, args.policy.json)
}

/// When `run-policies` last applied, as a file's mtime.
fn stamp_path(ctx: &Context) -> PathBuf {
    ctx.hooks_home.join("run-policies.last")
}

pub(super) fn run_policies(ctx: &Context, args: RunPoliciesArgs) -> CmdResult {
    let stamp = stamp_path(ctx);
    if args.if_due {
        let last = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        if let Some(age) = last.and_then(|t| t.elapsed().ok()) {
            if age < args.interval {
                tracing::info!(?age, "policies applied recently; not due");
                if !ctx.quiet {
                    eprintln!(
                        "run-policies: not due (last applied {}s ago, interval {}s)",
                        age.as_secs(),
                        args.interval.as_secs()
                    );
                }
                return Ok(exit::OK);
            }
        }
    }
    let (plan, registry) = make_plan(ctx, &args.policy, args.force, args.max_share)?;
    if args.dry_run {
        let doc = plan.document(true);
        ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
        return Ok(if doc.refused.is_empty() {
            exit::OK
        } else {
            exit::FAILURES
        });
    }
    let code = execute_and_report(ctx, &plan, &registry, args.policy.json)?;
    std::fs::create_dir_all(&ctx.hooks_home)
        .and_then(|()| std::fs::write(&stamp, b""))
        .map_err(|e| {
            Failure::failed(format!(
                "cannot record the application in {}: {e}",
                stamp.display()
            ))
        })?;
    Ok(code)
}

pub(super) fn why(ctx: &Context, args: WhyArgs) -> CmdResult {
    let (project, run_id) = match args.run.rsplit_once('/') {
        Some((p, r)) if !p.is_empty() && !r.is_empty() => (Some(p.to_owned()), r.to_owned()),
        _ => (args.policy.project.clone(), args.run.clone()),
    };
    let policy_args = PolicyArgs {
        project: project.clone(),
        keep: args.policy.keep,
        keep_last: args.policy.keep_last,
        keep_failed: args.policy.keep_failed,
        backend: args.policy.backend.clone(),
        json: args.policy.json,
    };
    let (plan, registry) = make_plan(ctx, &policy_args, false, 50)?;
    let found = plan.find(None, &run_id);
    let (group, decision) = match found.as_slice() {
        [] => {
            return Err(Failure::usage(format!(
                "no run `{run_id}` (see `otto-hooks list`)"
            )));
        }
        [one] => *one,
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(g, _)| format!("{}/{run_id}", g.project))
                .collect();
            return Err(Failure::usage(format!(
                "run `{run_id}` is ambiguous: {}; name one as <project>/{run_id}",
                names.join(", ")
            )));
        }
    };
    let doc = policy::why_document(group, decision);
    ctx.print(&registry, args.policy.json, DocumentKind::CleanPlan, &doc)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
