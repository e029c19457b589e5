//! PIM for groups in Graph's shapes (`identityGovernance/privilegedAccess/group`):
//! `privilegedAccessGroup{Eligibility|Assignment}ScheduleRequest`, their schedules and
//! instances, and the group-scoped `unifiedRoleManagementPolicy` / assignment. The body's
//! `accessId` (`member` | `owner`) and `groupId` are the engine's role and scope; everything
//! else (`action`, `scheduleInfo`, `ticketInfo`, `justification`) is read as for directory
//! roles (`graph::pim`).

use castellan_core::ops::pim::NewRequest;
use castellan_core::pim::{
    self, AssignmentType, Level, RolePolicy, RoleSchedule, RoleScheduleRequest,
};
use castellan_core::Timestamp;
use serde_json::{json, Map, Value};

use super::check_object;
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// `privilegedAccessGroupEligibility…` or `privilegedAccessGroupAssignment…`.
pub fn type_name(level: Level, what: &str) -> String {
    match level {
        Level::Eligibility => format!("privilegedAccessGroupEligibility{what}"),
        Level::Assignment => format!("privilegedAccessGroupAssignment{what}"),
    }
}

/// Parses a schedule request body (`POST …/group/{eligibility|assignment}ScheduleRequests`)
/// into the engine's request: `accessId` becomes the role, `groupId` the scope.
pub fn parse_request(level: Level, body: &Value) -> Result<NewRequest, GraphError> {
    let tn = type_name(level, "ScheduleRequest");
    let o = check_object(
        body,
        &tn,
        &[
            "accessId",
            "action",
            "groupId",
            "principalId",
            "justification",
            "ticketInfo",
            "isValidationOnly",
            "scheduleInfo",
            "targetScheduleId",
        ],
        &[
            "id",
            "status",
            "approvalId",
            "createdBy",
            "createdDateTime",
            "completedDateTime",
            "customData",
        ],
    )?;
    let required = |name: &str| -> Result<String, GraphError> {
        match o.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None | Some(Value::Null) => Err(GraphError::bad_request(
                format!("The property '{name}' is required on {tn}."),
            )),
            Some(_) => Err(GraphError::bad_request(format!(
                "Invalid value for property '{name}': expected a string."
            ))),
        }
    };
    let access = required("accessId")?;
    let role = pim::access_role(&access).ok_or_else(|| {
        GraphError::bad_request(format!("accessId '{access}' is not one of: member, owner."))
    })?;
    let group = required("groupId")?;
    required("principalId")?;
    required("action")?;
    // The rest is the directory-role request's: same actions, schedule and ticket rules.
    let mut inner: Map<String, Value> = o.clone();
    inner.remove("accessId");
    inner.remove("groupId");
    inner.insert("roleDefinitionId".into(), json!(role.to_string()));
    inner.insert("directoryScopeId".into(), json!(group));
    let mut r = super::pim::parse_request(level, &Value::Object(inner))?;
    r.directory_scope_id = group;
    Ok(r)
}

fn access(role: uuid::Uuid) -> &'static str {
    pim::access_id(role).unwrap_or("member")
}

/// Replaces the directory-role fields of a rendered object by the group ones.
fn regroup(mut v: Value, role: uuid::Uuid, group: &str) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("roleDefinitionId");
        o.remove("directoryScopeId");
        o.remove("appScopeId");
        o.insert("accessId".into(), json!(access(role)));
        o.insert("groupId".into(), json!(group));
        if o.contains_key("memberType") {
            o.insert("memberType".into(), json!("direct"));
        }
    }
    v
}

/// Renders a schedule request.
pub fn render_request(r: &RoleScheduleRequest) -> Value {
    regroup(
        super::pim::render_request(r),
        r.role_definition_id,
        &r.directory_scope_id,
    )
}

fn assignment_type(t: AssignmentType) -> &'static str {
    match t {
        AssignmentType::Assigned => "assigned",
        AssignmentType::Activated => "activated",
    }
}

/// Renders a schedule (`privilegedAccessGroup{Eligibility|Assignment}Schedule`).
pub fn render_schedule(s: &RoleSchedule, now: Timestamp) -> Value {
    let mut v = regroup(
        super::pim::render_schedule(s, now),
        s.role_definition_id,
        &s.directory_scope_id,
    );
    if let (Level::Assignment, Some(o)) = (s.level, v.as_object_mut()) {
        o.insert(
            "assignmentType".into(),
            json!(assignment_type(s.assignment_type)),
        );
    }
    v
}

/// Renders a schedule instance (the schedule while in force).
pub fn render_instance(s: &RoleSchedule) -> Value {
    let mut v = json!({
        "id": s.id.to_string(),
        "accessId": access(s.role_definition_id),
        "groupId": s.directory_scope_id,
        "principalId": s.principal_id.to_string(),
        "memberType": "direct",
        "startDateTime": graph_datetime(s.start),
        "endDateTime": s.end.map(graph_datetime),
    });
    if let Some(o) = v.as_object_mut() {
        match s.level {
            Level::Eligibility => {
                o.insert("eligibilityScheduleId".into(), json!(s.id.to_string()));
            }
            Level::Assignment => {
                o.insert("assignmentScheduleId".into(), json!(s.id.to_string()));
                o.insert(
                    "assignmentType".into(),
                    json!(assignment_type(s.assignment_type)),
                );
            }
        }
    }
    v
}

/// Renders a group's `unifiedRoleManagementPolicy` (rules included when `with_rules`).
pub fn render_policy(p: &RolePolicy, with_rules: bool) -> Value {
    let mut v = super::pim::render_policy(p, with_rules);
    if let Some(o) = v.as_object_mut() {
        o.insert("displayName".into(), json!("Group"));
        o.insert("description".into(), json!("Group"));
        o.insert("scopeId".into(), json!(p.scope_id));
        o.insert("scopeType".into(), json!("Group"));
    }
    v
}

/// Renders a group's `unifiedRoleManagementPolicyAssignment` (`roleDefinitionId` is the
/// accessId: `member` or `owner`).
pub fn render_policy_assignment(p: &RolePolicy) -> Value {
    json!({
        "id": p.assignment_id(),
        "policyId": p.id(),
        "scopeId": p.scope_id,
        "scopeType": "Group",
        "roleDefinitionId": access(p.role_definition_id),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_maps_access_and_group_onto_the_engine_and_back() {
        let g = "6f1c1a8e-6a0c-4d1e-9a55-0d3b1f6f0a11";
        let body = json!({"accessId": "member", "action": "adminAssign", "groupId": g,
            "principalId": "0b0c1a8e-6a0c-4d1e-9a55-0d3b1f6f0a22", "justification": "why",
            "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT2H"}}});
        let r = parse_request(Level::Eligibility, &body).unwrap();
        assert_eq!(r.role_definition_id, pim::GROUP_MEMBER.to_string());
        assert_eq!(r.directory_scope_id, g);
        assert_eq!(
            r.expiration,
            castellan_core::pim::Expiration::AfterDuration(7200)
        );
    }

    #[test]
    fn bad_bodies_are_refused_by_name() {
        let g = "6f1c1a8e-6a0c-4d1e-9a55-0d3b1f6f0a11";
        let base = json!({"accessId": "member", "action": "adminAssign", "groupId": g,
            "principalId": g});
        for (field, value, says) in [
            (
                "accessId",
                json!("admin"),
                "accessId 'admin' is not one of: member, owner",
            ),
            ("groupId", json!(""), "'groupId' is required"),
            ("roleDefinitionId", json!("x"), "roleDefinitionId"),
            ("action", json!("adminDance"), "action 'adminDance'"),
        ] {
            let mut b = base.clone();
            b[field] = value;
            let e = parse_request(Level::Assignment, &b).unwrap_err();
            assert!(format!("{e:?}").contains(says), "{field}: {e:?}");
        }
    }
}
