"""Client credentials through MSAL Python, verified with PyJWT, used against Graph."""
import time
import uuid

import jwt
import msal
import pytest
import requests

GRAPH = "00000003-0000-0000-c000-000000000000"


def app(demo, secret=None, client_id=None):
    return msal.ConfidentialClientApplication(
        client_id or demo["confidential_client"]["app_id"],
        client_credential=secret or demo["confidential_client"]["secret"],
        authority=demo["authority"],
        instance_discovery=False,
    )


def test_msal_gets_an_app_only_token_that_pyjwt_verifies(server, demo):
    result = app(demo).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    assert result["token_type"].lower() == "bearer"
    token = result["access_token"]

    jwks = jwt.PyJWKClient(f"{demo['authority']}/discovery/v2.0/keys")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        # Microsoft Graph takes v1 tokens, as from Entra: the resource URI as requested, the
        # v1 issuer ({authority}/, Entra's https://sts.windows.net/{tid}/), appid/appidacr.
        audience="https://graph.microsoft.com",
        issuer=f"{demo['authority']}/",
    )
    assert claims["tid"] == demo["tenant_id"]
    assert claims["appid"] == demo["confidential_client"]["app_id"] and "azp" not in claims
    assert claims["idtyp"] == "app"
    assert claims["ver"] == "1.0"
    assert claims["appidacr"] == "1"
    assert claims["oid"] == claims["sub"] == demo["confidential_client"]["service_principal_id"]
    for p in ["Directory.ReadWrite.All", "Application.ReadWrite.All", "RoleManagement.ReadWrite.Directory"]:
        assert p in claims["roles"], claims["roles"]
    assert claims["exp"] > time.time() + 3000
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"] == key.key_id


def test_token_from_msal_cache_on_second_call(demo):
    a = app(demo)
    first = a.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    second = a.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert first["access_token"] == second["access_token"]
    assert second.get("token_source") == "cache"


def test_token_creates_user_group_and_membership_through_graph(demo):
    token = app(demo).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    g = demo["graph_url"]
    alias = f"conf{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{g}/users", headers=h, json={
        "accountEnabled": True, "displayName": "Conformance User", "mailNickname": alias,
        "userPrincipalName": f"{alias}@{demo['domain']}",
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Conf-Passw0rd!"},
    })
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["userPrincipalName"] == f"{alias}@{demo['domain']}"

    r = requests.post(f"{g}/groups", headers=h, json={
        "displayName": f"Conformance {alias}", "mailEnabled": False, "mailNickname": alias, "securityEnabled": True,
    })
    assert r.status_code == 201, r.text
    group = r.json()

    r = requests.post(f"{g}/groups/{group['id']}/members/$ref", headers=h,
                      json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"})
    assert r.status_code == 204, r.text

    members = requests.get(f"{g}/groups/{group['id']}/members", headers=h).json()["value"]
    assert [m["id"] for m in members] == [user["id"]]
    member_of = requests.get(f"{g}/users/{user['id']}/memberOf", headers=h).json()["value"]
    assert group["id"] in [m["id"] for m in member_of]

    # The change is in the audit log, attributed to the calling app.
    audits = requests.get(f"{g}/auditLogs/directoryAudits", headers=h,
                          params={"$filter": "category eq 'GroupManagement'"}).json()["value"]
    adds = [a for a in audits if a["activityDisplayName"] == "Add member to group" and any(t["id"] == group["id"] for t in a["targetResources"])]
    assert adds and adds[0]["initiatedBy"]["app"]["appId"] == demo["confidential_client"]["app_id"]


def test_wrong_secret_is_aadsts7000215(demo):
    result = app(demo, secret="not-the-secret").acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215:")
    for k in ["trace_id", "correlation_id", "timestamp"]:
        assert k in result, result


def test_unknown_client_is_aadsts700016(demo):
    result = app(demo, client_id=str(uuid.uuid4())).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert result["error"] == "unauthorized_client"
    assert 700016 in result["error_codes"]


def test_unknown_resource_is_aadsts500011(demo):
    result = app(demo).acquire_token_for_client(scopes=["api://does-not-exist/.default"])
    assert result["error"] == "invalid_resource"
    assert 500011 in result["error_codes"]


def test_graph_refuses_without_token_and_with_forged_token(demo):
    r = requests.get(f"{demo['graph_url']}/users")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    token = app(demo).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    head, body, sig = token.split(".")
    forged = ".".join([head, body, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])
    r = requests.get(f"{demo['graph_url']}/users", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401, r.text


def test_access_token_lifetime_is_configurable_per_tenant(demo, server):
    import jwt as pyjwt
    import requests as rq
    key = open(f"{server.dir}/operator.key").read().strip()
    url = f"{demo['origin']}/operator/v1/tenants/{demo['tenant_id']}/signInSettings"
    h = {"Authorization": f"Bearer {key}"}
    assert rq.patch(url, headers=h, json={"accessTokenLifetimeSeconds": 100}).status_code == 400
    assert rq.patch(url, headers=h, json={"accessTokenLifetimeSeconds": 900}).status_code == 200
    try:
        r = rq.post(f"{demo['authority']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": demo["confidential_client"]["app_id"],
            "client_secret": demo["confidential_client"]["secret"], "scope": "https://graph.microsoft.com/.default"}).json()
        c = pyjwt.decode(r["access_token"], options={"verify_signature": False})
        assert r["expires_in"] == 900 and c["exp"] - c["iat"] == 900
    finally:
        assert rq.patch(url, headers=h, json={"accessTokenLifetimeSeconds": 3599}).status_code == 200
