//! Unit tests of the cross-tenant access decisions: every access type and target kind, the
//! partner-over-default fallback part by part, outbound before inbound, inbound trust, and
//! the validation messages.

use super::*;

fn tid(n: u128) -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(n))
}
fn oid(n: u128) -> ObjectId {
    ObjectId::from_uuid(uuid::Uuid::from_u128(0x1000 + n))
}
fn app(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x2000 + n)
}

const RESOURCE: u128 = 1;
const HOME: u128 = 2;

fn users(access: AccessType, targets: &[(String, TargetType)]) -> TargetConfiguration {
    TargetConfiguration {
        access_type: access,
        targets: targets.iter().map(|(t, k)| Target::new(t, *k)).collect(),
    }
}

fn inbound_only(s: B2bSetting) -> Configuration {
    Configuration {
        b2b_collaboration_inbound: Some(s),
        ..Configuration::default()
    }
}

fn with_partner(p: Partner) -> Policy {
    Policy {
        partners: vec![p],
        ..Policy::default()
    }
}

fn decide_for(
    resource: &Policy,
    home: &Policy,
    user: ObjectId,
    groups: &[ObjectId],
    a: Option<uuid::Uuid>,
) -> Verdict {
    decide(
        resource,
        tid(RESOURCE),
        home,
        tid(HOME),
        Subject { user, groups },
        a,
    )
}

#[test]
fn service_default_allows_b2b_collaboration_and_blocks_direct_connect() {
    let d = service_default();
    let inb = d.b2b_collaboration_inbound.clone().unwrap();
    assert_eq!(
        inb.users_and_groups.unwrap().access_type,
        AccessType::Allowed
    );
    assert_eq!(
        inb.applications.unwrap().targets[0].target,
        ALL_APPLICATIONS
    );
    let dc = d.b2b_direct_connect_inbound.clone().unwrap();
    assert_eq!(
        dc.users_and_groups.unwrap().access_type,
        AccessType::Blocked
    );
    assert_eq!(d.inbound_trust, Some(InboundTrust::default()));
    assert!(validate(&d, true).is_ok());
    let p = Policy::default();
    assert!(p.is_service_default);
    assert_eq!(
        decide_for(&p, &p, oid(1), &[], Some(app(1))),
        Verdict::Allowed
    );
    assert_eq!(decide_for(&p, &p, oid(1), &[], None), Verdict::Allowed);
}

#[test]
fn every_access_type_and_target_combination_for_users_and_groups() {
    let me = oid(1);
    let other = oid(2);
    let group = oid(50);
    let ug = |access, targets: &[(String, TargetType)]| {
        with_partner(Partner {
            config: inbound_only(B2bSetting {
                users_and_groups: Some(users(access, targets)),
                applications: None,
            }),
            ..Partner::new(tid(HOME))
        })
    };
    let home = Policy::default();
    let u = |o: ObjectId| (o.to_string(), TargetType::User);
    let g = |o: ObjectId| (o.to_string(), TargetType::Group);
    let all = (ALL_USERS.to_string(), TargetType::User);
    // (access, targets, user's groups, allowed?)
    type Case = (AccessType, Vec<(String, TargetType)>, Vec<ObjectId>, bool);
    let cases: Vec<Case> = vec![
        (AccessType::Allowed, vec![all.clone()], vec![], true),
        (AccessType::Blocked, vec![all.clone()], vec![], false),
        (AccessType::Allowed, vec![u(me)], vec![], true),
        (AccessType::Allowed, vec![u(other)], vec![], false),
        (AccessType::Blocked, vec![u(me)], vec![], false),
        (AccessType::Blocked, vec![u(other)], vec![], true),
        (AccessType::Allowed, vec![g(group)], vec![group], true),
        (AccessType::Allowed, vec![g(group)], vec![], false),
        (AccessType::Blocked, vec![g(group)], vec![group], false),
        (AccessType::Blocked, vec![g(group)], vec![oid(51)], true),
        (
            AccessType::Allowed,
            vec![u(other), g(group)],
            vec![group],
            true,
        ),
        (
            AccessType::Blocked,
            vec![u(other), g(group)],
            vec![oid(51)],
            true,
        ),
        // a user id named as a group (or a group as a user) does not match
        (
            AccessType::Allowed,
            vec![(me.to_string(), TargetType::Group)],
            vec![],
            false,
        ),
        (
            AccessType::Allowed,
            vec![(group.to_string(), TargetType::User)],
            vec![group],
            false,
        ),
    ];
    for (i, (access, targets, groups, allowed)) in cases.into_iter().enumerate() {
        let resource = ug(access, &targets);
        let v = decide_for(&resource, &home, me, &groups, Some(app(1)));
        let want = if allowed {
            Verdict::Allowed
        } else {
            Verdict::BlockedInbound(Part::UsersAndGroups)
        };
        assert_eq!(v, want, "case {i}");
        // Redemption (no application) is judged by users and groups alike.
        assert_eq!(
            decide_for(&resource, &home, me, &groups, None),
            want,
            "case {i} (redemption)"
        );
    }
}

#[test]
fn applications_allowed_and_blocked() {
    let at = |access, t: &str| TargetConfiguration::one(access, t, TargetType::Application);
    let home = Policy::default();
    let a1 = app(1).to_string();
    let cases = [
        (at(AccessType::Allowed, ALL_APPLICATIONS), true),
        (at(AccessType::Blocked, ALL_APPLICATIONS), false),
        (at(AccessType::Allowed, &a1), true),
        (at(AccessType::Allowed, &app(2).to_string()), false),
        (at(AccessType::Blocked, &a1), false),
        (at(AccessType::Blocked, &app(2).to_string()), true),
        // Office 365 is no application of this server.
        (at(AccessType::Allowed, OFFICE_365), false),
        (at(AccessType::Blocked, OFFICE_365), true),
    ];
    for (i, (c, allowed)) in cases.into_iter().enumerate() {
        let resource = with_partner(Partner {
            config: inbound_only(B2bSetting {
                users_and_groups: None,
                applications: Some(c),
            }),
            ..Partner::new(tid(HOME))
        });
        let v = decide_for(&resource, &home, oid(1), &[], Some(app(1)));
        let want = if allowed {
            Verdict::Allowed
        } else {
            Verdict::BlockedInbound(Part::Applications)
        };
        assert_eq!(v, want, "case {i}");
        // A redemption is no application's sign-in: applications do not judge it.
        assert_eq!(
            decide_for(&resource, &home, oid(1), &[], None),
            Verdict::Allowed,
            "case {i}"
        );
    }
}

#[test]
fn partner_parts_fall_back_on_the_default_separately() {
    // The default blocks every application inbound; the partner only names its users.
    let mut resource = Policy {
        default: Configuration {
            b2b_collaboration_inbound: Some(B2bSetting {
                users_and_groups: Some(TargetConfiguration::one(
                    AccessType::Allowed,
                    ALL_USERS,
                    TargetType::User,
                )),
                applications: Some(TargetConfiguration::one(
                    AccessType::Blocked,
                    ALL_APPLICATIONS,
                    TargetType::Application,
                )),
            }),
            ..service_default()
        },
        is_service_default: false,
        partners: vec![],
    };
    let home = Policy::default();
    assert_eq!(
        decide_for(&resource, &home, oid(1), &[], Some(app(1))),
        Verdict::BlockedInbound(Part::Applications)
    );
    resource.partners.push(Partner {
        config: inbound_only(B2bSetting {
            users_and_groups: Some(TargetConfiguration::one(
                AccessType::Allowed,
                &oid(1).to_string(),
                TargetType::User,
            )),
            applications: None,
        }),
        ..Partner::new(tid(HOME))
    });
    // Still blocked by the default's applications part.
    assert_eq!(
        decide_for(&resource, &home, oid(1), &[], Some(app(1))),
        Verdict::BlockedInbound(Part::Applications)
    );
    // The partner's applications part wins once set.
    resource.partners[0].config.b2b_collaboration_inbound = Some(B2bSetting {
        users_and_groups: Some(TargetConfiguration::one(
            AccessType::Allowed,
            &oid(1).to_string(),
            TargetType::User,
        )),
        applications: Some(TargetConfiguration::one(
            AccessType::Allowed,
            ALL_APPLICATIONS,
            TargetType::Application,
        )),
    });
    assert_eq!(
        decide_for(&resource, &home, oid(1), &[], Some(app(1))),
        Verdict::Allowed
    );
    assert_eq!(
        decide_for(&resource, &home, oid(2), &[], Some(app(1))),
        Verdict::BlockedInbound(Part::UsersAndGroups)
    );
    // A partner configuration for a third tenant changes nothing for this home tenant.
    let third = with_partner(Partner {
        config: inbound_only(B2bSetting {
            users_and_groups: Some(TargetConfiguration::one(
                AccessType::Blocked,
                ALL_USERS,
                TargetType::User,
            )),
            applications: None,
        }),
        ..Partner::new(tid(3))
    });
    assert_eq!(
        decide_for(&third, &home, oid(1), &[], Some(app(1))),
        Verdict::Allowed
    );
}

#[test]
fn outbound_at_home_is_checked_first_then_inbound() {
    let block_all = |outbound: bool, tenant: u128| {
        let s = B2bSetting {
            users_and_groups: Some(TargetConfiguration::one(
                AccessType::Blocked,
                ALL_USERS,
                TargetType::User,
            )),
            applications: None,
        };
        with_partner(Partner {
            config: if outbound {
                Configuration {
                    b2b_collaboration_outbound: Some(s),
                    ..Configuration::default()
                }
            } else {
                inbound_only(s)
            },
            ..Partner::new(tid(tenant))
        })
    };
    let open = Policy::default();
    // Home blocks outbound to the resource: 500212, even when the resource also blocks.
    let home_blocks = block_all(true, RESOURCE);
    let resource_blocks = block_all(false, HOME);
    assert_eq!(
        decide_for(&open, &home_blocks, oid(1), &[], Some(app(1))),
        Verdict::BlockedOutbound(Part::UsersAndGroups)
    );
    assert_eq!(
        decide_for(&resource_blocks, &home_blocks, oid(1), &[], Some(app(1))),
        Verdict::BlockedOutbound(Part::UsersAndGroups)
    );
    assert_eq!(
        decide_for(&resource_blocks, &open, oid(1), &[], Some(app(1))),
        Verdict::BlockedInbound(Part::UsersAndGroups)
    );
    // The resource's *outbound* and the home's *inbound* do not apply to this direction.
    let resource_out = block_all(true, HOME);
    let home_in = block_all(false, RESOURCE);
    assert_eq!(
        decide_for(&resource_out, &home_in, oid(1), &[], Some(app(1))),
        Verdict::Allowed
    );
    // Outbound application targets are the resource tenant's apps.
    let home_apps = with_partner(Partner {
        config: Configuration {
            b2b_collaboration_outbound: Some(B2bSetting {
                users_and_groups: None,
                applications: Some(TargetConfiguration::one(
                    AccessType::Allowed,
                    &app(7).to_string(),
                    TargetType::Application,
                )),
            }),
            ..Configuration::default()
        },
        ..Partner::new(tid(RESOURCE))
    });
    assert_eq!(
        decide_for(&open, &home_apps, oid(1), &[], Some(app(7))),
        Verdict::Allowed
    );
    assert_eq!(
        decide_for(&open, &home_apps, oid(1), &[], Some(app(8))),
        Verdict::BlockedOutbound(Part::Applications)
    );
    // The refusals are Entra's codes.
    let e = refusal(
        Verdict::BlockedOutbound(Part::Applications),
        tid(RESOURCE),
        tid(HOME),
    )
    .unwrap();
    assert_eq!(e.code, 500212);
    assert!(
        e.message.contains(&tid(HOME).to_string()) && e.message.contains("applications"),
        "{}",
        e.message
    );
    let e = refusal(
        Verdict::BlockedInbound(Part::UsersAndGroups),
        tid(RESOURCE),
        tid(HOME),
    )
    .unwrap();
    assert_eq!(e.code, 500213);
    assert!(e
        .message
        .starts_with("The resource tenant's cross-tenant access policy does not allow this user"));
    assert!(refusal(Verdict::Allowed, tid(RESOURCE), tid(HOME)).is_none());
}

#[test]
fn inbound_trust_of_mfa_and_compliant_devices() {
    let amr_mfa = vec!["pwd".to_string(), "mfa".to_string()];
    let amr_pwd = vec!["pwd".to_string()];
    let default = Policy::default();
    // Default: nothing trusted, even with MFA done at home.
    assert_eq!(
        trust_of(&default, tid(HOME), &amr_mfa, true),
        Trusted::default()
    );
    let trusting = with_partner(Partner {
        config: Configuration {
            inbound_trust: Some(InboundTrust {
                is_mfa_accepted: true,
                is_compliant_device_accepted: true,
                is_hybrid_joined_device_accepted: false,
            }),
            ..Configuration::default()
        },
        ..Partner::new(tid(HOME))
    });
    assert_eq!(
        trust_of(&trusting, tid(HOME), &amr_mfa, true),
        Trusted {
            mfa: true,
            compliant_device: true
        }
    );
    // Trust needs the home sign-in to have done it.
    assert_eq!(
        trust_of(&trusting, tid(HOME), &amr_pwd, false),
        Trusted::default()
    );
    // Trust is per home tenant.
    assert_eq!(
        trust_of(&trusting, tid(3), &amr_mfa, true),
        Trusted::default()
    );
    // The default's trust applies to partners that leave it unset.
    let default_trusts = Policy {
        default: Configuration {
            inbound_trust: Some(InboundTrust {
                is_mfa_accepted: true,
                ..InboundTrust::default()
            }),
            ..service_default()
        },
        is_service_default: false,
        partners: vec![Partner::new(tid(HOME))],
    };
    assert!(trust_of(&default_trusts, tid(HOME), &amr_mfa, false).mfa);
    assert!(!trust_of(&default_trusts, tid(HOME), &amr_mfa, true).compliant_device);
}

#[test]
fn validation_names_the_bad_target() {
    let cfg = |s: B2bSetting| inbound_only(s);
    let ug = |t: &str, k| B2bSetting {
        users_and_groups: Some(TargetConfiguration::one(AccessType::Allowed, t, k)),
        applications: None,
    };
    let apps = |t: &str, k| B2bSetting {
        users_and_groups: None,
        applications: Some(TargetConfiguration::one(AccessType::Allowed, t, k)),
    };
    let id = oid(1).to_string();
    // Accepted in a partner.
    for c in [
        cfg(ug(ALL_USERS, TargetType::User)),
        cfg(ug(&id, TargetType::User)),
        cfg(ug(&id, TargetType::Group)),
        cfg(apps(ALL_APPLICATIONS, TargetType::Application)),
        cfg(apps(OFFICE_365, TargetType::Application)),
        cfg(apps(&id, TargetType::Application)),
    ] {
        assert!(validate(&c, false).is_ok(), "{c:?}");
    }
    // Refused, naming the property and the target.
    for (c, needle) in [
        (
            cfg(ug(ALL_APPLICATIONS, TargetType::User)),
            "b2bCollaborationInbound.usersAndGroups",
        ),
        (cfg(ug("bob", TargetType::User)), "'bob'"),
        (
            cfg(ug(&id, TargetType::Application)),
            "targetType user or group",
        ),
        (cfg(apps(&id, TargetType::User)), "targetType application"),
        (
            cfg(apps(ALL_USERS, TargetType::Application)),
            "b2bCollaborationInbound.applications",
        ),
        (
            cfg(B2bSetting {
                users_and_groups: Some(TargetConfiguration {
                    access_type: AccessType::Allowed,
                    targets: vec![],
                }),
                applications: None,
            }),
            "targets is empty",
        ),
    ] {
        let e = validate(&c, false).unwrap_err();
        assert!(e.contains(needle), "{needle}: {e}");
        assert!(e.contains("Nothing was changed"), "{e}");
    }
    // The default's inbound side names no particular external user.
    let e = validate(&cfg(ug(&id, TargetType::User)), true).unwrap_err();
    assert!(e.contains("partner configuration"), "{e}");
    // ...but its outbound side may name this tenant's own users.
    let out = Configuration {
        b2b_collaboration_outbound: Some(ug(&id, TargetType::Group)),
        ..Configuration::default()
    };
    assert!(validate(&out, true).is_ok());
    // Automatic consent stays off in the default.
    let consent = Configuration {
        automatic_user_consent: Some(AutomaticConsent {
            inbound_allowed: true,
            outbound_allowed: false,
        }),
        ..Configuration::default()
    };
    assert!(validate(&consent, true).is_err());
    assert!(validate(&consent, false).is_ok());
    // A partner for the tenant itself.
    let e = validate_partner(tid(RESOURCE), &Partner::new(tid(RESOURCE))).unwrap_err();
    assert!(e.contains("this tenant itself"), "{e}");
    assert!(validate_partner(tid(RESOURCE), &Partner::new(tid(HOME))).is_ok());
    // Cloud endpoints.
    assert!(validate_level(&PolicyLevel {
        display_name: "x".into(),
        allowed_cloud_endpoints: vec!["microsoftonline.us".into()]
    })
    .is_ok());
    let e = validate_level(&PolicyLevel {
        display_name: "x".into(),
        allowed_cloud_endpoints: vec!["evil.example".into()],
    })
    .unwrap_err();
    assert!(e.contains("evil.example"), "{e}");
}

#[test]
fn vocabulary_parses_graph_spellings_only() {
    assert_eq!(AccessType::parse("Allowed"), Some(AccessType::Allowed));
    assert_eq!(AccessType::parse("blocked"), Some(AccessType::Blocked));
    assert_eq!(AccessType::parse("unknownFutureValue"), None);
    assert_eq!(TargetType::parse("group"), Some(TargetType::Group));
    assert_eq!(TargetType::parse("servicePrincipal"), None);
}

#[test]
fn a_home_device_counts_only_as_far_as_inbound_trust_accepts_it() {
    use crate::model::{Device, DeviceOs, DeviceTrustType};
    use crate::policy::DeviceState;
    let device = |compliant: bool, trust_type: DeviceTrustType, enabled: bool| Device {
        id: ObjectId::from_random([5; 16]),
        tenant_id: tid(HOME),
        device_id: uuid::Uuid::from_u128(77),
        display_name: "LAPTOP".into(),
        operating_system: DeviceOs::Windows,
        operating_system_version: "10.0".into(),
        trust_type,
        is_compliant: compliant,
        is_managed: true,
        account_enabled: enabled,
        public_key: None,
        created: crate::Timestamp(1),
        last_sign_in: None,
    };
    let trusting = |compliant: bool, hybrid: bool| {
        with_partner(Partner {
            config: Configuration {
                inbound_trust: Some(InboundTrust {
                    is_mfa_accepted: false,
                    is_compliant_device_accepted: compliant,
                    is_hybrid_joined_device_accepted: hybrid,
                }),
                ..Configuration::default()
            },
            ..Partner::new(tid(HOME))
        })
    };
    let good = device(true, DeviceTrustType::ServerAd, true);
    // Nothing trusted (the default): the home device is unknown here.
    assert_eq!(
        trusted_device(&Policy::default(), tid(HOME), Some(&good)),
        DeviceState::None
    );
    // Compliance trusted: compliant, but not hybrid joined unless that is trusted too.
    assert_eq!(
        trusted_device(&trusting(true, false), tid(HOME), Some(&good)),
        DeviceState::Registered {
            is_compliant: true,
            trust_type: DeviceTrustType::Workplace
        }
    );
    assert_eq!(
        trusted_device(&trusting(true, true), tid(HOME), Some(&good)),
        DeviceState::Registered {
            is_compliant: true,
            trust_type: DeviceTrustType::ServerAd
        }
    );
    // A non-compliant device with only compliance trusted: unknown.
    let plain = device(false, DeviceTrustType::AzureAd, true);
    assert_eq!(
        trusted_device(&trusting(true, false), tid(HOME), Some(&plain)),
        DeviceState::None
    );
    // A disabled device, no device, or another home tenant: unknown.
    let off = device(true, DeviceTrustType::AzureAd, false);
    assert_eq!(
        trusted_device(&trusting(true, true), tid(HOME), Some(&off)),
        DeviceState::None
    );
    assert_eq!(
        trusted_device(&trusting(true, true), tid(HOME), None),
        DeviceState::None
    );
    assert_eq!(
        trusted_device(&trusting(true, true), tid(3), Some(&good)),
        DeviceState::None
    );
}
