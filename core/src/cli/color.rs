//! `--color auto|always|never`, and where it goes: clap's help and errors,
//! the logs on stderr, the `table` reporter on stdout.
//!
//! `auto` follows the environment by the rule of
//! [`otto_hooks_reporters::color`] (`NO_COLOR`, `CLICOLOR_FORCE`, a
//! terminal); an explicit `always` or `never` overrides it everywhere.

use std::ffi::OsString;

use otto_hooks_reporters::color::{self, When};

use crate::config::InstanceSpec;

/// The `--color` flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorFlag {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE colours a pipe).
    #[default]
    Auto,
    /// Always, even in a pipe.
    Always,
    /// Never.
    Never,
}

impl ColorFlag {
    fn when(self) -> When {
        match self {
            ColorFlag::Auto => When::Auto,
            ColorFlag::Always => When::Always,
            ColorFlag::Never => When::Never,
        }
    }

    /// The flag's value in raw arguments, before clap parses them (so that
    /// clap's own messages follow it); the last one wins, `auto` without
    /// one or with a value clap will refuse.
    pub fn from_args(args: &[OsString]) -> ColorFlag {
        let mut found = ColorFlag::Auto;
        let mut args = args.iter().skip(1).map(|a| a.to_str());
        while let Some(arg) = args.next() {
            let value = match arg {
                Some("--") => break,
                Some("--color") => args.next().flatten(),
                Some(a) => a.strip_prefix("--color="),
                None => None,
            };
            found = match value {
                Some("always") => ColorFlag::Always,
                Some("never") => ColorFlag::Never,
                Some(_) => ColorFlag::Auto,
                None => found,
            };
        }
        found
    }

    /// clap's setting (clap's `auto` reads NO_COLOR and CLICOLOR_FORCE too).
    pub fn clap_choice(self) -> clap::ColorChoice {
        match self {
            ColorFlag::Auto => clap::ColorChoice::Auto,
            ColorFlag::Always => clap::ColorChoice::Always,
            ColorFlag::Never => clap::ColorChoice::Never,
        }
    }

    /// Whether to colour an output that `is_terminal` (or not).
    pub fn enabled_for(self, is_terminal: bool) -> bool {
        color::enabled_here(self.when(), is_terminal)
    }

    /// Hands an explicit choice to the `table` reporter (its `color`
    /// setting); with `auto` the reporter decides by the same rule.
    pub fn apply_to(self, spec: &mut InstanceSpec) {
        if self != ColorFlag::Auto && spec.plugin == "table" {
            spec.settings.insert(
                "color".to_owned(),
                toml::Value::String(self.when().name().to_owned()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_flag_is_found_before_parsing_in_both_spellings() {
        let flag = |list: &[&str]| ColorFlag::from_args(&args(list));
        assert_eq!(flag(&["otto-hooks", "list"]), ColorFlag::Auto);
        assert_eq!(
            flag(&["otto-hooks", "--color", "never", "list"]),
            ColorFlag::Never
        );
        assert_eq!(
            flag(&["otto-hooks", "list", "--color=always"]),
            ColorFlag::Always
        );
        assert_eq!(
            flag(&["otto-hooks", "--color=always", "--color", "never"]),
            ColorFlag::Never
        );
        // After `--` it is an operand, not the flag.
        assert_eq!(
            flag(&["otto-hooks", "x", "--", "--color=never"]),
            ColorFlag::Auto
        );
    }

    #[test]
    fn only_the_table_reporter_gets_an_explicit_choice() {
        let spec = |plugin: &str| InstanceSpec {
            kind: otto_hooks_plugin_api::PluginKind::Reporter,
            plugin: plugin.to_owned(),
            instance: format!("reporter.{plugin}"),
            settings: toml::Table::new(),
            origin: "test".to_owned(),
        };
        let mut table = spec("table");
        ColorFlag::Never.apply_to(&mut table);
        assert_eq!(table.settings["color"].as_str(), Some("never"));
        let mut auto = spec("table");
        ColorFlag::Auto.apply_to(&mut auto);
        assert!(auto.settings.is_empty());
        let mut markdown = spec("markdown");
        ColorFlag::Always.apply_to(&mut markdown);
        assert!(markdown.settings.is_empty());
    }
}
