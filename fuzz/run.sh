#!/usr/bin/env bash
# Builds every fuzz target against libFuzzer (on stable Rust: see README.md)
# and runs each for SECONDS, from its seeds plus the corpus it grew before.
#
#   fuzz/run.sh SECONDS [TARGET ...]     (default: every target)
#
# Exits 1 when a target crashed (its input is in fuzz/artifacts/<target>/),
# 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
    echo "usage: fuzz/run.sh SECONDS [TARGET ...]" >&2
    exit 2
fi
seconds=$1
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in src/bin/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
for t in "${targets[@]}"; do
    if [ ! -f "src/bin/$t.rs" ]; then
        echo "error: no fuzz target \`$t\` (see fuzz/src/bin/)" >&2
        exit 2
    fi
done

# What cargo-fuzz passes, minus the sanitizer (ASan needs nightly's -Z):
# libFuzzer's coverage feedback (inline 8-bit counters, the PC table) and
# its comparison tracing. Built with an explicit --target so that these
# flags reach the fuzzed code only, not build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
export CARGO_TARGET_DIR="$PWD/target"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --locked --release --target "$host" "${bins[@]}"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "artifacts/$t"
    echo "== $t: ${seconds}s" >&2
    # The grown corpus first (new inputs are written there), then the seeds.
    if ! "target/$host/release/$t" "corpus-work/$t" "seeds/$t" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"artifacts/$t.log"; then
        failed+=("$t")
        tail -n 40 "artifacts/$t.log" >&2
    else
        grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "artifacts/$t.log" >&2 || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "error: fuzz targets crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash" >&2
