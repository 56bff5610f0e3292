//! `otto-hooks config …`

use clap::Subcommand;
use otto_hooks_plugin_api::{DocumentKind, PluginKind};

use super::{CmdResult, Context, Failure, exit};
use crate::config::Config;
use crate::config::unknown::UnknownSetting;

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every effective setting and where it came from (default, file:line, env, flag).
    #[command(
        after_help = "Examples:\n  otto-hooks config show\n  otto-hooks config show --json | jq '.values[] | select(.key == \"hooks.strict\")'"
    )]
    Show {
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(ctx: &Context, cmd: ConfigCommand) -> CmdResult {
    match cmd {
        ConfigCommand::Show { json } => {
            check_settings(ctx, true)?;
            let report = ctx.config.report();
            ctx.print(&ctx.registry(), json, DocumentKind::Config, &report)?;
            Ok(exit::OK)
        }
    }
}

/// Creates every configured plugin instance once, as a command would: a
/// plugin refuses a setting it does not know (`keep_lsat`), and `config
/// show` says so (exit 2) instead of showing it as if it counted, and so
/// does it (`warn`) for a plugin name that no plugin answers to, with the
/// name meant. Other problems are warnings here when `warn`
/// (the rest of the configuration is still worth seeing), else left to the
/// command that meets them.
///
/// Before a command (`warn` false), an instance isolated in a process of
/// its own is not created here: that would start a runner only to check
/// its settings, and the command would start another to use it (or, like
/// `list`, never need it). The command that creates it meets the same
/// refusal, with the same exit code and wording.
pub(super) fn check_settings(ctx: &Context, warn: bool) -> Result<(), Failure> {
    let registry = ctx.registry();
    let selection = ctx.config.default_selection();
    for kind in [
        PluginKind::Storage,
        PluginKind::Status,
        PluginKind::Retention,
        PluginKind::Reporter,
    ] {
        for spec in selection.of_kind(kind) {
            if !warn && isolated(spec) {
                continue;
            }
            if let Err(e) = registry.check_instance(spec, &ctx.hooks_home) {
                if UnknownSetting::parse(&e).is_some() {
                    return Err(explain_failure(Failure::usage(e), &ctx.config));
                }
                // A plugin name no plugin answers to (`standrd`): `clean`
                // would stop on it, so `config show` does too.
                if warn && e.starts_with(&format!("no {kind} plugin named ")) {
                    return Err(Failure::usage(e));
                }
                if warn {
                    ctx.warn(&e);
                }
            }
        }
    }
    if warn {
        for (kind, plugin) in ctx.config.project_section_plugins() {
            if registry.find(kind, &plugin.value).is_none() {
                return Err(Failure::usage(registry.not_found(
                    kind,
                    &plugin.value,
                    &plugin.source,
                )));
            }
        }
    }
    Ok(())
}

/// Whether `spec` asks for its own process (a malformed `isolation` key is
/// not: creating the instance reports it).
fn isolated(spec: &crate::config::InstanceSpec) -> bool {
    matches!(
        crate::registry::isolation::for_kind(spec.kind, &spec.settings),
        Ok((crate::registry::isolation::Isolation::Process(_), _))
    )
}

/// A command's failure, with a plugin's refusal of an unknown setting
/// reworded (where it is set, the key meant) and made a configuration
/// error (exit 2).
pub(super) fn explain_failure(failure: Failure, config: &Config) -> Failure {
    match UnknownSetting::parse(&failure.message) {
        Some(refusal) => Failure::usage(refusal.explain(config)),
        None => failure,
    }
}
