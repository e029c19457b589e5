"""Graph's recycle bin through the stock Python Graph SDK (msgraph-sdk): a deleted user is listed
by `directory.deleted_items.graph_user`, read by id, restored with `…by_directory_object_id(id)
.restore.post()` (memberships and sign-in back, checked with MSAL), a reused UPN makes the
restore fail with Graph's 400 and changes nothing, and `…by_directory_object_id(id).delete()`
removes an item for good."""
import asyncio

import msal
import msal.authority
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.directory.deleted_items.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)

from test_graph_sdk import _client

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")

LOOP = asyncio.new_event_loop()


def _run(coro):
    return LOOP.run_until_complete(coro)


def _signs_in(demo, upn, pw):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"],
                                       instance_discovery=False)
    return "access_token" in app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])


def _deleted_users(client, upn=None):
    q = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
        filter=f"userPrincipalName eq '{upn}'" if upn else None, top=999)
    page = _run(client.directory.deleted_items.graph_user.get(
        request_configuration=RequestConfiguration(query_parameters=q)))
    return page.value


def test_delete_list_restore_user_with_memberships_and_sign_in(demo, graph, new_user):
    client = _client(demo)
    upn, pw, uid = new_user()
    g = graph.post("/groups", {"displayName": f"bin {uid[:8]}", "mailEnabled": False,
                               "mailNickname": f"bin{uid[:8]}", "securityEnabled": True})
    assert g.status_code == 201, g.text
    gid = g.json()["id"]
    r = graph.post(f"/groups/{gid}/members/$ref",
                   {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}"})
    assert r.status_code == 204, r.text
    assert _signs_in(demo, upn, pw)

    _run(client.users.by_user_id(uid).delete())
    assert graph.get(f"/users/{uid}").status_code == 404
    assert not _signs_in(demo, upn, pw), "a deleted user cannot sign in"

    listed = _deleted_users(client, upn)
    assert [u.id for u in listed] == [uid], listed
    assert listed[0].user_principal_name == upn and listed[0].deleted_date_time is not None
    one = _run(client.directory.deleted_items.by_directory_object_id(uid).get())
    assert one.id == uid and one.odata_type == "#microsoft.graph.user"

    restored = _run(client.directory.deleted_items.by_directory_object_id(uid).restore.post())
    assert restored.id == uid and restored.odata_type == "#microsoft.graph.user"
    assert restored.user_principal_name == upn
    assert graph.get(f"/users/{uid}").json()["userPrincipalName"] == upn
    members = graph.get(f"/groups/{gid}/members").json()["value"]
    assert uid in [m["id"] for m in members], members
    assert _signs_in(demo, upn, pw), "the restored user signs in with the old password"
    assert _deleted_users(client, upn) == []


def test_reused_upn_fails_restore_and_permanent_delete(demo, graph, new_user):
    client = _client(demo)
    upn, pw, uid = new_user()
    _run(client.users.by_user_id(uid).delete())
    alias = upn.split("@")[0]
    again = graph.post("/users", {"accountEnabled": True, "displayName": "Newcomer", "mailNickname": alias,
                                  "userPrincipalName": upn, "passwordProfile": {"password": pw}})
    assert again.status_code == 201, again.text
    holder = again.json()["id"]
    try:
        _run(client.directory.deleted_items.by_directory_object_id(uid).restore.post())
        raise AssertionError("restore over a reused UPN was accepted")
    except APIError as e:
        assert e.response_status_code == 400, e
        assert e.error.code == "Request_BadRequest", e.error
        assert "userPrincipalName" in e.error.message and holder in e.error.message, e.error.message
    # Nothing changed.
    assert [u.id for u in _deleted_users(client, upn)] == [uid]
    assert graph.get(f"/users/{uid}").status_code == 404
    assert graph.get(f"/users/{holder}").json()["displayName"] == "Newcomer"

    _run(client.directory.deleted_items.by_directory_object_id(uid).delete())
    assert _deleted_users(client, upn) == []
    assert graph.get(f"/directory/deletedItems/{uid}").status_code == 404
