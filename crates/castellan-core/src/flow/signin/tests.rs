//! The pipeline's outcomes over constructed facts: success, wrong password, lockout,
//! Conditional Access block, MFA owed (page, claims challenge, device login), consent owed,
//! risk block, forced password change, step-up, security defaults' registration interrupt,
//! and the order in which each surface asks for its facts.

use super::*;
use crate::ids::ObjectId;
use crate::policy::model::{
    AppRef, ApplicationsCondition, BuiltInControl, ConditionalAccessPolicy, Conditions,
    GrantControls, GrantOperator, PolicyState, UserRef, UsersCondition,
};
use crate::policy::{PolicySet, RiskLevel};

const NOW: i64 = 1_800_000_000_000;
const CLIENT: &str = "11111111-1111-1111-1111-111111111111";
const RESOURCE: &str = "00000003-0000-0000-c000-000000000000";

/// An enabled policy for every user and app with one grant control (the use-case tests in
/// `ops::pipeline` share it).
pub(crate) fn policy(n: u128, control: BuiltInControl) -> ConditionalAccessPolicy {
    ConditionalAccessPolicy {
        id: ObjectId::from_uuid(uuid::Uuid::from_u128(0x9000 + n)),
        display_name: format!("P{n}"),
        state: PolicyState::Enabled,
        conditions: Conditions {
            users: UsersCondition {
                include_users: vec![UserRef::All],
                ..Default::default()
            },
            applications: ApplicationsCondition {
                include_applications: vec![AppRef::All],
                ..Default::default()
            },
            ..Default::default()
        },
        grant_controls: Some(GrantControls {
            operator: GrantOperator::Or,
            built_in_controls: vec![control],
            authentication_strength: None,
        }),
        session_controls: None,
    }
}

/// Blocks sign-ins whose sign-in risk is high.
fn risk_block(n: u128) -> ConditionalAccessPolicy {
    let mut p = policy(n, BuiltInControl::Block);
    p.conditions.sign_in_risk_levels = vec![RiskLevel::High];
    p
}

fn request(first: FirstFactor, surface: Surface) -> Request<'static> {
    Request {
        first,
        surface,
        authn: Authn::password(Timestamp(NOW)),
        client_app_id: CLIENT,
        client_name: "Contoso",
        ip: "203.0.113.7",
        now: Timestamp(NOW),
        step_up: false,
        force_consent: false,
        security_defaults: false,
        carried_sign_in_risk: None,
    }
}

const BROWSER: Surface = Surface::Authorize {
    silent: false,
    admin_consent: false,
};
const SILENT: Surface = Surface::Authorize {
    silent: true,
    admin_consent: false,
};

/// What the store "holds" for the driver.
struct World {
    credential: Result<(), AadstsError>,
    policies: Vec<ConditionalAccessPolicy>,
    sign_in_risk: RiskLevel,
    consent_owed: bool,
    tokens: Result<(), AadstsError>,
    device: Result<DeviceFacts, AadstsError>,
    mfa_registered: bool,
}

impl Default for World {
    fn default() -> Self {
        Self {
            credential: Ok(()),
            policies: vec![],
            sign_in_risk: RiskLevel::None,
            consent_owed: false,
            tokens: Ok(()),
            device: Ok(DeviceFacts::NONE),
            mfa_registered: true,
        }
    }
}

/// Runs the pipeline to its decision, answering every need from `w`; returns the needs in
/// the order asked.
fn drive(req: &Request<'_>, w: &World) -> (Decision, Vec<Need>) {
    let mut f = Facts::default();
    let mut asked = Vec::new();
    for _ in 0..32 {
        match next(req, &f) {
            Step::Done(d) => return (d, asked),
            Step::Load(n) => {
                asked.push(n);
                match n {
                    Need::Credential => f.credential = Some(w.credential.clone()),
                    Need::Assess { .. } => {
                        f.risk = Some(Assessment {
                            sign_in_risk: w.sign_in_risk,
                            user_risk: RiskLevel::None,
                            info: SignInRiskInfo {
                                during_sign_in: w.sign_in_risk.as_str().into(),
                                ..SignInRiskInfo::default()
                            },
                        });
                    }
                    Need::StandingRisk => {
                        f.risk = Some(Assessment::user_only(RiskLevel::None, None))
                    }
                    Need::StartSession | Need::MarkSessionMfa => f.session = true,
                    Need::Consent => f.consent = Some(Ok(w.consent_owed)),
                    Need::Tokens => f.tokens = Some(w.tokens.clone()),
                    Need::Device => f.device = Some(w.device.clone()),
                    Need::ConditionalAccess => {
                        f.ca = Some(CaFacts {
                            loaded: Loaded {
                                set: std::sync::Arc::new(PolicySet::new(w.policies.clone())),
                                locations: std::sync::Arc::default(),
                                country: None,
                            },
                            user: UserFacts {
                                id: ObjectId::from_uuid(uuid::Uuid::from_u128(0x100)),
                                is_guest: false,
                                groups: vec![],
                                roles: vec![],
                                mfa_registered: w.mfa_registered,
                            },
                            resource: RESOURCE.into(),
                        });
                    }
                    Need::MfaRegistration => f.mfa_registered = Some(w.mfa_registered),
                }
            }
        }
    }
    panic!("the pipeline did not finish: asked {asked:?}");
}

#[test]
fn success_at_authorize_walks_every_step_in_order() {
    let (d, asked) = drive(&request(FirstFactor::Password, BROWSER), &World::default());
    assert_eq!(d.outcome, Outcome::Issue);
    assert_eq!(d.record, Record::Success);
    assert!(!d.failed_guess);
    assert_eq!(d.ca.as_ref().map(|c| c.status.as_str()), Some("notApplied"));
    assert_eq!(
        asked,
        vec![
            Need::Credential,
            Need::Assess { password: true },
            Need::StartSession,
            Need::Consent,
            Need::Tokens,
            Need::Device,
            Need::ConditionalAccess,
        ]
    );
}

#[test]
fn an_sso_sign_in_is_assessed_after_consent_and_device_and_an_mfa_session_is_not() {
    let (_, asked) = drive(&request(FirstFactor::Session, BROWSER), &World::default());
    assert_eq!(
        asked,
        vec![
            Need::Credential,
            Need::Consent,
            Need::Tokens,
            Need::Device,
            Need::Assess { password: false },
            Need::ConditionalAccess,
        ]
    );
    let mut req = request(FirstFactor::MfaAnswer, BROWSER);
    req.authn.mfa_at = Some(Timestamp(NOW));
    let (d, asked) = drive(&req, &World::default());
    assert_eq!(d.outcome, Outcome::Issue);
    assert_eq!(asked[1], Need::MarkSessionMfa);
    assert!(asked.contains(&Need::StandingRisk));
    assert!(!asked.iter().any(|n| matches!(n, Need::Assess { .. })));
}

#[test]
fn a_wrong_password_is_refused_logged_and_kept_as_a_guess() {
    for surface in [BROWSER, Surface::DeviceLogin, Surface::Token] {
        let w = World {
            credential: Err(AadstsError::invalid_credentials()),
            ..World::default()
        };
        let (d, asked) = drive(&request(FirstFactor::Password, surface), &w);
        assert_eq!(
            d.outcome,
            Outcome::Refuse(AadstsError::invalid_credentials())
        );
        assert_eq!(
            d.record,
            Record::Failure(AadstsError::invalid_credentials())
        );
        assert!(d.failed_guess, "{surface:?}");
        // Nothing after the credential is loaded.
        assert_eq!(asked, vec![Need::Credential]);
    }
    // A refresh token that fails is not a password guess.
    let w = World {
        credential: Err(AadstsError::invalid_credentials()),
        ..World::default()
    };
    let (d, _) = drive(&request(FirstFactor::RefreshToken, Surface::Token), &w);
    assert!(!d.failed_guess);
}

#[test]
fn a_locked_account_is_refused_and_is_not_a_guess() {
    let w = World {
        credential: Err(AadstsError::locked_out(60)),
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::Password, BROWSER), &w);
    assert_eq!(d.outcome, Outcome::Refuse(AadstsError::locked_out(60)));
    assert_eq!(d.record, Record::Failure(AadstsError::locked_out(60)));
    assert!(!d.failed_guess);
    assert_eq!(asked, vec![Need::Credential]);
}

#[test]
fn a_forced_password_change_interrupts_at_authorize_and_refuses_elsewhere() {
    let w = World {
        credential: Err(AadstsError::password_must_change()),
        ..World::default()
    };
    let (d, _) = drive(&request(FirstFactor::Password, BROWSER), &w);
    assert_eq!(d.outcome, Outcome::Interrupt(Interrupt::ChangePassword));
    assert_eq!(d.record, Record::None);
    for surface in [Surface::Token, Surface::DeviceLogin] {
        let (d, _) = drive(&request(FirstFactor::Password, surface), &w);
        assert_eq!(
            d.outcome,
            Outcome::Refuse(AadstsError::password_must_change())
        );
        assert!(!d.failed_guess);
    }
}

#[test]
fn a_conditional_access_block_refuses_everywhere_with_the_deciding_policy() {
    let w = World {
        policies: vec![policy(1, BuiltInControl::Block)],
        ..World::default()
    };
    for surface in [BROWSER, Surface::Token] {
        let (d, _) = drive(&request(FirstFactor::Password, surface), &w);
        let Outcome::Refuse(e) = &d.outcome else {
            panic!("{surface:?}: {:?}", d.outcome)
        };
        assert_eq!(e.code, 53003);
        assert_eq!(d.record, Record::Failure(e.clone()));
        let ca = d.ca.expect("annotated");
        assert_eq!(ca.status, "failure");
        assert_eq!(ca.deciding.len(), 1);
    }
    // Positive control: the same world without the policy issues.
    let (d, _) = drive(
        &request(FirstFactor::Password, Surface::Token),
        &World::default(),
    );
    assert_eq!(d.outcome, Outcome::Issue);
}

#[test]
fn owed_mfa_is_a_code_page_a_registration_page_or_a_claims_challenge() {
    let mfa = World {
        policies: vec![policy(1, BuiltInControl::Mfa)],
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::Password, BROWSER), &mfa);
    assert_eq!(
        d.outcome,
        Outcome::Challenge(Challenge::Code { error: None })
    );
    assert!(matches!(&d.record, Record::Failure(e) if e.code == 50076));
    assert_eq!(asked.last(), Some(&Need::MfaRegistration));
    let unregistered = World {
        mfa_registered: false,
        ..mfa
    };
    let (d, _) = drive(&request(FirstFactor::Password, BROWSER), &unregistered);
    assert_eq!(
        d.outcome,
        Outcome::Interrupt(Interrupt::RegisterMfa {
            security_defaults: false
        })
    );
    assert!(matches!(&d.record, Record::Failure(e) if e.code == 50079));
    // prompt=none: nothing may be shown, so the requirement is the answer.
    let (d, _) = drive(&request(FirstFactor::Session, SILENT), &unregistered);
    assert!(matches!(&d.outcome, Outcome::Refuse(e) if e.code == 50079));
    // The token endpoint answers with a claims challenge naming the policies.
    let (d, _) = drive(
        &request(FirstFactor::RefreshToken, Surface::Token),
        &unregistered,
    );
    assert!(matches!(
        &d.outcome,
        Outcome::Challenge(Challenge::Claims { error, from_request: false }) if error.code == 50079
    ));
    assert_eq!(d.ca.map(|c| c.deciding.len()), Some(1));
    // A session that did MFA satisfies the policy (positive control).
    let mut req = request(FirstFactor::Session, BROWSER);
    req.authn.mfa_at = Some(Timestamp(NOW));
    let w = World {
        policies: vec![policy(1, BuiltInControl::Mfa)],
        ..World::default()
    };
    assert_eq!(drive(&req, &w).0.outcome, Outcome::Issue);
}

#[test]
fn the_device_login_page_asks_only_for_owed_mfa() {
    let mfa = World {
        policies: vec![policy(1, BuiltInControl::Mfa)],
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::Password, Surface::DeviceLogin), &mfa);
    assert_eq!(
        d.outcome,
        Outcome::Challenge(Challenge::Code { error: None })
    );
    assert_eq!(d.record, Record::None);
    assert_eq!(
        asked,
        vec![
            Need::Credential,
            Need::Assess { password: true },
            Need::ConditionalAccess
        ]
    );
    let unregistered = World {
        mfa_registered: false,
        ..mfa
    };
    let (d, _) = drive(
        &request(FirstFactor::Password, Surface::DeviceLogin),
        &unregistered,
    );
    assert!(matches!(
        d.outcome,
        Outcome::Interrupt(Interrupt::RegisterMfa { .. })
    ));
    assert!(d.risk.is_some());
    // A block is the token endpoint's to answer at the next poll: the page approves.
    let block = World {
        policies: vec![policy(1, BuiltInControl::Block)],
        ..World::default()
    };
    let (d, _) = drive(
        &request(FirstFactor::Password, Surface::DeviceLogin),
        &block,
    );
    assert_eq!(d.outcome, Outcome::Issue);
    // The code's answer completes the sign-in; a wrong one asks again.
    let (d, _) = drive(
        &request(FirstFactor::MfaAnswer, Surface::DeviceLogin),
        &World::default(),
    );
    assert_eq!(d.outcome, Outcome::Issue);
    let wrong = World {
        credential: Err(AadstsError::mfa_code_rejected()),
        ..World::default()
    };
    let (d, _) = drive(
        &request(FirstFactor::MfaAnswer, Surface::DeviceLogin),
        &wrong,
    );
    assert_eq!(
        d.outcome,
        Outcome::Challenge(Challenge::Code {
            error: Some(AadstsError::mfa_code_rejected())
        })
    );
    assert_eq!(d.record, Record::Failure(AadstsError::mfa_code_rejected()));
}

#[test]
fn owed_consent_asks_the_user_or_answers_65001_when_silent() {
    let w = World {
        consent_owed: true,
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::Password, BROWSER), &w);
    assert_eq!(d.outcome, Outcome::NeedConsent);
    assert_eq!(d.record, Record::None);
    // Nothing after consent was loaded (no tokens, no device, no Conditional Access).
    assert_eq!(asked.last(), Some(&Need::Consent));
    let (d, _) = drive(&request(FirstFactor::Session, SILENT), &w);
    let e = silent_consent_required(CLIENT, "Contoso");
    assert_eq!(d.outcome, Outcome::Refuse(e.clone()));
    assert_eq!(d.record, Record::Failure(e));
    // prompt=consent asks even when nothing is owed.
    let mut req = request(FirstFactor::Session, BROWSER);
    req.force_consent = true;
    assert_eq!(
        drive(&req, &World::default()).0.outcome,
        Outcome::NeedConsent
    );
    // /adminconsent asks the administrator before anything else.
    let req = request(
        FirstFactor::Session,
        Surface::Authorize {
            silent: false,
            admin_consent: true,
        },
    );
    assert_eq!(drive(&req, &w).0.outcome, Outcome::AdminConsent);
}

#[test]
fn high_sign_in_risk_is_blocked_by_a_risk_policy() {
    let w = World {
        policies: vec![risk_block(1)],
        sign_in_risk: RiskLevel::High,
        ..World::default()
    };
    let (d, _) = drive(&request(FirstFactor::Password, Surface::Token), &w);
    assert!(matches!(&d.outcome, Outcome::Refuse(e) if e.code == 53003));
    assert_eq!(
        d.ca.map(|c| c.risk.during_sign_in),
        Some("high".to_string())
    );
    // Positive control: low risk passes the same policy.
    let w = World {
        sign_in_risk: RiskLevel::Low,
        ..w
    };
    assert_eq!(
        drive(&request(FirstFactor::Password, Surface::Token), &w)
            .0
            .outcome,
        Outcome::Issue
    );
}

#[test]
fn a_device_code_carries_the_risk_assessed_at_the_device_login_page() {
    let mut req = request(FirstFactor::DeviceCode, Surface::Token);
    req.carried_sign_in_risk = Some(RiskLevel::High);
    let w = World {
        policies: vec![risk_block(1)],
        ..World::default()
    };
    let (d, asked) = drive(&req, &w);
    assert!(matches!(&d.outcome, Outcome::Refuse(e) if e.code == 53003));
    assert!(asked.contains(&Need::StandingRisk));
    req.carried_sign_in_risk = None;
    assert_eq!(drive(&req, &w).0.outcome, Outcome::Issue);
}

#[test]
fn a_refused_device_proof_stops_the_sign_in_before_conditional_access() {
    let e = AadstsError::device_authentication_failed("bad signature");
    let w = World {
        device: Err(e.clone()),
        ..World::default()
    };
    for surface in [BROWSER, Surface::Token] {
        let (d, asked) = drive(&request(FirstFactor::Password, surface), &w);
        assert_eq!(d.outcome, Outcome::Refuse(e.clone()));
        assert!(d.ca.is_none());
        assert!(!asked.contains(&Need::ConditionalAccess));
    }
}

#[test]
fn step_up_is_owed_until_the_session_did_mfa() {
    let mut req = request(FirstFactor::RefreshToken, Surface::Token);
    req.step_up = true;
    let (d, _) = drive(&req, &World::default());
    assert!(matches!(
        &d.outcome,
        Outcome::Challenge(Challenge::Claims { error, from_request: true }) if error.code == 50076
    ));
    req.authn.mfa_at = Some(Timestamp(NOW));
    assert_eq!(drive(&req, &World::default()).0.outcome, Outcome::Issue);
    let mut req = request(FirstFactor::Session, BROWSER);
    req.step_up = true;
    assert_eq!(
        drive(&req, &World::default()).0.outcome,
        Outcome::Challenge(Challenge::Code { error: None })
    );
}

#[test]
fn security_defaults_send_an_unregistered_browser_user_to_register() {
    let mut req = request(FirstFactor::Password, BROWSER);
    req.security_defaults = true;
    let w = World {
        mfa_registered: false,
        ..World::default()
    };
    let (d, _) = drive(&req, &w);
    assert_eq!(
        d.outcome,
        Outcome::Interrupt(Interrupt::RegisterMfa {
            security_defaults: true
        })
    );
    let ca = d.ca.expect("annotated");
    assert_eq!(ca.status, "failure");
    assert_eq!(
        ca.applied.last().map(|p| p.id.as_str()),
        Some(
            security_defaults::REGISTRATION_POLICY_ID
                .to_string()
                .as_str()
        )
    );
    // Registered users, and silent requests, go through.
    assert_eq!(drive(&req, &World::default()).0.outcome, Outcome::Issue);
    let mut silent = request(FirstFactor::Session, SILENT);
    silent.security_defaults = true;
    assert_eq!(drive(&silent, &w).0.outcome, Outcome::Issue);
}

#[test]
fn a_redeemed_code_inherits_the_authorize_decision() {
    let w = World {
        policies: vec![policy(1, BuiltInControl::Block)],
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::AuthorizationCode, Surface::Token), &w);
    assert_eq!(d.outcome, Outcome::Issue);
    assert_eq!(d.ca, Some(CaDecision::not_applied()));
    assert_eq!(asked, vec![Need::Credential]);
}

#[test]
fn ropc_is_legacy_authentication_under_security_defaults() {
    let mut req = request(FirstFactor::Password, Surface::Token);
    req.security_defaults = true;
    let w = World {
        policies: security_defaults::policies(),
        ..World::default()
    };
    let (d, asked) = drive(&req, &w);
    assert!(matches!(&d.outcome, Outcome::Refuse(_)), "{:?}", d.outcome);
    // Assessed before the device (ROPC proved a password).
    assert_eq!(asked[1], Need::Assess { password: true });
    assert_eq!(asked[2], Need::Device);
    // The same tenant's refresh-token grant is modern authentication.
    let mut req = request(FirstFactor::RefreshToken, Surface::Token);
    req.security_defaults = true;
    assert_eq!(drive(&req, &w).0.outcome, Outcome::Issue);
}

#[test]
fn a_wrong_code_at_authorize_asks_again_before_anything_is_loaded() {
    let e = AadstsError::mfa_code_rejected();
    let w = World {
        credential: Err(e.clone()),
        ..World::default()
    };
    let (d, asked) = drive(&request(FirstFactor::MfaAnswer, BROWSER), &w);
    assert_eq!(
        d.outcome,
        Outcome::Challenge(Challenge::Code {
            error: Some(e.clone())
        })
    );
    assert_eq!(d.record, Record::Failure(e));
    assert!(!d.failed_guess);
    assert!(d.ca.is_none());
    // Nothing is written: the session is not marked as having done MFA.
    assert_eq!(asked, vec![Need::Credential]);
}
