#!/usr/bin/env bash
# The whole benchmark suite in one command (docs/performance.md explains every part):
#   1. L7: the shared harness (../shared/bench/run.sh, through bench/l7-proxy.sh) with
#      HTTP/1.1 rows direct, nginx, haproxy-http, node-undici, mosnode and h2c rows
#      h2-direct, h2-nginx, h2-haproxy, h2-node-undici, mosnode; bodies small and 16k;
#   2. TCP: the harness again with haproxy-tcp, node-tcp and mosnode's tcp_proxy
#      (bench/l7-target.sh MODE=tcp);
#   3. processor scaling: mosnode alone with processor: 1, then 2 (needs >= 3 cpus: one
#      for the load, two for the workers; skipped on smaller machines unless SCALE=1);
#   4. idle keep-alive connections: bench/idle-connections.ts (10,000, mosnode and nginx);
#   5. micro-benchmarks: bench/micro/run.ts;
# then one summary with the target checks: bench/results/suite-<stamp>.md (the raw
# parts stay in bench/results/suite-<stamp>/).
#
#   npm run bench                    ~10 min (longer while the harness waits for a quiet machine)
#   QUICK=1 npm run bench            short windows (3 s measured, 1 s warm-up), ~6 min
#   SKIP_L7=1 SKIP_TCP=1 SKIP_SCALE=1 SKIP_IDLE=1 SKIP_MICRO=1   leave parts out
#   SKIP_BUILD=1                     use dist/ as it is (default: npm run build first)
#   REPEAT=3 npm run bench           harness rows 3x interleaved, median shown
# The harness's knobs pass through (DURATION WARMUP CONNS H2_CONNS H2_STREAMS BODIES
# LOAD_CPU SUT_CPU QUIET_PCT QUIET_MAX_WAIT REPEAT); TARGETS / H2_TARGETS change the L7
# rows, TCP_TARGETS the TCP rows; SCALE_SUT_CPU the cpus of the scaling run ("1-2").
# Needs wrk, h2load, nginx, haproxy, taskset, curl: installed from Debian when missing
# (root + apt-get), like scripts/install-test-tools.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
# Not an inherited NODE: `npm run` sets it to the node running npm, which may be an older
# system Node (mosnode then fails to start). MOSNODE_BENCH_NODE overrides.
export NODE=${MOSNODE_BENCH_NODE:-$(command -v node)}

log() { printf '[suite %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/suite-$STAMP
MD=$ROOT/bench/results/suite-$STAMP.md
mkdir -p "$OUT"

if [[ ${QUICK:-} == 1 ]]; then
  export DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-10}
  MODE_TEXT="QUICK=1 (short windows: rough numbers)"
else
  MODE_TEXT="full"
fi
export DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} CONNS=${CONNS:-50} H2_CONNS=${H2_CONNS:-10} H2_STREAMS=${H2_STREAMS:-10}
export LOAD_CPU=${LOAD_CPU:-0} SUT_CPU=${SUT_CPU:-1}
SCALE_SUT_CPU=${SCALE_SUT_CPU:-1-2}

# 10,000 client sockets in one process (and as many in the proxy) need the open-file
# limit raised; the hard limit is the ceiling without root.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-file limit $(ulimit -n)"

# ---------------------------------------------------------------- tools
missing=()
for tool in wrk h2load nginx haproxy taskset curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} (Debian: wrk nginx-light haproxy nghttp2-client curl util-linux)"
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(wrk nginx-light haproxy nghttp2-client curl util-linux procps)
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; } ||
      log "could not install ${missing[*]}: the parts that need them will fail"
  else
    log "missing ${missing[*]} and cannot install them here (needs root and apt-get): the parts that need them will fail"
  fi
fi

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "npm run build"
  npm run --silent build
fi

cat >"$OUT/meta.json" <<JSON
{ "stamp": "$STAMP", "mode": "$MODE_TEXT", "duration": "$DURATION", "warmup": "$WARMUP", "conns": "$CONNS",
  "h2Conns": "$H2_CONNS", "h2Streams": "$H2_STREAMS", "loadCpu": "$LOAD_CPU", "sutCpu": "$SUT_CPU", "scaleSutCpu": "$SCALE_SUT_CPU" }
JSON

FAILED=()
skip() { echo "$2" >"$OUT/$1.skipped"; log "$1: $2"; }
run_part() {  # run_part NAME CMD... : runs one part; a failure is recorded, the suite goes on
  local name=$1; shift
  log "=== $name"
  if ! "$@"; then FAILED+=("$name"); skip "$name" "failed (exit status; see the log above)"; fi
}

# ---------------------------------------------------------------- 1. L7
if [[ -z ${SKIP_L7:-} ]]; then
  run_part l7 env RESULTS_DIR="$OUT/l7" SKIP_BUILD=1 MODE=http \
    TARGETS="${TARGETS-direct nginx haproxy-http node-undici custom}" \
    H2_TARGETS="${H2_TARGETS-h2-direct h2-nginx h2-haproxy h2-node-undici h2-custom}" \
    "$ROOT/bench/l7-proxy.sh"
else
  skip l7 "skipped (SKIP_L7)"
fi

# ---------------------------------------------------------------- 2. TCP
# The harness has one CUSTOM_CMD per run, so the L4 rows are a run of their own.
if [[ -z ${SKIP_TCP:-} ]]; then
  run_part tcp env RESULTS_DIR="$OUT/tcp" SKIP_BUILD=1 MODE=tcp \
    TARGETS="${TCP_TARGETS-haproxy-tcp node-tcp custom}" H2_TARGETS= \
    CUSTOM_CMD="$ROOT/bench/l7-target.sh" "$ROOT/bench/l7-proxy.sh"
else
  skip tcp "skipped (SKIP_TCP)"
fi

# ---------------------------------------------------------------- 3. processor scaling
# Two workers need two cpus of their own next to the load generator's; CPU columns
# are the master pid's only, so the check compares req/s.
if [[ -n ${SKIP_SCALE:-} ]]; then
  skip scale "skipped (SKIP_SCALE)"
elif [[ $(nproc) -lt 3 && -z ${SCALE:-} ]]; then
  # Two workers cannot get cpus of their own next to the load here: each serving process
  # gets the same cgroup cpu quota instead (bench/worker-scaling.ts; root only).
  run_part scale env RESULT_JSON="$OUT/scale.json" ${QUICK:+DURATION=4 ROUNDS=1} node "$ROOT/bench/worker-scaling.ts"
else
  for n in 1 2; do
    run_part "scale-$n" env RESULTS_DIR="$OUT/scale-$n" SKIP_BUILD=1 MODE=http PROCESSOR=$n SUT_CPU="$SCALE_SUT_CPU" \
      TARGETS=custom H2_TARGETS= BODIES=small "$ROOT/bench/l7-proxy.sh"
  done
fi

# ---------------------------------------------------------------- 4. idle connections
if [[ -z ${SKIP_IDLE:-} ]]; then
  run_part idle env RESULT_JSON="$OUT/idle.json" CONNS="${IDLE_CONNS:-10000}" node "$ROOT/bench/idle-connections.ts"
else
  skip idle "skipped (SKIP_IDLE)"
fi

# ---------------------------------------------------------------- 5. micro
if [[ -z ${SKIP_MICRO:-} ]]; then
  run_part micro env RESULT_JSON="$OUT/micro.json" node "$ROOT/bench/micro/run.ts"
else
  skip micro "skipped (SKIP_MICRO)"
fi

# ---------------------------------------------------------------- summary
node "$ROOT/bench/lib/suite-report.ts" "$OUT" >"$MD"
echo
cat "$MD"
echo
log "summary: $MD (parts in $OUT/)"
if ((${#FAILED[@]} > 0)); then log "parts that failed: ${FAILED[*]}"; exit 1; fi
