//! The golden files: the policy's specification, restic-style.
//!
//! Each `tests/golden/NN_name.json` holds a reference time, a policy (the
//! instance's settings), the runs of one group and the expected decisions.
//! Every case goes through [`decide`] and through the ABI (the module's
//! declaration, instantiated with the policy as a TOML table, exactly as the
//! host does), and both must give `expected`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p otto-hooks-retention-standard --test golden`
//! rewrites `expected` from what the code decides instead. Check every
//! changed decision against the rules in the crate docs before committing:
//! a golden file states what the rules say, not what the code printed.
//!
//! Optional fields for readers: `about` (what the case shows), `now_at` and
//! each run's `at` (the same instants as RFC 3339 UTC, checked against the
//! numbers so that they cannot drift apart).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::DateTime;
use otto_hooks_plugin_api::host::open_module;
use otto_hooks_plugin_api::{
    Action, Decision, PluginConfig, RetentionInput, Run, RunStatus, Timestamp,
};
use otto_hooks_retention_standard::{MODULE, Policy, decide};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const GROUP: &str = "golden-1a2b3c4d";
const INSTANCE: &str = "retention.standard";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    about: Option<String>,
    now: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    now_at: Option<String>,
    policy: serde_json::Map<String, Value>,
    runs: Vec<GoldenRun>,
    expected: Vec<Expected>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoldenRun {
    id: String,
    started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    status: RunStatus,
    /// The verdict's source; one starting with `guess: ` marks a guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_source: Option<String>,
    #[serde(default)]
    pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    run_id: String,
    action: Action,
    reasons: Vec<String>,
}

impl From<&Decision> for Expected {
    fn from(d: &Decision) -> Self {
        Expected {
            run_id: d.run_id.clone(),
            action: d.action,
            reasons: d.reasons.clone(),
        }
    }
}

impl Case {
    fn read(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let case: Case = serde_json::from_str(&text).map_err(|e| format!("bad JSON: {e}"))?;
        check_at(case.now, case.now_at.as_deref(), "now_at")?;
        for run in &case.runs {
            check_at(
                run.started_at,
                run.at.as_deref(),
                &format!("`at` of {}", run.id),
            )?;
        }
        Ok(case)
    }

    fn runs(&self) -> Vec<Run> {
        self.runs
            .iter()
            .map(|r| Run {
                id: r.id.clone(),
                project: GROUP.to_owned(),
                started_at: Timestamp::from_secs(r.started_at),
                status: r.status,
                status_source: r.status_source.clone(),
                pinned: r.pinned,
                size_bytes: r.size_bytes,
                location: format!("/home/dev/.otto/{GROUP}/{}", r.id),
                ..Run::default()
            })
            .collect()
    }

    fn settings(&self) -> Result<toml::Table, String> {
        serde_json::from_value(Value::Object(self.policy.clone()))
            .map_err(|e| format!("the policy is not a TOML table: {e}"))
    }

    /// The decisions of [`decide`], called directly with the policy read
    /// as the plugin reads it.
    fn decide_directly(&self) -> Result<Vec<Expected>, String> {
        let config = PluginConfig::new(INSTANCE, self.settings()?, "/tmp/otto-hooks");
        let policy = Policy::from_config(&config).map_err(|e| e.message)?;
        let decisions = decide(&self.runs(), &policy, Timestamp::from_secs(self.now));
        Ok(decisions.iter().map(Expected::from).collect())
    }

    /// The decisions of the plugin, through the module's ABI tables.
    fn decide_through_the_abi(&self) -> Result<Vec<Expected>, String> {
        // SAFETY: `MODULE` is a `static` of the linked crate, live for the
        // whole process, built by `plugin_module!`.
        let handles = unsafe { open_module(&MODULE) }.map_err(|e| e.to_string())?;
        let handle = handles.first().ok_or("the module declares no plugin")?;
        let instance = handle
            .instantiate(INSTANCE, &self.settings()?, "/tmp/otto-hooks")
            .map_err(|e| e.to_string())?;
        let runs = self.runs();
        let decisions = instance
            .decide(&RetentionInput {
                group: GROUP,
                now: Timestamp::from_secs(self.now),
                runs: &runs,
            })
            .map_err(|e| e.to_string())?;
        Ok(decisions.iter().map(Expected::from).collect())
    }

    /// The file's text, one run and one decision per line.
    fn render(&self) -> Result<String, String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let Value::Object(fields) = value else {
            return Err("a case is an object".to_owned());
        };
        let mut out = String::from("{\n");
        let last = fields.len().saturating_sub(1);
        for (n, (key, value)) in fields.iter().enumerate() {
            let _ = write!(out, "  {}: ", inline(&Value::String(key.clone())));
            match value {
                Value::Array(items) if !items.is_empty() => {
                    out.push_str("[\n");
                    for (m, item) in items.iter().enumerate() {
                        let comma = if m + 1 < items.len() { "," } else { "" };
                        let _ = writeln!(out, "    {}{comma}", inline(item));
                    }
                    out.push_str("  ]");
                }
                other => out.push_str(&inline(other)),
            }
            out.push_str(if n < last { ",\n" } else { "\n" });
        }
        out.push_str("}\n");
        Ok(out)
    }
}

/// `value` on one line, with a space after `:` and `,`.
fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", inline(&Value::String(k.clone())), inline(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// An optional RFC 3339 rendering of `secs` must name the same instant.
fn check_at(secs: i64, at: Option<&str>, what: &str) -> Result<(), String> {
    let Some(at) = at else { return Ok(()) };
    let parsed = DateTime::parse_from_rfc3339(at)
        .map_err(|e| format!("{what} `{at}` is not RFC 3339: {e}"))?;
    if parsed.timestamp() != secs {
        return Err(format!(
            "{what} `{at}` is {} but the number says {secs}",
            parsed.timestamp()
        ));
    }
    Ok(())
}

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn line(d: &Expected) -> String {
    format!("{} {} {:?}", d.run_id, d.action, d.reasons)
}

fn show(decisions: &[Expected]) -> String {
    decisions
        .iter()
        .map(|d| format!("  {}\n", line(d)))
        .collect()
}

/// The decisions that differ, expected then decided, one run per line.
fn differences(expected: &[Expected], decided: &[Expected]) -> String {
    if expected.len() != decided.len() {
        return format!(
            "{} decisions expected, {} decided\nexpected:\n{}decided:\n{}",
            expected.len(),
            decided.len(),
            show(expected),
            show(decided)
        );
    }
    expected
        .iter()
        .zip(decided)
        .filter(|(e, d)| e != d)
        .map(|(e, d)| format!("\n- expected {}\n+ decided  {}", line(e), line(d)))
        .collect()
}

/// Runs one case; with `update`, rewrites its `expected` (atomically).
fn check(path: &Path, update: bool) -> Result<(), String> {
    let mut case = Case::read(path)?;
    let direct = case.decide_directly()?;
    let abi = case.decide_through_the_abi()?;
    if direct != abi {
        return Err(format!(
            "decide() and the ABI disagree\ndecide():\n{}ABI:\n{}",
            show(&direct),
            show(&abi)
        ));
    }
    if update {
        case.expected = direct;
        let text = case.render()?;
        let dir = path.parent().ok_or("a golden file has a directory")?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
        tmp.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        tmp.persist(path).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if direct != case.expected {
        return Err(differences(&case.expected, &direct));
    }
    Ok(())
}

#[test]
fn every_golden_case_decides_as_expected_directly_and_through_the_abi() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let files = golden_files();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            check(path, update)
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_files_are_numbered_and_at_least_25() {
    let files = golden_files();
    assert!(files.len() >= 25, "only {} golden cases", files.len());
    for (n, path) in files.iter().enumerate() {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let expected_prefix = format!("{:02}_", n + 1);
        assert!(
            name.starts_with(&expected_prefix) && name.len() > 3,
            "{} should be named {expected_prefix}<what it shows>.json",
            path.display()
        );
    }
}

#[test]
fn golden_files_are_in_their_canonical_layout() {
    // So that UPDATE_GOLDEN=1 rewrites only what changed.
    for path in golden_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let case = Case::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            case.render().unwrap_or_default(),
            text,
            "{} is not in the layout UPDATE_GOLDEN=1 writes",
            path.display()
        );
    }
}

#[test]
fn every_case_decides_every_run_once() {
    for path in golden_files() {
        let case = Case::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ids: Vec<&str> = case.runs.iter().map(|r| r.id.as_str()).collect();
        let decided: Vec<&str> = case.expected.iter().map(|d| d.run_id.as_str()).collect();
        assert_eq!(decided, ids, "{}", path.display());
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{}: duplicate run ids",
            path.display()
        );
        for d in &case.expected {
            assert!(
                !d.reasons.is_empty(),
                "{}: {} has no reason",
                path.display(),
                d.run_id
            );
        }
    }
}
