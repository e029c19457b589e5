"""msal-node (client credentials; auth code + PKCE) and one headless-Chromium sign-in through
Castellan's real pages into a tiny msal-node web app. Runs the scripts in conformance/node with
the machine's Node.js; a missing node, npm package or /usr/bin/chromium fails the test."""
import json
import os
import shutil
import socket
import subprocess

import pytest

HERE = os.path.join(os.path.dirname(__file__), "node")


def run(script, data, timeout=120):
    node = shutil.which("node")
    assert node, "node is not installed (conformance/run.sh installs the npm packages; Debian nodejs is required)"
    assert os.path.isdir(os.path.join(HERE, "node_modules", "@azure", "msal-node")), "run conformance/run.sh: it installs conformance/node's npm packages"
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.environ["REQUESTS_CA_BUNDLE"])
    p = subprocess.run([node, script, json.dumps(data)], cwd=HERE, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"{script} printed no result (exit {p.returncode}):\n{p.stdout}\n{p.stderr}"
    out = json.loads(lines[-1])
    assert p.returncode == 0 and "error" not in out, f"{script}: {out}\n{p.stderr}"
    return out


def test_msal_node_client_credentials_and_auth_code_pkce(demo):
    out = run("msal_node.mjs", {
        "authority": demo["authority"],
        "client_id": demo["confidential_client"]["app_id"],
        "secret": demo["confidential_client"]["secret"],
        "public_client_id": demo["public_client"]["app_id"],
        "upn": demo["user"]["upn"],
        "password": demo["user"]["password"],
    })
    cc = out["clientCredentials"]
    assert cc["aud"] == "00000003-0000-0000-c000-000000000000" and cc["idtyp"] == "app" and cc["azp"] == demo["confidential_client"]["app_id"]
    assert "User.Read.All" in cc["roles"] or "Directory.ReadWrite.All" in cc["roles"], cc
    assert "7000215" in cc["badError"]["message"], cc
    ac = out["authCode"]
    assert ac["state"] == "node-state" and ac["username"] == demo["user"]["upn"] and ac["scp"] == "User.Read"
    assert ac["homeAccountId"] == f"{demo['user']['id']}.{demo['tenant_id']}"
    assert ac["replay"] and "54005" in ac["replay"]["message"], ac
    assert ac["silentRefreshed"] is True
    assert ac["afterReplay"] == "invalid_grant", ac


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_headless_chromium_signs_into_a_web_app(demo, graph):
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (.ci/run installs it: apt-get install chromium)"
    port = free_port()
    r = graph.post("/applications", {"displayName": "Chromium sample web app", "web": {"redirectUris": [f"http://localhost:{port}/redirect"]}})
    assert r.status_code == 201, r.text
    app = r.json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "browser"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    assert graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"}).status_code == 201
    out = run("browser_webapp.mjs", {"authority": demo["authority"], "client_id": app["appId"], "secret": secret, "port": port,
                                     "upn": demo["user"]["upn"], "password": demo["user"]["password"]}, timeout=180)
    assert out["appName"] == "Chromium sample web app"
    assert "AADSTS50126" in out["pageError"]
    user = graph.get(f"/users/{demo['user']['id']}").json()
    assert out["hello"] == f"Signed in as {user['displayName']}"
    assert out["ssoUrl"] == f"http://localhost:{port}/"
