//! Privileged Identity Management: eligibility and assignment schedules, their requests and
//! the role management policies a tenant changed — directory roles in `role_*`, Azure roles
//! (ARM scopes) in `arm_role_*` (policies keyed by tenant, lower-cased scope and role).

use super::*;
use castellan_core::pim::{
    Action, ApprovalStep, Approver, AssignmentType, Expiration, Level, NotificationRule, Plane,
    RolePolicy, RoleSchedule, RoleScheduleRequest,
};

/// The stored plane (documents written before Azure-role PIM have none: directory).
fn plane_of(s: &Option<String>) -> Result<Plane, StoreError> {
    match s.as_deref() {
        None => Ok(Plane::Directory),
        Some(p) => Plane::parse(p).ok_or_else(|| backend("bad PIM plane")),
    }
}

fn tables(plane: Plane) -> (&'static str, &'static str) {
    match plane {
        Plane::Directory => ("role_schedules", "role_schedule_requests"),
        Plane::Azure => ("arm_role_schedules", "arm_role_schedule_requests"),
        Plane::Group => ("group_role_schedules", "group_role_schedule_requests"),
    }
}

fn opt_oid(s: &Option<String>) -> Result<Option<ObjectId>, StoreError> {
    s.as_deref().map(oid).transpose()
}

fn guid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(|_| backend("bad role definition id"))
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ScheduleDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plane: Option<String>,
    id: String,
    tenant_id: String,
    level: String,
    principal_id: String,
    role_definition_id: String,
    directory_scope_id: String,
    start: i64,
    end: Option<i64>,
    activated: bool,
    created_using: String,
    eligibility_id: Option<String>,
    created: i64,
    modified: i64,
    end_recorded: bool,
}

impl From<&RoleSchedule> for ScheduleDoc {
    fn from(r: &RoleSchedule) -> Self {
        Self {
            plane: (r.plane != Plane::Directory).then(|| r.plane.as_str().into()),
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            level: r.level.as_str().into(),
            principal_id: r.principal_id.to_string(),
            role_definition_id: r.role_definition_id.to_string(),
            directory_scope_id: r.directory_scope_id.clone(),
            start: r.start.millis(),
            end: r.end.map(Timestamp::millis),
            activated: r.assignment_type == AssignmentType::Activated,
            created_using: r.created_using.to_string(),
            eligibility_id: r.eligibility_id.map(|i| i.to_string()),
            created: r.created.millis(),
            modified: r.modified.millis(),
            end_recorded: r.end_recorded,
        }
    }
}

impl TryFrom<ScheduleDoc> for RoleSchedule {
    type Error = StoreError;
    fn try_from(d: ScheduleDoc) -> Result<Self, StoreError> {
        Ok(RoleSchedule {
            plane: plane_of(&d.plane)?,
            id: oid(&d.id)?,
            tenant_id: tid(&d.tenant_id)?,
            level: Level::parse(&d.level).ok_or_else(|| backend("bad schedule level"))?,
            principal_id: oid(&d.principal_id)?,
            role_definition_id: guid(&d.role_definition_id)?,
            directory_scope_id: d.directory_scope_id,
            start: Timestamp(d.start),
            end: d.end.map(Timestamp),
            assignment_type: if d.activated {
                AssignmentType::Activated
            } else {
                AssignmentType::Assigned
            },
            created_using: oid(&d.created_using)?,
            eligibility_id: opt_oid(&d.eligibility_id)?,
            created: Timestamp(d.created),
            modified: Timestamp(d.modified),
            end_recorded: d.end_recorded,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StepDoc {
    id: String,
    approvers: Vec<String>,
    review_result: String,
    reviewed_by: Option<String>,
    reviewed: Option<i64>,
    justification: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RequestDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plane: Option<String>,
    id: String,
    tenant_id: String,
    level: String,
    action: String,
    principal_id: String,
    role_definition_id: String,
    directory_scope_id: String,
    justification: Option<String>,
    ticket_number: Option<String>,
    ticket_system: Option<String>,
    start: Option<i64>,
    /// `none`, `duration:<secs>` or `until:<millis>`.
    expiration: String,
    status: String,
    target_schedule_id: Option<String>,
    created_by: String,
    created: i64,
    completed: Option<i64>,
    approval: Vec<StepDoc>,
}

impl From<&RoleScheduleRequest> for RequestDoc {
    fn from(r: &RoleScheduleRequest) -> Self {
        Self {
            plane: (r.plane != Plane::Directory).then(|| r.plane.as_str().into()),
            id: r.id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            level: r.level.as_str().into(),
            action: r.action.as_str().into(),
            principal_id: r.principal_id.to_string(),
            role_definition_id: r.role_definition_id.to_string(),
            directory_scope_id: r.directory_scope_id.clone(),
            justification: r.justification.clone(),
            ticket_number: r.ticket_number.clone(),
            ticket_system: r.ticket_system.clone(),
            start: r.start.map(Timestamp::millis),
            expiration: match r.expiration {
                Expiration::NoExpiration => "none".into(),
                Expiration::AfterDuration(s) => format!("duration:{s}"),
                Expiration::AfterDateTime(t) => format!("until:{}", t.millis()),
            },
            status: r.status.clone(),
            target_schedule_id: r.target_schedule_id.map(|i| i.to_string()),
            created_by: r.created_by.to_string(),
            created: r.created.millis(),
            completed: r.completed.map(Timestamp::millis),
            approval: r
                .approval
                .iter()
                .map(|s| StepDoc {
                    id: s.id.to_string(),
                    approvers: s.approvers.iter().map(ToString::to_string).collect(),
                    review_result: s.review_result.clone(),
                    reviewed_by: s.reviewed_by.map(|i| i.to_string()),
                    reviewed: s.reviewed.map(Timestamp::millis),
                    justification: s.justification.clone(),
                })
                .collect(),
        }
    }
}

impl TryFrom<RequestDoc> for RoleScheduleRequest {
    type Error = StoreError;
    fn try_from(d: RequestDoc) -> Result<Self, StoreError> {
        let bad = || backend("bad expiration");
        let expiration = match d.expiration.split_once(':') {
            None if d.expiration == "none" => Expiration::NoExpiration,
            Some(("duration", s)) => Expiration::AfterDuration(s.parse().map_err(|_| bad())?),
            Some(("until", t)) => {
                Expiration::AfterDateTime(Timestamp(t.parse().map_err(|_| bad())?))
            }
            _ => return Err(bad()),
        };
        Ok(RoleScheduleRequest {
            plane: plane_of(&d.plane)?,
            id: oid(&d.id)?,
            tenant_id: tid(&d.tenant_id)?,
            level: Level::parse(&d.level).ok_or_else(|| backend("bad request level"))?,
            action: Action::parse(&d.action).ok_or_else(|| backend("bad request action"))?,
            principal_id: oid(&d.principal_id)?,
            role_definition_id: guid(&d.role_definition_id)?,
            directory_scope_id: d.directory_scope_id,
            justification: d.justification,
            ticket_number: d.ticket_number,
            ticket_system: d.ticket_system,
            start: d.start.map(Timestamp),
            expiration,
            status: d.status,
            target_schedule_id: opt_oid(&d.target_schedule_id)?,
            created_by: oid(&d.created_by)?,
            created: Timestamp(d.created),
            completed: d.completed.map(Timestamp),
            approval: d
                .approval
                .into_iter()
                .map(|s| {
                    Ok(ApprovalStep {
                        id: oid(&s.id)?,
                        approvers: s
                            .approvers
                            .iter()
                            .map(|a| oid(a))
                            .collect::<Result<_, _>>()?,
                        review_result: s.review_result,
                        reviewed_by: opt_oid(&s.reviewed_by)?,
                        reviewed: s.reviewed.map(Timestamp),
                        justification: s.justification,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ApproverDoc {
    is_group: bool,
    id: String,
    description: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct NotificationDoc {
    id: String,
    recipient_type: String,
    notification_level: String,
    is_default_recipients_enabled: bool,
    notification_recipients: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PolicyDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plane: Option<String>,
    tenant_id: String,
    role_definition_id: String,
    scope_id: String,
    activation_max_secs: i64,
    activation_rules: Vec<String>,
    approval_required: bool,
    approvers: Vec<ApproverDoc>,
    auth_context: Option<String>,
    eligibility_expiration: (bool, i64),
    assignment_expiration: (bool, i64),
    eligibility_rules: Vec<String>,
    assignment_rules: Vec<String>,
    notifications: Vec<NotificationDoc>,
    modified: Option<i64>,
    modified_by: Option<String>,
}

impl From<&RolePolicy> for PolicyDoc {
    fn from(p: &RolePolicy) -> Self {
        Self {
            plane: (p.plane != Plane::Directory).then(|| p.plane.as_str().into()),
            tenant_id: p.tenant_id.to_string(),
            role_definition_id: p.role_definition_id.to_string(),
            scope_id: p.scope_id.clone(),
            activation_max_secs: p.activation_max_secs,
            activation_rules: p.activation_rules.clone(),
            approval_required: p.approval_required,
            approvers: p
                .approvers
                .iter()
                .map(|a| ApproverDoc {
                    is_group: a.is_group,
                    id: a.id.to_string(),
                    description: a.description.clone(),
                })
                .collect(),
            auth_context: p.auth_context.clone(),
            eligibility_expiration: p.eligibility_expiration,
            assignment_expiration: p.assignment_expiration,
            eligibility_rules: p.eligibility_rules.clone(),
            assignment_rules: p.assignment_rules.clone(),
            notifications: p
                .notifications
                .iter()
                .map(|n| NotificationDoc {
                    id: n.id.clone(),
                    recipient_type: n.recipient_type.clone(),
                    notification_level: n.notification_level.clone(),
                    is_default_recipients_enabled: n.is_default_recipients_enabled,
                    notification_recipients: n.notification_recipients.clone(),
                })
                .collect(),
            modified: p.modified.map(Timestamp::millis),
            modified_by: p.modified_by.map(|i| i.to_string()),
        }
    }
}

impl TryFrom<PolicyDoc> for RolePolicy {
    type Error = StoreError;
    fn try_from(d: PolicyDoc) -> Result<Self, StoreError> {
        Ok(RolePolicy {
            plane: plane_of(&d.plane)?,
            tenant_id: tid(&d.tenant_id)?,
            role_definition_id: guid(&d.role_definition_id)?,
            scope_id: d.scope_id,
            activation_max_secs: d.activation_max_secs,
            activation_rules: d.activation_rules,
            approval_required: d.approval_required,
            approvers: d
                .approvers
                .into_iter()
                .map(|a| {
                    Ok(Approver {
                        is_group: a.is_group,
                        id: oid(&a.id)?,
                        description: a.description,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            auth_context: d.auth_context,
            eligibility_expiration: d.eligibility_expiration,
            assignment_expiration: d.assignment_expiration,
            eligibility_rules: d.eligibility_rules,
            assignment_rules: d.assignment_rules,
            notifications: d
                .notifications
                .into_iter()
                .map(|n| NotificationRule {
                    id: n.id,
                    recipient_type: n.recipient_type,
                    notification_level: n.notification_level,
                    is_default_recipients_enabled: n.is_default_recipients_enabled,
                    notification_recipients: n.notification_recipients,
                })
                .collect(),
            modified: d.modified.map(Timestamp),
            modified_by: opt_oid(&d.modified_by)?,
        })
    }
}

/// Replaces the tenant's row `id` of `table` (another tenant's row with the id makes the insert
/// clash: `PimObjectExists`).
async fn put(
    tx: &mut Tx,
    table: &str,
    t: TenantId,
    id: ObjectId,
    created: Timestamp,
    data: String,
) -> Result<(), StoreError> {
    exec(
        tx,
        &format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2"),
        &[s(t), s(id)],
    )
    .await?;
    exec(
        tx,
        &format!("INSERT INTO {table} (id, tenant_id, created, data) VALUES ($1, $2, $3, $4)"),
        &[s(id), s(t), Arg::I(created.millis()), Arg::S(data)],
    )
    .await?;
    Ok(())
}

/// This area's writes (routed here by `apply_change_inner`).
pub(crate) async fn apply(tx: &mut Tx, c: &Change) -> Result<(), StoreError> {
    match c {
        Change::PutRoleSchedule(r) => {
            let data = json(&ScheduleDoc::from(r))?;
            put(tx, tables(r.plane).0, r.tenant_id, r.id, r.created, data).await?;
        }
        Change::PutRoleScheduleRequest(r) => {
            let data = json(&RequestDoc::from(r))?;
            put(tx, tables(r.plane).1, r.tenant_id, r.id, r.created, data).await?;
        }
        Change::PutRolePolicy(p) if p.plane != Plane::Directory => {
            // Policies per scope: Azure roles per ARM scope, PIM for groups per group.
            let table = if p.plane == Plane::Azure {
                "arm_role_policies"
            } else {
                "group_role_policies"
            };
            let key = p.scope_id.trim_end_matches('/').to_ascii_lowercase();
            exec(
                tx,
                &format!("DELETE FROM {table} WHERE tenant_id = $1 AND scope_key = $2 AND role_definition_id = $3"),
                &[s(p.tenant_id), Arg::S(key.clone()), s(p.role_definition_id)],
            )
            .await?;
            exec(
                tx,
                &format!("INSERT INTO {table} (tenant_id, scope_key, role_definition_id, data) VALUES ($1, $2, $3, $4)"),
                &[s(p.tenant_id), Arg::S(key), s(p.role_definition_id), Arg::S(json(&PolicyDoc::from(p))?)],
            )
            .await?;
        }
        Change::PutRolePolicy(p) => {
            exec(
                tx,
                "DELETE FROM role_policies WHERE tenant_id = $1 AND role_definition_id = $2",
                &[s(p.tenant_id), s(p.role_definition_id)],
            )
            .await?;
            exec(
                tx,
                "INSERT INTO role_policies (tenant_id, role_definition_id, data) VALUES ($1, $2, $3)",
                &[s(p.tenant_id), s(p.role_definition_id), Arg::S(json(&PolicyDoc::from(p))?)],
            )
            .await?;
        }
        _ => return Err(misrouted(c)),
    }
    Ok(())
}

#[async_trait]
impl PimStore for SqlStore {
    async fn role_schedules(&self, t: TenantId) -> Result<Vec<RoleSchedule>, StoreError> {
        all(self
            .docs::<ScheduleDoc>(
                "SELECT data FROM role_schedules WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<RoleScheduleRequest>, StoreError> {
        all(self
            .docs::<RequestDoc>(
                "SELECT data FROM role_schedule_requests WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn role_policies(&self, t: TenantId) -> Result<Vec<RolePolicy>, StoreError> {
        all(self
            .docs::<PolicyDoc>(
                "SELECT data FROM role_policies WHERE tenant_id = $1 ORDER BY role_definition_id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn arm_role_schedules(&self, t: TenantId) -> Result<Vec<RoleSchedule>, StoreError> {
        all(self
            .docs::<ScheduleDoc>(
                "SELECT data FROM arm_role_schedules WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn arm_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<RoleScheduleRequest>, StoreError> {
        all(self
            .docs::<RequestDoc>(
                "SELECT data FROM arm_role_schedule_requests WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn arm_role_policies(&self, t: TenantId) -> Result<Vec<RolePolicy>, StoreError> {
        all(self
            .docs::<PolicyDoc>(
                "SELECT data FROM arm_role_policies WHERE tenant_id = $1 ORDER BY scope_key, role_definition_id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn group_role_schedules(&self, t: TenantId) -> Result<Vec<RoleSchedule>, StoreError> {
        all(self
            .docs::<ScheduleDoc>(
                "SELECT data FROM group_role_schedules WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn group_role_schedule_requests(
        &self,
        t: TenantId,
    ) -> Result<Vec<RoleScheduleRequest>, StoreError> {
        all(self
            .docs::<RequestDoc>(
                "SELECT data FROM group_role_schedule_requests WHERE tenant_id = $1 ORDER BY created, id",
                &[&t.to_string()],
            )
            .await?)
    }

    async fn group_role_policies(&self, t: TenantId) -> Result<Vec<RolePolicy>, StoreError> {
        all(self
            .docs::<PolicyDoc>(
                "SELECT data FROM group_role_policies WHERE tenant_id = $1 ORDER BY scope_key, role_definition_id",
                &[&t.to_string()],
            )
            .await?)
    }
}
