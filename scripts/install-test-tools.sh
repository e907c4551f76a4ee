#!/usr/bin/env bash
# Optional system tools some tests use, installed from Debian's packages when missing:
# nftables, for the original_dst test that NATs real connections in a network namespace
# (test/integration/original-dst-nat.test.ts; without nft it is reported as skipped).
# Needs root and apt-get; anywhere else it says why and changes nothing.
set -euo pipefail
if command -v nft >/dev/null 2>&1; then
  echo "test tools: nft present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test tools: nft missing and cannot be installed here (needs root and apt-get); the NAT test will be skipped"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A package mirror that cannot be reached must not fail the build: the test then skips.
if apt-get update -qq && apt-get install -y -qq --no-install-recommends nftables >/dev/null; then
  echo "test tools: nftables installed"
else
  echo "test tools: installing nftables failed; the NAT test will be skipped"
fi
