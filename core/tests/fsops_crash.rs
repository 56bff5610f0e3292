//! Killing a cleanup at any instant never leaves a half-deleted run.
//!
//! The test re-runs its own binary as a child (selected by an environment
//! variable) that deletes every run of a project one after another; the
//! parent kills it with SIGKILL at a random moment, many times. After each
//! kill, every run must be either exactly as it was (same files, sizes,
//! contents, links) or absent from its project, nothing else may have
//! appeared in the project, and a following `purge_trash` must leave the
//! trash empty.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use otto_hooks_core::fsops::{OttoRoot, Outcome, TRASH_DIR};

const P: &str = "crash-0123abcd";
const RUNS: usize = 16;
const KILLS: usize = 40;
const CHILD: &str = "OTTO_HOOKS_FSOPS_CRASH_CHILD";

fn run_name(i: usize) -> String {
    if i % 4 == 3 {
        format!("{}-1", 1_700_000_000 + i - 1)
    } else {
        format!("{}", 1_700_000_000 + i)
    }
}

/// The child: delete every run, oldest first, until killed.
fn child(root: &Path) {
    let root = OttoRoot::open(root).unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for i in 0..RUNS {
        let outcome = root.delete_run(P, &run_name(i));
        assert!(matches!(outcome, Outcome::Deleted { .. }), "{outcome:?}");
    }
    writeln!(out, "done").unwrap();
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty()).unwrap();
    u64::from_ne_bytes(buf)
}

/// A project of `RUNS` runs, and a victim outside.
fn build(base: &Path) -> (PathBuf, PathBuf) {
    let root = base.join("otto");
    let victim = base.join("victim");
    fs::create_dir_all(victim.join("sub")).unwrap();
    fs::write(victim.join("sub/precious"), "outside").unwrap();
    let project = root.join(P);
    fs::create_dir_all(project.join(".cache")).unwrap();
    fs::write(project.join(".cache/0badc0de.sh"), "echo").unwrap();
    for i in 0..RUNS {
        build_run(&project, i, &victim);
    }
    (root, victim)
}

/// Run `i`: ~40 entries, with symlinks (one to the victim) and a hard link.
fn build_run(project: &Path, i: usize, victim: &Path) {
    let run = project.join(run_name(i));
    fs::create_dir_all(&run).unwrap();
    fs::write(run.join("run.yaml"), format!("timestamp: {i}\n")).unwrap();
    if i % 2 == 0 {
        fs::write(run.join(".lock"), "").unwrap();
    }
    for t in 0..4 {
        let task = run.join(format!("tasks/t{t}"));
        fs::create_dir_all(task.join("work/deep")).unwrap();
        fs::write(task.join("stdout.log"), vec![b'o'; 100 * (t + i)]).unwrap();
        fs::write(task.join("stderr.log"), format!("run {i} task {t}\n")).unwrap();
        fs::write(task.join("work/a"), vec![b'a'; 2_000]).unwrap();
        fs::write(task.join("work/deep/b"), "b").unwrap();
        symlink("../../../.cache/0badc0de.sh", task.join("script.sh")).unwrap();
        symlink(victim, task.join("escape")).unwrap();
    }
    fs::hard_link(
        run.join("tasks/t0/work/a"),
        run.join("tasks/t1/work/a-again"),
    )
    .unwrap();
}

/// Every entry below `dir`: kind, size, content or link target.
fn manifest(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let md = fs::symlink_metadata(&path).unwrap();
            let what = if md.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if md.is_dir() {
                walk(base, &path, out);
                "dir".into()
            } else {
                format!(
                    "file {} {:x}",
                    md.len(),
                    checksum(&fs::read(&path).unwrap())
                )
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Starts the child on `root` and waits until it has opened the root.
fn spawn(root: &Path) -> std::process::Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_at_any_moment_leaves_every_run_whole_or_gone",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            // libtest may print "test <name> ... " on the same line first.
            Some(Ok(line)) if line.ends_with("ready") => break,
            Some(Ok(_)) => continue,
            other => panic!("the child did not start: {other:?}"),
        }
    }
    // Keep reading (and dropping) so that the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

#[test]
fn sigkill_at_any_moment_leaves_every_run_whole_or_gone() {
    if let Some(root) = std::env::var_os(CHILD) {
        return child(Path::new(&root));
    }
    // How long an uninterrupted child takes, to spread the kills over it.
    let span = {
        let tmp = tempfile::tempdir().unwrap();
        let (root, _) = build(tmp.path());
        let start = Instant::now();
        let status = spawn(&root).wait().unwrap();
        assert!(status.success());
        assert!(
            fs::read_dir(root.join(P)).unwrap().count() == 1,
            "only .cache is left"
        );
        start.elapsed()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (root, victim) = build(tmp.path());
    let project = root.join(P);
    let before: Vec<_> = (0..RUNS)
        .map(|i| manifest(&project.join(run_name(i))))
        .collect();
    let victim_before = manifest(&victim);
    let trash = root.join(TRASH_DIR);
    let mut stats = BTreeMap::<&str, usize>::new();
    for _ in 0..KILLS {
        let mut child = spawn(&root);
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX).max(1);
        std::thread::sleep(Duration::from_nanos(random_u64() % nanos));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let mut gone = Vec::new();
        for (i, manifest_before) in before.iter().enumerate() {
            let run = project.join(run_name(i));
            if fs::symlink_metadata(&run).is_ok() {
                assert_eq!(
                    &manifest(&run),
                    manifest_before,
                    "{} is half-deleted",
                    run.display()
                );
            } else {
                gone.push(i);
            }
        }
        let names: Vec<String> = fs::read_dir(&project)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n == ".cache" || (0..RUNS).any(|i| run_name(i) == *n)),
            "unexpected entries in the project: {names:?}"
        );
        assert_eq!(manifest(&victim), victim_before);

        let leftovers = fs::read_dir(&trash).map(|rd| rd.count()).unwrap_or(0);
        let freed = OttoRoot::open(&root).unwrap().purge_trash().unwrap();
        assert!(
            leftovers == 0 || freed > 0,
            "{leftovers} trash entries freed nothing"
        );
        assert_eq!(fs::read_dir(&trash).map(|rd| rd.count()).unwrap_or(0), 0);
        assert_eq!(manifest(&victim), victim_before);
        assert_eq!(manifest(&project.join(".cache")).len(), 1);

        *stats
            .entry(match gone.len() {
                0 => "killed before the first deletion",
                g if g == RUNS => "killed after the last deletion",
                _ => "killed midway",
            })
            .or_default() += 1;
        if leftovers > 0 {
            *stats.entry("left something in the trash").or_default() += 1;
        }
        // Put the deleted runs back for the next round.
        for i in gone {
            build_run(&project, i, &victim);
        }
    }
    // What survives a kill is still an ordinary run: all delete.
    let root = OttoRoot::open(&root).unwrap();
    for i in 0..RUNS {
        assert!(matches!(
            root.delete_run(P, &run_name(i)),
            Outcome::Deleted { .. }
        ));
    }
    eprintln!("span {span:?}; {stats:?}");
    assert!(
        stats.get("killed midway").copied().unwrap_or(0) > 0,
        "{stats:?}"
    );
}
