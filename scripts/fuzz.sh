#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, nightly toolchain), two at a time.
#
#   bash scripts/fuzz.sh                   # every target for 10 minutes
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh query signer
#
# Environment: FUZZ_SECONDS (600 per target), FUZZ_JOBS (2 targets at once).
# Each target starts from the committed corpus in fuzz/corpus/<target>/ (hand-written
# seed-* files and a minimised corpus of earlier runs) and writes what it finds to
# fuzz/target/corpus/<target>/, so the committed corpus only changes on purpose (see
# docs/internals/testing.md, "Fuzzing"). A crash, panic or hang (a run over 10 s)
# stops that target with the input in fuzz/artifacts/<target>/, and the script exits 1
# after the others finish. Logs: fuzz/target/fuzz-<target>.log.
set -euo pipefail

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-2}
cd "$(dirname "$0")/../fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
echo "== building ${targets[*]}"
cargo +nightly fuzz build
mkdir -p target

run() {
    local target=$1 log="target/fuzz-$1.log"
    mkdir -p "corpus/$target" "target/corpus/$target"
    if cargo +nightly fuzz run "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        echo "   ok    $target: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{ print $2 }') runs in ${FUZZ_SECONDS}s, $(grep -E '^stat::new_units_added' "$log" | awk '{ print $2 }') new inputs"
    else
        echo "   FAIL  $target: see fuzz/$log and fuzz/artifacts/$target/"
        return 1
    fi
}

echo "== fuzzing each target for ${FUZZ_SECONDS}s, $FUZZ_JOBS at a time"
failed=0
running=()
for target in "${targets[@]}"; do
    run "$target" &
    running+=($!)
    if [ "${#running[@]}" -ge "$FUZZ_JOBS" ]; then
        wait "${running[0]}" || failed=1
        running=("${running[@]:1}")
    fi
done
for pid in "${running[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
