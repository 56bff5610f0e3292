//! The retention plugin written in C (`examples/c-weekday-retention`),
//! built here with the system C compiler against `plugin-api/include/otto_hooks.h`,
//! loaded like any plugin library, and held to the decisions of the Rust
//! `weekday` example it mirrors.
//!
//! Without a C compiler these tests are skipped with one line, except under
//! `CI=true`, where they fail (`.ci/run` installs `gcc`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otto_hooks_tests::bounded::BoundedOutput;
use std::path::{Path, PathBuf};
use std::process::Command;

use otto_hooks_core::registry::load_library;
use otto_hooks_plugin_api::host::PluginHandle;
use otto_hooks_plugin_api::{Decision, ErrorKind, RetentionInput, Run, RunStatus, Timestamp};
use otto_hooks_tests::otto_home::{LockGuard, ProjectHandle, RunHandle, TaskSpec, parse_run_dir};
use otto_hooks_tests::otto_world::{OttoWorld, text};
use otto_hooks_tests::{PrivateDir, PrivateLibrary, instantiate, set_mode, settings};
use serde_json::Value;

const DAY: i64 = 86_400;

/// The repository root (this crate is `<root>/tests`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the C plugin into `dir` the way its README says, warnings as
/// errors, with mode 0644; `None` (after one line) without a C compiler.
fn build_c_plugin(dir: &Path) -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    if Command::new(&cc).arg("--version").bounded_output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("`{cc}` is needed under CI: apt-get install gcc libc6-dev");
        }
        eprintln!("skipped: no C compiler (`{cc}`) to build the C plugin");
        return None;
    }
    let lib = dir.join("libc_weekday_retention.so");
    let out = Command::new(&cc)
        .args([
            "-std=c99", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
        ])
        .arg("-I")
        .arg(root().join("plugin-api/include"))
        .arg("-o")
        .arg(&lib)
        .arg(root().join("examples/c-weekday-retention/weekday_retention.c"))
        .bounded_output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "{cc} failed on weekday_retention.c:\n{}",
        text(&out.stderr)
    );
    set_mode(&lib, 0o644);
    Some(lib)
}

/// The C plugin, loaded through the registry (trust and ELF checks included).
fn c_plugin(dir: &PrivateDir) -> Option<PluginHandle> {
    let lib = build_c_plugin(dir.path())?;
    let mut handles = load_library(&lib).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!(handles.len(), 1);
    let handle = handles.remove(0);
    assert_eq!(handle.name(), "c-weekday");
    Some(handle)
}

/// A small deterministic generator (xorshift64*), so that the comparison
/// covers many shapes of input and still fails the same way every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `count` runs around `now`: up to 120 days back and a day ahead (skew),
/// with same-second siblings, pinned, running, failed and interrupted runs.
fn random_runs(rng: &mut Rng, now: i64, count: usize) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::with_capacity(count);
    while runs.len() < count {
        let started = now - rng.below(121 * DAY as u64) as i64 + rng.below(DAY as u64) as i64;
        // Ids as otto and choo name runs, and odd ones: same-second
        // siblings (`-1`, `-01`, `-+1`, `-0`) and runs sharing a start
        // second under other names, so that every tie-break is exercised.
        let earlier = |rng: &mut Rng| -> Option<i64> {
            (!runs.is_empty()).then(|| runs[rng.below(runs.len() as u64) as usize].started_at.secs)
        };
        let (secs, id) = match (rng.below(8), earlier(rng)) {
            (0 | 1, Some(base)) => {
                let n = 1 + rng.below(11);
                let suffix = match rng.below(5) {
                    0 => "0".to_owned(),
                    1 => format!("0{n}"),
                    2 => format!("+{n}"),
                    _ => n.to_string(),
                };
                (base, format!("{base}-{suffix}"))
            }
            (2, Some(base)) => {
                let tag = ["a", "b", "c-1", "x-2"][rng.below(4) as usize];
                (base, format!("run_{base}_{tag}"))
            }
            _ => (started, started.to_string()),
        };
        if runs.iter().any(|r| r.id == id) {
            continue;
        }
        let status = match rng.below(10) {
            0 => RunStatus::Running,
            1 => RunStatus::Failed,
            2 => RunStatus::Interrupted,
            _ => RunStatus::Success,
        };
        runs.push(Run {
            id,
            project: "web-0123abcd".to_owned(),
            started_at: Timestamp {
                secs,
                nanos: if rng.below(4) == 0 { 500_000_000 } else { 0 },
            },
            status,
            pinned: rng.below(12) == 0,
            task_count: 2,
            ..Run::default()
        });
    }
    runs
}

fn decide(handle: &PluginHandle, config: &str, now: i64, runs: &[Run]) -> Vec<Decision> {
    let dir = PrivateDir::new();
    let instance = instantiate(handle, &settings(config), dir.path());
    instance
        .decide(&RetentionInput {
            group: "web-0123abcd",
            now: Timestamp::from_secs(now),
            runs,
        })
        .unwrap_or_else(|e| panic!("{}: decide failed: {e}", handle.name()))
}

#[test]
fn the_c_plugin_decides_exactly_like_the_rust_weekday_example_through_the_abi() {
    let dir = PrivateDir::new();
    let Some(c) = c_plugin(&dir) else { return };
    let rust_lib = PrivateLibrary::of("weekday-retention");
    let rust = rust_lib.plugin("weekday");
    // Fri 2026-11-20 17:55:00 UTC, and a moment just before a UTC midnight.
    let nows = [1_795_132_800 + 17 * 3600 + 55 * 60, 1_795_132_800 - 1];
    let configs = [
        "",
        "weeks = 1",
        "weeks = 2\nweekdays = [\"mon\", \"Tuesday\", \"FRI\"]",
        "weeks = 8\nweekdays = [\"sat\", \"sun\"]\nutc_offset_hours = 5.5",
        "weeks = 3\nutc_offset_hours = -8",
        "weeks = 17\nutc_offset_hours = 5.75",
        "utc_offset_hours = -12\nweekdays = [\"wednesday\"]",
        "utc_offset_hours = 14",
    ];
    let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
    let mut compared = 0;
    for now in nows {
        for config in configs {
            for count in [0, 1, 7, 60, 400] {
                let runs = random_runs(&mut rng, now, count);
                let expected = decide(&rust, config, now, &runs);
                let got = decide(&c, config, now, &runs);
                assert_eq!(
                    got, expected,
                    "settings {config:?}, now {now}, {count} runs: the C plugin disagrees"
                );
                compared += got.len();
            }
        }
    }
    assert!(compared > 5_000, "only {compared} decisions compared");
}

#[test]
fn bad_settings_are_refused_by_the_c_plugin_with_one_line_naming_the_key() {
    let dir = PrivateDir::new();
    let Some(c) = c_plugin(&dir) else { return };
    let rust_lib = PrivateLibrary::of("weekday-retention");
    let rust = rust_lib.plugin("weekday");
    let cases = [
        ("weeks = \"eight\"", "weeks"),
        ("weeks = 0", "weeks"),
        ("weeks = -3", "weeks"),
        ("weeks = 4294967296", "weeks"),
        ("weeks = 2.5", "weeks"),
        ("weekdays = [\"mon\", \"funday\"]", "funday"),
        ("weekdays = []", "weekdays"),
        ("weekdays = \"mon\"", "weekdays"),
        ("weekdays = [1, 2]", "weekdays"),
        ("utc_offset_hours = 15", "utc_offset_hours"),
        ("utc_offset_hours = 1.1", "utc_offset_hours"),
        ("utc_offset_hours = nan", "utc_offset_hours"),
        ("utc_offset_hours = \"+1\"", "utc_offset_hours"),
        ("keep_weekends = true", "keep_weekends"),
        ("\"keep\\nweekends\" = true", "keep?weekends"),
        ("weekdays = [\"mon\\r\\nday\"]", "mon??day"),
        ("[weeks]\nmon = 1", "weeks"),
    ];
    for (config, named) in cases {
        let table = settings(config);
        // The Rust example refuses every one of them too.
        assert!(
            rust.instantiate("retention.weekday", &table, "/nonexistent")
                .is_err(),
            "the Rust example accepts {config:?}"
        );
        let err = match c.instantiate("retention.c-weekday", &table, "/nonexistent") {
            Ok(_) => panic!("the C plugin accepts {config:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind, ErrorKind::Invalid, "{config:?}: {err}");
        assert!(
            err.message.contains(named) && err.message.contains("retention.c-weekday"),
            "{config:?}: {err}"
        );
        assert!(!err.message.contains('\n'), "{config:?}: {err}");
    }
    // And the accepted spellings are accepted.
    for ok in [
        "weeks = 4\nweekdays = [\"Mon\", \"friday\"]  # comment\nutc_offset_hours = -3.5",
        "utc_offset_hours = 0.25",
        "weekdays = [\n  \"sat\",\n  \"sun\",\n]",
        // Trimmed like Rust's `str::trim`, escapes included.
        "weekdays = [\" mon\\t\", \"fri\\n\", \"sat\\u000b\"]",
    ] {
        let table = settings(ok);
        if let Err(e) = c.instantiate("retention.c-weekday", &table, "/nonexistent") {
            panic!("{ok:?} refused: {e}");
        }
        assert!(
            rust.instantiate("retention.weekday", &table, "/nonexistent")
                .is_ok(),
            "the Rust example refuses {ok:?}"
        );
    }
}

/// Installs the C plugin and the Rust example into one plugins directory of
/// `w`; returns the directory, or `None` without a C compiler.
fn install_both(w: &OttoWorld) -> Option<PathBuf> {
    let plugins = w.dir.subdir("plugins", 0o700);
    build_c_plugin(&plugins)?;
    let rust = otto_hooks_tests::library("weekday-retention");
    let dest = plugins.join(rust.file_name().unwrap());
    std::fs::copy(&rust, &dest).unwrap();
    set_mode(&dest, 0o644);
    Some(plugins)
}

#[test]
fn plugins_check_passes_on_the_c_plugin_and_reports_it() {
    let w = OttoWorld::new();
    let Some(plugins) = install_both(&w) else {
        return;
    };
    let lib = plugins.join("libc_weekday_retention.so");
    let out = w.run(&["plugins", "check", lib.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("retention c-weekday: metadata: version 0.1.0, offers decide"));
    assert!(stdout.contains("abi: built for ABI 1.4"), "{stdout}");
    assert!(
        stdout.contains("retention c-weekday: decide: 12 sample runs:"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS"), "{stdout}");

    // `plugins list` shows it beside the Rust example, from the same directory.
    std::fs::write(
        w.hooks_home().join("config.toml"),
        format!("[plugins]\ndirs = [\"{}\"]\n", plugins.display()),
    )
    .unwrap();
    let list = w.json(&["plugins", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .or_else(|| list["plugins"].as_array())
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "retention")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"c-weekday") && names.contains(&"weekday"),
        "{names:?}"
    );
}

/// The same runs in `p`: several a day over four weeks, same-second
/// siblings, weekends, old runs, a pinned one, a failed one and a live one.
/// Returns the live run's lock guard (the run is live while it is held).
fn same_runs(p: &ProjectHandle, now: u64) -> LockGuard {
    let day = DAY as u64;
    for d in 0..30 {
        for hour in [1, 7, 13] {
            let t = now - d * day - hour * 3600;
            let task = if (d + hour) % 7 == 0 {
                TaskSpec::failed("boom\n")
            } else {
                TaskSpec::ok()
            };
            p.run(t).task("build", task).write();
        }
    }
    // Same-second siblings: `<ts>-2` is newer than `<ts>-1` and `<ts>`.
    let t = now - 2 * day - 5 * 3600;
    p.run(t).task("build", TaskSpec::ok()).write();
    p.run(t).suffix(1).task("build", TaskSpec::ok()).write();
    p.run(t).suffix(2).task("build", TaskSpec::ok()).write();
    p.run(now - 40 * day)
        .pinned()
        .task("build", TaskSpec::ok())
        .write();
    let live: RunHandle = p.run(now - 50 * day).task("build", TaskSpec::ok()).write();
    live.hold_lock()
}

/// `(run, section, reasons, held)` of every run of `project` in a plan,
/// sorted: the decisions, without the project's name.
fn decisions_of(plan: &Value, project: &str) -> Vec<(String, String, Value, Value)> {
    let mut out = Vec::new();
    for section in ["deleted", "kept", "held"] {
        for r in plan[section].as_array().unwrap() {
            if r["project"] == project {
                out.push((
                    r["run"].as_str().unwrap().to_owned(),
                    section.to_owned(),
                    r["reasons"].clone(),
                    r["held"].clone(),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn clean_dry_run_with_the_c_plugin_plans_exactly_what_the_rust_example_plans() {
    let w = OttoWorld::new();
    let Some(plugins) = install_both(&w) else {
        return;
    };
    // Two projects with the same runs, one per plugin, in one invocation:
    // one `now` for both, so the plans can be compared exactly.
    let settings = "weeks = 2\nweekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nutc_offset_hours = 5.5\n";
    std::fs::write(
        w.hooks_home().join("config.toml"),
        format!(
            "[plugins]\ndirs = [\"{}\"]\n\n[projects.\"rust\".retention]\nplugin = \"weekday\"\n{settings}\n\
             [projects.\"c\".retention]\nplugin = \"c-weekday\"\n{settings}",
            plugins.display()
        ),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rust = w.project("rust");
    let c = w.project("c");
    let _live_rust = same_runs(&rust, now);
    let _live_c = same_runs(&c, now);

    let out = w.run(&["clean", "--dry-run", "--json", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let group = |project: &str| {
        plan["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["project"] == project)
            .unwrap_or_else(|| panic!("no group {project}: {plan:#}"))
            .clone()
    };
    assert_eq!(group(&rust.dir_name())["policy"], "retention.weekday");
    assert_eq!(group(&c.dir_name())["policy"], "retention.c-weekday");

    let expected = decisions_of(&plan, &rust.dir_name());
    let got = decisions_of(&plan, &c.dir_name());
    assert_eq!(expected.len(), 30 * 3 + 3 + 2, "every run decided");
    assert_eq!(got, expected);
    // The comparison is not between two empty or one-sided plans.
    let sections: Vec<&str> = got.iter().map(|d| d.1.as_str()).collect();
    assert!(sections.contains(&"kept") && sections.contains(&"deleted"));
    let reasons = |section: &str| -> Vec<String> {
        got.iter()
            .filter(|d| d.1 == section)
            .flat_map(|d| d.2.as_array().unwrap().clone())
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    let kept = reasons("kept");
    assert!(kept.iter().any(|r| r.starts_with("weekday ")), "{kept:?}");
    assert!(kept.contains(&"pinned".to_owned()), "{kept:?}");
    assert!(kept.contains(&"running".to_owned()), "{kept:?}");
    let deleted = reasons("deleted");
    assert!(deleted.contains(&"older than 2 weeks".to_owned()));
    assert!(deleted.iter().any(|r| r.ends_with(" not in weekdays")));
    assert!(deleted.iter().any(|r| r.starts_with("not the newest of ")));
    // The per-group counts agree too (not the bytes: each run's files
    // name their own project, whose names differ in length).
    let mut g_rust = group(&rust.dir_name());
    let mut g_c = group(&c.dir_name());
    for g in [&mut g_rust, &mut g_c] {
        g.as_object_mut()
            .unwrap()
            .retain(|key, _| !key.ends_with("bytes") && key != "project" && key != "policy");
    }
    assert_eq!(g_c, g_rust);
    // A dry run: nothing went.
    for p in [&rust, &c] {
        let runs = std::fs::read_dir(&p.dir)
            .unwrap()
            .filter_map(|e| parse_run_dir(&e.unwrap().file_name().to_string_lossy()))
            .count();
        assert_eq!(runs, expected.len(), "{}", p.dir.display());
    }
}

#[test]
fn clean_with_garbage_c_plugin_settings_fails_with_one_line_and_deletes_nothing() {
    let w = OttoWorld::new();
    let Some(plugins) = install_both(&w) else {
        return;
    };
    std::fs::write(
        w.hooks_home().join("config.toml"),
        format!(
            "[plugins]\ndirs = [\"{}\"]\n\n[retention]\nplugin = \"c-weekday\"\nweeks = \"eight\"\n",
            plugins.display()
        ),
    )
    .unwrap();
    let web = w.project("web");
    let old = web
        .run(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                - 90 * DAY as u64,
        )
        .task("build", TaskSpec::ok())
        .write();
    for args in [
        &["clean", "--dry-run", "--json"][..],
        &["clean", "--yes"][..],
    ] {
        let out = w.run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("c-weekday") && stderr.contains("`weeks = \"eight\"`"),
            "{args:?}: {stderr}"
        );
        assert!(old.dir.exists(), "{args:?}: nothing is deleted");
    }
}
