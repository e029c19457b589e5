"""Authorization code flow through MSAL Python, with Castellan's sign-in pages driven over plain
HTTP (conformance/browser.py): confidential web app, public client with PKCE, silent refresh,
refresh-token rotation and reuse detection, code replay, SSO, prompt=none, and each sign-in
failure family with its AADSTS code and sign-in log record."""
import hashlib

import jwt
import msal
import pytest
import requests

from browser import Browser, Page, redirect_params, sign_in


def web_app(demo):
    cc = demo["confidential_client"]
    return msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)


def public_app(demo):
    return msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)


def jwks_client(demo):
    import os
    import ssl
    ctx = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    return jwt.PyJWKClient(f"{demo['authority']}/discovery/v2.0/keys", ssl_context=ctx)


def verify(demo, token, audience, version="2.0"):
    """Verifies a token as a strict relying party: ID tokens and v2 access tokens carry the v2
    issuer; v1 access tokens (Microsoft Graph's, as from Entra) carry {authority}/."""
    key = jwks_client(demo).get_signing_key_from_jwt(token)
    issuer = f"{demo['authority']}/v2.0" if version == "2.0" else f"{demo['authority']}/"
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer)
    assert claims["ver"] == version, claims
    return claims


def code_flow(demo, app, user, password, redirect_uri, scopes=("User.Read",), browser=None, **kw):
    flow = app.initiate_auth_code_flow(list(scopes), redirect_uri=redirect_uri, **kw)
    b = browser or Browser()
    r = sign_in(b, flow["auth_uri"], user, password)
    assert r.status_code == 302, r.text[:1500]
    return flow, redirect_params(r), b


def test_web_app_signs_in_refreshes_and_calls_graph(demo):
    app = web_app(demo)
    cc = demo["confidential_client"]
    flow, response, _ = code_flow(demo, app, demo["user"]["upn"], demo["user"]["password"], cc["redirect_uri"])
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    # MSAL checked state and nonce; PyJWT checks signatures, issuer and audiences.
    idt = verify(demo, result["id_token"], cc["app_id"])
    assert idt["preferred_username"] == demo["user"]["upn"] and idt["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert idt["tid"] == demo["tenant_id"] and "auth_time" in idt
    # Graph takes v1 tokens; the bare scope User.Read names Graph by appId, the audience then.
    at = verify(demo, result["access_token"], "00000003-0000-0000-c000-000000000000", version="1.0")
    assert at["scp"] == "User.Read" and at["appidacr"] == "1" and at["oid"] == demo["user"]["id"]
    assert at["upn"] == demo["user"]["upn"] and at["appid"] == cc["app_id"]
    assert "refresh_token" in result
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == demo["user"]["id"]
    ui = requests.get(f"{demo['origin']}/oidc/userinfo", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert ui.status_code == 200 and ui.json()["sub"] == idt["sub"], ui.text

    # acquire_token_silent with force_refresh redeems the refresh token (rotation).
    account = app.get_accounts(username=demo["user"]["upn"])[0]
    silent = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert silent and "access_token" in silent, silent
    assert silent["access_token"] != result["access_token"]

    # The first refresh token was rotated: presenting it again is reuse, and revokes the family.
    reuse = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["User.Read"])
    assert reuse.get("error") == "invalid_grant", reuse
    again = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert again is None or "error" in again, again


def test_public_client_pkce_on_any_loopback_port(demo):
    app = public_app(demo)
    flow, response, _ = code_flow(demo, app, demo["user"]["upn"], demo["user"]["password"], "http://localhost:53117")
    assert flow["code_verifier"]
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    at = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert at["appidacr"] == "0" and at["appid"] == demo["public_client"]["app_id"] and at["ver"] == "1.0"
    assert app.get_accounts()[0]["home_account_id"] == f"{demo['user']['id']}.{demo['tenant_id']}"


def test_a_wrong_pkce_verifier_is_refused(demo):
    app = public_app(demo)
    flow, response, _ = code_flow(demo, app, demo["user"]["upn"], demo["user"]["password"], "http://localhost:53118")
    flow["code_verifier"] = "x" * 43
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert result.get("error") == "invalid_grant", result


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(demo):
    app = web_app(demo)
    cc = demo["confidential_client"]
    flow, response, _ = code_flow(demo, app, demo["user"]["upn"], demo["user"]["password"], cc["redirect_uri"])
    first = app.acquire_token_by_auth_code_flow(dict(flow), dict(response))
    assert "refresh_token" in first, first
    second = app.acquire_token_by_auth_code_flow(dict(flow), dict(response))
    assert second.get("error") == "invalid_grant" and 54005 in second["error_codes"], second
    after = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=["User.Read"])
    assert after.get("error") == "invalid_grant", after


def test_sso_second_app_signs_in_without_a_prompt_and_prompt_none(demo):
    b = Browser()
    cc = demo["confidential_client"]
    _, response, b = code_flow(demo, web_app(demo), demo["user"]["upn"], demo["user"]["password"], cc["redirect_uri"], browser=b)
    assert "code" in response
    # Same browser, another app: the SSO cookie answers at once (302, no form).
    app2 = public_app(demo)
    flow2 = app2.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost:53119", prompt="none")
    r = b.open(flow2["auth_uri"])
    assert r.status_code == 302, r.text[:500]
    result = app2.acquire_token_by_auth_code_flow(flow2, redirect_params(r))
    assert "access_token" in result, result
    # prompt=login asks again even with a session.
    flow3 = app2.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost:53119", prompt="login")
    assert b.open(flow3["auth_uri"]).status_code == 200
    # After logout, prompt=none is login_required at the redirect.
    out = b.s.get(f"{demo['authority']}/oauth2/v2.0/logout", allow_redirects=False)
    assert out.status_code == 200 and "signed out" in out.text
    flow4 = app2.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost:53119", prompt="none")
    params = redirect_params(b.open(flow4["auth_uri"]))
    assert params["error"] == "login_required" and "AADSTS50058" in params["error_description"]
    assert app2.acquire_token_by_auth_code_flow(flow4, params).get("error") == "login_required"


def test_logout_redirects_only_to_registered_uris(demo):
    b = Browser()
    cid = demo["confidential_client"]["app_id"]
    ok = b.s.get(f"{demo['authority']}/oauth2/v2.0/logout", params={"client_id": cid, "post_logout_redirect_uri": demo["confidential_client"]["redirect_uri"]}, allow_redirects=False)
    assert ok.status_code == 302 and ok.headers["Location"] == demo["confidential_client"]["redirect_uri"]
    bad = b.s.get(f"{demo['authority']}/oauth2/v2.0/logout", params={"client_id": cid, "post_logout_redirect_uri": "https://evil.example/"}, allow_redirects=False)
    assert bad.status_code == 200 and "Location" not in bad.headers and "not a registered redirect URI" in bad.text


def test_redirect_uri_mismatch_is_an_error_page_never_a_redirect(demo):
    app = web_app(demo)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44321/signin-oidc/")
    r = Browser().open(flow["auth_uri"])
    assert r.status_code == 400 and "Location" not in r.headers
    page = Page(r)
    assert "AADSTS50011" in " ".join(page.errors) and "https://localhost:44321/signin-oidc/" in " ".join(page.errors)


def test_public_client_without_pkce_is_refused_at_the_redirect(demo):
    url = (f"{demo['authority']}/oauth2/v2.0/authorize?client_id={demo['public_client']['app_id']}"
           "&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5000&scope=User.Read&state=s1")
    r = Browser().open(url)
    params = redirect_params(r)
    assert params["error"] == "invalid_request" and params["state"] == "s1"
    assert "AADSTS9002325" in params["error_description"]
    plain = url + "&code_challenge=" + "a" * 43 + "&code_challenge_method=plain"
    assert redirect_params(Browser().open(plain))["error"] == "invalid_request"


def test_missing_consent_with_prompt_none_goes_back_as_consent_required(demo, new_user):
    upn, pw, _ = new_user()
    app = web_app(demo)
    _, _, b = code_flow(demo, app, upn, pw, demo["confidential_client"]["redirect_uri"])
    # Signed in (SSO), but Mail.Read was never consented and prompt=none forbids asking.
    flow = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"], prompt="none")
    params = redirect_params(b.open(flow["auth_uri"]))
    assert params["error"] == "consent_required" and "AADSTS65001" in params["error_description"], params
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result.get("error") == "consent_required"


@pytest.mark.parametrize("case,code", [("wrong_password", 50126), ("unknown_user", 50034), ("disabled", 50057)])
def test_sign_in_failures_show_their_code_and_are_logged(demo, new_user, sign_ins, case, code):
    upn, pw, _ = new_user(enabled=(case != "disabled"))
    if case == "wrong_password":
        pw = "not-" + pw
    if case == "unknown_user":
        upn = "nobody-" + upn
    flow = web_app(demo).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], upn, pw)
    assert r.status_code == 200 and "Location" not in r.headers
    assert f"AADSTS{code}" in " ".join(Page(r).errors)
    records = sign_ins(f"userPrincipalName eq '{upn}' and status/errorCode eq {code}")
    assert len(records) == 1, records
    rec = records[0]
    assert rec["isInteractive"] is True and rec["appId"] == demo["confidential_client"]["app_id"]
    assert rec["clientAppUsed"] == "Browser" and rec["status"]["failureReason"].startswith(f"AADSTS{code}")


def test_successful_sign_in_is_logged(demo, new_user, sign_ins, graph):
    upn, pw, uid = new_user()
    app = web_app(demo)
    flow, response, _ = code_flow(demo, app, upn, pw, demo["confidential_client"]["redirect_uri"])
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)
    interactive = sign_ins(f"userPrincipalName eq '{upn}' and status/errorCode eq 0", count=2)
    kinds = sorted(x["isInteractive"] for x in interactive)
    assert kinds == [False, True], interactive  # the page sign-in, then the code redemption
    assert all(x["userId"] == uid and x["resourceDisplayName"] == "Microsoft Graph" for x in interactive)


def test_must_change_password_then_signs_in(demo, new_user):
    upn, pw, _ = new_user(force_change=True)
    app = web_app(demo)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    b = Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    page = Page(r)
    assert "Update your password" in page.text and "current" in page.form["fields"]
    # Mismatched confirmation is refused and changes nothing.
    bad = b.submit(page, flow["auth_uri"], current=pw, new="Brand-new-Pw-42!", confirm="other-Pw-42!")
    assert bad.status_code == 200 and "do not match" in bad.text
    r = b.submit(Page(bad), flow["auth_uri"], current=pw, new="Brand-new-Pw-42!", confirm="Brand-new-Pw-42!")
    assert r.status_code == 302, r.text[:1000]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    # The old password no longer works; the new one does (ROPC is the quickest check).
    import msal.authority
    msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")
    pub = public_app(demo)
    assert pub.acquire_token_by_username_password(upn, pw, scopes=["User.Read"]).get("error") == "invalid_grant"
    assert "access_token" in pub.acquire_token_by_username_password(upn, "Brand-new-Pw-42!", scopes=["User.Read"])


def test_smart_lockout_after_ten_failures(demo, new_user):
    upn, pw, _ = new_user()
    flow = web_app(demo).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    b = Browser()
    for _ in range(10):
        r = sign_in(b, flow["auth_uri"], upn, "wrong-" + pw)
    assert "AADSTS50053" in " ".join(Page(r).errors)
    # Even the right password is refused while locked.
    r = sign_in(b, flow["auth_uri"], upn, pw)
    assert "AADSTS50053" in " ".join(Page(r).errors)


def test_revoke_sign_in_sessions_kills_refresh_tokens(demo, new_user, graph):
    upn, pw, uid = new_user()
    app = web_app(demo)
    flow, response, _ = code_flow(demo, app, upn, pw, demo["confidential_client"]["redirect_uri"])
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert graph.post(f"/users/{uid}/revokeSignInSessions", {}).status_code == 200
    after = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["User.Read"])
    assert after.get("error") == "invalid_grant", after


def test_form_post_and_id_token_response(demo):
    cc = demo["confidential_client"]
    url = (f"{demo['authority']}/oauth2/v2.0/authorize?client_id={cc['app_id']}&response_type=code%20id_token"
           f"&response_mode=form_post&redirect_uri={requests.utils.quote(cc['redirect_uri'], safe='')}&scope=openid%20profile%20User.Read&state=st&nonce=n-123")
    r = sign_in(Browser(), url, demo["user"]["upn"], demo["user"]["password"])
    assert r.status_code == 200
    page = Page(r)
    assert page.form["action"] == cc["redirect_uri"]
    fields = page.form["fields"]
    assert fields["state"] == "st" and fields["code"]
    idt = verify(demo, fields["id_token"], cc["app_id"])
    assert idt["nonce"] == "n-123" and "c_hash" in idt


def test_tenant_setting_hides_which_accounts_exist(demo, server, new_user, sign_ins):
    key = open(f"{server.dir}/operator.key").read().strip()
    url = f"{demo['origin']}/operator/v1/tenants/{demo['tenant_id']}/signInSettings"
    h = {"Authorization": f"Bearer {key}"}
    bad = requests.patch(url, headers=h, json={"lockoutThreshold": 0})
    assert bad.status_code == 400 and "between 1 and 100" in bad.text
    assert requests.patch(url, headers=h, json={"hideAccountExistence": True}).status_code == 200
    try:
        upn, pw, _ = new_user()
        flow = web_app(demo).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
        r = sign_in(Browser(), flow["auth_uri"], "nobody-" + upn, pw)
        text = " ".join(Page(r).errors)
        assert "AADSTS50126" in text and "AADSTS50034" not in text
    finally:
        assert requests.patch(url, headers=h, json={"hideAccountExistence": False}).status_code == 200


def test_token_endpoint_failures_are_logged(demo, new_user, sign_ins):
    upn, pw, _ = new_user()
    app = web_app(demo)
    flow, response, _ = code_flow(demo, app, upn, pw, demo["confidential_client"]["redirect_uri"])
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), dict(response))
    assert app.acquire_token_by_auth_code_flow(dict(flow), dict(response)).get("error") == "invalid_grant"
    recs = sign_ins(f"appId eq '{demo['confidential_client']['app_id']}' and status/errorCode eq 54005")
    assert recs and recs[0]["isInteractive"] is False and recs[0]["status"]["additionalDetails"] == "authorization_code"


def test_lockout_is_logged(demo, new_user, sign_ins):
    upn, pw, _ = new_user()
    flow = web_app(demo).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    b = Browser()
    for _ in range(10):
        sign_in(b, flow["auth_uri"], upn, "bad-" + pw)
    recs = sign_ins(f"userPrincipalName eq '{upn}' and status/errorCode eq 50053")
    assert len(recs) == 1 and "locked" in recs[0]["status"]["failureReason"]
    assert len(sign_ins(f"userPrincipalName eq '{upn}' and status/errorCode eq 50126", count=9)) == 9


def test_sign_ins_list_newest_first_and_filters_by_time(demo, graph, new_user, sign_ins):
    upn, pw, _ = new_user()
    flow = web_app(demo).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    for _ in range(3):
        sign_in(Browser(), flow["auth_uri"], upn, "bad-" + pw)
    recs = sign_ins(f"userPrincipalName eq '{upn}'", count=3)
    times = [r["createdDateTime"] for r in recs]
    assert len(recs) == 3 and times == sorted(times, reverse=True), times
    later = graph.get("/auditLogs/signIns", params={"$filter": f"userPrincipalName eq '{upn}' and createdDateTime ge {times[0]}"}).json()["value"]
    ids = [r["id"] for r in later]
    assert recs[0]["id"] in ids and all(r["createdDateTime"] >= times[0] for r in later)
    if times[2] < times[0]:
        assert recs[2]["id"] not in ids
    bad = graph.get("/auditLogs/signIns", params={"$filter": "nosuchfield eq 1"})
    assert bad.status_code == 400


def test_spa_codes_are_redeemed_only_cross_origin(demo, graph):
    import base64
    import os
    r = graph.post("/applications", {"displayName": "SPA sample", "spa": {"redirectUris": ["http://localhost:44395/spa"]}})
    assert r.status_code == 201, r.text
    app_obj = r.json()
    sp = graph.post("/servicePrincipals", {"appId": app_obj["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read openid profile offline_access"})
    verifier = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    url = (f"{demo['authority']}/oauth2/v2.0/authorize?client_id={app_obj['appId']}&response_type=code"
           f"&redirect_uri=http%3A%2F%2Flocalhost%3A44395%2Fspa&scope=User.Read%20openid%20offline_access&state=s"
           f"&code_challenge={challenge}&code_challenge_method=S256")
    params = redirect_params(sign_in(Browser(), url, demo["user"]["upn"], demo["user"]["password"]))
    form = {"grant_type": "authorization_code", "client_id": app_obj["appId"], "code": params["code"],
            "redirect_uri": "http://localhost:44395/spa", "code_verifier": verifier}
    token_url = f"{demo['authority']}/oauth2/v2.0/token"
    no_origin = requests.post(token_url, data=form)
    assert no_origin.status_code == 400 and 9002327 in no_origin.json()["error_codes"], no_origin.text
    ok = requests.post(token_url, data=form, headers={"Origin": "http://localhost:44395"})
    assert ok.status_code == 200, ok.text
    assert ok.headers.get("access-control-allow-origin") in ("*", "http://localhost:44395")
    assert ok.json()["refresh_token"]
