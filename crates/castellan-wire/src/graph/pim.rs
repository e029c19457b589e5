//! Privileged Identity Management in Graph's shapes: `unifiedRoleEligibilityScheduleRequest`,
//! `unifiedRoleAssignmentScheduleRequest`, their schedules and instances,
//! `unifiedRoleManagementPolicy` (+ rules, assignments) and `approval` / `approvalStep`; ISO
//! 8601 durations (`PT8H`).

use castellan_core::ops::pim::NewRequest;
use castellan_core::ops::Field;
use castellan_core::pim::{
    Action, ApprovalStep, Expiration, Level, RolePolicy, RoleSchedule, RoleScheduleRequest,
};
use castellan_core::Timestamp;
use serde_json::{json, Map, Value};

use super::{check_object, str_field};
use crate::errors::GraphError;
use crate::time::{graph_datetime, parse_graph_datetime};

/// Parses an ISO 8601 duration of days, hours, minutes and seconds (`P365D`, `PT8H`,
/// `PT1H30M`, `PT90S`, `P1W`) into seconds. Years and months (calendar lengths) are refused.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.starts_with('P') {
        return clock_duration(s);
    }
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total: i64 = 0;
    let mut eat = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let mult = loop {
                let (u, m) = allowed.next()?;
                if *u == c {
                    break *m;
                }
            };
            let n: i64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(mult)?)?;
            num.clear();
        }
        num.is_empty().then_some(())
    };
    eat(date, &[('W', 7 * 86400), ('D', 86400)])?;
    if let Some(t) = time {
        eat(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

/// The `[D day[s], ]H:MM:SS[.ffffff]` form the Python Graph SDK (kiota) writes for a
/// `timedelta` — what the real client sends, so it is accepted too.
fn clock_duration(s: &str) -> Option<i64> {
    let (days, clock) = match s.split_once(", ") {
        Some((d, c)) => {
            let n = d.strip_suffix(" days").or_else(|| d.strip_suffix(" day"))?;
            (n.trim().parse::<i64>().ok()?, c)
        }
        None => (0, s),
    };
    let mut parts = clock.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next()?;
    if parts.next().is_some() || !(0..60).contains(&m) {
        return None;
    }
    let sec: i64 = sec.split('.').next()?.parse().ok()?;
    if !(0..60).contains(&sec) || h < 0 || days < 0 {
        return None;
    }
    days.checked_mul(86400)?
        .checked_add(h.checked_mul(3600)?)?
        .checked_add(m * 60 + sec)
}

/// Renders seconds as an ISO 8601 duration (`PT8H`, `P365D`, `PT1H30M`).
pub fn format_duration(secs: i64) -> String {
    let (d, rem) = (secs / 86400, secs % 86400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = String::from("P");
    if d > 0 {
        out.push_str(&format!("{d}D"));
    }
    if h > 0 || m > 0 || s > 0 || d == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || (h == 0 && m == 0) {
            out.push_str(&format!("{s}S"));
        }
    }
    out
}

fn type_name(level: Level, what: &str) -> String {
    match level {
        Level::Eligibility => format!("unifiedRoleEligibility{what}"),
        Level::Assignment => format!("unifiedRoleAssignment{what}"),
    }
}

fn obj<'a>(v: &'a Value, name: &str) -> Result<Option<&'a Map<String, Value>>, GraphError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{name}': expected an object."
        ))),
    }
}

fn string(o: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    Ok(match str_field(o, name)? {
        Field::Value(s) => Some(s),
        _ => None,
    })
}

/// Parses a schedule request body (`POST …/role{Eligibility|Assignment}ScheduleRequests`).
pub fn parse_request(level: Level, body: &Value) -> Result<NewRequest, GraphError> {
    let tn = type_name(level, "ScheduleRequest");
    let o = check_object(
        body,
        &tn,
        &[
            "action",
            "principalId",
            "roleDefinitionId",
            "directoryScopeId",
            "appScopeId",
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
        string(o, name)?.filter(|s| !s.is_empty()).ok_or_else(|| {
            GraphError::bad_request(format!("The property '{name}' is required on {tn}."))
        })
    };
    let action_text = required("action")?;
    let action = Action::parse(&action_text).ok_or_else(|| {
        GraphError::bad_request(format!(
            "action '{action_text}' is not one of: {}.",
            Action::ALL_VALUES
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if string(o, "appScopeId")?.is_some_and(|s| !s.is_empty()) {
        return Err(GraphError::bad_request(
            "appScopeId is not supported; scope the request with directoryScopeId ('/' or '/administrativeUnits/{id}').",
        ));
    }
    let ticket = obj(body, "ticketInfo")?;
    if let Some(t) = ticket {
        check_object(
            &Value::Object(t.clone()),
            "ticketInfo",
            &["ticketNumber", "ticketSystem"],
            &[],
        )?;
    }
    let (mut start, mut expiration) = (None, Expiration::NoExpiration);
    let schedule = obj(body, "scheduleInfo")?;
    let ends = matches!(action, Action::AdminRemove | Action::SelfDeactivate);
    if let Some(si) = schedule {
        check_object(
            &Value::Object(si.clone()),
            "requestSchedule",
            &["startDateTime", "expiration", "recurrence"],
            &[],
        )?;
        if let Some(s) = string(si, "startDateTime")? {
            start = Some(parse_graph_datetime(&s).ok_or_else(|| {
                GraphError::bad_request(format!(
                    "scheduleInfo.startDateTime '{s}' is not an ISO 8601 date and time (e.g. 2026-01-01T00:00:00Z)."
                ))
            })?);
        }
        let ex = Value::Object(si.clone());
        if let Some(e) = obj(&ex, "expiration")? {
            check_object(
                &Value::Object(e.clone()),
                "expirationPattern",
                &["type", "duration", "endDateTime"],
                &[],
            )?;
            let ty = string(e, "type")?.unwrap_or_else(|| "noExpiration".into());
            expiration = match ty.to_ascii_lowercase().as_str() {
                "noexpiration" => Expiration::NoExpiration,
                "afterduration" => {
                    let d = string(e, "duration")?.ok_or_else(|| GraphError::bad_request("scheduleInfo.expiration.duration is required when type is afterDuration (e.g. PT8H)."))?;
                    Expiration::AfterDuration(parse_duration(&d).filter(|s| *s > 0).ok_or_else(|| GraphError::bad_request(format!("scheduleInfo.expiration.duration '{d}' is not an ISO 8601 duration of days, hours, minutes or seconds (e.g. PT8H, P30D).")))?)
                }
                "afterdatetime" => {
                    let d = string(e, "endDateTime")?.ok_or_else(|| GraphError::bad_request("scheduleInfo.expiration.endDateTime is required when type is afterDateTime."))?;
                    Expiration::AfterDateTime(parse_graph_datetime(&d).ok_or_else(|| GraphError::bad_request(format!("scheduleInfo.expiration.endDateTime '{d}' is not an ISO 8601 date and time.")))?)
                }
                other => {
                    return Err(GraphError::bad_request(format!(
                        "scheduleInfo.expiration.type '{other}' is not one of noExpiration, afterDuration, afterDateTime."
                    )))
                }
            };
        }
    } else if !ends && level == Level::Assignment && !action.is_admin() {
        return Err(GraphError::bad_request(
            "scheduleInfo is required for activations: send scheduleInfo.expiration (type afterDuration, e.g. PT8H).",
        ));
    }
    let is_validation_only = match super::bool_field(o, "isValidationOnly")? {
        Field::Value(b) => b,
        _ => false,
    };
    Ok(NewRequest {
        level,
        action,
        principal_id: required("principalId")?,
        role_definition_id: required("roleDefinitionId")?,
        directory_scope_id: string(o, "directoryScopeId")?.unwrap_or_else(|| "/".into()),
        justification: string(o, "justification")?,
        ticket_number: ticket
            .map(|t| string(t, "ticketNumber"))
            .transpose()?
            .flatten(),
        ticket_system: ticket
            .map(|t| string(t, "ticketSystem"))
            .transpose()?
            .flatten(),
        is_validation_only,
        start,
        expiration,
    })
}

fn dt(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(graph_datetime(t)))
}

fn expiration_json(end: Option<Timestamp>) -> Value {
    match end {
        None => json!({"type": "noExpiration", "endDateTime": null, "duration": null}),
        Some(e) => {
            json!({"type": "afterDateTime", "endDateTime": graph_datetime(e), "duration": null})
        }
    }
}

/// Renders a schedule request.
pub fn render_request(r: &RoleScheduleRequest) -> Value {
    let expiration = match r.expiration {
        Expiration::NoExpiration => {
            json!({"type": "noExpiration", "endDateTime": null, "duration": null})
        }
        Expiration::AfterDuration(d) => {
            json!({"type": "afterDuration", "endDateTime": null, "duration": format_duration(d)})
        }
        Expiration::AfterDateTime(t) => {
            json!({"type": "afterDateTime", "endDateTime": graph_datetime(t), "duration": null})
        }
    };
    let mut v = json!({
        "id": r.id.to_string(),
        "status": r.status,
        "createdDateTime": graph_datetime(r.created),
        "completedDateTime": dt(r.completed),
        "approvalId": if r.approval.is_empty() { Value::Null } else { Value::String(r.id.to_string()) },
        "customData": null,
        "action": r.action.as_str(),
        "principalId": r.principal_id.to_string(),
        "roleDefinitionId": r.role_definition_id.to_string(),
        "directoryScopeId": r.directory_scope_id,
        "appScopeId": null,
        "isValidationOnly": false,
        "targetScheduleId": r.target_schedule_id.map(|t| t.to_string()),
        "justification": r.justification,
        "createdBy": {"application": null, "device": null, "user": {"displayName": null, "id": r.created_by.to_string()}},
        "scheduleInfo": {
            "startDateTime": dt(Some(r.start.unwrap_or(r.created))),
            "recurrence": null,
            "expiration": expiration,
        },
        "ticketInfo": {"ticketNumber": r.ticket_number, "ticketSystem": r.ticket_system},
    });
    if r.level == Level::Assignment {
        if let Some(o) = v.as_object_mut() {
            o.insert("isValidationOnly".into(), Value::Bool(false));
        }
    }
    v
}

/// Renders a schedule (`unifiedRole{Eligibility|Assignment}Schedule`).
pub fn render_schedule(s: &RoleSchedule, now: Timestamp) -> Value {
    let mut v = json!({
        "id": s.id.to_string(),
        "principalId": s.principal_id.to_string(),
        "roleDefinitionId": s.role_definition_id.to_string(),
        "directoryScopeId": s.directory_scope_id,
        "appScopeId": null,
        "createdUsing": s.created_using.to_string(),
        "createdDateTime": graph_datetime(s.created),
        "modifiedDateTime": graph_datetime(s.modified),
        "status": if s.active_at(now) { "Provisioned" } else { "Granted" },
        "memberType": "Direct",
        "scheduleInfo": {
            "startDateTime": graph_datetime(s.start),
            "recurrence": null,
            "expiration": expiration_json(s.end),
        },
    });
    if s.level == Level::Assignment {
        if let Some(o) = v.as_object_mut() {
            o.insert("assignmentType".into(), json!(s.assignment_type.as_str()));
        }
    }
    v
}

/// Renders a schedule instance (the schedule while in force).
pub fn render_instance(s: &RoleSchedule) -> Value {
    let mut v = json!({
        "id": s.id.to_string(),
        "principalId": s.principal_id.to_string(),
        "roleDefinitionId": s.role_definition_id.to_string(),
        "directoryScopeId": s.directory_scope_id,
        "appScopeId": null,
        "startDateTime": graph_datetime(s.start),
        "endDateTime": dt(s.end),
        "memberType": "Direct",
    });
    if let Some(o) = v.as_object_mut() {
        match s.level {
            Level::Eligibility => {
                o.insert("roleEligibilityScheduleId".into(), json!(s.id.to_string()));
            }
            Level::Assignment => {
                o.insert("roleAssignmentScheduleId".into(), json!(s.id.to_string()));
                o.insert("assignmentType".into(), json!(s.assignment_type.as_str()));
                o.insert("roleAssignmentOriginId".into(), json!(s.id.to_string()));
            }
        }
    }
    v
}

fn target(caller: &str, level: &str) -> Value {
    json!({
        "caller": caller,
        "operations": ["All"],
        "level": level,
        "inheritableSettings": [],
        "enforcedSettings": [],
    })
}

/// Renders a policy's rules in Entra's order, with Entra's ids and `@odata.type`s.
pub fn render_rules(p: &RolePolicy) -> Vec<Value> {
    let expiration = |id: &str, caller: &str, level: &str, required: bool, max: i64| {
        json!({
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule",
            "id": id, "isExpirationRequired": required, "maximumDuration": format_duration(max),
            "target": target(caller, level),
        })
    };
    let enablement = |id: &str, caller: &str, level: &str, rules: &[String]| {
        json!({
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule",
            "id": id, "enabledRules": rules, "target": target(caller, level),
        })
    };
    let approvers: Vec<Value> = p
        .approvers
        .iter()
        .map(|a| {
            if a.is_group {
                json!({"@odata.type": "#microsoft.graph.groupMembers", "groupId": a.id.to_string(), "description": a.description, "isBackup": false})
            } else {
                json!({"@odata.type": "#microsoft.graph.singleUser", "userId": a.id.to_string(), "description": a.description, "isBackup": false})
            }
        })
        .collect();
    let mut v = vec![
        expiration(
            "Expiration_Admin_Eligibility",
            "Admin",
            "Eligibility",
            p.eligibility_expiration.0,
            p.eligibility_expiration.1,
        ),
        enablement(
            "Enablement_Admin_Eligibility",
            "Admin",
            "Eligibility",
            &p.eligibility_rules,
        ),
        expiration(
            "Expiration_Admin_Assignment",
            "Admin",
            "Assignment",
            p.assignment_expiration.0,
            p.assignment_expiration.1,
        ),
        enablement(
            "Enablement_Admin_Assignment",
            "Admin",
            "Assignment",
            &p.assignment_rules,
        ),
        expiration(
            "Expiration_EndUser_Assignment",
            "EndUser",
            "Assignment",
            true,
            p.activation_max_secs,
        ),
        enablement(
            "Enablement_EndUser_Assignment",
            "EndUser",
            "Assignment",
            &p.activation_rules,
        ),
        json!({
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
            "id": "Approval_EndUser_Assignment",
            "target": target("EndUser", "Assignment"),
            "setting": {
                "isApprovalRequired": p.approval_required,
                "isApprovalRequiredForExtension": false,
                "isRequestorJustificationRequired": true,
                "approvalMode": "SingleStage",
                "approvalStages": [{
                    "approvalStageTimeOutInDays": 1,
                    "isApproverJustificationRequired": true,
                    "escalationTimeInMinutes": 0,
                    "isEscalationEnabled": false,
                    "primaryApprovers": approvers,
                    "escalationApprovers": [],
                }],
            },
        }),
        json!({
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule",
            "id": "AuthenticationContext_EndUser_Assignment",
            "isEnabled": p.auth_context.is_some(),
            "claimValue": p.auth_context.clone().unwrap_or_default(),
            "target": target("EndUser", "Assignment"),
        }),
    ];
    for n in &p.notifications {
        let mut parts = n.id.splitn(3, '_').skip(2);
        let rest = parts.next().unwrap_or("Admin_Assignment");
        let (caller, level) = rest.split_once('_').unwrap_or(("Admin", "Assignment"));
        v.push(json!({
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
            "id": n.id,
            "notificationType": "Email",
            "recipientType": n.recipient_type,
            "notificationLevel": n.notification_level,
            "isDefaultRecipientsEnabled": n.is_default_recipients_enabled,
            "notificationRecipients": n.notification_recipients,
            "target": target(caller, level),
        }));
    }
    v
}

/// Renders `unifiedRoleManagementPolicy` (rules included when `with_rules`).
pub fn render_policy(p: &RolePolicy, with_rules: bool) -> Value {
    let mut v = json!({
        "id": p.id(),
        "displayName": "DirectoryRole",
        "description": "DirectoryRole",
        "isOrganizationDefault": false,
        "scopeId": "/",
        "scopeType": "DirectoryRole",
        "lastModifiedDateTime": dt(p.modified),
        "lastModifiedBy": p.modified_by.map(|m| json!({"displayName": null, "id": m.to_string()})),
    });
    if with_rules {
        if let Some(o) = v.as_object_mut() {
            o.insert("rules".into(), Value::Array(render_rules(p)));
        }
    }
    v
}

/// Renders `unifiedRoleManagementPolicyAssignment`.
pub fn render_policy_assignment(p: &RolePolicy) -> Value {
    json!({
        "id": p.assignment_id(),
        "policyId": p.id(),
        "scopeId": "/",
        "scopeType": "DirectoryRole",
        "roleDefinitionId": p.role_definition_id.to_string(),
    })
}

/// Applies a PATCHed rule body to a policy. Unknown rule ids are 404s (the caller's); unknown
/// or read-only properties are refused by name.
pub fn patch_rule(p: &mut RolePolicy, rule_id: &str, body: &Value) -> Result<(), GraphError> {
    let secs = |o: &Map<String, Value>| -> Result<Option<i64>, GraphError> {
        string(o, "maximumDuration")?
            .map(|d| {
                parse_duration(&d).filter(|s| *s > 0).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "maximumDuration '{d}' is not an ISO 8601 duration (e.g. PT8H, P365D)."
                    ))
                })
            })
            .transpose()
    };
    let flag = |o: &Map<String, Value>, name: &str| -> Result<Option<bool>, GraphError> {
        Ok(match super::bool_field(o, name)? {
            Field::Value(b) => Some(b),
            _ => None,
        })
    };
    let common = ["id", "target", "@odata.type"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = common.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let enablement_values =
        |rules: Vec<String>, allowed: &[&str]| -> Result<Vec<String>, GraphError> {
            for r in &rules {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(r)) {
                    return Err(GraphError::bad_request(format!(
                        "enabledRules value '{r}' is not one of {} for rule '{rule_id}'.",
                        allowed.join(", ")
                    )));
                }
            }
            Ok(rules)
        };
    if let Some(id) = body.get("id").and_then(Value::as_str) {
        if id != rule_id {
            return Err(GraphError::bad_request(format!(
                "The body's id '{id}' does not match the rule '{rule_id}' in the URL."
            )));
        }
    }
    match rule_id {
        "Expiration_EndUser_Assignment"
        | "Expiration_Admin_Eligibility"
        | "Expiration_Admin_Assignment" => {
            let o = check_object(
                body,
                "unifiedRoleManagementPolicyExpirationRule",
                &with(&["isExpirationRequired", "maximumDuration"]),
                &[],
            )?;
            let max = secs(o)?;
            let req = flag(o, "isExpirationRequired")?;
            match rule_id {
                "Expiration_EndUser_Assignment" => {
                    if req == Some(false) {
                        return Err(GraphError::bad_request("Expiration_EndUser_Assignment: activations always expire; isExpirationRequired cannot be false."));
                    }
                    if let Some(m) = max {
                        p.activation_max_secs = m;
                    }
                }
                "Expiration_Admin_Eligibility" => {
                    p.eligibility_expiration = (
                        req.unwrap_or(p.eligibility_expiration.0),
                        max.unwrap_or(p.eligibility_expiration.1),
                    );
                }
                _ => {
                    p.assignment_expiration = (
                        req.unwrap_or(p.assignment_expiration.0),
                        max.unwrap_or(p.assignment_expiration.1),
                    );
                }
            }
        }
        "Enablement_EndUser_Assignment"
        | "Enablement_Admin_Eligibility"
        | "Enablement_Admin_Assignment" => {
            let o = check_object(
                body,
                "unifiedRoleManagementPolicyEnablementRule",
                &with(&["enabledRules"]),
                &[],
            )?;
            let rules = match super::strings_field(o, "enabledRules")? {
                Field::Value(v) => v,
                _ => vec![],
            };
            match rule_id {
                "Enablement_EndUser_Assignment" => {
                    p.activation_rules = enablement_values(
                        rules,
                        &["MultiFactorAuthentication", "Justification", "Ticketing"],
                    )?;
                }
                "Enablement_Admin_Eligibility" => {
                    p.eligibility_rules =
                        enablement_values(rules, &["Justification", "Ticketing"])?;
                }
                _ => {
                    p.assignment_rules = enablement_values(
                        rules,
                        &["MultiFactorAuthentication", "Justification", "Ticketing"],
                    )?;
                }
            }
        }
        "Approval_EndUser_Assignment" => {
            let o = check_object(
                body,
                "unifiedRoleManagementPolicyApprovalRule",
                &with(&["setting"]),
                &[],
            )?;
            let Some(setting) = o.get("setting").and_then(Value::as_object) else {
                return Err(GraphError::bad_request("Approval_EndUser_Assignment needs a setting object (isApprovalRequired, approvalStages)."));
            };
            if let Some(b) = setting.get("isApprovalRequired").and_then(Value::as_bool) {
                p.approval_required = b;
            }
            if let Some(stages) = setting.get("approvalStages").and_then(Value::as_array) {
                if stages.len() > 1 {
                    return Err(GraphError::bad_request(
                        "Only single-stage approval (one entry in approvalStages) is supported.",
                    ));
                }
                let mut approvers = Vec::new();
                for a in stages
                    .first()
                    .and_then(|s| s.get("primaryApprovers"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ty = a.get("@odata.type").and_then(Value::as_str).unwrap_or("");
                    let (is_group, key) = if ty.ends_with("groupMembers") {
                        (true, "groupId")
                    } else if ty.ends_with("singleUser") {
                        (false, "userId")
                    } else {
                        return Err(GraphError::bad_request(format!("primaryApprovers entries must be #microsoft.graph.singleUser (userId) or #microsoft.graph.groupMembers (groupId); got '{ty}'.")));
                    };
                    let id = a
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(castellan_core::ObjectId::parse)
                        .ok_or_else(|| {
                            GraphError::bad_request(format!(
                                "primaryApprovers: {key} must be a GUID."
                            ))
                        })?;
                    approvers.push(castellan_core::pim::Approver {
                        is_group,
                        id,
                        description: a
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    });
                }
                p.approvers = approvers;
            }
        }
        "AuthenticationContext_EndUser_Assignment" => {
            let o = check_object(
                body,
                "unifiedRoleManagementPolicyAuthenticationContextRule",
                &with(&["isEnabled", "claimValue"]),
                &[],
            )?;
            let on = flag(o, "isEnabled")?.unwrap_or(p.auth_context.is_some());
            let claim = string(o, "claimValue")?.or_else(|| p.auth_context.clone());
            p.auth_context = match (on, claim) {
                (true, Some(c)) if !c.is_empty() => Some(c),
                (true, _) => return Err(GraphError::bad_request("AuthenticationContext_EndUser_Assignment: claimValue (e.g. c1) is required when isEnabled is true.")),
                (false, _) => None,
            };
        }
        id if id.starts_with("Notification_") => {
            let o = check_object(
                body,
                "unifiedRoleManagementPolicyNotificationRule",
                &with(&[
                    "notificationType",
                    "recipientType",
                    "notificationLevel",
                    "isDefaultRecipientsEnabled",
                    "notificationRecipients",
                ]),
                &[],
            )?;
            let Some(n) = p.notifications.iter_mut().find(|n| n.id == id) else {
                return Err(GraphError::not_found(format!(
                    "The policy has no rule '{id}'."
                )));
            };
            if let Some(l) = string(o, "notificationLevel")? {
                if l != "All" && l != "Critical" {
                    return Err(GraphError::bad_request(
                        "notificationLevel must be All or Critical.",
                    ));
                }
                n.notification_level = l;
            }
            if let Some(b) = flag(o, "isDefaultRecipientsEnabled")? {
                n.is_default_recipients_enabled = b;
            }
            if let Field::Value(r) = super::strings_field(o, "notificationRecipients")? {
                n.notification_recipients = r;
            }
        }
        other => {
            return Err(GraphError::not_found(format!(
                "The policy has no rule '{other}'."
            )))
        }
    }
    Ok(())
}

/// Renders `approval` with its steps.
pub fn render_approval(r: &RoleScheduleRequest) -> Value {
    json!({
        "id": r.id.to_string(),
        "steps": r.approval.iter().map(|s| render_step(r, s)).collect::<Vec<_>>(),
    })
}

/// Renders `approvalStep`.
pub fn render_step(r: &RoleScheduleRequest, s: &ApprovalStep) -> Value {
    json!({
        "id": s.id.to_string(),
        "displayName": null,
        "justification": s.justification,
        "reviewResult": s.review_result,
        "status": if s.review_result == "NotReviewed" && r.status == "PendingApproval" { "InProgress" } else { "Completed" },
        "assignedToMe": null,
        "reviewedDateTime": dt(s.reviewed),
        "reviewedBy": s.reviewed_by.map(|u| json!({"id": u.to_string(), "displayName": null})),
    })
}

/// Parses an approval step PATCH: `reviewResult` and `justification`.
pub fn parse_review(body: &Value) -> Result<(String, Option<String>), GraphError> {
    let o = check_object(
        body,
        "approvalStep",
        &["reviewResult", "justification"],
        &[
            "id",
            "status",
            "reviewedBy",
            "reviewedDateTime",
            "displayName",
            "assignedToMe",
        ],
    )?;
    let r = string(o, "reviewResult")?
        .ok_or_else(|| GraphError::bad_request("reviewResult (Approve or Deny) is required."))?;
    Ok((r, string(o, "justification")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_and_refuse_calendar_units() {
        assert_eq!(parse_duration("PT8H"), Some(8 * 3600));
        assert_eq!(parse_duration("P365D"), Some(365 * 86400));
        assert_eq!(parse_duration("PT1H30M"), Some(5400));
        assert_eq!(parse_duration("PT90S"), Some(90));
        assert_eq!(parse_duration("P1DT2H"), Some(86400 + 7200));
        assert_eq!(parse_duration("P1W"), Some(7 * 86400));
        // The Python SDK's timedelta text.
        assert_eq!(parse_duration("1:00:00"), Some(3600));
        assert_eq!(parse_duration("0:00:10"), Some(10));
        assert_eq!(
            parse_duration("2 days, 3:04:05"),
            Some(2 * 86400 + 3 * 3600 + 245)
        );
        assert_eq!(parse_duration("1 day, 0:00:00.500000"), Some(86400));
        for bad in ["1:60:00", "1:00", "x:00:00", "1 week, 1:00:00"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for bad in [
            "", "P", "PT", "8H", "P1Y", "P1M", "PT1H1H", "PTH", "P1DT", "PT5X",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(8 * 3600), "PT8H");
        assert_eq!(format_duration(365 * 86400), "P365D");
        assert_eq!(format_duration(5400), "PT1H30M");
        assert_eq!(format_duration(0), "PT0S");
        assert_eq!(format_duration(90), "PT1M30S");
    }

    #[test]
    fn a_request_body_is_checked_by_name() {
        let ok = json!({"action": "selfActivate", "principalId": "00000000-0000-0000-0000-000000000001",
            "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10", "directoryScopeId": "/",
            "justification": "incident", "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT1H"}}});
        let r = parse_request(Level::Assignment, &ok).unwrap();
        assert_eq!(r.expiration, Expiration::AfterDuration(3600));
        assert_eq!(r.action, Action::SelfActivate);
        let mut bad = ok.clone();
        bad["status"] = json!("Granted");
        assert!(parse_request(Level::Assignment, &bad)
            .unwrap_err()
            .message
            .contains("read-only"));
        let mut bad = ok.clone();
        bad["action"] = json!("activate");
        assert!(parse_request(Level::Assignment, &bad)
            .unwrap_err()
            .message
            .contains("selfActivate"));
        let mut bad = ok;
        bad["scheduleInfo"]["expiration"]["duration"] = json!("P1Y");
        assert!(parse_request(Level::Assignment, &bad).is_err());
    }
}
