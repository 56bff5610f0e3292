//! Many writers on one run, each with its own handle (for PostgreSQL: its
//! own connections, as separate daemons on separate machines have).

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use otto_hooks_sqlite::{DbError, all_events};

use super::backends::*;

const WRITERS: usize = 8;
const EVENTS_PER_WRITER: usize = 1_000;
const BATCH: usize = 25;

/// Eight writers open the history at once and append, in batches, to one
/// shared run and to their own: every event is stored once, seq is
/// contiguous from 1 in every run, and each writer's events keep their order.
pub fn eight_writers_on_one_run_lose_nothing_and_number_contiguously(b: &(dyn Backend + Sync)) {
    let barrier = Arc::new(Barrier::new(WRITERS));
    std::thread::scope(|s| {
        for i in 0..WRITERS {
            let barrier = Arc::clone(&barrier);
            s.spawn(move || {
                barrier.wait();
                let db = b.open();
                match db.start_run(new_run("shared", "/p", 0)) {
                    Ok(()) | Err(DbError::AlreadyExists(_)) => {}
                    Err(e) => panic!("{e}"),
                }
                let own = format!("own-{i}");
                db.start_run(new_run(&own, "/p", i as i64)).unwrap();
                for batch in 0..EVENTS_PER_WRITER / BATCH {
                    let run = if batch % 2 == 0 {
                        "shared"
                    } else {
                        own.as_str()
                    };
                    let events = (0..BATCH)
                        .map(|k| {
                            let n = batch * BATCH + k;
                            event_with(
                                n as i64,
                                "task.started",
                                None,
                                &format!(r#"{{"writer":{i},"n":{n}}}"#),
                            )
                        })
                        .collect();
                    let r = db.append_events(run, events).unwrap();
                    assert_eq!(r.last - r.first + 1, BATCH as u64);
                }
            });
        }
    });
    let db = b.open();
    let mut runs = vec!["shared".to_owned()];
    runs.extend((0..WRITERS).map(|i| format!("own-{i}")));
    for run in runs {
        let events = all_events(&*db, &run).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{run}");
        let row = db.get_run(&run).unwrap().unwrap();
        assert_eq!(
            (row.last_seq, row.event_count),
            (events.len() as u64, events.len() as u64)
        );
        let mut last: HashMap<u64, i64> = HashMap::new();
        for e in &events {
            let p: serde_json::Value =
                serde_json::from_str(e.payload.as_ref().unwrap().get()).unwrap();
            let (writer, n) = (p["writer"].as_u64().unwrap(), p["n"].as_i64().unwrap());
            assert!(
                last.get(&writer).is_none_or(|&prev| prev < n),
                "{run}: writer {writer} out of order"
            );
            last.insert(writer, n);
        }
        let expected = if run == "shared" {
            WRITERS * EVENTS_PER_WRITER / 2
        } else {
            EVENTS_PER_WRITER / 2
        };
        assert_eq!(events.len(), expected, "{run} ({})", b.name());
    }
}
