#!/usr/bin/env bash
# The scaling matrix of docs/SCALING.md: read and write throughput and p99 against the
# server's knobs, one configuration per harness run, each run against a fresh database.
# Every knob is varied alone from the defaults (2 HTTP workers on 2 cores, actors on the
# workers' threads, shards 2/4/4, pool 16, no broker). The whole list runs ROUNDS times,
# every other round in reverse order, so drift on a shared machine hits the
# configurations of a pair alike; sweep-table.py makes the table from the JSON reports.
#
#   cargo build --release --bin im-access -p im-access-bench
#   BENCH_LOCK=/path/to/bench.lock bench/sweep.sh      # then: python3 bench/sweep-table.py
#
# Environment: OUT (reports folder, bench/reports/sweep), ROUNDS (2), MEASURE (seconds
# measured per run, 4), FIRST_ROUND (1; to resume), ONLY (configurations to run,
# space-separated names), BENCH_LOCK (a file to flock around each run, so benchmarks
# of several people never overlap; or hold the lock around the whole sweep instead:
# `flock FILE bench/sweep.sh`), AMQP_URL (the broker for the two-process pair).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/reports/sweep}
ROUNDS=${ROUNDS:-2}
FIRST_ROUND=${FIRST_ROUND:-1}
MEASURE=${MEASURE:-4}
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
BIN=${BIN:-target/release/im-access}
BENCH=${BENCH:-target/release/im-access-bench}
mkdir -p "$OUT"

shards() { # n: every actor kind
  echo "--server-env IM__ACTORS__SMS_SHARDS=$1 --server-env IM__ACTORS__SESSION_SHARDS=$1 --server-env IM__ACTORS__RELATION_SHARDS=$1"
}

# name|harness options (word-split on purpose)
CONFIGS=(
  "base|"
  "workers-1|--server-workers 1"
  "workers-4|--server-workers 4"
  "threads-1|--server-env IM__ACTORS__THREADS=1"
  "threads-2|--server-env IM__ACTORS__THREADS=2"
  "shards-1|$(shards 1)"
  "shards-4|$(shards 4)"
  "shards-16|$(shards 16)"
  "pool-4|--db-pool 4"
  "pool-8|--db-pool 8"
  "pool-32|--db-pool 32"
  # Several processes need the broker (cache coherence); the pair is measured with it.
  "broker-1p|--server-env IM__AMQP__URL=$AMQP_URL"
  "broker-2p|--server-env IM__AMQP__URL=$AMQP_URL --processes 2"
  # Database CPU per operation of the other scenarios, for the capacity model.
  "capacity|--only memory,write,signin,imtoken,growth"
)

run_one() { # round, name, options
  local round=$1 name=$2 opts=$3 only="--only read,write"
  [[ $opts == *--only* ]] && only=""
  local report="$OUT/r$round-$name.md"
  local cmd=("$BENCH" --scale small $only --skip-sql-check --warmup-secs 1
    --measure-secs "$MEASURE" --repeats 1 --server-bin "$BIN" --out "$report")
  # shellcheck disable=SC2206
  cmd+=($opts)
  if [[ -n ${BENCH_LOCK:-} ]]; then cmd=(flock "$BENCH_LOCK" "${cmd[@]}"); fi
  echo "== round $round $name: $(uptime)" | tee -a "$OUT/uptime.log"
  "${cmd[@]}" 2>"$OUT/r$round-$name.log" || { echo "   failed, see $OUT/r$round-$name.log"; return 0; }
  echo "   after: $(uptime)" | tee -a "$OUT/uptime.log"
}

for round in $(seq "$FIRST_ROUND" "$ROUNDS"); do
  order=("${CONFIGS[@]}")
  if (( round % 2 == 0 )); then
    order=(); for (( i=${#CONFIGS[@]}-1; i>=0; i-- )); do order+=("${CONFIGS[i]}"); done
  fi
  for entry in "${order[@]}"; do
    name=${entry%%|*}
    if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
    # The capacity run needs no second round.
    if [[ $name == capacity && $round -gt $FIRST_ROUND ]]; then continue; fi
    run_one "$round" "$name" "${entry#*|}"
  done
done
echo "reports in $OUT; table: python3 bench/sweep-table.py $OUT"
