#!/usr/bin/env bash
# Token issuance benchmark: client-credentials tokens/s over HTTPS on loopback at concurrency
# 1, 8, 32 and 64, against the raw RS256 signs/s of the same key on one core (same run) and
# against the peer oidc-provider (bench/peer: run `npm ci` there once; --no-peer skips it);
# then password, refresh and auth-code flows against argon2id verifies/s and RS256 signs/s.
# Usage: scripts/bench.sh [--seconds N] [--out bench/results.json]
# In-process engines instead: scripts/bench.sh --rbac | --ca [--out FILE] (no server; --ca also
# measures one RS256 signature on the same core as its baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p castellan-bench -- "$@"
