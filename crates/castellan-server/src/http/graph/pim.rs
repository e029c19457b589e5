//! Privileged Identity Management over Graph: `/roleManagement/directory/role{Eligibility|
//! Assignment}Schedule{Requests|s|Instances}`, `roleAssignmentApprovals`,
//! `/policies/roleManagementPolicies` and `roleManagementPolicyAssignments`, and the sweep the
//! server runs in the background.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authz::{Op, Target};
use castellan_core::error::Code;
use castellan_core::graph_rules::{Access, Area};
use castellan_core::ops::pim::{self as ops, PimError, Requestor, Settings};
use castellan_core::ops::Env;
use castellan_core::pim::{Level, Plane, RoleSchedule};
use castellan_core::store::Store;
use castellan_core::Timestamp;
use castellan_wire::errors::GraphError;
use castellan_wire::graph::pim as wire;
use castellan_wire::odata::EntitySpec;
use serde_json::Value;

use super::users::with_context;
use super::{created, json_body, list, no_content, store_err, ApiError, Caller};
use crate::crypto::OsEntropy;
use crate::state::{now, AppState};

const BASE: &str = "/v1.0/roleManagement/directory";

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/roleEligibilityScheduleRequests"),
            get(el_requests).post(el_submit),
        )
        .route(
            &format!("{BASE}/roleEligibilityScheduleRequests/{{id}}"),
            get(el_request),
        )
        .route(
            &format!("{BASE}/roleEligibilityScheduleRequests/{{id}}/cancel"),
            post(el_cancel),
        )
        .route(
            &format!("{BASE}/roleAssignmentScheduleRequests"),
            get(as_requests).post(as_submit),
        )
        .route(
            &format!("{BASE}/roleAssignmentScheduleRequests/{{id}}"),
            get(as_request),
        )
        .route(
            &format!("{BASE}/roleAssignmentScheduleRequests/{{id}}/cancel"),
            post(as_cancel),
        )
        .route(
            &format!("{BASE}/roleEligibilitySchedules"),
            get(el_schedules),
        )
        .route(
            &format!("{BASE}/roleEligibilitySchedules/{{id}}"),
            get(el_schedule),
        )
        .route(
            &format!("{BASE}/roleEligibilityScheduleInstances"),
            get(el_instances),
        )
        .route(
            &format!("{BASE}/roleEligibilityScheduleInstances/{{id}}"),
            get(el_instance),
        )
        .route(
            &format!("{BASE}/roleAssignmentSchedules"),
            get(as_schedules),
        )
        .route(
            &format!("{BASE}/roleAssignmentSchedules/{{id}}"),
            get(as_schedule),
        )
        .route(
            &format!("{BASE}/roleAssignmentScheduleInstances"),
            get(as_instances),
        )
        .route(
            &format!("{BASE}/roleAssignmentScheduleInstances/{{id}}"),
            get(as_instance),
        )
        .route(
            &format!("{BASE}/roleAssignmentApprovals/{{id}}"),
            get(approval),
        )
        .route(
            &format!("{BASE}/roleAssignmentApprovals/{{id}}/steps"),
            get(steps),
        )
        .route(
            &format!("{BASE}/roleAssignmentApprovals/{{id}}/steps/{{step}}"),
            get(step).patch(review),
        )
        .route("/v1.0/policies/roleManagementPolicies", get(policies))
        .route("/v1.0/policies/roleManagementPolicies/{id}", get(policy))
        .route(
            "/v1.0/policies/roleManagementPolicies/{id}/rules",
            get(rules),
        )
        .route(
            "/v1.0/policies/roleManagementPolicies/{id}/rules/{rule}",
            get(rule).patch(patch_rule),
        )
        .route(
            "/v1.0/policies/roleManagementPolicyAssignments",
            get(policy_assignments),
        )
        .route(
            "/v1.0/policies/roleManagementPolicyAssignments/{id}",
            get(policy_assignment),
        )
}

fn noun(level: Level, what: &str) -> String {
    match level {
        Level::Eligibility => format!("roleEligibility{what}"),
        Level::Assignment => format!("roleAssignment{what}"),
    }
}

pub(super) fn settings(s: &AppState) -> Settings {
    Settings {
        min_duration_secs: s.config.pim_min_duration_secs.max(1),
    }
}

/// A PIM refusal in Graph's shape; a step-up is 401 with a claims challenge MSAL answers.
pub(super) fn pim_err(c: &Caller, e: PimError) -> Response {
    match e {
        PimError::Directory(d) => c.err(d).into_response(),
        PimError::Unlicensed(m) => c
            .err(castellan_core::DirectoryError::Forbidden(m))
            .into_response(),
        PimError::Rule(f) => {
            let rules = f
                .rules
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(",");
            c.err(GraphError::of(
                Code::PimPolicyValidationFailed,
                &[("rules", &rules), ("detail", &f.detail)],
            ))
            .into_response()
        }
        PimError::Exists(m) => c
            .err(GraphError::of(Code::PimScheduleExists, &[("detail", &m)]))
            .into_response(),
        PimError::Missing(m) => c
            .err(GraphError::of(Code::PimScheduleMissing, &[("detail", &m)]))
            .into_response(),
        PimError::StepUp { acrs, rule } => {
            let e = GraphError::of(Code::PimStepUpRequired, &[("rule", &rule), ("acrs", &acrs)]);
            let claims =
                serde_json::json!({"access_token": {"acrs": {"essential": true, "value": acrs}}})
                    .to_string();
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(claims.as_bytes());
            let body = e.body(&c.cid, Some(&c.cid), now());
            let mut r = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            if let Ok(v) = format!(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\", error=\"insufficient_claims\", claims=\"{b64}\""
            )
            .parse()
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
    }
}

fn request_spec(level: Level) -> EntitySpec {
    EntitySpec::new(
        &format!(
            "microsoft.graph.unifiedRole{}ScheduleRequest",
            if level == Level::Eligibility {
                "Eligibility"
            } else {
                "Assignment"
            }
        ),
        &[
            "id",
            "status",
            "createdDateTime",
            "completedDateTime",
            "approvalId",
            "customData",
            "action",
            "principalId",
            "roleDefinitionId",
            "directoryScopeId",
            "appScopeId",
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
    let mut props = vec![
        "id",
        "principalId",
        "roleDefinitionId",
        "directoryScopeId",
        "appScopeId",
        "memberType",
    ];
    if instance {
        props.extend(["startDateTime", "endDateTime"]);
        props.push(if level == Level::Eligibility {
            "roleEligibilityScheduleId"
        } else {
            "roleAssignmentScheduleId"
        });
        if level == Level::Assignment {
            props.extend(["assignmentType", "roleAssignmentOriginId"]);
        }
    } else {
        props.extend([
            "createdUsing",
            "createdDateTime",
            "modifiedDateTime",
            "status",
            "scheduleInfo",
        ]);
        if level == Level::Assignment {
            props.push("assignmentType");
        }
    }
    EntitySpec::new(
        "microsoft.graph.unifiedRoleScheduleBase",
        &props,
        &["id"],
        "id",
    )
}

/// Self actions act on a signed-in user: an app-only token is refused naming the admin actions.
pub(super) fn needs_user(c: &Caller, action: castellan_core::pim::Action) -> Result<(), ApiError> {
    if c.user_rights.is_none() {
        return Err(c.err(GraphError::bad_request(format!(
            "action '{}' needs a signed-in user (a delegated token); applications use the admin actions.",
            action.as_str()
        ))));
    }
    Ok(())
}

/// The caller as a PIM requestor (its `amr` MFA and `acrs`).
pub(super) fn requestor(c: &Caller) -> Requestor {
    Requestor {
        id: c.oid,
        mfa: c.mfa,
        acrs: c.acrs.clone(),
    }
}

pub(super) fn by_current_user(id: &str) -> bool {
    id.replace(' ', "")
        .eq_ignore_ascii_case("filterByCurrentUser(on='principal')")
}

async fn submit(s: AppState, c: Caller, level: Level, body: Bytes) -> Result<Response, Response> {
    let v = json_body(&c, &body).map_err(IntoResponse::into_response)?;
    let req = wire::parse_request(level, &v).map_err(|e| c.err(e).into_response())?;
    let op = if req.action.is_admin() {
        Op::PimAdmin
    } else {
        Op::PimSelf
    };
    if op == Op::PimSelf {
        needs_user(&c, req.action).map_err(IntoResponse::into_response)?;
    }
    c.authorize(op, &Target::default())
        .map_err(IntoResponse::into_response)?;
    let who = requestor(&c);
    let mut ent = OsEntropy;
    let r = ops::submit(&mut c.env(&s, &mut ent), &c.tenant, &who, req, settings(&s))
        .await
        .map_err(|e| pim_err(&c, e))?;
    let what = noun(level, "ScheduleRequests");
    Ok(created(
        format!("{}/roleManagement/directory/{what}/{}", c.base, r.id),
        with_context(
            &c,
            &format!("roleManagement/directory/{what}/$entity"),
            wire::render_request(&r),
        ),
    ))
}

async fn requests(
    s: AppState,
    c: Caller,
    level: Level,
    uri: axum::http::Uri,
    headers: HeaderMap,
    mine: bool,
) -> Result<Response, ApiError> {
    c.require(Area::RoleManagement, Access::Read)?;
    let all = s
        .store
        .role_schedule_requests(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    let items = all
        .iter()
        .filter(|r| r.level == level)
        .filter(|r| !mine || r.principal_id == c.oid)
        .map(wire::render_request)
        .collect();
    list(
        &c,
        &uri,
        &headers,
        &request_spec(level),
        &format!(
            "roleManagement/directory/{}",
            noun(level, "ScheduleRequests")
        ),
        items,
    )
}

async fn one_request(
    s: AppState,
    c: Caller,
    level: Level,
    id: String,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if by_current_user(&id) {
        return requests(s, c, level, uri, headers, true).await;
    }
    c.require(Area::RoleManagement, Access::Read)?;
    let all = s
        .store
        .role_schedule_requests(c.tenant.id)
        .await
        .map_err(store_err(&c))?;
    let r = all
        .iter()
        .find(|r| r.level == level && r.id.to_string() == id.to_ascii_lowercase())
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The schedule request '{id}' does not exist in this tenant."
            )))
        })?;
    Ok(Json(with_context(
        &c,
        &format!(
            "roleManagement/directory/{}/$entity",
            noun(level, "ScheduleRequests")
        ),
        wire::render_request(r),
    ))
    .into_response())
}

async fn cancel(s: AppState, c: Caller, level: Level, id: String) -> Result<Response, Response> {
    let is_admin = c.authorize(Op::PimAdmin, &Target::default()).is_ok();
    let mut ent = OsEntropy;
    ops::cancel(
        &mut c.env(&s, &mut ent),
        &c.tenant,
        level,
        &id,
        c.oid,
        is_admin,
    )
    .await
    .map_err(|e| pim_err(&c, e))?;
    Ok(no_content())
}

/// Permanent directory role assignments shown as assignment schedules (Entra lists them too).
async fn schedules_at(
    s: &AppState,
    c: &Caller,
    level: Level,
    now: Timestamp,
) -> Result<Vec<RoleSchedule>, ApiError> {
    let mut out: Vec<RoleSchedule> = s
        .store
        .role_schedules(c.tenant.id)
        .await
        .map_err(store_err(c))?
        .into_iter()
        .filter(|r| r.level == level && r.current_at(now))
        .collect();
    if level == Level::Assignment {
        let permanent = s
            .store
            .directory_role_assignments(c.tenant.id)
            .await
            .map_err(store_err(c))?;
        out.extend(permanent.into_iter().map(|a| RoleSchedule {
            id: a.id,
            tenant_id: a.tenant_id,
            plane: castellan_core::pim::Plane::Directory,
            level,
            principal_id: a.principal_id,
            role_definition_id: a.role_template_id,
            directory_scope_id: a.directory_scope_id,
            start: Timestamp(0),
            end: None,
            assignment_type: castellan_core::pim::AssignmentType::Assigned,
            created_using: a.id,
            eligibility_id: None,
            created: Timestamp(0),
            modified: Timestamp(0),
            end_recorded: false,
        }));
    }
    Ok(out)
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
    c.require(Area::RoleManagement, Access::Read)?;
    let t = now();
    let all = schedules_at(&s, &c, level, t).await?;
    let noun = noun(
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
    let keep = |r: &&RoleSchedule| !instances || r.active_at(t);
    match id {
        Some(id) if !by_current_user(&id) => {
            let r = all
                .iter()
                .filter(keep)
                .find(|r| r.id.to_string() == id.to_ascii_lowercase())
                .ok_or_else(|| {
                    c.err(GraphError::not_found(format!(
                        "The {noun} item '{id}' does not exist in this tenant."
                    )))
                })?;
            Ok(Json(with_context(
                &c,
                &format!("roleManagement/directory/{noun}/$entity"),
                render(r),
            ))
            .into_response())
        }
        mine => {
            let mine = mine.is_some();
            let items = all
                .iter()
                .filter(keep)
                .filter(|r| !mine || r.principal_id == c.oid)
                .map(render)
                .collect();
            list(
                &c,
                &uri,
                &headers,
                &schedule_spec(level, instances),
                &format!("roleManagement/directory/{noun}"),
                items,
            )
        }
    }
}

/// The handlers of one level (eligibility or assignment) of a PIM plane: each calls the
/// plane's `submit`, `requests`, `one_request`, `cancel` and `schedules` in scope where it is
/// used (directory roles here, PIM for groups in `group_pim.rs`).
macro_rules! per_level {
    ($level:expr, $submit:ident, $list:ident, $one:ident, $cancel:ident, $scheds:ident, $sched:ident, $insts:ident, $inst:ident) => {
        async fn $submit(State(s): State<AppState>, c: Caller, body: Bytes) -> Response {
            submit(s, c, $level, body).await.unwrap_or_else(|e| e)
        }
        async fn $list(
            State(s): State<AppState>,
            c: Caller,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            requests(s, c, $level, uri, headers, false).await
        }
        async fn $one(
            State(s): State<AppState>,
            c: Caller,
            Path(id): Path<String>,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            one_request(s, c, $level, id, uri, headers).await
        }
        async fn $cancel(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Response {
            cancel(s, c, $level, id).await.unwrap_or_else(|e| e)
        }
        async fn $scheds(
            State(s): State<AppState>,
            c: Caller,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            schedules(s, c, $level, false, None, uri, headers).await
        }
        async fn $sched(
            State(s): State<AppState>,
            c: Caller,
            Path(id): Path<String>,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            schedules(s, c, $level, false, Some(id), uri, headers).await
        }
        async fn $insts(
            State(s): State<AppState>,
            c: Caller,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            schedules(s, c, $level, true, None, uri, headers).await
        }
        async fn $inst(
            State(s): State<AppState>,
            c: Caller,
            Path(id): Path<String>,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            schedules(s, c, $level, true, Some(id), uri, headers).await
        }
    };
}
pub(super) use per_level;

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

async fn find_approval(
    s: &AppState,
    c: &Caller,
    plane: Plane,
    id: &str,
) -> Result<castellan_core::pim::RoleScheduleRequest, ApiError> {
    ops::approval_in(s.store.as_ref(), c.tenant.id, plane, id)
        .await
        .map_err(store_err(c))?
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The approval '{id}' does not exist in this tenant."
            )))
        })
}

/// Where a plane's approvals live in Graph, who reads them and which op answers them.
#[derive(Clone, Copy)]
pub(super) struct Approvals {
    /// The plane.
    pub plane: Plane,
    /// `roleManagement/directory/roleAssignmentApprovals` or the group one.
    pub context: &'static str,
    /// The area a reader needs.
    pub area: Area,
    /// The op a reviewer needs.
    pub op: Op,
}

const DIRECTORY_APPROVALS: Approvals = Approvals {
    plane: Plane::Directory,
    context: "roleManagement/directory/roleAssignmentApprovals",
    area: Area::RoleManagement,
    op: Op::PimSelf,
};

/// `GET …/{approvals}/{id}`.
pub(super) async fn approval_of(
    s: &AppState,
    c: &Caller,
    a: Approvals,
    id: &str,
) -> Result<Response, ApiError> {
    c.require(a.area, Access::Read)?;
    let r = find_approval(s, c, a.plane, id).await?;
    Ok(Json(with_context(
        c,
        &format!("{}/$entity", a.context),
        wire::render_approval(&r),
    ))
    .into_response())
}

/// `GET …/{approvals}/{id}/steps`.
pub(super) async fn steps_of(
    s: &AppState,
    c: &Caller,
    a: Approvals,
    id: &str,
) -> Result<Response, ApiError> {
    c.require(a.area, Access::Read)?;
    let r = find_approval(s, c, a.plane, id).await?;
    Ok(Json(serde_json::json!({
        "@odata.context": format!("{}/$metadata#{}('{id}')/steps", c.base, a.context),
        "value": r.approval.iter().map(|st| wire::render_step(&r, st)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET …/{approvals}/{id}/steps/{step}`.
pub(super) async fn step_of(
    s: &AppState,
    c: &Caller,
    a: Approvals,
    id: &str,
    step: &str,
) -> Result<Response, ApiError> {
    c.require(a.area, Access::Read)?;
    let r = find_approval(s, c, a.plane, id).await?;
    let st = r
        .approval
        .iter()
        .find(|st| st.id.to_string() == step.to_ascii_lowercase())
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The approval '{id}' has no step '{step}'."
            )))
        })?;
    Ok(Json(wire::render_step(&r, st)).into_response())
}

/// `PATCH …/{approvals}/{id}/steps/{step}`: an approver's answer.
pub(super) async fn review_of(
    s: &AppState,
    c: &Caller,
    a: Approvals,
    id: &str,
    step: &str,
    body: &Bytes,
) -> Response {
    let run = async {
        let v = json_body(c, body).map_err(IntoResponse::into_response)?;
        let (result, justification) =
            wire::parse_review(&v).map_err(|e| c.err(e).into_response())?;
        c.authorize(a.op, &Target::default())
            .map_err(IntoResponse::into_response)?;
        let mut ent = OsEntropy;
        ops::review_in(
            &mut c.env(s, &mut ent),
            &c.tenant,
            a.plane,
            id,
            step,
            c.oid,
            &result,
            justification,
        )
        .await
        .map_err(|e| pim_err(c, e))?;
        Ok::<_, Response>(no_content())
    };
    run.await.unwrap_or_else(|e| e)
}

async fn approval(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    approval_of(&s, &c, DIRECTORY_APPROVALS, &id).await
}

async fn steps(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    steps_of(&s, &c, DIRECTORY_APPROVALS, &id).await
}

async fn step(
    State(s): State<AppState>,
    c: Caller,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    step_of(&s, &c, DIRECTORY_APPROVALS, &id, &step).await
}

async fn review(
    State(s): State<AppState>,
    c: Caller,
    Path((id, step)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    review_of(&s, &c, DIRECTORY_APPROVALS, &id, &step, &body).await
}

pub(super) fn policy_spec() -> EntitySpec {
    EntitySpec::new(
        "microsoft.graph.unifiedRoleManagementPolicy",
        &[
            "id",
            "displayName",
            "description",
            "isOrganizationDefault",
            "scopeId",
            "scopeType",
            "lastModifiedDateTime",
            "lastModifiedBy",
            "rules",
        ],
        &["id"],
        "id",
    )
}

/// Reading policies: directory-role readers, or PIM-for-groups readers.
fn policy_read(c: &Caller) -> Result<(), ApiError> {
    c.require(Area::RoleManagement, Access::Read)
        .or_else(|_| c.require(Area::PimGroups, Access::Read))
}

/// A policy in its plane's shape.
fn render_any_policy(p: &castellan_core::pim::RolePolicy, with_rules: bool) -> Value {
    if p.plane == castellan_core::pim::Plane::Group {
        castellan_wire::graph::group_pim::render_policy(p, with_rules)
    } else {
        wire::render_policy(p, with_rules)
    }
}

async fn all_policies(
    s: &AppState,
    c: &Caller,
) -> Result<Vec<castellan_core::pim::RolePolicy>, ApiError> {
    ops::policies(s.store.as_ref(), c.tenant.id)
        .await
        .map_err(store_err(c))
}

async fn find_policy(
    s: &AppState,
    c: &Caller,
    id: &str,
) -> Result<castellan_core::pim::RolePolicy, ApiError> {
    if let Some(p) = super::group_pim::find_policy(s, c, id, false).await? {
        return Ok(p);
    }
    all_policies(s, c)
        .await?
        .into_iter()
        .find(|p| p.id().eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The role management policy '{id}' does not exist in this tenant (ids are Directory_{{tenantId}}_{{roleDefinitionId}}; list them with $filter=scopeId eq '/' and scopeType eq 'DirectoryRole')."
            )))
        })
}

/// Graph requires the scope filter on these lists.
fn require_scope_filter(c: &Caller, uri: &axum::http::Uri) -> Result<(), ApiError> {
    let f = super::query_pairs(uri)
        .into_iter()
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if !f.contains("scopeId") || !f.contains("scopeType") {
        return Err(c.err(GraphError::bad_request(
            "The $filter must name the scope: $filter=scopeId eq '/' and scopeType eq 'DirectoryRole' (directory roles) or scopeId eq '{groupId}' and scopeType eq 'Group' (PIM for groups).",
        )));
    }
    Ok(())
}

async fn policies(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_scope_filter(&c, &uri)?;
    if let Some(g) = super::group_pim::group_scope(&c, &uri)? {
        return super::group_pim::policies(&s, &c, g, &uri, &headers, false).await;
    }
    policy_read(&c)?;
    let items = all_policies(&s, &c)
        .await?
        .iter()
        .map(|p| wire::render_policy(p, false))
        .collect();
    list(
        &c,
        &uri,
        &headers,
        &policy_spec(),
        "policies/roleManagementPolicies",
        items,
    )
}

async fn policy(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    policy_read(&c)?;
    let p = find_policy(&s, &c, &id).await?;
    Ok(Json(with_context(
        &c,
        "policies/roleManagementPolicies/$entity",
        render_any_policy(&p, true),
    ))
    .into_response())
}

async fn rules(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    policy_read(&c)?;
    let p = find_policy(&s, &c, &id).await?;
    Ok(Json(serde_json::json!({
        "@odata.context": format!("{}/$metadata#policies/roleManagementPolicies('{id}')/rules", c.base),
        "value": wire::render_rules(&p),
    }))
    .into_response())
}

async fn rule(
    State(s): State<AppState>,
    c: Caller,
    Path((id, rule)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    policy_read(&c)?;
    let p = find_policy(&s, &c, &id).await?;
    let r = wire::render_rules(&p)
        .into_iter()
        .find(|r| r["id"] == Value::String(rule.clone()))
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The policy has no rule '{rule}'."
            )))
        })?;
    Ok(Json(r).into_response())
}

async fn patch_rule(
    State(s): State<AppState>,
    c: Caller,
    Path((id, rule)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let run = async {
        let mut p = find_policy(&s, &c, &id)
            .await
            .map_err(IntoResponse::into_response)?;
        if p.plane == castellan_core::pim::Plane::Group {
            super::group_pim::authorize_admin(&s, &c, &p.scope_id)
                .await
                .map_err(IntoResponse::into_response)?;
        } else {
            c.authorize(Op::PimAdmin, &Target::default())
                .map_err(IntoResponse::into_response)?;
        }
        let v = json_body(&c, &body).map_err(IntoResponse::into_response)?;
        wire::patch_rule(&mut p, &rule, &v).map_err(|e| c.err(e).into_response())?;
        let mut ent = OsEntropy;
        let p = ops::put_policy(&mut c.env(&s, &mut ent), &c.tenant, p, &rule, c.oid)
            .await
            .map_err(|e| pim_err(&c, e))?;
        let r = wire::render_rules(&p)
            .into_iter()
            .find(|r| r["id"] == Value::String(rule.clone()))
            .unwrap_or_default();
        Ok::<_, Response>(Json(r).into_response())
    };
    run.await.unwrap_or_else(|e| e)
}

async fn policy_assignments(
    State(s): State<AppState>,
    c: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_scope_filter(&c, &uri)?;
    if let Some(g) = super::group_pim::group_scope(&c, &uri)? {
        return super::group_pim::policies(&s, &c, g, &uri, &headers, true).await;
    }
    policy_read(&c)?;
    let items = all_policies(&s, &c)
        .await?
        .iter()
        .map(wire::render_policy_assignment)
        .collect();
    list(
        &c,
        &uri,
        &headers,
        &EntitySpec::new(
            "microsoft.graph.unifiedRoleManagementPolicyAssignment",
            &["id", "policyId", "scopeId", "scopeType", "roleDefinitionId"],
            &["id"],
            "id",
        ),
        "policies/roleManagementPolicyAssignments",
        items,
    )
}

async fn policy_assignment(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    policy_read(&c)?;
    if let Some(p) = super::group_pim::find_policy(&s, &c, &id, true).await? {
        return Ok(Json(with_context(
            &c,
            "policies/roleManagementPolicyAssignments/$entity",
            castellan_wire::graph::group_pim::render_policy_assignment(&p),
        ))
        .into_response());
    }
    let p = all_policies(&s, &c)
        .await?
        .into_iter()
        .find(|p| p.assignment_id().eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            c.err(GraphError::not_found(format!(
                "The role management policy assignment '{id}' does not exist in this tenant."
            )))
        })?;
    Ok(Json(with_context(
        &c,
        "policies/roleManagementPolicyAssignments/$entity",
        wire::render_policy_assignment(&p),
    ))
    .into_response())
}

/// The sweep hashes nothing.
pub(crate) struct NoHashing;

#[async_trait::async_trait]
impl castellan_core::ops::PasswordHasher for NoHashing {
    async fn hash(&self, _: &str) -> Result<String, String> {
        Err("the PIM sweep hashes no passwords".into())
    }
    async fn verify(&self, _: &str, _: &str) -> bool {
        false
    }
}

/// The background sweep over every tenant: expiry records and approval time-outs.
pub async fn sweep(store: &dyn Store, now: Timestamp) -> Result<usize, String> {
    let mut total = 0;
    for t in store.tenants().await.map_err(|e| e.to_string())? {
        let mut ent = OsEntropy;
        let mut env = Env {
            store,
            now,
            entropy: &mut ent,
            hasher: &NoHashing,
            actor: castellan_core::audit::Actor::Operator,
            correlation_id: String::new(),
        };
        total += ops::sweep(&mut env, &t)
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(total)
}
