//! Unit tests of the invitation decisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::conformance::{tenant, user, Ids};

const NOW: Timestamp = Timestamp(1_750_000_000_000);

fn req(email: &str) -> InviteRequest {
    InviteRequest {
        email: email.into(),
        redirect_url: "https://app.example/welcome".into(),
        ..InviteRequest::default()
    }
}

fn fixture() -> (Tenant, Ids) {
    let mut ids = Ids::new(7);
    let t = tenant(&mut ids, "resource");
    (t, ids)
}

#[test]
fn guest_upn_is_entras_shape() {
    assert_eq!(
        guest_upn("alice@contoso.com", "fabrikam.onmicrosoft.com"),
        "alice_contoso.com#EXT#@fabrikam.onmicrosoft.com"
    );
    assert_eq!(
        guest_upn("a+b@x.y", "t.onmicrosoft.com"),
        "a_b_x.y#EXT#@t.onmicrosoft.com"
    );
}

#[test]
fn addresses_are_normalised_or_refused_naming_the_property() {
    assert_eq!(
        normalise_email("invitedUserEmailAddress", " Alice@Contoso.COM ").unwrap(),
        "alice@contoso.com"
    );
    for bad in [
        "",
        "alice",
        "alice@",
        "@contoso.com",
        "a@b",
        "a@b..c",
        "a b@c.d",
        "a@c.d.",
    ] {
        let e = normalise_email("invitedUserEmailAddress", bad).unwrap_err();
        assert!(e.contains("invitedUserEmailAddress"), "{bad}: {e}");
    }
}

#[test]
fn requests_need_a_url_few_recipients_and_an_id_to_reset() {
    assert!(check_request(&req("a@b.c")).is_ok());
    let mut r = req("a@b.c");
    r.redirect_url = String::new();
    assert!(check_request(&r).unwrap_err().contains("inviteRedirectUrl"));
    r.redirect_url = "javascript:alert(1)".into();
    assert!(check_request(&r).unwrap_err().contains("absolute http(s)"));
    let mut r = req("a@b.c");
    r.message.cc = vec!["x@y.z".into(), "q@y.z".into()];
    assert!(check_request(&r).unwrap_err().contains("ccRecipients"));
    let mut r = req("a@b.c");
    r.reset_redemption = true;
    assert!(check_request(&r).unwrap_err().contains("invitedUser"));
}

#[test]
fn plan_refuses_own_domains_and_members_and_reinvites_guests() {
    let (t, mut ids) = fixture();
    let own = format!("bob@{}", t.initial_domain());
    let e = plan(&t, &req(&own), None, None).unwrap_err();
    assert!(e.contains("verified domain of this tenant"), "{e}");
    assert_eq!(
        plan(&t, &req("alice@contoso.com"), None, None).unwrap(),
        Plan::New
    );
    let member = user(&mut ids, &t, "carol", false);
    let e = plan(&t, &req("alice@contoso.com"), Some(&member), None).unwrap_err();
    assert!(
        e.contains("already exists in the directory as object ID"),
        "{e}"
    );
    let guest = new_guest(ids.object(), &t, &req("alice@contoso.com"), NOW);
    assert_eq!(
        plan(&t, &req("alice@contoso.com"), Some(&guest), None).unwrap(),
        Plan::Reinvite(guest.id)
    );
}

#[test]
fn reset_applies_to_invited_guests_only() {
    let (t, mut ids) = fixture();
    let guest = new_guest(ids.object(), &t, &req("alice@contoso.com"), NOW);
    let member = user(&mut ids, &t, "carol", false);
    let mut r = req("alice@contoso.com");
    r.reset_redemption = true;
    r.invited_user_id = Some(guest.id);
    assert_eq!(
        plan(&t, &r, None, Some(&guest)).unwrap(),
        Plan::Reset(guest.id)
    );
    r.invited_user_id = Some(member.id);
    assert!(plan(&t, &r, None, Some(&member))
        .unwrap_err()
        .contains("not made by an invitation"));
    assert!(plan(&t, &r, None, None)
        .unwrap_err()
        .contains("does not exist"));
}

#[test]
fn a_new_guest_is_pending_with_entras_properties() {
    let (t, mut ids) = fixture();
    let mut r = req("alice@contoso.com");
    r.display_name = Some("Alice".into());
    let g = new_guest(ids.object(), &t, &r, NOW);
    assert_eq!(g.user_type, UserType::Guest);
    assert_eq!(g.display_name, "Alice");
    assert_eq!(
        g.user_principal_name,
        format!("alice_contoso.com#EXT#@{}", t.initial_domain())
    );
    assert_eq!(g.mail_nickname.as_deref(), Some("alice_contoso.com#EXT#"));
    assert_eq!(g.mail.as_deref(), Some("alice@contoso.com"));
    assert_eq!(g.other_mails, vec!["alice@contoso.com".to_string()]);
    assert!(g.password_hash.is_none());
    let e = g.external.as_ref().unwrap();
    assert_eq!(e.state, ExternalUserState::PendingAcceptance);
    assert_eq!(e.state_changed, NOW);
    assert!(holds_address(&g, "ALICE@contoso.com"));
    assert!(!holds_address(&g, "bob@contoso.com"));
}

fn ticket_for(g: &User) -> Grant {
    ticket("h".into(), g, "https://app.example/", NOW, 90)
}

#[test]
fn tickets_are_single_use_expiring_tenant_bound_and_superseded_by_resets() {
    let (t, mut ids) = fixture();
    let g = new_guest(ids.object(), &t, &req("alice@contoso.com"), NOW);
    let k = ticket_for(&g);
    assert_eq!(k.expires.millis() - NOW.millis(), 90 * 86_400_000);
    assert_eq!(k.attr("email"), Some("alice@contoso.com"));
    assert!(check_ticket(Some(&k), t.id, NOW).is_ok());
    assert_eq!(check_ticket(None, t.id, NOW), Err(RedeemRefusal::Unknown));
    let other = TenantId::from_random([9; 16]);
    assert_eq!(
        check_ticket(Some(&k), other, NOW),
        Err(RedeemRefusal::Unknown)
    );
    assert_eq!(
        check_ticket(Some(&k), t.id, k.expires),
        Err(RedeemRefusal::Expired)
    );
    let used = Grant {
        state: GrantState::Used,
        ..k.clone()
    };
    assert_eq!(
        check_ticket(Some(&used), t.id, NOW),
        Err(RedeemRefusal::Used)
    );
    let revoked = Grant {
        state: GrantState::Revoked,
        ..k.clone()
    };
    assert_eq!(
        check_ticket(Some(&revoked), t.id, NOW),
        Err(RedeemRefusal::Superseded)
    );
    for r in [
        RedeemRefusal::Unknown,
        RedeemRefusal::Used,
        RedeemRefusal::Superseded,
        RedeemRefusal::Expired,
        RedeemRefusal::GuestGone,
    ] {
        assert!(r.message().contains("invit"), "{r:?}");
    }
}

#[test]
fn acceptance_is_bound_to_the_invited_address_and_records_the_home() {
    let (t, mut ids) = fixture();
    let g = new_guest(ids.object(), &t, &req("alice@contoso.com"), NOW);
    let k = ticket_for(&g);
    let later = Timestamp(NOW.millis() + 1000);
    let wrong = Proof::EmailOtp {
        email: "mallory@contoso.com".into(),
    };
    let e = accept(&g, &k, &wrong, later).unwrap_err();
    assert!(
        e.message().contains("alice@contoso.com") && e.message().contains("mallory@contoso.com")
    );
    let home = TenantId::from_random([3; 16]);
    let proof = Proof::HomeTenant {
        tenant: home,
        user: ids.object(),
        email: "Alice@Contoso.com".into(),
        issuer: format!("https://sts.windows.net/{home}/"),
    };
    let a = accept(&g, &k, &proof, later).unwrap();
    let e = a.external.as_ref().unwrap();
    assert_eq!(e.state, ExternalUserState::Accepted);
    assert_eq!(e.state_changed, later);
    assert_eq!(e.home_tenant, Some(home));
    assert_eq!(e.identities[0].sign_in_type, "federated");
    assert_eq!(proof.idp(), format!("https://sts.windows.net/{home}/"));
    let otp = Proof::EmailOtp {
        email: "alice@contoso.com".into(),
    };
    let o = accept(&g, &k, &otp, later).unwrap();
    assert_eq!(o.external.as_ref().unwrap().identities[0].issuer, "mail");
    assert_eq!(otp.idp(), "mail");
    // a reset forgets the redemption
    let r = reset(&a, "alice@contoso.com", later);
    let e = r.external.as_ref().unwrap();
    assert_eq!(e.state, ExternalUserState::PendingAcceptance);
    assert!(e.identities.is_empty() && e.home_tenant.is_none());
}

#[test]
fn passcodes_expire_and_allow_three_wrong_tries() {
    let (t, mut ids) = fixture();
    let g = new_guest(ids.object(), &t, &req("alice@contoso.com"), NOW);
    let k = ticket_for(&g);
    let p = passcode("p".into(), &k, "abc".into(), NOW);
    assert_eq!(p.family.as_deref(), Some("h"));
    match check_passcode(Some(&p), "abc", NOW) {
        PasscodeVerdict::Right(n) => assert_eq!(n.state, GrantState::Used),
        v => panic!("{v:?}"),
    }
    let mut cur = p.clone();
    for want_left in [2, 1, 0] {
        match check_passcode(Some(&cur), "zzz", NOW) {
            PasscodeVerdict::Wrong { next, left } => {
                assert_eq!(left, want_left);
                cur = next;
            }
            v => panic!("{v:?}"),
        }
    }
    assert_eq!(cur.state, GrantState::Revoked);
    assert_eq!(
        check_passcode(Some(&cur), "abc", NOW),
        PasscodeVerdict::NoCode
    );
    let late = Timestamp(NOW.millis() + PASSCODE_MINUTES * 60_000);
    assert_eq!(
        check_passcode(Some(&p), "abc", late),
        PasscodeVerdict::NoCode
    );
    assert_eq!(check_passcode(None, "abc", NOW), PasscodeVerdict::NoCode);
}
