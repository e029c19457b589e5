"""Conditional Access with the real clients: policies and named locations through Graph, enforced
in the authorization-code flow (MSAL Python, pages over HTTP), ROPC and client credentials
(azure-identity), report-only policies logged but not enforced, What-If, and every decision in
the sign-in log."""
import uuid

import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from browser import redirect_params, sign_in, Browser

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")

BASE = "/identity/conditionalAccess"


@pytest.fixture
def policies(graph):
    """Creates policies and removes them afterwards (so other tests never see them)."""
    made = []

    def make(body, expect=201, query=""):
        r = graph.post(f"{BASE}/policies{query}", body)
        assert r.status_code == expect, r.text
        if r.status_code == 201:
            made.append(r.json()["id"])
        return r
    yield make
    for pid in made:
        graph.delete(f"{BASE}/policies/{pid}")


@pytest.fixture
def loopback_location(graph):
    r = graph.post(f"{BASE}/namedLocations", {"@odata.type": "#microsoft.graph.ipNamedLocation",
                                              "displayName": f"Loopback {uuid.uuid4().hex[:6]}", "isTrusted": False,
                                              "ipRanges": [{"cidrAddress": "127.0.0.0/8"}, {"cidrAddress": "::1/128"}]})
    assert r.status_code == 201, r.text
    yield r.json()["id"]


def user_policy(name, uid, controls, state="enabled", locations=None, client_app_types=("all",)):
    conditions = {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                  "clientAppTypes": list(client_app_types)}
    if locations:
        conditions["locations"] = {"includeLocations": locations}
    return {"displayName": name, "state": state, "conditions": conditions,
            "grantControls": {"operator": "OR", "builtInControls": controls}}


def ropc(demo, upn, pw):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    return app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])


def test_policies_and_named_locations_through_graph(graph, demo, loopback_location, policies, new_user):
    got = graph.get(f"{BASE}/namedLocations/{loopback_location}").json()
    assert got["@odata.type"] == "#microsoft.graph.ipNamedLocation"
    assert {r["cidrAddress"] for r in got["ipRanges"]} == {"127.0.0.0/8", "::1/128"}
    seeded = graph.get(f"{BASE}/policies").json()["value"]
    assert any(p["id"] == demo["conditional_access"]["example_policy_id"] and p["state"] == "enabledForReportingButNotEnforced" for p in seeded)
    assert all(p["state"] != "enabled" for p in seeded), "the demo seeds no enabled policy"
    # Bad input is refused by name and stores nothing.
    before = len(graph.get(f"{BASE}/policies").json()["value"])
    for body, needle in [
        (user_policy("x", "All", ["mfaa"]), "mfaa"),
        (dict(user_policy("x", "All", ["mfa"]), state="on"), "state"),
        ({"displayName": "x", "state": "enabled", "conditions": {"users": {"includeUsers": []}, "applications": {"includeApplications": ["All"]}}, "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}, "conditions.users"),
        (dict(user_policy("x", "All", ["mfa"]), colour="red"), "colour"),
    ]:
        r = graph.post(f"{BASE}/policies", body)
        assert r.status_code == 400 and needle in r.json()["error"]["message"], (body, r.text)
    bad_loc = graph.post(f"{BASE}/namedLocations", {"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "bad", "ipRanges": [{"cidrAddress": "300.1.1.1/8"}]})
    assert bad_loc.status_code == 400 and "300.1.1.1/8" in bad_loc.json()["error"]["message"]
    assert len(graph.get(f"{BASE}/policies").json()["value"]) == before
    # A policy that would lock every administrator out is refused unless explicitly confirmed.
    lock = {"displayName": "Block everyone", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}}
    r = graph.post(f"{BASE}/policies", lock)
    assert r.status_code == 400 and "break-glass" in r.json()["error"]["message"], r.text
    # A location used by a policy cannot be deleted. (A policy may name only users the tenant
    # has, so the policy targets a real, fresh user.)
    p = policies(user_policy("uses location", new_user()[2], ["block"], state="disabled", locations=[loopback_location]))
    d = graph.delete(f"{BASE}/namedLocations/{loopback_location}")
    assert d.status_code == 400 and "uses location" in d.json()["error"]["message"], d.text


def test_block_from_a_named_location_in_ropc_and_auth_code(demo, new_user, loopback_location, policies, sign_ins):
    upn, pw, uid = new_user()
    assert "access_token" in ropc(demo, upn, pw)
    p = policies(user_policy("Block loopback", uid, ["block"], locations=[loopback_location])).json()
    r = ropc(demo, upn, pw)
    assert "access_token" not in r and 53003 in r.get("error_codes", []), r
    assert "Block loopback" in r["error_description"]
    # The authorization-code flow: the refusal comes back to the app's redirect.
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    params = redirect_params(sign_in(Browser(), flow["auth_uri"], upn, pw))
    assert "AADSTS53003" in params.get("error_description", ""), params
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" not in result and "53003" in result.get("error_description", ""), result
    # The sign-in log names the policy and the result.
    recs = sign_ins(f"userId eq '{uid}' and status/errorCode eq 53003", count=2)
    assert len(recs) >= 2
    for rec in recs:
        assert rec["conditionalAccessStatus"] == "failure"
        mine = [a for a in rec["appliedConditionalAccessPolicies"] if a["id"] == p["id"]]
        assert mine and mine[0]["result"] == "failure" and mine[0]["enforcedGrantControls"] == ["block"], rec


def test_report_only_is_logged_not_enforced(demo, new_user, loopback_location, policies, sign_ins):
    upn, pw, uid = new_user()
    p = policies(user_policy("Report-only block loopback", uid, ["block"], state="enabledForReportingButNotEnforced", locations=[loopback_location])).json()
    assert "access_token" in ropc(demo, upn, pw)
    recs = sign_ins(f"userId eq '{uid}' and status/errorCode eq 0")
    mine = [a for a in recs[0]["appliedConditionalAccessPolicies"] if a["id"] == p["id"]]
    assert mine and mine[0]["result"] == "reportOnlyFailure", recs[0]
    assert recs[0]["conditionalAccessStatus"] == "notApplied"


def test_mfa_requirement_is_50076_for_ropc(demo, new_user, policies):
    upn, pw, uid = new_user()
    policies(user_policy("MFA for this user", uid, ["mfa"]))
    r = ropc(demo, upn, pw)
    assert "access_token" not in r
    assert set(r.get("error_codes", [])) & {50076, 50079}, r


def test_workload_identity_policy_blocks_client_credentials(demo, graph, policies, sign_ins):
    app = graph.post("/applications", {"displayName": "CA workload"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "t"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    cred = ClientSecretCredential(demo["tenant_id"], app["appId"], secret, authority=demo["origin"], disable_instance_discovery=True)
    assert cred.get_token("https://graph.microsoft.com/.default").token
    body = {"displayName": "Block this workload", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]},
                           "clientApplications": {"includeServicePrincipals": [sp["id"]]}, "clientAppTypes": ["all"]},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}}
    p = policies(body).json()
    fresh = ClientSecretCredential(demo["tenant_id"], app["appId"], secret, authority=demo["origin"], disable_instance_discovery=True)
    with pytest.raises(ClientAuthenticationError) as e:
        fresh.get_token("https://graph.microsoft.com/.default")
    assert "AADSTS53003" in str(e.value)
    # Other workloads are untouched.
    demo_cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"], demo["confidential_client"]["secret"],
                                       authority=demo["origin"], disable_instance_discovery=True)
    assert demo_cred.get_token("https://graph.microsoft.com/.default").token
    recs = sign_ins(f"appId eq '{app['appId']}' and status/errorCode eq 53003")
    assert recs and any(a["id"] == p["id"] and a["result"] == "failure" for a in recs[0]["appliedConditionalAccessPolicies"])


def test_what_if_predicts_without_signing_in(demo, graph, new_user, loopback_location, policies):
    upn, pw, uid = new_user()
    p = policies(user_policy("MFA outside loopback", uid, ["mfa"], locations=["All"])).json()
    graph_h = graph
    r = graph_h.post(f"{BASE}/evaluate", {"userId": upn, "appId": demo["public_client"]["app_id"], "ipAddress": "203.0.113.9", "clientAppType": "browser"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["outcome"] == "requireControls" and out["errorCode"] in (50076, 50079), out
    mine = [x for x in out["value"] if x["id"] == p["id"]][0]
    assert mine["policyApplies"] and mine["enforcedGrantControls"] == ["mfa"]
    done = graph_h.post(f"{BASE}/evaluate", {"userId": uid, "ipAddress": "203.0.113.9", "mfaDone": True}).json()
    assert done["outcome"] == "allow", done
    other = graph_h.post(f"{BASE}/evaluate", {"userId": demo["user"]["upn"], "ipAddress": "203.0.113.9"}).json()
    mine = [x for x in other["value"] if x["id"] == p["id"]][0]
    assert not mine["policyApplies"] and "user" in mine["reason"], mine
    bad = graph_h.post(f"{BASE}/evaluate", {"userId": uid, "ipAddress": "not-an-ip"})
    assert bad.status_code == 400 and "ipAddress" in bad.json()["error"]["message"]
    # Nothing was signed in: What-If leaves no sign-in record.


def test_whatif_cli(server, demo, new_user, policies):
    import os
    import subprocess
    upn, pw, uid = new_user()
    policies(user_policy("CLI what-if block", uid, ["block"]))
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))
    p = subprocess.run([binary, "whatif", "--user", upn, "--ip", "198.51.100.7"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "outcome: block" in p.stdout and "CLI what-if block" in p.stdout and "AADSTS53003" in p.stdout, p.stdout
    ok = subprocess.run([binary, "whatif", "--user", demo["user"]["upn"]], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "outcome: allow" in ok.stdout, ok.stdout + ok.stderr


def _register_totp(demo, upn, pw):
    """Signs in through the pages and registers an authenticator app; returns (browser, secret)."""
    import re
    from html import unescape
    from urllib.parse import parse_qs, urlparse
    from browser import Page
    from test_mfa_setup import totp
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    b = Browser()
    sign_in(b, flow["auth_uri"], upn, pw)
    setup_url = f"{demo['authority']}/mfa/setup"
    r = b.open(setup_url)
    uri = unescape(re.search(r'id="otpauth" href="([^"]+)"', r.text).group(1))
    secret = {k: v[0] for k, v in parse_qs(urlparse(uri).query).items()}["secret"]
    r = b.submit(Page(r), setup_url, code=totp(secret))
    assert r.status_code == 200, r.text[:1500]
    return secret


def test_mfa_step_up_with_a_totp_code_in_the_auth_code_flow(demo, graph, new_user, policies, sign_ins):
    import time
    from browser import Page
    from test_mfa_setup import totp
    upn, pw, uid = new_user()
    secret = _register_totp(demo, upn, pw)
    policies(user_policy("Require MFA for this user", uid, ["mfa"]))
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    b = Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    # The password is right, the policy wants MFA: a challenge page, not a redirect.
    assert r.status_code == 200 and "Verify your identity" in r.text, r.text[:1500]
    page = Page(r)
    action = f"{demo['authority']}/oauth2/v2.0/authorize"
    # A wrong code is refused on the page (500121) and logged.
    good_next = totp(secret, at=time.time() + 30)  # the registration used the current step
    wrong = "000000" if good_next != "000000" else "111111"
    bad = b.submit(page, action, otc=wrong)
    assert bad.status_code == 200 and "500121" in bad.text and 'role="alert"' in bad.text, bad.text[:1500]
    ok = b.submit(Page(bad), action, otc=good_next)
    assert ok.status_code == 302, ok.text[:1500]
    result = app.acquire_token_by_auth_code_flow(flow, redirect_params(ok))
    assert "access_token" in result, result
    # The ID token says how the user authenticated.
    assert result["id_token_claims"]["amr"] == ["pwd", "mfa"] and result["id_token_claims"]["acr"] == "1"
    # The session remembers the MFA: a second sign-in in this browser is not challenged again.
    flow2 = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    again = b.open(flow2["auth_uri"])
    assert again.status_code == 302, again.text[:1500]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow2, redirect_params(again))
    # So does the refresh token: a refresh under the MFA policy is not refused.
    account = app.get_accounts(username=upn)[0]
    refreshed = app.acquire_token_silent(["User.Read"], account, force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    # A fresh browser must do MFA again, and the used code cannot be replayed.
    b2 = Browser()
    flow3 = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    fresh = sign_in(b2, flow3["auth_uri"], upn, pw)
    assert fresh.status_code == 200 and "Verify your identity" in fresh.text, "a new session must do MFA"
    replay = b2.submit(Page(fresh), action, otc=good_next)
    assert replay.status_code == 200 and "500121" in replay.text
    # The log says the sign-ins did MFA, so an impact replay of an MFA policy over them counts
    # them as already satisfied (not as challenges).
    assert sign_ins(f"userId eq '{uid}' and authenticationRequirement eq 'multiFactorAuthentication'")
    draft = user_policy("Draft: MFA for this user", uid, ["mfa"], state="enabledForReportingButNotEnforced")
    rep = graph.post(f"{BASE}/replay", {"policy": draft, "days": 1})
    assert rep.status_code == 200, rep.text
    assert rep.json()["satisfied"] >= 2, rep.json()
    recs = sign_ins(f"userId eq '{uid}' and status/errorCode eq 50076")
    assert recs and recs[0]["appliedConditionalAccessPolicies"]


def test_mfa_required_without_a_method_is_50079(demo, new_user, policies):
    upn, pw, uid = new_user()
    policies(user_policy("Require MFA (unregistered)", uid, ["mfa"]))
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], upn, pw)
    assert r.status_code == 403 and "AADSTS50079" in r.text and "/mfa/setup" in r.text, r.text[:1500]


def test_device_code_flow_under_an_mfa_policy_asks_for_the_code_on_the_login_page(demo, new_user, policies):
    """The person's side of the device code flow is a browser sign-in: when a policy wants MFA
    the /devicelogin page asks for the authenticator code after the password (a wrong one is
    500121 on the page), and the device's token says mfa."""
    import threading
    import time
    from browser import Page
    from test_mfa_setup import totp
    upn, pw, uid = new_user()
    secret = _register_totp(demo, upn, pw)
    policies(user_policy("Device code: MFA for this user", uid, ["mfa"]))
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert "user_code" in flow, flow
    pages = {}

    def person():
        time.sleep(1)
        b = Browser()
        login = demo["origin"] + "/devicelogin"
        r = b.submit(Page(b.open(login)), login, code=flow["user_code"])
        r = b.submit(Page(r), login, username=upn, password=pw)
        pages["challenge"] = r
        wrong = "000000" if totp(secret, at=time.time() + 30) != "000000" else "111111"
        bad = b.submit(Page(r), login, otc=wrong)
        pages["bad"] = bad
        pages["ok"] = b.submit(Page(bad), login, otc=totp(secret, at=time.time() + 30))

    t = threading.Thread(target=person)
    t.start()
    result = app.acquire_token_by_device_flow(flow)
    t.join()
    assert "Verify your identity" in pages["challenge"].text, pages["challenge"].text[:1500]
    assert "500121" in pages["bad"].text, pages["bad"].text[:1500]
    assert "You have signed in to" in pages["ok"].text, pages["ok"].text[:1500]
    assert "access_token" in result, result
    assert result["id_token_claims"]["amr"] == ["pwd", "mfa"], result["id_token_claims"]
