//! Use-case tests of invitations and redemption over the memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::invitations::{InviteRequest, Proof, RedeemRefusal};
use crate::model::{ExternalUserState, UserType};
use crate::ops::testing::{env, store_with_tenant, Seeded, NOW};
use crate::store::memory::block_on;
use crate::store::{AuditQuery, AuditStore, GrantStore, UserStore};
use crate::time::Timestamp;

fn req(email: &str) -> InviteRequest {
    InviteRequest {
        email: email.into(),
        redirect_url: "https://app.example/welcome".into(),
        ..InviteRequest::default()
    }
}

fn otp(email: &str) -> Proof {
    Proof::EmailOtp {
        email: email.into(),
    }
}

#[test]
fn invite_makes_a_pending_guest_and_a_hashed_single_use_link() {
    let (store, t) = store_with_tenant(1);
    let mut ent = Seeded(1);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req(" Alice@Contoso.com "), 90)).unwrap();
    assert_eq!(i.user.user_type, UserType::Guest);
    assert!(i
        .user
        .user_principal_name
        .starts_with("alice_contoso.com#EXT#@"));
    assert!(!i.completed);
    let stored = block_on(store.user(t.id, i.user.id)).unwrap().unwrap();
    assert_eq!(stored.external, i.user.external);
    // only the hash is stored
    assert!(block_on(store.grant(&i.secret)).unwrap().is_none());
    let g = block_on(store.grant(&handle(&i.secret))).unwrap().unwrap();
    assert_eq!(g.kind, GrantKind::Invitation);
    assert_eq!(g.attr("email"), Some("alice@contoso.com"));
    let audit = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    assert!(audit.iter().any(|a| a.activity == "Invite external user"));

    let (u, url) = block_on(redeem(&mut e, &t, &i.secret, &otp("alice@contoso.com")))
        .unwrap()
        .unwrap();
    assert_eq!(url, "https://app.example/welcome");
    let ext = u.external.unwrap();
    assert_eq!(ext.state, ExternalUserState::Accepted);
    let stored = block_on(store.user(t.id, i.user.id)).unwrap().unwrap();
    assert_eq!(stored.external.unwrap().state, ExternalUserState::Accepted);
    // replay
    let again = block_on(redeem(&mut e, &t, &i.secret, &otp("alice@contoso.com"))).unwrap();
    assert_eq!(again.unwrap_err(), RedeemRefusal::Used);
    // re-inviting an accepted guest is Completed, and keeps the state
    let i2 = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    assert!(i2.completed);
    assert_eq!(i2.user.id, i.user.id);
}

#[test]
fn a_link_for_another_address_or_tenant_changes_nothing() {
    let (store, t) = store_with_tenant(2);
    let mut ent = Seeded(2);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    let r = block_on(redeem(&mut e, &t, &i.secret, &otp("mallory@contoso.com"))).unwrap();
    assert!(matches!(r, Err(RedeemRefusal::WrongAddress { .. })));
    let g = block_on(store.grant(&handle(&i.secret))).unwrap().unwrap();
    assert_eq!(g.state, GrantState::Active);
    let mut other = t.clone();
    other.id = crate::TenantId::from_random([5; 16]);
    let r = block_on(redeem(&mut e, &other, &i.secret, &otp("alice@contoso.com"))).unwrap();
    assert_eq!(r.unwrap_err(), RedeemRefusal::Unknown);
    let r = block_on(redeem(&mut e, &t, "nonsense", &otp("alice@contoso.com"))).unwrap();
    assert_eq!(r.unwrap_err(), RedeemRefusal::Unknown);
    let stored = block_on(store.user(t.id, i.user.id)).unwrap().unwrap();
    assert_eq!(
        stored.external.unwrap().state,
        ExternalUserState::PendingAcceptance
    );
}

#[test]
fn links_expire() {
    let (store, t) = store_with_tenant(3);
    let mut ent = Seeded(3);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req("alice@contoso.com"), 1)).unwrap();
    e.now = Timestamp(NOW.millis() + 86_400_000);
    let r = block_on(redeem(&mut e, &t, &i.secret, &otp("alice@contoso.com"))).unwrap();
    assert_eq!(r.unwrap_err(), RedeemRefusal::Expired);
}

#[test]
fn reset_redemption_reissues_the_link_and_makes_the_guest_pending_again() {
    let (store, t) = store_with_tenant(4);
    let mut ent = Seeded(4);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    let pending = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    // a re-invite supersedes the first link
    let r = block_on(redeem(&mut e, &t, &i.secret, &otp("alice@contoso.com"))).unwrap();
    assert_eq!(r.unwrap_err(), RedeemRefusal::Superseded);
    block_on(redeem(
        &mut e,
        &t,
        &pending.secret,
        &otp("alice@contoso.com"),
    ))
    .unwrap()
    .unwrap();
    let mut r = req("alice@contoso.com");
    r.reset_redemption = true;
    r.invited_user_id = Some(i.user.id);
    let reset = block_on(invite(&mut e, &t, r, 90)).unwrap();
    assert!(!reset.completed);
    let stored = block_on(store.user(t.id, i.user.id)).unwrap().unwrap();
    let ext = stored.external.unwrap();
    assert_eq!(ext.state, ExternalUserState::PendingAcceptance);
    assert!(ext.identities.is_empty());
    block_on(redeem(&mut e, &t, &reset.secret, &otp("alice@contoso.com")))
        .unwrap()
        .unwrap();
    let audit = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.activity == "Reset user redemption status"));
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.activity == "Redeem external user invite")
            .count(),
        2
    );
}

#[test]
fn own_domain_and_member_addresses_are_refused_and_change_nothing() {
    let (store, t) = store_with_tenant(5);
    let mut ent = Seeded(5);
    let mut e = env(&store, &mut ent);
    let before = block_on(store.users(t.id)).unwrap().len();
    let own = format!("bob@{}", t.initial_domain());
    let err = block_on(invite(&mut e, &t, req(&own), 90)).unwrap_err();
    assert!(err.to_string().contains("verified domain"), "{err}");
    let err = block_on(invite(&mut e, &t, req("not-an-address"), 90)).unwrap_err();
    assert!(err.to_string().contains("invitedUserEmailAddress"), "{err}");
    assert_eq!(block_on(store.users(t.id)).unwrap().len(), before);
    assert!(block_on(store.grants_of_kind(t.id, GrantKind::Invitation))
        .unwrap()
        .is_empty());
}

#[test]
fn delivery_failures_are_audited_with_their_reason() {
    let (store, t) = store_with_tenant(6);
    let mut ent = Seeded(6);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    block_on(record_delivery(
        &mut e,
        &t,
        &i.user,
        Err("relay refused: 550 no".into()),
    ))
    .unwrap();
    let audit = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    let a = audit
        .iter()
        .find(|a| a.activity == "Send invitation email")
        .unwrap();
    assert_eq!(a.result, "failure");
    assert!(a.result_reason.contains("550"));
}

#[test]
fn a_user_of_another_tenant_never_invited_gets_50020_not_50034() {
    use crate::ops::signin::check_password;
    use crate::ops::testing::PlainHasher;
    use crate::secret::SecretText;
    use crate::store::Change;
    let (store, t) = store_with_tenant(7);
    let mut ids = crate::conformance::Ids::new(99);
    let home = crate::conformance::tenant(&mut ids, "home");
    let mut bob = crate::conformance::user(&mut ids, &home, "bob", false);
    bob.password_hash = Some("plain:pw".into());
    let mut set = crate::store::ChangeSet::new();
    set.push(Change::InsertTenant(home.clone()))
        .push(Change::InsertUser(bob.clone()));
    block_on(crate::store::Store::commit(&store, set)).unwrap();
    let pw = SecretText::new("pw");
    let o = block_on(check_password(
        &store,
        &PlainHasher,
        &t,
        &bob.user_principal_name,
        &pw,
        "1.2.3.4",
        NOW,
    ))
    .unwrap();
    let e = o.result.unwrap_err();
    assert_eq!(e.code, 50020, "{e:?}");
    assert!(e
        .message
        .contains(&format!("https://sts.windows.net/{}/", home.id)));
    // control: a name nobody holds stays 50034 (or 50126 when the tenant hides existence)
    let o = block_on(check_password(
        &store,
        &PlainHasher,
        &t,
        &format!("nobody@{}", home.initial_domain()),
        &pw,
        "1.2.3.4",
        NOW,
    ))
    .unwrap();
    assert_ne!(o.result.unwrap_err().code, 50020);
    // and bob at home signs in
    let o = block_on(check_password(
        &store,
        &PlainHasher,
        &home,
        &bob.user_principal_name,
        &pw,
        "1.2.3.4",
        NOW,
    ))
    .unwrap();
    assert!(o.user.is_some());
    assert!(o
        .result
        .err()
        .is_none_or(|e| e.code != 50020 && e.code != 50034));
}

#[test]
fn an_email_passcode_proves_the_invited_address_once() {
    let (store, t) = store_with_tenant(8);
    let mut ent = Seeded(8);
    let mut e = env(&store, &mut ent);
    let i = block_on(invite(&mut e, &t, req("alice@contoso.com"), 90)).unwrap();
    let (code, to) = block_on(new_passcode(&mut e, &t, &i.secret))
        .unwrap()
        .unwrap();
    assert_eq!(to, "alice@contoso.com");
    assert_eq!(code.len(), 8);
    let wrong = block_on(check_passcode(&mut e, &t, &i.secret, "00000000x"))
        .unwrap()
        .unwrap();
    assert_eq!(wrong, PasscodeOutcome::Wrong(2));
    let right = block_on(check_passcode(&mut e, &t, &i.secret, &code))
        .unwrap()
        .unwrap();
    let PasscodeOutcome::Proven(proof) = right else {
        panic!("{right:?}")
    };
    assert_eq!(proof.email(), "alice@contoso.com");
    // spent
    let again = block_on(check_passcode(&mut e, &t, &i.secret, &code))
        .unwrap()
        .unwrap();
    assert_eq!(again, PasscodeOutcome::NoCode);
    // a bad link cannot draw a code
    assert!(block_on(new_passcode(&mut e, &t, "nonsense"))
        .unwrap()
        .is_err());
}
