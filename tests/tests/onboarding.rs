//! End-to-end: what a newcomer meets — the first command without
//! `~/.otto`, `otto-hooks demo` and its sample data, and the package name
//! `cargo install`/`cargo uninstall` use.
#![allow(clippy::unwrap_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::Path;
use std::process::{Command, Output};

use otto_hooks_tests::PrivateDir;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary with a private home and nothing configured.
fn otto_hooks(home: &Path) -> Command {
    let mut cmd = Command::new(otto_hooks_tests::otto_hooks_binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("OTTO_HOOKS_HOME", home.join(".otto-hooks"))
        .env("OTTO_HOOKS_DAEMON_AUTO_START", "0")
        .current_dir(home);
    cmd
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn without_an_otto_home_the_first_commands_point_at_the_demo() {
    let home = PrivateDir::new();
    for command in ["list", "usage"] {
        let out = otto_hooks(home.path())
            .arg(command)
            .bounded_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("otto-hooks demo"), "{command}: {stderr}");
    }
    let help = otto_hooks(home.path())
        .arg("--help")
        .bounded_output()
        .unwrap();
    assert!(text(&help.stdout).contains("otto-hooks demo"));
}

#[test]
fn demo_builds_a_sample_otto_home_that_every_command_reads() {
    let home = PrivateDir::new();
    let out = otto_hooks(home.path())
        .arg("demo")
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    // In OTTO_HOOKS_HOME, never in ~/.otto; and it says how to explore it.
    let demo = home.path().join(".otto-hooks/demo/otto");
    assert!(!home.path().join(".otto").exists());
    assert!(demo.join("otto.db").is_file());
    for hint in [
        format!("export OTTO_HOME={}", demo.display()),
        "otto-hooks list".to_owned(),
        "otto-hooks usage".to_owned(),
        "otto-hooks clean --dry-run".to_owned(),
    ] {
        assert!(said.contains(&hint), "{hint}: {said}");
    }

    let with_demo = |args: &[&str]| {
        otto_hooks(home.path())
            .args(args)
            .env("OTTO_HOME", &demo)
            .bounded_output()
            .unwrap()
    };
    let runs = json(&with_demo(&["list", "--json"]));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 240);
    let projects: std::collections::BTreeSet<&str> = runs
        .iter()
        .map(|r| r["project"].as_str().unwrap())
        .collect();
    assert_eq!(projects.len(), 4);
    let status = |s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(status("success") > 100, "{}", status("success"));
    assert!(status("failed") > 0);
    // Killed runs: a `running` row whose process is gone.
    assert!(status("interrupted") > 0);
    // Same-second runs: `<ts>-<n>`.
    assert!(
        runs.iter()
            .any(|r| r["run"].as_str().unwrap().contains('-'))
    );
    // Months of runs: the oldest is over 60 days older than the newest.
    let times: Vec<i64> = runs
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    let span = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!(span > 60 * 86_400, "{span}");

    let usage = json(&with_demo(&["usage", "--json"]));
    assert!(usage["total_bytes"].as_u64().unwrap() > 0);
    // Months of runs: the default policy would delete most of each
    // project's, which needs --force (exit 1 without it); the plan is there.
    let dry_run = with_demo(&["clean", "--dry-run", "--json"]);
    assert!(
        matches!(dry_run.status.code(), Some(0 | 1)),
        "{}",
        text(&dry_run.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&dry_run.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    let forced = json(&with_demo(&["clean", "--dry-run", "--force", "--json"]));
    assert!(
        !forced["deleted"].as_array().unwrap().is_empty(),
        "{forced}"
    );

    // Again: already there, the same hints.
    let again = otto_hooks(home.path())
        .arg("demo")
        .bounded_output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("already there"));
}

#[test]
fn demo_refuses_a_directory_in_use_and_otto_s_own_home() {
    let home = PrivateDir::new();
    let busy = home.subdir("busy", 0o700);
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = otto_hooks(home.path())
        .arg("demo")
        .arg(&busy)
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    for otto in [home.path().join(".otto"), home.path().join("elsewhere")] {
        let out = otto_hooks(home.path())
            .arg("demo")
            .arg(&otto)
            .env("OTTO_HOME", home.path().join("elsewhere"))
            .bounded_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", otto.display());
        assert!(text(&out.stderr).contains("otto's own home"));
        assert!(!otto.exists());
    }
}

#[test]
fn the_package_is_named_otto_hooks_and_installs_the_otto_hooks_binary() {
    // `cargo install --path core` then `cargo uninstall otto-hooks` need
    // the package named as the binary.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .bounded_output()
        .unwrap();
    let metadata = json(&out);
    let core = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            Path::new(p["manifest_path"].as_str().unwrap())
                .canonicalize()
                .unwrap()
                == manifest.canonicalize().unwrap()
        })
        .expect("core's package");
    assert_eq!(core["name"], "otto-hooks");
    let targets = core["targets"].as_array().unwrap();
    let bin = targets
        .iter()
        .find(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .expect("a binary");
    assert_eq!(bin["name"], "otto-hooks");
    let lib = targets
        .iter()
        .find(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "lib"))
        .expect("a library");
    assert_eq!(lib["name"], "otto_hooks_core");
}

/// The complete JSON documents of each `## \`otto-hooks …\`` section of
/// docs/JSON.md (fragments, such as `"cache": {…}`, are not documents).
fn documented() -> Vec<(String, Vec<serde_json::Value>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/JSON.md");
    let doc = std::fs::read_to_string(path).unwrap();
    doc.split("\n## ")
        .skip(1)
        .map(|section| {
            let heading = section.lines().next().unwrap().to_owned();
            let blocks = section
                .split("```json\n")
                .skip(1)
                .filter_map(|b| b.split("\n```").next())
                .filter_map(|b| serde_json::from_str(b).ok())
                .collect();
            (heading, blocks)
        })
        .collect()
}

/// A document's keys: an object's, or those of an array's first element.
fn keys(doc: &serde_json::Value) -> Vec<String> {
    let object = match doc {
        serde_json::Value::Array(items) => items.first().unwrap_or(&serde_json::Value::Null),
        other => other,
    };
    let mut keys: Vec<String> = object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Stops the daemon a test started, whatever the test's outcome.
struct Daemon<'a>(&'a Path);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = otto_hooks(self.0).args(["daemon", "stop"]).bounded_output();
    }
}

#[test]
fn every_json_output_has_the_keys_docs_json_md_shows() {
    use otto_hooks_tests::otto_home::{GenSpec, generate};

    let home = PrivateDir::new();
    let mut spec = GenSpec::new(2, 12);
    spec.tasks = 3;
    spec.with_db = true;
    spec.jobs = 1;
    generate(&home.path().join(".otto"), &spec);
    let plugin = home.copy_library("weekday-retention");
    let run = |args: &[&str], input: Option<&str>| -> Output {
        use std::io::Write;
        let mut child = otto_hooks(home.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(text) = input {
            stdin.write_all(text.as_bytes()).unwrap();
        }
        drop(stdin);
        otto_hooks_tests::bounded::finish("otto-hooks", child)
    };
    let doc = |args: &[&str]| -> serde_json::Value {
        let out = run(args, None);
        // 1 is "done with failures" (a refused plan, a daemon not running).
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
    };

    let first_run = doc(&["list", "--json"])[0]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = doc(&["list", "--json"]);
    let first_id = listed[0]["id"].as_str().unwrap().to_owned();
    let second_id = listed[1]["id"].as_str().unwrap().to_owned();
    let first_task = doc(&["info", &first_id, "--json"])["tasks"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = text(&run(&["hook", "run-start", "--repo", "."], None).stdout)
        .trim()
        .to_owned();
    run(
        &["hook", "event", "--run", &id],
        Some("{\"type\":\"unit.started\",\"unit\":\"api\"}\n"),
    );
    let plugin = plugin.to_str().unwrap();
    let mut outputs: Vec<(&str, serde_json::Value)> = vec![
        (
            "`otto-hooks plugins list --json`",
            doc(&["plugins", "list", "--json"]),
        ),
        (
            "`otto-hooks plugins check PATH --json`",
            doc(&["plugins", "check", plugin, "--json"]),
        ),
        (
            "`otto-hooks config show --json`",
            doc(&["config", "show", "--json"]),
        ),
        (
            "`otto-hooks hook run-complete --json`",
            doc(&[
                "hook",
                "run-complete",
                "--run",
                &id,
                "--status",
                "failed",
                "--json",
            ]),
        ),
        ("`otto-hooks list --json`", doc(&["list", "--json"])),
        (
            "`otto-hooks info RUN --json`",
            doc(&["info", &first_run, "--json"]),
        ),
        ("`otto-hooks usage --json`", doc(&["usage", "--json"])),
        (
            "`otto-hooks clean --json` (also `run-policies --json`, `why --json`)",
            doc(&["clean", "--dry-run", "--json"]),
        ),
        (
            "`otto-hooks clean --json` (also `run-policies --json`, `why --json`)",
            doc(&["why", &first_run, "--json"]),
        ),
        (
            "`otto-hooks events RUN --json`",
            doc(&["events", &id, "--json"]),
        ),
        (
            "`otto-hooks import otto --json`",
            doc(&["import", "otto", "--json"]),
        ),
        (
            "`otto-hooks history copy --json`",
            doc(&[
                "history",
                "copy",
                "--from",
                &format!(
                    "sqlite:{}",
                    home.path().join(".otto-hooks/history.db").display()
                ),
                "--to",
                &format!("sqlite:{}", home.path().join("copy.db").display()),
                "--json",
            ]),
        ),
        (
            "`otto-hooks daemon status --json`",
            doc(&["daemon", "status", "--json"]),
        ),
        (
            "`otto-hooks history TASK --json`",
            doc(&["history", &first_task, "--json"]),
        ),
        (
            "`otto-hooks stats --json`",
            doc(&["stats", "--since", "all", "--json"]),
        ),
        (
            "`otto-hooks compare RUN_A RUN_B --json`",
            doc(&["compare", &first_id, &second_id, "--json"]),
        ),
        ("`otto-hooks flaky --json`", doc(&["flaky", "--json"])),
    ];
    let archive = home.path().join("one.tar.zst");
    let archive = archive.to_str().unwrap();
    let listed = doc(&["list", "--json"])[0]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    outputs.push((
        "`otto-hooks export RUN… --output FILE --json`",
        doc(&["export", &listed, "--output", archive, "--json"]),
    ));
    outputs.push((
        "`otto-hooks import --from FILE --json`",
        doc(&["import", "--from", archive, "--json"]),
    ));
    // A clean that deletes, so that the audit log has an entry.
    doc(&[
        "clean",
        "--keep",
        "1",
        "--keep-last",
        "0",
        "--force",
        "--yes",
        "--json",
    ]);
    outputs.push(("`otto-hooks audit --json`", doc(&["audit", "--json"])));
    let started = run(&["daemon", "start", "--port", "0"], None);
    assert_eq!(started.status.code(), Some(0), "{}", text(&started.stderr));
    let _daemon = Daemon(home.path());
    outputs.push((
        "`otto-hooks daemon status --json`",
        doc(&["daemon", "status", "--json"]),
    ));

    let documented = documented();
    for (heading, output) in &outputs {
        let blocks = &documented
            .iter()
            .find(|(h, _)| h == heading)
            .unwrap_or_else(|| panic!("docs/JSON.md has no section {heading}"))
            .1;
        assert!(
            blocks.iter().any(|b| keys(b) == keys(output)),
            "{heading}: the output's keys {:?} are in no document of the section ({:?})",
            keys(output),
            blocks.iter().map(keys).collect::<Vec<_>>()
        );
    }
    // Every section is checked.
    for (heading, _) in &documented {
        assert!(
            outputs.iter().any(|(h, _)| h == heading),
            "docs/JSON.md documents {heading}, which this test does not run"
        );
    }
}
