//! Security defaults (Graph `identitySecurityDefaultsEnforcementPolicy`): Entra's free baseline,
//! a tenant setting that is on for tenants created from now on and mutually exclusive with
//! enabled custom Conditional Access policies.
//!
//! Two of its rules are expressed as built-in, synthetic Conditional Access policies evaluated
//! by the same evaluator as custom ones (so the sign-in log, What-If and impact replay show them
//! like any policy, under recognisable ids and names):
//! - **MFA for administrators**: users holding one of Entra's privileged directory roles
//!   (`PRIVILEGED_ROLES`, the list of the "Security defaults" article) must do MFA at every
//!   sign-in, to every resource (AADSTS50076; 50079 when they have no authenticator app yet);
//! - **legacy authentication blocked**: sign-ins of client app type `exchangeActiveSync` or
//!   `other` are blocked (AADSTS530035 BlockedBySecurityDefaults, naming the policy).
//!   Castellan's only legacy-style grant is the resource owner password credentials grant
//!   (ROPC), in which the client handles the password and no interactive step is possible:
//!   under security defaults the token endpoint evaluates ROPC as `other`
//!   (`LEGACY_CLIENT_APP_TYPE`), so it is blocked.
//!
//! The third rule, **MFA registration required**, is not a grant control: an *interactive*
//! (browser) sign-in of a user without a registered authenticator app is sent to register
//! (the AADSTS50079 page) even when no policy asks for MFA (`registration_required`).
//! Non-interactive flows (refresh tokens, code redemption, client credentials) are not
//! interrupted for registration — there is nobody to register — and Entra's 14-day grace
//! period is not modelled (registration is required at the first browser sign-in).
//!
//! Mutual exclusion (`check_custom_policy`, `check_enable`): while security defaults are on, a
//! custom policy may be created or updated only as `disabled` or
//! `enabledForReportingButNotEnforced` (report-only policies do not count: they change no
//! outcome, and Entra lets you prepare them before switching over); turning security defaults
//! on is refused while any custom policy is `enabled`.

use crate::ids::ObjectId;

use super::model::{
    AppRef, ApplicationsCondition, BuiltInControl, ClientAppType, ConditionalAccessPolicy,
    Conditions, GrantControls, GrantOperator, PolicyState, UserRef, UsersCondition,
};

/// Graph's fixed id of `identitySecurityDefaultsEnforcementPolicy`.
pub const ENFORCEMENT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000005";
/// Its display name.
pub const DISPLAY_NAME: &str = "Security Defaults";
/// Its description (Entra's wording).
pub const DESCRIPTION: &str = "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.";

/// Id of the synthetic "MFA for administrators" policy (as it appears in sign-in logs).
pub const ADMIN_MFA_POLICY_ID: ObjectId = ObjectId::from_uuid(uuid::Uuid::from_u128(
    0x00000000_0000_0000_0005_000000000001,
));
/// Id of the synthetic "block legacy authentication" policy.
pub const LEGACY_BLOCK_POLICY_ID: ObjectId = ObjectId::from_uuid(uuid::Uuid::from_u128(
    0x00000000_0000_0000_0005_000000000002,
));
/// Id of the synthetic "MFA registration" entry the sign-in log shows when a user is sent to
/// register.
pub const REGISTRATION_POLICY_ID: ObjectId = ObjectId::from_uuid(uuid::Uuid::from_u128(
    0x00000000_0000_0000_0005_000000000003,
));
/// Name of the "MFA for administrators" policy.
pub const ADMIN_MFA_NAME: &str = "Security defaults: require MFA for administrators";
/// Name of the legacy-authentication block.
pub const LEGACY_BLOCK_NAME: &str = "Security defaults: block legacy authentication";
/// Name of the registration requirement.
pub const REGISTRATION_NAME: &str = "Security defaults: require MFA registration";

/// The client app type the token endpoint gives an ROPC sign-in under security defaults.
pub const LEGACY_CLIENT_APP_TYPE: ClientAppType = ClientAppType::Other;

/// The directory roles (template id, name) whose holders must do MFA at every sign-in under
/// security defaults (Microsoft Learn, "Security defaults in Microsoft Entra ID", "Require
/// administrators to do multifactor authentication").
pub const PRIVILEGED_ROLES: [(u128, &str); 16] = [
    (
        0x62e90394_69f5_4237_9190_012177145e10,
        "Global Administrator",
    ),
    (
        0x9b895d92_2cd3_44c7_9d02_a6ac2d5ea5c3,
        "Application Administrator",
    ),
    (
        0xc4e39bd9_1100_46d3_8c65_fb160da0071f,
        "Authentication Administrator",
    ),
    (
        0x0526716b_113d_4c15_b2c8_68e3c22b9f80,
        "Authentication Policy Administrator",
    ),
    (
        0xb0f54661_2d74_4c50_afa3_1ec803f12efe,
        "Billing Administrator",
    ),
    (
        0x158c047a_c907_4556_b7ef_446551a6b5f7,
        "Cloud Application Administrator",
    ),
    (
        0xb1be1c3e_b65d_4f19_8427_f6fa0d97feb9,
        "Conditional Access Administrator",
    ),
    (
        0x29232cdf_9323_42fd_ade2_1d097af3e4de,
        "Exchange Administrator",
    ),
    (
        0x729827e3_9c14_49f7_bb1b_9608f156bbb8,
        "Helpdesk Administrator",
    ),
    (
        0x45d8d3c5_c802_45c6_b32a_1d70b5e1e86e,
        "Identity Governance Administrator",
    ),
    (
        0x966707d0_3269_4727_9be2_8c3a10f19b9d,
        "Password Administrator",
    ),
    (
        0x7be44c8a_adaf_4e2a_84d6_ab2649e08a13,
        "Privileged Authentication Administrator",
    ),
    (
        0xe8611ab8_c189_46e8_94e1_60213ab1f814,
        "Privileged Role Administrator",
    ),
    (
        0x194ae4cb_b126_40b2_bd5b_6091b380977d,
        "Security Administrator",
    ),
    (
        0xf28a1f50_f6e7_4571_818b_6a12f2af6b6c,
        "SharePoint Administrator",
    ),
    (0xfe930be7_5e62_47db_91af_98c3a49a38b1, "User Administrator"),
];

/// Whether `id` is one of the synthetic security-defaults policies.
pub fn is_synthetic(id: ObjectId) -> bool {
    [
        ADMIN_MFA_POLICY_ID,
        LEGACY_BLOCK_POLICY_ID,
        REGISTRATION_POLICY_ID,
    ]
    .contains(&id)
}

fn all_apps() -> ApplicationsCondition {
    ApplicationsCondition {
        include_applications: vec![AppRef::All],
        exclude_applications: vec![],
    }
}

/// The synthetic policies that enforce security defaults (both `enabled`): MFA for the
/// privileged roles, and the legacy-authentication block. Evaluate them in place of the
/// tenant's custom policies (which are then at most report-only, and may be appended after).
pub fn policies() -> Vec<ConditionalAccessPolicy> {
    vec![
        ConditionalAccessPolicy {
            id: LEGACY_BLOCK_POLICY_ID,
            display_name: LEGACY_BLOCK_NAME.into(),
            state: PolicyState::Enabled,
            conditions: Conditions {
                users: UsersCondition {
                    include_users: vec![UserRef::All],
                    ..Default::default()
                },
                applications: all_apps(),
                client_app_types: vec![ClientAppType::ExchangeActiveSync, ClientAppType::Other],
                ..Default::default()
            },
            grant_controls: Some(GrantControls {
                operator: GrantOperator::Or,
                built_in_controls: vec![BuiltInControl::Block],
                authentication_strength: None,
            }),
            session_controls: None,
        },
        ConditionalAccessPolicy {
            id: ADMIN_MFA_POLICY_ID,
            display_name: ADMIN_MFA_NAME.into(),
            state: PolicyState::Enabled,
            conditions: Conditions {
                users: UsersCondition {
                    include_roles: PRIVILEGED_ROLES
                        .iter()
                        .map(|(id, _)| uuid::Uuid::from_u128(*id))
                        .collect(),
                    ..Default::default()
                },
                applications: all_apps(),
                ..Default::default()
            },
            grant_controls: Some(GrantControls {
                operator: GrantOperator::Or,
                built_in_controls: vec![BuiltInControl::Mfa],
                authentication_strength: None,
            }),
            session_controls: None,
        },
    ]
}

/// Whether an allowed sign-in must still be sent to register an authenticator app: security
/// defaults on, an interactive sign-in, and no registered method.
pub const fn registration_required(
    security_defaults: bool,
    interactive: bool,
    mfa_registered: bool,
) -> bool {
    security_defaults && interactive && !mfa_registered
}

/// The client app type a user grant is evaluated with: ROPC (`password_grant`) counts as legacy
/// authentication under security defaults; anything else keeps `modern`.
pub const fn client_app_type(
    security_defaults: bool,
    password_grant: bool,
    modern: ClientAppType,
) -> ClientAppType {
    if security_defaults && password_grant {
        LEGACY_CLIENT_APP_TYPE
    } else {
        modern
    }
}

/// Mutual exclusion, policy side: a custom policy in `state` may be stored while security
/// defaults are `on` only when it is not `enabled`.
pub fn check_custom_policy(on: bool, name: &str, state: PolicyState) -> Result<(), String> {
    if on && state == PolicyState::Enabled {
        return Err(format!(
            "Security defaults are enabled in this tenant, so the Conditional Access policy '{name}' cannot be enabled: security defaults and enabled custom policies are mutually exclusive. Turn security defaults off first (PATCH /v1.0/policies/identitySecurityDefaultsEnforcementPolicy {{\"isEnabled\": false}}), or store the policy as enabledForReportingButNotEnforced or disabled."
        ));
    }
    Ok(())
}

/// Mutual exclusion, tenant side: security defaults may be turned on only when no custom policy
/// is `enabled` (`enabled` lists their names).
pub fn check_enable(enabled: &[String]) -> Result<(), String> {
    if enabled.is_empty() {
        return Ok(());
    }
    Err(format!(
        "Security defaults cannot be enabled while Conditional Access policies are enabled ({}): the two are mutually exclusive. Set those policies to disabled or enabledForReportingButNotEnforced first, then enable security defaults.",
        enabled.join(", ")
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::ids::AppId;
    use crate::policy::evaluate::{
        DeviceState, PolicyResult, PolicySet, Satisfied, SignInContext, Subject, UserSubject,
    };
    use crate::policy::location::LocationFacts;
    use crate::policy::RiskLevel;
    use crate::time::Timestamp;

    const GLOBAL_ADMIN: u128 = 0x62e90394_69f5_4237_9190_012177145e10;
    const DIRECTORY_READERS: u128 = 0x88d8e3e3_8f55_4a1e_953a_9b9898b8876b;

    fn eval(
        roles: &[uuid::Uuid],
        client: ClientAppType,
        mfa_done: bool,
        mfa_registered: bool,
    ) -> (Option<u32>, Vec<(ObjectId, PolicyResult)>, &'static str) {
        let set = PolicySet::new(policies());
        let facts = LocationFacts::default();
        let now = Timestamp::from_secs(1_800_000_000);
        let ctx = SignInContext {
            subject: Subject::User(UserSubject {
                id: ObjectId::from_uuid(uuid::Uuid::from_u128(1)),
                is_guest: false,
                groups: &[],
                roles,
                risk: RiskLevel::None,
                mfa_registered,
            }),
            client_app_id: AppId::from_uuid(uuid::Uuid::from_u128(2)),
            resource_app_id: AppId::from_uuid(uuid::Uuid::from_u128(3)),
            client_app_type: client,
            ip: None,
            location: &facts,
            platform: None,
            device: DeviceState::None,
            sign_in_risk: RiskLevel::None,
            satisfied: Satisfied {
                password_at: Some(now),
                mfa_at: mfa_done.then_some(now),
                ..Default::default()
            },
            now,
        };
        let e = set.evaluate(&ctx);
        (
            e.aadsts_code(),
            e.policies.iter().map(|p| (p.policy.id, p.result)).collect(),
            e.status().as_str(),
        )
    }

    #[test]
    fn the_role_list_is_entras_and_every_id_is_a_known_template() {
        for (id, name) in PRIVILEGED_ROLES {
            let r = crate::directory_roles::role(uuid::Uuid::from_u128(id))
                .unwrap_or_else(|| panic!("{name} is not a built-in role"));
            assert_eq!(r.display_name, name);
        }
    }

    #[test]
    fn administrators_must_do_mfa_everywhere() {
        let ga = [uuid::Uuid::from_u128(GLOBAL_ADMIN)];
        let (code, results, status) = eval(&ga, ClientAppType::Browser, false, true);
        assert_eq!(code, Some(50076));
        assert_eq!(status, "failure");
        assert!(results.contains(&(ADMIN_MFA_POLICY_ID, PolicyResult::Failure)));
        assert!(results.contains(&(LEGACY_BLOCK_POLICY_ID, PolicyResult::NotApplied)));
        // Without an authenticator app: register first.
        assert_eq!(
            eval(&ga, ClientAppType::Browser, false, false).0,
            Some(50079)
        );
        // MFA done: allowed, and the log says the defaults applied and were satisfied.
        let (code, results, status) = eval(&ga, ClientAppType::Browser, true, true);
        assert_eq!((code, status), (None, "success"));
        assert!(results.contains(&(ADMIN_MFA_POLICY_ID, PolicyResult::Success)));
        // Every listed role triggers it.
        for (id, name) in PRIVILEGED_ROLES {
            let r = [uuid::Uuid::from_u128(id)];
            assert_eq!(
                eval(&r, ClientAppType::MobileAppsAndDesktopClients, false, true).0,
                Some(50076),
                "{name}"
            );
        }
    }

    #[test]
    fn other_users_and_unprivileged_roles_are_not_asked_for_mfa() {
        for roles in [vec![], vec![uuid::Uuid::from_u128(DIRECTORY_READERS)]] {
            let (code, results, status) = eval(&roles, ClientAppType::Browser, false, true);
            assert_eq!((code, status), (None, "notApplied"));
            assert!(results.contains(&(ADMIN_MFA_POLICY_ID, PolicyResult::NotApplied)));
        }
    }

    #[test]
    fn legacy_authentication_is_blocked_for_everyone_even_after_mfa() {
        for t in [ClientAppType::Other, ClientAppType::ExchangeActiveSync] {
            for roles in [vec![], vec![uuid::Uuid::from_u128(GLOBAL_ADMIN)]] {
                let (code, results, _) = eval(&roles, t, true, true);
                assert_eq!(code, Some(530035), "{t} {roles:?}");
                assert!(results.contains(&(LEGACY_BLOCK_POLICY_ID, PolicyResult::Failure)));
            }
        }
        for t in [
            ClientAppType::Browser,
            ClientAppType::MobileAppsAndDesktopClients,
        ] {
            assert_eq!(eval(&[], t, false, true).0, None, "{t}");
        }
    }

    #[test]
    fn ropc_counts_as_legacy_only_under_security_defaults() {
        let modern = ClientAppType::MobileAppsAndDesktopClients;
        assert_eq!(client_app_type(true, true, modern), ClientAppType::Other);
        assert_eq!(client_app_type(false, true, modern), modern);
        assert_eq!(client_app_type(true, false, modern), modern);
        assert_eq!(client_app_type(false, false, modern), modern);
    }

    #[test]
    fn registration_is_required_only_interactively_without_a_method() {
        assert!(registration_required(true, true, false));
        assert!(!registration_required(true, true, true));
        assert!(!registration_required(true, false, false));
        assert!(!registration_required(false, true, false));
    }

    #[test]
    fn mutual_exclusion_rules() {
        let e = check_custom_policy(true, "Require MFA", PolicyState::Enabled).unwrap_err();
        assert!(e.contains("'Require MFA'") && e.contains("Turn security defaults off first"));
        assert!(e.contains("identitySecurityDefaultsEnforcementPolicy"));
        for s in [PolicyState::ReportOnly, PolicyState::Disabled] {
            assert!(check_custom_policy(true, "x", s).is_ok());
        }
        for s in PolicyState::ALL_VALUES {
            assert!(check_custom_policy(false, "x", *s).is_ok());
        }
        assert!(check_enable(&[]).is_ok());
        let e = check_enable(&["'A'".into(), "'B'".into()]).unwrap_err();
        assert!(e.contains("'A', 'B'") && e.contains("enabledForReportingButNotEnforced"));
    }

    #[test]
    fn synthetic_ids_are_recognisable_and_valid_policies() {
        for p in policies() {
            assert!(is_synthetic(p.id));
            assert_eq!(p.state, PolicyState::Enabled);
            crate::policy::validate(&p).unwrap();
            assert!(p.display_name.starts_with("Security defaults: "));
        }
        assert!(is_synthetic(REGISTRATION_POLICY_ID));
        assert!(!is_synthetic(ObjectId::from_uuid(uuid::Uuid::from_u128(5))));
    }
}
