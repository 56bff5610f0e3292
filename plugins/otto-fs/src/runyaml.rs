//! `run.yaml`: what otto wrote about a run when it started.
//!
//! ```yaml
//! prog: otto
//! cwd: /home/me/src/web
//! user: me
//! timestamp: 1700000000
//! hash: 0f1e2d3c            # a hash of the ottofile's CONTENT
//! ottofile: /home/me/src/web/otto.yml
//! args: [otto, ci]
//! ```
//!
//! Every field is optional and unknown fields are ignored. Scalars are read
//! as text whatever their YAML type (`hash: 12345678` is a number to YAML).
//! A file that is not such a mapping yields one line of error, reported as
//! the `run_yaml_error` attribute rather than failing the call.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{Mode, OFlags};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

/// A `run.yaml` larger than this is not read.
const MAX_LEN: u64 = 1 << 20;

/// The fields of `run.yaml` that otto-hooks shows.
#[derive(Debug, Default, Deserialize)]
struct RunYaml {
    prog: Option<Yaml>,
    cwd: Option<Yaml>,
    user: Option<Yaml>,
    hash: Option<Yaml>,
    ottofile: Option<Yaml>,
    args: Option<Yaml>,
}

/// Adds the attributes of the `run.yaml` in the run directory `run` to
/// `attributes`: `user`, `cwd`, `ottofile`, `args` (an array), `prog` and
/// `ottofile_hash`, those present; or `run_yaml_error` when it is malformed.
/// A missing `run.yaml` adds nothing.
pub(crate) fn add_attributes(run: BorrowedFd<'_>, attributes: &mut Map<String, Value>) {
    match read(run) {
        Ok(None) => {}
        Ok(Some(text)) => {
            if let Err(e) = parse_into(&text, attributes) {
                attributes.insert("run_yaml_error".into(), Value::String(e));
            }
        }
        Err(e) => {
            attributes.insert("run_yaml_error".into(), Value::String(e));
        }
    }
}

/// The text of `run.yaml`, `None` when there is none.
fn read(run: BorrowedFd<'_>) -> Result<Option<String>, String> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(run, "run.yaml", flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => return Err("run.yaml is a symlink; not followed".into()),
        Err(e) => return Err(format!("cannot open run.yaml: {e}")),
    };
    let st = rustix::fs::fstat(fd.as_fd()).map_err(|e| format!("cannot read run.yaml: {e}"))?;
    if crate::walk::file_type(&st) != rustix::fs::FileType::RegularFile {
        return Err("run.yaml is not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read run.yaml: {e}"))?;
    if bytes.len() as u64 > MAX_LEN {
        return Err(format!("run.yaml is larger than {MAX_LEN} bytes; not read"));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "run.yaml is not UTF-8".into())
}

/// Parses `text` and adds its fields to `attributes`.
pub(crate) fn parse_into(text: &str, attributes: &mut Map<String, Value>) -> Result<(), String> {
    let doc: RunYaml = if text.trim().is_empty() {
        RunYaml::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| one_line(&e.to_string()))?
    };
    // Collect first, so that a bad field leaves no partial attributes.
    let mut found = Vec::new();
    for (key, value) in [
        ("user", doc.user),
        ("cwd", doc.cwd),
        ("ottofile", doc.ottofile),
        ("prog", doc.prog),
        ("ottofile_hash", doc.hash),
    ] {
        match value {
            None | Some(Yaml::Null) => {}
            Some(v) => found.push((
                key,
                Value::String(scalar(&v).ok_or_else(|| format!("`{key}` is not a scalar"))?),
            )),
        }
    }
    match doc.args {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Sequence(items)) => {
            let args = items
                .iter()
                .map(|v| scalar(v).map(Value::String))
                .collect::<Option<Vec<_>>>()
                .ok_or("`args` holds something other than text")?;
            found.push(("args", Value::Array(args)));
        }
        Some(_) => return Err("`args` is not a list".into()),
    }
    for (key, value) in found {
        attributes.insert(key.into(), value);
    }
    Ok(())
}

/// A YAML scalar as text.
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An error message on one line, as the attribute holds it.
fn one_line(s: &str) -> String {
    format!(
        "run.yaml: {}",
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Map<String, Value> {
        let mut m = Map::new();
        if let Err(e) = parse_into(text, &mut m) {
            m.insert("run_yaml_error".into(), Value::String(e));
        }
        m
    }

    #[test]
    fn the_fields_otto_writes_are_read_with_args_as_an_array() {
        let m = parse(
            "prog: otto\ncwd: /home/me/src/web\nuser: me\ntimestamp: 1700000000\nhash: 0f1e2d3c\n\
             ottofile: /home/me/src/web/otto.yml\nargs:\n- otto\n- ci\nhostname: box\n",
        );
        assert_eq!(
            Value::Object(m),
            json!({"user": "me", "cwd": "/home/me/src/web", "ottofile": "/home/me/src/web/otto.yml",
                   "prog": "otto", "ottofile_hash": "0f1e2d3c", "args": ["otto", "ci"]})
        );
    }

    #[test]
    fn numbers_read_as_text_and_null_or_missing_fields_are_left_out() {
        let m = parse("hash: 12345678\nottofile: null\nargs: [otto, 3]\n");
        assert_eq!(
            Value::Object(m),
            json!({"ottofile_hash": "12345678", "args": ["otto", "3"]})
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn a_malformed_run_yaml_is_one_line_of_error_not_a_failure() {
        for text in [
            "prog: [unclosed\n",
            "- just\n- a list\n",
            "args: otto ci\n",
            "user: {a: b}\n",
            "\t: :",
        ] {
            let m = parse(text);
            let err = m
                .get("run_yaml_error")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{text:?}: {m:?}"));
            assert!(!err.contains('\n'), "{err}");
            assert_eq!(m.len(), 1, "{m:?}");
        }
    }

    #[test]
    fn a_missing_run_yaml_adds_nothing_and_a_symlinked_one_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::walk::open_root(tmp.path()).unwrap();
        let mut m = Map::new();
        add_attributes(dir.as_fd(), &mut m);
        assert!(m.is_empty());
        std::fs::write(tmp.path().join("elsewhere.yaml"), "user: mallory\n").unwrap();
        std::os::unix::fs::symlink("elsewhere.yaml", tmp.path().join("run.yaml")).unwrap();
        add_attributes(dir.as_fd(), &mut m);
        assert!(m.get("user").is_none());
        assert!(m.contains_key("run_yaml_error"));
    }
}
