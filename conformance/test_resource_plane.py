"""The resource plane with the real clients: ARM role assignments decide what tokens may touch in
the sample blob data plane, directory roles do not; managed identities (App Service variables and
the IMDS agent, system- and user-assigned) and azure-identity's credentials get the tokens."""
import base64
import os
import socket
import subprocess
import time
import uuid

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (CertificateCredential, ClientSecretCredential, CredentialUnavailableError,
                            DefaultAzureCredential, ManagedIdentityCredential)

from test_certificate import make_cert

# MSAL Python's ROPC asks https://{host}/common/userrealm first and drops the port (see test_ropc).
msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")

API = "api-version=2022-04-01"
STORAGE = "https://storage.azure.com/.default"
ARM = "https://management.azure.com/.default"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
MI_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
MI_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "MSI_ENDPOINT",
          "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE")


@pytest.fixture
def clean_env(monkeypatch):
    for k in MI_ENV + ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


class Arm:
    def __init__(self, demo, token):
        self.base = demo["arm_url"]
        self.h = {"Authorization": f"Bearer {token}"}

    def url(self, path):
        return f"{self.base}{path}{'&' if '?' in path else '?'}{API}"

    def get(self, path):
        return requests.get(self.url(path), headers=self.h)

    def put(self, path, body):
        return requests.put(self.url(path), headers=self.h, json=body)

    def post(self, path, body=None):
        return requests.post(self.url(path), headers=self.h, json=body or {})

    def delete(self, path):
        return requests.delete(self.url(path), headers=self.h)

    def assign(self, scope, principal, role, **props):
        name = str(uuid.uuid4())
        r = self.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", {"properties": {
            "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{role}", "principalId": principal, **props}})
        return r, name


def app_token(demo, scope, client=None):
    c = client or demo["confidential_client"]
    app = msal.ConfidentialClientApplication(c["app_id"], client_credential=c["secret"], authority=demo["authority"],
                                             instance_discovery=False)
    r = app.acquire_token_for_client(scopes=[scope])
    assert "access_token" in r, r
    return r["access_token"]


def user_token(demo, upn, password, scope):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    r = app.acquire_token_by_username_password(upn, password, scopes=[scope])
    assert "access_token" in r, r
    return r["access_token"]


@pytest.fixture(scope="module")
def owner(demo):
    """ARM as the demo confidential client, Owner of the demo subscription."""
    return Arm(demo, app_token(demo, ARM))


def read_blob(demo, token, url=None):
    return requests.get(url or demo["storage"]["blob_url"], headers={"Authorization": f"Bearer {token}"})


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_the_two_planes_stay_apart(demo, graph, owner, new_user):
    """Global Administrator → 403; a directory role does not help; Storage Blob Data Reader on the
    container does; elevate access gives User Access Administrator at '/', which manages access but
    reads no data, and is audited and removable."""
    upn, pw, uid = new_user()
    # A Global Administrator (the directory's strongest role) reading a blob: 403.
    r = graph.post("/roleManagement/directory/roleAssignments",
                   {"principalId": uid, "roleDefinitionId": GLOBAL_ADMIN, "directoryScopeId": "/"})
    assert r.status_code == 201, r.text
    tok = user_token(demo, upn, pw, STORAGE)
    assert GLOBAL_ADMIN in claims(tok)["wids"]
    r = read_blob(demo, tok)
    assert r.status_code == 403, r.text
    assert r.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    assert "no role assignment" in r.text
    # ARM also refuses: no resource access at all until elevated.
    me = Arm(demo, user_token(demo, upn, pw, ARM))
    assert me.get("/subscriptions").json()["value"] == []
    r = me.get(f"{demo['subscription_scope']}/resourcegroups")
    assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed", r.text
    assert f"with object id '{uid}'" in r.json()["error"]["message"]
    # Another directory role does not help either.
    r = graph.post("/roleManagement/directory/roleAssignments",
                   {"principalId": uid, "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1", "directoryScopeId": "/"})
    assert r.status_code == 201, r.text
    assert read_blob(demo, user_token(demo, upn, pw, STORAGE)).status_code == 403
    # Elevate access: User Access Administrator at '/', visible and audited …
    r = me.post("/providers/Microsoft.Authorization/elevateAccess")
    assert r.status_code == 200, r.text
    root = me.get("/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()").json()["value"]
    mine = [a for a in root if a["properties"]["principalId"] == uid and a["properties"]["scope"] == "/"]
    assert len(mine) == 1 and mine[0]["properties"]["roleDefinitionId"].endswith("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9")
    assert [s["subscriptionId"] for s in me.get("/subscriptions").json()["value"]] == [demo["subscription_id"]]
    audits = graph.get("/auditLogs/directoryAudits", params={"$filter": "category eq 'AzureRBAC'"}).json()["value"]
    assert any("ELEVATED ACCESS" in a["activityDisplayName"] and a["initiatedBy"]["user"]["id"] == uid for a in audits), audits[:3]
    # … which manages access but holds no DataActions: the blob is still refused …
    r = read_blob(demo, tok)
    assert r.status_code == 403 and "User Access Administrator at '/'" in r.text, r.text
    # … and can be removed.
    r = me.delete(f"/providers/Microsoft.Authorization/roleAssignments/{mine[0]['name']}")
    assert r.status_code == 200, r.text
    assert me.get("/subscriptions").json()["value"] == []
    # A Storage Blob Data Reader assignment at the container does it (the same token even: RBAC
    # is decided per request, not baked into the token).
    r, name = owner.assign(demo["storage"]["container_scope"], uid, BLOB_READER, principalType="User")
    assert r.status_code == 201, r.text
    r = read_blob(demo, tok)
    assert r.status_code == 200 and r.text.startswith("Hello from Castellan"), r.text
    # Non-administrators cannot elevate.
    alex = Arm(demo, user_token(demo, demo["user"]["upn"], demo["user"]["password"], ARM))
    r = alex.post("/providers/Microsoft.Authorization/elevateAccess")
    assert r.status_code == 403 and "Global Administrator" in r.json()["error"]["message"]
    owner.delete(f"{demo['storage']['container_scope']}/providers/Microsoft.Authorization/roleAssignments/{name}")


def test_authorization_failed_explains_the_nearest_assignment(demo, owner):
    # The Owner confidential client reads no blob data: control-plane only.
    r = read_blob(demo, app_token(demo, STORAGE))
    assert r.status_code == 403
    assert "Owner at" in r.text and "control-plane only, no DataActions" in r.text, r.text


def test_role_assignment_api_validates_and_filters(demo, owner, new_user, graph):
    upn, pw, uid = new_user()
    scope = demo["resource_group_scope"]
    bad = [
        ({"properties": {"principalId": uid}}, 400, "InvalidRequestContent"),
        ({"properties": {"principalId": uid, "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/" + str(uuid.uuid4())}}, 404, "RoleDefinitionDoesNotExist"),
        ({"properties": {"principalId": str(uuid.uuid4()), "roleDefinitionId": BLOB_READER}}, 400, "PrincipalNotFound"),
        ({"properties": {"principalId": uid, "roleDefinitionId": BLOB_READER, "principalType": "Group"}}, 400, "UnmatchedPrincipalType"),
        ({"properties": {"principalId": uid, "roleDefinitionId": BLOB_READER, "condition": "@Resource[x] StringSoundsLike 'y'"}}, 400, "InvalidCondition"),
    ]
    for body, status, code in bad:
        r = owner.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}", body)
        assert r.status_code == status and r.json()["error"]["code"] == code, (body, r.text)
    assert owner.get(f"{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{uid}'").json()["value"] == []
    r, name = owner.assign(scope, uid, BLOB_READER)
    assert r.status_code == 201 and r.json()["properties"]["principalType"] == "User"
    again = owner.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", {"properties": {"principalId": uid, "roleDefinitionId": BLOB_READER}})
    assert again.status_code == 200  # identical PUT is idempotent
    dup, _ = owner.assign(scope, uid, BLOB_READER)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "RoleAssignmentExists"
    # Filters: atScope() at the container sees the resource group's; principalId; assignedTo()
    # follows groups.
    at = owner.get(f"{demo['storage']['container_scope']}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()").json()["value"]
    assert any(a["name"] == name for a in at)
    below = owner.get(f"{demo['storage']['container_scope']}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()").json()["value"]
    assert all(not a["properties"]["scope"].lower().startswith(demo["storage"]["container_scope"].lower() + "/") for a in below)
    g = graph.post("/groups", {"displayName": f"rbac-{uid[:8]}", "mailEnabled": False, "mailNickname": f"rbac{uid[:8]}", "securityEnabled": True}).json()
    assert graph.post(f"/groups/{g['id']}/members/$ref", {"@odata.id": f"{demo['graph_url']}/directoryObjects/{uid}"}).status_code == 204
    r, gname = owner.assign(demo["storage"]["container_scope"], g["id"], BLOB_CONTRIBUTOR, principalType="Group")
    assert r.status_code == 201, r.text
    own = owner.get(f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{uid}'").json()["value"]
    assert [a["name"] for a in own] == [name]
    mine = owner.get(f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('{uid}')").json()["value"]
    assert sorted(a["name"] for a in mine) == sorted([name, gname])
    # Through the group, the user can now write a blob (Contributor) and read it back.
    tok = user_token(demo, upn, pw, STORAGE)
    url = demo["storage"]["blob_url"].replace("hello.txt", f"notes/{uid}.txt")
    w = requests.put(url, data=b"written through a group assignment", headers={"Authorization": f"Bearer {tok}"})
    assert w.status_code == 201, w.text
    assert read_blob(demo, tok, url).content == b"written through a group assignment"
    # Writing requires roleAssignments/write: the user (Blob Data Contributor) cannot assign.
    me = Arm(demo, user_token(demo, upn, pw, ARM))
    r, _ = me.assign(demo["storage"]["container_scope"], uid, BLOB_CONTRIBUTOR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.Authorization/roleAssignments/write" in r.json()["error"]["message"]
    # Delete; a second delete is 204.
    assert owner.delete(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}").status_code == 200
    assert owner.delete(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}").status_code == 204


def test_abac_condition_limits_a_reader_to_one_container(demo, owner, new_user):
    upn, pw, uid = new_user()
    cond = ("((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR "
            "(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'docs'))")
    r, name = owner.assign(demo["storage"]["account_scope"], uid, BLOB_READER, condition=cond, conditionVersion="2.0")
    assert r.status_code == 201 and r.json()["properties"]["condition"] == cond, r.text
    other_container = demo["storage"]["account_scope"] + "/blobServices/default/containers/archive"
    assert owner.put(other_container, {}).status_code == 201
    tok = user_token(demo, upn, pw, STORAGE)
    assert read_blob(demo, tok).status_code == 200
    r = read_blob(demo, tok, demo["storage"]["blob_url"].replace("/docs/", "/archive/"))
    assert r.status_code == 403 and "condition does not hold" in r.text, r.text


def test_custom_roles_and_assignable_scopes(demo, owner, new_user):
    upn, pw, uid = new_user()
    rid = str(uuid.uuid4())
    body = {"properties": {"roleName": f"Blob Peeker {rid[:6]}", "description": "reads blobs",
                           "assignableScopes": [demo["resource_group_scope"]],
                           "permissions": [{"actions": [], "dataActions": ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]}]}}
    r = owner.put(f"{demo['resource_group_scope']}/providers/Microsoft.Authorization/roleDefinitions/{rid}", body)
    assert r.status_code == 201, r.text
    found = owner.get(f"{demo['resource_group_scope']}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq '{body['properties']['roleName']}'").json()["value"]
    assert [d["name"] for d in found] == [rid] and found[0]["properties"]["type"] == "CustomRole"
    # Not assignable outside its scopes (the subscription is above the resource group).
    r, _ = owner.assign(demo["subscription_scope"], uid, rid)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRoleAssignmentScope", r.text
    r, name = owner.assign(demo["storage"]["container_scope"], uid, rid)
    assert r.status_code == 201, r.text
    assert read_blob(demo, user_token(demo, upn, pw, STORAGE)).status_code == 200
    # Cannot be deleted while assigned.
    d = owner.delete(f"{demo['resource_group_scope']}/providers/Microsoft.Authorization/roleDefinitions/{rid}")
    assert d.status_code == 400 and d.json()["error"]["code"] == "RoleDefinitionHasAssignments"
    bad = dict(body)
    bad["properties"] = dict(body["properties"], roleName="Owner")
    r = owner.put(f"{demo['resource_group_scope']}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}", bad)
    assert r.status_code == 409


def test_permissions_and_check_access(demo, owner):
    perms = owner.get(f"{demo['resource_group_scope']}/providers/Microsoft.Authorization/permissions").json()["value"]
    assert {"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []} in perms
    sp = demo["web_app"]["principal_id"]
    r = owner.post(f"{demo['storage']['container_scope']}/blobs/hello.txt/providers/Microsoft.Authorization/checkAccess",
                   {"subject": {"principalId": sp}, "actions": [
                       {"id": "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", "isDataAction": True},
                       {"id": "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", "isDataAction": True}]})
    assert r.status_code == 200, r.text
    read, write = r.json()["value"]
    assert read["accessDecision"] == "Allowed" and "Storage Blob Data Reader" in read["reason"]
    assert write["accessDecision"] == "NotAllowed" and "Storage Blob Data Reader" in write["reason"]


def test_hierarchy_crud_and_cascading_delete(demo, owner, new_user):
    upn, pw, uid = new_user()
    rg = f"{demo['subscription_scope']}/resourceGroups/tmp-{uid[:8]}"
    assert owner.put(rg, {"location": "northeurope", "tags": {"team": "a"}}).status_code == 201
    acct = f"{rg}/providers/Microsoft.Storage/storageAccounts/tmp{uid[:8]}"
    assert owner.put(acct, {"location": "northeurope"}).status_code == 201
    assert owner.put(f"{rg}/providers/Microsoft.Storage/storageAccounts", {}).json()["error"]["code"] == "InvalidResourceId"
    assert owner.put(f"{demo['subscription_scope']}/resourceGroups/missing/providers/Microsoft.Storage/storageAccounts/x", {}).json()["error"]["code"] == "ResourceGroupNotFound"
    r = requests.get(f"{demo['arm_url']}{rg}", headers=owner.h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    listed = [x["id"] for x in owner.get(f"{rg}/resources").json()["value"]]
    assert acct in listed
    r, _ = owner.assign(acct, uid, BLOB_READER)
    assert r.status_code == 201
    assert owner.delete(rg).status_code == 200
    assert owner.get(acct).status_code == 404
    left = owner.get(f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{uid}'").json()["value"]
    assert left == []


# ---- Credentials -------------------------------------------------------------------------------

def test_client_secret_credential_token_used_against_the_blob_store(demo, owner, graph):
    # A new app: no access until RBAC says so.
    app = graph.post("/applications", {"displayName": "rbac secret app"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "t"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    cred = ClientSecretCredential(demo["tenant_id"], app["appId"], secret, authority=demo["origin"], disable_instance_discovery=True)
    tok = cred.get_token(STORAGE).token
    assert read_blob(demo, tok).status_code == 403
    r, _ = owner.assign(demo["storage"]["account_scope"], sp["id"], BLOB_READER, principalType="ServicePrincipal")
    assert r.status_code == 201, r.text
    assert read_blob(demo, tok).status_code == 200


def test_certificate_credential_token_used_against_the_blob_store(demo, owner, graph):
    pem_key, pem_cert, der, _ = make_cert("rbac-cert")
    app = graph.post("/applications", {"displayName": "rbac cert app"}).json()
    assert graph.patch(f"/applications/{app['id']}", {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode()}]}).status_code == 204
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    r, _ = owner.assign(demo["storage"]["container_scope"], sp["id"], BLOB_READER)
    assert r.status_code == 201, r.text
    cred = CertificateCredential(demo["tenant_id"], app["appId"], certificate_data=(pem_key + pem_cert).encode(),
                                 authority=demo["origin"], disable_instance_discovery=True)
    tok = cred.get_token(STORAGE).token
    assert claims(tok)["oid"] == sp["id"]
    assert read_blob(demo, tok).status_code == 200


def test_managed_identity_app_service_system_assigned(demo, clean_env):
    for k, v in demo["web_app"]["env"].items():
        clean_env.setenv(k, v)
    tok = ManagedIdentityCredential().get_token(STORAGE)
    c = claims(tok.token)
    assert c["oid"] == demo["web_app"]["principal_id"] and c["xms_mirid"] == demo["web_app"]["resource_id"]
    assert c["idtyp"] == "app" and c["tid"] == demo["tenant_id"]
    assert read_blob(demo, tok.token).status_code == 200
    # The same process may not read what the identity was not granted: ARM control plane.
    arm_tok = ManagedIdentityCredential().get_token(ARM).token
    r = Arm(demo, arm_tok).get(demo["resource_group_scope"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed"
    # A forged or stale header is refused and the SDK reports it.
    clean_env.setenv("IDENTITY_HEADER", demo["web_app"]["env"]["IDENTITY_HEADER"][:-4] + "AAAA")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(STORAGE)


def test_managed_identity_with_a_role_on_one_container_finds_its_subscription(demo, clean_env):
    """`az login --identity` for a workload whose only role is Storage Blob Data Reader on one
    container: GET /subscriptions lists the subscription (a role below it is enough); the
    resource group stays unreadable and HEAD says so."""
    for k, v in demo["web_app"]["env"].items():
        clean_env.setenv(k, v)
    mi = Arm(demo, ManagedIdentityCredential().get_token(ARM).token)
    subs = mi.get("/subscriptions").json()["value"]
    assert [s["subscriptionId"] for s in subs] == [demo["subscription_id"]]
    assert subs[0]["tenantId"] == demo["tenant_id"]
    assert mi.get(demo["subscription_scope"]).status_code == 200
    assert requests.head(mi.url(demo["resource_group_scope"]), headers=mi.h).status_code == 403
    assert mi.get(f"{demo['subscription_scope']}/resourcegroups").json()["value"] == []


@pytest.fixture(scope="module")
def uami(demo, owner):
    """A user-assigned identity attached to the web app, with Blob Data Contributor on the container."""
    rg = demo["resource_group_scope"]
    ident = f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/conformance-uami"
    r = owner.put(ident, {"location": "westeurope"})
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    web = owner.get(demo["web_app"]["resource_id"]).json()
    r = owner.put(demo["web_app"]["resource_id"], {"location": web["location"], "identity": {
        "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {ident: {}}}})
    assert r.status_code == 200, r.text
    ua = r.json()["identity"]["userAssignedIdentities"][ident]
    assert ua["clientId"] == props["clientId"] and r.json()["identity"]["principalId"] == demo["web_app"]["principal_id"]
    r, _ = owner.assign(demo["storage"]["container_scope"], props["principalId"], BLOB_CONTRIBUTOR, principalType="ServicePrincipal")
    assert r.status_code == 201, r.text
    return {"id": ident, "client_id": props["clientId"], "principal_id": props["principalId"]}


def test_managed_identity_app_service_user_assigned(demo, uami, clean_env):
    for k, v in demo["web_app"]["env"].items():
        clean_env.setenv(k, v)
    tok = ManagedIdentityCredential(client_id=uami["client_id"]).get_token(STORAGE).token
    assert claims(tok)["oid"] == uami["principal_id"] and claims(tok)["xms_mirid"] == uami["id"]
    url = demo["storage"]["blob_url"].replace("hello.txt", "from-uami.txt")
    assert requests.put(url, data=b"uami", headers={"Authorization": f"Bearer {tok}"}).status_code == 201
    for key, value in (("resource_id", uami["id"]), ("object_id", uami["principal_id"])):
        picked = ManagedIdentityCredential(identity_config={key: value}).get_token(STORAGE).token
        assert claims(picked)["oid"] == uami["principal_id"], key
    # The system-assigned identity (Reader) cannot write.
    sys_tok = ManagedIdentityCredential().get_token(STORAGE).token
    assert requests.put(url, data=b"x", headers={"Authorization": f"Bearer {sys_tok}"}).status_code == 403
    # An identity that is not attached.
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id=str(uuid.uuid4())).get_token(STORAGE)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def imds(server, demo, uami):
    """`castellan imds --resource <web app>` on a loopback port."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in MI_ENV}
    env["CASTELLAN_DEMO_FILE"] = os.path.join(server.dir, "demo.json")
    log = open(os.path.join(server.dir, "imds.log"), "w")
    p = subprocess.Popen([os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan"),
                          "imds", "--resource", demo["web_app"]["resource_id"], "--listen", f"127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            requests.get(url + "/metadata/identity/oauth2/token", timeout=1)
            break
        except requests.RequestException:
            if p.poll() is not None or time.time() > deadline:
                log.flush()
                raise RuntimeError(open(os.path.join(server.dir, "imds.log")).read())
            time.sleep(0.2)
    yield url
    p.terminate()
    p.wait(timeout=10)
    log.close()


def test_imds_agent_shapes(imds):
    probe = requests.get(imds + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/")
    assert probe.status_code == 400 and probe.json()["error"] == "bad_request_102"
    r = requests.get(imds + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/",
                     headers={"Metadata": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resource"] == "https://storage.azure.com/" and body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], str) and int(body["expires_in"]) > 0 and body["refresh_token"] == ""
    none = requests.get(imds + f"/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/&client_id={uuid.uuid4()}",
                        headers={"Metadata": "true"})
    assert none.status_code == 400 and "Identity not found" in none.json()["error_description"]


def test_managed_identity_through_imds(demo, imds, uami, clean_env):
    clean_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds)
    tok = ManagedIdentityCredential().get_token(STORAGE).token
    assert claims(tok)["oid"] == demo["web_app"]["principal_id"]
    assert read_blob(demo, tok).status_code == 200
    ua = ManagedIdentityCredential(client_id=uami["client_id"]).get_token(STORAGE).token
    assert claims(ua)["oid"] == uami["principal_id"]
    # 400 from IMDS = "no such identity here": the SDK says the credential is unavailable.
    with pytest.raises(CredentialUnavailableError):
        ManagedIdentityCredential(client_id=str(uuid.uuid4())).get_token(STORAGE)


def test_default_azure_credential_picks_the_managed_identity(demo, clean_env):
    for k, v in demo["web_app"]["env"].items():
        clean_env.setenv(k, v)
    cred = DefaultAzureCredential(exclude_interactive_browser_credential=True, exclude_cli_credential=True,
                                  exclude_powershell_credential=True, exclude_developer_cli_credential=True,
                                  exclude_visual_studio_code_credential=True)
    tok = cred.get_token(STORAGE).token
    assert claims(tok)["oid"] == demo["web_app"]["principal_id"]
    assert read_blob(demo, tok).status_code == 200


def test_azure_mgmt_authorization_creates_and_lists_assignments(demo, new_user):
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
    upn, pw, uid = new_user()
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"], demo["confidential_client"]["secret"],
                                  authority=demo["origin"], disable_instance_discovery=True)
    client = AuthorizationManagementClient(cred, demo["subscription_id"], base_url=demo["arm_url"], credential_scopes=[ARM])
    reader = next(iter(client.role_definitions.list(demo["subscription_scope"], filter="roleName eq 'Storage Blob Data Reader'")))
    assert reader.name == BLOB_READER
    name = str(uuid.uuid4())
    created = client.role_assignments.create(demo["storage"]["container_scope"], name, RoleAssignmentCreateParameters(
        role_definition_id=reader.id, principal_id=uid, principal_type="User"))
    assert created.name == name and created.principal_id == uid
    listed = list(client.role_assignments.list_for_scope(demo["subscription_scope"], filter=f"assignedTo('{uid}')"))
    assert [a.name for a in listed] == [name]
    assert read_blob(demo, user_token(demo, upn, pw, STORAGE)).status_code == 200
    client.role_assignments.delete(demo["storage"]["container_scope"], name)
    assert list(client.role_assignments.list_for_scope(demo["subscription_scope"], filter=f"assignedTo('{uid}')")) == []


def test_azure_mgmt_authorization_role_ids_compare_as_the_cli_does(demo, owner, graph):
    """What `az ad sp create-for-rbac --scopes <rg>`, `az login` as it and `az role assignment
    create/list --role Reader` do through the SDK: role definition ids in the subscription-qualified
    form compare equal with assignments' roleDefinitionId; a repeated create is Azure's 409 whose
    message names the existing assignment; the principal then sees its subscription, the group
    exists (HEAD) and the subscription's locations list."""
    import re
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"], demo["confidential_client"]["secret"],
                                  authority=demo["origin"], disable_instance_discovery=True)
    client = AuthorizationManagementClient(cred, demo["subscription_id"], base_url=demo["arm_url"], credential_scopes=[ARM])
    rg = demo["resource_group_scope"]
    reader = next(iter(client.role_definitions.list(rg, filter="roleName eq 'Reader'")))
    assert reader.id == f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    app = graph.post("/applications", {"displayName": "rbac cli-style app"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "t"}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    sp_arm = Arm(demo, ClientSecretCredential(demo["tenant_id"], app["appId"], secret, authority=demo["origin"],
                                              disable_instance_discovery=True).get_token(ARM).token)
    assert demo["subscription_id"] not in [s["subscriptionId"] for s in sp_arm.get("/subscriptions").json()["value"]]
    name = str(uuid.uuid4())
    params = RoleAssignmentCreateParameters(role_definition_id=reader.id, principal_id=sp["id"], principal_type="ServicePrincipal")
    created = client.role_assignments.create(rg, name, params)
    assert created.role_definition_id == reader.id
    listed = [a.name for a in client.role_assignments.list_for_scope(rg) if a.role_definition_id.lower() == reader.id.lower()]
    assert name in listed
    with pytest.raises(HttpResponseError) as e:
        client.role_assignments.create(rg, str(uuid.uuid4()), params)
    assert e.value.status_code == 409 and e.value.error.code == "RoleAssignmentExists"
    assert re.search(r"The ID of the existing role assignment is (\w+)\.", e.value.message).group(1) == name.replace("-", "")
    # Signed in as the principal: its subscription is found, its group exists, the locations list.
    assert [s["subscriptionId"] for s in sp_arm.get("/subscriptions").json()["value"]] == [demo["subscription_id"]]
    assert requests.head(sp_arm.url(rg), headers=sp_arm.h).status_code == 204
    assert requests.head(sp_arm.url(f"{demo['subscription_scope']}/resourceGroups/no-such-group"), headers=owner.h).status_code == 404
    locations = [x["name"] for x in sp_arm.get(f"{demo['subscription_scope']}/locations").json()["value"]]
    assert "westeurope" in locations and "northeurope" in locations
    bad = sp_arm.get(f"{rg}/resources?$filter=provisioningState eq 'Succeeded'")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidFilterInQueryString"
    client.role_assignments.delete(rg, name)
    assert demo["subscription_id"] not in [s["subscriptionId"] for s in sp_arm.get("/subscriptions").json()["value"]]
