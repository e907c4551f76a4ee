#!/usr/bin/env bash
# L7 benchmark: mosnode next to nginx, HAProxy and the Node baselines, in one run of the
# shared harness (../shared/bench/run.sh; it installs wrk, h2load, nginx and haproxy from
# Debian when missing). The harness is copied to a temporary folder, so nothing is
# written beside the project; tables land in bench/results/.
#
#   npm run bench:l7                                   # h1 + h2c rows, small and 16k bodies
#   TARGETS="node-undici custom" H2_TARGETS= BODIES=small npm run bench:l7
#   UPSTREAM=Http2 H2_TARGETS="h2-node-h2 h2-custom" TARGETS= npm run bench:l7
#   MODE=tcp TARGETS="haproxy-tcp node-tcp custom" H2_TARGETS= npm run bench:l7   # L4 rows
#   SKIP_BUILD=1 ...                                   # use dist/ as it is (bench/suite.sh builds once)
# MODE, UPSTREAM, PROCESSOR and PROFILE reach bench/l7-target.sh through the environment.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench}
[[ -x $HARNESS/run.sh ]] || { echo "no benchmark harness at $HARNESS (expected ../shared/bench beside the project)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/mosnode-l7-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -r "$HARNESS"/. "$WORK"/
chmod -R u+w "$WORK"
[[ -n ${SKIP_BUILD:-} ]] || (cd "$ROOT" && npm run --silent build)
mkdir -p "$ROOT/bench/results"
# The harness runs `node` for its Node baselines: use the project's Node 24 for all rows.
export PATH="$ROOT/node_modules/.bin:$PATH"
# Not an inherited NODE: `npm run` sets it to the node running npm, which may be an older
# system Node (mosnode then fails to start). MOSNODE_BENCH_NODE overrides.
export NODE=${MOSNODE_BENCH_NODE:-$(command -v node)}
export RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
export CUSTOM_CMD=${CUSTOM_CMD:-$ROOT/bench/l7-target.sh}
export TARGETS=${TARGETS-"direct nginx haproxy-http node-undici custom"}
export H2_TARGETS=${H2_TARGETS-"h2-direct h2-nginx h2-haproxy h2-node-undici h2-custom"}
"$WORK/run.sh" "$@"
