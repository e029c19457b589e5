//! Unit tests of the external identity provider decisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::conformance::{tenant, Ids};

const NOW: i64 = 1_750_000_000;

type EditProvider = Box<dyn Fn(&mut OidcProvider)>;
type EditClaims = Box<dyn Fn(&mut IdTokenClaims)>;
const ISS: &str = "https://op.fabrikam.example";

fn provider(ids: &mut Ids, t: &Tenant) -> OidcProvider {
    OidcProvider {
        id: ids.object(),
        tenant_id: t.id,
        display_name: "Fabrikam OP".into(),
        client_id: "castellan-client".into(),
        client_secret_sealed: "c2VhbGVk".into(),
        issuer: ISS.into(),
        metadata_url: default_metadata_url(ISS),
        scope: DEFAULT_SCOPE.into(),
        response_type: RESPONSE_TYPE.into(),
        claims: ClaimsMapping::default(),
        domains: vec!["fabrikam.example".into()],
    }
}

fn claims() -> IdTokenClaims {
    IdTokenClaims {
        iss: Some(ISS.into()),
        aud: vec!["castellan-client".into()],
        azp: None,
        exp: Some(NOW + 300),
        iat: Some(NOW),
        nonce: Some("n-1".into()),
        user_id: Some("sub-42".into()),
        email: Some("Alice@Fabrikam.example".into()),
        email_verified: Some(true),
        display_name: Some("Alice".into()),
    }
}

#[test]
fn a_good_configuration_passes() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let p = provider(&mut ids, &t);
    assert_eq!(validate(&p, &t, &[]), Ok(()));
    assert_eq!(
        default_metadata_url("https://x.example/"),
        "https://x.example/.well-known/openid-configuration"
    );
}

#[test]
fn bad_configurations_name_the_property() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let good = provider(&mut ids, &t);
    let cases: Vec<(&str, EditProvider)> = vec![
        ("displayName", Box::new(|p| p.display_name = "  ".into())),
        ("clientId", Box::new(|p| p.client_id = String::new())),
        (
            "issuer",
            Box::new(|p| p.issuer = "http://op.example".into()),
        ),
        ("issuer", Box::new(|p| p.issuer = "https://".into())),
        (
            "metadataUrl",
            Box::new(|p| p.metadata_url = "ftp://op.example/meta".into()),
        ),
        ("scope", Box::new(|p| p.scope = "profile email".into())),
        (
            "responseType",
            Box::new(|p| p.response_type = "id_token".into()),
        ),
        (
            "claimsMapping.email",
            Box::new(|p| p.claims.email = String::new()),
        ),
        ("domains", Box::new(|p| p.domains.clear())),
        (
            "domains",
            Box::new(|p| p.domains = vec!["not a domain".into()]),
        ),
        (
            "twice",
            Box::new(|p| p.domains = vec!["a.example".into(), "a.example".into()]),
        ),
    ];
    for (needle, f) in cases {
        let mut p = good.clone();
        f(&mut p);
        let e = validate(&p, &t, &[]).unwrap_err();
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

#[test]
fn a_domain_of_the_tenant_or_of_another_provider_is_refused() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let mut p = provider(&mut ids, &t);
    p.domains = vec![t.initial_domain().to_string()];
    let e = validate(&p, &t, &[]).unwrap_err();
    assert!(e.contains("verified domain of this tenant"), "{e}");
    let other = provider(&mut ids, &t);
    let mine = provider(&mut ids, &t);
    let e = validate(&mine, &t, std::slice::from_ref(&other)).unwrap_err();
    assert!(
        e.contains("served already") && e.contains("Fabrikam OP"),
        "{e}"
    );
    // Positive control: another domain is fine next to it.
    let mut third = provider(&mut ids, &t);
    third.domains = vec!["contoso.example".into()];
    assert_eq!(validate(&third, &t, &[other]), Ok(()));
}

#[test]
fn the_address_domain_picks_the_provider() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let p = provider(&mut ids, &t);
    let all = [p.clone()];
    assert_eq!(for_address(&all, "bob@FABRIKAM.example"), Some(&p));
    assert_eq!(for_address(&all, "bob@sub.fabrikam.example"), None);
    assert_eq!(for_address(&all, "bob@contoso.example"), None);
    assert_eq!(for_address(&all, "no-at-sign"), None);
    assert_eq!(for_issuer(&all, ISS), Some(&p));
    assert_eq!(for_issuer(&all, "https://other.example"), None);
}

#[test]
fn a_good_id_token_gives_the_identity() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let p = provider(&mut ids, &t);
    let x = check_id_token(&p, &claims(), "n-1", NOW).unwrap();
    assert_eq!(x.issuer, ISS);
    assert_eq!(x.subject, "sub-42");
    assert_eq!(x.email, "alice@fabrikam.example");
    // email_verified absent is accepted (not false).
    let mut c = claims();
    c.email_verified = None;
    assert!(check_id_token(&p, &c, "n-1", NOW).is_ok());
    // Several audiences with azp = the client.
    let mut c = claims();
    c.aud.push("other".into());
    c.azp = Some("castellan-client".into());
    assert!(check_id_token(&p, &c, "n-1", NOW).is_ok());
}

#[test]
fn each_bad_id_token_claim_is_refused() {
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let p = provider(&mut ids, &t);
    let cases: Vec<(EditClaims, &str)> = vec![
        (
            Box::new(|c| c.iss = Some("https://evil.example".into())),
            "issuer",
        ),
        (Box::new(|c| c.iss = None), "issuer"),
        (Box::new(|c| c.aud = vec!["someone-else".into()]), "client"),
        (
            Box::new(|c| c.aud = vec!["castellan-client".into(), "x".into()]),
            "client",
        ),
        (Box::new(|c| c.azp = Some("x".into())), "client"),
        (Box::new(|c| c.exp = Some(NOW - SKEW_SECS - 1)), "expired"),
        (Box::new(|c| c.exp = None), "expired"),
        (Box::new(|c| c.iat = Some(NOW + SKEW_SECS + 10)), "future"),
        (Box::new(|c| c.nonce = Some("other".into())), "nonce"),
        (Box::new(|c| c.nonce = None), "nonce"),
        (Box::new(|c| c.user_id = None), "'sub'"),
        (Box::new(|c| c.email = None), "'email'"),
        (
            Box::new(|c| c.email = Some("not-an-address".into())),
            "'email'",
        ),
        (Box::new(|c| c.email_verified = Some(false)), "not verified"),
    ];
    for (f, needle) in cases {
        let mut c = claims();
        f(&mut c);
        let e = check_id_token(&p, &c, "n-1", NOW).unwrap_err();
        let m = e.message("Fabrikam OP");
        assert!(
            m.contains(needle) && m.contains("Nothing was changed"),
            "{needle}: {m}"
        );
    }
    // An empty expected nonce never matches.
    let mut c = claims();
    c.nonce = Some(String::new());
    assert_eq!(
        check_id_token(&p, &c, "", NOW).unwrap_err(),
        IdTokenRefusal::Nonce
    );
}

#[test]
fn client_authentication_follows_discovery() {
    let v = |x: &[&str]| x.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    assert_eq!(client_auth(None), Ok(ClientAuth::Basic));
    assert_eq!(
        client_auth(Some(&v(&["client_secret_basic", "client_secret_post"]))),
        Ok(ClientAuth::Post)
    );
    assert_eq!(
        client_auth(Some(&v(&["client_secret_basic"]))),
        Ok(ClientAuth::Basic)
    );
    let e = client_auth(Some(&v(&["private_key_jwt"]))).unwrap_err();
    assert!(e.contains("private_key_jwt"), "{e}");
}

#[test]
fn redemption_at_the_provider_records_the_issuer_and_gives_idp() {
    use crate::invitations::{accept, guest_claims, new_guest, ticket, InviteRequest, Proof};
    let mut ids = Ids::new(3);
    let t = tenant(&mut ids, "res");
    let p = provider(&mut ids, &t);
    let req = InviteRequest {
        email: "alice@fabrikam.example".into(),
        redirect_url: "https://app.example".into(),
        ..InviteRequest::default()
    };
    let now = crate::Timestamp(NOW * 1000);
    let u = new_guest(ids.object(), &t, &req, now);
    let g = ticket("h".into(), &u, "https://app.example", now, 1);
    let x = check_id_token(&p, &claims(), "n-1", NOW).unwrap();
    let next = accept(&u, &g, &Proof::ExternalIdp(x), now).unwrap();
    let e = next.external.as_ref().unwrap();
    assert_eq!(e.identities.len(), 1);
    assert_eq!(e.identities[0].issuer, ISS);
    assert_eq!(
        e.identities[0].issuer_assigned_id.as_deref(),
        Some("sub-42")
    );
    assert_eq!(crate::invitations::external_issuer(&next), Some(ISS));
    assert_eq!(
        guest_claims(&next),
        vec![("idp".into(), ISS.to_string()), ("acct".into(), "1".into())]
    );
    // Another address at the provider is refused.
    let mut c = claims();
    c.email = Some("mallory@fabrikam.example".into());
    let x = check_id_token(&p, &c, "n-1", NOW).unwrap();
    assert!(accept(&u, &g, &Proof::ExternalIdp(x), now).is_err());
}

#[test]
fn every_failure_names_its_cause_and_says_nothing_changed() {
    let p = || "Fabrikam OP".to_string();
    let all = vec![
        Failure::Unreachable {
            provider: p(),
            why: "GET https://op/x failed: refused".into(),
            metadata_url: "https://op/x".into(),
        },
        Failure::NoFlight,
        Failure::StateMismatch,
        Failure::IssuerMismatch {
            provider: p(),
            expected: "https://op".into(),
            found: "https://evil".into(),
        },
        Failure::ProviderRemoved,
        Failure::ProviderError {
            provider: p(),
            error: "access_denied".into(),
            description: "the user said no".into(),
        },
        Failure::NoCode { provider: p() },
        Failure::Malformed {
            provider: p(),
            why: "not a JWT".into(),
        },
        Failure::Algorithm {
            provider: p(),
            alg: "HS256".into(),
        },
        Failure::Signature {
            provider: p(),
            jwks_uri: "https://op/jwks".into(),
            kid: "k1".into(),
        },
        Failure::NotServed,
        Failure::NoLongerTrusted {
            username: "pat@x.example".into(),
            issuer: "https://op".into(),
        },
        Failure::WrongAccount {
            provider: p(),
            email: "mallory@x.example".into(),
        },
    ];
    for f in &all {
        let m = f.message();
        assert!(m.contains("Nothing was changed"), "{f:?}: {m}");
        assert_eq!(f.is_upstream(), matches!(f, Failure::Unreachable { .. }));
    }
    assert!(all[0].message().contains("metadataUrl (https://op/x)"));
    assert!(all[3].message().contains("https://evil"));
    assert!(all[8].message().contains("HS256") && all[8].message().contains("RS256"));
    assert!(all[12].message().contains("mallory@x.example"));
}
