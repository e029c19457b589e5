#!/usr/bin/env bash
# Runs the conformance suite: real client libraries (MSAL Python, PyJWT, azure-identity) against
# a `castellan serve --demo` that the suite starts itself on a free port.
# Usage: conformance/run.sh [pytest args]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

if [ ! -x "$here/.venv/bin/python" ]; then
  echo "conformance: creating $here/.venv"
  python3 -m venv "$here/.venv"
fi
if ! "$here/.venv/bin/python" -c 'import sys; sys.exit(0 if open(sys.argv[1]).read() == open(sys.argv[2]).read() else 1)' \
     "$here/requirements.txt" "$here/.venv/.installed" 2>/dev/null; then
  echo "conformance: installing pinned client libraries"
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$here/.venv/.installed"
fi
# The Azure CLI in a venv of its own (it pins msal and azure-core itself); reinstalled only when
# requirements-azcli.txt changes.
if [ ! -x "$here/.venv-az/bin/python" ]; then
  echo "conformance: creating $here/.venv-az"
  python3 -m venv "$here/.venv-az"
fi
if ! cmp -s "$here/requirements-azcli.txt" "$here/.venv-az/.installed" 2>/dev/null; then
  echo "conformance: installing the pinned Azure CLI"
  "$here/.venv-az/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-azcli.txt"
  cp "$here/requirements-azcli.txt" "$here/.venv-az/.installed"
fi
export CASTELLAN_AZ="${CASTELLAN_AZ:-$here/.venv-az/bin/az}"

# msal-node and playwright-core (driving Debian's /usr/bin/chromium), pinned by package-lock.json.
if ! command -v npm >/dev/null 2>&1; then
  echo "conformance: npm is missing — install Debian's nodejs and npm (.ci/run does)" >&2
  exit 1
fi
if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.castellan-installed" 2>/dev/null; then
  echo "conformance: installing pinned npm packages"
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/node/package-lock.json" "$here/node/node_modules/.castellan-installed"
fi

echo "conformance: building castellan"
cargo build --quiet -p castellan-cli
export CASTELLAN_BIN="${CASTELLAN_BIN:-$root/target/debug/castellan}"
cd "$here"
exec "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
