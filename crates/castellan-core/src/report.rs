//! Hygiene reports over loaded directory data: application credentials (client secrets and
//! certificates) expiring within N days — the "fifty functions fail at once" story — and
//! permission grants (delegated grants and application permissions held by service
//! principals) not used in a sign-in for N days. Pure; the server loads, renders and
//! authorises; `castellan report` prints them as a table, CSV or JSON.

use std::collections::HashMap;

use crate::model::{
    AppRoleAssignment, Application, OAuth2PermissionGrant, ObjectKind, ServicePrincipal, SignIn,
};
use crate::{ObjectId, Timestamp};

const DAY_MS: i64 = 86_400_000;

/// A credential's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A client secret (`passwordCredentials`).
    Secret,
    /// A certificate (`keyCredentials`).
    Certificate,
}

impl CredentialKind {
    /// `secret` / `certificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Certificate => "certificate",
        }
    }
}

/// One credential that expires within the window (or has expired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiringCredential {
    /// The application's object id.
    pub application_id: ObjectId,
    /// Its appId.
    pub app_id: String,
    /// Its display name.
    pub display_name: String,
    /// Secret or certificate.
    pub kind: CredentialKind,
    /// The credential's keyId.
    pub key_id: uuid::Uuid,
    /// The credential's display name.
    pub credential_name: Option<String>,
    /// When it expires.
    pub end: Timestamp,
    /// Whole days left (negative once expired).
    pub days_left: i64,
}

/// Credentials of `apps` ending before `now + days`, soonest first (expired ones included: they
/// are the ones already failing). Certificates without an end date never expire.
pub fn expiring_credentials(
    apps: &[Application],
    now: Timestamp,
    days: u32,
) -> Vec<ExpiringCredential> {
    let horizon = now.millis().saturating_add(i64::from(days) * DAY_MS);
    let mut out = Vec::new();
    for a in apps {
        let row = |kind, key_id, name: &Option<String>, end: Timestamp| ExpiringCredential {
            application_id: a.id,
            app_id: a.app_id.to_string(),
            display_name: a.display_name.clone(),
            kind,
            key_id,
            credential_name: name.clone(),
            end,
            days_left: (end.millis() - now.millis()).div_euclid(DAY_MS),
        };
        for p in &a.password_credentials {
            if p.end.millis() <= horizon {
                out.push(row(
                    CredentialKind::Secret,
                    p.key_id,
                    &p.display_name,
                    p.end,
                ));
            }
        }
        for k in &a.key_credentials {
            if let Some(end) = k.end.filter(|e| e.millis() <= horizon) {
                out.push(row(
                    CredentialKind::Certificate,
                    k.key_id,
                    &k.display_name,
                    end,
                ));
            }
        }
    }
    out.sort_by(|x, y| x.end.cmp(&y.end).then(x.display_name.cmp(&y.display_name)));
    out
}

/// A grant's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// A delegated grant (`oauth2PermissionGrants`: the client acts for users).
    Delegated,
    /// An application permission (an app-role assignment held by a service principal).
    Application,
}

impl GrantKind {
    /// `delegated` / `application`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delegated => "delegated",
            Self::Application => "application",
        }
    }
}

/// One grant with no successful sign-in of its client to its resource in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusedGrant {
    /// Delegated or application.
    pub kind: GrantKind,
    /// The grant's id (the oauth2PermissionGrant's or the app-role assignment's).
    pub grant_id: ObjectId,
    /// The client service principal.
    pub client_id: ObjectId,
    /// Its display name and appId.
    pub client_name: String,
    /// The client's appId.
    pub client_app_id: String,
    /// The resource service principal.
    pub resource_id: ObjectId,
    /// Its display name.
    pub resource_name: String,
    /// The scopes (delegated) or the app role's value (application).
    pub permission: String,
    /// The last successful sign-in of the client to the resource in the log, if any.
    pub last_used: Option<Timestamp>,
}

/// A successful sign-in of a client to a resource (appIds as logged).
#[derive(Clone, Copy, Debug)]
pub struct Use<'a> {
    /// The client's appId.
    pub client_app_id: &'a str,
    /// The resource's appId.
    pub resource_app_id: &'a str,
    /// When.
    pub at: Timestamp,
}

impl<'a> Use<'a> {
    /// A sign-in-log record as a use, when it succeeded.
    pub fn of(r: &'a SignIn) -> Option<Self> {
        (r.error_code == 0).then(|| Self {
            client_app_id: &r.app_id,
            resource_app_id: r.resource_id.as_deref().unwrap_or(""),
            at: r.created,
        })
    }
}

/// Grants whose client had no successful sign-in to the grant's resource since `now - days`.
/// `app_role_value` names an app role of a resource (`None` when the role is unknown: its id is
/// shown). Application permissions count only when held by a service principal; grants created
/// inside the window are not yet "unused for N days" and are left out.
pub fn unused_grants(
    delegated: &[OAuth2PermissionGrant],
    app_roles: &[AppRoleAssignment],
    sps: &[ServicePrincipal],
    uses: &[Use<'_>],
    app_role_value: &dyn Fn(ObjectId, uuid::Uuid) -> Option<String>,
    now: Timestamp,
    days: u32,
) -> Vec<UnusedGrant> {
    let since = now.millis().saturating_sub(i64::from(days) * DAY_MS);
    let by_id: HashMap<ObjectId, &ServicePrincipal> = sps.iter().map(|s| (s.id, s)).collect();
    // (client appId, resource appId) → last successful sign-in, both lower case.
    let mut last: HashMap<(String, String), Timestamp> = HashMap::new();
    for u in uses {
        let key = (
            u.client_app_id.to_ascii_lowercase(),
            u.resource_app_id.to_ascii_lowercase(),
        );
        let e = last.entry(key).or_insert(u.at);
        if u.at > *e {
            *e = u.at;
        }
    }
    let mut out = Vec::new();
    let mut consider =
        |kind, grant_id, client: ObjectId, resource: ObjectId, permission: String| {
            let (Some(c), Some(res)) = (by_id.get(&client), by_id.get(&resource)) else {
                return;
            };
            let used = last
                .get(&(
                    c.app_id.to_string().to_ascii_lowercase(),
                    res.app_id.to_string().to_ascii_lowercase(),
                ))
                .copied();
            if used.is_some_and(|t| t.millis() >= since) {
                return;
            }
            out.push(UnusedGrant {
                kind,
                grant_id,
                client_id: c.id,
                client_name: c.display_name.clone(),
                client_app_id: c.app_id.to_string(),
                resource_id: res.id,
                resource_name: res.display_name.clone(),
                permission,
                last_used: used,
            });
        };
    for g in delegated {
        consider(
            GrantKind::Delegated,
            g.id,
            g.client_id,
            g.resource_id,
            g.scope.trim().to_string(),
        );
    }
    for a in app_roles
        .iter()
        .filter(|a| a.principal_type == ObjectKind::ServicePrincipal && a.created.millis() < since)
    {
        let value = app_role_value(a.resource_id, a.app_role_id)
            .unwrap_or_else(|| a.app_role_id.to_string());
        consider(
            GrantKind::Application,
            a.id,
            a.principal_id,
            a.resource_id,
            value,
        );
    }
    out.sort_by(|x, y| {
        x.client_name
            .cmp(&y.client_name)
            .then(x.resource_name.cmp(&y.resource_name))
            .then(x.permission.cmp(&y.permission))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PasswordCredential;

    fn fresh() -> uuid::Uuid {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        uuid::Uuid::from_u128(u128::from(
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        ))
    }

    fn ts(days: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + days * DAY_MS)
    }

    fn app(name: &str, ends: &[i64]) -> Application {
        let mut a = crate::flow::redirect::tests::app();
        a.id = ObjectId::from_uuid(fresh());
        a.display_name = name.into();
        a.password_credentials = ends
            .iter()
            .map(|d| PasswordCredential {
                key_id: fresh(),
                display_name: Some(format!("{name}-{d}")),
                hint: "abc".into(),
                secret_sha256: [0; 32],
                start: ts(-100),
                end: ts(*d),
            })
            .collect();
        a
    }

    #[test]
    fn credentials_inside_the_window_soonest_first_expired_included() {
        let now = ts(0);
        let apps = [app("b", &[45, 10]), app("a", &[-3, 400])];
        let r = expiring_credentials(&apps, now, 30);
        let names: Vec<_> = r
            .iter()
            .map(|x| x.credential_name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a--3", "b-10"]);
        assert_eq!(r[0].days_left, -3);
        assert_eq!(r[1].days_left, 10);
        assert_eq!(r[1].kind, CredentialKind::Secret);
        // The window is inclusive of its last day, and a wider one finds more.
        assert_eq!(expiring_credentials(&apps, now, 45).len(), 3);
        assert!(expiring_credentials(&[], now, 30).is_empty());
    }

    fn sp(name: &str) -> ServicePrincipal {
        ServicePrincipal {
            id: ObjectId::from_uuid(fresh()),
            tenant_id: crate::TenantId::from_uuid(uuid::Uuid::nil()),
            app_id: crate::AppId::from_uuid(fresh()),
            app_owner_tenant_id: None,
            display_name: name.into(),
            service_principal_type: crate::model::ServicePrincipalType::Application,
            service_principal_names: vec![],
            alternative_names: vec![],
            app_role_assignment_required: false,
            account_enabled: true,
            created: Timestamp(0),
            saml: Default::default(),
        }
    }

    #[test]
    fn grants_without_a_recent_successful_sign_in_are_unused() {
        let (used, idle, failing, graph) = (sp("used"), sp("idle"), sp("failing"), sp("Graph"));
        let grant = |c: &ServicePrincipal| OAuth2PermissionGrant {
            id: ObjectId::from_uuid(fresh()),
            tenant_id: crate::TenantId::from_uuid(uuid::Uuid::nil()),
            client_id: c.id,
            consent_type: "AllPrincipals".into(),
            principal_id: None,
            resource_id: graph.id,
            scope: " User.Read ".into(),
        };
        let role = |c: &ServicePrincipal, created: Timestamp| AppRoleAssignment {
            id: ObjectId::from_uuid(fresh()),
            tenant_id: crate::TenantId::from_uuid(uuid::Uuid::nil()),
            principal_id: c.id,
            principal_type: ObjectKind::ServicePrincipal,
            resource_id: graph.id,
            app_role_id: uuid::Uuid::from_u128(7),
            created,
        };
        let now = ts(0);
        let sps = [used.clone(), idle.clone(), failing.clone(), graph.clone()];
        let ids: Vec<(String, String)> = [&used, &idle]
            .iter()
            .map(|c| {
                (
                    c.app_id.to_string().to_uppercase(),
                    graph.app_id.to_string(),
                )
            })
            .collect();
        // The failing client's sign-ins failed, and `Use::of` keeps only successes.
        let log = [
            Use {
                client_app_id: &ids[0].0,
                resource_app_id: &ids[0].1,
                at: ts(-5),
            },
            Use {
                client_app_id: &ids[1].0,
                resource_app_id: &ids[1].1,
                at: ts(-120),
            },
        ];
        let names = |_: ObjectId, _: uuid::Uuid| Some("User.Read.All".to_string());
        let r = unused_grants(
            &[grant(&used), grant(&idle), grant(&failing)],
            &[
                role(&idle, ts(-200)),
                role(&used, ts(-200)),
                role(&failing, ts(-2)),
            ],
            &sps,
            &log,
            &names,
            now,
            90,
        );
        let got: Vec<_> = r
            .iter()
            .map(|g| (g.client_name.as_str(), g.kind, g.permission.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("failing", GrantKind::Delegated, "User.Read"),
                ("idle", GrantKind::Delegated, "User.Read"),
                ("idle", GrantKind::Application, "User.Read.All"),
            ],
            "the used client is not reported (positive control); a role created inside the window is not yet unused"
        );
        let idle_row = r.iter().find(|g| g.client_name == "idle").unwrap();
        assert_eq!(idle_row.last_used, Some(ts(-120)));
        assert_eq!(r[0].last_used, None);
        // A shorter window than the idle client's last use reports nothing for it.
        let r = unused_grants(&[grant(&idle)], &[], &sps, &log, &names, now, 200);
        assert!(r.is_empty());
    }
}
