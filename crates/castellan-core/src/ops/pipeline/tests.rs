//! Every sign-in outcome replayed as a use case against the in-memory store, with a fixed
//! clock and seeded ids: the credential from `ops::signin::check_password` (wrong password,
//! smart lockout, forced change), Identity Protection's standing risk from the stored
//! risky-user record, Conditional Access's user facts and the registered authenticator app
//! from the store, then [`run`] to the decision on each surface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::*;
use crate::audit::Actor;
use crate::flow::signin::{Challenge, FirstFactor, Interrupt, Outcome, Record, Request, Surface};
use crate::flow::Authn;
use crate::model::{SignInRiskInfo, SoftwareOathMethod, User};
use crate::ops::testing::{env, store_with_tenant, PlainHasher, Seeded, NOW};
use crate::policy::decision::Loaded;
use crate::policy::model::{BuiltInControl, ConditionalAccessPolicy};
use crate::policy::{PolicySet, RiskLevel};
use crate::secret::SecretText;
use crate::store::memory::{block_on, MemoryStore};
use crate::store::{Change, ChangeSet};

const PASSWORD: &str = "Correct-Horse-Battery-1";
const IP: &str = "203.0.113.7";
const CLIENT: &str = "11111111-1111-1111-1111-111111111111";
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

/// An enabled policy for everyone with one grant control.
fn policy(control: BuiltInControl) -> ConditionalAccessPolicy {
    crate::flow::signin::tests::policy(1, control)
}

/// A tenant (security defaults off, so only the test's policies apply) with one member who
/// signs in with [`PASSWORD`].
fn world(seed: u64) -> (MemoryStore, Tenant, User) {
    let (store, mut t) = store_with_tenant(seed);
    t.settings.security_defaults = false;
    let mut ids = crate::conformance::Ids::new(seed + 1);
    let mut u = crate::conformance::user(&mut ids, &t, "adele", true);
    u.password_hash = Some(format!("plain:{PASSWORD}"));
    u.force_change_password_next_sign_in = false;
    let mut set = ChangeSet::new();
    set.push(Change::UpdateTenant(t.clone()));
    set.push(Change::InsertUser(u.clone()));
    block_on(store.commit(set)).unwrap();
    (store, t, u)
}

/// A confirmed authenticator app for `u`.
fn register_mfa(store: &MemoryStore, t: &Tenant, u: &User) {
    let mut set = ChangeSet::new();
    set.push(Change::InsertSoftwareOathMethod(SoftwareOathMethod {
        id: ObjectId::from_uuid(uuid::Uuid::from_u128(0x7001)),
        tenant_id: t.id,
        user_id: u.id,
        display_name: "Authenticator app".into(),
        secret_sealed: vec![1, 2, 3],
        created: NOW,
        confirmed: true,
        last_used_step: None,
    }));
    block_on(store.commit(set)).unwrap();
}

/// The surface's half, over the store: Conditional Access's user facts come from
/// `ops::conditional_access::sign_in_facts`; only the assessment's detections (GeoIP, leaked
/// lists) and the browser's consent are stand-ins.
struct Surfaced<'a> {
    store: &'a MemoryStore,
    tenant: &'a Tenant,
    user: &'a User,
    policies: Vec<ConditionalAccessPolicy>,
    sign_in_risk: RiskLevel,
    consent_owed: bool,
    asked: Vec<&'static str>,
}

impl<'a> Surfaced<'a> {
    fn new(store: &'a MemoryStore, tenant: &'a Tenant, user: &'a User) -> Self {
        Self {
            store,
            tenant,
            user,
            policies: vec![],
            sign_in_risk: RiskLevel::None,
            consent_owed: false,
            asked: vec![],
        }
    }
}

#[async_trait]
impl Steps for Surfaced<'_> {
    async fn assess(&mut self, _with_password: bool) -> Result<Assessment, Halt> {
        self.asked.push("assess");
        let standing =
            crate::ops::identity_protection::standing(self.store, self.tenant, self.user.id)
                .await?;
        Ok(Assessment {
            sign_in_risk: self.sign_in_risk,
            user_risk: standing.user_risk,
            info: SignInRiskInfo {
                during_sign_in: self.sign_in_risk.as_str().into(),
                ..SignInRiskInfo::default()
            },
        })
    }

    async fn conditional_access(&mut self) -> Result<CaFacts, Halt> {
        self.asked.push("conditional_access");
        let loaded = Loaded {
            set: Arc::new(PolicySet::new(self.policies.clone())),
            locations: Arc::default(),
            country: None,
        };
        Ok(crate::ops::conditional_access::sign_in_facts(
            self.store,
            self.tenant,
            self.user,
            loaded,
            GRAPH,
            NOW,
        )
        .await?)
    }

    async fn start_session(&mut self) -> Result<(), Halt> {
        self.asked.push("start_session");
        Ok(())
    }

    async fn consent(&mut self) -> Answer<bool> {
        self.asked.push("consent");
        Ok(Ok(self.consent_owed))
    }

    async fn tokens(&mut self) -> Answer<()> {
        self.asked.push("tokens");
        Ok(Ok(()))
    }
}

fn request(first: FirstFactor, surface: Surface) -> Request<'static> {
    Request {
        first,
        surface,
        authn: Authn::password(NOW),
        client_app_id: CLIENT,
        client_name: "Contoso",
        ip: IP,
        now: NOW,
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

/// The password check, then the pipeline.
fn sign_in(
    store: &MemoryStore,
    t: &Tenant,
    steps: &mut Surfaced<'_>,
    password: &str,
    surface: Surface,
) -> Run {
    let checked = block_on(crate::ops::signin::check_password(
        store,
        &PlainHasher,
        t,
        &steps.user.user_principal_name,
        &SecretText::new(password),
        IP,
        NOW,
    ))
    .unwrap();
    let facts = Facts {
        credential: Some(checked.result),
        ..Facts::default()
    };
    let req = request(FirstFactor::Password, surface);
    block_on(run(
        store,
        t,
        checked.user.map(|u| u.id),
        &req,
        facts,
        steps,
    ))
    .unwrap()
}

fn refused(r: &Run) -> u32 {
    match &r.decision.outcome {
        Outcome::Refuse(e) => e.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_right_password_signs_in_and_reaches_conditional_access() {
    let (store, t, u) = world(1);
    let mut s = Surfaced::new(&store, &t, &u);
    let r = sign_in(&store, &t, &mut s, PASSWORD, Surface::Token);
    assert_eq!(r.decision.outcome, Outcome::Issue);
    assert_eq!(r.decision.record, Record::Success);
    assert!(
        r.decision.ca.is_some(),
        "the record carries the CA decision"
    );
    assert_eq!(s.asked, ["assess", "conditional_access"]);
    assert!(r.risk.is_some());
}

#[test]
fn a_wrong_password_is_refused_and_kept_as_a_guess() {
    let (store, t, u) = world(2);
    let mut s = Surfaced::new(&store, &t, &u);
    let r = sign_in(&store, &t, &mut s, "wrong", Surface::Token);
    assert_eq!(refused(&r), 50126);
    assert!(r.decision.failed_guess, "kept for password-spray detection");
    assert!(s.asked.is_empty(), "nothing past the credential runs");
}

#[test]
fn smart_lockout_refuses_even_the_right_password_and_is_not_a_guess() {
    let (store, t, u) = world(3);
    for _ in 0..t.settings.lockout_threshold {
        let mut s = Surfaced::new(&store, &t, &u);
        sign_in(&store, &t, &mut s, "wrong", Surface::Token);
    }
    let mut s = Surfaced::new(&store, &t, &u);
    let r = sign_in(&store, &t, &mut s, PASSWORD, Surface::Token);
    assert_eq!(refused(&r), 50053);
    assert!(!r.decision.failed_guess);
    // Positive control: another user of the tenant is not locked.
    let mut ids = crate::conformance::Ids::new(99);
    let mut other = crate::conformance::user(&mut ids, &t, "bianca", true);
    other.password_hash = Some(format!("plain:{PASSWORD}"));
    other.force_change_password_next_sign_in = false;
    let mut set = ChangeSet::new();
    set.push(Change::InsertUser(other.clone()));
    block_on(store.commit(set)).unwrap();
    let mut s = Surfaced::new(&store, &t, &other);
    assert_eq!(
        sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)
            .decision
            .outcome,
        Outcome::Issue
    );
}

#[test]
fn a_conditional_access_block_refuses_with_53003() {
    let (store, t, u) = world(4);
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![policy(BuiltInControl::Block)];
    let r = sign_in(&store, &t, &mut s, PASSWORD, Surface::Token);
    assert_eq!(refused(&r), 53003);
    assert!(matches!(r.decision.record, Record::Failure(ref e) if e.code == 53003));
}

#[test]
fn mfa_owed_is_a_claims_challenge_at_the_token_endpoint() {
    let (store, t, u) = world(5);
    let claims = |r: &Run| match &r.decision.outcome {
        Outcome::Challenge(Challenge::Claims {
            error,
            from_request: false,
        }) => error.code,
        other => panic!("expected a claims challenge, got {other:?}"),
    };
    // Without an authenticator app in the store: 50079 (register first) ...
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![policy(BuiltInControl::Mfa)];
    assert_eq!(
        claims(&sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)),
        50079
    );
    // ... with one: 50076 (do MFA).
    register_mfa(&store, &t, &u);
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![policy(BuiltInControl::Mfa)];
    assert_eq!(
        claims(&sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)),
        50076
    );
}

#[test]
fn mfa_owed_in_the_browser_asks_for_the_code_only_with_a_registered_app() {
    let (store, t, u) = world(6);
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![policy(BuiltInControl::Mfa)];
    // No authenticator app in the store: register one first.
    let r = sign_in(&store, &t, &mut s, PASSWORD, BROWSER);
    assert!(
        matches!(
            r.decision.outcome,
            Outcome::Interrupt(Interrupt::RegisterMfa { .. })
        ),
        "{:?}",
        r.decision.outcome
    );
    register_mfa(&store, &t, &u);
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![policy(BuiltInControl::Mfa)];
    let r = sign_in(&store, &t, &mut s, PASSWORD, BROWSER);
    assert_eq!(
        r.decision.outcome,
        Outcome::Challenge(Challenge::Code { error: None })
    );
    assert_eq!(
        s.asked,
        [
            "assess",
            "start_session",
            "consent",
            "tokens",
            "conditional_access"
        ]
    );
}

#[test]
fn consent_owed_stops_before_the_tokens() {
    let (store, t, u) = world(7);
    let mut s = Surfaced::new(&store, &t, &u);
    s.consent_owed = true;
    let r = sign_in(&store, &t, &mut s, PASSWORD, BROWSER);
    assert_eq!(r.decision.outcome, Outcome::NeedConsent);
    assert_eq!(r.decision.record, Record::None);
    assert!(!s.asked.contains(&"tokens"));
}

#[test]
fn a_risky_user_is_blocked_by_a_user_risk_policy_on_refresh() {
    let (store, t, u) = world(8);
    let mut p = policy(BuiltInControl::Block);
    p.conditions.user_risk_levels = vec![RiskLevel::High];
    // Positive control: before the administrator confirms the compromise, refresh succeeds.
    let req = request(FirstFactor::RefreshToken, Surface::Token);
    let facts = || Facts {
        credential: Some(Ok(())),
        ..Facts::default()
    };
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![p.clone()];
    let r = block_on(run(&store, &t, Some(u.id), &req, facts(), &mut s)).unwrap();
    assert_eq!(r.decision.outcome, Outcome::Issue);
    let mut seeded = Seeded(8);
    let mut e = env(&store, &mut seeded);
    e.actor = Actor::Operator;
    block_on(crate::ops::identity_protection::admin_action(
        &mut e,
        &t,
        std::slice::from_ref(&u),
        crate::policy::risky_user::AdminAction::ConfirmCompromised,
    ))
    .unwrap();
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![p];
    let r = block_on(run(&store, &t, Some(u.id), &req, facts(), &mut s)).unwrap();
    assert_eq!(refused(&r), 53003);
    assert_eq!(r.risk.map(|a| a.user_risk), Some(RiskLevel::High));
    assert!(!s.asked.contains(&"assess"), "a refresh is not re-assessed");
}

#[test]
fn high_sign_in_risk_blocks_a_password_sign_in() {
    let (store, t, u) = world(9);
    let mut p = policy(BuiltInControl::Block);
    p.conditions.sign_in_risk_levels = vec![RiskLevel::High];
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![p.clone()];
    assert_eq!(
        sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)
            .decision
            .outcome,
        Outcome::Issue,
        "low risk: the policy does not apply"
    );
    let mut s = Surfaced::new(&store, &t, &u);
    s.policies = vec![p];
    s.sign_in_risk = RiskLevel::High;
    assert_eq!(
        refused(&sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)),
        53003
    );
}

#[test]
fn a_forced_password_change_interrupts_the_browser_and_refuses_ropc() {
    let (store, t, mut u) = world(10);
    u.force_change_password_next_sign_in = true;
    let mut set = ChangeSet::new();
    set.push(Change::UpdateUser(u.clone()));
    block_on(store.commit(set)).unwrap();
    let mut s = Surfaced::new(&store, &t, &u);
    let r = sign_in(&store, &t, &mut s, PASSWORD, BROWSER);
    assert_eq!(
        r.decision.outcome,
        Outcome::Interrupt(Interrupt::ChangePassword)
    );
    let mut s = Surfaced::new(&store, &t, &u);
    assert_eq!(
        refused(&sign_in(&store, &t, &mut s, PASSWORD, Surface::Token)),
        50055
    );
}

#[test]
fn an_unknown_user_ends_at_the_credential_and_a_load_without_one_halts() {
    let (store, t, u) = world(11);
    let mut s = Surfaced::new(&store, &t, &u);
    let checked = block_on(crate::ops::signin::check_password(
        &store,
        &PlainHasher,
        &t,
        "nobody@usecase.onmicrosoft.test",
        &SecretText::new(PASSWORD),
        IP,
        NOW,
    ))
    .unwrap();
    assert!(checked.user.is_none());
    let req = request(FirstFactor::Password, Surface::Token);
    let facts = Facts {
        credential: Some(checked.result),
        ..Facts::default()
    };
    let r = block_on(run(&store, &t, None, &req, facts, &mut s)).unwrap();
    // The tenant hides account existence: the same answer as a wrong password.
    assert_eq!(refused(&r), 50126);
    // A proven credential without a user cannot be carried on.
    let facts = Facts {
        credential: Some(Ok(())),
        ..Facts::default()
    };
    assert!(block_on(run(&store, &t, None, &req, facts, &mut s)).is_err());
}
