"""Three `castellan serve` nodes on one PostgreSQL database behind a small round-robin TCP proxy
behave as one service (issue 14, item 3). Every node is given the proxy's address as its public
origin (`--public-origin`), the same master key, operator key and TLS CA. MSAL Python talks only
to the proxy; every request opens a new connection (`Connection: close`), so consecutive requests
land on different nodes, and a test can pin the nodes a step's connections go to.

Covered: discovery and JWKS agree on every node; client credentials from one node accepted by
Graph on every node; authorization code + PKCE started on A, signed in on B, redeemed on C;
device code started on A, approved on B, polled on C; refresh-token rotation on one node and
reuse detection on another; smart lockout counted across nodes; a user disabled on A refused on
B within 1 s (and their refresh token on C); a signing key rotated on A published by every node
before any node signs with it, and the tokens it signs accepted everywhere.

PostgreSQL comes from CASTELLAN_TEST_DATABASE_URL (scripts/test.sh sets it); unset, the test
fails with the command that fixes it."""
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import jwt
import msal
import msal.authority
import pytest
import requests

from browser import Browser, Page, redirect_params, sign_in
from conftest import BIN, _free_port

msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")


class RoundRobinProxy:
    """Forwards each TCP connection to the next backend in turn (TLS passes through untouched:
    the nodes terminate it). `pinned(i)` sends new connections to backend i meanwhile.
    `served` records which backend took each connection."""

    def __init__(self):
        self.backends = []
        self.port = _free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.cycle = None
        self.pin = None
        self.served = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if not self.backends:
                    client.close()
                    continue
                self.cycle = self.cycle or itertools.cycle(range(len(self.backends)))
                i = self.pin if self.pin is not None else next(self.cycle)
                self.served.append(i)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.backends[i]))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def pinned(self, i):
        with self.lock:
            self.pin = i
        try:
            yield
        finally:
            with self.lock:
                self.pin = None

    def close(self):
        self.sock.close()


class Node:
    def __init__(self, name, root, database_url, public, seed_from=None):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "tls"), exist_ok=True)
        if seed_from:
            # One deployment: the same master key (it seals the shared signing keys), operator
            # key and TLS CA on every node.
            for f in ("master.key", "operator.key", "tls/ca.pem", "tls/ca.key"):
                shutil.copy(os.path.join(seed_from.dir, f), os.path.join(self.dir, f))
        self.port = _free_port()
        args = [BIN, "serve", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}",
                "--graph-port", str(_free_port()), "--database-url", database_url, "--public-origin", public]
        if not seed_from:
            args.append("--demo")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, CASTELLAN_LOG="info"))
        self.ca = os.path.join(self.dir, "tls", "ca.pem")
        self.own = f"https://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while True:
            assert self.proc.poll() is None, f"node {name} exited with {self.proc.returncode}: {self.tail()}"
            try:
                if os.path.exists(self.ca) and requests.get(f"{self.own}/readyz", verify=self.ca, timeout=2).status_code == 200:
                    break
            except (requests.RequestException, OSError):
                pass
            assert time.time() < deadline, f"node {name} did not become ready in 120 s: {self.tail()}"
            time.sleep(0.1)

    def tail(self):
        self.log.flush()
        with open(os.path.join(self.dir, "server.log")) as f:
            return f.read()[-3000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def closing_session():
    """MSAL's HTTP client, as its documentation allows (`http_client=`), with keep-alive off so
    that the proxy spreads every request over the nodes."""
    s = requests.Session()
    s.headers["Connection"] = "close"
    return s


@pytest.fixture(scope="module")
def cluster():
    base = os.environ.get("CASTELLAN_TEST_DATABASE_URL")
    if not base:
        pytest.fail("CASTELLAN_TEST_DATABASE_URL is not set, so the three-node test cannot run: run "
                    "scripts/test.sh, or set CASTELLAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
    name = f"castellan_multinode_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = base.rsplit("/", 1)[0] + "/" + name
    root = tempfile.mkdtemp(prefix="castellan-multinode-")
    nodes, proxy = [], None
    try:
        # The proxy's port is the public origin; it is bound before the nodes start.
        proxy = RoundRobinProxy()
        public = f"https://localhost:{proxy.port}"
        a = Node("a", root, url, public)
        nodes.append(a)
        nodes += [Node(n, root, url, public, seed_from=a) for n in ("b", "c")]
        proxy.backends = [n.port for n in nodes]
        import json
        with open(os.path.join(a.dir, "demo.json")) as f:
            demo = json.load(f)
        assert demo["origin"] == public, demo["origin"]
        with open(os.path.join(a.dir, "operator.key")) as f:
            operator = f.read().strip()
        yield {"nodes": nodes, "proxy": proxy, "demo": demo, "public": public, "ca": a.ca,
               "operator": {"Authorization": f"Bearer {operator}"}}
    finally:
        if proxy:
            proxy.close()
        for n in nodes:
            n.stop()
        subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def env(cluster, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cluster["ca"])
    monkeypatch.setenv("SSL_CERT_FILE", cluster["ca"])
    return cluster


def public_app(c):
    d = c["demo"]
    return msal.PublicClientApplication(d["public_client"]["app_id"], authority=d["authority"],
                                        instance_discovery=False, http_client=closing_session())


def web_app(c):
    d = c["demo"]
    cc = d["confidential_client"]
    return msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=d["authority"],
                                              instance_discovery=False, http_client=closing_session())


def app_token(c):
    r = web_app(c).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in r, r
    return r["access_token"]


def graph(c, method, path, token, **kw):
    return requests.request(method, f"{c['public']}/graph/v1.0{path}", headers={"Authorization": f"Bearer {token}", "Connection": "close"},
                            timeout=30, **kw)


def new_user(c, token):
    alias = f"mn{uuid.uuid4().hex[:10]}"
    upn, pw = f"{alias}@{c['demo']['domain']}", f"Multi-{alias}-Pw1!"
    r = graph(c, "POST", "/users", token, json={"accountEnabled": True, "displayName": alias, "mailNickname": alias,
                                                 "userPrincipalName": upn, "passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": False}})
    assert r.status_code == 201, r.text
    return upn, pw, r.json()["id"]


def browser():
    b = Browser()
    b.s.headers["Connection"] = "close"
    return b


def kid(token):
    return jwt.get_unverified_header(token)["kid"]


def test_every_node_announces_one_issuer_and_accepts_the_others_tokens(env):
    c, proxy = env, env["proxy"]
    tid = c["demo"]["tenant_id"]
    issuers = set()
    for i in range(3):
        with proxy.pinned(i):
            d = requests.get(f"{c['public']}/{tid}/v2.0/.well-known/openid-configuration", headers={"Connection": "close"}).json()
        issuers.add((d["issuer"], d["jwks_uri"]))
    assert issuers == {(f"{c['public']}/{tid}/v2.0", f"{c['public']}/{tid}/discovery/v2.0/keys")}, issuers
    for issuer_node in range(3):
        with proxy.pinned(issuer_node):
            token = app_token(c)
        for node in range(3):
            with proxy.pinned(node):
                r = graph(c, "GET", "/organization", token)
            assert r.status_code == 200, (issuer_node, node, r.text)


def test_authorization_code_started_on_a_signed_in_on_b_redeemed_on_c(env):
    c, proxy = env, env["proxy"]
    d = c["demo"]
    app = public_app(c)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost")
    b = browser()
    with proxy.pinned(0):
        r = b.open(flow["auth_uri"])
    assert r.status_code == 200, r.text[:1000]
    with proxy.pinned(1):
        r = b.submit(Page(r), flow["auth_uri"], username=d["user"]["upn"], password=d["user"]["password"])
    assert r.status_code == 302, r.text[:1500]
    with proxy.pinned(2):
        result = app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == d["user"]["upn"]
    # Control: the same code again, on another node, is refused (one-time across the cluster).
    with proxy.pinned(0):
        again = app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert again.get("error") in ("invalid_grant", "state_mismatch") or "error" in again, again


def test_device_code_started_on_a_approved_on_b_polled_on_c(env):
    c, proxy = env, env["proxy"]
    d = c["demo"]
    app = public_app(c)
    with proxy.pinned(0):
        flow = app.initiate_device_flow(scopes=["User.Read"])
    assert "user_code" in flow, flow
    b = browser()
    with proxy.pinned(1):
        r = b.open(f"{c['public']}/devicelogin")
        r = b.submit(Page(r), f"{c['public']}/devicelogin", code=flow["user_code"].lower())
        r = b.submit(Page(r), f"{c['public']}/devicelogin", username=d["user"]["upn"], password=d["user"]["password"])
    assert r.status_code == 200 and not Page(r).errors, r.text[:1500]
    flow["expires_at"] = time.time() + 30
    with proxy.pinned(2):
        result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == d["user"]["upn"]


def test_refresh_rotation_on_one_node_and_reuse_detected_on_another(env):
    c, proxy = env, env["proxy"]
    upn, pw, _ = new_user(c, app_token(c))
    app = public_app(c)
    with proxy.pinned(0):
        first = app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])
    assert "refresh_token" in first, first
    with proxy.pinned(1):
        second = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=["User.Read"])
    assert "refresh_token" in second and second["refresh_token"] != first["refresh_token"], second
    # The rotated-away token presented to a third node is reuse: refused, and the family revoked.
    with proxy.pinned(2):
        reuse = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=["User.Read"])
    assert reuse.get("error") == "invalid_grant", reuse
    with proxy.pinned(0):
        after = app.acquire_token_by_refresh_token(second["refresh_token"], scopes=["User.Read"])
    assert after.get("error") == "invalid_grant", after


def test_smart_lockout_counts_failures_on_every_node(env):
    c, proxy = env, env["proxy"]
    upn, pw, _ = new_user(c, app_token(c))
    app = public_app(c)
    before = len(proxy.served)
    # Round robin: the ten failures are spread over the three nodes. (Each password differs:
    # MSAL itself answers a repeated identical failing request from its throttling cache.)
    for i in range(10):
        r = app.acquire_token_by_username_password(upn, f"wrong-{i}-{pw}", scopes=["User.Read"])
        assert r.get("error") == "invalid_grant", r
    assert set(proxy.served[before:]) == {0, 1, 2}, proxy.served[before:]
    for node in range(3):
        with proxy.pinned(node):
            r = public_app(c).acquire_token_by_username_password(upn, pw, scopes=["User.Read"])
        assert 50053 in r.get("error_codes", []), (node, r)


def test_user_disabled_on_a_is_refused_on_b_within_one_second(env):
    c, proxy = env, env["proxy"]
    token = app_token(c)
    upn, pw, uid = new_user(c, token)
    app = public_app(c)
    # Warm node B's read model and take a refresh token while the account is enabled.
    with proxy.pinned(1):
        ok = app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])
    assert "access_token" in ok, ok
    with proxy.pinned(0):
        r = graph(c, "PATCH", f"/users/{uid}", token, json={"accountEnabled": False})
    assert r.status_code == 204, r.text
    committed = time.monotonic()
    while True:
        with proxy.pinned(1):
            r = app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])
        if 50057 in r.get("error_codes", []):
            break
        assert "access_token" in r, r
        assert time.monotonic() - committed < 1.0, "node B still signs the disabled user in 1 s after the commit on A"
    refused_after = time.monotonic() - committed
    print(f"disabled on A, refused on B after {refused_after * 1000:.0f} ms")
    with proxy.pinned(2):
        rt = app.acquire_token_by_refresh_token(ok["refresh_token"], scopes=["User.Read"])
    assert rt.get("error") == "invalid_grant", rt


def test_a_key_rotated_on_a_is_published_everywhere_before_any_node_signs_with_it(env):
    c, proxy = env, env["proxy"]
    tid = c["demo"]["tenant_id"]
    old = kid(app_token(c))
    with proxy.pinned(0):
        r = requests.post(f"{c['public']}/operator/v1/keys/rotate", headers={**c["operator"], "Connection": "close"},
                          json={"activateAfterSeconds": 0})
    assert r.status_code == 200, r.text
    new = r.json()["kid"]
    rotated = time.monotonic()
    assert new != old
    published_at, first_signed_at, tokens = {}, None, []
    deadline = time.monotonic() + 20
    while first_signed_at is None or len(published_at) < 3:
        assert time.monotonic() < deadline, f"published on {sorted(published_at)}, first signed at {first_signed_at}"
        for node in range(3):
            with proxy.pinned(node):
                keys = requests.get(f"{c['public']}/{tid}/discovery/v2.0/keys", headers={"Connection": "close"}).json()["keys"]
                t = app_token(c)
            now = time.monotonic()
            if new in {k["kid"] for k in keys}:
                published_at.setdefault(node, now)
            if kid(t) == new:
                if first_signed_at is None:
                    first_signed_at = now
                    # The moment one node signs with the new key, every node already publishes it.
                    for n in range(3):
                        with proxy.pinned(n):
                            ks = requests.get(f"{c['public']}/{tid}/discovery/v2.0/keys", headers={"Connection": "close"}).json()["keys"]
                        assert new in {k["kid"] for k in ks}, f"node {n} signs nothing new yet does not publish {new}"
                tokens.append(t)
            else:
                assert kid(t) == old, kid(t)
        time.sleep(0.2)
    assert max(published_at.values()) <= first_signed_at
    print(f"rotated on A: published by all after {(max(published_at.values()) - rotated) * 1000:.0f} ms, "
          f"first token signed with it after {(first_signed_at - rotated) * 1000:.0f} ms")
    # Tokens signed with the new key are honoured by Graph on every node; the old key's too.
    for node in range(3):
        with proxy.pinned(node):
            assert graph(c, "GET", "/organization", tokens[0]).status_code == 200, node


def test_totp_replay_and_mfa_attempts_are_counted_across_nodes(env):
    """A code used on one node cannot be replayed on another, and wrong codes spread over the
    nodes lock the second factor after five, as on one node."""
    import re
    from html import unescape
    from urllib.parse import parse_qs, urlparse
    from test_mfa_setup import totp
    c, proxy = env, env["proxy"]
    d = c["demo"]
    token = app_token(c)
    upn, pw, uid = new_user(c, token)
    cc = d["confidential_client"]
    app = web_app(c)
    # Register an authenticator app through the pages (sign-in on A, setup on B, confirm on C).
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    b = browser()
    with proxy.pinned(0):
        sign_in(b, flow["auth_uri"], upn, pw)
    setup_url = f"{d['authority']}/mfa/setup"
    with proxy.pinned(1):
        r = b.open(setup_url)
    secret = {k: v[0] for k, v in parse_qs(urlparse(unescape(re.search(r'id="otpauth" href="([^"]+)"', r.text).group(1))).query).items()}["secret"]
    with proxy.pinned(2):
        assert b.submit(Page(r), setup_url, code=totp(secret)).status_code == 200
    policy = {"displayName": f"MFA for {uid}", "state": "enabled",
              "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
              "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}
    r = graph(c, "POST", "/identity/conditionalAccess/policies", token, json=policy)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    action = f"{d['authority']}/oauth2/v2.0/authorize"
    try:
        def challenge(node):
            f = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
            br = browser()
            with proxy.pinned(node):
                page = sign_in(br, f["auth_uri"], upn, pw)
            assert page.status_code == 200 and "Verify your identity" in page.text, page.text[:1500]
            return br, Page(page)
        code = totp(secret, at=time.time() + 30)  # the registration used the current step
        br, page = challenge(0)
        with proxy.pinned(1):
            ok = br.submit(page, action, otc=code)
        assert ok.status_code == 302, ok.text[:1500]
        # The same code on another node, in another browser: replay, refused.
        br, page = challenge(1)
        with proxy.pinned(2):
            replay = br.submit(page, action, otc=code)
        assert replay.status_code == 200 and "500121" in replay.text, replay.text[:1500]
        # Wrong codes round robin over the nodes (the replay above was the first): the fifth
        # locks the second factor everywhere, and then even the next valid code is refused.
        br, page = challenge(2)
        for i in range(4):
            page = Page(br.submit(page, action, otc=f"{(int(code) + 1 + i) % 10**6:06d}"))
        with proxy.pinned(0):
            locked = br.submit(page, action, otc=totp(secret, at=time.time() + 60))
        assert "50053" in locked.text and "multifactor" in locked.text, locked.text[:1500]
    finally:
        graph(c, "DELETE", f"/identity/conditionalAccess/policies/{pid}", token)


def test_graph_lists_on_every_node_show_a_write_made_on_another(env):
    """Graph's indexed user list is per node; each list checks the store's user-list version,
    so a user created, renamed or deleted through A is listed accordingly by B and C at once."""
    c, proxy = env, env["proxy"]
    token = app_token(c)
    for node in range(3):  # build every node's index first
        with proxy.pinned(node):
            assert graph(c, "GET", "/users?$top=1", token).status_code == 200
    with proxy.pinned(0):
        upn, _, uid = new_user(c, token)
    flt = {"$filter": f"userPrincipalName eq '{upn}'", "$select": "id,displayName"}
    for node in (1, 2):
        with proxy.pinned(node):
            r = graph(c, "GET", "/users", token, params=flt)
        assert [u["id"] for u in r.json()["value"]] == [uid], (node, r.text)
    with proxy.pinned(0):
        assert graph(c, "PATCH", f"/users/{uid}", token, json={"displayName": "Renamed On A"}).status_code == 204
    with proxy.pinned(1):
        r = graph(c, "GET", "/users", token, params={"$filter": "startswith(displayName,'Renamed On A')"})
    assert [u["id"] for u in r.json()["value"]] == [uid], r.text
    with proxy.pinned(0):
        assert graph(c, "DELETE", f"/users/{uid}", token).status_code == 204
    with proxy.pinned(2):
        r = graph(c, "GET", "/users", token, params=flt)
    assert r.json()["value"] == [], r.text
