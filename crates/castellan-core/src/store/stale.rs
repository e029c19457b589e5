//! What a committed change makes stale in a read model of the directory (the cache in
//! `castellan-store::cache`): derived from the [`Change`] variant by one exhaustive match, so a
//! new variant does not compile until someone says what it invalidates.
//!
//! The read model holds what sign-in and token issuance read: tenants, applications (global, by
//! appId and identifier URI), service principals, app-role assignments, delegated permission
//! grants, directory-role assignments, policy documents (Conditional Access policies and named
//! locations), users by id and UPN, each tenant's membership edges and PIM schedules, and
//! signing keys. Groups, grants (codes, refresh tokens), authentication methods and risk are
//! not held, so their own changes invalidate nothing — but deleting an object takes its
//! memberships, assignments, grants and role assignments with it (`castellan-store::objects`),
//! so those deletions invalidate the relations.

use super::{Change, ChangeSet};
use crate::ids::TenantId;

/// The parts of the read model a change touches. Each flag names one cached relation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    /// Tenants by id and by domain.
    pub tenants: bool,
    /// Applications by appId and by identifier URI (global: any tenant reads them).
    pub applications: bool,
    /// Service principals by appId, and each tenant's list.
    pub service_principals: bool,
    /// App-role assignments by principal.
    pub app_role_assignments: bool,
    /// Delegated permission grants.
    pub permission_grants: bool,
    /// Directory-role assignments.
    pub directory_roles: bool,
    /// Policy documents: Conditional Access policies and named locations.
    pub policies: bool,
    /// Token-signing keys (global).
    pub signing_keys: bool,
    /// Group membership edges (every token reads the signed-in user's groups and roles).
    pub memberships: bool,
    /// PIM schedules of every plane (directory roles, Azure roles, groups): what is eligible
    /// and active; each read decides what is in force at its own clock.
    pub pim_schedules: bool,
    /// Users by id and by UPN (every user grant reads the signed-in user).
    pub users: bool,
    /// Each user's authenticator-app methods (Conditional Access reads whether one is
    /// registered at every sign-in of a tenant with policies).
    pub auth_methods: bool,
    /// Each user's risk record (every token reads the user's standing risk).
    pub risk: bool,
}

impl Areas {
    /// Nothing cached changes.
    pub const NONE: Areas = Areas {
        tenants: false,
        applications: false,
        service_principals: false,
        app_role_assignments: false,
        permission_grants: false,
        directory_roles: false,
        policies: false,
        signing_keys: false,
        memberships: false,
        pim_schedules: false,
        users: false,
        auth_methods: false,
        risk: false,
    };
    /// Every relation.
    pub const ALL: Areas = Areas {
        tenants: true,
        applications: true,
        service_principals: true,
        app_role_assignments: true,
        permission_grants: true,
        directory_roles: true,
        policies: true,
        signing_keys: true,
        memberships: true,
        pim_schedules: true,
        users: true,
        auth_methods: true,
        risk: true,
    };
    /// What deleting a directory object takes with it (`delete_object_refs`): the relations
    /// naming it.
    pub const OBJECT_REFS: Areas = Areas {
        app_role_assignments: true,
        permission_grants: true,
        directory_roles: true,
        memberships: true,
        ..Areas::NONE
    };

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self == Areas::NONE
    }

    /// The union of two sets of areas.
    pub fn union(self, o: Areas) -> Areas {
        Areas {
            tenants: self.tenants || o.tenants,
            applications: self.applications || o.applications,
            service_principals: self.service_principals || o.service_principals,
            app_role_assignments: self.app_role_assignments || o.app_role_assignments,
            permission_grants: self.permission_grants || o.permission_grants,
            directory_roles: self.directory_roles || o.directory_roles,
            policies: self.policies || o.policies,
            signing_keys: self.signing_keys || o.signing_keys,
            memberships: self.memberships || o.memberships,
            pim_schedules: self.pim_schedules || o.pim_schedules,
            users: self.users || o.users,
            auth_methods: self.auth_methods || o.auth_methods,
            risk: self.risk || o.risk,
        }
    }
}

/// What one change makes stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    /// Nothing the read model holds.
    Nothing,
    /// These areas of one tenant.
    Tenant(TenantId, Areas),
    /// These areas in every tenant (global relations, cross-tenant cascades).
    Everywhere(Areas),
}

/// What `c` makes stale once committed. Exhaustive on purpose: no wildcard arm.
pub fn stale(c: &Change) -> Stale {
    use Stale::{Everywhere, Nothing, Tenant};
    let only = |t: TenantId, a: Areas| Tenant(t, a);
    match c {
        // By domain too: a domain moving between tenants changes two tenants' lookups.
        Change::InsertTenant(_) | Change::UpdateTenant(_) | Change::ReplaceTenant(..) => {
            Everywhere(Areas {
                tenants: true,
                ..Areas::NONE
            })
        }
        // Users and groups are not held; deleting one takes what names it (its edges too).
        Change::AddMember(m, ..) | Change::RemoveMember(m, ..) => only(
            *m,
            Areas {
                memberships: true,
                ..Areas::NONE
            },
        ),
        Change::InsertUser(u) | Change::UpdateUser(u) => only(
            u.tenant_id,
            Areas {
                users: true,
                ..Areas::NONE
            },
        ),
        Change::InsertGroup(_)
        | Change::UpdateGroup(_)
        | Change::AddOwner(..)
        | Change::RemoveOwner(..) => Nothing,
        // Deleting a user also rewrites the users it managed.
        Change::DeleteUser(t, _) => only(
            *t,
            Areas {
                users: true,
                auth_methods: true,
                risk: true,
                ..Areas::OBJECT_REFS
            },
        ),
        Change::DeleteGroup(t, _) => only(*t, Areas::OBJECT_REFS),
        // Applications are read from every tenant (by appId, by identifier URI); a service
        // principal's names follow its application's identifier URIs.
        Change::InsertApplication(_)
        | Change::UpdateApplication(_)
        | Change::ReplaceApplication(..) => Everywhere(Areas {
            applications: true,
            service_principals: true,
            ..Areas::NONE
        }),
        // Deleting an application deletes its service principals in every tenant and what
        // names them.
        Change::DeleteApplication(..) => Everywhere(Areas {
            applications: true,
            service_principals: true,
            ..Areas::OBJECT_REFS
        }),
        Change::InsertServicePrincipal(sp) | Change::UpdateServicePrincipal(sp) => only(
            sp.tenant_id,
            Areas {
                service_principals: true,
                ..Areas::NONE
            },
        ),
        Change::DeleteServicePrincipal(t, _) => only(
            *t,
            Areas {
                service_principals: true,
                ..Areas::OBJECT_REFS
            },
        ),
        Change::InsertAppRoleAssignment(a) => only(
            a.tenant_id,
            Areas {
                app_role_assignments: true,
                ..Areas::NONE
            },
        ),
        Change::DeleteAppRoleAssignment(t, _) => only(
            *t,
            Areas {
                app_role_assignments: true,
                ..Areas::NONE
            },
        ),
        Change::InsertPermissionGrant(g) => only(
            g.tenant_id,
            Areas {
                permission_grants: true,
                ..Areas::NONE
            },
        ),
        Change::DeletePermissionGrant(t, _) => only(
            *t,
            Areas {
                permission_grants: true,
                ..Areas::NONE
            },
        ),
        // PIM: schedules are held (every token reads them); requests and policies are not.
        // The directory-role relation is dropped too so that nothing role-derived outlives
        // an activation, deactivation or expiry.
        Change::PutRoleSchedule(x) => only(
            x.tenant_id,
            Areas {
                directory_roles: true,
                pim_schedules: true,
                ..Areas::NONE
            },
        ),
        Change::PutRoleScheduleRequest(x) => only(
            x.tenant_id,
            Areas {
                directory_roles: true,
                ..Areas::NONE
            },
        ),
        Change::PutRolePolicy(x) => only(
            x.tenant_id,
            Areas {
                directory_roles: true,
                ..Areas::NONE
            },
        ),
        Change::InsertDirectoryRoleAssignment(a) => only(
            a.tenant_id,
            Areas {
                directory_roles: true,
                ..Areas::NONE
            },
        ),
        // Deleting a custom role or an administrative unit removes the assignments of it / scoped
        // to it.
        Change::DeleteDirectoryRoleAssignment(t, _)
        | Change::DeleteCustomRole(t, _)
        | Change::DeleteAdministrativeUnit(t, _) => only(
            *t,
            Areas {
                directory_roles: true,
                ..Areas::NONE
            },
        ),
        Change::InsertCustomRole(_)
        | Change::InsertAdministrativeUnit(_)
        | Change::AddAuMember(..)
        | Change::RemoveAuMember(..) => Nothing,
        Change::InsertSigningKey(_) | Change::UpdateSigningKey(_) => Everywhere(Areas {
            signing_keys: true,
            ..Areas::NONE
        }),
        // Codes, refresh tokens, sessions: not held (every redemption reads the store).
        Change::RevokeGrants(_) | Change::UpdateGrant(..) | Change::InsertGrant(_) => Nothing,
        // The resource plane is not held (ARM reads the store); system-assigned identities
        // are created and deleted as their own service-principal changes.
        Change::InsertArmResource(_)
        | Change::UpdateArmResource(_)
        | Change::DeleteArmResource(..)
        | Change::InsertAzureRoleAssignment(_)
        | Change::DeleteAzureRoleAssignment(..)
        | Change::PutCustomAzureRole(_)
        | Change::DeleteCustomAzureRole(..)
        | Change::InsertDenyAssignment(_)
        | Change::DeleteDenyAssignment(..) => Nothing,
        Change::PutPolicyDocument(d) => only(
            d.tenant_id,
            Areas {
                policies: true,
                ..Areas::NONE
            },
        ),
        Change::DeletePolicyDocument(t, _) => only(
            *t,
            Areas {
                policies: true,
                ..Areas::NONE
            },
        ),
        Change::InsertSoftwareOathMethod(m) => only(
            m.tenant_id,
            Areas {
                auth_methods: true,
                ..Areas::NONE
            },
        ),
        Change::ConfirmSoftwareOathMethod(t, ..) | Change::DeleteSoftwareOathMethod(t, _) => only(
            *t,
            Areas {
                auth_methods: true,
                ..Areas::NONE
            },
        ),
        Change::ReplaceRecoveryCodes(..) | Change::ResetMfaAttempts(..) => Nothing,
        Change::InsertDevice(_)
        | Change::UpdateDevice(_)
        | Change::DeleteDevice(..)
        | Change::TouchDevice(..) => Nothing,
        Change::PutRiskyUser(r, _) => only(
            r.tenant_id,
            Areas {
                risk: true,
                ..Areas::NONE
            },
        ),
        // The recycle bin is not held; the object's own delete or restore changes (pushed in
        // the same set) say what they invalidate.
        Change::InsertDeletedItem(_) | Change::DeleteDeletedItem(..) => Nothing,
        // Licences are not held; the tier they set on the tenant comes with an UpdateTenant.
        Change::PutSubscription(_)
        | Change::PutLicenseAssignment(_)
        | Change::DeleteLicenseAssignment(..) => Nothing,
    }
}

impl Areas {
    /// The flags as a number (the cross-node notification's form).
    pub fn bits(self) -> u16 {
        [
            self.tenants,
            self.applications,
            self.service_principals,
            self.app_role_assignments,
            self.permission_grants,
            self.directory_roles,
            self.policies,
            self.signing_keys,
            self.memberships,
            self.pim_schedules,
            self.users,
            self.auth_methods,
            self.risk,
        ]
        .iter()
        .enumerate()
        .fold(0u16, |b, (i, on)| if *on { b | (1 << i) } else { b })
    }

    /// The flags of [`Areas::bits`].
    pub fn from_bits(b: u16) -> Areas {
        let on = |i: u16| b & (1 << i) != 0;
        Areas {
            tenants: on(0),
            applications: on(1),
            service_principals: on(2),
            app_role_assignments: on(3),
            permission_grants: on(4),
            directory_roles: on(5),
            policies: on(6),
            signing_keys: on(7),
            memberships: on(8),
            pim_schedules: on(9),
            users: on(10),
            auth_methods: on(11),
            risk: on(12),
        }
    }
}

/// Longest encoded stale set sent as is; a longer one is sent as "everything" (PostgreSQL
/// notification payloads stop at 8,000 bytes).
pub const MAX_ENCODED: usize = 7_000;

/// A stale set as text for other nodes (`castellan-store`'s PostgreSQL notification):
/// `<tenant id>:<bits>` or `*:<bits>` per entry, `;`-separated; past [`MAX_ENCODED`], every area everywhere.
pub fn encode(stale: &[Stale]) -> String {
    let parts: Vec<String> = stale
        .iter()
        .filter_map(|s| match s {
            Stale::Nothing => None,
            Stale::Tenant(t, a) => Some(format!("{t}:{}", a.bits())),
            Stale::Everywhere(a) => Some(format!("*:{}", a.bits())),
        })
        .collect();
    let text = parts.join(";");
    if text.len() > MAX_ENCODED {
        format!("*:{}", Areas::ALL.bits())
    } else {
        text
    }
}

/// The stale set of [`encode`]; `None` when the text is not one (the reader then drops
/// everything: never keep what may be stale).
pub fn decode(text: &str) -> Option<Vec<Stale>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(';')
        .map(|part| {
            let (who, bits) = part.split_once(':')?;
            let a = Areas::from_bits(bits.parse().ok()?);
            if who == "*" {
                Some(Stale::Everywhere(a))
            } else {
                TenantId::parse(who).map(|t| Stale::Tenant(t, a))
            }
        })
        .collect()
}

/// Everything a change set makes stale, in order (duplicates are harmless).
pub fn stale_set(set: &ChangeSet) -> Vec<Stale> {
    set.changes
        .iter()
        .map(stale)
        .filter(|s| *s != Stale::Nothing)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ids::ObjectId;

    fn tid() -> TenantId {
        TenantId::parse("11111111-1111-1111-1111-111111111111").unwrap()
    }

    #[test]
    fn stale_sets_round_trip_as_text_and_garbage_is_refused() {
        for b in 0..=8191u16 {
            assert_eq!(Areas::from_bits(b).bits(), b);
        }
        assert_eq!(Areas::ALL.bits(), 8191);
        assert_eq!(Areas::NONE.bits(), 0);
        let set = vec![
            Stale::Tenant(tid(), Areas::OBJECT_REFS),
            Stale::Everywhere(Areas {
                signing_keys: true,
                ..Areas::NONE
            }),
        ];
        let text = encode(&set);
        assert_eq!(decode(&text), Some(set));
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(encode(&[Stale::Nothing]), "");
        for bad in ["x", "*:65536", "not-a-tenant:1", "*:1;", ":1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        // Too long for one notification: sent as everything.
        let many = vec![Stale::Tenant(tid(), Areas::ALL); 400];
        assert_eq!(
            decode(&encode(&many)),
            Some(vec![Stale::Everywhere(Areas::ALL)])
        );
    }
    fn oid() -> ObjectId {
        ObjectId::parse("22222222-2222-2222-2222-222222222222").unwrap()
    }

    #[test]
    fn deleting_an_object_invalidates_what_names_it() {
        for c in [
            Change::DeleteUser(tid(), oid()),
            Change::DeleteGroup(tid(), oid()),
        ] {
            let Stale::Tenant(t, a) = stale(&c) else {
                panic!("{c:?}")
            };
            assert_eq!(t, tid());
            assert!(a.app_role_assignments && a.permission_grants && a.directory_roles);
            assert!(a.memberships, "the object's edges go with it");
            assert!(!a.applications && !a.signing_keys && !a.pim_schedules);
        }
    }

    #[test]
    fn an_application_change_is_global_and_a_grant_change_touches_nothing_held() {
        let Stale::Everywhere(a) = stale(&Change::DeleteApplication(tid(), oid())) else {
            panic!()
        };
        assert!(a.applications && a.service_principals && a.app_role_assignments);
        assert_eq!(
            stale(&Change::RemoveMember(tid(), oid(), oid())),
            Stale::Tenant(
                tid(),
                Areas {
                    memberships: true,
                    ..Areas::NONE
                }
            )
        );
        assert_eq!(
            stale(&Change::RevokeGrants(crate::model::RevokeScope::User(
                tid(),
                oid()
            ))),
            Stale::Nothing
        );
        assert_eq!(
            stale(&Change::DeletePolicyDocument(tid(), oid())),
            Stale::Tenant(
                tid(),
                Areas {
                    policies: true,
                    ..Areas::NONE
                }
            )
        );
    }

    #[test]
    fn a_change_set_lists_only_what_it_makes_stale() {
        let mut set = ChangeSet::new();
        set.push(Change::RevokeGrants(crate::model::RevokeScope::User(
            tid(),
            oid(),
        )));
        set.push(Change::DeleteAppRoleAssignment(tid(), oid()));
        assert_eq!(stale_set(&set).len(), 1);
        assert!(Areas::ALL.union(Areas::NONE) == Areas::ALL);
        assert!(Areas::NONE.is_empty());
    }
}
