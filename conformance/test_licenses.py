"""Licences through the stock Python Graph SDK (msgraph-sdk) and the `castellan` CLI, on a
server of this module's own (the units and the tier are tenant-wide): `subscribed_skus.get()`
with Microsoft's SKU and service-plan ids; `users.by_user_id(id).assign_license.post()` refused
without a usageLocation (Graph's 400 and message), then accepted; `license_details`;
group-based licensing (`groups.by_group_id(id).assign_license`) reaching a direct member with
`assignedByGroup` and leaving with the membership; past the prepaid units a member's state is
Error / CountViolation and a new direct assignment is refused naming the SKU; units set to 0
(`castellan tenant license set`) make the tenant Free, Conditional Access is refused naming
AAD_PREMIUM while sign-in keeps working, and P1 units allow it again."""
import asyncio
import os
import subprocess
import uuid

import msal
import msal.authority
import pytest
from azure.identity import ClientSecretCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.groups.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody as GroupAssignBody,
)
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from conftest import BIN, Graph, Server

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")

P1 = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4"
P2 = "84a661c4-e949-4bd2-a560-ed7766fcaf2b"
LOOP = asyncio.new_event_loop()


def _run(coro):
    return LOOP.run_until_complete(coro)


@pytest.fixture(scope="module")
def own():
    s = Server()
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = s.ca
    os.environ["SSL_CERT_FILE"] = s.ca
    yield s
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    s.stop()


def _client(demo):
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"],
                                  demo["confidential_client"]["secret"], authority=demo["origin"],
                                  disable_instance_discovery=True)
    client = GraphServiceClient(credentials=cred, scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = demo["graph_url"]
    return client


def _raw(demo):
    app = msal.ConfidentialClientApplication(demo["confidential_client"]["app_id"],
                                             client_credential=demo["confidential_client"]["secret"],
                                             authority=demo["authority"], instance_discovery=False)
    return Graph(demo, app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"])


def _cli(own, *args):
    env = dict(os.environ, CASTELLAN_URL=own.origin, CASTELLAN_DATA_DIR=own.dir,
               CASTELLAN_DEMO_FILE=os.path.join(own.dir, "demo.json"))
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def _user(raw, demo, location=None):
    alias = f"lic{uuid.uuid4().hex[:8]}"
    body = {"accountEnabled": True, "displayName": alias, "mailNickname": alias,
            "userPrincipalName": f"{alias}@{demo['domain']}", "passwordProfile": {"password": "Conf-Lic-Pw1!"}}
    if location:
        body["usageLocation"] = location
    r = raw.post("/users", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _add(sku):
    return AssignLicensePostRequestBody(add_licenses=[AssignedLicense(sku_id=uuid.UUID(sku), disabled_plans=[])],
                                        remove_licenses=[])


def _states(client, uid):
    q = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "assignedLicenses", "licenseAssignmentStates", "usageLocation"])
    return _run(client.users.by_user_id(uid).get(request_configuration=RequestConfiguration(query_parameters=q)))


def _member(raw, gid, uid, add=True):
    if add:
        r = raw.post(f"/groups/{gid}/members/$ref", {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}"})
    else:
        r = raw.delete(f"/groups/{gid}/members/{uid}/$ref")
    assert r.status_code == 204, r.text


def test_licences_with_the_graph_sdk_and_the_cli(own):
    demo = own.demo
    client, raw = _client(demo), _raw(demo)

    skus = _run(client.subscribed_skus.get()).value
    p2 = next(s for s in skus if str(s.sku_id) == P2)
    assert p2.sku_part_number == "AAD_PREMIUM_P2" and p2.capability_status == "Enabled"
    assert p2.prepaid_units.enabled == 100
    plans = {str(p.service_plan_id): p.service_plan_name for p in p2.service_plans}
    assert plans["eec0eb4f-6444-4f95-aba0-50c24d67f998"] == "AAD_PREMIUM_P2", plans
    assert plans["41781fb2-bc02-4b7c-bd55-b576c07bb09d"] == "AAD_PREMIUM", plans
    assert _run(client.subscribed_skus.by_subscribed_sku_id(p2.id).get()).sku_part_number == "AAD_PREMIUM_P2"

    # usageLocation first: Graph's 400 and message; nothing assigned.
    u1 = _user(raw, demo)
    with pytest.raises(APIError) as e:
        _run(client.users.by_user_id(u1).assign_license.post(_add(P2)))
    assert e.value.response_status_code == 400
    assert "invalid usage location" in str(e.value.error.message), e.value
    assert _states(client, u1).assigned_licenses == []
    _run(client.users.by_user_id(u1).patch(User(usage_location="NZ")))
    done = _run(client.users.by_user_id(u1).assign_license.post(_add(P2)))
    assert done.id == u1 and [str(a.sku_id) for a in done.assigned_licenses] == [P2]
    details = _run(client.users.by_user_id(u1).license_details.get()).value
    assert [d.sku_part_number for d in details] == ["AAD_PREMIUM_P2"]
    assert {p.provisioning_status for p in details[0].service_plans} == {"Success"}
    me = _states(client, u1)
    assert me.usage_location == "NZ" and me.license_assignment_states[0].state == "Active"
    assert me.license_assignment_states[0].assigned_by_group is None

    # Group-based licensing to direct members.
    g = raw.post("/groups", {"displayName": f"lic {uuid.uuid4().hex[:6]}", "mailEnabled": False,
                             "mailNickname": f"lic{uuid.uuid4().hex[:6]}", "securityEnabled": True})
    assert g.status_code == 201, g.text
    gid = g.json()["id"]
    u2, u3 = _user(raw, demo), _user(raw, demo)
    _member(raw, gid, u2)
    body = GroupAssignBody(add_licenses=[AssignedLicense(sku_id=uuid.UUID(P2), disabled_plans=[])], remove_licenses=[])
    grp = _run(client.groups.by_group_id(gid).assign_license.post(body))
    assert grp.id == gid and [str(a.sku_id) for a in grp.assigned_licenses] == [P2]
    st = _states(client, u2).license_assignment_states
    assert st[0].assigned_by_group == gid and st[0].state == "Active"
    assert [str(a.sku_id) for a in _states(client, u2).assigned_licenses] == [P2]
    _member(raw, gid, u2, add=False)
    assert _states(client, u2).license_assignment_states == [], "the licence leaves with the membership"

    # Over the limit: 1 unit, held by u1 (direct); u3 joins the group and is in error.
    code, out = _cli(own, "tenant", "license", "set", "--tenant", demo["tenant_id"], "--sku", "P2", "--units", "1")
    assert code == 0 and "tier P2" in out, out
    _member(raw, gid, u3)
    st = _states(client, u3).license_assignment_states
    assert (st[0].state, st[0].error) == ("Error", "CountViolation"), st
    assert _states(client, u3).assigned_licenses == []
    u4 = _user(raw, demo, "US")
    with pytest.raises(APIError) as e:
        _run(client.users.by_user_id(u4).assign_license.post(_add(P2)))
    assert e.value.response_status_code == 400
    assert "AAD_PREMIUM_P2" in e.value.error.message and "1 prepaid units" in e.value.error.message, e.value.error.message
    code, out = _cli(own, "license", "list", u3)
    assert code == 0 and "CountViolation" in out, out

    # Free: Conditional Access refused naming AAD_PREMIUM; sign-in still works; P1 allows it.
    code, out = _cli(own, "tenant", "license", "set", "--tenant", demo["tenant_id"], "--sku", "P2", "--units", "0")
    assert code == 0 and "tier Free" in out, out
    policy = {"displayName": "licence gate", "state": "disabled",
              "conditions": {"users": {"includeUsers": ["None"]}, "applications": {"includeApplications": ["All"]}},
              "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}
    r = raw.post("/identity/conditionalAccess/policies", policy)
    assert r.status_code == 403 and "AAD_PREMIUM" in r.json()["error"]["message"], r.text
    pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"],
                                       instance_discovery=False)
    tok = pub.acquire_token_by_username_password(demo["user"]["upn"], demo["user"]["password"], scopes=["User.Read"])
    assert "access_token" in tok, tok
    code, out = _cli(own, "tenant", "license", "set", "--tenant", demo["tenant_id"], "--sku", "P1", "--units", "5")
    assert code == 0 and "tier P1" in out, out
    r = raw.post("/identity/conditionalAccess/policies", policy)
    assert r.status_code == 201, r.text
    code, out = _cli(own, "license", "skus")
    assert code == 0 and "AAD_PREMIUM" in out, out
    # The CLI assigns through Graph too.
    code, out = _cli(own, "license", "assign", u4, "--sku", "P1")
    assert code == 0, out
    assert [str(a.sku_id) for a in _states(client, u4).assigned_licenses] == [P1]
