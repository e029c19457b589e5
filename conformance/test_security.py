"""Issue 12's escalation paths through the real pages and clients: an Application
Administrator cannot grant Microsoft Graph's application permissions through the admin-consent
page (a Privileged Role Administrator can — the positive control), and a member signed in with
MSAL to a client consented to Application.ReadWrite.All cannot add a password to an application
they do not own."""
import jwt
import msal

from browser import Browser, Page, redirect_params, sign_in

GRAPH = "00000003-0000-0000-c000-000000000000"
APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
ROLE_MANAGEMENT_RW = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"  # RoleManagement.ReadWrite.Directory (Role)


def assign(graph, uid, role):
    r = graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": role, "directoryScopeId": "/"})
    assert r.status_code == 201, r.text


def test_admin_consent_to_graph_app_permissions_needs_a_privileged_role_administrator(demo, new_user, graph):
    r = graph.post("/applications", {
        "displayName": "Wants RoleManagement",
        "web": {"redirectUris": ["https://localhost:44391/done"]},
        "requiredResourceAccess": [{"resourceAppId": GRAPH, "resourceAccess": [{"id": ROLE_MANAGEMENT_RW, "type": "Role"}]}],
    })
    assert r.status_code == 201, r.text
    app = r.json()
    url = f"{demo['authority']}/v2.0/adminconsent?client_id={app['appId']}&redirect_uri=https%3A%2F%2Flocalhost%3A44391%2Fdone&state=s1"

    def held():
        sps = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{app['appId']}'"}).json()["value"]
        if not sps:
            return []
        return graph.get(f"/servicePrincipals/{sps[0]['id']}/appRoleAssignments").json()["value"]

    # An Application Administrator: refused, and nothing is granted.
    upn, pw, uid = new_user()
    assign(graph, uid, APPLICATION_ADMIN)
    b = Browser()
    r = sign_in(b, url, upn, pw)
    page = Page(r)
    if 'id="accept"' in r.text:
        r = b.submit(page, url, decision="accept")
    assert r.status_code != 302 or "admin_consent" not in r.headers.get("location", "") or "error" in r.headers.get("location", ""), r.text[:800]
    assert "Privileged Role Administrator" in r.text or "Privileged Role Administrator" in r.headers.get("location", ""), r.text[:1500]
    assert held() == []

    # A Privileged Role Administrator: granted.
    upn2, pw2, uid2 = new_user()
    assign(graph, uid2, PRIVILEGED_ROLE_ADMIN)
    b = Browser()
    r = sign_in(b, url, upn2, pw2)
    r = b.submit(Page(r), url, decision="accept")
    assert redirect_params(r).get("admin_consent") == "True", r.text[:800]
    assert [a["appRoleId"] for a in held()] == [ROLE_MANAGEMENT_RW]


def test_a_member_cannot_add_a_password_to_an_app_they_do_not_own(demo, new_user, graph):
    # The victim: an application holding RoleManagement.ReadWrite.Directory.
    victim = graph.post("/applications", {"displayName": "Victim"}).json()
    sp = graph.post("/servicePrincipals", {"appId": victim["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH}'"}).json()["value"][0]
    r = graph.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", {"principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": ROLE_MANAGEMENT_RW})
    assert r.status_code == 201, r.text
    # A public client consented to Application.ReadWrite.All for all users.
    client = graph.post("/applications", {"displayName": "Broad client", "isFallbackPublicClient": True}).json()
    csp = graph.post("/servicePrincipals", {"appId": client["appId"]}).json()
    r = graph.post("/oauth2PermissionGrants", {"clientId": csp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "Application.ReadWrite.All"})
    assert r.status_code == 201, r.text
    msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")
    pca = msal.PublicClientApplication(client["appId"], authority=demo["authority"], instance_discovery=False)
    upn, pw, _ = new_user()
    tok = pca.acquire_token_by_username_password(upn, pw, scopes=["https://graph.microsoft.com/Application.ReadWrite.All"])
    assert "access_token" in tok, tok
    assert "Application.ReadWrite.All" in jwt.decode(tok["access_token"], options={"verify_signature": False})["scp"]
    import requests
    base = demo["authority"].rsplit("/", 1)[0] + "/v1.0"
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    r = requests.post(f"{base}/applications/{victim['id']}/addPassword", json={}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied", r.text
    assert graph.get(f"/applications/{victim['id']}").json()["passwordCredentials"] == []
    # Positive control: the member's own application.
    mine = requests.post(f"{base}/applications", json={"displayName": "Mine"}, headers=h)
    assert mine.status_code == 201, mine.text
    r = requests.post(f"{base}/applications/{mine.json()['id']}/addPassword", json={}, headers=h)
    assert r.status_code == 200 and r.json()["secretText"], r.text
