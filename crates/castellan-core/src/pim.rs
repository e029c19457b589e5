//! Privileged Identity Management for both planes — directory roles at a `directoryScopeId`
//! (Graph) and Azure role definitions at an ARM scope (Azure RBAC): eligibility and assignment
//! schedules, the requests that create, change and end them, the role management policy that
//! governs them (Entra's fixed rule ids; each plane's defaults) and the pure decisions over them
//! — validate a request against its policy, compute the schedule it yields, and which schedules
//! are active at `now`. One rule engine ([`check`]) serves both planes: a schedule's [`Plane`]
//! only says which check honours it. Time is always a parameter: nothing here depends on a
//! sweep having run.

use crate::ids::{ObjectId, TenantId};
use crate::time::Timestamp;

/// Entra's shortest activation or assignment (five minutes), unless the development-only
/// setting lowers it.
pub const MIN_DURATION_SECS: i64 = 300;
/// How long an unanswered approval waits before it expires (Entra: 24 hours).
pub const APPROVAL_TIMEOUT_SECS: i64 = 24 * 3600;

/// Which authorisation plane a schedule, request or policy belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plane {
    /// Directory roles (Graph `roleManagement/directory`), scope `/` or an administrative unit.
    #[default]
    Directory,
    /// Azure role definitions at an ARM scope (`Microsoft.Authorization/role…Schedule…`),
    /// honoured by the Azure RBAC check.
    Azure,
    /// PIM for groups (Graph `identityGovernance/privilegedAccess/group`): membership or
    /// ownership of a group. The "role" is [`GROUP_MEMBER`] or [`GROUP_OWNER`] and the scope
    /// is the group's id; an active schedule counts as the relation while it is in force.
    Group,
}

impl Plane {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "Directory",
            Self::Azure => "Azure",
            Self::Group => "Group",
        }
    }
    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Directory" => Some(Self::Directory),
            "Azure" => Some(Self::Azure),
            "Group" => Some(Self::Group),
            _ => None,
        }
    }
}

/// The "role" of a PIM-for-groups schedule that makes its principal a member of the group
/// (`accessId: member`).
pub const GROUP_MEMBER: uuid::Uuid = uuid::Uuid::from_u128(0x00000000_0000_4000_8000_6d656d626572);
/// The "role" of a PIM-for-groups schedule that makes its principal an owner of the group
/// (`accessId: owner`).
pub const GROUP_OWNER: uuid::Uuid = uuid::Uuid::from_u128(0x00000000_0000_4000_8000_00006f776e72);

/// Graph's `accessId` of a group-plane "role".
pub fn access_id(role: uuid::Uuid) -> Option<&'static str> {
    if role == GROUP_MEMBER {
        Some("member")
    } else if role == GROUP_OWNER {
        Some("owner")
    } else {
        None
    }
}

/// The group-plane "role" of an `accessId` (`member` or `owner`, case-insensitive).
pub fn access_role(access: &str) -> Option<uuid::Uuid> {
    if access.eq_ignore_ascii_case("member") {
        Some(GROUP_MEMBER)
    } else if access.eq_ignore_ascii_case("owner") {
        Some(GROUP_OWNER)
    } else {
        None
    }
}

/// The PIM-for-groups relations in force at `now`: `(principal, group, accessId role)` of
/// every active assignment schedule of the group plane. Eligibilities give nothing.
pub fn group_access_in_force(
    schedules: &[RoleSchedule],
    now: Timestamp,
) -> Vec<(ObjectId, ObjectId, uuid::Uuid)> {
    active_assignments(schedules, now)
        .into_iter()
        .filter(|s| s.plane == Plane::Group)
        .filter_map(|s| {
            ObjectId::parse(&s.directory_scope_id)
                .map(|g| (s.principal_id, g, s.role_definition_id))
        })
        .collect()
}

/// The membership edges in force at `now`: the stored `edges` plus a user edge for every
/// active PIM-for-groups membership (not before its start, not after its end; eligibility
/// gives nothing). Every membership view (transitive groups, role-assignable groups' roles,
/// Azure RBAC, app-role assignments, Conditional Access, licences) reads these.
pub fn with_group_members(
    mut edges: Vec<crate::model::Membership>,
    schedules: &[RoleSchedule],
    now: Timestamp,
) -> Vec<crate::model::Membership> {
    for (principal, group, access) in group_access_in_force(schedules, now) {
        if access == GROUP_MEMBER
            && !edges
                .iter()
                .any(|e| e.group_id == group && e.member_id == principal)
        {
            edges.push(crate::model::Membership {
                group_id: group,
                member_id: principal,
                member_kind: crate::model::ObjectKind::User,
            });
        }
    }
    edges
}

/// `group`'s owners in force at `now`: the stored `owners` plus every active PIM-for-groups
/// ownership.
pub fn with_group_owners(
    mut owners: Vec<ObjectId>,
    schedules: &[RoleSchedule],
    group: ObjectId,
    now: Timestamp,
) -> Vec<ObjectId> {
    for (principal, g, access) in group_access_in_force(schedules, now) {
        if access == GROUP_OWNER && g == group && !owners.contains(&principal) {
            owners.push(principal);
        }
    }
    owners
}

/// Whether two scopes name the same place: directory scopes and ARM ids compare
/// case-insensitively (GUIDs and ARM segments are), one trailing `/` ignored.
pub fn same_scope(a: &str, b: &str) -> bool {
    let t = |s: &str| {
        if s.len() > 1 {
            s.trim_end_matches('/').to_string()
        } else {
            s.to_string()
        }
    };
    t(a).eq_ignore_ascii_case(&t(b))
}

/// What a schedule (or request) is about: being eligible, or being actively assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// `roleEligibilitySchedule…`.
    Eligibility,
    /// `roleAssignmentSchedule…`.
    Assignment,
}

impl Level {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eligibility => "Eligibility",
            Self::Assignment => "Assignment",
        }
    }
    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Eligibility" => Some(Self::Eligibility),
            "Assignment" => Some(Self::Assignment),
            _ => None,
        }
    }
}

crate::vocab::graph_enum!(
    /// `unifiedRoleScheduleRequestActions`.
    Action {
        /// `adminAssign`.
        AdminAssign => "adminAssign",
        /// `adminUpdate`.
        AdminUpdate => "adminUpdate",
        /// `adminRemove`.
        AdminRemove => "adminRemove",
        /// `selfActivate`.
        SelfActivate => "selfActivate",
        /// `selfDeactivate`.
        SelfDeactivate => "selfDeactivate",
        /// `adminExtend`.
        AdminExtend => "adminExtend",
        /// `adminRenew`.
        AdminRenew => "adminRenew",
        /// `selfExtend`.
        SelfExtend => "selfExtend",
        /// `selfRenew`.
        SelfRenew => "selfRenew",
    }
);

impl Action {
    /// Whether an administrator acts on someone (as opposed to the principal on themselves).
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Self::AdminAssign
                | Self::AdminUpdate
                | Self::AdminRemove
                | Self::AdminExtend
                | Self::AdminRenew
        )
    }
}

/// `expirationPattern`: how a schedule ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiration {
    /// `noExpiration`.
    NoExpiration,
    /// `afterDuration` (seconds).
    AfterDuration(i64),
    /// `afterDateTime`.
    AfterDateTime(Timestamp),
}

/// Whether an active assignment was given directly or activated from an eligibility.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentType {
    /// `Assigned`.
    Assigned,
    /// `Activated`.
    Activated,
}

impl AssignmentType {
    /// Graph's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "Assigned",
            Self::Activated => "Activated",
        }
    }
}

/// An eligibility or assignment schedule (Graph's `unifiedRoleEligibilitySchedule` /
/// `unifiedRoleAssignmentSchedule`; its instance is the schedule while it is in force).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSchedule {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Directory role or Azure role.
    pub plane: Plane,
    /// Eligibility or assignment.
    pub level: Level,
    /// Who.
    pub principal_id: ObjectId,
    /// Which role (directory template or custom role id; Azure role definition GUID).
    pub role_definition_id: uuid::Uuid,
    /// `/` or `/administrativeUnits/{id}` (directory); the ARM scope (Azure).
    pub directory_scope_id: String,
    /// When it starts being in force.
    pub start: Timestamp,
    /// When it stops (`None`: permanent). Deactivation and removal move it to the moment they
    /// happened.
    pub end: Option<Timestamp>,
    /// `Assigned` or `Activated` (assignments only).
    pub assignment_type: AssignmentType,
    /// The request that created it.
    pub created_using: ObjectId,
    /// The eligibility an activation came from.
    pub eligibility_id: Option<ObjectId>,
    /// Created.
    pub created: Timestamp,
    /// Last changed.
    pub modified: Timestamp,
    /// Whether its end was recorded in the audit log (by the request that ended it or by the
    /// expiry sweep). Only bookkeeping: whether it is in force is decided by time alone.
    pub end_recorded: bool,
}

impl RoleSchedule {
    /// Whether the schedule is in force at `now`.
    pub fn active_at(&self, now: Timestamp) -> bool {
        self.start <= now && self.end.is_none_or(|e| now < e)
    }
    /// Whether it has not ended yet at `now` (in force, or scheduled to start). An empty window
    /// (a future schedule canceled before its start) is never current.
    pub fn current_at(&self, now: Timestamp) -> bool {
        self.end.is_none_or(|e| now < e && self.start < e)
    }
    /// Whether the schedule is the same role at the same scope for the same principal.
    pub fn same_grant(&self, principal: ObjectId, role: uuid::Uuid, scope: &str) -> bool {
        self.principal_id == principal
            && self.role_definition_id == role
            && same_scope(&self.directory_scope_id, scope)
    }
}

/// The schedules in force at `now`: the one rule every role check reads.
pub fn active_assignments(schedules: &[RoleSchedule], now: Timestamp) -> Vec<&RoleSchedule> {
    schedules
        .iter()
        .filter(|s| s.level == Level::Assignment && s.active_at(now))
        .collect()
}

/// The earliest moment at which one of `principal`'s tenant-wide active assignments that will
/// end does end: no token minted under an activation may outlive it.
pub fn earliest_end(
    schedules: &[RoleSchedule],
    holders: &[ObjectId],
    now: Timestamp,
) -> Option<Timestamp> {
    active_assignments(schedules, now)
        .into_iter()
        .filter(|s| holders.contains(&s.principal_id))
        .filter_map(|s| s.end)
        .min()
}

/// The schedules that ended before `now` whose end no audit record has noted yet.
pub fn unrecorded_ends(schedules: &[RoleSchedule], now: Timestamp) -> Vec<&RoleSchedule> {
    schedules
        .iter()
        .filter(|s| !s.end_recorded && s.end.is_some_and(|e| e <= now))
        .collect()
}

/// One approval stage's step (`approvalStep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalStep {
    /// Step id.
    pub id: ObjectId,
    /// Users and groups (any direct member of a listed group) who may answer.
    pub approvers: Vec<ObjectId>,
    /// `NotReviewed`, `Approve` or `Deny`.
    pub review_result: String,
    /// Who answered.
    pub reviewed_by: Option<ObjectId>,
    /// When.
    pub reviewed: Option<Timestamp>,
    /// The approver's justification.
    pub justification: Option<String>,
}

/// A schedule request (`unifiedRoleEligibilityScheduleRequest` /
/// `unifiedRoleAssignmentScheduleRequest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleScheduleRequest {
    /// Id.
    pub id: ObjectId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Directory role or Azure role.
    pub plane: Plane,
    /// Eligibility or assignment.
    pub level: Level,
    /// What is asked.
    pub action: Action,
    /// For whom.
    pub principal_id: ObjectId,
    /// Which role.
    pub role_definition_id: uuid::Uuid,
    /// Where.
    pub directory_scope_id: String,
    /// Why.
    pub justification: Option<String>,
    /// `ticketInfo.ticketNumber`.
    pub ticket_number: Option<String>,
    /// `ticketInfo.ticketSystem`.
    pub ticket_system: Option<String>,
    /// `scheduleInfo.startDateTime` as asked (`None`: now).
    pub start: Option<Timestamp>,
    /// `scheduleInfo.expiration`.
    pub expiration: Expiration,
    /// `status`.
    pub status: String,
    /// The resulting (or changed) schedule.
    pub target_schedule_id: Option<ObjectId>,
    /// Who asked.
    pub created_by: ObjectId,
    /// When.
    pub created: Timestamp,
    /// When it was carried out.
    pub completed: Option<Timestamp>,
    /// The approval steps (activations whose policy requires approval).
    pub approval: Vec<ApprovalStep>,
}

/// An approver: a user, or a group whose direct members approve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approver {
    /// `singleUser` or `groupMembers`.
    pub is_group: bool,
    /// Object id.
    pub id: ObjectId,
    /// Display text.
    pub description: Option<String>,
}

/// A notification rule (stored and returned; Castellan sends no mail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRule {
    /// `Notification_{Admin|Requestor|Approver}_{Admin_Eligibility|Admin_Assignment|EndUser_Assignment}`.
    pub id: String,
    /// `Admin`, `Requestor` or `Approver`.
    pub recipient_type: String,
    /// `All` or `Critical`.
    pub notification_level: String,
    /// Default recipients.
    pub is_default_recipients_enabled: bool,
    /// Extra recipients (addresses).
    pub notification_recipients: Vec<String>,
}

/// A role management policy: one per role and scope, Entra's defaults until changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolePolicy {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Directory role or Azure role.
    pub plane: Plane,
    /// The role it governs.
    pub role_definition_id: uuid::Uuid,
    /// `/` (Entra keeps directory-role policies tenant-wide); the ARM scope for Azure roles
    /// (one policy per role and scope).
    pub scope_id: String,
    /// `Expiration_EndUser_Assignment.maximumDuration` (seconds).
    pub activation_max_secs: i64,
    /// `Enablement_EndUser_Assignment.enabledRules`.
    pub activation_rules: Vec<String>,
    /// `Approval_EndUser_Assignment`: approval required.
    pub approval_required: bool,
    /// Its approvers.
    pub approvers: Vec<Approver>,
    /// `AuthenticationContext_EndUser_Assignment`: enabled, and its claim value.
    pub auth_context: Option<String>,
    /// `Expiration_Admin_Eligibility`: expiration required, maximum (seconds).
    pub eligibility_expiration: (bool, i64),
    /// `Expiration_Admin_Assignment`: expiration required, maximum (seconds).
    pub assignment_expiration: (bool, i64),
    /// `Enablement_Admin_Eligibility.enabledRules`.
    pub eligibility_rules: Vec<String>,
    /// `Enablement_Admin_Assignment.enabledRules`.
    pub assignment_rules: Vec<String>,
    /// Notification rules.
    pub notifications: Vec<NotificationRule>,
    /// Last changed (`None`: never, the defaults).
    pub modified: Option<Timestamp>,
    /// Who changed it last.
    pub modified_by: Option<ObjectId>,
}

/// The notification rule ids Entra has on every policy.
pub const NOTIFICATION_RULE_IDS: [&str; 9] = [
    "Notification_Admin_Admin_Eligibility",
    "Notification_Requestor_Admin_Eligibility",
    "Notification_Approver_Admin_Eligibility",
    "Notification_Admin_Admin_Assignment",
    "Notification_Requestor_Admin_Assignment",
    "Notification_Approver_Admin_Assignment",
    "Notification_Admin_EndUser_Assignment",
    "Notification_Requestor_EndUser_Assignment",
    "Notification_Approver_EndUser_Assignment",
];

/// Every rule id a policy has.
pub fn rule_ids() -> Vec<&'static str> {
    let mut v = vec![
        "Expiration_Admin_Eligibility",
        "Enablement_Admin_Eligibility",
        "Expiration_Admin_Assignment",
        "Enablement_Admin_Assignment",
        "Expiration_EndUser_Assignment",
        "Enablement_EndUser_Assignment",
        "Approval_EndUser_Assignment",
        "AuthenticationContext_EndUser_Assignment",
    ];
    v.extend(NOTIFICATION_RULE_IDS);
    v
}

impl RolePolicy {
    /// Entra's defaults for a role: activations up to eight hours with MFA and justification,
    /// no approval; eligibility permanent allowed (at most a year otherwise), active
    /// assignment permanent allowed (at most 180 days otherwise) with justification.
    pub fn default_for(tenant_id: TenantId, role: uuid::Uuid) -> Self {
        Self {
            tenant_id,
            plane: Plane::Directory,
            role_definition_id: role,
            scope_id: "/".into(),
            activation_max_secs: 8 * 3600,
            activation_rules: vec!["MultiFactorAuthentication".into(), "Justification".into()],
            approval_required: false,
            approvers: vec![],
            auth_context: None,
            eligibility_expiration: (false, 365 * 86400),
            assignment_expiration: (false, 180 * 86400),
            eligibility_rules: vec![],
            assignment_rules: vec!["Justification".into()],
            notifications: NOTIFICATION_RULE_IDS
                .iter()
                .map(|id| NotificationRule {
                    id: (*id).into(),
                    recipient_type: id.split('_').nth(1).unwrap_or("Admin").into(),
                    notification_level: "All".into(),
                    is_default_recipients_enabled: true,
                    notification_recipients: vec![],
                })
                .collect(),
            modified: None,
            modified_by: None,
        }
    }
    /// Azure's defaults for an Azure role at an ARM scope: activations up to eight hours with a
    /// justification (no MFA, no approval); eligibility at most a year and active assignments
    /// at most six months (expiration required for both), active assignments with a
    /// justification.
    pub fn azure_default_for(tenant_id: TenantId, role: uuid::Uuid, scope: &str) -> Self {
        Self {
            plane: Plane::Azure,
            scope_id: scope.to_string(),
            activation_rules: vec!["Justification".into()],
            eligibility_expiration: (true, 365 * 86400),
            assignment_expiration: (true, 180 * 86400),
            ..Self::default_for(tenant_id, role)
        }
    }
    /// Entra's defaults for PIM for groups (membership or ownership of `group`): as Azure's —
    /// activations up to eight hours with a justification, eligibility at most a year and
    /// active assignments at most six months (expiration required), active assignments with a
    /// justification.
    pub fn group_default_for(tenant_id: TenantId, group: ObjectId, access: uuid::Uuid) -> Self {
        Self {
            plane: Plane::Group,
            ..Self::azure_default_for(tenant_id, access, &group.to_string())
        }
    }
    /// The ARM name of an Azure role's policy at its scope: a GUID derived from tenant, scope
    /// (case-insensitive) and role, stable across restarts and nodes.
    pub fn azure_name(&self) -> uuid::Uuid {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.tenant_id.to_string().as_bytes());
        h.update(b"|");
        h.update(
            self.scope_id
                .trim_end_matches('/')
                .to_ascii_lowercase()
                .as_bytes(),
        );
        h.update(b"|");
        h.update(self.role_definition_id.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 16];
        for (o, i) in b.iter_mut().zip(d.iter()) {
            *o = *i;
        }
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
    /// The policy's id (`Directory_{tenant}_{role}`; groups: `Group_{groupId}_{guid}`, the
    /// guid derived from tenant, group and accessId; stable, derived).
    pub fn id(&self) -> String {
        if self.plane == Plane::Group {
            return format!("Group_{}_{}", self.scope_id, self.azure_name());
        }
        format!("Directory_{}_{}", self.tenant_id, self.role_definition_id)
    }
    /// Its assignment's id (groups: `Group_{groupId}_{guid}_{accessId}`).
    pub fn assignment_id(&self) -> String {
        if self.plane == Plane::Group {
            return format!(
                "{}_{}",
                self.id(),
                access_id(self.role_definition_id).unwrap_or("member")
            );
        }
        format!(
            "Directory_{}_{}_{}",
            self.tenant_id, self.role_definition_id, self.role_definition_id
        )
    }
    /// Whether `rule` (`MultiFactorAuthentication`, `Justification`, `Ticketing`) is enabled for
    /// requests at `level` by `admin`.
    fn enabled(&self, level: Level, admin: bool, rule: &str) -> bool {
        let rules = match (level, admin) {
            (Level::Assignment, false) => &self.activation_rules,
            (Level::Assignment, true) => &self.assignment_rules,
            (Level::Eligibility, _) => &self.eligibility_rules,
        };
        rules.iter().any(|r| r.eq_ignore_ascii_case(rule))
    }
}

/// Why a request breaks its policy: the rule names Entra reports (`ExpirationRule`,
/// `JustificationRule`, `TicketingRule`, `EligibilityRule`, `MfaRule`, `AcrsRule`) and what to
/// do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFailure {
    /// Entra's rule names.
    pub rules: Vec<&'static str>,
    /// The cause and fix.
    pub detail: String,
}

/// What a request does once it passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new schedule `[start, end)`.
    Create {
        /// Start.
        start: Timestamp,
        /// End.
        end: Option<Timestamp>,
    },
    /// An existing schedule gets a new window.
    Change {
        /// The schedule.
        schedule: ObjectId,
        /// Start.
        start: Timestamp,
        /// End.
        end: Option<Timestamp>,
    },
    /// An existing schedule ends now.
    End {
        /// The schedule.
        schedule: ObjectId,
    },
}

/// The facts a request is checked against.
pub struct RequestFacts<'a> {
    /// The request.
    pub level: Level,
    /// Action.
    pub action: Action,
    /// Principal.
    pub principal: ObjectId,
    /// Role.
    pub role: uuid::Uuid,
    /// Scope.
    pub scope: &'a str,
    /// Justification.
    pub justification: Option<&'a str>,
    /// Ticket number.
    pub ticket_number: Option<&'a str>,
    /// Start asked for.
    pub start: Option<Timestamp>,
    /// Expiration asked for.
    pub expiration: Expiration,
    /// The caller's token carries `mfa` in `amr`.
    pub caller_mfa: bool,
    /// The caller's token carries the policy's authentication context in `acrs`.
    pub caller_acrs: &'a [String],
    /// The governing policy.
    pub policy: &'a RolePolicy,
    /// Every schedule of the tenant.
    pub schedules: &'a [RoleSchedule],
    /// The shortest duration allowed (Entra's five minutes unless lowered for development).
    pub min_duration_secs: i64,
    /// Now.
    pub now: Timestamp,
}

/// What refusing a request takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A policy rule failed (Graph 400 `RoleAssignmentRequestPolicyValidationFailed`).
    Rule(RuleFailure),
    /// The caller must step up (MFA or the authentication context): a claims challenge.
    StepUp {
        /// The context's claim value to ask for (`c1` when only MFA is required).
        acrs: String,
        /// The rule.
        rule: &'static str,
    },
    /// The request cannot apply (nothing to remove, already exists, bad window).
    Bad(String),
    /// The schedule already exists (Graph 400 `RoleAssignmentExists`).
    Exists(String),
    /// Nothing to act on (Graph 404/400 `RoleAssignmentDoesNotExist`).
    Missing(String),
}

/// Checks a request against its policy and the schedules, and computes what it does. Pure.
pub fn check(f: &RequestFacts<'_>) -> Result<Outcome, Refusal> {
    let admin = f.action.is_admin();
    // A start in the past means now; a future start is a scheduled assignment.
    let start = f.start.map_or(f.now, |s| s.max(f.now));
    let existing = f
        .schedules
        .iter()
        .filter(|s| s.level == f.level && s.same_grant(f.principal, f.role, f.scope))
        .filter(|s| s.current_at(f.now))
        .collect::<Vec<_>>();
    // Ending something needs no window, and no justification beyond what the policy asks.
    if matches!(f.action, Action::AdminRemove | Action::SelfDeactivate) {
        let target = existing.iter().find(|s| {
            f.action == Action::AdminRemove || s.assignment_type == AssignmentType::Activated
        });
        return match target {
            Some(s) => Ok(Outcome::End { schedule: s.id }),
            None => Err(Refusal::Missing(format!(
                "There is no {} of role '{}' at scope '{}' for principal '{}' to {}.",
                if f.level == Level::Eligibility {
                    "eligibility"
                } else if f.action == Action::SelfDeactivate {
                    "activation"
                } else {
                    "active assignment"
                },
                f.role,
                f.scope,
                f.principal,
                if f.action == Action::SelfDeactivate {
                    "deactivate"
                } else {
                    "remove"
                }
            ))),
        };
    }
    let mut failed: Vec<&'static str> = Vec::new();
    let mut why: Vec<String> = Vec::new();
    // The window.
    let end = match f.expiration {
        Expiration::NoExpiration => None,
        Expiration::AfterDuration(d) => Some(start.plus_secs(d)),
        Expiration::AfterDateTime(t) => Some(t),
    };
    if let Some(e) = end {
        if e <= start {
            return Err(Refusal::Bad(
                "scheduleInfo.expiration ends before the schedule starts; give an end after startDateTime (or now).".into(),
            ));
        }
        if (e.secs() - start.secs()) < f.min_duration_secs {
            failed.push("ExpirationRule");
            why.push(format!(
                "the schedule lasts less than the shortest allowed duration (PT{}M)",
                (f.min_duration_secs / 60).max(1)
            ));
        }
    }
    let (required, max) = match (f.level, admin) {
        (Level::Assignment, false) => (true, f.policy.activation_max_secs),
        (Level::Assignment, true) => f.policy.assignment_expiration,
        (Level::Eligibility, _) => f.policy.eligibility_expiration,
    };
    match end {
        None if required => {
            failed.push("ExpirationRule");
            why.push("the policy requires an expiration; send scheduleInfo.expiration with type afterDuration or afterDateTime".into());
        }
        Some(e) if required && (e.secs() - start.secs()) > max => {
            failed.push("ExpirationRule");
            why.push(format!(
                "the schedule lasts longer than the policy's maximumDuration ({} seconds)",
                max
            ));
        }
        _ => {}
    }
    if f.level == Level::Eligibility && !admin {
        return Err(Refusal::Bad(format!(
            "action '{}' does not apply to eligibility schedule requests; use adminAssign, adminUpdate, adminRemove, adminExtend or adminRenew.",
            f.action.as_str()
        )));
    }
    if f.policy.enabled(f.level, admin, "Justification")
        && f.justification.is_none_or(|j| j.trim().is_empty())
    {
        failed.push("JustificationRule");
        why.push("the policy requires a justification; send justification".into());
    }
    if f.policy.enabled(f.level, admin, "Ticketing")
        && f.ticket_number.is_none_or(|j| j.trim().is_empty())
    {
        failed.push("TicketingRule");
        why.push("the policy requires ticket information; send ticketInfo.ticketNumber".into());
    }
    // Self-activation needs an eligibility in force for the whole request's start.
    let eligible = f
        .schedules
        .iter()
        .filter(|s| {
            s.level == Level::Eligibility
                && s.same_grant(f.principal, f.role, f.scope)
                && s.active_at(start)
        })
        .min_by_key(|s| s.end.unwrap_or(Timestamp(i64::MAX)))
        .cloned();
    if !admin && eligible.is_none() {
        failed.push("EligibilityRule");
        why.push(format!(
            "the principal is not eligible for role '{}' at scope '{}' (an administrator makes it eligible with a roleEligibilityScheduleRequest)",
            f.role, f.scope
        ));
    }
    if let Some(el) = &eligible {
        if let (false, Some(el_end)) = (admin, el.end) {
            if end.is_none_or(|e| e > el_end) {
                failed.push("ExpirationRule");
                why.push("the activation would outlast the eligibility it comes from".into());
            }
        }
    }
    if !failed.is_empty() {
        failed.dedup();
        return Err(Refusal::Rule(RuleFailure {
            rules: failed,
            detail: why.join("; "),
        }));
    }
    if !admin {
        if let Some(ctx) = &f.policy.auth_context {
            if !f.caller_acrs.iter().any(|a| a == ctx) && !f.caller_mfa {
                return Err(Refusal::StepUp {
                    acrs: ctx.clone(),
                    rule: "AcrsRule",
                });
            }
        }
        if f.policy
            .enabled(Level::Assignment, false, "MultiFactorAuthentication")
            && !f.caller_mfa
        {
            return Err(Refusal::StepUp {
                acrs: "c1".into(),
                rule: "MfaRule",
            });
        }
    }
    let kind_of = |s: &RoleSchedule| {
        if admin {
            s.assignment_type == AssignmentType::Assigned || f.level == Level::Eligibility
        } else {
            s.assignment_type == AssignmentType::Activated
        }
    };
    let mine = existing.iter().find(|s| kind_of(s));
    match f.action {
        Action::AdminAssign | Action::SelfActivate => match mine {
            Some(_) => Err(Refusal::Exists(format!(
                "The principal already has an {} of role '{}' at scope '{}'; use {} to change it.",
                if f.level == Level::Eligibility {
                    "eligibility"
                } else if admin {
                    "active assignment"
                } else {
                    "activation"
                },
                f.role,
                f.scope,
                if admin {
                    "adminUpdate or adminExtend"
                } else {
                    "selfExtend, or selfDeactivate first"
                }
            ))),
            None => Ok(Outcome::Create { start, end }),
        },
        _ => match mine {
            Some(s) => Ok(Outcome::Change {
                schedule: s.id,
                start: if f.start.is_some() {
                    start
                } else {
                    s.start.min(start)
                },
                end,
            }),
            None => Err(Refusal::Missing(format!(
                "There is no schedule of role '{}' at scope '{}' for principal '{}' to {}.",
                f.role,
                f.scope,
                f.principal,
                f.action.as_str()
            ))),
        },
    }
}

/// Whether `who` may answer an approval step: a listed approver, or a direct member of a listed
/// group — and never the requestor.
pub fn may_approve(
    step: &ApprovalStep,
    requestor: ObjectId,
    who: ObjectId,
    groups_of_who: &[ObjectId],
) -> bool {
    who != requestor
        && step
            .approvers
            .iter()
            .any(|a| *a == who || groups_of_who.contains(a))
}

/// The approval of a request, answered or not, at `now`: `PendingApproval` past
/// [`APPROVAL_TIMEOUT_SECS`] counts as expired (`TimedOut`).
pub fn approval_timed_out(r: &RoleScheduleRequest, now: Timestamp) -> bool {
    r.status == "PendingApproval" && now >= r.created.plus_secs(APPROVAL_TIMEOUT_SECS)
}

#[cfg(test)]
mod tests;
