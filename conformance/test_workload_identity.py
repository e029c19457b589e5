"""Workload identity federation: a local https OIDC issuer shaped like GitHub Actions, federated
identity credentials registered through Graph, and azure-identity's WorkloadIdentityCredential
(and DefaultAzureCredential) exchanging the issuer's tokens for Castellan tokens."""
import base64
import json
import os
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, WorkloadIdentityCredential
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "api://AzureADTokenExchange"
BRANCH = "repo:org/repo:ref:refs/heads/main"
ENVIRONMENT = "repo:org/repo:environment:prod"
PULL_REQUEST = "repo:org/repo:pull_request"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64u(n: int) -> str:
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Issuer:
    """A tiny OIDC issuer over https: discovery, JWKS, and GitHub-Actions-shaped tokens."""

    def __init__(self, pki, path=""):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "gh-" + uuid.uuid4().hex[:8]
        self.hits = {"discovery": 0, "jwks": 0}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, v):
                body = json.dumps(v).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == f"{path}/.well-known/openid-configuration":
                    issuer.hits["discovery"] += 1
                    self._json({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks",
                                "response_types_supported": ["id_token"], "subject_types_supported": ["public", "pairwise"],
                                "id_token_signing_alg_values_supported": ["RS256"], "claims_supported": ["sub", "aud", "exp", "iat", "iss", "repository"]})
                elif self.path == f"{path}/jwks":
                    issuer.hits["jwks"] += 1
                    pub = issuer.key.public_key().public_numbers()
                    self._json({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": issuer.kid,
                                          "n": _b64u(pub.n), "e": _b64u(pub.e)}]})
                else:
                    self.send_response(404)
                    self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["cert"], pki["key"])
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def mint(self, sub=BRANCH, aud=AUDIENCE, lifetime=600, iss=None, kid=None, key=None, alg="RS256", **extra):
        now = int(time.time())
        claims = {"iss": iss or self.url, "sub": sub, "aud": aud, "iat": now, "nbf": now - 5, "exp": now + lifetime,
                  "jti": str(uuid.uuid4()), "repository": "org/repo", "repository_owner": "org", "ref": "refs/heads/main",
                  "event_name": "push", "runner_environment": "github-hosted", **extra}
        return jwt.encode(claims, key or self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def issuer(issuer_pki, server):
    i = Issuer(issuer_pki)
    yield i
    i.stop()


@pytest.fixture(scope="module")
def app(demo, graph, issuer):
    """The demo confidential client with a FIC for the branch subject (removed afterwards)."""
    app_id = demo["confidential_client"]["app_id"]
    r = graph.get("/applications", params={"$filter": f"appId eq '{app_id}'"})
    assert r.status_code == 200, r.text
    obj = r.json()["value"][0]["id"]
    body = {"name": "github-main", "issuer": issuer.url, "subject": BRANCH,
            "description": "GitHub Actions, main branch"}
    r = graph.post(f"/applications/{obj}/federatedIdentityCredentials", body)
    assert r.status_code == 201, r.text
    fic = r.json()
    yield {"object_id": obj, "app_id": app_id, "fic": fic}
    requests.delete(f"{graph.base}/applications/{obj}/federatedIdentityCredentials/{fic['id']}", headers=graph.h)


def token_file(token, newline=True):
    fd, path = tempfile.mkstemp(prefix="castellan-fedtoken-")
    with os.fdopen(fd, "w") as f:
        f.write(token + ("\n" if newline else ""))
    return path


def exchange(demo, client_id, assertion, scope=GRAPH_DEFAULT):
    """The raw request WorkloadIdentityCredential sends."""
    return requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "client_id": client_id, "grant_type": "client_credentials", "scope": scope,
        "client_assertion_type": JWT_BEARER, "client_assertion": assertion})


def workload_credential(demo, app, path):
    return WorkloadIdentityCredential(tenant_id=demo["tenant_id"], client_id=app["app_id"], token_file_path=path,
                                      authority=demo["origin"], disable_instance_discovery=True)


def verify_castellan_token(demo, token):
    """A Graph token, verified strictly: Graph takes v1 tokens, as from Entra, so the issuer is
    the discovery document's without `/v2.0` (Entra's https://sts.windows.net/{tid}/) and the
    audience is the resource URI azure-identity asked for."""
    oidc = requests.get(f"{demo['authority']}/v2.0/.well-known/openid-configuration").json()
    key = jwt.PyJWKClient(oidc["jwks_uri"], ssl_context=ssl.create_default_context(cafile=demo["ca_file"])).get_signing_key_from_jwt(token)
    assert oidc["issuer"].endswith("/v2.0")
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com",
                        issuer=oidc["issuer"][: -len("v2.0")])
    assert claims["ver"] == "1.0"
    return claims


def test_fic_is_rendered_in_graph_shape(app, graph, issuer):
    fic = app["fic"]
    assert fic["@odata.type"] == "#microsoft.graph.federatedIdentityCredential"
    assert fic["name"] == "github-main" and fic["issuer"] == issuer.url and fic["subject"] == BRANCH
    assert fic["audiences"] == [AUDIENCE], "the audience defaults to api://AzureADTokenExchange"
    uuid.UUID(fic["id"])
    r = graph.get(f"/applications/{app['object_id']}/federatedIdentityCredentials")
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["value"]] == [fic["id"]]
    r = graph.get(f"/applications/{app['object_id']}/federatedIdentityCredentials/{fic['id']}")
    assert r.status_code == 200 and r.json()["subject"] == BRANCH, r.text


def test_workload_identity_credential_gets_a_graph_token(demo, app, issuer):
    path = token_file(issuer.mint())
    try:
        tok = workload_credential(demo, app, path).get_token(GRAPH_DEFAULT)
    finally:
        os.unlink(path)
    claims = verify_castellan_token(demo, tok.token)
    assert claims["tid"] == demo["tenant_id"]
    assert claims["appid"] == app["app_id"]
    assert claims["appidacr"] == "2", "a federated credential authenticates like a certificate (asymmetric)"
    assert claims["idtyp"] == "app"
    assert "Directory.ReadWrite.All" in claims["roles"]
    assert tok.expires_on > time.time()


def test_keys_are_cached_not_fetched_per_request(demo, app, issuer):
    assert exchange(demo, app["app_id"], issuer.mint()).status_code == 200
    before = dict(issuer.hits)
    assert before["discovery"] >= 1 and before["jwks"] >= 1, before
    for _ in range(3):
        r = exchange(demo, app["app_id"], issuer.mint())
        assert r.status_code == 200, r.text
    assert issuer.hits == before, "the issuer's keys are cached, not fetched per request"
    # An unknown kid triggers at most one refresh per minute, however many tokens carry it.
    for _ in range(3):
        r = exchange(demo, app["app_id"], issuer.mint(kid="rotated-away"))
        assert r.json()["error_codes"] == [700027], r.text
    assert issuer.hits["jwks"] <= before["jwks"] + 1, issuer.hits


def test_pull_request_subject_is_refused_with_700213(demo, app, issuer):
    path = token_file(issuer.mint(sub=PULL_REQUEST))
    try:
        with pytest.raises(ClientAuthenticationError) as e:
            workload_credential(demo, app, path).get_token(GRAPH_DEFAULT)
    finally:
        os.unlink(path)
    assert "AADSTS700213" in str(e.value)
    assert PULL_REQUEST in str(e.value)
    r = exchange(demo, app["app_id"], issuer.mint(sub=PULL_REQUEST))
    assert r.status_code == 401 and r.json()["error_codes"] == [700213] and r.json()["error"] == "invalid_client", r.text


def test_subject_matching_is_case_sensitive(demo, app, issuer):
    r = exchange(demo, app["app_id"], issuer.mint(sub=BRANCH.replace("org/", "Org/")))
    assert r.json()["error_codes"] == [700213], r.text


def test_wrong_audience_is_refused_with_700212(demo, app, issuer):
    r = exchange(demo, app["app_id"], issuer.mint(aud="api://SomethingElse"))
    assert r.status_code == 401 and r.json()["error_codes"] == [700212], r.text
    # aud may be an array: one matching value is enough.
    r = exchange(demo, app["app_id"], issuer.mint(aud=["api://SomethingElse", AUDIENCE]))
    assert r.status_code == 200, r.text


def test_expired_token_is_refused(demo, app, issuer):
    r = exchange(demo, app["app_id"], issuer.mint(lifetime=-3600))
    assert r.status_code == 401 and r.json()["error_codes"] == [700024], r.text
    assert "expired" in r.json()["error_description"]


def test_unknown_issuer_is_refused_with_700211(demo, app, issuer):
    other = issuer.url + "/other"
    r = exchange(demo, app["app_id"], issuer.mint(iss=other))
    assert r.status_code == 401 and r.json()["error_codes"] == [700211], r.text
    assert f"'{other}'" in r.json()["error_description"]


def test_bad_signatures_and_algorithms_are_refused(demo, app, issuer):
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = exchange(demo, app["app_id"], issuer.mint(key=forged_key))
    assert r.status_code == 401 and r.json()["error_codes"] == [700027], r.text
    r = exchange(demo, app["app_id"], issuer.mint(key=forged_key, kid="not-published"))
    assert r.json()["error_codes"] == [700027] and "not-published" in r.json()["error_description"], r.text
    # HS256 with the public key as the secret, and alg=none, never pass.
    for alg, key in (("HS256", "secret-of-32-bytes-at-least-0123456789"),):
        r = exchange(demo, app["app_id"], issuer.mint(key=key, alg=alg))
        assert r.json()["error_codes"] == [700027] and alg in r.json()["error_description"], r.text
    unsigned = jwt.encode({"iss": issuer.url, "sub": BRANCH, "aud": AUDIENCE, "exp": int(time.time()) + 600}, None, algorithm="none")
    r = exchange(demo, app["app_id"], unsigned)
    assert r.status_code in (400, 401) and r.json()["error_codes"][0] in (50027, 700027), r.text


def test_castellan_tokens_are_not_federated_assertions(demo, app, admin_token):
    r = exchange(demo, app["app_id"], admin_token)
    # Our own token's iss is this server: refused before any matching.
    assert r.status_code == 401 and r.json()["error_codes"] == [700229], r.text


def test_http_issuers_are_refused(demo, app, graph, issuer):
    r = graph.post(f"/applications/{app['object_id']}/federatedIdentityCredentials",
                   {"name": "plain-http", "issuer": issuer.url.replace("https://", "http://"), "subject": BRANCH})
    assert r.status_code == 400 and "https" in r.json()["error"]["message"], r.text
    r = exchange(demo, app["app_id"], issuer.mint(iss=issuer.url.replace("https://", "http://")))
    assert r.status_code == 401 and r.json()["error_codes"] == [700211], r.text
    assert "https" in r.json()["error_description"]
    r = graph.get(f"/applications/{app['object_id']}/federatedIdentityCredentials")
    assert [f["name"] for f in r.json()["value"]] == ["github-main"], "nothing was stored"


def test_unreachable_issuer_names_the_url(demo, graph, issuer):
    r = graph.post("/applications", {"displayName": f"wif-unreachable-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    obj, app_id = r.json()["id"], r.json()["appId"]
    r = graph.post("/servicePrincipals", {"appId": app_id})
    assert r.status_code == 201, r.text
    dead = "https://127.0.0.1:9/issuer"
    r = graph.post(f"/applications/{obj}/federatedIdentityCredentials", {"name": "dead", "issuer": dead, "subject": BRANCH})
    assert r.status_code == 201, r.text
    r = exchange(demo, app_id, issuer.mint(iss=dead))
    assert r.json()["error_codes"] == [50166], r.text
    assert dead in r.json()["error_description"]
    requests.delete(f"{graph.base}/applications/{obj}", headers=graph.h)


def test_limits_and_uniqueness_through_graph(graph, issuer):
    r = graph.post("/applications", {"displayName": f"wif-limits-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    obj = r.json()["id"]
    base = f"/applications/{obj}/federatedIdentityCredentials"
    try:
        def names():
            r = graph.get(base)
            assert r.status_code == 200, r.text
            return sorted(f["name"] for f in r.json()["value"])

        first = graph.post(base, {"name": "env-prod", "issuer": issuer.url, "subject": ENVIRONMENT})
        assert first.status_code == 201, first.text
        for body, needle in [
            ({"name": "again", "issuer": issuer.url, "subject": ENVIRONMENT}, "issuer and subject"),
            ({"name": "ENV-PROD", "issuer": issuer.url, "subject": BRANCH}, "already exists"),
            ({"name": "x", "issuer": issuer.url, "subject": BRANCH}, "3 to 120"),
            ({"name": "has space", "issuer": issuer.url, "subject": BRANCH}, "URL-friendly"),
            ({"name": "two-aud", "issuer": issuer.url, "subject": BRANCH, "audiences": ["a", "b"]}, "exactly one"),
            ({"name": "no-aud", "issuer": issuer.url, "subject": BRANCH, "audiences": []}, "exactly one"),
            ({"name": "long-sub", "issuer": issuer.url, "subject": "s" * 601}, "600"),
            ({"name": "white-space", "issuer": issuer.url, "subject": BRANCH + " "}, "whitespace"),
            ({"name": "no-sub", "issuer": issuer.url}, "subject"),
            ({"name": "ro", "issuer": issuer.url, "subject": BRANCH, "id": str(uuid.uuid4())}, "read-only"),
            ({"name": "flex", "issuer": issuer.url, "claimsMatchingExpression": {"value": "x"}}, "does not exist"),
        ]:
            r = graph.post(base, body)
            assert r.status_code == 400, (body, r.text)
            assert needle in r.json()["error"]["message"], (body, r.text)
        assert names() == ["env-prod"], "nothing stored by refused requests"
        for i in range(19):
            r = graph.post(base, {"name": f"branch-{i}", "issuer": issuer.url, "subject": f"repo:org/repo:ref:refs/heads/b{i}"})
            assert r.status_code == 201, r.text
        r = graph.post(base, {"name": "twenty-first", "issuer": issuer.url, "subject": "repo:org/repo:ref:refs/heads/x"})
        assert r.status_code == 400 and "at most 20" in r.json()["error"]["message"], r.text
        assert len(names()) == 20
        # PATCH: the name is immutable; a clash is refused; a valid change is stored.
        fid = first.json()["id"]
        r = graph.patch(f"{base}/{fid}", {"name": "renamed"})
        assert r.status_code == 400 and "immutable" in r.json()["error"]["message"], r.text
        r = graph.patch(f"{base}/{fid}", {"subject": "repo:org/repo:ref:refs/heads/b0"})
        assert r.status_code == 400 and "issuer and subject" in r.json()["error"]["message"], r.text
        r = graph.patch(f"{base}/{fid}", {"subject": "repo:org/repo:environment:staging", "description": "staging"})
        assert r.status_code == 204, r.text
        got = graph.get(f"{base}/{fid}").json()
        assert got["subject"] == "repo:org/repo:environment:staging" and got["name"] == "env-prod"
        r = requests.delete(f"{graph.base}{base}/{fid}", headers=graph.h)
        assert r.status_code == 204, r.text
        assert graph.get(f"{base}/{fid}").status_code == 404
        assert len(names()) == 19
    finally:
        requests.delete(f"{graph.base}/applications/{obj}", headers=graph.h)


def test_default_azure_credential_picks_workload_identity(demo, app, issuer, monkeypatch):
    path = token_file(issuer.mint())
    for k in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AZURE_TENANT_ID", demo["tenant_id"])
    monkeypatch.setenv("AZURE_CLIENT_ID", app["app_id"])
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", path)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", demo["origin"])
    try:
        cred = DefaultAzureCredential(exclude_managed_identity_credential=True, exclude_cli_credential=True,
                                      exclude_powershell_credential=True, exclude_developer_cli_credential=True,
                                      exclude_visual_studio_code_credential=True, exclude_shared_token_cache_credential=True,
                                      exclude_interactive_browser_credential=True)
        tok = cred.get_token(GRAPH_DEFAULT)
    finally:
        os.unlink(path)
    claims = verify_castellan_token(demo, tok.token)
    assert claims["appid"] == app["app_id"] and claims["appidacr"] == "2"


def test_user_assigned_identity_federation_through_arm(demo, issuer):
    """A Kubernetes-style service account trusted by a user-assigned managed identity (FIC
    created through ARM), exchanged by WorkloadIdentityCredential, used against the sample blob
    store where RBAC decides."""
    arm_tok = requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": demo["confidential_client"]["app_id"],
        "client_secret": demo["confidential_client"]["secret"], "scope": "https://management.azure.com/.default"}).json()["access_token"]
    h = {"Authorization": f"Bearer {arm_tok}"}
    api = "api-version=2023-01-31"
    base = demo["arm_url"]
    ident = f"{demo['resource_group_scope']}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/k8s-workload"
    r = requests.put(f"{base}{ident}?{api}", headers=h, json={"location": "westeurope"})
    assert r.status_code in (200, 201), r.text
    client_id, principal = r.json()["properties"]["clientId"], r.json()["properties"]["principalId"]
    sa = "system:serviceaccount:shop:orders"
    fic_url = f"{base}{ident}/federatedIdentityCredentials/orders-sa?{api}"
    # Bad bodies are refused by name and store nothing.
    for body, needle in [({"properties": {"issuer": issuer.url}}, "subject"),
                         ({"properties": {"issuer": "http://insecure.example", "subject": sa}}, "https"),
                         ({"properties": {"issuer": issuer.url, "subject": sa, "audiences": ["a", "b"]}}, "audience")]:
        bad = requests.put(fic_url, headers=h, json=body)
        assert bad.status_code == 400 and needle in bad.json()["error"]["message"], bad.text
    assert requests.get(f"{base}{ident}/federatedIdentityCredentials?{api}", headers=h).json()["value"] == []
    r = requests.put(fic_url, headers=h, json={"properties": {"issuer": issuer.url, "subject": sa, "audiences": [AUDIENCE]}})
    assert r.status_code == 201, r.text
    assert r.json()["properties"] == {"issuer": issuer.url, "subject": sa, "audiences": [AUDIENCE]}
    listed = requests.get(f"{base}{ident}/federatedIdentityCredentials?{api}", headers=h).json()["value"]
    assert [f["name"] for f in listed] == ["orders-sa"]
    # No role yet: a token, but the blob store refuses it.
    path = token_file(issuer.mint(sub=sa))
    try:
        cred = WorkloadIdentityCredential(tenant_id=demo["tenant_id"], client_id=client_id, token_file_path=path,
                                          authority=demo["origin"], disable_instance_discovery=True)
        tok = cred.get_token("https://storage.azure.com/.default").token
    finally:
        os.unlink(path)
    claims = jwt.decode(tok, options={"verify_signature": False})
    assert claims["oid"] == principal and claims["xms_mirid"] == ident
    blob = demo["storage"]["blob_url"]
    assert requests.get(blob, headers={"Authorization": f"Bearer {tok}"}).status_code == 403
    r = requests.put(f"{base}{demo['storage']['container_scope']}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01",
                     headers=h, json={"properties": {"principalId": principal, "principalType": "ServicePrincipal",
                                                     "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"}})
    assert r.status_code == 201, r.text
    got = requests.get(blob, headers={"Authorization": f"Bearer {tok}"})
    assert got.status_code == 200 and got.text.startswith("Hello from Castellan"), got.text
    # Another service account is not trusted.
    other = exchange(demo, client_id, issuer.mint(sub="system:serviceaccount:shop:payments"), scope="https://storage.azure.com/.default")
    assert other.status_code in (400, 401) and 700213 in other.json()["error_codes"], other.text
