//! The one directory authorisation decision: "may this caller do operation X on object Y".
//!
//! Every Graph read and write asks [`decide`]. Its inputs are loaded data, nothing else:
//! - **who** ([`Principal`]): a delegated token (its scopes, *intersected* with the signed-in
//!   user's own rights) or an app-only token (its application permissions, plus any directory
//!   roles held by its service principal); the directory role assignments with their scope
//!   (tenant `/` or `/administrativeUnits/{id}`) and the tenant's custom role definitions;
//! - **what** ([`Op`]), each with its row in [`rule`]: the permissions that allow it in a token,
//!   the resource action a role must grant (Microsoft's `microsoft.directory/...` actions), whether
//!   owners of the target may do it without a role, and which privileged-user table protects it;
//! - **on what** ([`Target`]): whether the caller owns it, its administrative units, and its own
//!   privilege (a user's directory roles, membership of a role-assignable group, a group being
//!   role-assignable, a grant being for Microsoft Graph).
//!
//! The privileged-user tables are Microsoft's "Who can reset passwords" and "Who can perform
//! sensitive actions" (Microsoft Entra privileged roles and permissions): whether a caller role
//! may act depends on *every* role the target holds; an administrative-unit scope does not lift
//! the rule. Pure: no I/O.

use crate::directory_roles::{self, covers, CustomActions};
use crate::graph_rules::{self, Access, Area};
use crate::model::{GuestRole, InvitesFrom};
use crate::ObjectId;

/// How the token speaks for its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A user signed in to a client (`scp`): the scope bounds what the client may do, the
    /// user's own rights bound what the user may do; both must allow it.
    Delegated,
    /// The application itself (`roles`): its application permissions, or a directory role held
    /// by its service principal.
    AppOnly,
    /// The signed-in user acting in Castellan's own pages (the consent and admin-consent
    /// pages): no client stands between, so only the user's own rights count.
    Interactive,
}

/// The caller, as loaded for one request.
#[derive(Clone, Debug)]
pub struct Principal<'a> {
    /// The signed-in user's or the service principal's object id (ownership is checked on it).
    pub id: ObjectId,
    /// Delegated or app-only.
    pub via: Via,
    /// Delegated scopes (`scp`) or application permissions (`roles`).
    pub permissions: &'a [String],
    /// Directory role assignments of the user or service principal: `(template, scope)`.
    pub assignments: &'a [(uuid::Uuid, String)],
    /// The tenant's enabled custom role definitions.
    pub custom: &'a [CustomActions],
    /// A guest user (delegated only).
    pub is_guest: bool,
    /// For a guest: the tenant's `guestUserRoleId` (what guests may read).
    pub guest_role: GuestRole,
}

/// What a target object brings to the decision. `Default` is "a plain object the caller does
/// not own, in no unit".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The caller is one of the target's owners (application, service principal, group; for a
    /// grant or app-role assignment: of the resource service principal).
    pub owned_by_caller: bool,
    /// Administrative units the target belongs to.
    pub units: Vec<ObjectId>,
    /// For a user: the directory roles they hold (any scope, direct or through a group).
    pub user_roles: Vec<uuid::Uuid>,
    /// For a user: a member or owner of a role-assignable group.
    pub in_role_assignable_group: bool,
    /// For a group: role-assignable (`isAssignableToRole`).
    pub role_assignable_group: bool,
    /// For a consent grant or app-role assignment: the resource is Microsoft Graph.
    pub resource_is_graph: bool,
    /// For a creation: the tenant lets every member create this kind of object
    /// (`allowedToCreateApps` for applications).
    pub members_may_create: bool,
}

/// A directory operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Any operation still decided by area and access alone (reads, role management, audit,
    /// Conditional Access, devices, Identity Protection, `/me`).
    Area(Area, Access),
    /// Read one object of an area by its id (`GET /users/{id}`, `/groups/{id}`): the same rule
    /// as reading the area, but also open to guests under the "limited" guest role (Entra:
    /// guests may look objects up, not enumerate them).
    Lookup(Area),
    /// Create a user.
    UserCreate,
    /// Update a user's basic properties (names, job title, department, ...).
    UserUpdate,
    /// Update a user's sensitive properties (mail, phones, `userType`).
    UserUpdateSensitive,
    /// Enable or disable a user (`accountEnabled`).
    UserEnableDisable,
    /// Change a user's `userPrincipalName`.
    UserRename,
    /// Reset a user's password (`passwordProfile`).
    UserResetPassword,
    /// Delete a user.
    UserDelete,
    /// `revokeSignInSessions`.
    UserRevokeSessions,
    /// Set or remove a user's manager.
    UserManager,
    /// Invite a guest (`POST /invitations`); who may is also bounded by the tenant's
    /// `allowInvitesFrom` ([`may_invite`]).
    UserInvite,
    /// Register an application (`members_may_create`: the tenant's `allowedToCreateApps`).
    AppCreate,
    /// Update an application registration.
    AppUpdate,
    /// Add or remove an application's credentials (passwords, certificates, federated
    /// credentials).
    AppCredentials,
    /// Add or remove an application's owners.
    AppOwners,
    /// Delete an application.
    AppDelete,
    /// Create a service principal for an application (`owned_by_caller`: of the application).
    SpCreate,
    /// Update a service principal.
    SpUpdate,
    /// Delete a service principal.
    SpDelete,
    /// Assign (or remove) an app role of a resource to a user or group.
    AssignAppRoleToUserOrGroup,
    /// Grant (or remove) an application permission: an app role assigned to a service
    /// principal.
    GrantApplicationPermission,
    /// Create or delete a delegated grant for every user (`consentType: AllPrincipals`).
    ConsentForAll,
    /// Create or delete a delegated grant for one user (`consentType: Principal`).
    ConsentForOne,
    /// Create a group (role-assignable groups: [`Op::GroupCreateRoleAssignable`]).
    GroupCreate,
    /// Create a role-assignable group.
    GroupCreateRoleAssignable,
    /// Update a group's properties.
    GroupUpdate,
    /// Delete a group.
    GroupDelete,
    /// Add or remove a group's members.
    GroupMembers,
    /// Add or remove a group's owners.
    GroupOwners,
    /// PIM as an administrator: eligibility and assignment schedule requests for someone
    /// (`adminAssign` … `adminRenew`) and role management policy changes.
    PimAdmin,
    /// PIM on oneself: `selfActivate` … `selfRenew` (the eligibility is checked by the request).
    PimSelf,
    /// PIM for groups as an administrator (`adminAssign` … `adminRenew` of a group's membership
    /// or ownership, its policies): the group's owners; for a role-assignable group Privileged
    /// Role Administrator; otherwise Groups Administrator or User Administrator (who hold
    /// `groups/members/update`); apps with `Privileged{Eligibility|Assignment}Schedule.ReadWrite.AzureADGroup`.
    PimGroupAdmin,
    /// PIM for groups on oneself (`selfActivate` … `selfRenew`).
    PimGroupSelf,
    /// `assignLicense` on a user.
    UserAssignLicense,
    /// `assignLicense` on a group (group-based licensing).
    GroupAssignLicense,
    /// Set a user's `usageLocation`.
    UserUsageLocation,
}

/// Which privileged-user table protects an operation on a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protect {
    /// No protection: any holder of the action may do it on anyone.
    None,
    /// Microsoft's "Who can reset passwords" table.
    Password,
    /// Microsoft's "Who can perform sensitive actions" table.
    Sensitive,
}

/// One row of the rule table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Token permissions (scopes or application permissions), any one of which allows it.
    pub permissions: &'static [&'static str],
    /// Permissions that allow it only on targets the caller owns
    /// (`Application.ReadWrite.OwnedBy`).
    pub owned_permissions: &'static [&'static str],
    /// The resource action a directory role must grant; `None`: every member may by default.
    pub action: Option<&'static str>,
    /// Other actions that grant it as well (any one).
    pub also: &'static [&'static str],
    /// Owners of the target may do it without a role.
    pub owner_may: bool,
    /// The privileged-user table that protects it.
    pub protect: Protect,
}

const USER_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const INVITE: &[&str] = &[
    "User.Invite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const PASSWORD_WRITE: &[&str] = &[
    "User-PasswordProfile.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const APP_WRITE: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
const APP_OWNED: &[&str] = &["Application.ReadWrite.OwnedBy"];
const ASSIGN: &[&str] = &[
    "AppRoleAssignment.ReadWrite.All",
    "Application.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const CONSENT: &[&str] = &[
    "DelegatedPermissionGrant.ReadWrite.All",
    "Application.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const GROUP_WRITE: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const GROUP_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const LICENSE_WRITE: &[&str] = &[
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const GROUP_LICENSE_WRITE: &[&str] = &[
    "LicenseAssignment.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const ROLE_WRITE: &[&str] = &["RoleManagement.ReadWrite.Directory"];
const PIM_WRITE: &[&str] = &[
    "RoleManagement.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory",
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleManagementPolicy.ReadWrite.Directory",
];

const PIM_GROUP_WRITE: &[&str] = &[
    "PrivilegedAccess.ReadWrite.AzureADGroup",
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.ReadWrite.AzureADGroup",
];

const COMPANY_ADMIN_GRANTS: &str =
    "microsoft.directory/servicePrincipals/managePermissionGrantsForAll.microsoft-company-admin";
const APP_ADMIN_GRANTS: &str =
    "microsoft.directory/servicePrincipals/managePermissionGrantsForAll.microsoft-application-admin";
const ROLE_ASSIGNMENTS: &str = "microsoft.directory/roleAssignments/allProperties/allTasks";

const fn row(
    permissions: &'static [&'static str],
    action: &'static str,
    owner_may: bool,
    protect: Protect,
) -> Rule {
    Rule {
        permissions,
        owned_permissions: &[],
        action: Some(action),
        also: &[],
        owner_may,
        protect,
    }
}

/// The rule for an operation on a target. A role-assignable group turns every group write into
/// a privileged-role operation: only Privileged Role Administrator and Global Administrator
/// (`roleAssignments/allProperties/allTasks`; app-only `RoleManagement.ReadWrite.Directory`),
/// never its owners. A grant for Microsoft Graph needs the company-admin grant right (Privileged
/// Role Administrator, Global Administrator); for another resource Application Administrator
/// and Cloud Application Administrator may grant too.
pub fn rule(op: Op, target: &Target) -> Rule {
    use Protect::*;
    let ra = target.role_assignable_group;
    match op {
        // Writes to groups and applications are never a default member right: they go through
        // the ownership-aware rows.
        Op::Area(Area::Groups, Access::Write) => rule(Op::GroupUpdate, target),
        Op::Area(Area::Applications, Access::Write) => rule(Op::AppUpdate, target),
        Op::Lookup(area) => rule(Op::Area(area, Access::Read), target),
        Op::Area(area, access) => Rule {
            permissions: graph_rules::permissions_for(area, access),
            owned_permissions: &[],
            action: directory_roles::required_action(area, access),
            also: directory_roles::also_actions(area, access),
            owner_may: false,
            protect: None,
        },
        Op::UserCreate => row(USER_WRITE, "microsoft.directory/users/create", false, None),
        Op::UserUpdate => row(
            USER_WRITE,
            "microsoft.directory/users/basic/update",
            false,
            None,
        ),
        Op::UserUpdateSensitive => row(
            USER_WRITE,
            "microsoft.directory/users/basic/update",
            false,
            Sensitive,
        ),
        Op::UserEnableDisable => Rule {
            also: &["microsoft.directory/users/enable"],
            ..row(
                USER_WRITE,
                "microsoft.directory/users/disable",
                false,
                Sensitive,
            )
        },
        Op::UserRename => row(
            USER_WRITE,
            "microsoft.directory/users/userPrincipalName/update",
            false,
            Sensitive,
        ),
        Op::UserResetPassword => row(
            PASSWORD_WRITE,
            "microsoft.directory/users/password/update",
            false,
            Password,
        ),
        Op::UserDelete => row(
            USER_WRITE,
            "microsoft.directory/users/delete",
            false,
            Sensitive,
        ),
        Op::UserRevokeSessions => row(
            USER_WRITE,
            "microsoft.directory/users/invalidateAllRefreshTokens",
            false,
            Sensitive,
        ),
        Op::UserManager => row(
            USER_WRITE,
            "microsoft.directory/users/manager/update",
            false,
            None,
        ),
        Op::UserInvite => row(INVITE, "microsoft.directory/users/inviteGuest", false, None),
        Op::AppCreate => Rule {
            also: &["microsoft.directory/applications/createAsOwner"],
            ..row(
                &[
                    "Application.ReadWrite.All",
                    "Application.ReadWrite.OwnedBy",
                    "Directory.ReadWrite.All",
                ],
                "microsoft.directory/applications/create",
                false,
                None,
            )
        },
        Op::AppUpdate => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/applications/basic/update",
                true,
                None,
            )
        },
        Op::AppCredentials => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/applications/credentials/update",
                true,
                None,
            )
        },
        Op::AppOwners => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/applications/owners/update",
                true,
                None,
            )
        },
        Op::AppDelete => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/applications/delete",
                true,
                None,
            )
        },
        Op::SpCreate => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/servicePrincipals/create",
                true,
                None,
            )
        },
        Op::SpUpdate => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/servicePrincipals/basic/update",
                true,
                None,
            )
        },
        Op::SpDelete => Rule {
            owned_permissions: APP_OWNED,
            ..row(
                APP_WRITE,
                "microsoft.directory/servicePrincipals/delete",
                true,
                None,
            )
        },
        Op::AssignAppRoleToUserOrGroup => row(
            ASSIGN,
            "microsoft.directory/servicePrincipals/appRoleAssignedTo/update",
            true,
            None,
        ),
        Op::GrantApplicationPermission | Op::ConsentForAll if target.resource_is_graph => Rule {
            permissions: if op == Op::ConsentForAll {
                CONSENT
            } else {
                ASSIGN
            },
            ..row(&[], COMPANY_ADMIN_GRANTS, false, None)
        },
        Op::GrantApplicationPermission => Rule {
            also: &[COMPANY_ADMIN_GRANTS],
            ..row(ASSIGN, APP_ADMIN_GRANTS, false, None)
        },
        Op::PimAdmin => row(PIM_WRITE, ROLE_ASSIGNMENTS, false, None),
        Op::PimGroupAdmin if ra => row(PIM_GROUP_WRITE, ROLE_ASSIGNMENTS, true, None),
        Op::PimGroupAdmin => row(
            PIM_GROUP_WRITE,
            "microsoft.directory/groups/members/update",
            true,
            None,
        ),
        Op::PimGroupSelf => Rule {
            permissions: PIM_GROUP_WRITE,
            owned_permissions: &[],
            action: Option::None,
            also: &[],
            owner_may: false,
            protect: None,
        },
        Op::PimSelf => Rule {
            permissions: PIM_WRITE,
            owned_permissions: &[],
            action: Option::None,
            also: &[],
            owner_may: false,
            protect: None,
        },
        Op::ConsentForAll => Rule {
            also: &[COMPANY_ADMIN_GRANTS],
            ..row(CONSENT, APP_ADMIN_GRANTS, false, None)
        },
        Op::ConsentForOne => Rule {
            also: &[COMPANY_ADMIN_GRANTS],
            ..row(
                CONSENT,
                "microsoft.directory/oAuth2PermissionGrants/allProperties/allTasks",
                false,
                None,
            )
        },
        Op::GroupCreate => Rule {
            action: Option::None,
            ..row(GROUP_WRITE, "", false, None)
        },
        Op::GroupUpdate | Op::GroupDelete | Op::GroupMembers | Op::GroupOwners if ra => {
            row(ROLE_WRITE, ROLE_ASSIGNMENTS, false, None)
        }
        Op::GroupCreateRoleAssignable => row(ROLE_WRITE, ROLE_ASSIGNMENTS, false, None),
        Op::GroupUpdate => row(
            GROUP_WRITE,
            "microsoft.directory/groups/basic/update",
            true,
            None,
        ),
        Op::GroupDelete => row(GROUP_WRITE, "microsoft.directory/groups/delete", true, None),
        Op::GroupMembers => row(
            GROUP_MEMBERS,
            "microsoft.directory/groups/members/update",
            true,
            None,
        ),
        Op::GroupOwners => row(
            GROUP_WRITE,
            "microsoft.directory/groups/owners/update",
            true,
            None,
        ),
        // License Administrator, User Administrator, Global Administrator (and the Directory
        // Writers / Groups Administrator rows of Microsoft's table) hold these actions.
        Op::UserAssignLicense => row(
            LICENSE_WRITE,
            "microsoft.directory/users/assignLicense",
            false,
            None,
        ),
        Op::GroupAssignLicense if ra => row(
            GROUP_LICENSE_WRITE,
            "microsoft.directory/groupsAssignableToRoles/assignLicense",
            false,
            None,
        ),
        Op::GroupAssignLicense => row(
            GROUP_LICENSE_WRITE,
            "microsoft.directory/groups/assignLicense",
            false,
            None,
        ),
        Op::UserUsageLocation => Rule {
            also: &["microsoft.directory/users/basic/update"],
            ..row(
                USER_WRITE,
                "microsoft.directory/users/usageLocation/update",
                false,
                None,
            )
        },
    }
}

/// Why a call was refused: Graph's 403 `Authorization_RequestDenied` with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const GA: &str = "Global Administrator";
const PAA: &str = "Privileged Authentication Administrator";
const UA: &str = "User Administrator";
const AA: &str = "Authentication Administrator";
const HA: &str = "Helpdesk Administrator";
const PWA: &str = "Password Administrator";

/// Microsoft's "Who can reset passwords": for each role a target may hold, the caller roles
/// that may reset that target's password. A target holding no role may be reset by all six; a
/// target holding any role not listed (every other built-in role, every custom role), or a
/// member or owner of a role-assignable group, only by Privileged Authentication Administrator
/// and Global Administrator.
pub const PASSWORD_TABLE: &[(&str, &[&str])] = &[
    ("Authentication Administrator", &[AA, PAA, GA]),
    ("Directory Readers", &[PWA, HA, AA, UA, PAA, GA]),
    ("Global Administrator", &[PAA, GA]),
    ("Groups Administrator", &[UA, PAA, GA]),
    ("Guest Inviter", &[PWA, HA, AA, UA, PAA, GA]),
    ("Helpdesk Administrator", &[HA, UA, PAA, GA]),
    ("Message Center Reader", &[HA, AA, UA, PAA, GA]),
    ("Password Administrator", &[PWA, HA, AA, UA, PAA, GA]),
    ("Privileged Authentication Administrator", &[PAA, GA]),
    ("Privileged Role Administrator", &[PAA, GA]),
    ("Reports Reader", &[HA, AA, UA, PAA, GA]),
    ("User Administrator", &[UA, PAA, GA]),
    ("Usage Summary Reports Reader", &[PWA, HA, AA, UA, PAA, GA]),
];

/// Microsoft's "Who can perform sensitive actions" (enable/disable, delete, revoke sessions,
/// UPN and sensitive properties): as [`PASSWORD_TABLE`], with its four caller roles.
pub const SENSITIVE_TABLE: &[(&str, &[&str])] = &[
    ("Authentication Administrator", &[AA, PAA, GA]),
    ("Directory Readers", &[AA, UA, PAA, GA]),
    ("Global Administrator", &[PAA, GA]),
    ("Groups Administrator", &[UA, PAA, GA]),
    ("Guest Inviter", &[AA, UA, PAA, GA]),
    ("Helpdesk Administrator", &[UA, PAA, GA]),
    ("Message Center Reader", &[AA, UA, PAA, GA]),
    ("Password Administrator", &[AA, UA, PAA, GA]),
    ("Privileged Authentication Administrator", &[PAA, GA]),
    ("Privileged Role Administrator", &[PAA, GA]),
    ("Reports Reader", &[AA, UA, PAA, GA]),
    ("User Administrator", &[UA, PAA, GA]),
    ("Usage Summary Reports Reader", &[AA, UA, PAA, GA]),
];

/// Whether a caller role may act on a target under a privileged-user table. Custom caller
/// roles (and built-in roles outside the table's columns, such as Directory Writers) may act
/// only on targets holding no role at all.
pub fn protected_ok(table: Protect, caller_role: uuid::Uuid, target: &Target) -> bool {
    let rows = match table {
        Protect::None => return true,
        Protect::Password => PASSWORD_TABLE,
        Protect::Sensitive => SENSITIVE_TABLE,
    };
    if target.user_roles.is_empty() && !target.in_role_assignable_group {
        return true;
    }
    let Some(caller) = directory_roles::role(caller_role).map(|r| r.display_name.as_str()) else {
        return false;
    };
    if target.in_role_assignable_group && ![PAA, GA].contains(&caller) {
        return false;
    }
    target.user_roles.iter().all(|t| {
        let name = directory_roles::role(*t).map(|r| r.display_name.as_str());
        match rows.iter().find(|(row, _)| Some(*row) == name) {
            Some((_, who)) => who.contains(&caller),
            None => [PAA, GA].contains(&caller),
        }
    })
}

fn has_any(permissions: &[String], wanted: &[&str]) -> bool {
    permissions
        .iter()
        .any(|p| wanted.iter().any(|w| w.eq_ignore_ascii_case(p)))
}

/// The roles among `assignments` in force for this target: tenant-wide ones, and those scoped
/// to an administrative unit the target belongs to.
fn roles_in_scope<'a>(
    assignments: &'a [(uuid::Uuid, String)],
    target: &'a Target,
) -> impl Iterator<Item = uuid::Uuid> + 'a {
    assignments.iter().filter_map(|(r, scope)| {
        let in_scope = scope == "/"
            || scope
                .strip_prefix("/administrativeUnits/")
                .and_then(ObjectId::parse)
                .is_some_and(|au| target.units.contains(&au));
        in_scope.then_some(*r)
    })
}

/// Whether one role grants the rule's action (or one of its alternatives).
fn grants(role: uuid::Uuid, custom: &[CustomActions], rule: &Rule) -> bool {
    let Some(action) = rule.action else {
        return true;
    };
    directory_roles::actions_of(role, custom).is_some_and(|acts| {
        acts.iter()
            .any(|a| covers(a, action) || rule.also.iter().any(|alt| covers(a, alt)))
    })
}

/// A role in force for the target that grants the action and passes the protection table.
fn role_allows(p: &Principal<'_>, rule: &Rule, target: &Target) -> bool {
    roles_in_scope(p.assignments, target)
        .any(|r| grants(r, p.custom, rule) && protected_ok(rule.protect, r, target))
}

fn target_is_protected(rule: &Rule, target: &Target) -> bool {
    rule.protect != Protect::None
        && (!target.user_roles.is_empty() || target.in_role_assignable_group)
}

/// The decision. `Err` names what is missing and how to get it.
pub fn decide(p: &Principal<'_>, op: Op, target: &Target) -> Result<(), Denied> {
    let rule = rule(op, target);
    let scoped_ok = has_any(p.permissions, rule.permissions)
        || (target.owned_by_caller && has_any(p.permissions, rule.owned_permissions));
    match p.via {
        Via::AppOnly => {
            // Application permissions act on ordinary objects; a privileged user is protected
            // from them, and only a directory role of the service principal that passes the
            // table reaches it. A directory role alone also suffices (Entra: roles assigned to
            // service principals).
            if scoped_ok && !target_is_protected(&rule, target) {
                return Ok(());
            }
            if rule.action.is_some() && role_allows(p, &rule, target) {
                return Ok(());
            }
            if scoped_ok {
                return Err(Denied(privileged_target_message(&rule, op)));
            }
            Err(Denied(missing_permission_message(&rule)))
        }
        Via::Delegated | Via::Interactive => {
            if p.via == Via::Delegated && !scoped_ok {
                return Err(Denied(missing_permission_message(&rule)));
            }
            let but = if p.via == Via::Delegated {
                "The token has the scope, but"
            } else {
                "Refused:"
            };
            if p.is_guest && !matches!(op, Op::Area(Area::Me, _)) {
                match p.guest_role {
                    GuestRole::Member => {}
                    GuestRole::Limited if matches!(op, Op::Lookup(_)) => {}
                    GuestRole::Limited => return Err(Denied(format!("{but} guest users (authorizationPolicy.guestUserRoleId: limited access) may read their own profile (/me) and look objects up by id, not list or change the directory; an administrator must grant a directory role or change guestUserRoleId for more."))),
                    GuestRole::Restricted => return Err(Denied(format!("{but} guest users (authorizationPolicy.guestUserRoleId: restricted access) may only read and update their own profile (/me); an administrator must grant a directory role or change guestUserRoleId for more."))),
                }
            }
            if rule.action.is_none()
                || (rule.owner_may && target.owned_by_caller)
                || (op == Op::AppCreate && target.members_may_create)
            {
                return Ok(());
            }
            if role_allows(p, &rule, target) {
                return Ok(());
            }
            let held_action =
                roles_in_scope(p.assignments, target).any(|r| grants(r, p.custom, &rule));
            if held_action {
                return Err(Denied(format!(
                    "{but} {}",
                    privileged_target_message(&rule, op)
                )));
            }
            Err(Denied(format!("{but} {}", missing_role_message(&rule))))
        }
    }
}

/// Whether `p` may invite a guest under the tenant's `allowInvitesFrom`: the token needs
/// `User.Invite.All` (or a wider user write permission) in every case; then `none` refuses
/// everyone, administrators and applications included; `adminsAndGuestInviters` needs a role
/// granting `users/inviteGuest` (Guest Inviter, User Administrator, Global Administrator, …)
/// or, app-only, the permission alone; `adminsGuestInvitersAndAllMembers` lets every member
/// user invite too; `everyone` guests as well.
pub fn may_invite(p: &Principal<'_>, from: InvitesFrom) -> Result<(), Denied> {
    let r = rule(Op::UserInvite, &Target::default());
    if p.via != Via::Interactive && !has_any(p.permissions, r.permissions) {
        return Err(Denied(missing_permission_message(&r)));
    }
    let role = role_allows(p, &r, &Target::default());
    let allowed = match from {
        InvitesFrom::None => false,
        InvitesFrom::AdminsAndGuestInviters => p.via == Via::AppOnly || role,
        InvitesFrom::AdminsGuestInvitersAndAllMembers => {
            p.via == Via::AppOnly || role || !p.is_guest
        }
        InvitesFrom::Everyone => true,
    };
    if allowed {
        return Ok(());
    }
    Err(Denied(match from {
        InvitesFrom::None => "The tenant's authorizationPolicy.allowInvitesFrom is 'none': nobody may invite guests, administrators included. A Global Administrator can change it (PATCH /policies/authorizationPolicy).".into(),
        _ => format!("The tenant's authorizationPolicy.allowInvitesFrom is '{}': inviting needs the Guest Inviter, User Administrator or Global Administrator role{}.", from.as_str(), if from == InvitesFrom::AdminsGuestInvitersAndAllMembers { " (guest users may not invite)" } else { "" }),
    }))
}

fn missing_permission_message(rule: &Rule) -> String {
    let mut all: Vec<&str> = rule.permissions.to_vec();
    all.extend(rule.owned_permissions.iter().copied());
    if all.is_empty() {
        return "No permission of a token allows this operation.".into();
    }
    format!(
        "The token needs one of these permissions: {}. Grant one to the calling application (POST /servicePrincipals/{{id}}/appRoleAssignments, or consent to the scope) and request a new token.",
        all.join(", ")
    )
}

fn missing_role_message(rule: &Rule) -> String {
    let action = rule.action.unwrap_or_default();
    let mut who: Vec<&str> = directory_roles::built_in_roles()
        .iter()
        .filter(|r| {
            r.allowed_resource_actions
                .iter()
                .any(|a| covers(a, action) || rule.also.iter().any(|alt| covers(a, alt)))
        })
        .map(|r| r.display_name.as_str())
        .collect();
    const USUAL: &[&str] = &[
        "User Administrator",
        "Groups Administrator",
        "Application Administrator",
        "Cloud Application Administrator",
        "Privileged Role Administrator",
        "Global Administrator",
    ];
    who.sort_by_key(|n| (USUAL.iter().position(|u| u == n).unwrap_or(USUAL.len()), *n));
    who.truncate(6);
    let owners = if rule.owner_may {
        " or be an owner of the object"
    } else {
        ""
    };
    format!(
        "the signed-in user lacks the directory permission '{action}'. Hold a role that grants it (for example {}){owners}, then get a new token.",
        who.join(", ")
    )
}

fn privileged_target_message(rule: &Rule, op: Op) -> String {
    match rule.protect {
        Protect::Password => "the target user holds an administrator role (or is in a role-assignable group), so only a Privileged Authentication Administrator or a Global Administrator may reset their password (Microsoft's 'who can reset passwords' rules).".into(),
        Protect::Sensitive => "the target user holds an administrator role (or is in a role-assignable group), so only a Privileged Authentication Administrator or a Global Administrator may change their sensitive properties, disable, delete or revoke them (Microsoft's 'who can perform sensitive actions' rules).".into(),
        Protect::None => format!("no role in scope allows {op:?} on this object."),
    }
}

/// Whether a delegated creator must become the new object's first owner: when no role of theirs
/// would let them manage it (`manage`, e.g. [`Op::AppUpdate`]) — as Entra makes a member who
/// registers an application or creates a group its owner.
pub fn creator_becomes_owner(p: &Principal<'_>, manage: Op) -> bool {
    p.via != Via::AppOnly
        && decide(
            p,
            manage,
            &Target {
                owned_by_caller: false,
                ..Target::default()
            },
        )
        .is_err()
}

/// The operations an application PATCH performs, by the properties it sets.
pub fn app_patch_ops(input: &crate::ops::applications::ApplicationInput) -> Vec<Op> {
    if matches!(input.key_credentials, crate::ops::Field::Absent) {
        vec![Op::AppUpdate]
    } else {
        vec![Op::AppUpdate, Op::AppCredentials]
    }
}

/// The operations a user PATCH performs, by the properties it sets (each must be allowed).
pub fn user_patch_ops(input: &crate::ops::users::UserInput) -> Vec<Op> {
    use crate::ops::Field;
    let set = |present: bool, op: Op, out: &mut Vec<Op>| {
        if present && !out.contains(&op) {
            out.push(op);
        }
    };
    fn is_set<T>(f: &Field<T>) -> bool {
        !matches!(f, Field::Absent)
    }
    let mut ops = Vec::new();
    set(
        is_set(&input.display_name)
            || is_set(&input.mail_nickname)
            || is_set(&input.given_name)
            || is_set(&input.surname)
            || is_set(&input.job_title)
            || is_set(&input.department)
            || is_set(&input.office_location)
            || is_set(&input.company_name)
            || is_set(&input.employee_id),
        Op::UserUpdate,
        &mut ops,
    );
    set(
        is_set(&input.mail) || is_set(&input.user_type),
        Op::UserUpdateSensitive,
        &mut ops,
    );
    set(
        is_set(&input.account_enabled),
        Op::UserEnableDisable,
        &mut ops,
    );
    set(is_set(&input.user_principal_name), Op::UserRename, &mut ops);
    set(
        is_set(&input.usage_location),
        Op::UserUsageLocation,
        &mut ops,
    );
    set(
        is_set(&input.password) || is_set(&input.force_change_password_next_sign_in),
        Op::UserResetPassword,
        &mut ops,
    );
    if ops.is_empty() {
        ops.push(Op::UserUpdate);
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> uuid::Uuid {
        directory_roles::built_in_roles()
            .iter()
            .find(|r| r.display_name == name)
            .map(|r| r.template_id)
            .unwrap_or_else(|| panic!("no role {name}"))
    }

    fn me() -> ObjectId {
        ObjectId::from_random([1; 16])
    }

    /// Every scope a broadly consented client might hold.
    fn broad() -> Vec<String> {
        [
            "User.ReadWrite.All",
            "Application.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "Group.ReadWrite.All",
            "RoleManagement.ReadWrite.Directory",
        ]
        .map(String::from)
        .to_vec()
    }

    fn delegated<'a>(scopes: &'a [String], roles: &'a [(uuid::Uuid, String)]) -> Principal<'a> {
        Principal {
            id: me(),
            via: Via::Delegated,
            permissions: scopes,
            assignments: roles,
            custom: &[],
            is_guest: false,
            guest_role: GuestRole::Limited,
        }
    }

    fn wide(names: &[&str]) -> Vec<(uuid::Uuid, String)> {
        names.iter().map(|n| (id(n), "/".to_string())).collect()
    }

    /// Target privilege, as the table's columns name it.
    #[derive(Clone, Copy, Debug)]
    enum T {
        /// A plain object or a user with no role.
        Plain,
        /// Owned by the caller.
        Owned,
        /// A user holding the named role.
        Holding(&'static str),
        /// A user in a role-assignable group.
        InRaGroup,
        /// A role-assignable group (owned by the caller).
        RaGroupOwned,
        /// A grant whose resource is Microsoft Graph.
        Graph,
    }

    fn target(t: T) -> Target {
        match t {
            T::Plain => Target::default(),
            T::Owned => Target {
                owned_by_caller: true,
                ..Target::default()
            },
            T::Holding(r) => Target {
                user_roles: vec![id(r)],
                ..Target::default()
            },
            T::InRaGroup => Target {
                in_role_assignable_group: true,
                ..Target::default()
            },
            T::RaGroupOwned => Target {
                role_assignable_group: true,
                owned_by_caller: true,
                ..Target::default()
            },
            T::Graph => Target {
                resource_is_graph: true,
                ..Target::default()
            },
        }
    }

    /// The table: caller role (`""`: a member without role) × operation × target → allowed.
    /// Delegated, with every scope consented, so each row tests the user's own right.
    #[test]
    fn the_rule_table_row_by_row() {
        use Op::*;
        const GA: &str = "Global Administrator";
        const UA: &str = "User Administrator";
        const PAA: &str = "Privileged Authentication Administrator";
        let rows: &[(&str, Op, T, bool)] = &[
            // Applications: owners manage their own; members nothing else.
            ("", AppCredentials, T::Plain, false),
            ("", AppCredentials, T::Owned, true),
            ("", AppUpdate, T::Plain, false),
            ("", AppUpdate, T::Owned, true),
            ("", AppOwners, T::Plain, false),
            ("", AppOwners, T::Owned, true),
            ("", AppDelete, T::Plain, false),
            ("", AppDelete, T::Owned, true),
            ("Application Administrator", AppCredentials, T::Plain, true),
            ("Cloud Application Administrator", AppDelete, T::Plain, true),
            ("Application Developer", AppCredentials, T::Plain, false),
            ("Directory Writers", AppCredentials, T::Plain, false),
            ("User Administrator", AppUpdate, T::Plain, false),
            (GA, AppCredentials, T::Plain, true),
            // Service principals.
            ("", SpUpdate, T::Plain, false),
            ("", SpUpdate, T::Owned, true),
            ("", SpDelete, T::Plain, false),
            ("", SpCreate, T::Owned, true),
            ("", SpCreate, T::Plain, false),
            ("Application Administrator", SpUpdate, T::Plain, true),
            // Application permissions: Graph only by PRA/GA; others also AA/CAA.
            ("", GrantApplicationPermission, T::Graph, false),
            ("", GrantApplicationPermission, T::Plain, false),
            (
                "Application Administrator",
                GrantApplicationPermission,
                T::Graph,
                false,
            ),
            (
                "Cloud Application Administrator",
                GrantApplicationPermission,
                T::Graph,
                false,
            ),
            (
                "User Administrator",
                GrantApplicationPermission,
                T::Graph,
                false,
            ),
            (
                "Directory Writers",
                GrantApplicationPermission,
                T::Graph,
                false,
            ),
            (
                "Application Administrator",
                GrantApplicationPermission,
                T::Plain,
                true,
            ),
            (
                "Cloud Application Administrator",
                GrantApplicationPermission,
                T::Plain,
                true,
            ),
            (
                "Privileged Role Administrator",
                GrantApplicationPermission,
                T::Graph,
                true,
            ),
            (GA, GrantApplicationPermission, T::Graph, true),
            // Tenant-wide consent likewise.
            ("", ConsentForAll, T::Graph, false),
            ("Application Administrator", ConsentForAll, T::Graph, false),
            (
                "Cloud Application Administrator",
                ConsentForAll,
                T::Plain,
                true,
            ),
            (
                "Privileged Role Administrator",
                ConsentForAll,
                T::Graph,
                true,
            ),
            (GA, ConsentForAll, T::Graph, true),
            ("", ConsentForOne, T::Plain, false),
            ("Application Administrator", ConsentForOne, T::Plain, true),
            // Assigning users and groups to an app: its owners and app administrators.
            ("", AssignAppRoleToUserOrGroup, T::Plain, false),
            ("", AssignAppRoleToUserOrGroup, T::Owned, true),
            (
                "Cloud Application Administrator",
                AssignAppRoleToUserOrGroup,
                T::Plain,
                true,
            ),
            // Groups: members create and manage their own.
            ("", GroupCreate, T::Plain, true),
            ("", GroupMembers, T::Plain, false),
            ("", GroupMembers, T::Owned, true),
            ("", GroupOwners, T::Plain, false),
            ("", GroupOwners, T::Owned, true),
            ("", GroupUpdate, T::Plain, false),
            ("", GroupUpdate, T::Owned, true),
            ("", GroupDelete, T::Plain, false),
            ("", GroupDelete, T::Owned, true),
            ("Groups Administrator", GroupMembers, T::Plain, true),
            ("Directory Writers", GroupOwners, T::Plain, true),
            // Role-assignable groups: PRA/GA only, never their owners.
            ("", GroupMembers, T::RaGroupOwned, false),
            ("", GroupOwners, T::RaGroupOwned, false),
            ("Groups Administrator", GroupMembers, T::RaGroupOwned, false),
            ("User Administrator", GroupOwners, T::RaGroupOwned, false),
            (
                "Privileged Role Administrator",
                GroupMembers,
                T::RaGroupOwned,
                true,
            ),
            (GA, GroupOwners, T::RaGroupOwned, true),
            ("", GroupCreateRoleAssignable, T::Plain, false),
            (
                "Groups Administrator",
                GroupCreateRoleAssignable,
                T::Plain,
                false,
            ),
            (
                "Privileged Role Administrator",
                GroupCreateRoleAssignable,
                T::Plain,
                true,
            ),
            // Users: passwords by the password table.
            ("", UserResetPassword, T::Plain, false),
            ("Password Administrator", UserResetPassword, T::Plain, true),
            ("Helpdesk Administrator", UserResetPassword, T::Plain, true),
            (
                "Authentication Administrator",
                UserResetPassword,
                T::Plain,
                true,
            ),
            (UA, UserResetPassword, T::Plain, true),
            ("Directory Writers", UserResetPassword, T::Plain, false),
            ("Intune Administrator", UserResetPassword, T::Plain, false),
            (UA, UserResetPassword, T::Holding(GA), false),
            (
                "Helpdesk Administrator",
                UserResetPassword,
                T::Holding(GA),
                false,
            ),
            (
                "Authentication Administrator",
                UserResetPassword,
                T::Holding(GA),
                false,
            ),
            (
                "Password Administrator",
                UserResetPassword,
                T::Holding(GA),
                false,
            ),
            (PAA, UserResetPassword, T::Holding(GA), true),
            (GA, UserResetPassword, T::Holding(GA), true),
            (
                UA,
                UserResetPassword,
                T::Holding("Helpdesk Administrator"),
                true,
            ),
            (
                "Helpdesk Administrator",
                UserResetPassword,
                T::Holding("Helpdesk Administrator"),
                true,
            ),
            (
                "Password Administrator",
                UserResetPassword,
                T::Holding("Helpdesk Administrator"),
                false,
            ),
            (
                "Password Administrator",
                UserResetPassword,
                T::Holding("Directory Readers"),
                true,
            ),
            (
                "Helpdesk Administrator",
                UserResetPassword,
                T::Holding("Reports Reader"),
                true,
            ),
            (
                "Password Administrator",
                UserResetPassword,
                T::Holding("Reports Reader"),
                false,
            ),
            (UA, UserResetPassword, T::Holding(UA), true),
            (
                UA,
                UserResetPassword,
                T::Holding("Privileged Role Administrator"),
                false,
            ),
            (
                UA,
                UserResetPassword,
                T::Holding("Security Administrator"),
                false,
            ),
            (
                PAA,
                UserResetPassword,
                T::Holding("Security Administrator"),
                true,
            ),
            (UA, UserResetPassword, T::InRaGroup, false),
            (PAA, UserResetPassword, T::InRaGroup, true),
            // Sensitive actions by the sensitive-actions table.
            (UA, UserEnableDisable, T::Plain, true),
            (UA, UserEnableDisable, T::Holding(GA), false),
            (UA, UserDelete, T::Holding(GA), false),
            (UA, UserRevokeSessions, T::Holding(GA), false),
            (UA, UserRename, T::Holding(GA), false),
            (UA, UserDelete, T::Holding("Groups Administrator"), true),
            (
                "Authentication Administrator",
                UserDelete,
                T::Holding(UA),
                false,
            ),
            ("Authentication Administrator", UserDelete, T::Plain, true),
            ("Directory Writers", UserEnableDisable, T::Plain, true),
            (
                "Directory Writers",
                UserEnableDisable,
                T::Holding("Directory Readers"),
                false,
            ),
            (PAA, UserDelete, T::Holding(GA), true),
            (GA, UserEnableDisable, T::Holding(GA), true),
            // Basic properties are not protected.
            (UA, UserUpdate, T::Holding(GA), true),
            ("Intune Administrator", UserUpdate, T::Holding(GA), true),
            ("", UserUpdate, T::Plain, false),
            ("", UserCreate, T::Plain, false),
            (UA, UserCreate, T::Plain, true),
        ];
        let scopes = broad();
        for (who, op, t, allowed) in rows {
            let roles = if who.is_empty() { vec![] } else { wide(&[who]) };
            let got = decide(&delegated(&scopes, &roles), *op, &target(*t));
            assert_eq!(got.is_ok(), *allowed, "{who:?} {op:?} {t:?}: {got:?}");
        }
    }

    #[test]
    fn the_scope_bounds_the_user_and_the_user_bounds_the_scope() {
        // A Global Administrator with a client holding only User.Read.All cannot write.
        let read = vec!["User.Read.All".to_string()];
        let ga = wide(&["Global Administrator"]);
        let e = decide(
            &delegated(&read, &ga),
            Op::UserResetPassword,
            &Target::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("User-PasswordProfile.ReadWrite.All"), "{e}");
        // Positive control: the same with the write scope.
        let scopes = broad();
        assert!(decide(
            &delegated(&scopes, &ga),
            Op::UserResetPassword,
            &Target::default()
        )
        .is_ok());
        // A member with every scope is still a member.
        let e = decide(
            &delegated(&scopes, &[]),
            Op::AppCredentials,
            &Target::default(),
        )
        .unwrap_err();
        assert!(
            e.0.contains("microsoft.directory/applications/credentials/update"),
            "{e}"
        );
        assert!(e.0.contains("Application Administrator"), "{e}");
    }

    #[test]
    fn allow_invites_from_decides_who_may_invite() {
        use crate::model::InvitesFrom::*;
        let scopes = vec!["User.Invite.All".to_string()];
        let member = delegated(&scopes, &[]);
        let guest = Principal {
            is_guest: true,
            ..delegated(&scopes, &[])
        };
        let inviter_roles = wide(&["Guest Inviter"]);
        let inviter = delegated(&scopes, &inviter_roles);
        let ua_roles = wide(&["User Administrator"]);
        let ua = delegated(&scopes, &ua_roles);
        let app = Principal {
            via: Via::AppOnly,
            ..delegated(&scopes, &[])
        };
        // everyone: guests too
        assert!(may_invite(&guest, Everyone).is_ok());
        // members (the positive control), not guests
        assert!(may_invite(&member, AdminsGuestInvitersAndAllMembers).is_ok());
        let e = may_invite(&guest, AdminsGuestInvitersAndAllMembers).unwrap_err();
        assert!(e.0.contains("guest users may not invite"), "{e}");
        // only role holders (and apps with the permission)
        assert!(may_invite(&member, AdminsAndGuestInviters).is_err());
        assert!(may_invite(&inviter, AdminsAndGuestInviters).is_ok());
        assert!(may_invite(&ua, AdminsAndGuestInviters).is_ok());
        assert!(may_invite(&app, AdminsAndGuestInviters).is_ok());
        // none: nobody
        for p in [&member, &inviter, &ua, &app] {
            assert!(may_invite(p, None).unwrap_err().0.contains("'none'"));
        }
        // the token must carry an invite permission whatever the setting
        let weak = vec!["User.Read".to_string()];
        let e = may_invite(&delegated(&weak, &inviter_roles), Everyone).unwrap_err();
        assert!(e.0.contains("User.Invite.All"), "{e}");
    }

    #[test]
    fn guests_act_only_on_themselves() {
        let scopes = broad();
        let p = Principal {
            is_guest: true,
            ..delegated(&scopes, &[])
        };
        assert!(decide(&p, Op::GroupCreate, &Target::default()).is_err());
        let me = ["User.ReadWrite".to_string()];
        let p = Principal {
            is_guest: true,
            ..delegated(&me, &[])
        };
        assert!(decide(&p, Op::Area(Area::Me, Access::Write), &Target::default()).is_ok());
    }

    #[test]
    fn guest_user_role_decides_what_guests_read() {
        let scopes = vec!["User.Read.All".to_string(), "Group.Read.All".to_string()];
        let t = Target::default();
        let guest = |r: GuestRole| Principal {
            is_guest: true,
            guest_role: r,
            ..delegated(&scopes, &[])
        };
        // limited (the default): look up by id, not enumerate
        let limited = guest(GuestRole::Limited);
        assert!(decide(&limited, Op::Lookup(Area::Users), &t).is_ok());
        assert!(decide(&limited, Op::Lookup(Area::Groups), &t).is_ok());
        let e = decide(&limited, Op::Area(Area::Users, Access::Read), &t).unwrap_err();
        assert!(e.0.contains("limited access"), "{e}");
        // restricted: nothing but /me
        let restricted = guest(GuestRole::Restricted);
        let e = decide(&restricted, Op::Lookup(Area::Users), &t).unwrap_err();
        assert!(e.0.contains("restricted access"), "{e}");
        assert!(decide(&restricted, Op::Area(Area::Me, Access::Read), &t).is_ok());
        // same as members: lists too (positive control: a member may)
        let as_member = guest(GuestRole::Member);
        assert!(decide(&as_member, Op::Area(Area::Users, Access::Read), &t).is_ok());
        assert!(decide(
            &delegated(&scopes, &[]),
            Op::Area(Area::Users, Access::Read),
            &t
        )
        .is_ok());
        // but not writes a member could not do either
        assert!(decide(&as_member, Op::UserCreate, &t).is_err());
    }

    #[test]
    fn au_scoped_roles_reach_members_of_their_unit_and_keep_the_privileged_rule() {
        let scopes = broad();
        let au = ObjectId::from_random([7; 16]);
        let roles = vec![(
            id("User Administrator"),
            format!("/administrativeUnits/{au}"),
        )];
        let p = delegated(&scopes, &roles);
        let inside = Target {
            units: vec![au],
            ..Target::default()
        };
        assert!(decide(&p, Op::UserResetPassword, &inside).is_ok());
        assert!(decide(&p, Op::UserResetPassword, &Target::default()).is_err());
        let privileged = Target {
            user_roles: vec![id("Global Administrator")],
            ..inside
        };
        let e = decide(&p, Op::UserResetPassword, &privileged).unwrap_err();
        assert!(
            e.0.contains("Privileged Authentication Administrator"),
            "{e}"
        );
    }

    #[test]
    fn app_only_permissions_do_not_reach_privileged_users_but_roles_of_the_app_do() {
        let perms = vec!["User.ReadWrite.All".to_string()];
        let app = |roles: &'static [(uuid::Uuid, String)]| Principal {
            id: me(),
            via: Via::AppOnly,
            permissions: &[],
            assignments: roles,
            custom: &[],
            is_guest: false,
            guest_role: GuestRole::Limited,
        };
        let p = Principal {
            permissions: &perms,
            ..app(&[])
        };
        let ga = Target {
            user_roles: vec![id("Global Administrator")],
            ..Target::default()
        };
        assert!(decide(&p, Op::UserResetPassword, &Target::default()).is_ok());
        assert!(decide(&p, Op::UserResetPassword, &ga).is_err());
        assert!(decide(&p, Op::UserDelete, &ga).is_err());
        assert!(decide(&p, Op::UserUpdate, &ga).is_ok());
        // A service principal holding Privileged Authentication Administrator may.
        let roles = vec![(
            id("Privileged Authentication Administrator"),
            "/".to_string(),
        )];
        let p = Principal {
            permissions: &perms,
            assignments: &roles,
            ..app(&[])
        };
        assert!(decide(&p, Op::UserResetPassword, &ga).is_ok());
        // OwnedBy reaches only owned applications.
        let owned_by = vec!["Application.ReadWrite.OwnedBy".to_string()];
        let p = Principal {
            permissions: &owned_by,
            ..app(&[])
        };
        assert!(decide(&p, Op::AppCredentials, &Target::default()).is_err());
        assert!(decide(
            &p,
            Op::AppCredentials,
            &Target {
                owned_by_caller: true,
                ..Target::default()
            }
        )
        .is_ok());
    }

    #[test]
    fn a_creator_without_a_managing_role_becomes_owner() {
        let scopes = broad();
        assert!(creator_becomes_owner(
            &delegated(&scopes, &[]),
            Op::AppUpdate
        ));
        let aa = wide(&["Application Administrator"]);
        assert!(!creator_becomes_owner(
            &delegated(&scopes, &aa),
            Op::AppUpdate
        ));
        let perms = vec!["Application.ReadWrite.All".to_string()];
        let app = Principal {
            via: Via::AppOnly,
            ..delegated(&perms, &[])
        };
        assert!(!creator_becomes_owner(&app, Op::AppUpdate));
    }

    #[test]
    fn every_role_and_op_decides_without_panicking() {
        use Op::*;
        let scopes = broad();
        let ops = [
            UserCreate,
            UserUpdate,
            UserUpdateSensitive,
            UserEnableDisable,
            UserRename,
            UserResetPassword,
            UserDelete,
            UserRevokeSessions,
            UserManager,
            UserInvite,
            AppCreate,
            AppUpdate,
            AppCredentials,
            AppOwners,
            AppDelete,
            SpCreate,
            SpUpdate,
            SpDelete,
            AssignAppRoleToUserOrGroup,
            GrantApplicationPermission,
            ConsentForAll,
            ConsentForOne,
            GroupCreate,
            GroupCreateRoleAssignable,
            GroupUpdate,
            GroupDelete,
            GroupMembers,
            GroupOwners,
            PimAdmin,
            PimSelf,
        ];
        for r in directory_roles::built_in_roles() {
            let roles = vec![(r.template_id, "/".to_string())];
            for op in ops {
                for t in [
                    T::Plain,
                    T::Owned,
                    T::Holding("Global Administrator"),
                    T::Graph,
                ] {
                    let _ = decide(&delegated(&scopes, &roles), op, &target(t));
                }
                // No refusal is silent about its cause.
                if let Err(e) = decide(&delegated(&[], &roles), op, &Target::default()) {
                    assert!(e.0.contains("permission"), "{op:?}: {e}");
                }
            }
        }
    }
}
