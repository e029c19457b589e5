"""PIM for Azure roles with the real azure-mgmt-authorization SDK (api-version 2020-10-01): the
demo Owner makes a user eligible for Contributor on the demo resource group; the user's ARM write
is refused (eligibility grants nothing); the user self-activates with a justification; the write
is allowed at once; after the (development-only, short) activation ends ARM refuses again right
away, and the background sweep records the expiry with the justification. Bad inputs are ARM
errors that change nothing."""
import datetime
import json
import time
import uuid

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization.v2020_10_01 import AuthorizationManagementClient
from azure.mgmt.authorization.v2020_10_01.models import (
    RoleAssignmentScheduleRequest, RoleAssignmentScheduleRequestPropertiesScheduleInfo as AssignmentSchedule,
    RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration as AssignmentExpiration, RoleEligibilityScheduleRequest,
    RoleEligibilityScheduleRequestPropertiesScheduleInfo as EligibilitySchedule,
    RoleEligibilityScheduleRequestPropertiesScheduleInfoExpiration as EligibilityExpiration)

from test_resource_plane import ARM, Arm, user_token

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


class _Static:
    """A TokenCredential over a token already acquired (the user's, by ROPC)."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3000)


def _client(demo, credential):
    return AuthorizationManagementClient(credential, base_url=demo["arm_url"],
                                         credential_scopes=[ARM])


@pytest.fixture(scope="module")
def admin(demo):
    cred = ClientSecretCredential(demo["tenant_id"], demo["confidential_client"]["app_id"],
                                  demo["confidential_client"]["secret"], authority=demo["origin"],
                                  disable_instance_discovery=True)
    return _client(demo, cred)


def _role(demo):
    return f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"


def _schedule(seconds=None, days=None, hours=None):
    """scheduleInfo starting now: eligibility for `days`, or an activation for `seconds`/`hours`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if days:
        return EligibilitySchedule(start_date_time=now, expiration=EligibilityExpiration(
            type="AfterDuration", duration=f"P{days}D"))
    duration = f"PT{seconds}S" if seconds else f"PT{hours}H"
    return AssignmentSchedule(start_date_time=now, expiration=AssignmentExpiration(type="AfterDuration", duration=duration))


def _write(demo, token):
    """An ARM write in the resource group: PUT a storage account."""
    name = f"pim{uuid.uuid4().hex[:12]}"
    return Arm(demo, token).put(
        f"{demo['resource_group_scope']}/providers/Microsoft.Storage/storageAccounts/{name}",
        {"location": "westeurope"})


def _error(call):
    with pytest.raises(HttpResponseError) as e:
        call()
    return e.value


def test_eligible_contributor_activates_writes_and_expires(demo, graph, admin, new_user):
    rg = demo["resource_group_scope"]
    upn, pw, uid = new_user()
    token = user_token(demo, upn, pw, ARM)
    me = _client(demo, _Static(token))

    el = admin.role_eligibility_schedule_requests.create(rg, str(uuid.uuid4()), RoleEligibilityScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="AdminAssign",
        justification="on call this month", schedule_info=_schedule(days=30)))
    assert el.status == "Provisioned" and el.request_type == "AdminAssign"
    assert "/providers/Microsoft.Authorization/roleEligibilitySchedules/" in el.target_role_eligibility_schedule_id
    assert el.expanded_properties.role_definition.display_name == "Contributor"
    assert el.expanded_properties.principal.id == uid

    # Eligibility alone grants nothing.
    r = _write(demo, token)
    assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed", r.text

    # The user finds its eligibility (asTarget()) and activates it with a justification.
    mine = list(me.role_eligibility_schedules.list_for_scope(rg, filter="asTarget()"))
    assert [s.principal_id for s in mine] == [uid]
    why = f"incident {uuid.uuid4().hex[:8]}"
    act = me.role_assignment_schedule_requests.create(rg, str(uuid.uuid4()), RoleAssignmentScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="SelfActivate", justification=why,
        linked_role_eligibility_schedule_id=mine[0].id, schedule_info=_schedule(seconds=10)))
    activated_at = time.time()
    assert act.status == "Provisioned"
    assert act.linked_role_eligibility_schedule_id == mine[0].id
    got = me.role_assignment_schedule_requests.get(rg, act.name)
    assert got.justification == why and got.requestor_id == uid

    # The next write is allowed.
    r = _write(demo, token)
    assert r.status_code == 201, r.text
    inst = list(me.role_assignment_schedule_instances.list_for_scope(rg, filter="asTarget()"))
    assert [(i.principal_id, i.assignment_type) for i in inst] == [(uid, "Activated")]
    assert list(admin.role_assignment_schedules.list_for_scope(rg, filter=f"principalId eq '{uid}'"))

    # After its end: refused right away (no sweep needed), no instance left.
    time.sleep(max(0.0, activated_at + 11 - time.time()))
    r = _write(demo, token)
    assert r.status_code == 403, r.text
    assert list(me.role_assignment_schedule_instances.list_for_scope(rg, filter="asTarget()")) == []

    # The audit log has the request, the activation and (from the background sweep) the expiry,
    # each with the justification.
    deadline = time.time() + 90
    while True:
        audits = graph.get("/auditLogs/directoryAudits", params={"$top": "999"}).json()["value"]
        seen = {a["activityDisplayName"] for a in audits if why in json.dumps(a)}
        if "Remove member from role (PIM activation expired)" in seen or time.time() > deadline:
            break
        time.sleep(2)
    assert {"Add member to role completed (PIM activation)",
            "Remove member from role (PIM activation expired)"} <= seen, seen


def test_bad_requests_are_arm_errors_and_change_nothing(demo, admin, new_user):
    rg = demo["resource_group_scope"]
    upn, pw, uid = new_user()
    me = _client(demo, _Static(user_token(demo, upn, pw, ARM)))

    def count():
        return len(list(admin.role_assignment_schedule_requests.list_for_scope(rg))), \
            len(list(admin.role_eligibility_schedule_requests.list_for_scope(rg)))

    before = count()
    # Activation without eligibility.
    e = _error(lambda: me.role_assignment_schedule_requests.create(rg, str(uuid.uuid4()), RoleAssignmentScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="SelfActivate", justification="x",
        schedule_info=_schedule(seconds=600))))
    assert (e.status_code, e.error.code) == (400, "RoleAssignmentRequestPolicyValidationFailed")
    assert "EligibilityRule" in e.error.message
    # A non-owner's AdminAssign (the user on itself).
    e = _error(lambda: me.role_eligibility_schedule_requests.create(rg, str(uuid.uuid4()), RoleEligibilityScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="AdminAssign", justification="x",
        schedule_info=_schedule(days=1))))
    assert (e.status_code, e.error.code) == (403, "AuthorizationFailed")
    # An unknown role definition.
    e = _error(lambda: admin.role_eligibility_schedule_requests.create(rg, str(uuid.uuid4()), RoleEligibilityScheduleRequest(
        role_definition_id=f"{demo['subscription_scope']}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}",
        principal_id=uid, request_type="AdminAssign", justification="x", schedule_info=_schedule(days=1))))
    assert (e.status_code, e.error.code) == (404, "RoleDefinitionDoesNotExist")
    # Eligibility beyond the policy's year, and an activation beyond its eight hours.
    e = _error(lambda: admin.role_eligibility_schedule_requests.create(rg, str(uuid.uuid4()), RoleEligibilityScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="AdminAssign", justification="x",
        schedule_info=_schedule(days=400))))
    assert (e.status_code, e.error.code) == (400, "RoleAssignmentRequestPolicyValidationFailed")
    assert "ExpirationRule" in e.error.message
    assert count() == before
    admin.role_eligibility_schedule_requests.create(rg, str(uuid.uuid4()), RoleEligibilityScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="AdminAssign", justification="x",
        schedule_info=_schedule(days=2)))
    e = _error(lambda: me.role_assignment_schedule_requests.create(rg, str(uuid.uuid4()), RoleAssignmentScheduleRequest(
        role_definition_id=_role(demo), principal_id=uid, request_type="SelfActivate", justification="x",
        schedule_info=_schedule(hours=9))))
    assert (e.status_code, e.error.code) == (400, "RoleAssignmentRequestPolicyValidationFailed")
    assert "ExpirationRule" in e.error.message
    assert list(me.role_assignment_schedule_instances.list_for_scope(rg, filter="asTarget()")) == []


def test_policies_per_scope_with_graphs_rule_ids(demo, admin):
    rg = demo["resource_group_scope"]
    # One policy (and assignment) per role at the scope; 2020-10-01's lists take no $filter.
    everything = list(admin.role_management_policy_assignments.list_for_scope(rg))
    assignments = [a for a in everything if a.role_definition_id.lower().endswith(CONTRIBUTOR)]
    assert len(assignments) == 1 and len(everything) > 50
    assert len(list(admin.role_management_policies.list_for_scope(rg))) == len(everything)
    name = assignments[0].policy_id.rsplit("/", 1)[1]
    policy = admin.role_management_policies.get(rg, name)
    rules = {r.id: r for r in policy.rules}
    assert {"Expiration_EndUser_Assignment", "Enablement_EndUser_Assignment", "Approval_EndUser_Assignment",
            "Expiration_Admin_Eligibility", "Expiration_Admin_Assignment"} <= set(rules)
    assert rules["Expiration_EndUser_Assignment"].maximum_duration == "PT8H"
    assert rules["Expiration_Admin_Eligibility"].is_expiration_required is True
    assert "Justification" in rules["Enablement_EndUser_Assignment"].enabled_rules


def test_cli_makes_eligible_activates_and_deactivates_at_an_arm_scope(server, demo, new_user):
    """`castellan pim … --scope <resource group>`: the administrator's `eligible` as the demo
    client, the user's `activate` / `deactivate` with the user's ARM token."""
    import os
    import subprocess
    rg = demo["resource_group_scope"]
    upn, pw, uid = new_user()
    token = user_token(demo, upn, pw, ARM)
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))

    def cli(*args, user=False):
        e = dict(env, CASTELLAN_USER_TOKEN=token) if user else env
        return subprocess.run([binary, "pim", *args, "--scope", rg], env=e, capture_output=True, text=True, timeout=60)

    # Azure's policy requires an expiration for eligibility: a permanent one is refused by name.
    p = cli("eligible", "--user", upn, "--role", "Contributor")
    assert p.returncode != 0 and "ExpirationRule" in p.stderr, p.stdout + p.stderr
    p = cli("eligible", "--user", upn, "--role", "Contributor", "--duration", "P30D", "--justification", "cli")
    assert p.returncode == 0 and "AdminAssign" in p.stdout and "Provisioned" in p.stdout, p.stdout + p.stderr
    assert _write(demo, token).status_code == 403
    p = cli("activate", "--role", "Contributor", "--duration", "PT10M", "--justification", "cli change 9", user=True)
    assert p.returncode == 0 and "SelfActivate" in p.stdout and "Provisioned" in p.stdout, p.stdout + p.stderr
    assert _write(demo, token).status_code == 201
    p = cli("deactivate", "--role", "Contributor", user=True)
    assert p.returncode == 0 and "Revoked" in p.stdout, p.stdout + p.stderr
    assert _write(demo, token).status_code == 403
