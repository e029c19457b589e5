"""Security defaults with the real clients: Graph's identitySecurityDefaultsEnforcementPolicy,
the MFA-registration requirement in a browser sign-in, legacy authentication (ROPC) blocked for
MSAL Python, and mutual exclusion with enabled custom policies. The demo tenant has them off;
this module turns them on and always off again."""
import msal
import pytest

from browser import Browser, Page, redirect_params, sign_in
from test_conditional_access import _register_totp, ropc, user_policy

SD = "/policies/identitySecurityDefaultsEnforcementPolicy"


@pytest.fixture
def security_defaults_on(graph):
    assert graph.get(SD).json()["isEnabled"] is False, "the demo tenant starts with them off"
    r = graph.patch(SD, {"isEnabled": True})
    assert r.status_code == 204, r.text
    try:
        yield
    finally:
        assert graph.patch(SD, {"isEnabled": False}).status_code == 204
        assert graph.get(SD).json()["isEnabled"] is False


def web_app(demo):
    cc = demo["confidential_client"]
    return msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)


def test_graph_shape(graph):
    v = graph.get(SD).json()
    assert v["id"] == "00000000-0000-0000-0000-000000000005"
    assert v["displayName"] == "Security Defaults" and v["isEnabled"] is False and v["description"]


def test_browser_sign_in_without_an_authenticator_app_goes_to_registration(demo, graph, new_user, security_defaults_on, sign_ins):
    upn, pw, uid = new_user()
    app = web_app(demo)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], upn, pw)
    assert r.status_code == 403 and "AADSTS50079" in r.text and "security defaults" in r.text, r.text[:1500]
    assert "/mfa/setup" in r.text
    rec = sign_ins(f"userId eq '{uid}' and status/errorCode eq 50079")[0]
    assert rec["conditionalAccessStatus"] == "failure"
    names = {p["displayName"]: p["result"] for p in rec["appliedConditionalAccessPolicies"]}
    assert names.get("Security defaults: require MFA registration") == "failure", rec


def test_after_registering_the_user_signs_in_and_ropc_is_blocked(demo, new_user, graph, security_defaults_on):
    # The sign-in that lands on the registration page leaves a session: the user registers an
    # authenticator app at /mfa/setup (a TOTP computed here), then signs in normally.
    upn, pw, uid = new_user()
    _register_totp(demo, upn, pw)
    app = web_app(demo)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], upn, pw)
    assert r.status_code == 302, r.text[:1500]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    # ROPC is legacy authentication under security defaults: AADSTS530035 (BlockedBySecurityDefaults).
    res = ropc(demo, upn, pw)
    assert 530035 in res.get("error_codes", []), res
    assert "Security defaults: block legacy authentication" in res["error_description"]


def test_mutual_exclusion(graph, new_user, security_defaults_on):
    _, _, uid = new_user()
    r = graph.post("/identity/conditionalAccess/policies", user_policy("SD conformance", uid, ["mfa"]))
    assert r.status_code == 400 and "Turn security defaults off first" in r.text, r.text
    r = graph.post("/identity/conditionalAccess/policies", user_policy("SD conformance RO", uid, ["mfa"], state="enabledForReportingButNotEnforced"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    try:
        r = graph.patch(f"/identity/conditionalAccess/policies/{pid}", {"state": "enabled"})
        assert r.status_code == 400, r.text
        assert graph.get(f"/identity/conditionalAccess/policies/{pid}").json()["state"] == "enabledForReportingButNotEnforced"
    finally:
        graph.delete(f"/identity/conditionalAccess/policies/{pid}")


def test_whatif_cli_device_state_and_ca_cli_errors(server, new_user, policies_cleanup):
    import os
    import subprocess
    from test_conditional_access import BASE
    _, _, uid = new_user()
    graph, made = policies_cleanup
    r = graph.post(f"{BASE}/policies", user_policy("CLI compliant device", uid, ["compliantDevice"]))
    assert r.status_code == 201, r.text
    made.append(r.json()["id"])
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))

    def run(*args):
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)
    for device, code in [("compliant", 0), ("noncompliant", 3), ("none", 3)]:
        p = run("whatif", "--user", uid, "--device", device)
        assert p.returncode == code, (device, p.stdout + p.stderr)
        if code:
            assert "AADSTS53000" in p.stdout, p.stdout
    bad = run("whatif", "--user", uid, "--device", "shiny")
    assert bad.returncode == 2 and "shiny" in bad.stderr, bad.stderr
    bad = run("ca", "set-state", made[0], "on")
    assert bad.returncode == 1 and "is not one of enabled, disabled, enabledForReportingButNotEnforced" in bad.stderr, bad.stderr
    bad = run("ca", "replay", "--policy", "no-such-file.json")
    assert bad.returncode == 1 and "cannot read no-such-file.json" in bad.stderr, bad.stderr
    bad = run("ca", "replay", "--policy", made[0], "--days", "99")
    assert bad.returncode == 1 and "days must be a whole number from 1 to 30" in bad.stderr, bad.stderr


@pytest.fixture
def policies_cleanup(graph):
    made = []
    yield graph, made
    for pid in made:
        graph.delete(f"/identity/conditionalAccess/policies/{pid}")


def test_administrators_must_do_mfa_in_the_browser(demo, security_defaults_on, sign_ins):
    app = web_app(demo)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], demo["admin"]["upn"], demo["admin"]["password"])
    # Without an authenticator app the registration page, with one the TOTP challenge; never a code.
    assert (r.status_code == 403 and "AADSTS50079" in r.text) or (r.status_code == 200 and "Verify your identity" in r.text), r.text[:1500]
    aid = demo["admin"]["id"]
    rec = sign_ins(f"userId eq '{aid}' and conditionalAccessStatus eq 'failure'")[0]
    assert rec["status"]["errorCode"] in (50076, 50079), rec
    names = {p["displayName"]: p["result"] for p in rec["appliedConditionalAccessPolicies"]}
    assert names.get("Security defaults: require MFA for administrators") == "failure", rec
