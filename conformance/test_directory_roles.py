"""Directory roles and delegated Graph authorization: the token's scope is necessary but not
sufficient — the signed-in user needs the right too. A delegated user update is refused for a
user without a role although User.ReadWrite.All is in `scp`, and allowed after a User
Administrator assignment through /roleManagement/directory/roleAssignments (wids claim)."""
import jwt
import msal
import msal.authority
import requests

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def delegated_token(demo, upn, pw):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    r = app.acquire_token_by_username_password(upn, pw, scopes=["User.ReadWrite.All"])
    assert "access_token" in r, r
    return r["access_token"]


def test_role_definitions_are_microsofts(graph):
    defs = graph.get("/roleManagement/directory/roleDefinitions", params={"$top": "999"}).json()["value"]
    by_name = {d["displayName"]: d for d in defs}
    for name in ["Global Administrator", "Global Reader", "User Administrator", "Groups Administrator", "Helpdesk Administrator",
                 "Authentication Administrator", "Application Administrator", "Cloud Application Administrator", "Application Developer",
                 "Privileged Role Administrator", "Conditional Access Administrator", "Security Administrator", "Security Reader"]:
        assert name in by_name, name
    assert by_name["Global Administrator"]["id"] == GLOBAL_ADMIN
    assert "microsoft.directory/users/create" in by_name["User Administrator"]["rolePermissions"][0]["allowedResourceActions"]


def test_delegated_write_needs_the_users_role_as_well_as_the_scope(demo, graph, new_user):
    upn, pw, uid = new_user()
    target_upn, _, target = new_user()
    token = delegated_token(demo, upn, pw)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "User.ReadWrite.All" in claims["scp"] and "wids" not in claims
    h = {"Authorization": f"Bearer {token}"}
    denied = requests.patch(f"{demo['graph_url']}/users/{target}", headers=h, json={"jobTitle": "Changed"})
    assert denied.status_code == 403, denied.text
    msg = denied.json()["error"]["message"]
    assert "microsoft.directory/users/basic/update" in msg and "User Administrator" in msg
    # Reading is a default member right.
    assert requests.get(f"{demo['graph_url']}/users/{target}", headers=h).status_code == 200
    # Bad assignments are refused and change nothing.
    assert graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": "00000000-0000-0000-0000-000000000001", "directoryScopeId": "/"}).status_code == 400
    assert graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/administrativeUnits/x"}).status_code == 400
    a = graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"})
    assert a.status_code == 201, a.text
    assignment = a.json()
    assert graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"}).status_code == 400
    try:
        token = delegated_token(demo, upn, pw)
        assert USER_ADMIN in jwt.decode(token, options={"verify_signature": False})["wids"]
        ok = requests.patch(f"{demo['graph_url']}/users/{target}", headers={"Authorization": f"Bearer {token}"}, json={"jobTitle": "Changed"})
        assert ok.status_code == 204, ok.text
        assert graph.get(f"/users/{target}").json()["jobTitle"] == "Changed"
        # The user still cannot assign roles (Privileged Role Administrator's right).
        r = requests.post(f"{demo['graph_url']}/roleManagement/directory/roleAssignments", headers={"Authorization": f"Bearer {token}"},
                          json={"principalId": target, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"})
        assert r.status_code == 403
    finally:
        assert requests.delete(f"{demo['graph_url']}/roleManagement/directory/roleAssignments/{assignment['id']}", headers=graph.h).status_code == 204
    listed = graph.get("/roleManagement/directory/roleAssignments", params={"$filter": f"principalId eq '{uid}'"}).json()["value"]
    assert listed == []


def test_user_administrator_scoped_to_an_administrative_unit(demo, graph, new_user):
    admin_upn, admin_pw, admin_id = new_user()
    _, _, inside = new_user()
    _, _, outside = new_user()
    au = graph.post("/directory/administrativeUnits", {"displayName": "Paris office", "description": "Users in Paris"})
    assert au.status_code == 201, au.text
    au = au.json()
    ref = lambda oid: {"@odata.id": f"{demo['graph_url']}/directoryObjects/{oid}"}
    assert graph.post(f"/directory/administrativeUnits/{au['id']}/members/$ref", ref(inside)).status_code == 204
    assert graph.post(f"/directory/administrativeUnits/{au['id']}/members/$ref", ref(inside)).status_code == 400
    members = graph.get(f"/directory/administrativeUnits/{au['id']}/members").json()["value"]
    assert [m["id"] for m in members] == [inside]
    bad = graph.post("/roleManagement/directory/roleAssignments", {"principalId": admin_id, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/administrativeUnits/00000000-0000-0000-0000-000000000000"})
    assert bad.status_code == 400
    a = graph.post("/roleManagement/directory/roleAssignments", {"principalId": admin_id, "roleDefinitionId": USER_ADMIN, "directoryScopeId": f"/administrativeUnits/{au['id']}"})
    assert a.status_code == 201 and a.json()["directoryScopeId"] == f"/administrativeUnits/{au['id']}", a.text
    token = delegated_token(demo, admin_upn, admin_pw)
    assert "wids" not in jwt.decode(token, options={"verify_signature": False}), "AU-scoped roles are not in wids"
    h = {"Authorization": f"Bearer {token}"}
    ok = requests.patch(f"{demo['graph_url']}/users/{inside}", headers=h, json={"department": "Paris"})
    assert ok.status_code == 204, ok.text
    denied = requests.patch(f"{demo['graph_url']}/users/{outside}", headers=h, json={"department": "Paris"})
    assert denied.status_code == 403 and "User Administrator" in denied.json()["error"]["message"]
    # Deleting the unit removes the scoped assignment with it.
    assert requests.delete(f"{demo['graph_url']}/directory/administrativeUnits/{au['id']}", headers=graph.h).status_code == 204
    assert graph.get("/roleManagement/directory/roleAssignments", params={"$filter": f"principalId eq '{admin_id}'"}).json()["value"] == []
    again = requests.patch(f"{demo['graph_url']}/users/{inside}", headers=h, json={"department": "Lyon"})
    assert again.status_code == 403


def test_role_assignable_group_gives_its_members_the_role(demo, graph, new_user):
    upn, pw, uid = new_user()
    _, _, target = new_user()
    bad = graph.post("/groups", {"displayName": "not security", "mailEnabled": True, "mailNickname": "rag-m365", "securityEnabled": False, "groupTypes": ["Unified"], "isAssignableToRole": True})
    assert bad.status_code == 400
    g = graph.post("/groups", {"displayName": "Helpdesk crew", "mailEnabled": False, "mailNickname": f"rag{uid[:8]}", "securityEnabled": True, "isAssignableToRole": True})
    assert g.status_code == 201 and g.json()["isAssignableToRole"] is True, g.text
    g = g.json()
    assert graph.patch(f"/groups/{g['id']}", {"isAssignableToRole": False}).status_code == 400
    plain = graph.post("/groups", {"displayName": "plain", "mailEnabled": False, "mailNickname": f"plain{uid[:8]}", "securityEnabled": True}).json()
    assert graph.post("/roleManagement/directory/roleAssignments", {"principalId": plain["id"], "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"}).status_code == 400
    a = graph.post("/roleManagement/directory/roleAssignments", {"principalId": g["id"], "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"})
    assert a.status_code == 201, a.text
    ref = {"@odata.id": f"{demo['graph_url']}/directoryObjects/{uid}"}
    assert graph.post(f"/groups/{g['id']}/members/$ref", ref).status_code == 204
    # Role-assignable groups do not nest.
    nested = graph.post(f"/groups/{g['id']}/members/$ref", {"@odata.id": f"{demo['graph_url']}/directoryObjects/{plain['id']}"})
    assert nested.status_code == 400
    token = delegated_token(demo, upn, pw)
    assert USER_ADMIN in jwt.decode(token, options={"verify_signature": False})["wids"]
    h = {"Authorization": f"Bearer {token}"}
    assert requests.patch(f"{demo['graph_url']}/users/{target}", headers=h, json={"officeLocation": "B1"}).status_code == 204
    # Its membership is privileged: a User Administrator's delegated token cannot change it.
    r = requests.post(f"{demo['graph_url']}/groups/{g['id']}/members/$ref", headers=h, json={"@odata.id": f"{demo['graph_url']}/directoryObjects/{target}"})
    assert r.status_code == 403, r.text
    # Leaving the group takes the role away.
    assert requests.delete(f"{demo['graph_url']}/groups/{g['id']}/members/{uid}/$ref", headers=graph.h).status_code == 204
    token = delegated_token(demo, upn, pw)
    assert "wids" not in jwt.decode(token, options={"verify_signature": False})
    assert requests.patch(f"{demo['graph_url']}/users/{target}", headers={"Authorization": f"Bearer {token}"}, json={"officeLocation": "B2"}).status_code == 403


def test_custom_role_grants_exactly_its_actions(demo, graph, new_user):
    upn, pw, uid = new_user()
    _, _, target = new_user()
    bad = graph.post("/roleManagement/directory/roleDefinitions", {"displayName": "Bad", "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/fly"]}]})
    assert bad.status_code == 400 and "microsoft.directory/users/fly" in bad.text
    clash = graph.post("/roleManagement/directory/roleDefinitions", {"displayName": "User Administrator", "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update"]}]})
    assert clash.status_code == 400
    name = f"Profile editors {uid[:8]}"
    r = graph.post("/roleManagement/directory/roleDefinitions", {"displayName": name, "description": "Edit user profiles", "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update"]}]})
    assert r.status_code == 201 and r.json()["isBuiltIn"] is False, r.text
    role = r.json()
    assert graph.post("/roleManagement/directory/roleDefinitions", {"displayName": name.upper(), "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/basic/update"]}]}).status_code == 400
    assert graph.get(f"/roleManagement/directory/roleDefinitions/{role['id']}").json()["displayName"] == name
    a = graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": role["id"], "directoryScopeId": "/"})
    assert a.status_code == 201, a.text
    token = delegated_token(demo, upn, pw)
    h = {"Authorization": f"Bearer {token}"}
    assert requests.patch(f"{demo['graph_url']}/users/{target}", headers=h, json={"jobTitle": "Edited"}).status_code == 204
    # It grants nothing else: role management stays out of reach.
    r2 = requests.post(f"{demo['graph_url']}/roleManagement/directory/roleAssignments", headers=h, json={"principalId": target, "roleDefinitionId": role["id"], "directoryScopeId": "/"})
    assert r2.status_code == 403
    assert requests.delete(f"{demo['graph_url']}/roleManagement/directory/roleDefinitions/{role['id']}", headers=graph.h).status_code == 400
    assert requests.delete(f"{demo['graph_url']}/roleManagement/directory/roleAssignments/{a.json()['id']}", headers=graph.h).status_code == 204
    assert requests.delete(f"{demo['graph_url']}/roleManagement/directory/roleDefinitions/{role['id']}", headers=graph.h).status_code == 204
    assert requests.patch(f"{demo['graph_url']}/users/{target}", headers={"Authorization": f"Bearer {delegated_token(demo, upn, pw)}"}, json={"jobTitle": "Again"}).status_code == 403


def test_tenant_switch_for_users_registering_apps(demo, graph, new_user):
    graph_sp = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{demo['public_client']['service_principal_id']}'"}).json()["value"]
    if not any("Application.ReadWrite.All" in g["scope"] for g in grants):
        assert graph.post("/oauth2PermissionGrants", {"clientId": demo["public_client"]["service_principal_id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "Application.ReadWrite.All"}).status_code == 201
    upn, pw, uid = new_user()

    def token():
        app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
        r = app.acquire_token_by_username_password(upn, pw, scopes=["Application.ReadWrite.All"])
        assert "access_token" in r, r
        return {"Authorization": f"Bearer {r['access_token']}"}

    create = lambda h, n: requests.post(f"{demo['graph_url']}/applications", headers=h, json={"displayName": n})
    assert create(token(), "made by a member").status_code == 201
    assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"allowedToCreateApps": False}}).status_code == 204
    try:
        assert graph.get("/policies/authorizationPolicy").json()["defaultUserRolePermissions"]["allowedToCreateApps"] is False
        denied = create(token(), "not allowed")
        assert denied.status_code == 403 and "Application Developer" in denied.text, denied.text
        a = graph.post("/roleManagement/directory/roleAssignments", {"principalId": uid, "roleDefinitionId": "cf1c38e5-3621-4004-a7cb-879624dced7c", "directoryScopeId": "/"})
        assert a.status_code == 201, a.text
        assert create(token(), "made by a developer").status_code == 201
    finally:
        assert graph.patch("/policies/authorizationPolicy", {"defaultUserRolePermissions": {"allowedToCreateApps": True}}).status_code == 204
