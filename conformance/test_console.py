"""The admin console (/admin) in headless Chromium: every blade renders without console errors
and without serious or critical axe-core violations at 1280 and 390 px; an administrator signs
in, creates a user, creates a group and adds the user; registers an app, adds a redirect URI
and Graph's User.Read, grants admin consent and sees the grant on the enterprise app; a User Administrator is refused a role
assignment with Graph's reason. Screenshots are kept in conformance/artifacts/console/."""
import json
import os

from test_node import run

HERE = os.path.dirname(__file__)
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"


def admin(graph, new_user, role):
    upn, pw, uid = new_user()
    r = graph.post("/roleManagement/directory/roleAssignments",
                   {"principalId": uid, "roleDefinitionId": role, "directoryScopeId": "/"})
    assert r.status_code == 201, r.text
    return {"upn": upn, "password": pw, "id": uid}


def test_console_blades_and_journeys_in_chromium(demo, graph, new_user):
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (scripts/test-deps.sh installs it)"
    ga = admin(graph, new_user, GLOBAL_ADMIN)
    ua = admin(graph, new_user, USER_ADMIN)
    shots = os.path.join(HERE, "artifacts", "console")
    out = run("console.mjs", {"origin": demo["origin"], "tenant": demo["tenant_id"], "admin": ga,
                              "userAdmin": ua, "shots": shots}, timeout=300)
    with open(os.path.join(shots, "result.json"), "w") as f:
        json.dump(out, f, indent=1)
    assert out["errors"] == [], out["errors"]
    for b in out["blades"]:
        assert b["status"] == 200, b
        assert b["violations"] == [], b
        assert b["overflow"] <= 0, f"{b['name']} scrolls sideways at {b['width']} px"
    assert {b["name"] for b in out["blades"]} >= {"overview", "users", "groups", "app-registrations",
                                                  "enterprise-apps", "roles", "azure-resources", "sign-ins", "audit",
                                                  "my-roles", "external-identities", "app-registration-detail",
                                                  "enterprise-app-detail", "role-detail-pim"}
    assert "created" in out["userCreated"] and "created" in out["groupCreated"]
    assert "added" in out["memberAdded"] and out["upn"] in out["members"]
    users = graph.get("/users", params={"$filter": f"userPrincipalName eq '{out['upn']}'"}).json()["value"]
    assert len(users) == 1
    assert "User Administrator" in out["uaRoles"]
    assert out["assignOffered"] is False and "Privileged Role Administrator" in out["roleNote"], out["roleNote"]
    assert out["refusedStatus"] == 403
    assert "privileged" in out["refusal"].lower() or "role" in out["refusal"].lower(), out["refusal"]
    assert os.path.exists(os.path.join(shots, "users-1280.png"))
    # The app journey: registered, redirect URI, Graph User.Read, admin consent, seen granted.
    assert "registered" in out["appRegistered"], out["appRegistered"]
    assert "added" in out["redirectAdded"] and "https://console-journey.example/signin-oidc" in out["redirects"]
    assert "User.Read" in out["permissionAdded"], out["permissionAdded"]
    assert "Admin consent granted" in out["consented"], out["consented"]
    assert "Granted" in out["requested"] and "Not granted" not in out["requested"], out["requested"]
    assert "User.Read" in out["granted"] and "Admin consent" in out["granted"], out["granted"]
    app_id = out["appPath"].rsplit("/", 1)[1]
    app = graph.get(f"/applications/{app_id}").json()
    sp = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{app['appId']}'"}).json()["value"][0]
    assert out["entHref"].endswith(sp["id"])
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{sp['id']}'"}).json()["value"]
    assert [g["scope"] for g in grants if g["consentType"] == "AllPrincipals"] == ["User.Read"], grants
    assert os.path.exists(os.path.join(shots, "enterprise-app-detail-390.png"))


def test_troubleshoot_cli_names_the_family(server, demo, new_user):
    import subprocess
    import uuid

    import requests
    upn, pw, uid = new_user()
    cid = str(uuid.uuid4())
    r = requests.post(f"{demo['authority']}/oauth2/v2.0/token", headers={"client-request-id": cid},
                      data={"grant_type": "password", "client_id": demo["public_client"]["app_id"],
                            "username": upn, "password": "not-the-password", "scope": "User.Read"})
    assert r.status_code == 400 and "AADSTS50126" in r.json()["error_description"], r.text
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(HERE, "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))
    p = subprocess.run([binary, "troubleshoot", "--correlation-id", cid], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "AADSTS50126: User credential or account state" in p.stdout and "/admin/users" in p.stdout, p.stdout
    assert upn in p.stdout, p.stdout
    bad = subprocess.run([binary, "troubleshoot", "--correlation-id", "x' or 1"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "is not a GUID" in bad.stderr, bad.stdout + bad.stderr
    # A Graph token sent to ARM (read from standard input): the audience is the mistake.
    t = requests.post(f"{demo['authority']}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": demo["confidential_client"]["app_id"],
                            "client_secret": demo["confidential_client"]["secret"],
                            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    p = subprocess.run([binary, "troubleshoot", "--token", "-", "--resource", "arm"], input=t, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "Audience does not match (tokenMismatch)" in p.stdout and "management.azure.com/.default" in p.stdout, p.stdout
    ok = subprocess.run([binary, "troubleshoot", "--token", "-", "--resource", "graph"], input=t, env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "(success)" in ok.stdout, ok.stdout + ok.stderr
    # An access question: a member with no Azure role at the demo subscription.
    p = subprocess.run([binary, "troubleshoot", "--principal", upn, "--action",
                        "Microsoft.Resources/subscriptions/resourceGroups/write", "--scope", demo["subscription_scope"]],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "(missingPermission)" in p.stdout, p.stdout + p.stderr



def test_console_conditional_access_and_identity_protection_in_chromium(demo, graph, new_user):
    """The Conditional Access blades, What-If, replay and Identity Protection in Chromium: no
    console errors, no serious/critical axe findings at 1280 and 390 px; an administrator creates
    a report-only policy for a test user, replays it and opens the user's sign-in it would have
    challenged, switches it on, and What-If shows it applying. (That a Conditional Access
    Administrator may edit and a Security Reader may not is tests/it/console_ca.rs.)"""
    import requests
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (scripts/test-deps.sh installs it)"
    ga = admin(graph, new_user, GLOBAL_ADMIN)
    upn, pw, uid = new_user()
    r = requests.post(f"{demo['authority']}/oauth2/v2.0/token",
                      data={"grant_type": "password", "client_id": demo["public_client"]["app_id"],
                            "username": upn, "password": pw, "scope": "User.Read"})
    assert r.status_code == 200, r.text
    shots = os.path.join(HERE, "artifacts", "console")
    out = run("console_ca.mjs", {"origin": demo["origin"], "tenant": demo["tenant_id"], "admin": ga,
                                 "target": {"upn": upn}, "shots": shots}, timeout=240)
    with open(os.path.join(shots, "result-ca.json"), "w") as f:
        json.dump(out, f, indent=1)
    assert out["errors"] == [], out["errors"]
    for b in out["blades"]:
        assert b["status"] == 200, b
        assert b["violations"] == [], b
        assert b["overflow"] <= 0, f"{b['name']} scrolls sideways at {b['width']} px"
    assert {b["name"] for b in out["blades"]} >= {"ca-policies", "ca-new-policy", "ca-what-if", "ca-named-locations",
                                                  "identity-protection", "ca-replay", "ca-edit-policy"}
    assert out["charts"] >= 3, out["charts"]
    assert out["state"] == "enabledForReportingButNotEnforced"
    assert upn in out["challenged"], out["challenged"]
    assert out["signInHref"].startswith("/admin/sign-ins/"), out["signInHref"]
    assert out["signInStatus"] == 200 and upn in out["signInText"]
    assert "saved (Report-only)" in out["saved"] and "saved (On)" in out["switched"], (out["saved"], out["switched"])
    assert out["policyName"] in out["applies"] and "mfa" in out["applies"], out["applies"]
    assert "deleted" in out["deleted"]
    policies = graph.get("/identity/conditionalAccess/policies").json()["value"]
    assert not [p for p in policies if p["displayName"] == out["policyName"]]
    assert os.path.exists(os.path.join(shots, "ca-replay-1280.png"))


def test_console_dynamic_groups_admin_units_and_custom_roles_in_chromium(demo, graph, new_user):
    """The rule editor, Administrative units and custom roles in Chromium: no console errors, no serious/critical axe findings at 1280 and 390 px, no sideways
    scrolling; a bad rule shows its position with the input kept, a good one previews and is
    saved, its edit previews the leaver; a unit gets the target and a role scoped to it; a custom
    role is refused for a bad action, created and deleted. The editor's one script (served from
    the binary) previews as you type; without JavaScript the button gives the same answer. (Who may and may not is
    tests/it/console_dir.rs.)"""
    assert os.path.exists("/usr/bin/chromium"), "Debian chromium is not installed (scripts/test-deps.sh installs it)"
    ga = admin(graph, new_user, GLOBAL_ADMIN)
    upn, pw, uid = new_user()
    dept = "console-dept-" + uid[:8]
    r = graph.patch(f"/users/{uid}", {"department": dept})
    assert r.status_code == 204, r.text
    shots = os.path.join(HERE, "artifacts", "console")
    out = run("console_dir.mjs", {"origin": demo["origin"], "tenant": demo["tenant_id"], "admin": ga,
                                  "target": {"upn": upn, "department": dept}, "shots": shots}, timeout=180)
    with open(os.path.join(shots, "result-dir.json"), "w") as f:
        json.dump(out, f, indent=1)
    assert out["errors"] == [], out["errors"]
    assert out["scripts"] == ["/admin/assets/console.js"], out["scripts"]
    assert "position 30" in out["liveError"] and out["liveInvalid"] == "true", out["liveError"]
    assert f"{upn} would match" not in out["livePreview"] and "The rule is valid." in out["livePreview"], out["livePreview"]
    assert out["liveUrl"].endswith("/admin/dynamic-groups/new"), out["liveUrl"]
    assert out["nojsStatus"] == 400 and "position 30" in out["nojsError"], (out["nojsStatus"], out["nojsError"])
    for b in out["blades"]:
        assert b["violations"] == [], b
        assert b["overflow"] <= 0, f"{b['name']} scrolls sideways at {b['width']} px"
    status = {b["name"]: b["status"] for b in out["blades"]}
    assert status.pop("dynamic-rule-error") == 400 and status.pop("custom-role-error") == 400, out["blades"]
    assert set(status.values()) == {200}, status
    assert "position 30" in out["badRule"] and "shoeSize" in out["keptRule"], (out["badRule"], out["keptRule"])
    assert f"{upn} would match" in out["preview"], out["preview"]
    assert out["groupName"] in out["created"]
    assert "remove 1 member" in out["diff"] and upn in out["leavers"], (out["diff"], out["leavers"])
    gid = out["groupUrl"].rstrip("/").rsplit("/", 1)[1]
    members = graph.get(f"/groups/{gid}/members").json()["value"]
    assert [m["id"] for m in members] == [uid]
    g = graph.get(f"/groups/{gid}").json()
    assert g["membershipRule"] == f'user.department -eq "{dept}"', g
    assert "created" in out["unitCreated"] and upn in out["memberAdded"] and "scoped" in out["roleAssigned"]
    assert "User Administrator" in out["unitRoles"] and upn in out["unitRoles"], out["unitRoles"]
    auid = out["unitUrl"].rstrip("/").rsplit("/", 1)[1]
    asg = graph.get("/roleManagement/directory/roleAssignments", params={"$filter": f"principalId eq '{uid}'"}).json()["value"]
    assert [a["directoryScopeId"] for a in asg] == [f"/administrativeUnits/{auid}"], asg
    assert "is not a resource action" in out["roleError"] and out["keptName"] == out["roleName"], out["roleError"]
    assert out["roleName"] in out["roleCreated"] and "deleted" in out["roleDeleted"]
    defs = graph.get("/roleManagement/directory/roleDefinitions").json()["value"]
    assert not [d for d in defs if d["displayName"] == out["roleName"]]
    assert os.path.exists(os.path.join(shots, "dynamic-rule-diff-390.png"))
