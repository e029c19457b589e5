"""Privileged Identity Management with the real Python Graph SDK (msgraph-sdk): an administrator
makes a user eligible for Global Administrator (ClientSecretCredential, app-only); the user's
activation without MFA is answered with a claims challenge, which MSAL turns into an MFA step-up
in the authorize pages; the activation with justification then succeeds, the next token carries
the role in `wids` (and expires no later than the activation), Graph honours it at once; after
the (development-only, short) activation ends Graph refuses right away and the background sweep
records the expiry in the audit log with the justification."""
import asyncio
import base64
import datetime
import json
import time
import uuid

import jwt
import msal
import requests
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.request_schedule import RequestSchedule
from msgraph.generated.models.unified_role_assignment_schedule_request import UnifiedRoleAssignmentScheduleRequest
from msgraph.generated.models.unified_role_eligibility_schedule_request import UnifiedRoleEligibilityScheduleRequest
from msgraph.generated.models.unified_role_schedule_request_actions import UnifiedRoleScheduleRequestActions

from browser import Browser, Page, redirect_params, sign_in
from test_conditional_access import _register_totp
from test_graph_sdk import _client as admin_client
from test_mfa_setup import totp

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
SCOPES = ["https://graph.microsoft.com/RoleAssignmentSchedule.ReadWrite.Directory",
          "https://graph.microsoft.com/RoleManagement.Read.Directory",
          "https://graph.microsoft.com/User.ReadWrite.All"]
REDIRECT = "http://localhost:8400"
# One loop for the whole test: the SDK's HTTP client stays bound to the loop that first used it.
LOOP = asyncio.new_event_loop()


class _Token(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def user_client(demo, token):
    """The stock GraphServiceClient over a user's delegated token."""
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(_Token(token)))
    adapter.base_url = demo["graph_url"]
    return GraphServiceClient(request_adapter=adapter)


def public_app(demo, graph):
    """A public client consented (for all users) to the PIM scopes."""
    app = graph.post("/applications", {"displayName": f"pim-conf-{uuid.uuid4().hex[:8]}", "isFallbackPublicClient": True,
                                       "publicClient": {"redirectUris": [REDIRECT]}}).json()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    ms = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    g = graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": ms["id"],
                                               "scope": "RoleAssignmentSchedule.ReadWrite.Directory RoleManagement.Read.Directory User.ReadWrite.All"})
    assert g.status_code == 201, g.text
    return msal.PublicClientApplication(app["appId"], authority=demo["authority"], instance_discovery=False)


def activation(uid, seconds, why):
    return UnifiedRoleAssignmentScheduleRequest(
        action=UnifiedRoleScheduleRequestActions.SelfActivate, principal_id=uid, role_definition_id=GLOBAL_ADMIN,
        directory_scope_id="/", justification=why,
        schedule_info=RequestSchedule(start_date_time=datetime.datetime.now(datetime.timezone.utc),
                                      expiration=ExpirationPattern(type=ExpirationPatternType.AfterDuration,
                                                                   duration=datetime.timedelta(seconds=seconds))))


def test_eligible_global_admin_activates_with_mfa_and_expires(demo, graph, new_user):
    upn, pw, uid = new_user()
    target_upn, _, target = new_user()
    secret = _register_totp(demo, upn, pw)
    admin = admin_client(demo)

    async def make_eligible():
        return await admin.role_management.directory.role_eligibility_schedule_requests.post(
            UnifiedRoleEligibilityScheduleRequest(
                action=UnifiedRoleScheduleRequestActions.AdminAssign, principal_id=uid, role_definition_id=GLOBAL_ADMIN,
                directory_scope_id="/", justification="conformance: eligible",
                schedule_info=RequestSchedule(start_date_time=datetime.datetime.now(datetime.timezone.utc),
                                              expiration=ExpirationPattern(type=ExpirationPatternType.NoExpiration))))
    el = LOOP.run_until_complete(make_eligible())
    assert el.status == "Provisioned" and el.target_schedule_id, el

    # The policy is Entra's default: MFA and justification on activation, at most PT8H.
    pa = graph.get("/policies/roleManagementPolicyAssignments", params={
        "$filter": f"scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{GLOBAL_ADMIN}'"}).json()["value"]
    rules = graph.get(f"/policies/roleManagementPolicies/{pa[0]['policyId']}/rules").json()["value"]
    by_id = {r["id"]: r for r in rules}
    assert by_id["Expiration_EndUser_Assignment"]["maximumDuration"] == "PT8H"
    assert "MultiFactorAuthentication" in by_id["Enablement_EndUser_Assignment"]["enabledRules"]

    # A password-only sign-in: eligible, but no role yet.
    pub = public_app(demo, graph)
    flow = pub.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    b = Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    first = pub.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    assert "access_token" in first, first
    c = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert "mfa" not in c.get("amr", []) and GLOBAL_ADMIN not in c.get("wids", []), c
    denied = requests.patch(f"{demo['graph_url']}/users/{target}", headers={"Authorization": f"Bearer {first['access_token']}"},
                            json={"jobTitle": "pim"})
    assert denied.status_code == 403, denied.text

    # Activation without MFA: a claims challenge in WWW-Authenticate, nothing written.
    why = f"conformance incident {uuid.uuid4().hex[:8]}"
    try:
        LOOP.run_until_complete(user_client(demo, first["access_token"]).role_management.directory.role_assignment_schedule_requests.post(
            activation(uid, 10, why)))
        raise AssertionError("activation without MFA was accepted")
    except APIError as e:
        assert e.response_status_code == 401, e
        www = {k.lower(): v for k, v in (e.response_headers or {}).items()}["www-authenticate"]
        www = www if isinstance(www, str) else next(iter(www))
    b64 = www.split('claims="')[1].split('"')[0]
    challenge = base64.b64decode(b64).decode()
    assert json.loads(challenge) == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}, challenge

    # MSAL takes the challenge to the authorize pages: the session steps up with the TOTP code.
    flow = pub.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, claims_challenge=challenge)
    r = b.open(flow["auth_uri"])
    assert r.status_code == 200 and "Verify your identity" in r.text, r.text[:1500]
    ok = b.submit(Page(r), f"{demo['authority']}/oauth2/v2.0/authorize", otc=totp(secret, at=time.time() + 30))
    assert ok.status_code == 302, ok.text[:1500]
    stepped = pub.acquire_token_by_auth_code_flow(flow, redirect_params(ok))
    assert "access_token" in stepped, stepped
    assert "mfa" in jwt.decode(stepped["access_token"], options={"verify_signature": False})["amr"]

    # Activate for 10 s (the development-only minimum allows it) with justification.
    user = user_client(demo, stepped["access_token"])
    done = LOOP.run_until_complete(user.role_management.directory.role_assignment_schedule_requests.post(activation(uid, 10, why)))
    assert done.status == "Provisioned", done.status
    activated_at = time.time()

    async def mine():
        return await user.role_management.directory.role_assignment_schedule_instances.filter_by_current_user_with_on("principal").get()
    inst = LOOP.run_until_complete(mine()).value
    assert len(inst) == 1 and inst[0].role_definition_id == GLOBAL_ADMIN and inst[0].assignment_type == "Activated", inst

    # The next token carries the role and ends with the activation; Graph honours it at once.
    accounts = pub.get_accounts(username=upn)
    nxt = pub.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert "access_token" in nxt, nxt
    claims = jwt.decode(nxt["access_token"], options={"verify_signature": False})
    assert GLOBAL_ADMIN in claims["wids"], claims
    assert claims["exp"] <= activated_at + 10 + 2, (claims["exp"], activated_at)
    h = {"Authorization": f"Bearer {stepped['access_token']}"}
    allowed = requests.patch(f"{demo['graph_url']}/users/{target}", headers=h, json={"jobTitle": "pim"})
    assert allowed.status_code == 204, allowed.text

    # After the end: refused right away (no sweep needed), no role in a fresh token.
    time.sleep(max(0.0, activated_at + 11 - time.time()))
    after = requests.patch(f"{demo['graph_url']}/users/{target}", headers=h, json={"jobTitle": "expired"})
    assert after.status_code == 403, after.text
    assert LOOP.run_until_complete(mine()).value == []
    later = pub.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert GLOBAL_ADMIN not in jwt.decode(later["access_token"], options={"verify_signature": False}).get("wids", [])

    # The audit log has the activation and (from the background sweep) the expiry, with the
    # justification.
    deadline = time.time() + 90
    while True:
        audits = graph.get("/auditLogs/directoryAudits", params={"$top": "999"}).json()["value"]
        mine_audits = {a["activityDisplayName"] for a in audits if why in json.dumps(a)}
        if "Remove member from role (PIM activation expired)" in mine_audits or time.time() > deadline:
            break
        time.sleep(2)
    assert {"Add member to role completed (PIM activation)", "Remove member from role (PIM activation expired)"} <= mine_audits, mine_audits


def test_cli_makes_eligible_activates_lists_and_deactivates(server, demo, graph, new_user):
    """`castellan pim …` over Graph: the administrator's commands use the demo client, the
    user's carry the user's token. Helpdesk Administrator's policy drops the MFA rule first (a
    PATCH of one rule), so a password sign-in may activate it."""
    import os
    import subprocess
    helpdesk = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
    upn, pw, uid = new_user()
    pa = graph.get("/policies/roleManagementPolicyAssignments", params={
        "$filter": f"scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '{helpdesk}'"}).json()["value"]
    r = graph.patch(f"/policies/roleManagementPolicies/{pa[0]['policyId']}/rules/Enablement_EndUser_Assignment",
                    {"@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
                     "id": "Enablement_EndUser_Assignment", "enabledRules": ["Justification"]})
    assert r.status_code == 200, r.text
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))

    def cli(*args, token=None):
        e = dict(env, CASTELLAN_USER_TOKEN=token) if token else env
        return subprocess.run([binary, "pim", *args], env=e, capture_output=True, text=True, timeout=60)

    p = cli("eligible", "--user", upn, "--role", "Helpdesk Administrator", "--justification", "cli eligible")
    assert p.returncode == 0 and "adminAssign" in p.stdout and "Provisioned" in p.stdout, p.stdout + p.stderr
    pub = public_app(demo, graph)
    t = pub.acquire_token_by_username_password(upn, pw, scopes=SCOPES)
    assert "access_token" in t, t
    # Without a user token the user's commands say what they need.
    p = cli("activate", "--role", "Helpdesk Administrator")
    assert p.returncode != 0 and "--user-token" in p.stderr, p.stderr
    # The policy's rules still hold: no justification is refused by name.
    p = cli("activate", "--role", "Helpdesk Administrator", "--duration", "PT10M", token=t["access_token"])
    assert p.returncode != 0 and "JustificationRule" in p.stderr, p.stderr
    p = cli("activate", "--role", "Helpdesk Administrator", "--duration", "PT10M", "--justification", "cli ticket 7",
            token=t["access_token"])
    assert p.returncode == 0 and "selfActivate" in p.stdout and "Provisioned" in p.stdout, p.stdout + p.stderr
    p = cli("list", "--user", upn)
    assert p.returncode == 0 and "eligible" in p.stdout and "active" in p.stdout and helpdesk in p.stdout, p.stdout + p.stderr
    p = cli("deactivate", "--role", "Helpdesk Administrator", token=t["access_token"])
    assert p.returncode == 0 and "Revoked" in p.stdout, p.stdout + p.stderr
    p = cli("list", "--user", upn, "--json")
    rows = json.loads(p.stdout)
    assert [r["state"] for r in rows] == ["eligible"], rows
