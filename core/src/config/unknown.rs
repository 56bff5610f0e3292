//! Misspelt plugin settings: the plugin refuses a key it does not know
//! (each validates its own settings, serde's `deny_unknown_fields`); this
//! rewords that refusal for people, with the key's place in the config and
//! the closest key the plugin knows (`keep_lsat` → `keep_last`).

use super::Config;
use crate::run_ref::edit_distance;

/// A plugin's refusal of an unknown setting, as read from its message
/// (`<instance> (chosen at …): settings of `…`: unknown field `x`,
/// expected one of `a`, `b``).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSetting {
    /// The instance that refused it (`retention.standard`).
    pub instance: String,
    /// The key it does not know.
    pub field: String,
    /// The keys it knows.
    pub known: Vec<String>,
}

impl UnknownSetting {
    /// Reads `message`; `None` when it is not such a refusal.
    pub fn parse(message: &str) -> Option<Self> {
        let at = message.find("unknown field `")?;
        let rest = &message[at + "unknown field `".len()..];
        let field = rest.split('`').next()?.to_owned();
        let known = rest
            .split_once("expected")
            .map(|(_, list)| {
                list.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let instance = message
            .split_once(" (chosen at ")
            .map(|(i, _)| i.rsplit(": ").next().unwrap_or(i).to_owned())
            .unwrap_or_default();
        Some(UnknownSetting {
            instance,
            field,
            known,
        })
    }

    /// The known key closest to the unknown one, when it is a likely typo.
    pub fn suggestion(&self) -> Option<&str> {
        self.known
            .iter()
            .map(|k| (edit_distance(&self.field, k), k.as_str()))
            .filter(|(d, _)| *d <= (self.field.chars().count() / 3).max(2))
            .min()
            .map(|(_, k)| k)
    }

    /// One line: the key as written in the config, where it was set, and
    /// the suggestion (or the keys the plugin knows).
    pub fn explain(&self, config: &Config) -> String {
        let kind = self.instance.split(['.', '#']).next().unwrap_or_default();
        let report = config.report();
        let set = report.values.iter().find(|v| {
            let Some(prefix) = v.key.strip_suffix(&format!(".{}", self.field)) else {
                return false;
            };
            let section = prefix.rsplit('.').next().unwrap_or(prefix);
            section == kind || section.starts_with(&format!("{kind}["))
        });
        let (key, place) = match set {
            Some(v) => (v.key.clone(), format!(" ({})", v.source)),
            None => (format!("{kind}.{}", self.field), String::new()),
        };
        let hint = match self.suggestion() {
            Some(s) => format!("did you mean `{s}`?"),
            None if !self.known.is_empty() => format!("it knows: {}", self.known.join(", ")),
            None => "see the plugin's documentation".to_owned(),
        };
        format!(
            "unknown setting `{key}`{place}: {} has no setting `{}`; {hint}",
            self.instance, self.field
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_suggests_the_closest_known_one() {
        let refusal = UnknownSetting::parse(
            "retention.standard (chosen at default): settings of `retention.standard`: unknown field `keep_lsat`, expected one of `keep_days`, `keep_last`, `max_runs`",
        )
        .expect("a refusal");
        assert_eq!(refusal.instance, "retention.standard");
        assert_eq!(refusal.field, "keep_lsat");
        assert_eq!(refusal.known, ["keep_days", "keep_last", "max_runs"]);
        assert_eq!(refusal.suggestion(), Some("keep_last"));
    }

    #[test]
    fn a_key_like_nothing_known_gets_no_suggestion() {
        let refusal = UnknownSetting::parse(
            "storage.otto-fs (chosen at default): unknown field `colour`, expected `otto_home`",
        )
        .expect("a refusal");
        assert_eq!(refusal.known, ["otto_home"]);
        assert_eq!(refusal.suggestion(), None);
        assert!(UnknownSetting::parse("no such plugin").is_none());
    }
}
