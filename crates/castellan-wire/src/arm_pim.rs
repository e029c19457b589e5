//! PIM for Azure roles in ARM's shapes (`Microsoft.Authorization`, api-version 2020-10-01):
//! `RoleEligibilityScheduleRequest` / `RoleAssignmentScheduleRequest` bodies and their
//! rendering, `Role{Eligibility|Assignment}Schedule[Instance]`, `RoleManagementPolicy` (rules
//! with `ruleType`, the same rule ids as Graph) and `RoleManagementPolicyAssignment`, and the
//! lists' `$filter` (`asTarget()`, `asRequestor()`, `atScope()`, `principalId eq '…'`).
//! Policy rule changes go through Graph's rule parser (`graph::pim::patch_rule`) after the ARM
//! rule is spelled in Graph's form, so both planes accept and refuse the same things.

use castellan_core::arm_view;
use castellan_core::error::Code;
use castellan_core::ops::arm::ArmError;
use castellan_core::ops::arm_pim::{kind_name, ArmRequest, PimFilter};
use castellan_core::pim::{
    Action, ApprovalStep, Expiration, Level, RolePolicy, RoleSchedule, RoleScheduleRequest,
};
use castellan_core::{ObjectId, Timestamp};
use serde_json::{json, Map, Value};

use crate::arm::role_definition_prefix;
use crate::graph::pim::{format_duration, parse_duration, patch_rule, render_rules};
use crate::time::{graph_datetime as iso, parse_graph_datetime};

fn bad(field: &str, why: &str) -> ArmError {
    Code::ArmInvalidRequestContent2.arm(&[("field", &field), ("why", &why)])
}

fn text(o: &Map<String, Value>, field: &str, path: &str) -> Result<Option<String>, ArmError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(&format!("{path}{field}"), "must be a string")),
    }
}

fn object<'a>(
    o: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ArmError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad(&format!("{path}{field}"), "must be an object")),
    }
}

fn only(o: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), ArmError> {
    for k in o.keys() {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return Err(bad(
                &format!("{path}{k}"),
                &format!(
                    "is not a property of this object; use {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Parses the PUT body of a schedule request.
pub fn parse_request(level: Level, body: &Value) -> Result<ArmRequest, ArmError> {
    let root = body
        .as_object()
        .ok_or_else(|| bad("body", "must be a JSON object with properties"))?;
    only(root, &["properties", "id", "name", "type"], "")?;
    let p = object(root, "properties", "")?.ok_or_else(|| bad("properties", "is required"))?;
    let target = match level {
        Level::Eligibility => "targetRoleEligibilityScheduleId",
        Level::Assignment => "targetRoleAssignmentScheduleId",
    };
    let target_instance = format!("{target}Instance");
    let target_instance = target_instance.replace("ScheduleIdInstance", "ScheduleInstanceId");
    let mut allowed = vec![
        "roleDefinitionId",
        "principalId",
        "requestType",
        "justification",
        "scheduleInfo",
        "ticketInfo",
        "condition",
        "conditionVersion",
        "scope",
        "principalType",
        "status",
        "approvalId",
        "createdOn",
        "requestorId",
        "expandedProperties",
        target,
        &target_instance,
    ];
    if level == Level::Assignment {
        allowed.push("linkedRoleEligibilityScheduleId");
    }
    only(p, &allowed, "properties.")?;
    let need = |f: &str| -> Result<String, ArmError> {
        text(p, f, "properties.")?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad(&format!("properties.{f}"), "is required"))
    };
    let principal_id = need("principalId")?;
    let role_definition_id = need("roleDefinitionId")?;
    let rt = need("requestType")?;
    let action = Action::ALL_VALUES
        .iter()
        .copied()
        .find(|a| a.as_str().eq_ignore_ascii_case(&rt))
        .ok_or_else(|| {
            bad(
                "properties.requestType",
                &format!("'{rt}' is not one of AdminAssign, AdminRemove, AdminUpdate, AdminExtend, AdminRenew, SelfActivate, SelfDeactivate, SelfExtend, SelfRenew"),
            )
        })?;
    if text(p, "condition", "properties.")?.is_some_and(|c| !c.trim().is_empty()) {
        return Err(bad(
            "properties.condition",
            "is not supported on PIM schedule requests; leave it out",
        ));
    }
    let mut start = None;
    let mut expiration = Expiration::NoExpiration;
    if let Some(si) = object(p, "scheduleInfo", "properties.")? {
        only(
            si,
            &["startDateTime", "expiration"],
            "properties.scheduleInfo.",
        )?;
        if let Some(s) = text(si, "startDateTime", "properties.scheduleInfo.")? {
            start = Some(parse_graph_datetime(&s).ok_or_else(|| {
                bad(
                    "properties.scheduleInfo.startDateTime",
                    "is not an ISO 8601 date-time (e.g. 2026-01-01T00:00:00Z)",
                )
            })?);
        }
        if let Some(e) = object(si, "expiration", "properties.scheduleInfo.")? {
            let path = "properties.scheduleInfo.expiration.";
            only(e, &["type", "endDateTime", "duration"], path)?;
            let ty = text(e, "type", path)?.unwrap_or_else(|| "NoExpiration".into());
            expiration = if ty.eq_ignore_ascii_case("AfterDuration") {
                let d = text(e, "duration", path)?.ok_or_else(|| {
                    bad(
                        &format!("{path}duration"),
                        "is required for AfterDuration (e.g. PT8H)",
                    )
                })?;
                Expiration::AfterDuration(parse_duration(&d).filter(|s| *s > 0).ok_or_else(
                    || {
                        bad(
                            &format!("{path}duration"),
                            "is not an ISO 8601 duration (e.g. PT8H, P30D)",
                        )
                    },
                )?)
            } else if ty.eq_ignore_ascii_case("AfterDateTime") {
                let t = text(e, "endDateTime", path)?.ok_or_else(|| {
                    bad(
                        &format!("{path}endDateTime"),
                        "is required for AfterDateTime",
                    )
                })?;
                Expiration::AfterDateTime(parse_graph_datetime(&t).ok_or_else(|| {
                    bad(
                        &format!("{path}endDateTime"),
                        "is not an ISO 8601 date-time",
                    )
                })?)
            } else if ty.eq_ignore_ascii_case("NoExpiration") {
                Expiration::NoExpiration
            } else {
                return Err(bad(
                    &format!("{path}type"),
                    &format!("'{ty}' is not one of AfterDuration, AfterDateTime, NoExpiration"),
                ));
            };
        }
    }
    let (mut ticket_number, mut ticket_system) = (None, None);
    if let Some(t) = object(p, "ticketInfo", "properties.")? {
        only(
            t,
            &["ticketNumber", "ticketSystem"],
            "properties.ticketInfo.",
        )?;
        ticket_number = text(t, "ticketNumber", "properties.ticketInfo.")?;
        ticket_system = text(t, "ticketSystem", "properties.ticketInfo.")?;
    }
    Ok(ArmRequest {
        action,
        principal_id,
        role_definition_id,
        justification: text(p, "justification", "properties.")?,
        ticket_number,
        ticket_system,
        start,
        expiration,
        linked_eligibility: text(p, "linkedRoleEligibilityScheduleId", "properties.")?
            .filter(|s| !s.trim().is_empty()),
    })
}

/// Parses a PIM list's `$filter`: `asTarget()`, `asRequestor()`, `atScope()` and
/// `principalId eq '…'`, joined with `and`; anything else is 400 `InvalidFilter`.
pub fn parse_filter(filter: &str) -> Result<PimFilter, ArmError> {
    let mut f = PimFilter::default();
    let f_trim = filter.trim();
    if f_trim.is_empty() {
        return Ok(f);
    }
    let badf = || Code::ArmPimInvalidFilter.arm(&[("filter", &filter)]);
    let lower = f_trim.to_ascii_lowercase();
    let mut rest = f_trim;
    let mut lrest = lower.as_str();
    loop {
        let (part, lpart, more) = match lrest.find(" and ") {
            Some(i) => (
                rest.get(..i).unwrap_or(""),
                lrest.get(..i).unwrap_or(""),
                Some(i + 5),
            ),
            None => (rest, lrest, None),
        };
        match lpart.trim() {
            "astarget()" => f.as_target = true,
            "asrequestor()" => f.as_requestor = true,
            "atscope()" => f.at_scope = true,
            l if l.starts_with("principalid eq ") => {
                let v = part
                    .trim()
                    .get("principalid eq ".len()..)
                    .unwrap_or("")
                    .trim()
                    .trim_matches('\'')
                    .trim_matches('"');
                f.principal = Some(ObjectId::parse(v).ok_or_else(badf)?);
            }
            _ => return Err(badf()),
        }
        match more {
            Some(i) => {
                rest = rest.get(i..).unwrap_or("");
                lrest = lrest.get(i..).unwrap_or("");
            }
            None => break,
        }
    }
    Ok(f)
}

/// `roleDefinitionId eq '…'` on the policy lists (the GUID at its end), or none.
pub fn parse_role_filter(filter: &str) -> Result<Option<uuid::Uuid>, ArmError> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let badf = || Code::ArmPimInvalidFilter.arm(&[("filter", &filter)]);
    let lower = f.to_ascii_lowercase();
    if !lower.starts_with("roledefinitionid eq ") {
        return Err(badf());
    }
    let v = f
        .get("roledefinitionid eq ".len()..)
        .unwrap_or("")
        .trim()
        .trim_matches('\'')
        .trim_matches('"');
    castellan_core::ops::arm::role_guid(v)
        .map(Some)
        .ok_or_else(badf)
}

/// What `expandedProperties` show (looked up by the server).
#[derive(Clone, Debug, Default)]
pub struct Expanded {
    /// The principal's display name.
    pub principal_name: Option<String>,
    /// Its mail (or UPN).
    pub principal_email: Option<String>,
    /// `User`, `Group` or `ServicePrincipal`.
    pub principal_type: String,
    /// The role's name.
    pub role_name: Option<String>,
    /// `BuiltInRole` or `CustomRole`.
    pub role_type: String,
}

fn scope_type(scope: &str) -> &'static str {
    let l = scope.to_ascii_lowercase();
    if l == "/" {
        "root"
    } else if l.starts_with("/providers/microsoft.management/managementgroups/") {
        "managementgroup"
    } else if l.contains("/providers/") {
        "resource"
    } else if l.contains("/resourcegroups/") {
        "resourcegroup"
    } else {
        "subscription"
    }
}

fn expanded(scope: &str, role_id: &str, principal: ObjectId, ex: &Expanded) -> Value {
    json!({
        "scope": {
            "id": arm_view::canonical_id(scope),
            "displayName": scope.trim_end_matches('/').rsplit('/').next().unwrap_or(""),
            "type": scope_type(scope),
        },
        "roleDefinition": {"id": role_id, "displayName": ex.role_name, "type": ex.role_type},
        "principal": {
            "id": principal.to_string(),
            "displayName": ex.principal_name,
            "email": ex.principal_email,
            "type": ex.principal_type,
        },
    })
}

fn base(scope: &str) -> String {
    let c = arm_view::canonical_id(scope);
    if c == "/" {
        String::new()
    } else {
        c.trim_end_matches('/').to_string()
    }
}

/// An item's ARM id: `{scope}/providers/Microsoft.Authorization/{collection}/{name}`.
pub fn item_id(scope: &str, collection: &str, name: impl std::fmt::Display) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/{collection}/{name}",
        base(scope)
    )
}

/// The `roleDefinitionId` ARM shows for a role at a scope.
pub fn role_definition_id(scope: &str, role: uuid::Uuid) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        role_definition_prefix(scope)
    )
}

fn type_name(collection: &str) -> String {
    let mut c = collection.chars();
    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or('R');
    format!("Microsoft.Authorization/{first}{}", c.as_str())
}

fn request_type(a: Action) -> String {
    let s = a.as_str();
    let mut c = s.chars();
    c.next()
        .map(|f| format!("{}{}", f.to_ascii_uppercase(), c.as_str()))
        .unwrap_or_default()
}

fn dt(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso(t)))
}

/// Renders a schedule request (`linked`: the eligibility an activation came from).
pub fn render_request(r: &RoleScheduleRequest, linked: Option<ObjectId>, ex: &Expanded) -> Value {
    let scope = &r.directory_scope_id;
    let collection = format!("{}s", kind_name(r.level, "ScheduleRequest"));
    let role_id = role_definition_id(scope, r.role_definition_id);
    let (schedules, instances) = match r.level {
        Level::Eligibility => (
            "roleEligibilitySchedules",
            "roleEligibilityScheduleInstances",
        ),
        Level::Assignment => ("roleAssignmentSchedules", "roleAssignmentScheduleInstances"),
    };
    let (target_key, instance_key) = match r.level {
        Level::Eligibility => (
            "targetRoleEligibilityScheduleId",
            "targetRoleEligibilityScheduleInstanceId",
        ),
        Level::Assignment => (
            "targetRoleAssignmentScheduleId",
            "targetRoleAssignmentScheduleInstanceId",
        ),
    };
    let expiration = match r.expiration {
        Expiration::NoExpiration => {
            json!({"type": "NoExpiration", "endDateTime": null, "duration": null})
        }
        Expiration::AfterDuration(d) => {
            json!({"type": "AfterDuration", "endDateTime": null, "duration": format_duration(d)})
        }
        Expiration::AfterDateTime(t) => {
            json!({"type": "AfterDateTime", "endDateTime": iso(t), "duration": null})
        }
    };
    let mut props = json!({
        "scope": arm_view::canonical_id(scope),
        "roleDefinitionId": role_id,
        "principalId": r.principal_id.to_string(),
        "principalType": ex.principal_type,
        "requestType": request_type(r.action),
        "status": r.status,
        "approvalId": if r.approval.is_empty() { Value::Null } else {
            Value::String(item_id("/", "roleAssignmentApprovals", r.id))
        },
        "scheduleInfo": {
            "startDateTime": dt(Some(r.start.unwrap_or(r.created))),
            "expiration": expiration,
        },
        "justification": r.justification,
        "ticketInfo": {"ticketNumber": r.ticket_number, "ticketSystem": r.ticket_system},
        "condition": null,
        "conditionVersion": null,
        "createdOn": iso(r.created),
        "requestorId": r.created_by.to_string(),
        "expandedProperties": expanded(scope, &role_id, r.principal_id, ex),
    });
    if let Some(o) = props.as_object_mut() {
        o.insert(
            target_key.into(),
            r.target_schedule_id
                .map_or(Value::Null, |t| Value::String(item_id(scope, schedules, t))),
        );
        o.insert(
            instance_key.into(),
            r.target_schedule_id
                .map_or(Value::Null, |t| Value::String(item_id(scope, instances, t))),
        );
        if r.level == Level::Assignment {
            o.insert(
                "linkedRoleEligibilityScheduleId".into(),
                linked.map_or(Value::Null, |l| {
                    Value::String(item_id(scope, "roleEligibilitySchedules", l))
                }),
            );
        }
    }
    json!({
        "id": item_id(scope, &collection, r.id),
        "name": r.id.to_string(),
        "type": type_name(&collection),
        "properties": props,
    })
}

/// Renders a schedule, or (`instance`) the schedule while in force as its instance.
pub fn render_schedule(s: &RoleSchedule, instance: bool, now: Timestamp, ex: &Expanded) -> Value {
    let scope = &s.directory_scope_id;
    let role_id = role_definition_id(scope, s.role_definition_id);
    let collection = format!(
        "{}s",
        kind_name(
            s.level,
            if instance {
                "ScheduleInstance"
            } else {
                "Schedule"
            }
        )
    );
    let schedules = format!("{}s", kind_name(s.level, "Schedule"));
    let requests = format!("{}s", kind_name(s.level, "ScheduleRequest"));
    let mut props = json!({
        "scope": arm_view::canonical_id(scope),
        "roleDefinitionId": role_id,
        "principalId": s.principal_id.to_string(),
        "principalType": ex.principal_type,
        "memberType": "Direct",
        "status": if s.active_at(now) { "Provisioned" } else { "Granted" },
        "startDateTime": iso(s.start),
        "endDateTime": dt(s.end),
        "condition": null,
        "conditionVersion": null,
        "createdOn": iso(s.created),
        "expandedProperties": expanded(scope, &role_id, s.principal_id, ex),
    });
    if let Some(o) = props.as_object_mut() {
        if instance {
            let key = match s.level {
                Level::Eligibility => "roleEligibilityScheduleId",
                Level::Assignment => "roleAssignmentScheduleId",
            };
            o.insert(key.into(), json!(item_id(scope, &schedules, s.id)));
        } else {
            let key = match s.level {
                Level::Eligibility => "roleEligibilityScheduleRequestId",
                Level::Assignment => "roleAssignmentScheduleRequestId",
            };
            o.insert(
                key.into(),
                json!(item_id(scope, &requests, s.created_using)),
            );
            o.insert("updatedOn".into(), json!(iso(s.modified)));
        }
        if s.level == Level::Assignment {
            o.insert("assignmentType".into(), json!(s.assignment_type.as_str()));
            o.insert(
                "linkedRoleEligibilityScheduleId".into(),
                s.eligibility_id.map_or(Value::Null, |l| {
                    Value::String(item_id(scope, "roleEligibilitySchedules", l))
                }),
            );
            if instance {
                o.insert(
                    "linkedRoleEligibilityScheduleInstanceId".into(),
                    s.eligibility_id.map_or(Value::Null, |l| {
                        Value::String(item_id(scope, "roleEligibilityScheduleInstances", l))
                    }),
                );
                o.insert(
                    "originRoleAssignmentId".into(),
                    json!(item_id(scope, "roleAssignments", s.id)),
                );
            }
        }
    }
    json!({
        "id": item_id(scope, &collection, s.id),
        "name": s.id.to_string(),
        "type": type_name(&collection),
        "properties": props,
    })
}

/// Graph's rule JSON spelled as ARM's: `ruleType` instead of `@odata.type`, approvers as
/// `UserSet`s.
fn arm_rule(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        if let Some(Value::String(t)) = o.remove("@odata.type") {
            let name = t.trim_start_matches("#microsoft.graph.unified").to_string();
            o.insert("ruleType".into(), Value::String(name));
        }
        if let Some(stages) = o
            .get_mut("setting")
            .and_then(|s| s.get_mut("approvalStages"))
            .and_then(Value::as_array_mut)
        {
            for st in stages {
                if let Some(list) = st.get_mut("primaryApprovers").and_then(Value::as_array_mut) {
                    for a in list.iter_mut() {
                        let group = a.get("groupId").is_some();
                        let id = a
                            .get(if group { "groupId" } else { "userId" })
                            .cloned()
                            .unwrap_or(Value::Null);
                        *a = json!({
                            "userType": if group { "Group" } else { "User" },
                            "isBackup": false,
                            "id": id,
                            "description": a.get("description").cloned().unwrap_or(Value::Null),
                        });
                    }
                }
            }
        }
    }
    v
}

/// ARM's rule JSON spelled as Graph's, for `graph::pim::patch_rule`.
fn graph_rule(v: &Value) -> Result<(String, Value), ArmError> {
    let o = v
        .as_object()
        .ok_or_else(|| bad("properties.rules[]", "must be objects"))?;
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("properties.rules[].id", "is required"))?
        .to_string();
    let mut g = Map::new();
    for (k, val) in o {
        match k.as_str() {
            "ruleType" => {
                let t = val.as_str().unwrap_or("");
                g.insert(
                    "@odata.type".into(),
                    Value::String(format!("#microsoft.graph.unified{t}")),
                );
            }
            "setting" => {
                let mut s = val.clone();
                if let Some(stages) = s.get_mut("approvalStages").and_then(Value::as_array_mut) {
                    for st in stages {
                        if let Some(list) =
                            st.get_mut("primaryApprovers").and_then(Value::as_array_mut)
                        {
                            for a in list.iter_mut() {
                                let group = a
                                    .get("userType")
                                    .and_then(Value::as_str)
                                    .is_some_and(|t| t.eq_ignore_ascii_case("Group"));
                                let id = a.get("id").cloned().unwrap_or(Value::Null);
                                let desc = a.get("description").cloned().unwrap_or(Value::Null);
                                *a = if group {
                                    json!({"@odata.type": "#microsoft.graph.groupMembers", "groupId": id, "description": desc})
                                } else {
                                    json!({"@odata.type": "#microsoft.graph.singleUser", "userId": id, "description": desc})
                                };
                            }
                        }
                    }
                }
                g.insert(k.clone(), s);
            }
            _ => {
                g.insert(k.clone(), val.clone());
            }
        }
    }
    Ok((id, Value::Object(g)))
}

/// Applies a PATCH of `properties.rules` to a policy; returns the ids of the rules it changed.
pub fn patch_policy(p: &mut RolePolicy, body: &Value) -> Result<Vec<String>, ArmError> {
    let rules = body
        .get("properties")
        .and_then(|x| x.get("rules"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(
                "properties.rules",
                "is required (the rules to change, each with id and ruleType)",
            )
        })?;
    let mut ids = Vec::new();
    for r in rules {
        let (id, g) = graph_rule(r)?;
        patch_rule(p, &id, &g).map_err(|e| {
            Code::ArmPimPolicyRuleInvalid
                .arm(&[("rule", &id), ("detail", &e.message.trim_end_matches('.'))])
        })?;
        ids.push(id);
    }
    Ok(ids)
}

/// Renders a role management policy at its scope (`role_name`: the role's display name).
pub fn render_policy(p: &RolePolicy, role_name: Option<&str>) -> Value {
    let scope = &p.scope_id;
    let rules: Vec<Value> = render_rules(p).into_iter().map(arm_rule).collect();
    json!({
        "id": item_id(scope, "roleManagementPolicies", p.azure_name()),
        "name": p.azure_name().to_string(),
        "type": "Microsoft.Authorization/RoleManagementPolicies",
        "properties": {
            "scope": arm_view::canonical_id(scope),
            "displayName": role_name,
            "description": role_name,
            "isOrganizationDefault": false,
            "lastModifiedBy": p.modified_by.map(|m| json!({"id": m.to_string(), "displayName": null, "type": "User", "email": null})),
            "lastModifiedDateTime": dt(p.modified),
            "rules": rules,
            "effectiveRules": rules,
            "policyProperties": {"scope": {
                "id": arm_view::canonical_id(scope),
                "displayName": scope.trim_end_matches('/').rsplit('/').next().unwrap_or(""),
                "type": scope_type(scope),
            }},
        },
    })
}

/// Renders the assignment of a policy to its role at its scope (name `{policy}_{role}`).
pub fn render_policy_assignment(p: &RolePolicy, role_name: Option<&str>) -> Value {
    let scope = &p.scope_id;
    let name = format!("{}_{}", p.azure_name(), p.role_definition_id);
    let role_id = role_definition_id(scope, p.role_definition_id);
    let policy_id = item_id(scope, "roleManagementPolicies", p.azure_name());
    json!({
        "id": item_id(scope, "roleManagementPolicyAssignments", &name),
        "name": name,
        "type": "Microsoft.Authorization/RoleManagementPolicyAssignment",
        "properties": {
            "scope": arm_view::canonical_id(scope),
            "roleDefinitionId": role_id,
            "policyId": policy_id,
            "effectiveRules": render_rules(p).into_iter().map(arm_rule).collect::<Vec<_>>(),
            "policyAssignmentProperties": {
                "scope": {
                    "id": arm_view::canonical_id(scope),
                    "displayName": scope.trim_end_matches('/').rsplit('/').next().unwrap_or(""),
                    "type": scope_type(scope),
                },
                "roleDefinition": {"id": role_id, "displayName": role_name, "type": "BuiltInRole"},
                "policy": {
                    "id": policy_id,
                    "lastModifiedBy": p.modified_by.map(|m| json!({"id": m.to_string(), "displayName": null, "type": "User", "email": null})),
                    "lastModifiedDateTime": dt(p.modified),
                },
            },
        },
    })
}

/// Renders one approval stage (`Microsoft.Authorization/roleAssignmentApprovals/stages`).
pub fn render_stage(r: &RoleScheduleRequest, st: &ApprovalStep, me: &[ObjectId]) -> Value {
    let base = item_id("/", "roleAssignmentApprovals", r.id);
    json!({
        "id": format!("{base}/stages/{}", st.id),
        "name": st.id.to_string(),
        "type": "Microsoft.Authorization/roleAssignmentApprovals/stages",
        "properties": {
            "displayName": "Stage 1",
            "status": if st.review_result == "NotReviewed" { "InProgress" } else { "Completed" },
            "reviewResult": st.review_result,
            "assignedToMe": st.approvers.iter().any(|a| me.contains(a)),
            "reviewedBy": st.reviewed_by.map(|b| json!({"id": b.to_string(), "type": "User"})),
            "reviewedDateTime": dt(st.reviewed),
            "justification": st.justification,
        },
    })
}

/// Renders an approval with its stages (`me`: the caller and its groups, for `assignedToMe`).
pub fn render_approval(r: &RoleScheduleRequest, me: &[ObjectId]) -> Value {
    json!({
        "id": item_id("/", "roleAssignmentApprovals", r.id),
        "name": r.id.to_string(),
        "type": "Microsoft.Authorization/roleAssignmentApprovals",
        "properties": {
            "stages": r.approval.iter().map(|st| render_stage(r, st, me)).collect::<Vec<_>>(),
        },
    })
}

/// Parses a stage review: `{"properties": {"reviewResult", "justification"}}` (or the two at
/// the top level).
pub fn parse_review(body: &Value) -> Result<(String, Option<String>), ArmError> {
    let o = body
        .get("properties")
        .unwrap_or(body)
        .as_object()
        .ok_or_else(|| {
            bad(
                "properties",
                "must be an object with reviewResult and justification",
            )
        })?;
    let result = text(o, "reviewResult", "properties.")?
        .ok_or_else(|| bad("properties.reviewResult", "is required (Approve or Deny)"))?;
    Ok((result, text(o, "justification", "properties.")?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_bodies_parse_as_the_sdk_sends_them() {
        let body = json!({"properties": {
            "principalId": "11111111-1111-1111-1111-111111111111",
            "roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
            "requestType": "SelfActivate",
            "justification": "fix",
            "scheduleInfo": {"startDateTime": "2026-12-03T09:00:00.000Z", "expiration": {"type": "AfterDuration", "duration": "PT1H"}},
            "linkedRoleEligibilityScheduleId": "x",
        }});
        let r = parse_request(Level::Assignment, &body).unwrap();
        assert_eq!(r.action, Action::SelfActivate);
        assert_eq!(r.expiration, Expiration::AfterDuration(3600));
        assert!(r.start.is_some());
        assert_eq!(r.linked_eligibility.as_deref(), Some("x"));
        // Eligibility requests have no linked eligibility.
        let e = parse_request(Level::Eligibility, &body).unwrap_err();
        assert!(
            e.message.contains("linkedRoleEligibilityScheduleId"),
            "{}",
            e.message
        );
        for (b, needle) in [
            (
                json!({"properties": {"principalId": "p", "roleDefinitionId": "r", "requestType": "Grant"}}),
                "requestType",
            ),
            (
                json!({"properties": {"roleDefinitionId": "r", "requestType": "AdminAssign"}}),
                "principalId",
            ),
            (
                json!({"properties": {"principalId": "p", "roleDefinitionId": "r", "requestType": "AdminAssign", "scheduleInfo": {"expiration": {"type": "AfterDuration", "duration": "1 hour"}}}}),
                "duration",
            ),
            (
                json!({"properties": {"principalId": "p", "roleDefinitionId": "r", "requestType": "AdminAssign", "colour": 1}}),
                "colour",
            ),
            (
                json!({"properties": {"principalId": "p", "roleDefinitionId": "r", "requestType": "AdminAssign", "condition": "@Resource"}}),
                "condition",
            ),
        ] {
            let e = parse_request(Level::Assignment, &b).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn filters_parse_or_are_refused() {
        let f = parse_filter("asTarget()").unwrap();
        assert!(f.as_target);
        let f = parse_filter("atScope() and principalId eq '11111111-1111-1111-1111-111111111111'")
            .unwrap();
        assert!(f.at_scope && f.principal.is_some());
        assert!(parse_filter("asRequestor()").unwrap().as_requestor);
        assert_eq!(parse_filter("").unwrap(), PimFilter::default());
        for b in [
            "roleName eq 'x'",
            "principalId eq 'nope'",
            "asTarget() or atScope()",
        ] {
            let e = parse_filter(b).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "InvalidFilter"), "{b}");
        }
        assert_eq!(
            parse_role_filter("roleDefinitionId eq '/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c'").unwrap().unwrap().to_string(),
            "b24988ac-6180-42a0-ab88-20f7382dd24c"
        );
    }

    #[test]
    fn policy_rules_round_trip_through_the_arm_spelling() {
        let t = castellan_core::TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let role = uuid::Uuid::from_u128(2);
        let mut p = RolePolicy::azure_default_for(t, role, "/subscriptions/s/resourceGroups/rg");
        let v = render_policy(&p, Some("Contributor"));
        let rules = v["properties"]["rules"].as_array().unwrap();
        let exp = rules
            .iter()
            .find(|r| r["id"] == "Expiration_EndUser_Assignment")
            .unwrap();
        assert_eq!(exp["ruleType"], "RoleManagementPolicyExpirationRule");
        assert_eq!(exp["maximumDuration"], "PT8H");
        assert!(exp.get("@odata.type").is_none());
        let body = json!({"properties": {"rules": [
            {"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "isExpirationRequired": true, "maximumDuration": "PT2H", "target": {"caller": "EndUser", "operations": ["All"], "level": "Assignment"}},
            {"id": "Approval_EndUser_Assignment", "ruleType": "RoleManagementPolicyApprovalRule", "setting": {"isApprovalRequired": true, "approvalStages": [{"primaryApprovers": [{"userType": "Group", "id": "11111111-1111-1111-1111-111111111111", "isBackup": false}]}]}},
        ]}});
        assert_eq!(patch_policy(&mut p, &body).unwrap().len(), 2);
        assert_eq!(p.activation_max_secs, 7200);
        assert!(p.approval_required && p.approvers[0].is_group);
        let v = render_policy(&p, None);
        let ap = v["properties"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "Approval_EndUser_Assignment")
            .unwrap()
            .clone();
        assert_eq!(
            ap["setting"]["approvalStages"][0]["primaryApprovers"][0]["userType"],
            "Group"
        );
        let bad = json!({"properties": {"rules": [{"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule", "maximumDuration": "eight hours"}]}});
        let e = patch_policy(&mut p, &bad).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("maximumDuration"), "{}", e.message);
    }
}
