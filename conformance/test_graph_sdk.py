"""The Python Graph SDK's stock GraphServiceClient (msgraph-sdk) against Castellan's Graph, with
azure-identity's ClientSecretCredential: list users, a group's members (and a type cast),
`/$count`, `$search`, getByIds, getMemberGroups and JSON batching."""
import asyncio

from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.directory_objects.get_by_ids.get_by_ids_post_request_body import GetByIdsPostRequestBody
from msgraph.generated.users.item.get_member_groups.get_member_groups_post_request_body import (
    GetMemberGroupsPostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

SCOPES = ["https://graph.microsoft.com/.default"]


def _credential(demo):
    return ClientSecretCredential(
        demo["tenant_id"],
        demo["confidential_client"]["app_id"],
        demo["confidential_client"]["secret"],
        authority=demo["origin"],
        disable_instance_discovery=True,
    )


def _client(demo):
    """The stock client, as its documentation builds it; only the base URL changes."""
    client = GraphServiceClient(credentials=_credential(demo), scopes=SCOPES)
    client.request_adapter.base_url = demo["graph_url"]
    return client


def _run(coro):
    return asyncio.run(coro)


def test_list_users_members_count_and_search(demo):
    client = _client(demo)

    async def go():
        # Other tests add users and groups: ask for a page large enough, and filter.
        top = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=999))
        users = await client.users.get(request_configuration=top)
        upns = {u.user_principal_name for u in users.value}
        assert f"alex@{demo['domain']}" in upns, upns

        from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
        gq = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(filter="displayName eq 'Engineering'")
        groups = await client.groups.get(request_configuration=RequestConfiguration(query_parameters=gq))
        eng = next(g for g in groups.value if g.display_name == "Engineering")
        members = await client.groups.by_group_id(eng.id).members.get()
        assert members.value, "Engineering has members"
        as_users = await client.groups.by_group_id(eng.id).members.graph_user.get()
        assert all(m.odata_type == "#microsoft.graph.user" for m in as_users.value)
        as_groups = await client.groups.by_group_id(eng.id).members.graph_group.get()
        assert any(g.display_name == "SRE" for g in as_groups.value)

        cfg = RequestConfiguration()
        cfg.headers.add("ConsistencyLevel", "eventual")
        n = await client.users.count.get(request_configuration=cfg)
        assert n >= len(users.value), (n, len(users.value))

        q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(search='"displayName:Alex"', count=True)
        scfg = RequestConfiguration(query_parameters=q)
        scfg.headers.add("ConsistencyLevel", "eventual")
        found = await client.users.get(request_configuration=scfg)
        names = [u.display_name for u in found.value]
        assert "Alex Wilber" in names and all("alex" in x.lower() for x in names), names
        assert found.odata_count == len(names)
        alex = next(u for u in found.value if u.display_name == "Alex Wilber")

        body = GetByIdsPostRequestBody(ids=[eng.id, alex.id], types=["group"])
        got = await client.directory_objects.get_by_ids.post(body)
        assert [o.id for o in got.value] == [eng.id]

        mg = await client.users.by_user_id(alex.id).get_member_groups.post(
            GetMemberGroupsPostRequestBody(security_enabled_only=True)
        )
        assert eng.id in mg.value

    _run(go())


def test_json_batch(demo):
    from kiota_abstractions.method import Method
    from kiota_abstractions.request_information import RequestInformation
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    client = _client(demo)

    async def go():
        me = RequestInformation()
        me.http_method = Method.GET
        me.url = f"{demo['graph_url']}/users?$top=2"
        grp = RequestInformation()
        grp.http_method = Method.GET
        grp.url = f"{demo['graph_url']}/groups?$top=1"
        a, b = BatchRequestItem(request_information=me), BatchRequestItem(request_information=grp)
        content = BatchRequestContent({a.id: a, b.id: b})
        res = await client.batch.post(batch_request_content=content)
        statuses = {i: r.status for i, r in res.responses.items()} if isinstance(res.responses, dict) else {
            r.id: r.status for r in res.responses
        }
        assert set(statuses.values()) == {200}, statuses

    _run(go())
