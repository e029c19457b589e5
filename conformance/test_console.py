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
