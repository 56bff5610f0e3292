//! Whether to colour, by the conventions people set in their environment.
//!
//! - `NO_COLOR` set and not empty: no colour (<https://no-color.org>);
//! - else `CLICOLOR_FORCE` set, not empty and not `0`: colour even when the
//!   output is not a terminal;
//! - else colour on a terminal whose `TERM` is not `dumb`.
//!
//! An explicit choice (`--color always|never`, a reporter's `color`
//! setting) overrides the environment, as no-color.org asks. The `table`
//! reporter and the `otto-hooks` binary (its logs and clap's messages) decide
//! with [`enabled`], so that every output follows the same rule.

use std::ffi::OsString;

/// When to colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum When {
    /// By the environment and whether the output is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl When {
    /// `auto`, `always` or `never`.
    pub fn parse(text: &str) -> Option<When> {
        match text {
            "auto" => Some(When::Auto),
            "always" => Some(When::Always),
            "never" => Some(When::Never),
            _ => None,
        }
    }

    /// The name [`When::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            When::Auto => "auto",
            When::Always => "always",
            When::Never => "never",
        }
    }
}

/// Whether to colour an output that `is_terminal` (or not), with the
/// environment read through `env` (`std::env::var_os` outside tests).
pub fn enabled(when: When, is_terminal: bool, env: &dyn Fn(&str) -> Option<OsString>) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    match when {
        When::Always => true,
        When::Never => false,
        When::Auto if set("NO_COLOR").is_some() => false,
        When::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
        When::Auto => is_terminal && env("TERM").is_none_or(|t| t != "dumb"),
    }
}

/// [`enabled`] with the process's environment.
pub fn enabled_here(when: When, is_terminal: bool) -> bool {
    enabled(when, is_terminal, &|name| std::env::var_os(name))
}

/// An SGR colour for a piece of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    /// Done well.
    Green,
    /// Failed.
    Red,
    /// In progress.
    Cyan,
    /// Needs a look: interrupted, stopped.
    Yellow,
    /// Nothing known, or nothing happened.
    Dim,
}

impl Paint {
    /// `text` between this colour's escape and a reset.
    pub fn wrap(self, text: &str) -> String {
        let code = match self {
            Paint::Green => "32",
            Paint::Red => "31",
            Paint::Cyan => "36",
            Paint::Yellow => "33",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn auto_colours_a_terminal_only() {
        assert!(enabled(When::Auto, true, &env(&[])));
        assert!(!enabled(When::Auto, false, &env(&[])));
    }

    #[test]
    fn no_color_with_any_non_empty_value_turns_colour_off() {
        assert!(!enabled(When::Auto, true, &env(&[("NO_COLOR", "1")])));
        assert!(!enabled(When::Auto, true, &env(&[("NO_COLOR", "false")])));
        // Empty is unset (no-color.org).
        assert!(enabled(When::Auto, true, &env(&[("NO_COLOR", "")])));
        // NO_COLOR wins over CLICOLOR_FORCE.
        let both = [("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")];
        assert!(!enabled(When::Auto, false, &env(&both)));
    }

    #[test]
    fn clicolor_force_colours_a_pipe_unless_it_is_0() {
        assert!(enabled(When::Auto, false, &env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!enabled(
            When::Auto,
            false,
            &env(&[("CLICOLOR_FORCE", "0")])
        ));
    }

    #[test]
    fn a_dumb_terminal_gets_no_colour() {
        assert!(!enabled(When::Auto, true, &env(&[("TERM", "dumb")])));
    }

    #[test]
    fn an_explicit_choice_overrides_the_environment() {
        assert!(enabled(When::Always, false, &env(&[("NO_COLOR", "1")])));
        assert!(!enabled(
            When::Never,
            true,
            &env(&[("CLICOLOR_FORCE", "1")])
        ));
    }

    #[test]
    fn when_parses_its_own_names() {
        for when in [When::Auto, When::Always, When::Never] {
            assert_eq!(When::parse(when.name()), Some(when));
        }
        assert_eq!(When::parse("yes"), None);
    }
}
