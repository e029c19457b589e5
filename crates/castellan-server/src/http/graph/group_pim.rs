//! PIM for groups over Graph: `/identityGovernance/privilegedAccess/group/{eligibility|
//! assignment}Schedule{Requests|s|Instances}` (+ `filterByCurrentUser(on='principal')`,
//! `cancel`), `assignmentApprovals`, and the group-scoped policies that
//! `/policies/roleManagementPolicies` and `roleManagementPolicyAssignments` list for
//! `$filter=scopeId eq '{groupId}' and scopeType eq 'Group'` (served from `pim.rs`).
//! Decisions are core's (`ops::group_pim`, `ops::pim`); this file parses, authorises through
//! `authz::decide` and renders.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authz::{Op, Target};
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::group_pim as ops;
use castellan_core::ops::pim as ops_pim;
use castellan_core::pim::{Level, Plane, RolePolicy, RoleSchedule, RoleScheduleRequest};
use castellan_core::ObjectId;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::group_pim as wire;
use castellan_wire::odata::EntitySpec;

use super::pim::{
    approval_of, by_current_user, needs_user, per_level, pim_err, policy_spec, requestor,
    review_of, settings, step_of, steps_of, Approvals,
};
use super::users::with_context;
use super::{created, json_body, list, no_content, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::{now, AppState};

const BASE: &str = "/v1.0/identityGovernance/privilegedAccess/group";
const CONTEXT: &str = "identityGovernance/privilegedAccess/group";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/eligibilityScheduleRequests"),
            get(el_requests).post(el_submit),
        )
        .route(
            &format!("{BASE}/eligibilityScheduleRequests/{{id}}"),
            get(el_request),
        )
        .route(
            &format!("{BASE}/eligibilityScheduleRequests/{{id}}/cancel"),
            post(el_cancel),
        )
        .route(
            &format!("{BASE}/assignmentScheduleRequests"),
            get(as_requests).post(as_submit),
        )
        .route(
            &format!("{BASE}/assignmentScheduleRequests/{{id}}"),
            get(as_request),
        )
        .route(
            &format!("{BASE}/assignmentScheduleRequests/{{id}}/cancel"),
            post(as_cancel),
        )
        .route(&format!("{BASE}/eligibilitySchedules"), get(el_schedules))
        .route(
            &format!("{BASE}/eligibilitySchedules/{{id}}"),
            get(el_schedule),
        )
        .route(
            &format!("{BASE}/eligibilityScheduleInstances"),
            get(el_instances),
        )
        .route(
            &format!("{BASE}/eligibilityScheduleInstances/{{id}}"),
            get(el_instance),
        )
        .route(&format!("{BASE}/assignmentSchedules"), get(as_schedules))
        .route(
            &format!("{BASE}/assignmentSchedules/{{id}}"),
            get(as_schedule),
        )
        .route(
            &format!("{BASE}/assignmentScheduleInstances"),
            get(as_instances),
        )
        .route(
            &format!("{BASE}/assignmentScheduleInstances/{{id}}"),
            get(as_instance),
        )
        .route(&format!("{BASE}/assignmentApprovals/{{id}}"), get(approval))
        .route(
            &format!("{BASE}/assignmentApprovals/{{id}}/steps"),
            get(steps),
        )
        .route(
            &format!("{BASE}/assignmentApprovals/{{id}}/steps/{{step}}"),
            get(step).patch(review),
        )
}

fn noun(level: Level, what: &str) -> String {
    match level {
        Level::Eligibility => format!("eligibility{what}"),
        Level::Assignment => format!("assignment{what}"),
    }
}

fn read(c: &Caller) -> Result<(), ApiError> {
    c.require(Area::PimGroups, Access::Read)
}

/// Authorises an administrator action on `group` (`Op::PimGroupAdmin`: the group's owners,
/// Privileged Role Administrator for role-assignable groups, Groups / User Administrator
/// otherwise, or the AzureADGroup application permissions).
pub(super) async fn authorize_admin(
    s: &AppState,
    c: &Caller,
    group: &str,
) -> Result<ObjectId, Response> {
    let g = ops::group_of(s.store.as_ref(), c.tenant.id, group)
        .await
        .map_err(|e| pim_err(c, e))?;
    let target = ops::target(s.store.as_ref(), c.tenant.id, g.id, c.oid, now())
        .await
        .map_err(|e| store_err(c)(e).into_response())?;
    c.authorize(Op::PimGroupAdmin, &target)
        .map_err(IntoResponse::into_response)?;
    Ok(g.id)
}

fn request_spec(level: Level) -> EntitySpec {
    EntitySpec::new(
        &format!(
            "microsoft.graph.{}",
            wire::type_name(level, "ScheduleRequest")
        ),
        &[
            "id",
            "accessId",
            "groupId",
            "principalId",
            "status",
            "createdDateTime",
            "completedDateTime",
            "approvalId",
            "customData",
            "action",
            "isValidationOnly",
            "targetScheduleId",
            "justification",
            "createdBy",
            "scheduleInfo",
            "ticketInfo",
        ],
        &["id", "createdDateTime", "status"],
        "id",
    )
}

fn schedule_spec(level: Level, instance: bool) -> EntitySpec {
    let mut props = vec!["id", "accessId", "groupId", "principalId", "memberType"];
    if instance {
        props.extend(["startDateTime", "endDateTime"]);
        props.push(if level == Level::Eligibility {
            "eligibilityScheduleId"
        } else {
            "assignmentScheduleId"
        });
    } else {
        props.extend([
            "createdUsing",
            "createdDateTime",
            "modifiedDateTime",
            "status",
            "scheduleInfo",
        ]);
    }
    if level == Level::Assignment {
        props.push("assignmentType");
    }
    EntitySpec::new(
        &format!(
            "microsoft.graph.{}",
            wire::type_name(
                level,
                if instance {
                    "ScheduleInstance"
                } else {
                    "Schedule"
                }
            )
        ),
        &props,
        &["id"],
        "id",
    )
}

async fn submit(s: AppState, c: Caller, level: Level, body: Bytes) -> Result<Response, Response> {
    let v = json_body(&c, &body).map_err(IntoResponse::into_response)?;
    let req = wire::parse_request(level, &v).map_err(|e| c.err(e).into_response())?;
    if req.action.is_admin() {
        authorize_admin(&s, &c, &req.directory_scope_id).await?;
    } else {
        needs_user(&c, req.action).map_err(IntoResponse::into_response)?;
        c.authorize(Op::PimGroupSelf, &Target::default())
            .map_err(IntoResponse::into_response)?;
    }
    let who = requestor(&c);
    let mut ent = OsEntropy;
    let r = ops::submit(&mut c.env(&s, &mut ent), &c.tenant, &who, req, settings(&s))
        .await
        .map_err(|e| pim_err(&c, e))?;
    let what = noun(level, "ScheduleRequests");
    Ok(created(
        format!("{}/{CONTEXT}/{what}/{}", c.base, r.id),
        with_context(
            &c,
            &format!("{CONTEXT}/{what}/$entity"),
            wire::render_request(&r),
        ),
    ))
}

async fn all_requests(
    s: &AppState,
    c: &Caller,
    level: Level,
) -> Result<Vec<RoleScheduleRequest>, ApiError> {
    Ok(s.store
        .group_role_schedule_requests(c.tenant.id)
        .await
        .map_err(store_err(c))?
        .into_iter()
        .filter(|r| r.level == level)
        .collect())
}

async fn requests(
    s: AppState,
    c: Caller,
    level: Level,
    uri: axum::http::Uri,
    headers: HeaderMap,
    _mine: bool,
) -> Result<Response, ApiError> {
    requests_or_one(s, c, level, None, uri, headers).await
}

async fn one_request(
    s: AppState,
    c: Caller,
    level: Level,
    id: String,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    requests_or_one(s, c, level, Some(id), uri, headers).await
}

async fn requests_or_one(
    s: AppState,
    c: Caller,
    level: Level,
    id: Option<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    read(&c)?;
    let all = all_requests(&s, &c, level).await?;
    let what = noun(level, "ScheduleRequests");
    match id {
        Some(id) if !by_current_user(&id) => {
            let r = all
                .iter()
                .find(|r| r.id.to_string() == id.to_ascii_lowercase())
                .ok_or_else(|| {
                    c.err(GraphError::not_found(format!(
                        "The schedule request '{id}' does not exist in this tenant."
                    )))
                })?;
            Ok(Json(with_context(
                &c,
                &format!("{CONTEXT}/{what}/$entity"),
                wire::render_request(r),
            ))
            .into_response())
        }
        mine => {
            let mine = mine.is_some();
            let items = all
                .iter()
                .filter(|r| !mine || r.principal_id == c.oid)
                .map(wire::render_request)
                .collect();
            list(
                &c,
                &uri,
                &headers,
                &request_spec(level),
                &format!("{CONTEXT}/{what}"),
                items,
            )
        }
    }
}

async fn cancel(s: AppState, c: Caller, level: Level, id: String) -> Result<Response, Response> {
    // An administrator of the request's group may cancel it; otherwise only the requestor.
    let all = all_requests(&s, &c, level)
        .await
        .map_err(IntoResponse::into_response)?;
    let group = all
        .iter()
        .find(|r| r.id.to_string() == id.to_ascii_lowercase())
        .map(|r| r.directory_scope_id.clone());
    let is_admin = match &group {
        Some(g) => authorize_admin(&s, &c, g).await.is_ok(),
        None => false,
    };
    let mut ent = OsEntropy;
    ops_pim::cancel_in(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        Plane::Group,
        level,
        &id,
        c.oid,
        is_admin,
    )
    .await
    .map_err(|e| pim_err(&c, e))?;
    Ok(no_content())
}

#[allow(clippy::too_many_arguments)]
async fn schedules(
    s: AppState,
    c: Caller,
    level: Level,
    instances: bool,
    id: Option<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    read(&c)?;
    let t = now();
    let keep = |r: &RoleSchedule| {
        r.level == level
            && if instances {
                r.active_at(t)
            } else {
                r.current_at(t)
            }
    };
    let all: Vec<RoleSchedule> = s
        .store
        .group_role_schedules(c.tenant.id)
        .await
        .map_err(store_err(&c))?
        .into_iter()
        .filter(keep)
        .collect();
    let what = noun(
        level,
        if instances {
            "ScheduleInstances"
        } else {
            "Schedules"
        },
    );
    let render = |r: &RoleSchedule| {
        if instances {
            wire::render_instance(r)
        } else {
            wire::render_schedule(r, t)
        }
    };
    match id {
        Some(id) if !by_current_user(&id) => {
            let r = all
                .iter()
                .find(|r| r.id.to_string() == id.to_ascii_lowercase())
                .ok_or_else(|| {
                    c.err(GraphError::not_found(format!(
                        "The {what} item '{id}' does not exist in this tenant."
                    )))
                })?;
            Ok(Json(with_context(
                &c,
                &format!("{CONTEXT}/{what}/$entity"),
                render(r),
            ))
            .into_response())
        }
        mine => {
            let mine = mine.is_some();
            let items = all
                .iter()
                .filter(|r| !mine || r.principal_id == c.oid)
                .map(render)
                .collect();
            list(
                &c,
                &uri,
                &headers,
                &schedule_spec(level, instances),
                &format!("{CONTEXT}/{what}"),
                items,
            )
        }
    }
}

per_level!(
    Level::Eligibility,
    el_submit,
    el_requests,
    el_request,
    el_cancel,
    el_schedules,
    el_schedule,
    el_instances,
    el_instance
);
per_level!(
    Level::Assignment,
    as_submit,
    as_requests,
    as_request,
    as_cancel,
    as_schedules,
    as_schedule,
    as_instances,
    as_instance
);

const APPROVALS: Approvals = Approvals {
    plane: Plane::Group,
    context: "identityGovernance/privilegedAccess/group/assignmentApprovals",
    area: Area::PimGroups,
    op: Op::PimGroupSelf,
};

async fn approval(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    approval_of(&s, &c, APPROVALS, &id).await
}

async fn steps(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    steps_of(&s, &c, APPROVALS, &id).await
}

async fn step(
    State(s): State<AppState>,
    c: Caller,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    step_of(&s, &c, APPROVALS, &id, &step).await
}

async fn review(
    State(s): State<AppState>,
    c: Caller,
    Path((id, step)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    review_of(&s, &c, APPROVALS, &id, &step, &body).await
}

/// The group a policy list's `$filter` scopes to (`scopeId eq '{groupId}' and scopeType eq
/// 'Group'`), or `None` for the directory-role lists.
pub(super) fn group_scope(c: &Caller, uri: &axum::http::Uri) -> Result<Option<ObjectId>, ApiError> {
    let f = super::query_pairs(uri)
        .into_iter()
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let squashed = f.replace(' ', "").to_ascii_lowercase();
    if !squashed.contains("scopetypeeq'group'") {
        return Ok(None);
    }
    let id = squashed
        .split("scopeideq'")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_default();
    ObjectId::parse(id).map(Some).ok_or_else(|| {
        c.err(GraphError::bad_request(format!(
            "scopeId '{id}' is not a group id: for PIM for groups filter with scopeId eq '{{groupId}}' and scopeType eq 'Group'."
        )))
    })
}

async fn group_policies(
    s: &AppState,
    c: &Caller,
    group: ObjectId,
) -> Result<Vec<RolePolicy>, ApiError> {
    if s.store
        .group(c.tenant.id, group)
        .await
        .map_err(store_err(c))?
        .is_none()
    {
        return Err(c.err(GraphError::not_found(format!(
            "The group '{group}' does not exist in this tenant."
        ))));
    }
    ops::policies_of(s.store.as_ref(), c.tenant.id, group)
        .await
        .map_err(store_err(c))
}

/// The group's two policies (member, owner) or their assignments, as a list.
pub(super) async fn policies(
    s: &AppState,
    c: &Caller,
    group: ObjectId,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    assignments: bool,
) -> Result<Response, ApiError> {
    read(c)?;
    let ps = group_policies(s, c, group).await?;
    if assignments {
        list(
            c,
            uri,
            headers,
            &EntitySpec::new(
                "microsoft.graph.unifiedRoleManagementPolicyAssignment",
                &["id", "policyId", "scopeId", "scopeType", "roleDefinitionId"],
                &["id"],
                "id",
            ),
            "policies/roleManagementPolicyAssignments",
            ps.iter().map(wire::render_policy_assignment).collect(),
        )
    } else {
        list(
            c,
            uri,
            headers,
            &policy_spec(),
            "policies/roleManagementPolicies",
            ps.iter().map(|p| wire::render_policy(p, false)).collect(),
        )
    }
}

/// The group from a `Group_{groupId}_…` policy or assignment id.
fn group_of_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse(id.strip_prefix("Group_")?.split('_').next()?)
}

/// A group policy by its id, or (`assignment`) by its assignment's id (`None`: not a
/// `Group_…` id).
pub(super) async fn find_policy(
    s: &AppState,
    c: &Caller,
    id: &str,
    assignment: bool,
) -> Result<Option<RolePolicy>, ApiError> {
    let Some(g) = group_of_id(id) else {
        return Ok(None);
    };
    let what = if assignment {
        "role management policy assignment"
    } else {
        "role management policy"
    };
    group_policies(s, c, g)
        .await?
        .into_iter()
        .find(|p| {
            let pid = if assignment { p.assignment_id() } else { p.id() };
            pid.eq_ignore_ascii_case(id)
        })
        .map(Some)
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The {what} '{id}' does not exist in this tenant (list a group's with $filter=scopeId eq '{g}' and scopeType eq 'Group')."
            )))
        })
}
