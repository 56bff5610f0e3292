//! A small orchestrator that records its runs through otto-hooks, used as a
//! Rust library: one `run_start`, a stream of choo-shaped events, one
//! `run_complete`. Plugin failures come back as warnings and never stop the
//! run — the same contract as `otto-hooks hook …` on the command line.
//!
//! It "runs" a three-unit plan (`app-shell` ← `api`, `docs`) in which `docs`
//! fails, so every plugin sees a realistic mix of events.
//!
//! ```sh
//! cargo run -p example-orchestrator -- [REPO]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use otto_hooks_core::config::{self, LoadOptions};
use otto_hooks_core::hooks::{ProjectRef, RunCompleteRequest, RunStartRequest, Runtime};
use otto_hooks_core::registry::Registry;
use otto_hooks_plugin_api::{Event, RunStatus, Timestamp};

/// One unit of work of the plan and whether it succeeds.
struct Unit {
    id: &'static str,
    level: u32,
    succeeds: bool,
}

const PLAN: [Unit; 3] = [
    Unit {
        id: "app-shell",
        level: 0,
        succeeds: true,
    },
    Unit {
        id: "api",
        level: 1,
        succeeds: true,
    },
    Unit {
        id: "docs",
        level: 1,
        succeeds: false,
    },
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let repo = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let home = otto_hooks_core::paths::hooks_home();
    let config = config::load(&LoadOptions::from_process(home.clone(), Vec::new())?)?;
    let runtime = Runtime::new(config.clone(), Registry::from_config(&config), home);

    let project = ProjectRef::from_repo(&repo)?;
    let (run_id, outcome) = runtime.run_start(
        &project,
        RunStartRequest {
            repo_path: Some(project.key.clone()),
            parallelism: Some(2),
            total_units: Some(PLAN.len() as u32),
            ..RunStartRequest::default()
        },
    )?;
    warn_all(&outcome.warnings);
    println!("run {run_id} started for {}", project.key);

    let graph = serde_json::json!({
        "unit_count": PLAN.len(),
        "parallelism": 2,
        "graph": {
            "nodes": PLAN.iter().map(|u| serde_json::json!({"id": u.id, "level": u.level})).collect::<Vec<_>>(),
            "edges": [{"from": "api", "to": "app-shell"}, {"from": "docs", "to": "app-shell"}],
            "levels": [["app-shell"], ["api", "docs"]],
        }
    })
    .to_string();
    // Events own their text here (type, unit, payload, error); the runtime
    // borrows it without copying.
    type Owned = (String, Option<String>, Option<String>, Option<String>);
    let mut texts: Vec<Owned> = vec![("orch.started".into(), None, Some(graph), None)];
    let (mut completed, mut failed) = (0, 0);
    for unit in &PLAN {
        texts.push(("unit.started".into(), Some(unit.id.into()), None, None));
        if unit.succeeds {
            completed += 1;
            texts.push(("unit.completed".into(), Some(unit.id.into()), None, None));
        } else {
            failed += 1;
            texts.push((
                "unit.failed".into(),
                Some(unit.id.into()),
                None,
                Some("link check failed".into()),
            ));
        }
    }
    let now = Timestamp::now();
    let events: Vec<Event<'_>> = texts
        .iter()
        .map(|(kind, unit, payload, error)| Event {
            time: now,
            kind,
            unit: unit.as_deref(),
            task: None,
            pr: None,
            payload: payload.as_deref(),
            error: error.as_deref(),
        })
        .collect();
    warn_all(&runtime.events(&run_id, &events)?.warnings);
    println!("{} events recorded", events.len());

    let (summary, outcome) = runtime.run_complete(&RunCompleteRequest {
        run_id,
        status: if failed > 0 {
            RunStatus::Failed
        } else {
            RunStatus::Success
        },
        ended_at: None,
        completed_units: Some(completed),
        failed_units: Some(failed),
        blocked_units: Some(0),
        error: (failed > 0).then(|| format!("{failed} unit(s) failed")),
    })?;
    warn_all(&outcome.warnings);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
