"""PIM for groups with the real Python Graph SDK (msgraph-sdk): an administrator (app-only) makes a
user an eligible member of a role-assignable group holding User Administrator; the user's token
(MSAL) carries no role and a user PATCH the role allows is refused; the user self-activates through
the SDK; the next token carries the role in `wids` and the PATCH succeeds; after selfDeactivate both
are gone again. Likewise an Azure RBAC assignment (Contributor on the demo resource group) to a
security group counts for an eligible member only while the membership is activated."""
import asyncio
import datetime
import uuid

import jwt
import msal
import requests
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.privileged_access_group_assignment_schedule_request import \
    PrivilegedAccessGroupAssignmentScheduleRequest
from msgraph.generated.models.privileged_access_group_eligibility_schedule_request import \
    PrivilegedAccessGroupEligibilityScheduleRequest
from msgraph.generated.models.privileged_access_group_relationships import PrivilegedAccessGroupRelationships
from msgraph.generated.models.request_schedule import RequestSchedule
from msgraph.generated.models.schedule_request_actions import ScheduleRequestActions

from test_graph_sdk import _client as admin_client
from test_pim import user_client
from test_pim_arm import _write
from test_resource_plane import ARM, Arm, app_token, user_token

USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
SCOPE_NAMES = ["PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
               "User.ReadWrite.All"]
SCOPES = [f"https://graph.microsoft.com/{s}" for s in SCOPE_NAMES]
# One loop for the module: the SDK's HTTP client stays bound to the loop that first used it.
LOOP = asyncio.new_event_loop()


def _public_app(demo, graph):
    """A public client consented (for all users) to the group PIM scopes."""
    app = graph.post("/applications", {"displayName": f"pimgrp-conf-{uuid.uuid4().hex[:8]}",
                                       "isFallbackPublicClient": True}).json()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    ms = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    g = graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": ms["id"],
                                               "scope": " ".join(SCOPE_NAMES)})
    assert g.status_code == 201, g.text
    return msal.PublicClientApplication(app["appId"], authority=demo["authority"], instance_discovery=False)


def _group(graph, role_assignable):
    nick = f"pimgrp{uuid.uuid4().hex[:8]}"
    r = graph.post("/groups", {"displayName": nick, "mailNickname": nick, "mailEnabled": False, "securityEnabled": True,
                               "isAssignableToRole": role_assignable})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _schedule(**delta):
    return RequestSchedule(start_date_time=datetime.datetime.now(datetime.timezone.utc),
                           expiration=ExpirationPattern(type=ExpirationPatternType.AfterDuration,
                                                        duration=datetime.timedelta(**delta)))


def _make_eligible(admin, gid, uid):
    async def go():
        return await admin.identity_governance.privileged_access.group.eligibility_schedule_requests.post(
            PrivilegedAccessGroupEligibilityScheduleRequest(
                access_id=PrivilegedAccessGroupRelationships.Member, action=ScheduleRequestActions.AdminAssign,
                group_id=gid, principal_id=uid, justification="conformance: eligible member",
                schedule_info=_schedule(days=30)))
    el = LOOP.run_until_complete(go())
    assert el.status == "Provisioned" and el.target_schedule_id and el.group_id == gid, el
    assert el.access_id == PrivilegedAccessGroupRelationships.Member, el
    return el


def _assignment(client, gid, uid, action, **delta):
    async def go():
        return await client.identity_governance.privileged_access.group.assignment_schedule_requests.post(
            PrivilegedAccessGroupAssignmentScheduleRequest(
                access_id=PrivilegedAccessGroupRelationships.Member, action=action, group_id=gid, principal_id=uid,
                justification="conformance: on call", schedule_info=_schedule(**delta) if delta else None))
    return LOOP.run_until_complete(go())


def _wids(token):
    return jwt.decode(token, options={"verify_signature": False}).get("wids", [])


def test_eligible_member_of_a_role_assignable_group_activates_the_groups_role(demo, graph, new_user):
    upn, pw, uid = new_user()
    _, _, target = new_user()
    gid = _group(graph, True)
    r = graph.post("/roleManagement/directory/roleAssignments",
                   {"principalId": gid, "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"})
    assert r.status_code == 201, r.text
    admin = admin_client(demo)
    _make_eligible(admin, gid, uid)
    pub = _public_app(demo, graph)

    def token():
        t = pub.acquire_token_by_username_password(upn, pw, scopes=SCOPES)
        assert "access_token" in t, t
        return t["access_token"]

    def patch(tok):
        return requests.patch(f"{demo['graph_url']}/users/{target}", headers={"Authorization": f"Bearer {tok}"},
                              json={"jobTitle": "pim-group"})

    # Eligible only: no role, the write is refused.
    first = token()
    assert USER_ADMIN not in _wids(first)
    assert patch(first).status_code == 403

    # Self-activation through the SDK, as the user.
    act = _assignment(user_client(demo, first), gid, uid, ScheduleRequestActions.SelfActivate, hours=1)
    assert act.status == "Provisioned" and act.target_schedule_id, act
    second = token()
    assert USER_ADMIN in _wids(second), jwt.decode(second, options={"verify_signature": False})
    r = patch(second)
    assert r.status_code == 204, r.text

    # The schedule instance, filtered by group through the SDK.
    async def instances():
        from msgraph.generated.identity_governance.privileged_access.group.assignment_schedule_instances.assignment_schedule_instances_request_builder import \
            AssignmentScheduleInstancesRequestBuilder
        q = AssignmentScheduleInstancesRequestBuilder.AssignmentScheduleInstancesRequestBuilderGetQueryParameters(
            filter=f"groupId eq '{gid}'")
        cfg = AssignmentScheduleInstancesRequestBuilder.AssignmentScheduleInstancesRequestBuilderGetRequestConfiguration(
            query_parameters=q)
        return await admin.identity_governance.privileged_access.group.assignment_schedule_instances.get(
            request_configuration=cfg)
    got = LOOP.run_until_complete(instances()).value
    assert [i.principal_id for i in got] == [uid], got

    # Deactivation: the role is gone from the next token and the write is refused again.
    off = _assignment(user_client(demo, second), gid, uid, ScheduleRequestActions.SelfDeactivate)
    assert off.status == "Revoked", off
    third = token()
    assert USER_ADMIN not in _wids(third)
    assert patch(third).status_code == 403


def test_an_azure_role_of_a_security_group_counts_only_while_the_membership_is_active(demo, graph, new_user):
    upn, pw, uid = new_user()
    gid = _group(graph, False)
    owner = Arm(demo, app_token(demo, ARM))
    r, _ = owner.assign(demo["resource_group_scope"], gid, CONTRIBUTOR, principalType="Group")
    assert r.status_code == 201, r.text
    admin = admin_client(demo)
    _make_eligible(admin, gid, uid)
    arm_token = user_token(demo, upn, pw, ARM)
    # Eligible only: the group's Contributor does not apply.
    assert _write(demo, arm_token).status_code == 403
    pub = _public_app(demo, graph)
    t = pub.acquire_token_by_username_password(upn, pw, scopes=SCOPES)
    assert "access_token" in t, t
    act = _assignment(user_client(demo, t["access_token"]), gid, uid, ScheduleRequestActions.SelfActivate, hours=1)
    assert act.status == "Provisioned", act
    # Active: the next ARM write (same token) is allowed.
    r = _write(demo, arm_token)
    assert r.status_code in (200, 201), r.text
    off = _assignment(user_client(demo, t["access_token"]), gid, uid, ScheduleRequestActions.SelfDeactivate)
    assert off.status == "Revoked", off
    assert _write(demo, arm_token).status_code == 403
