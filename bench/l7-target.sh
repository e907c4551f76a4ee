#!/usr/bin/env bash
# The mosnode target of ../shared/bench/run.sh: writes a MOSN config from the harness's
# environment (PORT, UP_PORT) and execs mosnode (same pid, so the harness reads its CPU).
# Downstream "Auto" serves the HTTP/1.1 rows and the h2c rows on one port; upstream is
# the origin's HTTP/1.1 port (as in the node-undici and h2-node-undici baselines), or
# its h2c port with UPSTREAM=Http2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# One file per port, rewritten each run: exec keeps no shell around to delete a temp file.
CONFIG=/tmp/mosnode-bench-config.${PORT:-8030}.json
UPSTREAM=${UPSTREAM:-Http1}
UP=$([[ $UPSTREAM == Http2 ]] && echo "${UP_H2_PORT:-8010}" || echo "${UP_PORT:-8000}")
cat >"$CONFIG" <<JSON
{
  "servers": [{
    "default_log_level": "WARN",
    "routers": [{ "router_config_name": "bench", "virtual_hosts": [{ "name": "all", "domains": ["*"],
      "routers": [{ "match": { "prefix": "/" }, "route": { "cluster_name": "origin" } }] }] }],
    "listeners": [{
      "name": "bench", "address": "127.0.0.1:${PORT:-8030}", "bind_port": true,
      "filter_chains": [{ "filters": [{ "type": "proxy", "config": {
        "downstream_protocol": "Auto", "upstream_protocol": "${UPSTREAM}", "router_config_name": "bench" } }] }]
    }]
  }],
  "cluster_manager": { "clusters": [{ "name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
    "hosts": [{ "address": "127.0.0.1:${UP}" }] }] },
  "disable_upgrade": true
}
JSON
exec "${NODE:-node}" "$ROOT/bin/mosnode.js" start -c "$CONFIG"
