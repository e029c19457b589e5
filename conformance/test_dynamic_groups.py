"""Dynamic groups through the stock Python Graph SDK (msgraph-sdk): create a group with
groupTypes DynamicMembership and a membershipRule, PATCH a user's department, and read the
members and the user's transitiveMemberOf back; a hand-made member add is refused with Graph's
error; evaluateDynamicMembership (beta-only in the SDK) answers over HTTP; the ID token's groups
claim carries the dynamic group."""
import asyncio
import uuid

import msal
import pytest
from kiota_abstractions.api_error import APIError
from msgraph.generated.models.group import Group
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User

from browser import Browser, redirect_params, sign_in
from test_graph_sdk import _client


def test_dynamic_group_with_the_sdk(demo, new_user):
    client = _client(demo)
    dept = f"dyn-{uuid.uuid4().hex[:8]}"
    upn, _pw, uid = new_user()

    async def go():
        g = await client.groups.post(Group(
            display_name=dept, mail_enabled=False, mail_nickname=dept, security_enabled=True,
            group_types=["DynamicMembership"], membership_rule=f'user.department -eq "{dept}"',
            membership_rule_processing_state="On",
        ))
        assert g.membership_rule == f'user.department -eq "{dept}"'
        assert g.membership_rule_processing_state == "On"
        assert (await client.groups.by_group_id(g.id).members.get()).value == []
        await client.users.by_user_id(uid).patch(User(department=dept.upper()))
        members = await client.groups.by_group_id(g.id).members.get()
        assert [m.id for m in members.value] == [uid]
        of = await client.users.by_user_id(uid).transitive_member_of.get()
        assert g.id in [o.id for o in of.value]
        with pytest.raises(APIError) as e:
            await client.groups.by_group_id(g.id).members.ref.post(
                ReferenceCreate(odata_id=f"{demo['graph_url']}/directoryObjects/{uid}"))
        assert e.value.response_status_code == 400
        assert "by hand" in e.value.error.message
        with pytest.raises(APIError) as e:
            await client.groups.post(Group(
                display_name="bad", mail_enabled=False, mail_nickname="bad", security_enabled=True,
                group_types=["DynamicMembership"], membership_rule="user.department -eq",
            ))
        assert e.value.response_status_code == 400 and "position" in e.value.error.message

    asyncio.run(go())


def test_evaluate_and_the_groups_claim(demo, new_user, graph):
    dept = f"dynclaim-{uuid.uuid4().hex[:8]}"
    upn, pw, uid = new_user()
    assert graph.patch(f"/users/{uid}", {"department": dept}).status_code == 204
    rule = f'user.department -eq "{dept}"'
    r = graph.post("/groups", {"displayName": dept, "mailEnabled": False, "mailNickname": dept, "securityEnabled": True,
                               "groupTypes": ["DynamicMembership"], "membershipRule": rule})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    ev = graph.post(f"/groups/{gid}/evaluateDynamicMembership", {"memberId": uid})
    assert ev.status_code == 200, ev.text
    assert ev.json()["membershipRuleEvaluationResult"] is True
    assert ev.json()["membershipRuleEvaluationDetails"]["propertyToEvaluate"] == {"propertyName": "department", "propertyValue": dept}

    app = graph.post("/applications", {"displayName": "Dynamic claim app", "web": {"redirectUris": ["https://localhost:44397/cb"]},
                                       "groupMembershipClaims": "SecurityGroup"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {"passwordCredential": {}}).json()["secretText"]
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"})
    cca = msal.ConfidentialClientApplication(app["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    flow = cca.initiate_auth_code_flow(["User.Read"], redirect_uri="https://localhost:44397/cb")
    res = cca.acquire_token_by_auth_code_flow(flow, redirect_params(sign_in(Browser(), flow["auth_uri"], upn, pw)))
    assert "id_token_claims" in res, res
    assert gid in res["id_token_claims"]["groups"], res["id_token_claims"]
