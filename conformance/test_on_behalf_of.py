"""On-behalf-of through MSAL Python: a public client gets a user token for a middle-tier API
registered through Graph (exposed scope, identifier URI, delegated grants via
/oauth2PermissionGrants); the API exchanges it for a Graph token for the same user."""
import uuid

import jwt
import msal
import msal.authority
import pytest
import requests

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")
GRAPH = "00000003-0000-0000-c000-000000000000"


@pytest.fixture(scope="module")
def api(demo, graph):
    r = graph.post("/applications", {"displayName": "Conformance middle-tier API", "api": {"oauth2PermissionScopes": [
        {"id": str(uuid.uuid4()), "value": "access_as_user", "type": "User", "isEnabled": True,
         "adminConsentDisplayName": "Access the API", "adminConsentDescription": "Access the API as the user"}]}})
    assert r.status_code == 201, r.text
    app = r.json()
    assert graph.patch(f"/applications/{app['id']}", {"identifierUris": [f"api://{app['appId']}"]}).status_code == 204
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "obo"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH}'"}).json()["value"][0]
    for client, resource, scope in [(demo["public_client"]["service_principal_id"], sp["id"], "access_as_user"), (sp["id"], graph_sp["id"], "User.Read")]:
        g = graph.post("/oauth2PermissionGrants", {"clientId": client, "consentType": "AllPrincipals", "resourceId": resource, "scope": scope})
        assert g.status_code == 201, g.text
    bad = graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "No.Such.Permission"})
    assert bad.status_code == 400
    return {"app_id": app["appId"], "secret": secret}


def user_token_for_api(demo, api):
    pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    r = pub.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=[f"api://{api['app_id']}/access_as_user"])
    assert "access_token" in r, r
    return r["access_token"]


def test_api_exchanges_the_user_token_for_a_graph_token(demo, api):
    incoming = user_token_for_api(demo, api)
    c = jwt.decode(incoming, options={"verify_signature": False})
    # requestedAccessTokenVersion is null: a v1 token, as Entra issues (aud = the App ID URI).
    assert c["aud"] == f"api://{api['app_id']}" and c["scp"] == "access_as_user" and c["ver"] == "1.0"
    assert c["appid"] == demo["public_client"]["app_id"] and c["iss"] == f"{demo['authority']}/" and c["upn"] == demo["user"]["upn"]
    mid = msal.ConfidentialClientApplication(api["app_id"], client_credential=api["secret"], authority=demo["authority"], instance_discovery=False)
    r = mid.acquire_token_on_behalf_of(incoming, scopes=["User.Read"])
    assert "access_token" in r, r
    out = jwt.decode(r["access_token"], options={"verify_signature": False})
    # Graph takes v1 tokens (as from Entra); the bare scope names Graph by appId, the audience.
    assert out["aud"] == GRAPH and out["ver"] == "1.0" and out["scp"] == "User.Read"
    assert out["oid"] == demo["user"]["id"] and out["appid"] == api["app_id"]
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {r['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == demo["user"]["upn"]


def test_a_token_for_another_audience_is_refused(demo, api):
    pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    graph_token = pub.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=["User.Read"])["access_token"]
    mid = msal.ConfidentialClientApplication(api["app_id"], client_credential=api["secret"], authority=demo["authority"], instance_discovery=False)
    r = mid.acquire_token_on_behalf_of(graph_token, scopes=["User.Read"])
    assert r.get("error") == "invalid_grant" and 50013 in r["error_codes"], r


def test_an_app_only_token_is_refused(demo, api):
    app = msal.ConfidentialClientApplication(api["app_id"], client_credential=api["secret"], authority=demo["authority"], instance_discovery=False)
    app_token = app.acquire_token_for_client(scopes=[f"api://{api['app_id']}/.default"])
    assert "access_token" in app_token, app_token
    r = app.acquire_token_on_behalf_of(app_token["access_token"], scopes=["User.Read"])
    assert r.get("error") == "invalid_grant" and 50013 in r["error_codes"], r


def test_obo_needs_a_client_credential(demo, api):
    incoming = user_token_for_api(demo, api)
    r = requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id": api["app_id"], "assertion": incoming,
        "scope": "User.Read", "requested_token_use": "on_behalf_of"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


def test_refresh_token_serves_another_consented_resource(demo, api):
    pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    first = pub.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=["User.Read"])
    assert "refresh_token" in first, first
    account = pub.get_accounts()[0]
    # MSAL redeems the refresh token for the API (multi-resource refresh token).
    other = pub.acquire_token_silent([f"api://{api['app_id']}/access_as_user"], account=account)
    assert other and "access_token" in other, other
    c = jwt.decode(other["access_token"], options={"verify_signature": False})
    assert c["scp"] == "access_as_user"
    # The same resource still cannot widen beyond consent: Mail.Read was never granted.
    denied = pub.acquire_token_silent(["Mail.Read"], account=account)
    assert denied is None or "error" in denied, denied


def test_api_asking_for_v2_tokens_gets_them(demo, api, graph):
    app = graph.get("/applications", params={"$filter": f"appId eq '{api['app_id']}'"}).json()["value"][0]
    assert app["api"]["requestedAccessTokenVersion"] is None
    assert graph.patch(f"/applications/{app['id']}", {"api": {"requestedAccessTokenVersion": 3}}).status_code == 400
    assert graph.patch(f"/applications/{app['id']}", {"api": {"requestedAccessTokenVersion": 2}}).status_code == 204
    try:
        c = jwt.decode(user_token_for_api(demo, api), options={"verify_signature": False})
        assert c["ver"] == "2.0" and c["aud"] == api["app_id"] and c["azp"] == demo["public_client"]["app_id"]
        assert c["iss"] == f"{demo['authority']}/v2.0"
    finally:
        assert graph.patch(f"/applications/{app['id']}", {"api": {"requestedAccessTokenVersion": None}}).status_code == 204


def test_mfa_owed_downstream_is_a_claims_challenge_the_client_satisfies(demo, api, graph, new_user):
    """A policy wants MFA for Graph only. The API's on-behalf-of exchange of a password-only user
    token is refused 50076 with a claims challenge naming the policy; the client signs in again
    (auth code + PKCE through the pages) with that challenge, does MFA, and the API's next
    exchange of the new token succeeds: the token carries what the user did."""
    import time
    from browser import Browser, Page, redirect_params, sign_in
    from test_conditional_access import _register_totp
    from test_mfa_setup import totp
    upn, pw, uid = new_user()
    secret = _register_totp(demo, upn, pw)
    policy = graph.post("/identity/conditionalAccess/policies", {
        "displayName": "OBO: MFA for Graph", "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": [GRAPH]}, "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    assert policy.status_code == 201, policy.text
    pid = policy.json()["id"]
    try:
        scopes = [f"api://{api['app_id']}/access_as_user"]
        pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
        first = pub.acquire_token_by_username_password(upn, pw, scopes=scopes)
        assert "access_token" in first, first  # the API itself needs no MFA
        mid = msal.ConfidentialClientApplication(api["app_id"], client_credential=api["secret"], authority=demo["authority"], instance_discovery=False)
        refused = mid.acquire_token_on_behalf_of(first["access_token"], scopes=["User.Read"])
        assert refused.get("error") == "interaction_required" and 50076 in refused["error_codes"], refused
        challenge = refused["claims"]
        assert pid in challenge, challenge
        # The client goes interactive with the challenge: the pages ask for MFA even though
        # the API alone would not.
        flow = pub.initiate_auth_code_flow(scopes, redirect_uri="http://localhost:8400", claims_challenge=challenge)
        b = Browser()
        r = sign_in(b, flow["auth_uri"], upn, pw)
        assert r.status_code == 200 and "Verify your identity" in r.text, r.text[:1500]
        ok = b.submit(Page(r), f"{demo['authority']}/oauth2/v2.0/authorize", otc=totp(secret, at=time.time() + 30))
        assert ok.status_code == 302, ok.text[:1500]
        second = pub.acquire_token_by_auth_code_flow(flow, redirect_params(ok))
        assert "access_token" in second, second
        c = jwt.decode(second["access_token"], options={"verify_signature": False})
        assert c["amr"] == ["pwd", "mfa"], c  # a v1 token for the API says it
        downstream = mid.acquire_token_on_behalf_of(second["access_token"], scopes=["User.Read"])
        assert "access_token" in downstream, downstream
    finally:
        graph.delete(f"/identity/conditionalAccess/policies/{pid}")
