"""Identity Protection with the real MSAL Python: ROPC through a trusted loopback proxy
(X-Forwarded-For picks the client address; the repo's test GeoIP database places it), a
sign-in-risk policy that blocks only the risky sign-in, and the riskyUsers round trip through
Graph (confirmCompromised, dismiss)."""
import msal
import requests

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
