"""Consent through MSAL Python and the real pages: the consent page accepted and declined,
admin-only permissions needing an administrator (who may consent for the organization), the
tenant's user-consent policy, a multi-tenant app signing in a user from a second tenant (the
service principal appears there), 700016 before that, and 50105 for an unassigned user."""
import jwt
import msal
import requests

from browser import Browser, Page, redirect_params, sign_in

GRAPH = "00000003-0000-0000-c000-000000000000"


def web_app(demo, authority=None):
    cc = demo["confidential_client"]
    return msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=authority or demo["authority"], instance_discovery=False)


def consent_page(demo, app, upn, pw, scopes, redirect_uri, browser=None, **kw):
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri, **kw)
    b = browser or Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    return flow, b, r


def test_consent_page_accepted_then_remembered(demo, new_user, graph):
    upn, pw, uid = new_user()
    app = web_app(demo)
    flow, b, r = consent_page(demo, app, upn, pw, ["Mail.Read"], demo["confidential_client"]["redirect_uri"])
    page = Page(r)
    assert r.status_code == 200 and "Permissions requested" in page.text and "Read user mail" in page.text, r.text[:800]
    r = b.submit(page, flow["auth_uri"], decision="accept")
    assert r.status_code == 302, r.text[:800]
    result = app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert "access_token" in result, result
    assert "Mail.Read" in jwt.decode(result["access_token"], options={"verify_signature": False})["scp"]
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"principalId eq '{uid}'"}).json()["value"]
    assert any(g["consentType"] == "Principal" and "Mail.Read" in g["scope"] for g in grants), grants
    # A second sign-in (new browser) does not ask again.
    flow2 = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    assert sign_in(Browser(), flow2["auth_uri"], upn, pw).status_code == 302


def test_consent_declined_is_consent_required(demo, new_user):
    upn, pw, _ = new_user()
    app = web_app(demo)
    flow, b, r = consent_page(demo, app, upn, pw, ["Calendars.Read"], demo["confidential_client"]["redirect_uri"])
    r = b.submit(Page(r), flow["auth_uri"], decision="decline")
    params = redirect_params(r)
    assert params["error"] == "consent_required" and "AADSTS65001" in params["error_description"]
    assert app.acquire_token_by_auth_code_flow(flow, params).get("error") == "consent_required"


def test_admin_only_permission_needs_an_admin_who_may_consent_for_everyone(demo, new_user):
    api = demo["api_app"]
    scope = f"{api['identifier_uri']}/Orders.ReadWrite.All"
    upn, pw, _ = new_user()
    app = web_app(demo)
    flow, b, r = consent_page(demo, app, upn, pw, [scope], demo["confidential_client"]["redirect_uri"])
    page = Page(r)
    assert "AADSTS90094" in " ".join(page.errors) and 'id="accept"' not in r.text
    # The administrator sees the organization-wide option and grants it.
    flow_a, ba, ra = consent_page(demo, app, demo["admin"]["upn"], demo["admin"]["password"], [scope], demo["confidential_client"]["redirect_uri"])
    assert 'name="tenant_wide"' in ra.text
    r = ba.submit(Page(ra), flow_a["auth_uri"], decision="accept", tenant_wide="1")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow_a, redirect_params(r))
    # Now the ordinary user gets the permission without any prompt.
    flow2 = app.initiate_auth_code_flow([scope], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r2 = sign_in(Browser(), flow2["auth_uri"], upn, pw)
    assert r2.status_code == 302
    tok = app.acquire_token_by_auth_code_flow(flow2, redirect_params(r2))
    c = jwt.decode(tok["access_token"], options={"verify_signature": False})
    assert c["scp"] == "Orders.ReadWrite.All" and c["aud"] == api["identifier_uri"]


def test_tenant_policy_can_forbid_user_consent(demo, new_user, graph):
    before = graph.get("/policies/authorizationPolicy").json()
    assert before["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"] == ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]
    assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": ["bogus"]}}).status_code == 400
    assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": []}}).status_code == 204
    try:
        upn, pw, _ = new_user()
        _, _, r = consent_page(demo, web_app(demo), upn, pw, ["Contacts.Read"], demo["confidential_client"]["redirect_uri"])
        assert "AADSTS90094" in " ".join(Page(r).errors) and "does not allow users to consent" in r.text
    finally:
        assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]}}).status_code == 204


def test_multi_tenant_app_signs_in_a_user_from_the_second_tenant(demo):
    mt, fab = demo["multi_tenant_app"], demo["second_tenant"]
    # Before consent the app does not exist in Fabrikam: 700016.
    cc_fab = msal.ConfidentialClientApplication(mt["app_id"], client_credential=mt["secret"], authority=fab["authority"], instance_discovery=False)
    r = cc_fab.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert r.get("error") == "unauthorized_client" and 700016 in r["error_codes"], r
    # Through /organizations: the user's domain picks Fabrikam; consent creates the SP there.
    app = msal.ConfidentialClientApplication(mt["app_id"], client_credential=mt["secret"], authority=f"{demo['origin']}/organizations", instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=mt["redirect_uri"])
    b = Browser()
    r = sign_in(b, flow["auth_uri"], fab["user"]["upn"], fab["user"]["password"])
    assert "Permissions requested" in r.text, r.text[:500]
    r = b.submit(Page(r), flow["auth_uri"], decision="accept")
    assert r.status_code == 302, r.text[:800]
    result = app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert "access_token" in result, result
    assert result["id_token_claims"]["tid"] == fab["tenant_id"]
    at = jwt.decode(result["access_token"], options={"verify_signature": False})
    # A Graph token, so v1 (as from Entra): the v1 issuer of the user's tenant.
    assert at["tid"] == fab["tenant_id"] and at["iss"] == f"{fab['authority']}/" and at["ver"] == "1.0"
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == fab["user"]["upn"]
    # The service principal now exists in Fabrikam: app-only calls get past 700016 (a new MSAL
    # instance: MSAL's HTTP layer remembers the earlier 4xx answer for a while).
    cc_fab = msal.ConfidentialClientApplication(mt["app_id"], client_credential=mt["secret"], authority=fab["authority"], instance_discovery=False)
    r = cc_fab.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in r, r
    assert jwt.decode(r["access_token"], options={"verify_signature": False})["tid"] == fab["tenant_id"]


def test_single_tenant_app_from_another_tenant_is_refused(demo):
    fab = demo["second_tenant"]
    flow = web_app(demo, authority=fab["authority"]).initiate_auth_code_flow(["User.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
    r = sign_in(Browser(), flow["auth_uri"], fab["user"]["upn"], fab["user"]["password"])
    params = redirect_params(r)
    assert "AADSTS700016" in params["error_description"], params


def test_assignment_required_blocks_unassigned_users(demo, new_user, graph):
    r = graph.post("/applications", {"displayName": "Assignment-required app", "web": {"redirectUris": ["https://localhost:44399/assigned"]}})
    app_obj = r.json()
    secret = graph.post(f"/applications/{app_obj['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app_obj["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH}'"}).json()["value"][0]
    assert graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"}).status_code == 201
    assert graph.patch(f"/servicePrincipals/{sp['id']}", {"appRoleAssignmentRequired": True}).status_code == 204
    upn, pw, uid = new_user()
    app = msal.ConfidentialClientApplication(app_obj["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44399/assigned")
    params = redirect_params(sign_in(Browser(), flow["auth_uri"], upn, pw))
    assert "AADSTS50105" in params.get("error_description", ""), params
    # Assign the user (default access) and sign in again.
    a = graph.post(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo", {"principalId": uid, "resourceId": sp["id"], "appRoleId": "00000000-0000-0000-0000-000000000000"})
    assert a.status_code == 201, a.text
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44399/assigned")
    r = sign_in(Browser(), flow["auth_uri"], upn, pw)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))


def test_revoking_a_grant_takes_effect_on_the_next_token(demo, new_user, graph):
    upn, pw, uid = new_user()
    app = web_app(demo)
    flow, b, r = consent_page(demo, app, upn, pw, ["Notes.Read"], demo["confidential_client"]["redirect_uri"])
    r = b.submit(Page(r), flow["auth_uri"], decision="accept")
    result = app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert "Notes.Read" in jwt.decode(result["access_token"], options={"verify_signature": False})["scp"]
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"principalId eq '{uid}'"}).json()["value"]
    assert len(grants) == 1
    d = requests.delete(f"{demo['graph_url']}/oauth2PermissionGrants/{grants[0]['id']}", headers=graph.h)
    assert d.status_code == 204, d.text
    again = requests.delete(f"{demo['graph_url']}/oauth2PermissionGrants/{grants[0]['id']}", headers=graph.h)
    assert again.status_code == 404
    after = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["Notes.Read"])
    assert after.get("error") == "invalid_grant" and 65001 in after["error_codes"], after



def test_admin_consent_endpoint_grants_delegated_and_application_permissions(demo, new_user, graph):
    user_read, user_read_all = "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "df021288-bdef-4463-88db-98f22de89214"
    r = graph.post("/applications", {
        "displayName": "Admin-consented app", "web": {"redirectUris": ["https://localhost:44398/done"]},
        "requiredResourceAccess": [{"resourceAppId": GRAPH, "resourceAccess": [{"id": user_read, "type": "Scope"}, {"id": user_read_all, "type": "Role"}]}],
    })
    assert r.status_code == 201, r.text
    app_obj = r.json()
    secret = graph.post(f"/applications/{app_obj['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    url = f"{demo['authority']}/v2.0/adminconsent?client_id={app_obj['appId']}&redirect_uri=https%3A%2F%2Flocalhost%3A44398%2Fdone&state=ac1"
    # A wrong redirect URI is an error page, never a redirect.
    bad = Browser().open(url.replace("44398", "44397"))
    assert bad.status_code == 400 and "AADSTS50011" in bad.text
    # An ordinary user cannot grant it.
    upn, pw, _ = new_user()
    r = sign_in(Browser(), url, upn, pw)
    assert "AADSTS90094" in " ".join(Page(r).errors) and 'id="accept"' not in r.text
    # The administrator can.
    b = Browser()
    r = sign_in(b, url, demo["admin"]["upn"], demo["admin"]["password"])
    page = Page(r)
    assert "User.Read.All" in page.text and "application permission" in page.text, r.text[:1000]
    r = b.submit(page, url, decision="accept")
    params = redirect_params(r)
    assert params == {"admin_consent": "True", "tenant": demo["tenant_id"], "state": "ac1"}, params
    # Application permission: the client-credentials token carries the role.
    cca = msal.ConfidentialClientApplication(app_obj["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    tok = cca.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "User.Read.All" in jwt.decode(tok["access_token"], options={"verify_signature": False}).get("roles", []), tok
    # Delegated permission for every user: no consent page for a new user.
    upn2, pw2, _ = new_user()
    flow = cca.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44398/done")
    r = sign_in(Browser(), flow["auth_uri"], upn2, pw2)
    assert r.status_code == 302 and "access_token" in cca.acquire_token_by_auth_code_flow(flow, redirect_params(r))


def test_groups_claim_and_overage(demo, new_user, graph):
    r = graph.post("/applications", {"displayName": "Groups claim app", "web": {"redirectUris": ["https://localhost:44396/cb"]}, "groupMembershipClaims": "SecurityGroup"})
    assert r.status_code == 201, r.text
    assert graph.patch(f"/applications/{r.json()['id']}", {"groupMembershipClaims": "Everything"}).status_code == 400
    app_obj = r.json()
    assert app_obj["groupMembershipClaims"] == "SecurityGroup"
    secret = graph.post(f"/applications/{app_obj['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app_obj["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH}'"}).json()["value"][0]
    graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"})
    upn, pw, uid = new_user()
    outer = graph.post("/groups", {"displayName": "claims-outer", "mailEnabled": False, "mailNickname": "claimsouter", "securityEnabled": True}).json()
    inner = graph.post("/groups", {"displayName": "claims-inner", "mailEnabled": False, "mailNickname": "claimsinner", "securityEnabled": True}).json()
    ref = lambda oid: {"@odata.id": f"{demo['graph_url']}/directoryObjects/{oid}"}
    assert graph.post(f"/groups/{inner['id']}/members/$ref", ref(uid)).status_code == 204
    assert graph.post(f"/groups/{outer['id']}/members/$ref", ref(inner["id"])).status_code == 204
    cca = msal.ConfidentialClientApplication(app_obj["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)

    def id_token_claims():
        flow = cca.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44396/cb")
        res = cca.acquire_token_by_auth_code_flow(flow, redirect_params(sign_in(Browser(), flow["auth_uri"], upn, pw)))
        assert "id_token_claims" in res, res
        return res["id_token_claims"]

    claims = id_token_claims()
    assert sorted(claims["groups"]) == sorted([outer["id"], inner["id"]]), claims  # transitive
    # Past 200 groups the JWT carries the overage indicator instead.
    for i in range(200):
        g = graph.post("/groups", {"displayName": f"bulk-{i}", "mailEnabled": False, "mailNickname": f"bulk{i}x{uid[:6]}", "securityEnabled": True}).json()
        assert graph.post(f"/groups/{g['id']}/members/$ref", ref(uid)).status_code == 204
    claims = id_token_claims()
    assert "groups" not in claims and claims["_claim_names"] == {"groups": "src1"}
    assert claims["_claim_sources"]["src1"]["endpoint"].endswith(f"/users/{uid}/getMemberObjects")


def test_optional_claims_in_the_id_token(demo, graph):
    bad = graph.post("/applications", {"displayName": "x", "optionalClaims": {"idToken": [{"name": "shoe_size"}]}})
    assert bad.status_code == 400 and "shoe_size" in bad.text
    r = graph.post("/applications", {"displayName": "Optional claims app", "web": {"redirectUris": ["https://localhost:44394/cb"]},
                                     "optionalClaims": {"idToken": [{"name": "email"}, {"name": "given_name"}, {"name": "upn"}]}})
    assert r.status_code == 201, r.text
    app_obj = r.json()
    assert [c["name"] for c in app_obj["optionalClaims"]["idToken"]] == ["email", "given_name", "upn"]
    secret = graph.post(f"/applications/{app_obj['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app_obj["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH}'"}).json()["value"][0]
    graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"})
    cca = msal.ConfidentialClientApplication(app_obj["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    flow = cca.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44394/cb")
    res = cca.acquire_token_by_auth_code_flow(flow, redirect_params(sign_in(Browser(), flow["auth_uri"], demo["user"]["upn"], demo["user"]["password"])))
    c = res["id_token_claims"]
    assert c["email"] == demo["user"]["upn"] and c["given_name"] == "Alex" and c["upn"] == demo["user"]["upn"], c


def test_admin_consent_workflow_request_and_approval(demo, new_user, graph):
    assert graph.get("/policies/adminConsentRequestPolicy").json()["isEnabled"] is False
    assert graph.patch("/policies/adminConsentRequestPolicy", {"notifyReviewers": True}).status_code == 400
    assert requests.put(f"{demo['graph_url']}/policies/adminConsentRequestPolicy", headers=graph.h, json={"isEnabled": True}).status_code == 204
    assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": []}}).status_code == 204
    try:
        upn, pw, uid = new_user()
        app = web_app(demo)
        flow, b, r = consent_page(demo, app, upn, pw, ["Tasks.Read"], demo["confidential_client"]["redirect_uri"])
        page = Page(r)
        assert "AADSTS90094" in " ".join(page.errors) and 'id="request"' in r.text, r.text[:800]
        r = b.submit(page, flow["auth_uri"], decision="request", reason="I need my tasks in the demo app")
        assert r.status_code == 200 and "Approval request sent" in r.text
        reqs = graph.get("/identityGovernance/appConsent/appConsentRequests").json()["value"]
        mine = [x for x in reqs if x["userConsentRequests"][0]["createdBy"]["user"]["id"] == uid]
        assert len(mine) == 1, reqs
        req = mine[0]
        assert req["appId"] == demo["confidential_client"]["app_id"] and req["pendingScopes"] == [{"displayName": "Tasks.Read"}]
        assert req["userConsentRequests"][0]["status"] == "InProgress" and "tasks" in req["userConsentRequests"][0]["reason"]
        step = f"/identityGovernance/appConsent/appConsentRequests/{req['id']}/userConsentRequests/{req['id']}/approval/steps/{req['id']}"
        assert graph.patch(step, {"reviewResult": "Maybe"}).status_code == 400
        assert graph.patch(step, {"reviewResult": "Approve", "justification": "ok"}).status_code == 204
        assert graph.patch(step, {"reviewResult": "Approve"}).status_code == 400
        # Approved for the whole tenant: the user (and everyone) now signs in without a prompt.
        flow2 = app.initiate_auth_code_flow(["Tasks.Read"], redirect_uri=demo["confidential_client"]["redirect_uri"])
        r2 = sign_in(Browser(), flow2["auth_uri"], upn, pw)
        assert r2.status_code == 302, r2.text[:500]
        assert "Tasks.Read" in jwt.decode(app.acquire_token_by_auth_code_flow(flow2, redirect_params(r2))["access_token"], options={"verify_signature": False})["scp"]
    finally:
        graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]}})
        requests.put(f"{demo['graph_url']}/policies/adminConsentRequestPolicy", headers=graph.h, json={"isEnabled": False})


def test_default_scope_consents_to_the_registered_permissions(demo, new_user, graph):
    mail_read, user_read = "570282fd-fa5c-430d-a7fd-fc8dc98a9dca", "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
    r = graph.post("/applications", {"displayName": "Static permissions app", "web": {"redirectUris": ["https://localhost:44393/cb"]},
                                     "requiredResourceAccess": [{"resourceAppId": GRAPH, "resourceAccess": [{"id": user_read, "type": "Scope"}, {"id": mail_read, "type": "Scope"}]}]})
    app_obj = r.json()
    secret = graph.post(f"/applications/{app_obj['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    graph.post("/servicePrincipals", {"appId": app_obj["appId"]})
    upn, pw, _ = new_user()
    cca = msal.ConfidentialClientApplication(app_obj["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    flow = cca.initiate_auth_code_flow(["https://graph.microsoft.com/.default"], redirect_uri="https://localhost:44393/cb")
    b = Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    page = Page(r)
    assert "Read user mail" in page.text and "Sign in and read user profile" in page.text, r.text[:800]
    r = b.submit(page, flow["auth_uri"], decision="accept")
    res = cca.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert sorted(jwt.decode(res["access_token"], options={"verify_signature": False})["scp"].split()) == ["Mail.Read", "User.Read"], res
    # /me/memberOf with the delegated token.
    g = graph.post("/groups", {"displayName": "me-memberof", "mailEnabled": False, "mailNickname": f"mmo{app_obj['appId'][:6]}", "securityEnabled": True}).json()
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {res['access_token']}"}).json()
    assert graph.post(f"/groups/{g['id']}/members/$ref", {"@odata.id": f"{demo['graph_url']}/directoryObjects/{me['id']}"}).status_code == 204
    mo = requests.get(f"{demo['graph_url']}/me/memberOf", headers={"Authorization": f"Bearer {res['access_token']}"})
    assert mo.status_code == 200 and [x["id"] for x in mo.json()["value"]] == [g["id"]], mo.text
