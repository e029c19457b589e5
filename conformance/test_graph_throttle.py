"""Graph throttling with the real Python Graph SDK (msgraph-sdk): on a server whose budget is
small (`--graph-throttle 4/100`: 4 resource units per 10 s per application and tenant), a raw
request past the budget gets 429 in Graph's shape with Retry-After, and the stock
GraphServiceClient's retry handler waits for it and succeeds — nothing in the client is
configured for it."""
import asyncio
import time

import pytest
import requests
from azure.identity import ClientSecretCredential
from msgraph import GraphServiceClient

from conftest import Server


@pytest.fixture(scope="module")
def throttled():
    s = Server(extra_args=["--graph-throttle", "4/100"])
    yield s
    s.stop()


def _token(demo):
    r = requests.post(f"{demo['authority']}/oauth2/v2.0/token", verify=demo["ca_file"], data={
        "grant_type": "client_credentials", "client_id": demo["confidential_client"]["app_id"],
        "client_secret": demo["confidential_client"]["secret"], "scope": "https://graph.microsoft.com/.default"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_the_sdk_retry_handler_recovers_from_429(throttled, monkeypatch):
    demo = throttled.demo
    monkeypatch.setenv("SSL_CERT_FILE", demo["ca_file"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", demo["ca_file"])
    token = _token(demo)
    h = {"Authorization": f"Bearer {token}"}
    # GET /users costs 2 RU: two spend the budget, the third is refused.
    for _ in range(2):
        assert requests.get(f"{demo['graph_url']}/users", headers=h, verify=demo["ca_file"]).status_code == 200
    r = requests.get(f"{demo['graph_url']}/users", headers=h, verify=demo["ca_file"])
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 10, r.headers
    body = r.json()
    assert body["error"]["code"] == "TooManyRequests" and "Retry after" in body["error"]["message"], body

    # Right after the refusal, the stock client (same application, so the same spent budget)
    # gets its answer: its retry handler honoured Retry-After.
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"],
                                  demo["confidential_client"]["secret"], authority=demo["origin"],
                                  disable_instance_discovery=True)
    client = GraphServiceClient(credentials=cred, scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = demo["graph_url"]

    async def go():
        start = time.monotonic()
        users = []
        for _ in range(3):
            page = await client.users.get()
            users.append(len(page.value))
        return users, time.monotonic() - start

    users, took = asyncio.run(go())
    assert all(n >= 1 for n in users), users
    # Three 2-RU reads on a budget refilling 0.4 RU/s cannot all have fit without waiting.
    assert took >= 2, took
