"""Backup and restore end to end, on both engines: a running server's store is backed up
(SQLite: `castellan backup`, online, while writes continue; PostgreSQL: pg_dump), the server is
killed, the copy restored into a fresh data directory (SQLite) or database (pg_restore) beside
the same master.key, and a server started on it: a token issued before the backup validates
against the restored server's keys (same issuer, same signature) and a user created before the
backup signs in with MSAL. Bad input: backup onto an existing file or from a directory with no
database fails with the cause and changes nothing."""
import os
import shutil
import subprocess
import tempfile
import threading
import uuid

import jwt
import msal
import msal.authority
import pytest
import requests

from conftest import BIN
from test_durability import Node

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")
PASSWORD = "Restored-Passw0rd!"


def _seed(node):
    """A user with a password, and an app-only token issued now."""
    alias = f"bk-{uuid.uuid4().hex[:8]}"
    upn = f"{alias}@{node.demo['domain']}"
    r = requests.post(f"{node.demo['graph_url']}/users", headers=node.h, verify=node.ca, json={
        "accountEnabled": True, "displayName": alias, "mailNickname": alias, "userPrincipalName": upn,
        "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": False}})
    assert r.status_code == 201, r.text
    return upn, node.h["Authorization"].split(" ", 1)[1]


def _check_restored(node, upn, old_token, old_claims, monkeypatch):
    # The token issued before the backup verifies with the restored server's published keys.
    oidc = requests.get(f"{node.demo['authority']}/v2.0/.well-known/openid-configuration", verify=node.ca).json()
    jwks = jwt.PyJWKClient(oidc["jwks_uri"], ssl_context=__import__("ssl").create_default_context(cafile=node.ca))
    key = jwks.get_signing_key_from_jwt(old_token)
    claims = jwt.decode(old_token, key.key, algorithms=["RS256"], audience=old_claims["aud"],
                        options={"verify_iss": False})
    assert claims["tid"] == old_claims["tid"] and claims["iss"] == old_claims["iss"]
    # The user made before the backup signs in (ROPC through MSAL Python, which trusts the
    # restored server's CA through REQUESTS_CA_BUNDLE, as a user would set it).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", node.ca)
    app = msal.PublicClientApplication(node.demo["public_client"]["app_id"], authority=node.demo["authority"],
                                       instance_discovery=False)
    result = app.acquire_token_by_username_password(upn, PASSWORD, scopes=["User.Read"])
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == upn


def _copy_keys(src, dst):
    """What a restore keeps beside the database: the master key (it seals the signing keys) and,
    for `--demo`, demo.json (without it `--demo` would seed a second demo tenant)."""
    os.makedirs(dst, exist_ok=True)
    for f in ("master.key", "demo.json"):
        shutil.copy2(os.path.join(src, f), os.path.join(dst, f))


def test_sqlite_online_backup_restores_tokens_and_sign_ins(monkeypatch):
    live, restored, out = (tempfile.mkdtemp(prefix=f"castellan-backup-{p}-") for p in ("live", "restored", "out"))
    try:
        node = Node(live)
        upn, token = _seed(node)
        claims = jwt.decode(token, options={"verify_signature": False})
        # Writes continue while the backup runs.
        stop = threading.Event()

        def writer():
            while not stop.is_set():
                a = f"bw-{uuid.uuid4().hex[:8]}"
                requests.post(f"{node.demo['graph_url']}/users", headers=node.h, verify=node.ca, json={
                    "accountEnabled": True, "displayName": a, "mailNickname": a,
                    "userPrincipalName": f"{a}@{node.demo['domain']}", "passwordProfile": {"password": PASSWORD}})
        t = threading.Thread(target=writer)
        t.start()
        backup = os.path.join(out, "castellan.db")
        r = subprocess.run([BIN, "backup", "--data-dir", live, "--to", backup], capture_output=True, text=True)
        stop.set()
        t.join()
        assert r.returncode == 0, r.stderr
        assert "backup written" in r.stdout and os.path.getsize(backup) > 0
        # Bad input: an existing target is refused and left as it was; so is a missing database.
        before = os.path.getsize(backup)
        again = subprocess.run([BIN, "backup", "--data-dir", live, "--to", backup], capture_output=True, text=True)
        assert again.returncode != 0 and "already exists" in again.stderr, again
        assert os.path.getsize(backup) == before
        empty = tempfile.mkdtemp(prefix="castellan-backup-empty-")
        none = subprocess.run([BIN, "backup", "--data-dir", empty, "--to", os.path.join(out, "x.db")],
                              capture_output=True, text=True)
        assert none.returncode != 0 and "no database" in none.stderr, none
        assert not os.listdir(empty) and not os.path.exists(os.path.join(out, "x.db"))
        shutil.rmtree(empty, ignore_errors=True)
        port = node.port
        node.kill9()
        # Restore: the copy as castellan.db beside the same master key, the same origin.
        _copy_keys(live, restored)
        shutil.copy2(backup, os.path.join(restored, "castellan.db"))
        back = Node(restored, port=port)
        _check_restored(back, upn, token, claims, monkeypatch)
        back.kill9()
    finally:
        for d in (live, restored, out):
            shutil.rmtree(d, ignore_errors=True)


def test_postgresql_dump_and_restore_keeps_tokens_and_sign_ins(monkeypatch):
    base = os.environ.get("CASTELLAN_TEST_DATABASE_URL")
    if not base:
        pytest.fail("CASTELLAN_TEST_DATABASE_URL is not set, so the PostgreSQL backup test cannot run: run "
                    "scripts/test.sh, or set CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    for tool in ("pg_dump", "pg_restore", "psql"):
        assert shutil.which(tool), f"{tool} is missing: install Debian's postgresql-client (scripts/test-deps.sh does)"
    src, dst = (f"castellan_backup_{k}_{uuid.uuid4().hex[:8]}" for k in ("src", "dst"))
    root = base.rsplit("/", 1)[0]
    live, restored, out = (tempfile.mkdtemp(prefix=f"castellan-pgbackup-{p}-") for p in ("live", "restored", "out"))
    try:
        for name in (src, dst):
            subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
        node = Node(live, f"{root}/{src}")
        upn, token = _seed(node)
        claims = jwt.decode(token, options={"verify_signature": False})
        dump = os.path.join(out, "castellan.dump")
        subprocess.run(["pg_dump", "--format=custom", "--file", dump, f"{root}/{src}"], check=True)
        port = node.port
        node.kill9()
        subprocess.run(["pg_restore", "--no-owner", "--dbname", f"{root}/{dst}", dump], check=True)
        _copy_keys(live, restored)
        back = Node(restored, f"{root}/{dst}", port=port)
        _check_restored(back, upn, token, claims, monkeypatch)
        back.kill9()
    finally:
        for name in (src, dst):
            subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
        for d in (live, restored, out):
            shutil.rmtree(d, ignore_errors=True)
