//! The `json` reporter: the document itself, for programs.

use otto_hooks_plugin_api::{Document, Plugin, PluginConfig, PluginError, Reporter};
use serde::Deserialize;

/// The `json` reporter's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// One line instead of pretty-printed.
    #[serde(default)]
    compact: bool,
}

/// Renders documents as their JSON (the `--json` shape), pretty-printed or,
/// with `compact = true`, on one line; always with a trailing newline.
#[derive(Debug)]
pub struct JsonReporter {
    compact: bool,
}

impl Plugin for JsonReporter {
    const NAME: &'static str = "json";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "The document as JSON, pretty-printed or on one line with `compact = true`.";

    fn new(config: &PluginConfig) -> Result<Self, PluginError> {
        // Checked by hand first: the TOML deserialiser's type errors do not
        // name the key.
        if let Some(value) = config.table().get("compact").filter(|v| !v.is_bool()) {
            return Err(PluginError::invalid(format!(
                "settings of `{}`: `compact` must be true or false, not {value}",
                config.instance()
            )));
        }
        let settings: Settings = config.parse()?;
        Ok(JsonReporter {
            compact: settings.compact,
        })
    }
}

impl Reporter for JsonReporter {
    fn render(&self, doc: &Document<'_>) -> Result<String, PluginError> {
        crate::json_text(doc, self.compact)
    }

    fn render_into(
        &self,
        doc: &Document<'_>,
        emit: &mut dyn FnMut(&str),
    ) -> Result<(), PluginError> {
        // Nothing goes out unless all of it can.
        crate::check_json(doc)?;
        crate::json_pieces(doc, self.compact, emit)
    }
}
