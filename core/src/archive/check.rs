//! What an archive entry may be: its path, its place, its link target.
//! Pure functions over strings, no I/O.

use otto_hooks_otto_fs::layout::{ProjectName, RunName};

/// Where an entry goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// `manifest.json`.
    Manifest,
    /// Inside an otto run: `rel` is empty for the run directory itself.
    Run {
        /// Project directory.
        project: String,
        /// Run name.
        run: String,
        /// The path inside the run (`tasks/build/stdout.log`).
        rel: Vec<String>,
    },
    /// A cache file of a project: `rel` is `<file>` or `<task>/<hash>`.
    Cache {
        /// Project directory.
        project: String,
        /// The path inside `.cache`.
        rel: Vec<String>,
    },
    /// A run's otto.db rows.
    Rows {
        /// Project directory.
        project: String,
        /// Run name.
        run: String,
    },
    /// A part of a history run.
    History {
        /// Run id.
        id: String,
        /// `run.json`, `events.jsonl` or `graph.json`.
        part: String,
    },
}

/// The components of an entry path: relative, plain names only (a
/// directory's trailing `/` is dropped). The error names what is wrong.
pub fn components(path: &str, max_bytes: usize) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Err("an entry has an empty path".into());
    }
    if path.len() > max_bytes {
        return Err(format!(
            "an entry's path is longer than {max_bytes} bytes ({}…)",
            path.chars().take(60).collect::<String>()
        ));
    }
    if path.contains('\0') {
        return Err("an entry's path contains a NUL byte".into());
    }
    if path.starts_with('/') {
        return Err(format!("entry `{path}` has an absolute path"));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let mut out = Vec::new();
    for part in trimmed.split('/') {
        match part {
            ".." => return Err(format!("entry `{path}` climbs out with `..`")),
            "" | "." => return Err(format!("entry `{path}` is not a plain relative path")),
            name => out.push(name.to_owned()),
        }
    }
    Ok(out)
}

/// A history run id: letters, digits, `_ - . :`, not `.` or `..`.
pub fn is_history_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Where the entry at `parts` goes, or why it is not allowed.
pub fn place(parts: &[String]) -> Result<Place, String> {
    let shown = parts.join("/");
    let project = |p: &str| -> Result<String, String> {
        ProjectName::parse(p)
            .map(|_| p.to_owned())
            .ok_or_else(|| format!("entry `{shown}`: `{p}` is not an otto project directory"))
    };
    let run = |r: &str| -> Result<String, String> {
        RunName::parse(r)
            .map(|_| r.to_owned())
            .ok_or_else(|| format!("entry `{shown}`: `{r}` is not an otto run directory"))
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match parts.as_slice() {
        [crate::archive::MANIFEST] => Ok(Place::Manifest),
        ["otto", p, ".cache", rel @ ..] if matches!(rel.len(), 1 | 2) => Ok(Place::Cache {
            project: project(p)?,
            rel: rel.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ["otto", p, r, rel @ ..] => Ok(Place::Run {
            project: project(p)?,
            run: run(r)?,
            rel: rel.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ["rows", "otto", p, file] => {
            let r = file
                .strip_suffix(".json")
                .ok_or_else(|| format!("entry `{shown}` is not a rows file"))?;
            Ok(Place::Rows {
                project: project(p)?,
                run: run(r)?,
            })
        }
        [
            "history",
            id,
            part @ ("run.json" | "events.jsonl" | "graph.json"),
        ] if is_history_id(id) => Ok(Place::History {
            id: (*id).to_owned(),
            part: (*part).to_owned(),
        }),
        _ => Err(format!(
            "entry `{shown}` is not part of an otto-hooks export"
        )),
    }
}

/// Checks the target of the symlink at `parts` (inside a run of project
/// `project`): relative, and resolving — lexically, from the link's
/// directory — inside `otto/<project>/`.
pub fn link_target(parts: &[String], target: &str, max_bytes: usize) -> Result<(), String> {
    let shown = parts.join("/");
    if target.is_empty() || target.len() > max_bytes || target.contains('\0') {
        return Err(format!("symlink `{shown}` has a bad target"));
    }
    if target.starts_with('/') {
        return Err(format!(
            "symlink `{shown}` points out of the archive (absolute target {target})"
        ));
    }
    let mut at: Vec<&str> = parts
        .iter()
        .take(parts.len().saturating_sub(1))
        .map(String::as_str)
        .collect();
    // `..` only before the first name: the climb then starts from the
    // link's own directory, a real one (no entry lies below a symlink), so
    // resolving it lexically is resolving it. After a name that may be
    // another link (`c/../..`, `c` -> `../../..`), the kernel climbs from
    // where that link points, which the lexical walk does not see.
    let mut named = false;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if named => {
                return Err(format!(
                    "symlink `{shown}` climbs with `..` after a name ({target}): through another link it could leave its project"
                ));
            }
            ".." => {
                if at.pop().is_none() {
                    return Err(format!(
                        "symlink `{shown}` points out of the archive ({target})"
                    ));
                }
            }
            name => {
                named = true;
                at.push(name);
            }
        }
    }
    let inside = at.len() >= 3
        && at.first() == Some(&"otto")
        && at.get(1).copied() == parts.get(1).map(String::as_str);
    if inside {
        Ok(())
    } else {
        Err(format!(
            "symlink `{shown}` points out of its project ({target})"
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        components(p, 1024).unwrap()
    }

    #[test]
    fn only_plain_relative_paths_are_components() {
        assert!(
            components("/etc/passwd", 1024)
                .unwrap_err()
                .contains("absolute")
        );
        assert!(components("otto/../x", 1024).unwrap_err().contains(".."));
        assert!(components("otto//x", 1024).is_err());
        assert!(components("./otto", 1024).is_err());
        assert_eq!(
            parts("otto/web-6b20a2e4/1700000000/"),
            ["otto", "web-6b20a2e4", "1700000000"]
        );
        assert!(
            components(&"a/".repeat(600), 1024)
                .unwrap_err()
                .contains("longer")
        );
    }

    #[test]
    fn places_follow_the_layout() {
        assert_eq!(place(&parts("manifest.json")).unwrap(), Place::Manifest);
        assert!(matches!(
            place(&parts("otto/web-6b20a2e4/1700000000-1/tasks/a:b/stdout.log")).unwrap(),
            Place::Run { ref run, .. } if run == "1700000000-1"
        ));
        assert!(matches!(
            place(&parts("otto/web-6b20a2e4/.cache/0123abcd.sh")).unwrap(),
            Place::Cache { .. }
        ));
        assert!(place(&parts("otto/web-XYZ/1700000000")).is_err());
        assert!(place(&parts("otto/web-6b20a2e4/17x")).is_err());
        assert!(place(&parts("etc/passwd")).is_err());
        assert!(matches!(
            place(&parts("history/run_20250120_143052_a1b2/events.jsonl")).unwrap(),
            Place::History { .. }
        ));
        assert!(place(&parts("history/x/other.json")).is_err());
    }

    #[test]
    fn links_stay_inside_their_project() {
        let link = parts("otto/web-6b20a2e4/1700000000/tasks/build/script.sh");
        link_target(&link, "../../../.cache/0123abcd.sh", 1024).unwrap();
        link_target(&link, "../dep/output.dep.json", 1024).unwrap();
        assert!(link_target(&link, "/etc/passwd", 1024).is_err());
        assert!(link_target(&link, "../../../../other-0badc0de/x", 1024).is_err());
        assert!(link_target(&link, "../../../../../../../etc/passwd", 1024).is_err());
    }

    /// Found writing the `archive_check` fuzz target's oracle (which, like
    /// the checker, resolves lexically): `c` points up to
    /// its run and passes; `a`, lexically inside the run too, climbs from
    /// where `c` really points and lands at `/`. Only a target whose `..`
    /// all come first is resolved truly by the lexical walk.
    #[test]
    fn a_link_cannot_climb_through_another_link() {
        let dir = "otto/web-6b20a2e4/1700000000/d1/d2/d3/d4";
        let c = parts(&format!("{dir}/c"));
        link_target(&c, "../../../..", 1024).unwrap();
        let a = parts(&format!("{dir}/a"));
        let err = link_target(&a, "c/../../../../..", 1024).unwrap_err();
        assert!(err.contains("after a name"), "{err}");
        assert!(link_target(&a, "c/x/../y", 1024).is_err());
        // otto's own links keep working: leading `..`, then names.
        link_target(&a, "../../../../../.cache/0123abcd.sh", 1024).unwrap();
        link_target(&a, "./c/x", 1024).unwrap();
    }
}
