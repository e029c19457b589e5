#!/usr/bin/env bash
# The test command: formatting, lints, every Rust test (the store suite on SQLite and, via
# CASTELLAN_TEST_DATABASE_URL, on PostgreSQL), then the conformance suite with the real
# client libraries. It sets up what it needs first (scripts/test-deps.sh: PostgreSQL, Python
# venv support, Node and npm, Chromium) and fails loudly — naming the command that fixes it —
# when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

export CASTELLAN_TEST_DATABASE_URL="${CASTELLAN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

step() { printf '\n==> %s\n' "$*"; }

step "test dependencies (PostgreSQL, python3-venv, Node, Chromium)"
scripts/test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace (PostgreSQL: ${CASTELLAN_TEST_DATABASE_URL%%\?*})"
cargo test --workspace

step "conformance suite (real MSAL / PyJWT / azure-identity / msal-node / Chromium)"
conformance/run.sh
