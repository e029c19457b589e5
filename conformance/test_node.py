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
    # Graph takes v1 tokens (as from Entra): aud as requested, the client in appid.
    assert cc["aud"] == "https://graph.microsoft.com" and cc["idtyp"] == "app" and cc["ver"] == "1.0"
    assert cc["appid"] == demo["confidential_client"]["app_id"]
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


def sample_web_app(graph, name, port):
    """Registers the sample web app (redirect on localhost:port, consented to User.Read)."""
    r = graph.post("/applications", {"displayName": name, "web": {"redirectUris": [f"http://localhost:{port}/redirect"]}})
    assert r.status_code == 201, r.text
    app = r.json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "browser"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    assert graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"}).status_code == 201
    return app, secret


def test_headless_chromium_signs_into_a_web_app(demo, graph):
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (.ci/run installs it: apt-get install chromium)"
    port = free_port()
    app, secret = sample_web_app(graph, "Chromium sample web app", port)
    out = run("browser_webapp.mjs", {"authority": demo["authority"], "client_id": app["appId"], "secret": secret, "port": port,
                                     "upn": demo["user"]["upn"], "password": demo["user"]["password"]}, timeout=180)
    assert out["appName"] == "Chromium sample web app"
    assert "AADSTS50126" in out["pageError"]
    user = graph.get(f"/users/{demo['user']['id']}").json()
    assert out["hello"] == f"Signed in as {user['displayName']}"
    assert out["ssoUrl"] == f"http://localhost:{port}/"


def test_headless_chromium_mfa_enrollment_and_challenge(demo, graph, new_user, sign_ins):
    """A policy requires MFA; a user without an authenticator app signs in through the real
    pages, is sent to register one (50079), registers it (QR code, key, wrong code refused,
    recovery codes), signs in again and passes the TOTP challenge; the ID token says mfa."""
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (.ci/run installs it: apt-get install chromium)"
    upn, pw, uid = new_user()
    port = free_port()
    app, secret = sample_web_app(graph, "Chromium MFA web app", port)
    policy = graph.post("/identity/conditionalAccess/policies", {
        "displayName": "Chromium: MFA for this user", "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    assert policy.status_code == 201, policy.text
    try:
        out = run("browser_mfa.mjs", {"authority": demo["authority"], "client_id": app["appId"], "secret": secret, "port": port,
                                      "upn": upn, "password": pw}, timeout=180)
    finally:
        graph.delete(f"/identity/conditionalAccess/policies/{policy.json()['id']}")
    assert "AADSTS50079" in out["registerPage"], out
    assert out["hasQr"] is True
    assert out["setupError"].strip(), out
    assert out["recoveryCodes"] >= 5, out
    assert "Verify your identity" in out["challengeTitle"], out
    assert out["hello"].startswith("Signed in as"), out
    assert out["amr"].split() == ["pwd", "mfa"], out
    # The log shows the sign-in that had to register first.
    assert sign_ins(f"userId eq '{uid}' and status/errorCode eq 50079")
