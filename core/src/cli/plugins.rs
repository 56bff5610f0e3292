//! `otto-hooks plugins …`

use std::path::PathBuf;

use clap::Subcommand;
use otto_hooks_plugin_api::DocumentKind;

use super::{CmdResult, Context, Failure, exit, write_stdout};
use crate::registry::check;

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin: name, kind, version, ABI, built-in or path, state.
    ///
    /// Libraries come from `[plugins] dirs` and `paths` in the global config
    /// (or OTTO_HOOKS_PLUGIN_DIRS). Refused files are listed with the reason.
    #[command(
        after_help = "Examples:\n  otto-hooks plugins list\n  otto-hooks plugins list --json | jq -r '.[] | select(.kind == \"retention\") | .name'"
    )]
    List {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a plugin library before enabling it: trust checks, load,
    /// ABI version, metadata, and one call of every hook it offers on
    /// sample data. Exits 1 if any step fails.
    #[command(
        after_help = "Examples:\n  otto-hooks plugins check ~/.otto-hooks/plugins/libweekday_retention.so\n  otto-hooks plugins check ./libmine.so --settings 'weeks = 4'"
    )]
    Check {
        /// The library (made absolute if relative).
        path: PathBuf,
        /// Settings for the plugin, as TOML (e.g. `keep_days = 7`).
        #[arg(long, value_name = "TOML", default_value = "")]
        settings: String,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(ctx: &Context, cmd: PluginsCommand) -> CmdResult {
    match cmd {
        PluginsCommand::List { json } => {
            let registry = ctx.registry();
            ctx.print(
                &registry,
                json,
                DocumentKind::PluginList,
                &registry.plugin_list(),
            )?;
            Ok(exit::OK)
        }
        PluginsCommand::Check {
            path,
            settings,
            json,
        } => {
            let settings: toml::Table = settings.parse().map_err(|e: toml::de::Error| {
                Failure::usage(format!(
                    "--settings is not valid TOML: {}",
                    otto_hooks_plugin_api::config::toml_error_line(&e)
                ))
            })?;
            let path = if path.is_absolute() {
                path
            } else {
                std::env::current_dir()
                    .map_err(|e| {
                        Failure::failed(format!("cannot read the working directory: {e}"))
                    })?
                    .join(path)
            };
            let report = check::check_library(&path, &settings, &ctx.hooks_home);
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| Failure::failed(format!("cannot serialise the report: {e}")))?;
                write_stdout(&format!("{text}\n"))?;
            } else {
                write_stdout(&render_check(&report))?;
            }
            Ok(if report.passed {
                exit::OK
            } else {
                exit::FAILURES
            })
        }
    }
}

fn render_check(report: &check::CheckReport) -> String {
    let mut out = String::new();
    for step in &report.steps {
        let mark = if step.ok { "ok  " } else { "FAIL" };
        out.push_str(&format!("{mark}  {}: {}\n", step.step, step.detail));
    }
    let failed = report.steps.iter().filter(|s| !s.ok).count();
    if report.passed {
        out.push_str(&format!("PASS  {}\n", report.path));
    } else {
        out.push_str(&format!("FAIL  {}: {failed} step(s) failed\n", report.path));
    }
    out
}
