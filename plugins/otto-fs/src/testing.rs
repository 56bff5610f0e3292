//! Test support: small `$OTTO_HOME` trees in the real otto layout, and the
//! real `du` to compare sizes with.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use otto_hooks_plugin_api::{Plugin, PluginConfig};

use crate::OttoFs;

/// `du <flag> <path>` (`-sb`, `-sB1`), the number only.
pub(crate) fn du(path: &Path, flag: &str) -> u64 {
    let out = Command::new("du")
        .arg(flag)
        .arg(path)
        .output()
        .expect("du runs");
    assert!(
        out.status.success(),
        "du {flag} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// A temporary `$OTTO_HOME` (`<tmp>/otto`) and otto-hooks data directory
/// (`<tmp>/hooks`), with helpers that write what otto writes.
pub(crate) struct Fixture {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl Fixture {
    /// An empty `$OTTO_HOME` with otto's own files.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("otto");
        let data = tmp.path().join("hooks");
        std::fs::create_dir_all(home.join("backups")).unwrap();
        std::fs::write(home.join("otto.db"), b"SQLite format 3\0").unwrap();
        std::fs::write(home.join(".last_prune"), b"").unwrap();
        Fixture { tmp, home, data }
    }

    /// A plugin reading this home, with the index in `data` and `extra`
    /// settings (TOML lines).
    pub fn plugin_with(&self, extra: &str) -> OttoFs {
        let threads = if extra.contains("threads") {
            ""
        } else {
            "threads = 4\n"
        };
        let toml = format!(
            "otto_home = {:?}\n{threads}{extra}",
            self.home.to_str().unwrap()
        );
        OttoFs::new(&PluginConfig::from_toml("storage.otto-fs", &toml, &self.data).unwrap())
            .unwrap()
    }

    /// A plugin with the default settings for this home.
    pub fn plugin(&self) -> OttoFs {
        self.plugin_with("")
    }

    /// Makes the project directory `dir` (with an empty `.cache`).
    pub fn project(&self, dir: &str) -> PathBuf {
        let path = self.home.join(dir);
        std::fs::create_dir_all(path.join(".cache")).unwrap();
        path
    }

    /// Starts a run `id` of project `dir` as current otto writes it: a
    /// `run.yaml` and an empty `tasks/`.
    pub fn run(&self, dir: &str, id: &str) -> RunBuilder {
        let project = self.project(dir);
        let path = project.join(id);
        std::fs::create_dir_all(path.join("tasks")).unwrap();
        let ts = id.split('-').next().unwrap();
        std::fs::write(
            path.join("run.yaml"),
            format!(
                "prog: otto\ncwd: /src/{dir}\nuser: tester\ntimestamp: {ts}\nhash: 0f1e2d3c\n\
                 ottofile: /src/{dir}/otto.yml\nargs:\n- otto\n- ci\n"
            ),
        )
        .unwrap();
        RunBuilder { project, path }
    }
}

/// Writes the contents of one run.
pub(crate) struct RunBuilder {
    pub project: PathBuf,
    pub path: PathBuf,
}

impl RunBuilder {
    /// A task whose script is the cache file `<project>/.cache/<script>`
    /// (written when missing), linked relatively as current otto does.
    pub fn task(self, name: &str, script: &str) -> Self {
        let cache = self.project.join(".cache").join(script);
        if !cache.exists() {
            std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
            std::fs::write(&cache, format!("#!/bin/sh\necho {name}\n")).unwrap();
        }
        let ext = if script.ends_with(".py") { "py" } else { "sh" };
        self.task_linking(name, &format!("../../../.cache/{script}"), ext)
    }

    /// A task whose `script.<ext>` links to `target` exactly as given.
    pub fn task_linking(self, name: &str, target: &str, ext: &str) -> Self {
        let dir = self.path.join("tasks").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stdout.log"), format!("running {name}\n")).unwrap();
        std::fs::write(dir.join("stderr.log"), format!("warning from {name}\n")).unwrap();
        std::fs::write(dir.join("builtins.sh"), "otto_set_output() { :; }\n").unwrap();
        std::fs::write(dir.join(format!("output.{name}.json")), "{}").unwrap();
        symlink(target, dir.join(format!("script.{ext}"))).unwrap();
        self
    }

    /// A file at `rel` in the run with `contents`.
    pub fn file(self, rel: &str, contents: &[u8]) -> Self {
        let path = self.path.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// A legacy run: no `run.yaml` fields beyond the minimal ones.
    pub fn minimal_yaml(self) -> Self {
        self.file(
            "run.yaml",
            b"ottofile: /src/otto.yml\nhash: abc123\ntimestamp: 1\n",
        )
    }

    /// The `.lock` of a live (or killed) run.
    pub fn lock(self) -> Self {
        self.file(".lock", b"")
    }

    /// The `.keep` of a pinned run.
    pub fn keep(self) -> Self {
        self.file(".keep", b"")
    }

    /// The run directory.
    pub fn done(self) -> PathBuf {
        self.path
    }
}
