"""No acknowledged write is lost when the server is killed: 20 `kill -9` crashes of a
`castellan serve --demo` under a steady stream of Graph user creations, on SQLite and on
PostgreSQL. After the last restart, every user whose creation was answered 201 exists.

PostgreSQL comes from CASTELLAN_TEST_DATABASE_URL (scripts/test.sh sets it); unset, the
PostgreSQL half fails with the command that fixes it."""
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import BIN, _free_port

CRASHES = 20
WRITERS = 4


class Node:
    """One `castellan serve --demo` process over a data directory that outlives it."""

    def __init__(self, data_dir, database_url=None, port=None):
        self.port, self.graph_port = port or _free_port(), _free_port()
        args = [BIN, "serve", "--demo", "--data-dir", data_dir, "--listen", f"127.0.0.1:{self.port}",
                "--graph-port", str(self.graph_port)]
        if database_url:
            args += ["--database-url", database_url]
        self.log = open(os.path.join(data_dir, "server.log"), "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, CASTELLAN_LOG="warn"))
        self.origin = f"https://127.0.0.1:{self.port}"
        self.ca = os.path.join(data_dir, "tls", "ca.pem")
        deadline = time.time() + 120
        while True:
            assert self.proc.poll() is None, f"castellan exited with {self.proc.returncode}: {self.tail(data_dir)}"
            try:
                if requests.get(f"{self.origin}/readyz", verify=self.ca, timeout=2).status_code == 200:
                    break
            except (requests.RequestException, OSError):
                pass
            assert time.time() < deadline, f"castellan did not become ready in 120 s: {self.tail(data_dir)}"
            time.sleep(0.1)
        with open(os.path.join(data_dir, "demo.json")) as f:
            self.demo = json.load(f)
        c = self.demo["confidential_client"]
        r = requests.post(f"{self.demo['authority']}/oauth2/v2.0/token", verify=self.ca, data={
            "grant_type": "client_credentials", "client_id": c["app_id"], "client_secret": c["secret"],
            "scope": "https://graph.microsoft.com/.default"}, timeout=30)
        assert r.status_code == 200, r.text
        self.h = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def tail(self, data_dir):
        self.log.flush()
        with open(os.path.join(data_dir, "server.log")) as f:
            return f.read()[-3000:]

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()


def _crash_run(database_url=None):
    data_dir = tempfile.mkdtemp(prefix="castellan-durability-")
    acknowledged, refused, lock = [], [], threading.Lock()
    try:
        for crash in range(CRASHES):
            node = Node(data_dir, database_url)
            stop = threading.Event()

            def writer(w):
                s = requests.Session()
                while not stop.is_set():
                    alias = f"dur-{crash:02d}-{w}-{uuid.uuid4().hex[:10]}"
                    body = {"accountEnabled": True, "displayName": alias, "mailNickname": alias,
                            "userPrincipalName": f"{alias}@{node.demo['domain']}",
                            "passwordProfile": {"password": "Durable-Passw0rd!"}}
                    try:
                        r = s.post(f"{node.demo['graph_url']}/users", json=body, headers=node.h,
                                   verify=node.ca, timeout=30)
                    except (requests.RequestException, OSError):
                        return  # the server died mid-request: not acknowledged
                    with lock:
                        (acknowledged if r.status_code == 201 else refused).append((alias, r.status_code))

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.3, 1.2))
            node.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=60)
        node = Node(data_dir, database_url)
        present, url = set(), f"{node.demo['graph_url']}/users?$filter=startswith(displayName,'dur-')&$select=displayName&$top=999"
        while url:
            r = requests.get(url, headers=node.h, verify=node.ca, timeout=60)
            assert r.status_code == 200, r.text
            page = r.json()
            present.update(u["displayName"] for u in page["value"])
            url = page.get("@odata.nextLink")
        node.kill9()
        lost = [a for a, _ in acknowledged if a not in present]
        print(f"{CRASHES} kill -9 crashes: {len(acknowledged)} acknowledged writes, {len(present)} users present, "
              f"{len(lost)} lost, {len(refused)} refused")
        assert len(acknowledged) >= CRASHES, "too few acknowledged writes for the test to mean anything"
        assert not [c for _, c in refused if c != 503], f"writes refused other than with 503: {refused[:5]}"
        assert not lost, f"acknowledged writes lost after kill -9: {lost[:10]}"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_no_acknowledged_write_is_lost_over_20_kill9_on_sqlite():
    _crash_run()


def test_no_acknowledged_write_is_lost_over_20_kill9_on_postgresql():
    base = os.environ.get("CASTELLAN_TEST_DATABASE_URL")
    if not base:
        pytest.fail("CASTELLAN_TEST_DATABASE_URL is not set, so the PostgreSQL crash test cannot run: run "
                    "scripts/test.sh, or set CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    name = f"castellan_durability_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        _crash_run(base.rsplit("/", 1)[0] + "/" + name)
    finally:
        subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
