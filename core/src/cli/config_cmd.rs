//! `otto-hooks config …`

use clap::Subcommand;
use otto_hooks_plugin_api::DocumentKind;

use super::{CmdResult, Context, exit};

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
            let report = ctx.config.report();
            ctx.print(&ctx.registry(), json, DocumentKind::Config, &report)?;
            Ok(exit::OK)
        }
    }
}
