"""Cross-tenant access settings with real clients (issue 18 items 4 and 7): msgraph-sdk's
GraphServiceClient reads and patches the default (and resets it) and creates, reads and deletes a
partner configuration; headless Chromium redeems an invitation of a user of another tenant
(whose security defaults make its administrator do MFA at home) into the demo tenant, whose
Conditional Access requires MFA of the guest. With the partner's inboundTrust.isMfaAccepted true
the guest signs in to the demo web app with no second MFA prompt and MSAL Python gets the tokens
(amr carries mfa); with it false the demo tenant asks for its own MFA; once the partner setting
blocks the user (b2bCollaborationInbound usersAndGroups blocked), the next sign-in is refused
with AADSTS500213, shown on the page and in the sign-in log."""
import asyncio
import json
import os
import tempfile
import uuid
from urllib.parse import parse_qs, urlparse

import jwt
import msal
import requests
from azure.identity import ClientSecretCredential
from msgraph import GraphServiceClient
from msgraph.generated.models.cross_tenant_access_policy_b2_b_setting import CrossTenantAccessPolicyB2BSetting
from msgraph.generated.models.cross_tenant_access_policy_configuration_default import \
    CrossTenantAccessPolicyConfigurationDefault
from msgraph.generated.models.cross_tenant_access_policy_configuration_partner import \
    CrossTenantAccessPolicyConfigurationPartner
from msgraph.generated.models.cross_tenant_access_policy_inbound_trust import CrossTenantAccessPolicyInboundTrust
from msgraph.generated.models.cross_tenant_access_policy_target import CrossTenantAccessPolicyTarget
from msgraph.generated.models.cross_tenant_access_policy_target_configuration import \
    CrossTenantAccessPolicyTargetConfiguration
from msgraph.generated.models.cross_tenant_access_policy_target_configuration_access_type import \
    CrossTenantAccessPolicyTargetConfigurationAccessType
from msgraph.generated.models.cross_tenant_access_policy_target_type import CrossTenantAccessPolicyTargetType

from test_node import run

BASE = "/policies/crossTenantAccessPolicy"


def _client(demo):
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"],
                                  demo["confidential_client"]["secret"], authority=demo["origin"],
                                  disable_instance_discovery=True)
    client = GraphServiceClient(credentials=cred, scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = demo["graph_url"]
    return client


def test_graph_sdk_reads_and_patches_the_default_and_creates_a_partner(demo):
    client = _client(demo)
    ctap = client.policies.cross_tenant_access_policy
    other = str(uuid.uuid4())

    async def go():
        before = await ctap.default.get()
        await ctap.default.patch(CrossTenantAccessPolicyConfigurationDefault(
            inbound_trust=CrossTenantAccessPolicyInboundTrust(is_compliant_device_accepted=True)))
        after = await ctap.default.get()
        await ctap.default.reset_to_system_default.post()
        reset = await ctap.default.get()
        made = await ctap.partners.post(CrossTenantAccessPolicyConfigurationPartner(
            tenant_id=other,
            inbound_trust=CrossTenantAccessPolicyInboundTrust(is_mfa_accepted=True),
            b2b_collaboration_inbound=CrossTenantAccessPolicyB2BSetting(
                users_and_groups=CrossTenantAccessPolicyTargetConfiguration(
                    access_type=CrossTenantAccessPolicyTargetConfigurationAccessType.Blocked,
                    targets=[CrossTenantAccessPolicyTarget(target="AllUsers", target_type=CrossTenantAccessPolicyTargetType.User)])),
        ))
        item = ctap.partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(other)
        read = await item.get()
        listed = await ctap.partners.get()
        await item.delete()
        return before, after, reset, made, read, listed

    before, after, reset, made, read, listed = asyncio.run(go())
    assert before.is_service_default is True
    ug = before.b2b_collaboration_inbound.users_and_groups
    assert ug.access_type == CrossTenantAccessPolicyTargetConfigurationAccessType.Allowed
    assert [(t.target, t.target_type) for t in ug.targets] == [("AllUsers", CrossTenantAccessPolicyTargetType.User)]
    apps = before.b2b_collaboration_outbound.applications
    assert apps.targets[0].target == "AllApplications"
    assert before.inbound_trust.is_mfa_accepted is False
    assert after.is_service_default is False and after.inbound_trust.is_compliant_device_accepted is True
    assert after.inbound_trust.is_mfa_accepted is False
    assert reset.is_service_default is True and reset.inbound_trust.is_compliant_device_accepted is False
    assert made.tenant_id == other and made.inbound_trust.is_mfa_accepted is True
    assert made.b2b_collaboration_outbound is None
    assert read.b2b_collaboration_inbound.users_and_groups.access_type == CrossTenantAccessPolicyTargetConfigurationAccessType.Blocked
    assert any(p.tenant_id == other for p in listed.value)


def test_graph_sdk_duplicate_partner_is_a_409_that_changes_nothing(demo, graph):
    other = str(uuid.uuid4())
    assert graph.post(f"{BASE}/partners", {"tenantId": other, "inboundTrust": {"isMfaAccepted": True}}).status_code == 201
    client = _client(demo)
    from kiota_abstractions.api_error import APIError

    async def again():
        try:
            await client.policies.cross_tenant_access_policy.partners.post(
                CrossTenantAccessPolicyConfigurationPartner(tenant_id=other))
        except APIError as e:
            return e
        return None

    e = asyncio.run(again())
    assert e is not None and e.response_status_code == 409, e
    assert graph.get(f"{BASE}/partners/{other}").json()["inboundTrust"]["isMfaAccepted"] is True
    assert graph.delete(f"{BASE}/partners/{other}").status_code == 204


def _home_tenant(server, demo):
    """A new tenant through the operator API: its administrator is the home account. The
    tenant's security defaults (on for new tenants) make that administrator do MFA at home."""
    key = open(f"{server.dir}/operator.key").read().strip()
    pw = f"Home-{uuid.uuid4().hex[:10]}-Pw1!"
    r = requests.post(f"{demo['origin']}/operator/v1/tenants", headers={"Authorization": f"Bearer {key}"},
                      json={"name": f"xt{uuid.uuid4().hex[:8]}", "adminUpn": "admin", "adminPassword": pw})
    assert r.status_code == 201, r.text
    t = r.json()
    return t.get("id") or t.get("tenantId"), t["admin"]["upn"], pw, t["admin"]["id"]


def test_guest_with_trusted_home_mfa_in_chromium_then_blocked_by_the_partner_setting(server, demo, graph, sign_ins):
    home, upn, pw, home_user = _home_tenant(server, demo)
    cc = demo["confidential_client"]
    redirect = f"{demo['origin']}/readyz"
    state = os.path.join(tempfile.mkdtemp(prefix="castellan-xt-"), "state.json")
    r = graph.post("/invitations", {"invitedUserEmailAddress": upn, "inviteRedirectUrl": redirect})
    assert r.status_code == 201, r.text
    inv = r.json()
    guest = inv["invitedUser"]["id"]
    # The demo tenant trusts the home tenant's MFA, and requires MFA of the guest.
    r = graph.post(f"{BASE}/partners", {"tenantId": home, "inboundTrust": {"isMfaAccepted": True}})
    assert r.status_code == 201, r.text
    r = graph.post("/identity/conditionalAccess/policies", {
        "displayName": f"xt mfa {uuid.uuid4().hex[:6]}", "state": "enabled",
        "conditions": {"users": {"includeUsers": [guest]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    assert r.status_code == 201, r.text
    policy = r.json()["id"]
    try:
        def redeem(secret=None):
            return run("cross_tenant.mjs", {"action": "redeem", "state": state, "url": inv["inviteRedeemUrl"], "upn": upn,
                                            "password": pw, "redirect": redirect, "secret": secret}, timeout=180)

        # The partner setting blocks the user: the redemption is refused after the home
        # sign-in (which registered the home MFA and passed it), and nothing changes.
        blocked = {"usersAndGroups": {"accessType": "blocked", "targets": [{"target": home_user, "targetType": "user"}]}}
        assert graph.patch(f"{BASE}/partners/{home}", {"b2bCollaborationInbound": blocked}).status_code == 204
        out = redeem()
        assert f"/{home}/oauth2/v2.0/authorize" in out["homeLogin"], out
        assert out.get("homeRegister") and out.get("homeChallenge"), out
        assert "AADSTS500213" in out.get("refused", ""), out
        assert graph.get(f"/users/{guest}").json()["externalUserState"] == "PendingAcceptance"
        # Allowed again (the setting back to the default's): the home session's MFA carries.
        assert graph.patch(f"{BASE}/partners/{home}", {"b2bCollaborationInbound": None}).status_code == 204
        out = redeem(out["secret"])
        assert "Review permissions" in out["consent"], out
        assert out["landed"].startswith(redirect), out
        assert graph.get(f"/users/{guest}").json()["externalUserState"] == "Accepted"

        app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"],
                                                 authority=demo["authority"], instance_discovery=False)

        def sign_in():
            # A new visit to the demo tenant's sign-in page (its own session cookie dropped), the
            # home tenant's session kept.
            sso = f"castellan_sso_{demo['tenant_id'].replace('-', '')}"
            with open(state) as f:
                st = json.load(f)
            st["cookies"] = [c for c in st["cookies"] if c["name"] != sso]
            with open(state, "w") as f:
                json.dump(st, f)
            flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
            res = run("cross_tenant.mjs", {"action": "signin", "state": state, "url": flow["auth_uri"], "upn": upn,
                                           "home": home, "redirect": cc["redirect_uri"]}, timeout=120)
            return flow, res

        # Trusted: the home MFA satisfies the demo tenant's policy: no prompt, MSAL gets tokens.
        flow, res = sign_in()
        assert res["landed"], res
        assert not res["homePrompted"], res
        params = {k: v[0] for k, v in parse_qs(urlparse(res["landed"]).query).items()}
        tok = app.acquire_token_by_auth_code_flow(flow, params)
        assert "access_token" in tok, tok
        idc = tok["id_token_claims"]
        assert idc["tid"] == demo["tenant_id"] and idc["oid"] == guest, idc
        assert idc["idp"] == f"https://sts.windows.net/{home}/", idc
        assert "mfa" in idc["amr"], idc
        at = jwt.decode(tok["access_token"], options={"verify_signature": False})
        assert "mfa" in at.get("amr", []), at

        # Not trusted: the demo tenant asks for its own MFA (the guest has no authenticator
        # app here yet: the registration page).
        assert graph.patch(f"{BASE}/partners/{home}", {"inboundTrust": {"isMfaAccepted": False}}).status_code == 204
        _, res = sign_in()
        assert not res["landed"] and res["resourceMfa"], res

        # The partner setting blocks the user: refused with 500213, on the page and in the log.
        assert graph.patch(f"{BASE}/partners/{home}", {
            "inboundTrust": {"isMfaAccepted": True},
            "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "blocked",
                                                           "targets": [{"target": home_user, "targetType": "user"}]}},
        }).status_code == 204
        _, res = sign_in()
        assert not res["landed"], res
        assert "AADSTS500213" in res["text"] and "cross-tenant access policy" in res["text"], res
        logged = sign_ins(f"userId eq '{guest}' and status/errorCode eq 500213")
        assert logged and logged[0]["homeTenantId"] == home, logged
        assert logged[0]["crossTenantAccessType"] == "b2bCollaboration", logged
    finally:
        graph.delete(f"/identity/conditionalAccess/policies/{policy}")
        graph.delete(f"{BASE}/partners/{home}")
