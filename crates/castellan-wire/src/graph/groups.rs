//! `microsoft.graph.group`.

use castellan_core::dynamic_rule::Explanation;
use castellan_core::model::Group;
use castellan_core::ops::dynamic_groups::Diff;
use castellan_core::ops::groups::GroupInput;
use serde_json::{json, Value};

use super::{bool_field, check_object, opt, str_field, strings_field};
use crate::errors::GraphError;
use crate::time::graph_datetime;

/// Properties clients may set.
pub const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "groupTypes",
    "mailEnabled",
    "securityEnabled",
    "mailNickname",
    "visibility",
    "isAssignableToRole",
    "membershipRule",
    "membershipRuleProcessingState",
];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "mail",
    "membershipRuleProcessingStatus",
];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "description",
    "groupTypes",
    "mailEnabled",
    "securityEnabled",
    "mailNickname",
    "mail",
    "createdDateTime",
    "visibility",
    "isAssignableToRole",
    "membershipRule",
    "membershipRuleProcessingState",
    "assignedLicenses",
];

/// Renders a group. `domain` is the tenant's default domain (for `mail`).
pub fn render(g: &Group, domain: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": g.id.to_string(),
        "displayName": g.display_name,
        "description": opt(&g.description),
        "groupTypes": g.group_types,
        "mailEnabled": g.mail_enabled,
        "securityEnabled": g.security_enabled,
        "mailNickname": g.mail_nickname,
        "mail": if g.mail_enabled { Value::String(format!("{}@{domain}", g.mail_nickname)) } else { Value::Null },
        "createdDateTime": graph_datetime(g.created),
        "visibility": if g.group_types.is_empty() { Value::Null } else { Value::String("Private".into()) },
        "isAssignableToRole": g.is_assignable_to_role,
        "membershipRule": opt(&g.membership_rule),
        "membershipRuleProcessingState": g.membership_rule_processing_state.map(|s| s.as_str()),
        "membershipRuleProcessingStatus": if g.is_dynamic() {
            // Rules apply in the commit that changes a member, so processing never lags.
            json!({"status": if g.rule_is_on() { "Succeeded" } else { "NotStarted" }, "errorMessage": null})
        } else {
            Value::Null
        },
    })
}

/// Renders `evaluateDynamicMembershipResult`.
pub fn render_evaluation(rule: &str, x: &Explanation) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.evaluateDynamicMembershipResult",
        "membershipRule": rule,
        "membershipRuleEvaluationResult": x.result,
        "membershipRuleEvaluationDetails": details(x),
    })
}

fn details(x: &Explanation) -> Value {
    let mut v = json!({
        "expression": x.expression,
        "expressionResult": x.result,
        "propertyToEvaluate": x.property.as_ref().map(|(n, v)| json!({"propertyName": n, "propertyValue": v})),
    });
    if !x.children.is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "expressionEvaluationDetails".into(),
                Value::Array(x.children.iter().map(details).collect()),
            );
        }
    }
    v
}

/// Parses an `evaluateDynamicMembership` body: `memberId` and an optional `membershipRule`.
pub fn parse_evaluate(body: &Value) -> Result<(String, Option<String>), GraphError> {
    let o = check_object(
        body,
        "evaluateDynamicMembership",
        &["memberId", "membershipRule"],
        &[],
    )?;
    let member =
        match str_field(o, "memberId")? {
            castellan_core::ops::Field::Value(m) => m,
            _ => return Err(GraphError::bad_request(
                "Property 'memberId' is required: the object id of the user or device to evaluate.",
            )),
        };
    Ok((member, str_field(o, "membershipRule")?.value().cloned()))
}

/// Renders a dry-run preview: who joins and who leaves.
pub fn render_preview(rule: &str, d: &Diff) -> Value {
    json!({
        "membershipRule": rule,
        "joins": d.joins.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "leaves": d.leaves.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// Parses a create or PATCH body.
pub fn parse(body: &Value) -> Result<GroupInput, GraphError> {
    let o = check_object(body, "group", WRITABLE, READ_ONLY)?;
    if let Some(v) = o.get("visibility").and_then(Value::as_str) {
        if !["Private", "Public", "HiddenMembership"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(v))
        {
            return Err(GraphError::bad_request(format!("Invalid value '{v}' for property 'visibility': use Private, Public or HiddenMembership.")));
        }
    }
    Ok(GroupInput {
        display_name: str_field(o, "displayName")?,
        description: str_field(o, "description")?,
        group_types: strings_field(o, "groupTypes")?,
        mail_enabled: bool_field(o, "mailEnabled")?,
        security_enabled: bool_field(o, "securityEnabled")?,
        mail_nickname: str_field(o, "mailNickname")?,
        is_assignable_to_role: bool_field(o, "isAssignableToRole")?,
        membership_rule: str_field(o, "membershipRule")?,
        membership_rule_processing_state: str_field(o, "membershipRuleProcessingState")?,
    })
}
