#!/usr/bin/env bash
# Installs or starts what the test command needs on a Debian machine: PostgreSQL (started on
# 127.0.0.1:5432 with trust auth for `postgres`), python3-venv, Node and npm, Chromium, xmlsec1,
# dnsmasq (the custom-domain tests' local DNS server).
# As root it installs with apt-get; otherwise it says the one command that does. When
# CASTELLAN_TEST_DATABASE_URL points elsewhere than 127.0.0.1:5432, PostgreSQL is left alone.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Backup/restore and crash tests drive PostgreSQL with psql, pg_dump and pg_restore.
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
# SAML: pysaml2 and the SAML tests verify XML signatures with the xmlsec1 command.
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
# Custom domains: the domain tests answer TXT and MX lookups from a local dnsmasq.
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)

url="${CASTELLAN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
local_pg=false
case "$url" in *@127.0.0.1:5432/*|*@localhost:5432/*) local_pg=true ;; esac
if ! $local_pg; then
  missing=("${missing[@]/postgresql}")
fi

pkgs=()
for p in "${missing[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${pkgs[*]}; install them with: sudo apt-get install -y ${pkgs[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if $local_pg && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: PostgreSQL is not running on 127.0.0.1:5432; start it with: sudo pg_ctlcluster \$(ls /etc/postgresql | sort -V | tail -n1) main start" >&2
    exit 1
  fi
  ver="$(ls /etc/postgresql | sort -V | tail -n1)"
  conf="/etc/postgresql/$ver/main/pg_hba.conf"
  # Trust auth for local TCP connections of `postgres` (the test database is throwaway).
  if ! grep -Eq '^host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$conf"; then
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$conf"
  fi
  echo "test-deps: starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if $local_pg; then
  pg_isready -h 127.0.0.1 -p 5432 || { echo "test-deps: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "test-deps: ok"
