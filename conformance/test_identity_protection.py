"""Identity Protection with the real MSAL Python: ROPC through a trusted loopback proxy
(X-Forwarded-For picks the client address; the repo's test GeoIP database places it), a
sign-in-risk policy that blocks only the risky sign-in, and the riskyUsers round trip through
Graph (confirmCompromised, dismiss)."""
import msal
import requests

from browser import Browser, Page, redirect_params, sign_in
from conftest import LEAKED_PASSWORD

BASE = "/identity/conditionalAccess"


def ropc(demo, upn, pw, xff):
    # MSAL sends its own headers per request; a session's default headers ride along with them.
    http = requests.Session()
    http.headers["X-Forwarded-For"] = xff
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"],
                                       instance_discovery=False, http_client=http)
    return app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])


def risky(graph, uid):
    r = graph.get(f"/identityProtection/riskyUsers/{uid}")
    assert r.status_code == 200, r.text
    return r.json()


def test_impossible_travel_blocks_only_the_risky_sign_in_and_the_risky_user_round_trip(demo, graph, new_user, sign_ins):
    upn, pw, uid = new_user()
    pol = graph.post(f"{BASE}/policies", {
        "displayName": f"Block high sign-in risk for {uid}",
        "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"], "signInRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    })
    assert pol.status_code == 201, pol.text
    try:
        # Wellington, then Berlin minutes later: impossible travel, high.
        r = ropc(demo, upn, pw, "10.1.0.7")
        assert "access_token" in r, r
        r = ropc(demo, upn, pw, "10.2.0.7")
        assert 53003 in r.get("error_codes", []), r
        d = graph.get("/identityProtection/riskDetections", params={"$filter": f"userId eq '{uid}'"})
        assert d.status_code == 200, d.text
        d = d.json()["value"]
        assert [(x["riskEventType"], x["riskLevel"], x["ipAddress"]) for x in d] == [("impossibleTravel", "high", "10.2.0.7")]
        assert d[0]["location"]["countryOrRegion"] == "DE"
        recs = sign_ins(f"userPrincipalName eq '{upn}'", count=2)
        blocked = [x for x in recs if x["status"]["errorCode"] == 53003]
        assert blocked and blocked[0]["riskLevelDuringSignIn"] == "high", recs
        assert blocked[0]["riskEventTypes_v2"] == ["impossibleTravel"]
        assert blocked[0]["location"]["city"] == "Berlin"
        first = [x for x in recs if x["ipAddress"] == "10.1.0.7"][0]
        assert first["location"]["countryOrRegion"] == "NZ"
        assert first["location"]["geoCoordinates"]["latitude"] < -41
        u = risky(graph, uid)
        assert (u["riskLevel"], u["riskState"], u["userPrincipalName"]) == ("high", "atRisk", upn)
        assert any(x["id"] == uid for x in graph.get("/identityProtection/riskyUsers").json()["value"])
        # Confirm compromised, then dismiss: none, and Berlin again (no travel) signs in.
        assert graph.post("/identityProtection/riskyUsers/confirmCompromised", {"userIds": [uid]}).status_code == 204
        assert risky(graph, uid)["riskState"] == "confirmedCompromised"
        bad = graph.post("/identityProtection/riskyUsers/dismiss", {"userIds": [uid, "00000000-0000-0000-0000-0000000000aa"]})
        assert bad.status_code == 404, bad.text
        assert risky(graph, uid)["riskState"] == "confirmedCompromised", "a bad id changes nothing"
        assert graph.post("/identityProtection/riskyUsers/dismiss", {"userIds": [uid]}).status_code == 204
        u = risky(graph, uid)
        assert (u["riskLevel"], u["riskState"], u["riskDetail"]) == ("none", "dismissed", "adminDismissedAllRiskForUser")
        r = ropc(demo, upn, pw, "10.2.0.8")
        assert "access_token" in r, r
    finally:
        graph.delete(f"{BASE}/policies/{pol.json()['id']}")


def test_anonymous_ip_is_a_detection(demo, graph, new_user):
    upn, pw, uid = new_user()
    r = ropc(demo, upn, pw, "10.66.1.2")
    assert "access_token" in r, r
    d = graph.get("/identityProtection/riskDetections", params={"$filter": f"userId eq '{uid}'"}).json()["value"]
    assert [(x["riskEventType"], x["riskLevel"]) for x in d] == [("anonymizedIPAddress", "medium")]


def web_app(demo):
    cc = demo["confidential_client"]
    return msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"],
                                              instance_discovery=False)


def browser_from(ip):
    b = Browser()
    b.s.headers["X-Forwarded-For"] = ip
    return b


def test_sign_in_page_travel_block_then_a_password_change_refuses_a_leaked_password_and_remediates(demo, graph, new_user):
    upn, pw, uid = new_user()
    pol = graph.post(f"{BASE}/policies", {
        "displayName": f"Block high sign-in risk (page) for {uid}",
        "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"], "signInRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    })
    assert pol.status_code == 201, pol.text
    try:
        app = web_app(demo)
        redirect = demo["confidential_client"]["redirect_uri"]
        flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect)
        r = sign_in(browser_from("10.1.0.11"), flow["auth_uri"], upn, pw)
        assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
        # The sign-in page from Berlin minutes later: refused at the app's redirect.
        flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect)
        params = redirect_params(sign_in(browser_from("10.2.0.11"), flow["auth_uri"], upn, pw))
        assert "AADSTS53003" in params.get("error_description", ""), params
        assert risky(graph, uid)["riskLevel"] == "high"
        # An administrator resets the password with a forced change; the user picks a new one.
        reset = "Reset-Conf-Pw-77!"
        r = graph.patch(f"/users/{uid}", {"passwordProfile": {"password": reset, "forceChangePasswordNextSignIn": True}})
        assert r.status_code == 204, r.text
        b = browser_from("10.2.0.12")
        flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect)
        page = Page(sign_in(b, flow["auth_uri"], upn, reset))
        assert "Update your password" in page.text
        # A leaked new password is refused and changes nothing.
        bad = b.submit(page, flow["auth_uri"], current=reset, new=LEAKED_PASSWORD, confirm=LEAKED_PASSWORD)
        assert bad.status_code == 200 and "leaked" in bad.text, bad.text[:1000]
        assert risky(graph, uid)["riskLevel"] == "high"
        r = b.submit(Page(bad), flow["auth_uri"], current=reset, new="Fresh-Conf-Pw-88!", confirm="Fresh-Conf-Pw-88!")
        assert r.status_code == 302, r.text[:1000]
        assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
        # The user's own password change remediated the risk.
        u = risky(graph, uid)
        assert (u["riskLevel"], u["riskState"], u["riskDetail"]) == ("none", "remediated", "userPerformedSecuredPasswordChange")
    finally:
        graph.delete(f"{BASE}/policies/{pol.json()['id']}")


def test_device_login_page_is_assessed(demo, graph, new_user, sign_ins):
    upn, pw, uid = new_user()
    # A policy blocks medium sign-in risk for this user; the device's own token request has
    # no password to assess, so it must carry the page's verdict.
    p = graph.post(f"{BASE}/policies", {
        "displayName": f"Block medium sign-in risk {uid[:8]}", "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"], "signInRiskLevels": ["medium", "high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    assert p.status_code == 201, p.text
    try:
        app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
        flow = app.initiate_device_flow(scopes=["User.Read"])
        assert "user_code" in flow, flow
        b = browser_from("10.66.4.4")
        r = b.open(f"{demo['origin']}/devicelogin")
        r = b.submit(Page(r), demo["origin"] + "/devicelogin", code=flow["user_code"].lower())
        r = b.submit(Page(r), demo["origin"] + "/devicelogin", username=upn, password=pw)
        assert "You have signed in to" in r.text, r.text[:1000]
        d = graph.get("/identityProtection/riskDetections", params={"$filter": f"userId eq '{uid}'"}).json()["value"]
        assert [(x["riskEventType"], x["ipAddress"]) for x in d] == [("anonymizedIPAddress", "10.66.4.4")]
        recs = sign_ins(f"userPrincipalName eq '{upn}'")
        assert recs[0]["riskLevelDuringSignIn"] == "medium" and recs[0]["riskEventTypes_v2"] == ["anonymizedIPAddress"], recs
        # The device's poll (from loopback, no detection of its own) is refused for that risk.
        result = app.acquire_token_by_device_flow(flow)
        assert "access_token" not in result and 53003 in result.get("error_codes", []), result
    finally:
        graph.delete(f"{BASE}/policies/{p.json()['id']}")
