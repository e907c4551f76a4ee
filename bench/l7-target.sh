#!/usr/bin/env bash
# The mosnode target of ../shared/bench/run.sh: writes a MOSN config from the harness's
# environment (PORT, UP_PORT) and execs mosnode (same pid, so the harness reads its CPU).
#
#   MODE=http (default)  the `proxy` network filter: downstream "Auto" serves the HTTP/1.1
#                        rows and the h2c rows on one port; upstream is the origin's
#                        HTTP/1.1 port (as in the node-undici and h2-node-undici
#                        baselines), or its h2c port with UPSTREAM=Http2.
#   MODE=tcp             a `tcp_proxy` listener to the origin's HTTP/1.1 port (the L4 rows,
#                        next to haproxy-tcp and node-tcp).
#   PROCESSOR=N          written as servers[0].processor (worker processes). With N > 1 the
#                        harness still reads CPU and RSS of this pid only (the master);
#                        compare req/s.
#   NODE_FLAGS="..."     extra node flags for mosnode (e.g. --max-semi-space-size=8).
#   PROFILE=DIR          runs node with --cpu-prof into DIR (a .cpuprofile per process,
#                        written when mosnode exits; open it in Chrome DevTools).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${MODE:-http}
PORT=${PORT:-8030}
UP_PORT=${UP_PORT:-8000}
PROCESSOR=${PROCESSOR:-1}
[[ $PROCESSOR =~ ^([1-9][0-9]*|auto)$ ]] || { echo "l7-target: PROCESSOR must be a number >= 1 or auto, got '$PROCESSOR'" >&2; exit 2; }
[[ $PROCESSOR == auto ]] && PROCESSOR_JSON='"auto"' || PROCESSOR_JSON=$PROCESSOR
# One file per port and mode, rewritten each run: exec keeps no shell around to delete a temp file.
CONFIG=/tmp/mosnode-bench-config.$MODE.$PORT.json

case $MODE in
  http)
    UPSTREAM=${UPSTREAM:-Http1}
    UP=$([[ $UPSTREAM == Http2 ]] && echo "${UP_H2_PORT:-8010}" || echo "$UP_PORT")
    cat >"$CONFIG" <<JSON
{
  "servers": [{
    "default_log_level": "WARN",
    "processor": ${PROCESSOR_JSON},
    "routers": [{ "router_config_name": "bench", "virtual_hosts": [{ "name": "all", "domains": ["*"],
      "routers": [{ "match": { "prefix": "/" }, "route": { "cluster_name": "origin" } }] }] }],
    "listeners": [{
      "name": "bench", "address": "127.0.0.1:${PORT}", "bind_port": true,
      "filter_chains": [{ "filters": [{ "type": "proxy", "config": {
        "downstream_protocol": "Auto", "upstream_protocol": "${UPSTREAM}", "router_config_name": "bench" } }] }]
    }]
  }],
  "cluster_manager": { "clusters": [{ "name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
    "hosts": [{ "address": "127.0.0.1:${UP}" }] }] },
  "disable_upgrade": true
}
JSON
    ;;
  tcp)
    cat >"$CONFIG" <<JSON
{
  "servers": [{
    "default_log_level": "WARN",
    "processor": ${PROCESSOR_JSON},
    "listeners": [{
      "name": "bench-tcp", "address": "127.0.0.1:${PORT}", "bind_port": true,
      "filter_chains": [{ "filters": [{ "type": "tcp_proxy", "config": { "cluster": "origin" } }] }]
    }]
  }],
  "cluster_manager": { "clusters": [{ "name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
    "hosts": [{ "address": "127.0.0.1:${UP_PORT}" }] }] },
  "disable_upgrade": true
}
JSON
    ;;
  *) echo "l7-target: MODE must be http or tcp, got '$MODE'" >&2; exit 2 ;;
esac

NODE_ARGS=()
# Extra node flags for mosnode, e.g. NODE_FLAGS="--max-semi-space-size=8" (investigations).
[[ -n ${NODE_FLAGS:-} ]] && read -r -a NODE_ARGS <<<"$NODE_FLAGS"
if [[ -n ${PROFILE:-} ]]; then
  mkdir -p "$PROFILE"
  NODE_ARGS+=(--cpu-prof "--cpu-prof-dir=$PROFILE")
fi
exec "${NODE:-node}" "${NODE_ARGS[@]}" "$ROOT/bin/mosnode.js" start -c "$CONFIG"
