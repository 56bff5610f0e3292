//! The cost of a hook call through the ABI, against a direct call of the
//! same plugin code, in the same run.
//!
//! `cargo bench -p otto-hooks-plugin-api --bench abi_call`
//!
//! The plugin's `event` does a little real work (it counts failures and
//! payload bytes), so neither call can be optimised away. "Direct" calls the
//! trait method on the Rust value; "ABI" goes through `host::Instance`:
//! the views are built, the `extern "C"` shim is called through the table's
//! function pointer, the panic guard runs, the status is checked.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use otto_hooks_plugin_api::host::{self, Instance};
use otto_hooks_plugin_api::*;

struct Counter {
    failures: AtomicU64,
    bytes: AtomicU64,
}

impl Plugin for Counter {
    const NAME: &'static str = "counter";
    const VERSION: &'static str = "1.0.0";
    fn new(_: &PluginConfig) -> Result<Self, PluginError> {
        Ok(Counter {
            failures: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }
    fn event(&self, _ctx: &HookContext<'_>, event: &Event<'_>) -> Result<(), PluginError> {
        if event.is_failure() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes
            .fetch_add(event.payload.map_or(0, str::len) as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Reporter for Counter {
    fn render(&self, _doc: &Document<'_>) -> Result<String, PluginError> {
        Ok(self.bytes.load(Ordering::Relaxed).to_string())
    }
}

plugin_module! {
    static MODULE = [reporter(Counter)];
}

const PAYLOAD: &str = r#"{"total_tasks":12,"completed_tasks":3,"title":"Wire the API client into the app shell","branch":"feature/app-shell","worktree":"/home/dev/.choo/worktrees/app-shell","attempt":1,"duration_ms":48211}"#;

fn time_per_call(iterations: u64, mut f: impl FnMut()) -> f64 {
    // Warm up, then take the best of five rounds (the least disturbed).
    for _ in 0..iterations / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // SAFETY: MODULE is a static of this program.
    let handles = unsafe { host::open_module(&MODULE) }.expect("module");
    let instance: Instance = handles[0]
        .instantiate("reporter.counter", &toml::Table::new(), "/tmp")
        .expect("instance");
    let direct = Counter::new(&PluginConfig::default()).expect("direct");
    let ctx = HookContext {
        project: "web-1a2b3c4d",
        run_id: "run_20261122_101500_c0de",
    };
    let bare = Event {
        time: Timestamp::from_secs(1_795_342_500),
        kind: "unit.started",
        unit: Some("app-shell"),
        task: None,
        pr: None,
        payload: None,
        error: None,
    };
    let typical = Event {
        payload: Some(PAYLOAD),
        task: Some(3),
        ..bare
    };
    let batch: Vec<Event<'_>> = (0..100).map(|_| typical).collect();
    let n = 5_000_000;

    println!(
        "ABI call overhead ({} byte payload), best of 5 rounds:",
        PAYLOAD.len()
    );
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>7}",
        "call", "direct ns", "ABI ns", "extra ns", "ratio"
    );
    let row = |name: &str, direct_ns: f64, abi_ns: f64| {
        println!(
            "{name:<36} {direct_ns:>10.1} {abi_ns:>10.1} {:>10.1} {:>6.1}x",
            abi_ns - direct_ns,
            abi_ns / direct_ns
        );
    };
    let d = time_per_call(n, || {
        black_box(direct.event(black_box(&ctx), black_box(&bare))).expect("event")
    });
    let a = time_per_call(n, || {
        black_box(instance.event(black_box(&ctx), black_box(&bare))).expect("event")
    });
    row("event, no payload", d, a);
    let d = time_per_call(n, || {
        black_box(direct.event(black_box(&ctx), black_box(&typical))).expect("event")
    });
    let a = time_per_call(n, || {
        black_box(instance.event(black_box(&ctx), black_box(&typical))).expect("event")
    });
    row("event, typical payload", d, a);
    let m = n / 100;
    let d = time_per_call(m, || {
        black_box(direct.events(black_box(&ctx), black_box(&batch))).expect("events")
    }) / 100.0;
    let a = time_per_call(m, || {
        black_box(instance.events(black_box(&ctx), black_box(&batch))).expect("events")
    }) / 100.0;
    row("events, batch of 100 (per event)", d, a);
    // The plugin really did the work it was called for.
    let counted = instance
        .render(&Document {
            kind: DocumentKind::Unknown,
            json: "{}",
        })
        .expect("render");
    assert_ne!(counted, "0");
    println!("goal: under 50 ns more than direct, under 1000 ns for a typical event");
}
