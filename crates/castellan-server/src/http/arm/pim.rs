//! PIM for Azure roles on ARM: `{scope}/providers/Microsoft.Authorization/` +
//! `role{Eligibility|Assignment}ScheduleRequests[/{name}[/cancel]]`,
//! `role{Eligibility|Assignment}Schedules[/{name}]`, `…ScheduleInstances[/{name}]`,
//! `roleManagementPolicies[/{name}]` (GET, PATCH) and `roleManagementPolicyAssignments[/{name}]`
//! (GET). Parsing and shapes are `wire::arm_pim`'s, decisions `core::ops::arm_pim`'s.

use axum::body::Bytes;
use axum::http::Method;
use axum::response::Response;
use castellan_core::model::ObjectKind;
use castellan_core::ops::arm::ArmError;
use castellan_core::ops::arm_pim as ops;
use castellan_core::ops::pim::{Requestor, Settings};
use castellan_core::pim::{Level, Plane, RoleSchedule, RoleScheduleRequest};
use castellan_core::ObjectId;
use castellan_wire::arm_pim as w;
use serde_json::Value;

use super::{body_json, param, respond, Ctx};
use crate::crypto::OsEntropy;
use crate::state::AppState;

/// Whether `kind` (lower-cased collection name) is one this module serves.
pub(super) fn serves(kind: &str) -> bool {
    matches!(
        kind,
        "roleeligibilityschedulerequests"
            | "roleassignmentschedulerequests"
            | "roleeligibilityschedules"
            | "roleassignmentschedules"
            | "roleeligibilityscheduleinstances"
            | "roleassignmentscheduleinstances"
            | "rolemanagementpolicies"
            | "rolemanagementpolicyassignments"
            | "roleassignmentapprovals"
    )
}

fn settings(s: &AppState) -> Settings {
    Settings {
        min_duration_secs: s.config.pim_min_duration_secs.max(1),
    }
}

/// What `expandedProperties` show for a principal and role.
async fn expanded(s: &AppState, ctx: &Ctx, principal: ObjectId, role: uuid::Uuid) -> w::Expanded {
    let store = s.store.as_ref();
    let t = ctx.caller.tenant.id;
    let mut ex = w::Expanded {
        principal_type: "User".into(),
        ..Default::default()
    };
    match store.object_kind(t, principal).await {
        Ok(Some(ObjectKind::User)) => {
            if let Ok(Some(u)) = store.user(t, principal).await {
                ex.principal_email = Some(u.mail.clone().unwrap_or(u.user_principal_name.clone()));
                ex.principal_name = Some(u.display_name);
            }
        }
        Ok(Some(ObjectKind::Group)) => {
            ex.principal_type = "Group".into();
            if let Ok(Some(g)) = store.group(t, principal).await {
                ex.principal_name = Some(g.display_name);
            }
        }
        Ok(Some(ObjectKind::ServicePrincipal)) => {
            ex.principal_type = "ServicePrincipal".into();
            if let Ok(Some(sp)) = store.service_principal(t, principal).await {
                ex.principal_name = Some(sp.display_name);
            }
        }
        _ => {}
    }
    if let Some(r) = castellan_core::azure_rbac::built_in_by_id(role) {
        ex.role_name = Some(r.name.clone());
        ex.role_type = "BuiltInRole".into();
    } else if let Ok(cat) = castellan_core::ops::arm::RoleCatalog::load(store, t).await {
        ex.role_name = cat.get(role).map(|r| r.name.clone());
        ex.role_type = "CustomRole".into();
    }
    ex
}

async fn render_request(
    s: &AppState,
    ctx: &Ctx,
    r: &RoleScheduleRequest,
) -> Result<Value, ArmError> {
    let linked = if r.level == Level::Assignment {
        castellan_core::ops::pim::schedules_in(s.store.as_ref(), r.tenant_id, Plane::Azure)
            .await?
            .into_iter()
            .find(|x| Some(x.id) == r.target_schedule_id)
            .and_then(|x| x.eligibility_id)
    } else {
        None
    };
    let ex = expanded(s, ctx, r.principal_id, r.role_definition_id).await;
    Ok(w::render_request(r, linked, &ex))
}

async fn render_schedule(s: &AppState, ctx: &Ctx, x: &RoleSchedule, instance: bool) -> Value {
    let ex = expanded(s, ctx, x.principal_id, x.role_definition_id).await;
    w::render_schedule(x, instance, ctx.caller.now, &ex)
}

fn role_name(id: uuid::Uuid) -> Option<String> {
    castellan_core::azure_rbac::built_in_by_id(id).map(|r| r.name.clone())
}

/// Serves one PIM path under `scope`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn handle(
    s: &AppState,
    ctx: &Ctx,
    method: &Method,
    scope: &str,
    kind: &str,
    name: Option<&str>,
    action: Option<&str>,
    q: &[(String, String)],
    body: &Bytes,
) -> Result<Response, ArmError> {
    let store = s.store.as_ref();
    let c = &ctx.caller;
    let cid = ctx.cid.as_str();
    let mut entropy = OsEntropy;
    let filter = param(q, "$filter").unwrap_or("").trim().to_string();
    let level = if kind.starts_with("roleeligibility") {
        Level::Eligibility
    } else {
        Level::Assignment
    };
    let not_allowed = || {
        castellan_core::error::Code::ArmMethodNotAllowed
            .arm(&[("method", &method), ("kind", &kind)])
    };
    match (kind, name, action, method.clone()) {
        (
            "roleeligibilityschedulerequests" | "roleassignmentschedulerequests",
            None,
            None,
            Method::GET,
        ) => {
            let f = w::parse_filter(&filter)?;
            let list = ops::list_requests(store, c, level, scope, &f).await?;
            let mut out = Vec::with_capacity(list.len());
            for r in &list {
                out.push(render_request(s, ctx, r).await?);
            }
            Ok(respond(200, castellan_wire::arm::list(out), cid))
        }
        (
            "roleeligibilityschedulerequests" | "roleassignmentschedulerequests",
            Some(n),
            None,
            Method::GET,
        ) => {
            let r = ops::get_request(store, c, level, scope, n).await?;
            Ok(respond(200, render_request(s, ctx, &r).await?, cid))
        }
        (
            "roleeligibilityschedulerequests" | "roleassignmentschedulerequests",
            Some(n),
            None,
            Method::PUT,
        ) => {
            let req = w::parse_request(level, &body_json(body)?)?;
            let who = Requestor {
                id: c.principal,
                mfa: ctx.mfa,
                acrs: ctx.acrs.clone(),
            };
            let r = ops::submit(
                &mut ctx.env(s, &mut entropy),
                c,
                &who,
                level,
                scope,
                n,
                req,
                settings(s),
            )
            .await?;
            Ok(respond(201, render_request(s, ctx, &r).await?, cid))
        }
        (
            "roleeligibilityschedulerequests" | "roleassignmentschedulerequests",
            Some(n),
            Some(a),
            Method::POST,
        ) if a.eq_ignore_ascii_case("validate") => {
            let req = w::parse_request(level, &body_json(body)?)?;
            let who = Requestor {
                id: c.principal,
                mfa: ctx.mfa,
                acrs: ctx.acrs.clone(),
            };
            let r = ops::validate(
                &mut ctx.env(s, &mut entropy),
                c,
                &who,
                level,
                scope,
                n,
                req,
                settings(s),
            )
            .await?;
            Ok(respond(200, render_request(s, ctx, &r).await?, cid))
        }
        (
            "roleeligibilityschedulerequests" | "roleassignmentschedulerequests",
            Some(n),
            Some(a),
            Method::POST,
        ) if a.eq_ignore_ascii_case("cancel") => {
            ops::cancel(&mut ctx.env(s, &mut entropy), c, level, scope, n).await?;
            Ok(respond(200, Value::Null, cid))
        }
        (
            "roleeligibilityschedules"
            | "roleassignmentschedules"
            | "roleeligibilityscheduleinstances"
            | "roleassignmentscheduleinstances",
            None,
            None,
            Method::GET,
        ) => {
            let instances = kind.ends_with("instances");
            let f = w::parse_filter(&filter)?;
            if f.as_requestor {
                return Err(
                    castellan_core::error::Code::ArmPimInvalidFilter.arm(&[("filter", &filter)])
                );
            }
            let list = ops::list_schedules(store, c, level, instances, scope, &f).await?;
            let mut out = Vec::with_capacity(list.len());
            for x in &list {
                out.push(render_schedule(s, ctx, x, instances).await);
            }
            Ok(respond(200, castellan_wire::arm::list(out), cid))
        }
        (
            "roleeligibilityschedules"
            | "roleassignmentschedules"
            | "roleeligibilityscheduleinstances"
            | "roleassignmentscheduleinstances",
            Some(n),
            None,
            Method::GET,
        ) => {
            let instances = kind.ends_with("instances");
            let x = ops::get_schedule(store, c, level, instances, scope, n).await?;
            Ok(respond(
                200,
                render_schedule(s, ctx, &x, instances).await,
                cid,
            ))
        }
        ("rolemanagementpolicies" | "rolemanagementpolicyassignments", None, None, Method::GET) => {
            let role = w::parse_role_filter(&filter)?;
            let list = ops::list_policies(store, c, scope, role).await?;
            let out = list
                .iter()
                .map(|p| {
                    let n = role_name(p.role_definition_id);
                    if kind == "rolemanagementpolicies" {
                        w::render_policy(p, n.as_deref())
                    } else {
                        w::render_policy_assignment(p, n.as_deref())
                    }
                })
                .collect();
            Ok(respond(200, castellan_wire::arm::list(out), cid))
        }
        (
            "rolemanagementpolicies" | "rolemanagementpolicyassignments",
            Some(n),
            None,
            Method::GET,
        ) => {
            let assignment = kind == "rolemanagementpolicyassignments";
            let p = ops::find_policy(store, c, scope, n, assignment).await?;
            let rn = role_name(p.role_definition_id);
            Ok(respond(
                200,
                if assignment {
                    w::render_policy_assignment(&p, rn.as_deref())
                } else {
                    w::render_policy(&p, rn.as_deref())
                },
                cid,
            ))
        }
        ("rolemanagementpolicies", Some(n), None, Method::PATCH) => {
            let mut p = ops::find_policy(store, c, scope, n, false).await?;
            let changed = w::patch_policy(&mut p, &body_json(body)?)?;
            let p = ops::put_policy(
                &mut ctx.env(s, &mut entropy),
                c,
                scope,
                p,
                &changed.join(","),
            )
            .await?;
            let rn = role_name(p.role_definition_id);
            Ok(respond(200, w::render_policy(&p, rn.as_deref()), cid))
        }
        ("roleassignmentapprovals", Some(id), None, Method::GET) => {
            let r = ops::get_approval(store, c, id).await?;
            Ok(respond(200, w::render_approval(&r, &c.principals), cid))
        }
        ("roleassignmentapprovals", Some(id), Some(stage), Method::GET | Method::PUT) => {
            let stage = stage.get("stages/".len()..).unwrap_or("");
            let r = if *method == Method::PUT {
                let (result, why) = w::parse_review(&body_json(body)?)?;
                ops::review(&mut ctx.env(s, &mut entropy), c, id, stage, &result, why).await?
            } else {
                ops::get_approval(store, c, id).await?
            };
            let st = r
                .approval
                .iter()
                .find(|x| x.id.to_string().eq_ignore_ascii_case(stage))
                .ok_or_else(|| {
                    castellan_core::error::Code::ArmPimApprovalNotFound.arm(&[("id", &id)])
                })?;
            Ok(respond(200, w::render_stage(&r, st, &c.principals), cid))
        }
        _ => Err(not_allowed()),
    }
}
