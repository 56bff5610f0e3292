//! How a run is named on the command line: the one id `list` prints and
//! `info`, `why` and `events` accept.
//!
//! An otto run's own id (`<ts>` or `<ts>-<n>` for a second run started in
//! the same second) is unique only inside its project, so its full name is
//! `<project-key>/<ts>[-n]` (`web-9d9de448/1787254856-1`), whichever storage
//! holds it: otto's directories, or the hooks' history after `import otto`
//! (which files it as `<project-key>:<ts>[-n]`). A run the hooks recorded
//! (`run_20250120_143052_a1b2`) is unique in the whole history and is named
//! by its id alone.
//!
//! Shorter forms are accepted too, and resolved against a listing: the bare
//! `<ts>[-n]` (when one project has it), `<project-name>/<ts>`,
//! `<project-hash>/<ts>`, and the history's own `<project-key>:<ts>`.

use otto_hooks_plugin_api::Run;

use crate::hooks::ProjectRef;

/// Whether `id` has the shape of otto's run ids: digits, optionally
/// `-<digits>`.
pub fn is_otto_run_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match id.split_once('-') {
        Some((ts, n)) => digits(ts) && digits(n),
        None => digits(id),
    }
}

/// The name `list` shows for the run `run_id` of `project`, and the one
/// every command accepts (see the module docs).
pub fn run_ref(project: &str, run_id: &str) -> String {
    if let Some((p, r)) = run_id.split_once(':') {
        if p == project && is_otto_run_id(r) {
            return format!("{p}/{r}");
        }
    }
    if is_otto_run_id(run_id) {
        format!("{project}/{run_id}")
    } else {
        run_id.to_owned()
    }
}

/// [`run_ref`] of a listed run.
pub fn of(run: &Run) -> String {
    run_ref(&run.project, &run.id)
}

/// A run as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// The project it names (`<project>/…`, `<project>:…`, or `--project`).
    pub project: Option<String>,
    /// The run part: `<ts>[-n]` or a history id.
    pub run: String,
    /// Exactly what was typed.
    pub raw: String,
}

impl RunSpec {
    /// Reads `spec`, with the `--project` given beside it (the spec's own
    /// project wins).
    pub fn parse(spec: &str, project: Option<&str>) -> Self {
        let named = match spec.rsplit_once('/') {
            Some((p, r)) if !p.is_empty() && !r.is_empty() => Some((p, r)),
            _ => spec
                .split_once(':')
                .filter(|(p, r)| !p.is_empty() && is_otto_run_id(r)),
        };
        match named {
            Some((p, r)) => RunSpec {
                project: Some(p.to_owned()),
                run: r.to_owned(),
                raw: spec.to_owned(),
            },
            None => RunSpec {
                project: project.map(str::to_owned),
                run: spec.to_owned(),
                raw: spec.to_owned(),
            },
        }
    }

    /// The ids storage may file this run under, most likely first: the run
    /// part, and the history's `<project>:<run>` for an imported otto run.
    pub fn storage_ids(&self) -> Vec<String> {
        let mut ids = vec![self.run.clone()];
        if let Some(p) = &self.project {
            if is_otto_run_id(&self.run) {
                ids.push(format!("{p}:{}", self.run));
            }
        }
        ids
    }

    /// Whether the listed `run` is the one named.
    pub fn matches(&self, run: &Run) -> bool {
        let in_project = self
            .project
            .as_deref()
            .is_none_or(|p| project_matches(&run.project, p));
        in_project && (run.id == self.raw || own_id(run) == self.run)
    }
}

/// A run's id without the `<project>:` the history files an imported otto
/// run under: `<ts>[-n]` for every otto run.
pub fn own_id(run: &Run) -> &str {
    run.id
        .split_once(':')
        .filter(|(p, r)| *p == run.project && is_otto_run_id(r))
        .map_or(run.id.as_str(), |(_, r)| r)
}

/// Whether the project key `key` is the one `query` names: the key itself,
/// or (an otto key `<name>-<hash8>`) its name or its hash — as `--project`
/// reads it.
pub fn project_matches(key: &str, query: &str) -> bool {
    if key == query {
        return true;
    }
    let name = ProjectRef::from_key(key).name;
    name != key && (name == query || key.strip_prefix(&format!("{name}-")) == Some(query))
}

/// The few `candidates` closest to `wanted` by edit distance (or that
/// contain it), closest first: what a "not found" message suggests.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lower = c.to_lowercase();
            let name = ProjectRef::from_key(c).name.to_lowercase();
            let d = edit_distance(&wanted_lower, &lower).min(edit_distance(&wanted_lower, &name));
            let near = d <= (wanted.chars().count() / 3).max(2)
                || (wanted_lower.len() >= 3 && lower.contains(&wanted_lower));
            near.then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Levenshtein distance, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(project: &str, id: &str) -> Run {
        Run {
            project: project.into(),
            id: id.into(),
            ..Run::default()
        }
    }

    #[test]
    fn otto_runs_are_named_with_their_project_in_every_storage() {
        assert_eq!(
            run_ref("web-9d9de448", "1787254856"),
            "web-9d9de448/1787254856"
        );
        assert_eq!(
            run_ref("web-9d9de448", "1787254856-1"),
            "web-9d9de448/1787254856-1"
        );
        // Imported into the history.
        assert_eq!(
            run_ref("web-9d9de448", "web-9d9de448:1787254856-1"),
            "web-9d9de448/1787254856-1"
        );
        // Recorded by the hooks: unique on its own.
        assert_eq!(
            run_ref("/src/app", "run_20250120_143052_a1b2"),
            "run_20250120_143052_a1b2"
        );
    }

    #[test]
    fn every_form_names_the_same_run() {
        let fs = run("web-9d9de448", "1787254856-1");
        let imported = run("web-9d9de448", "web-9d9de448:1787254856-1");
        for spec in [
            "web-9d9de448/1787254856-1",
            "web-9d9de448:1787254856-1",
            "web/1787254856-1",
            "9d9de448/1787254856-1",
            "1787254856-1",
        ] {
            let s = RunSpec::parse(spec, None);
            assert!(s.matches(&fs), "{spec} names the otto run");
            assert!(s.matches(&imported), "{spec} names the imported run");
        }
        let other = RunSpec::parse("api-ea93126e/1787254856-1", None);
        assert!(!other.matches(&fs));
        assert!(!RunSpec::parse("1787254856", None).matches(&fs));
        assert!(!RunSpec::parse("1787254856-1", Some("api")).matches(&fs));
        let hook = run("/src/app", "run_20250120_143052_a1b2");
        assert!(RunSpec::parse("run_20250120_143052_a1b2", None).matches(&hook));
    }

    #[test]
    fn an_imported_run_is_looked_up_under_its_history_id_too() {
        let s = RunSpec::parse("web-9d9de448/100-1", None);
        assert_eq!(s.storage_ids(), ["100-1", "web-9d9de448:100-1"]);
    }

    #[test]
    fn closest_names_a_misspelt_project_first() {
        let projects = ["web-9d9de448", "api-ea93126e", "my-app-f5485506"];
        assert_eq!(closest("wbe", projects), ["web-9d9de448"]);
        assert_eq!(closest("my-ap", projects), ["my-app-f5485506"]);
        assert!(closest("zzzzzzzz", projects).is_empty());
        assert_eq!(edit_distance("keep_lsat", "keep_last"), 2);
    }
}
