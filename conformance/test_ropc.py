"""Resource-owner password flow through MSAL Python's PublicClientApplication."""
import jwt
import msal
import msal.authority
import requests

# MSAL Python's ROPC first asks https://{host}/common/userrealm/{user} and drops the authority's
# port when it builds that URL (msal/authority.py user_realm_discovery), so against a server on
# a non-443 port it would call port 443. MSAL's own cache of "hosts without user realm
# discovery" is how it remembers a 404 there; seeding it is the client-side setting for a
# non-443 authority (documented in README).
msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")


def test_public_client_username_password_and_me(demo):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    result = app.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=["User.Read"])
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == demo["user"]["upn"]
    assert claims["tid"] == demo["tenant_id"]
    at = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert at["scp"] == "User.Read" and at["oid"] == demo["user"]["id"]
    # MSAL built its account from client_info: uid.utid.
    accounts = app.get_accounts()
    assert accounts and accounts[0]["home_account_id"] == f"{demo['user']['id']}.{demo['tenant_id']}"
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == demo["user"]["upn"]


def test_wrong_password_is_aadsts50126(demo):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    result = app.acquire_token_by_username_password(demo["user"]["upn"], "not-the-password", scopes=["User.Read"])
    assert result.get("error") == "invalid_grant", result
    assert 50126 in result["error_codes"]


def test_ropc_returns_a_rotating_refresh_token(demo):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    result = app.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=["User.Read"])
    assert result.get("refresh_token"), result.keys()
    account = app.get_accounts()[0]
    silent = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert silent and "access_token" in silent, silent
    # The first refresh token was rotated away: reusing it fails.
    assert app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["User.Read"]).get("error") == "invalid_grant"
