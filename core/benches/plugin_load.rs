//! Time to load and check one plugin library, in-process.
//!
//! `cargo build --release --workspace && cargo bench -p otto-hooks --bench plugin_load`
//!
//! `dlopen` returns the already-loaded handle for a file it has seen, so
//! each measurement loads a *fresh copy* (a new inode) of the library from a
//! private directory: every sample is a real load — trust checks, open,
//! `dlopen` through `/proc/self/fd`, entry point, module and table checks.
//! "check" is the whole `plugins check` sequence (load, create an instance,
//! one call of every hook and method on sample data).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use otto_hooks_core::registry::{check, load_library};

const SAMPLES: usize = 40;

fn target_profile_dir() -> PathBuf {
    // The bench runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

fn copies(lib: &Path, dir: &Path, n: usize, tag: &str) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("{tag}-{i}.so"));
            std::fs::copy(lib, &p).expect("copy");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            p
        })
        .collect()
}

fn stats(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[ms.len() / 2], ms[ms.len() * 9 / 10])
}

fn main() {
    let profile = target_profile_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    println!("plugin load and check, {SAMPLES} fresh copies each (ms: min / median / p90):");
    for name in ["libotto_hooks_builtin.so", "libweekday_retention.so"] {
        let lib = profile.join(name);
        if !lib.exists() {
            eprintln!(
                "{} is missing: run `cargo build --release --workspace` first",
                lib.display()
            );
            std::process::exit(2);
        }
        let size = std::fs::metadata(&lib).map(|m| m.len()).unwrap_or(0);
        let load: Vec<f64> = copies(&lib, dir.path(), SAMPLES, &format!("{name}-load"))
            .iter()
            .map(|p| {
                let start = Instant::now();
                let handles = load_library(p).expect("load");
                assert!(!handles.is_empty());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let full: Vec<f64> = copies(&lib, dir.path(), SAMPLES, &format!("{name}-check"))
            .iter()
            .map(|p| {
                let start = Instant::now();
                let report = check::check_library(p, &toml::Table::new(), dir.path());
                assert!(report.passed, "{report:?}");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let (lmin, lmed, lp90) = stats(load);
        let (cmin, cmed, cp90) = stats(full);
        println!(
            "{name:<28} {:>6} KB  load {lmin:.2} / {lmed:.2} / {lp90:.2}   check {cmin:.2} / {cmed:.2} / {cp90:.2}",
            size / 1000
        );
    }
    println!("goal: under 5 ms to load and check one library");
}
