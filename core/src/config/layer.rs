//! One configuration layer (the defaults, a file, the environment, the
//! command line) and the TOML reader that builds it with every value's
//! position.

use std::ops::Range;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

use super::kind_index;
use super::provenance::{ConfigError, Origin, Sourced};
use super::settings;

/// Top-level keys of a config file.
const TOP_KEYS: &str =
    "plugins, hooks, clean, policies, redaction, storage, status, retention, reporter, projects";
/// Top-level keys a command-line override may set.
const OVERRIDE_KEYS: &str =
    "plugins, hooks, clean, policies, redaction, storage, status, retention, reporter";
/// Keys of a `[projects."pattern"]` section.
const KIND_KEYS: &str = "storage, status, retention, reporter";

/// Which layer a text is, for the rules that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Defaults,
    Global,
    Project,
    Overrides,
}

/// What one layer sets. `None` leaves the lower layers' value in place.
#[derive(Debug, Clone, Default)]
pub(super) struct Layer {
    pub strict: Option<Sourced<bool>>,
    /// otto-hooks' own settings other than `hooks.strict`, by dotted key.
    pub settings: Vec<(&'static str, Sourced<toml::Value>)>,
    pub plugin_dirs: Option<PathList>,
    pub plugin_paths: Option<PathList>,
    /// The default section of each kind, indexed as `KINDS`.
    pub sections: [Option<SectionPatch>; 4],
    /// `[projects."pattern"]` sections, in file order.
    pub projects: Vec<ProjectSection>,
}

/// `plugins.dirs` or `plugins.paths` as one layer sets it (arrays replace).
#[derive(Debug, Clone)]
pub(super) struct PathList {
    /// Where the key was set.
    pub source: String,
    pub paths: Vec<Sourced<PathBuf>>,
}

/// A `[projects."pattern"]` section.
#[derive(Debug, Clone)]
pub(super) struct ProjectSection {
    pub pattern: String,
    pub matcher: GlobMatcher,
    pub sections: [Option<SectionPatch>; 4],
}

impl ProjectSection {
    /// Whether the section applies to the project called `name` with key `key`.
    pub(super) fn matches(&self, name: &str, key: &str) -> bool {
        self.matcher.is_match(name) || self.matcher.is_match(key)
    }
}

/// A kind section as one layer writes it.
#[derive(Debug, Clone)]
pub(super) enum SectionPatch {
    /// A table or a plugin name: merges into the lower section when it names
    /// the same plugin or none, replaces it otherwise.
    One(InstancePatch),
    /// An array: replaces the lower section.
    Many {
        source: String,
        items: Vec<InstancePatch>,
    },
}

impl SectionPatch {
    /// Whether this patch chooses a plugin by itself.
    pub(super) fn names_plugin(&self) -> bool {
        match self {
            SectionPatch::One(p) => p.plugin.is_some(),
            SectionPatch::Many { items, .. } => !items.is_empty(),
        }
    }
}

/// One instance's section as one layer writes it.
#[derive(Debug, Clone)]
pub(super) struct InstancePatch {
    pub plugin: Option<Sourced<String>>,
    pub name: Option<Sourced<String>>,
    pub settings: Settings,
    /// The section's dotted key, for messages: `retention`, `projects."web-*".retention`.
    pub what: String,
    /// Where the section is, for messages.
    pub at: String,
}

/// A plugin's settings, in file order, each leaf with its source.
pub(super) type Settings = Vec<(String, Setting)>;

/// One setting: a value, or a table whose keys merge one by one.
#[derive(Debug, Clone)]
pub(super) enum Setting {
    Value(Sourced<toml::Value>),
    Table { source: String, entries: Settings },
}

/// Reads one layer from TOML text.
pub(super) fn parse_layer(
    text: &str,
    origin: Origin<'_>,
    role: Role,
    home: &Path,
) -> Result<Layer, ConfigError> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let first = e.message().lines().next().unwrap_or("invalid TOML").trim();
        ConfigError::new(format!("{}: {first}", origin.at(e.span())))
    })?;
    Reader { origin, role, home }.layer(doc.as_table())
}

/// A dotted key for messages and reports, quoting segments that need it.
pub(super) fn key_segment(segment: &str) -> String {
    toml_edit::Key::new(segment).display_repr().into_owned()
}

struct Reader<'a> {
    origin: Origin<'a>,
    role: Role,
    home: &'a Path,
}

/// A value in the document: a key's item, an array element, or a table of an
/// array of tables.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a Table),
}

impl<'a> Node<'a> {
    fn value(self) -> Option<&'a Value> {
        match self {
            Node::Item(Item::Value(v)) | Node::Value(v) => Some(v),
            _ => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }

    fn str(self) -> Option<&'a str> {
        self.value().and_then(Value::as_str)
    }

    fn table(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(Item::Table(t)) | Node::Table(t) => Some(t),
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                Some(t)
            }
            _ => None,
        }
    }

    fn list(self) -> Option<Vec<Node<'a>>> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => Some(a.iter().map(Node::Table).collect()),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                Some(a.iter().map(Node::Value).collect())
            }
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Node::Item(Item::None) => "nothing",
            Node::Item(Item::Table(_)) | Node::Table(_) => "a table",
            Node::Item(Item::ArrayOfTables(_)) => "an array of tables",
            Node::Item(Item::Value(v)) | Node::Value(v) => match v {
                Value::String(_) => "a string",
                Value::Integer(_) => "an integer",
                Value::Float(_) => "a float",
                Value::Boolean(_) => "a boolean",
                Value::Datetime(_) => "a datetime",
                Value::Array(_) => "an array",
                Value::InlineTable(_) => "a table",
            },
        }
    }

    fn to_toml(self) -> toml::Value {
        match self {
            Node::Item(Item::None) => toml::Value::Table(toml::Table::new()),
            Node::Item(Item::Value(v)) | Node::Value(v) => value_to_toml(v),
            Node::Item(Item::Table(t)) | Node::Table(t) => table_to_toml(t),
            Node::Item(Item::ArrayOfTables(a)) => {
                toml::Value::Array(a.iter().map(|t| table_to_toml(t)).collect())
            }
        }
    }
}

fn value_to_toml(v: &Value) -> toml::Value {
    match v {
        Value::String(s) => toml::Value::String(s.value().clone()),
        Value::Integer(i) => toml::Value::Integer(*i.value()),
        Value::Float(f) => toml::Value::Float(*f.value()),
        Value::Boolean(b) => toml::Value::Boolean(*b.value()),
        Value::Datetime(d) => toml::Value::Datetime(*d.value()),
        Value::Array(a) => toml::Value::Array(a.iter().map(value_to_toml).collect()),
        Value::InlineTable(t) => toml::Value::Table(
            t.iter()
                .map(|(k, v)| (k.to_owned(), value_to_toml(v)))
                .collect(),
        ),
    }
}

fn table_to_toml(t: &dyn TableLike) -> toml::Value {
    toml::Value::Table(
        t.iter()
            .map(|(k, item)| (k.to_owned(), Node::Item(item).to_toml()))
            .collect(),
    )
}

/// The entries of a table, each with the position to report it at: a
/// `[header]`'s start for a table written as one, the key otherwise.
fn entries(table: &dyn TableLike) -> Vec<(&str, Node<'_>, Option<Range<usize>>)> {
    table
        .iter()
        .map(|(key, item)| {
            let header = match item {
                Item::Table(t) => t.span(),
                Item::ArrayOfTables(a) => a.span(),
                _ => None,
            };
            let pos = header
                .or_else(|| table.key(key).and_then(toml_edit::Key::span))
                .or_else(|| item.span());
            (key, Node::Item(item), pos)
        })
        .collect()
}

impl Reader<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(format!("{}: {message}", self.origin.at(span)))
    }

    fn wrong_type(
        &self,
        what: &str,
        expected: &str,
        node: Node<'_>,
        pos: Option<Range<usize>>,
    ) -> ConfigError {
        self.err(
            node.span().or(pos),
            format_args!("`{what}` must be {expected}, found {}", node.describe()),
        )
    }

    fn table<'n>(
        &self,
        what: &str,
        node: Node<'n>,
        pos: Option<Range<usize>>,
    ) -> Result<&'n dyn TableLike, ConfigError> {
        node.table()
            .ok_or_else(|| self.wrong_type(what, "a table", node, pos))
    }

    fn layer(&self, root: &Table) -> Result<Layer, ConfigError> {
        let mut layer = Layer::default();
        for (key, node, pos) in entries(root) {
            match key {
                "plugins" => {
                    if self.role == Role::Project {
                        return Err(self.err(
                            pos,
                            "[plugins] may only be set in the global config or OTTO_HOOKS_PLUGIN_DIRS \
                             (a project file must not choose plugin code)",
                        ));
                    }
                    self.plugins(node, pos, &mut layer)?;
                }
                section if settings::SECTIONS.contains(&section) => {
                    self.settings(section, node, pos, &mut layer)?;
                }
                "projects" => {
                    if self.role == Role::Overrides {
                        return Err(self.err(
                            pos,
                            "`projects` can't be set from the command line \
                             (overrides apply to the default sections; use a config file)",
                        ));
                    }
                    self.projects(node, pos, &mut layer)?;
                }
                _ => match kind_index(key) {
                    Some(i) => layer.sections[i] = Some(self.section(key, node, pos)?),
                    None => {
                        let expected = if self.role == Role::Overrides {
                            OVERRIDE_KEYS
                        } else {
                            TOP_KEYS
                        };
                        return Err(self.err(
                            pos,
                            format_args!("unknown key `{key}` (expected one of: {expected})"),
                        ));
                    }
                },
            }
        }
        Ok(layer)
    }

    fn plugins(
        &self,
        node: Node<'_>,
        pos: Option<Range<usize>>,
        layer: &mut Layer,
    ) -> Result<(), ConfigError> {
        let table = self.table("plugins", node, pos)?;
        for (key, node, pos) in entries(table) {
            match key {
                "dirs" => layer.plugin_dirs = Some(self.paths("plugins.dirs", node, pos)?),
                "paths" => layer.plugin_paths = Some(self.paths("plugins.paths", node, pos)?),
                _ => {
                    return Err(self.err(
                        pos,
                        format_args!(
                            "unknown key `plugins.{}` (expected one of: dirs, paths)",
                            key_segment(key)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn paths(
        &self,
        what: &str,
        node: Node<'_>,
        pos: Option<Range<usize>>,
    ) -> Result<PathList, ConfigError> {
        let list = node
            .list()
            .filter(|_| node.value().is_some())
            .ok_or_else(|| {
                self.wrong_type(what, "an array of absolute paths", node, pos.clone())
            })?;
        let mut paths = Vec::with_capacity(list.len());
        for (i, elem) in list.into_iter().enumerate() {
            let text = elem.str().ok_or_else(|| {
                self.wrong_type(&format!("{what}[{i}]"), "a string", elem, pos.clone())
            })?;
            let path = expand_home(text, self.home);
            if !path.is_absolute() {
                return Err(self.err(
                    elem.span().or(pos),
                    format_args!(
                        "`{what}` entry {text:?} is not an absolute path \
                         (plugin locations must be absolute; `~/` expands to $HOME)"
                    ),
                ));
            }
            paths.push(Sourced::new(path, self.origin.source(elem.span())));
        }
        Ok(PathList {
            source: self.origin.source(pos),
            paths,
        })
    }

    /// A section of otto-hooks' own settings (`[hooks]`, `[clean]`…).
    fn settings(
        &self,
        section: &str,
        node: Node<'_>,
        pos: Option<Range<usize>>,
        layer: &mut Layer,
    ) -> Result<(), ConfigError> {
        let table = self.table(section, node, pos)?;
        for (key, node, pos) in entries(table) {
            let dotted = format!("{section}.{key}");
            let Some(def) = settings::find(&dotted) else {
                return Err(self.err(
                    pos,
                    format_args!(
                        "unknown key `{section}.{}` (expected one of: {})",
                        key_segment(key),
                        settings::keys_of(section)
                    ),
                ));
            };
            if def.global_only && self.role == Role::Project {
                return Err(self.err(
                    pos,
                    format_args!(
                        "`{dotted}` may only be set in the global config or on the command line"
                    ),
                ));
            }
            let value = node.to_toml();
            if node.value().is_none() {
                return Err(self.wrong_type(&dotted, "a value", node, pos));
            }
            if let Err(expected) = settings::check(def, &value) {
                return Err(self.wrong_type(&dotted, &expected, node, pos));
            }
            let sourced = Sourced::new(value.clone(), self.origin.source(pos.clone()));
            if def.key == "hooks.strict" {
                layer.strict = Some(Sourced::new(
                    value.as_bool().unwrap_or(false),
                    sourced.source.clone(),
                ));
            }
            layer.settings.push((def.key, sourced));
        }
        Ok(())
    }

    fn projects(
        &self,
        node: Node<'_>,
        pos: Option<Range<usize>>,
        layer: &mut Layer,
    ) -> Result<(), ConfigError> {
        let table = self.table("projects", node, pos)?;
        for (pattern, node, pos) in entries(table) {
            let prefix = format!("projects.{}", key_segment(pattern));
            let glob = GlobBuilder::new(pattern).build().map_err(|e| {
                self.err(
                    pos.clone(),
                    format_args!("invalid project pattern {pattern:?}: {}", e.kind()),
                )
            })?;
            let section = self.table(&prefix, node, pos)?;
            let mut sections: [Option<SectionPatch>; 4] = Default::default();
            for (key, node, pos) in entries(section) {
                let Some(i) = kind_index(key) else {
                    return Err(self.err(
                        pos,
                        format_args!(
                            "unknown key `{}` in `{prefix}` (expected one of: {KIND_KEYS})",
                            key_segment(key)
                        ),
                    ));
                };
                sections[i] = Some(self.section(&format!("{prefix}.{key}"), node, pos)?);
            }
            layer.projects.push(ProjectSection {
                pattern: pattern.to_owned(),
                matcher: glob.compile_matcher(),
                sections,
            });
        }
        Ok(())
    }

    /// A kind section: a plugin name, a table, or an array of either.
    fn section(
        &self,
        what: &str,
        node: Node<'_>,
        pos: Option<Range<usize>>,
    ) -> Result<SectionPatch, ConfigError> {
        if let Some(name) = node.str() {
            return Ok(SectionPatch::One(self.shorthand(what, name, node, pos)?));
        }
        if let Some(table) = node.table() {
            return Ok(SectionPatch::One(self.instance(what, table, pos, false)?));
        }
        if let Some(list) = node.list() {
            let mut items = Vec::with_capacity(list.len());
            for (i, elem) in list.into_iter().enumerate() {
                let what = format!("{what}[{i}]");
                let elem_pos = elem.span().or(pos.clone());
                if let Some(name) = elem.str() {
                    items.push(self.shorthand(&what, name, elem, elem_pos)?);
                } else if let Some(table) = elem.table() {
                    items.push(self.instance(&what, table, elem_pos, true)?);
                } else {
                    return Err(self.wrong_type(&what, "a plugin name or a table", elem, elem_pos));
                }
            }
            return Ok(SectionPatch::Many {
                source: self.origin.source(pos),
                items,
            });
        }
        Err(self.wrong_type(
            what,
            "a table, an array of tables, a plugin name or an array of plugin names",
            node,
            pos,
        ))
    }

    /// `reporter = "table"`.
    fn shorthand(
        &self,
        what: &str,
        name: &str,
        node: Node<'_>,
        pos: Option<Range<usize>>,
    ) -> Result<InstancePatch, ConfigError> {
        if name.trim().is_empty() {
            return Err(self.err(
                node.span().or(pos),
                format_args!("`{what}` must name a plugin, found an empty string"),
            ));
        }
        Ok(InstancePatch {
            plugin: Some(Sourced::new(
                name.to_owned(),
                self.origin.source(pos.clone()),
            )),
            name: None,
            settings: Vec::new(),
            what: what.to_owned(),
            at: self.origin.at(pos),
        })
    }

    fn instance(
        &self,
        what: &str,
        table: &dyn TableLike,
        pos: Option<Range<usize>>,
        require_plugin: bool,
    ) -> Result<InstancePatch, ConfigError> {
        let mut patch = InstancePatch {
            plugin: None,
            name: None,
            settings: Vec::new(),
            what: what.to_owned(),
            at: self.origin.at(pos.clone()),
        };
        for (key, node, key_pos) in entries(table) {
            match key {
                "plugin" | "name" => {
                    let field = format!("{what}.{key}");
                    let value = node.str().ok_or_else(|| {
                        self.wrong_type(&field, "a string", node, key_pos.clone())
                    })?;
                    if value.trim().is_empty() {
                        return Err(self.err(
                            node.span().or(key_pos),
                            format_args!("`{field}` must not be empty"),
                        ));
                    }
                    let value = Some(Sourced::new(value.to_owned(), self.origin.source(key_pos)));
                    if key == "plugin" {
                        patch.plugin = value;
                    } else {
                        patch.name = value;
                    }
                }
                _ => patch
                    .settings
                    .push((key.to_owned(), self.setting(node, key_pos))),
            }
        }
        if require_plugin && patch.plugin.is_none() {
            return Err(self.err(
                pos,
                format_args!("`{what}` has no `plugin` (each entry of an array names its plugin)"),
            ));
        }
        Ok(patch)
    }

    /// A plugin setting: not checked here (the plugin validates its own
    /// settings), only recorded with its source.
    fn setting(&self, node: Node<'_>, pos: Option<Range<usize>>) -> Setting {
        match node.table() {
            Some(table) => Setting::Table {
                source: self.origin.source(pos),
                entries: entries(table)
                    .into_iter()
                    .map(|(k, n, p)| (k.to_owned(), self.setting(n, p)))
                    .collect(),
            },
            None => Setting::Value(Sourced::new(node.to_toml(), self.origin.source(pos))),
        }
    }
}

/// `~` and a leading `~/` expand to `home`; anything else is taken as is.
pub(super) fn expand_home(text: &str, home: &Path) -> PathBuf {
    if text == "~" {
        home.to_path_buf()
    } else if let Some(rest) = text.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(text)
    }
}
