"""B2B guests of an external OpenID Connect provider with real, independent software: panva's
oidc-provider (npm, pinned in conformance/node) runs as its own Node process over HTTPS (the
test CA the suite server trusts through CASTELLAN_EXTRA_CA_FILE) and is configured through
Graph's /identity/identityProviders; headless Chromium redeems an invitation through the
provider's own login and consent pages and then signs in to the resource tenant's app, and
MSAL Python redeems the code: the tokens come from the resource tenant (tid), with idp = the
provider's issuer and acct = 1. Then a /common sign-in in Chromium by a member of the second
tenant who is a guest of the demo tenant: the tenant picker, the demo tenant chosen, the home
tenant's own sign-in, and MSAL's tokens from the demo tenant."""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from urllib.parse import parse_qs, urlparse

import jwt
import msal
import pytest
import requests

from test_node import HERE, run

CLIENT_ID = "castellan-conformance"
CLIENT_SECRET = "op-secret-" + uuid.uuid4().hex


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def op(issuer_pki, demo):
    node = shutil.which("node")
    assert node, "node is not installed (Debian nodejs is required)"
    assert os.path.isdir(os.path.join(HERE, "node_modules", "oidc-provider")), "run conformance/run.sh: it installs conformance/node's npm packages (oidc-provider)"
    port = _free_port()
    args = {"port": port, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "redirect_uri": f"{demo['origin']}/redeem/external/callback",
            "key": issuer_pki["key"], "cert": issuer_pki["cert"]}
    p = subprocess.Popen([node, "oidc_op.mjs", json.dumps(args)], cwd=HERE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("{"), f"oidc_op.mjs did not start: {line}{p.stderr.read() if p.poll() is not None else ''}"
    issuer = json.loads(line)["issuer"]
    r = requests.get(f"{issuer}/.well-known/openid-configuration", verify=issuer_pki["ca"])
    assert r.status_code == 200 and r.json()["issuer"] == issuer, r.text
    yield issuer
    p.terminate()
    p.wait(timeout=10)


@pytest.fixture(scope="module")
def idp_admin(demo, graph):
    """A Graph client holding IdentityProvider.ReadWrite.All (the demo client does not)."""
    app = graph.post("/applications", {"displayName": f"idp-admin-{uuid.uuid4().hex[:6]}"}).json()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {}).json()["secretText"]
    g = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    role = next(r for r in g["appRoles"] if r["value"] == "IdentityProvider.ReadWrite.All")
    r = graph.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments",
                   {"principalId": sp["id"], "resourceId": g["id"], "appRoleId": role["id"]})
    assert r.status_code == 201, r.text
    c = msal.ConfidentialClientApplication(app["appId"], client_credential=secret, authority=demo["authority"],
                                           instance_discovery=False)
    t = c.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in t, t
    h = {"Authorization": f"Bearer {t['access_token']}"}

    class G:
        def post(self, path, body):
            return requests.post(demo["graph_url"] + path, headers=h, json=body)

        def get(self, path):
            return requests.get(demo["graph_url"] + path, headers=h)

        def delete(self, path):
            return requests.delete(demo["graph_url"] + path, headers=h)
    return G()


def test_a_guest_of_oidc_provider_redeems_and_signs_in_with_idp_and_acct(demo, graph, op, idp_admin, sign_ins):
    domain = f"op{uuid.uuid4().hex[:6]}.conformance.test"
    r = idp_admin.post("/identity/identityProviders", {
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": f"Partner OP {domain}",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "issuer": op,
        "metadataUrl": f"{op}/.well-known/openid-configuration",
        "scope": "openid profile email",
        "responseType": "code",
        "claimsMapping": {"userId": "sub", "email": "email", "displayName": "name"},
        "domains": [{"id": domain}],
    })
    assert r.status_code == 201, r.text
    provider = r.json()
    assert provider["clientSecret"] == "****" and CLIENT_SECRET not in r.text
    listed = idp_admin.get("/identity/identityProviders")
    assert listed.status_code == 200 and CLIENT_SECRET not in listed.text

    email = f"pat@{domain}"
    redirect = f"{demo['origin']}/readyz"
    inv = graph.post("/invitations", {"invitedUserEmailAddress": email, "inviteRedirectUrl": redirect})
    assert inv.status_code == 201, inv.text
    inv = inv.json()
    guest_id = inv["invitedUser"]["id"]

    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"],
                                             authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    out = run("external_idp.mjs", {"url": inv["inviteRedeemUrl"], "issuer": op, "email": email,
                                   "redirect": redirect, "signin": flow["auth_uri"],
                                   "app_redirect": cc["redirect_uri"]}, timeout=180)
    assert "Sign in with Partner OP" in out["landing"], out
    assert out["providerUrl"].startswith(op), out
    assert "Review permissions" in out["consent"], out
    assert out["redeemed"].startswith(redirect), out
    assert out["viaProvider"], "home-realm discovery did not send the guest to the provider"
    assert out["hrd"].startswith(op) or out["hrd"].startswith(cc["redirect_uri"]), \
        f"after the resource sign-in page: {out['hrd']}; page: {(out.get('last') or '')[:1500]}"
    assert out["landed"], f"{out['hrd']}; page: {(out.get('last') or '')[:1500]}"

    u = graph.get(f"/users/{guest_id}").json()
    assert u["externalUserState"] == "Accepted", u
    assert any(i["signInType"] == "federated" and i["issuer"] == op and i["issuerAssignedId"] == email
               for i in u["identities"]), u

    params = {k: v[0] for k, v in parse_qs(urlparse(out["landed"]).query).items()}
    t = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in t, t
    idc = t["id_token_claims"]
    assert idc["tid"] == demo["tenant_id"] and idc["oid"] == guest_id, idc
    assert idc["idp"] == op and idc["acct"] == 1, idc
    at = jwt.decode(t["access_token"], options={"verify_signature": False})
    assert at["tid"] == demo["tenant_id"] and at["idp"] == op and at["acct"] == 1, at

    rows = [r for r in sign_ins(f"userId eq '{guest_id}'") if r["status"]["errorCode"] == 0]
    assert rows, "no successful sign-in of the guest in the log"
    assert rows[0]["userType"] == "guest" and rows[0]["homeTenantName"] == op, rows[0]
    assert idp_admin.delete(f"/identity/identityProviders/{provider['id']}").status_code == 204


def test_common_sign_in_offers_the_tenant_choice_and_msal_gets_the_chosen_tenants_tokens(demo, graph):
    home = demo["second_tenant"]
    upn, pw = home["user"]["upn"], home["user"]["password"]
    users = graph.get("/users", params={"$filter": f"mail eq '{upn}'"}).json()["value"]
    if not users or users[0]["externalUserState"] != "Accepted":
        redirect = f"{demo['origin']}/readyz"
        inv = graph.post("/invitations", {"invitedUserEmailAddress": upn, "inviteRedirectUrl": redirect}).json()
        run("redeem.mjs", {"url": inv["inviteRedeemUrl"], "upn": upn, "password": pw, "redirect": redirect},
            timeout=120)
        users = graph.get("/users", params={"$filter": f"mail eq '{upn}'"}).json()["value"]
    guest_id = users[0]["id"]
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"],
                                             authority=f"{demo['origin']}/common", instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    out = run("common_pick.mjs", {"url": flow["auth_uri"], "upn": upn, "password": pw,
                                  "choose": demo["tenant_id"], "home": home["tenant_id"],
                                  "redirect": cc["redirect_uri"]}, timeout=120)
    assert "Choose an organization" in out["picker"], out
    values = [o["value"] for o in out["options"]]
    assert values[0] == home["tenant_id"] and out["options"][0]["checked"], out
    assert demo["tenant_id"] in values, out
    assert f"/{home['tenant_id']}/oauth2/v2.0/authorize" in out["homeLogin"], out
    assert out["landed"], out
    params = {k: v[0] for k, v in parse_qs(urlparse(out["landed"]).query).items()}
    t = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in t, t
    idc = t["id_token_claims"]
    assert idc["tid"] == demo["tenant_id"] and idc["oid"] == guest_id, idc
    assert idc["acct"] == 1 and idc["idp"] == f"https://sts.windows.net/{home['tenant_id']}/", idc
