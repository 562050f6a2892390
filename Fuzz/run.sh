#!/usr/bin/env bash
# Runs every reliability harness and fuzz target of docs/RELIABILITY.md, within a budget, and exits
# non-zero on any failure (each failure prints its seed and the command that replays it).
#
#   bash Fuzz/run.sh full    release build; FUZZ_SECONDS seconds per harness and per fuzz target
#                            (default 60); FUZZ_SEED (default: a fresh one, printed); corpora kept
#                            in Fuzz/.build/corpus; counts in Fuzz/.build/fuzz-full/ (make fuzz)
#   bash Fuzz/run.sh smoke   debug build; a short fixed budget of each (seed 1, fixed round and
#                            run counts), as `make test` runs it in CI
#   bash Fuzz/run.sh full "kill frames"   only the harnesses and targets named
#                            ("subscription-kill" names its runs on every store, "subscription-kill-log" one)
#
# The subscription kill harness runs on the log and SQLite stores, and on PostgreSQL when
# EVENTSOURCING_POSTGRES_URL is set (it reports itself skipped while the Fuzz package cannot open one).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
only=${2:-}
if [ "$mode" = smoke ]; then
    config=debug
    seed=${FUZZ_SEED:-1}
else
    config=release
    seconds=${FUZZ_SECONDS:-60}
    seed=${FUZZ_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
fi
swift build --package-path Fuzz -c "$config" --product reliability
bin="$PWD/Fuzz/.build/$config/reliability"
out="$PWD/Fuzz/.build/fuzz-$mode"
rm -rf "$out"
mkdir -p "$out"
# Stores live in memory when /dev/shm has room; one directory per run, removed at the end.
base=/dev/shm
[ -w "$base" ] || base=${TMPDIR:-/tmp}
export FUZZ_WORK_DIR
FUZZ_WORK_DIR=$(mktemp -d "$base/reliability-run-XXXXXX")
trap 'rm -rf "$FUZZ_WORK_DIR"' EXIT
# libFuzzer handles crashes itself and saves the input; Swift's backtracer would get there first.
export SWIFT_BACKTRACE=enable=no
echo "reliability $mode run: seed $seed"
status=0

chosen() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

harness() { labelled "$1" "$@"; }

# labelled LABEL COMMAND [OPTIONS]: runs a harness, its output in $out/LABEL.txt.
labelled() {
    local label=$1 name=$2
    shift 2
    chosen "$label" || chosen "$name" || return 0
    if "$bin" "$name" --seed "$seed" "$@" >"$out/$label.txt" 2>&1; then
        local shown="^== |failures"
        [[ $label == subscription-* ]] && shown="$shown|process_kills|events_written|deliveries|takeover"
        [[ $label == compaction-* ]] && shown="$shown|\\.(power_losses|recoveries|compactions|compaction_crashes|lifecycle_change|events_removed|uncertain)"
        grep -E "$shown" "$out/$label.txt" | head -12
    else
        status=1
        cat "$out/$label.txt"
    fi
}

subscription_stores="log sqlite"
[ -n "${EVENTSOURCING_POSTGRES_URL:-}" ] && subscription_stores="$subscription_stores postgres"

fuzz() {
    local target=$1
    shift
    chosen "$target" || return 0
    local corpus="$PWD/Fuzz/.build/corpus/$target"
    [ "$mode" = smoke ] && corpus="$FUZZ_WORK_DIR/corpus-$target"
    mkdir -p "$corpus" "$FUZZ_WORK_DIR/seeds-$target"
    "$bin" corpus "$target" "$FUZZ_WORK_DIR/seeds-$target" >/dev/null
    if "$bin" fuzz "$target" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/$target-" "$@" "$corpus" "$FUZZ_WORK_DIR/seeds-$target" >"$out/fuzz-$target.log" 2>&1; then
        local runs
        runs=$(grep -o 'number_of_executed_units: [0-9]*' "$out/fuzz-$target.log" | grep -o '[0-9]*$' || echo 0)
        echo "fuzz[$target].executions $runs" | tee -a "$out/fuzz.txt"
    else
        status=1
        tail -40 "$out/fuzz-$target.log"
        echo "FAILED fuzz $target seed=$seed: the input is saved as $out/$target-*"
        echo "reproduce: $bin fuzz $target $out/$target-<crash file>"
    fi
}

if [ "$mode" = smoke ]; then
    # The fault, damage and enumeration harnesses run their CI budgets in-process in Tests/ReliabilityTests;
    # here each runs once through the command line, and the kill harness (processes) runs its budget.
    harness kill --rounds 3
    harness fault --rounds 2
    harness damage --rounds 2
    harness enumerate --rounds 1 --operations 2
    harness compaction-enumerate --rounds 1 --points 24
    harness compaction-fault --rounds 4
    for store in $subscription_stores; do
        labelled "subscription-kill-$store" subscription-kill --store "$store" --rounds 1 --steps 20 --races 2
    done
    for target in frames snapshot metadata filter; do fuzz "$target" -runs=30000; done
    for target in recovery index; do fuzz "$target" -runs=3000; done
else
    for name in kill fault damage enumerate compaction-enumerate compaction-fault; do
        harness "$name" --seconds "$seconds"
    done
    for store in $subscription_stores; do
        labelled "subscription-kill-$store" subscription-kill --store "$store" --seconds "$seconds" --steps 20 --races 3
    done
    for target in frames recovery index snapshot metadata filter; do fuzz "$target" -max_total_time="$seconds"; done
fi
"$bin" summary "$out"/*.txt >"$out/summary.txt"
echo "counts: $out/summary.txt"
[ $status = 0 ] && echo "reliability $mode run: no failure" || echo "reliability $mode run: FAILED (seed $seed)"
exit $status
