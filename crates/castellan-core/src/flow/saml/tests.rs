//! The AuthnRequest rules, NameID and attribute decisions, one test per rule with a positive
//! control.

use super::*;
use crate::model::{ServicePrincipalType, UserType};
use crate::{ObjectId, TenantId};

const ENDPOINT: &str = "https://idp.test/t/saml2";

fn now() -> Timestamp {
    Timestamp::from_secs(1_800_000_000)
}

fn app() -> Application {
    let mut a = crate::flow::redirect::tests::app();
    a.identifier_uris = vec!["https://sp.example/metadata".into()];
    a.web_redirect_uris = vec![
        "https://sp.example/acs".into(),
        "https://sp.example/acs2".into(),
    ];
    a
}

fn sp() -> ServicePrincipal {
    let a = app();
    ServicePrincipal {
        id: ObjectId::from_random([7; 16]),
        tenant_id: TenantId::from_random([3; 16]),
        app_id: a.app_id,
        app_owner_tenant_id: None,
        display_name: "SAML app".into(),
        service_principal_type: ServicePrincipalType::Application,
        service_principal_names: vec![a.app_id.to_string(), "https://sp.example/metadata".into()],
        alternative_names: vec![],
        app_role_assignment_required: false,
        account_enabled: true,
        created: Timestamp(0),
        saml: crate::model::SamlSettings {
            preferred_single_sign_on_mode: Some("saml".into()),
            ..Default::default()
        },
    }
}

fn user() -> User {
    User {
        id: ObjectId::from_random([9; 16]),
        tenant_id: TenantId::from_random([3; 16]),
        display_name: "Ada".into(),
        user_principal_name: "ada@t.test".into(),
        mail_nickname: None,
        mail: Some("ada@mail.test".into()),
        given_name: Some("Ada".into()),
        surname: None,
        job_title: Some("Engineer".into()),
        department: None,
        office_location: None,
        company_name: None,
        employee_id: None,
        account_enabled: true,
        user_type: UserType::Member,
        created: Timestamp(0),
        password_hash: None,
        force_change_password_next_sign_in: false,
        manager_id: None,
        other_mails: Vec::new(),
        usage_location: None,
        external: None,
    }
}

fn request() -> AuthnRequest {
    AuthnRequest {
        id: "_abc123".into(),
        version: "2.0".into(),
        issue_instant: Some(now()),
        destination: Some(ENDPOINT.into()),
        issuer: Some("https://sp.example/metadata".into()),
        acs_url: Some("https://sp.example/acs2".into()),
        ..Default::default()
    }
}

fn code(r: Result<Accepted, AadstsError>) -> u32 {
    r.err().map_or(0, |e| e.code)
}

#[test]
fn a_good_request_is_accepted_with_its_reply_url_and_audience() {
    let ok = check(
        &request(),
        &sp(),
        &app(),
        ENDPOINT,
        Signature::Absent,
        now(),
    )
    .ok();
    let ok = ok.unwrap_or_else(|| unreachable!());
    assert_eq!(ok.acs_url, "https://sp.example/acs2");
    assert_eq!(ok.audience, "https://sp.example/metadata");
    assert_eq!(ok.request_id, "_abc123");
    assert_eq!(ok.name_id_format, EMAIL);
}

#[test]
fn the_id_must_be_an_xs_id() {
    for bad in ["", "1abc", "a b", "a<b"] {
        let mut r = request();
        r.id = bad.into();
        assert_eq!(
            code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
            7_500_529,
            "{bad}"
        );
    }
}

#[test]
fn a_reply_url_must_be_registered_exactly() {
    for bad in [
        "https://sp.example/acs/",
        "https://sp.example/acs?x=1",
        "https://evil.example/acs",
        "https://sp.example/ac",
    ] {
        let mut r = request();
        r.acs_url = Some(bad.into());
        assert_eq!(
            code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
            50_011,
            "{bad}"
        );
    }
    let mut r = request();
    r.acs_url = None;
    let ok = check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now()).ok();
    assert_eq!(
        ok.map(|a| a.acs_url).as_deref(),
        Some("https://sp.example/acs")
    );
}

#[test]
fn destination_must_be_this_endpoint_when_present() {
    let mut r = request();
    r.destination = Some("https://idp.test/other/saml2".into());
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_008
    );
    r.destination = None;
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        0
    );
}

#[test]
fn issue_instant_outside_the_window_is_refused() {
    let mut r = request();
    r.issue_instant = Some(now().plus_secs(-ISSUE_INSTANT_WINDOW_SECS - 1));
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        76_026
    );
    r.issue_instant = Some(now().plus_secs(ISSUE_INSTANT_WINDOW_SECS + 1));
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        76_026
    );
    r.issue_instant = None;
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_005
    );
    r.issue_instant = Some(now().plus_secs(-ISSUE_INSTANT_WINDOW_SECS));
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        0
    );
}

#[test]
fn signed_requests_are_required_when_the_app_says_so() {
    let mut s = sp();
    s.saml.require_signed_requests = true;
    assert_eq!(
        code(check(
            &request(),
            &s,
            &app(),
            ENDPOINT,
            Signature::Absent,
            now()
        )),
        76_021
    );
    assert_eq!(
        code(check(
            &request(),
            &s,
            &app(),
            ENDPOINT,
            Signature::Verified,
            now()
        )),
        0
    );
}

#[test]
fn an_app_without_saml_mode_is_refused() {
    let mut s = sp();
    s.saml.preferred_single_sign_on_mode = Some("oidc".into());
    assert_eq!(
        code(check(
            &request(),
            &s,
            &app(),
            ENDPOINT,
            Signature::Absent,
            now()
        )),
        700_016
    );
}

#[test]
fn subject_version_binding_and_authn_context_are_checked() {
    let mut r = request();
    r.has_subject = true;
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_005
    );
    let mut r = request();
    r.version = "1.1".into();
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_005
    );
    let mut r = request();
    r.protocol_binding = Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact".into());
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_005
    );
    let mut r = request();
    r.authn_context = vec!["urn:oasis:names:tc:SAML:2.0:ac:classes:X509".into()];
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_011
    );
    r.authn_context =
        vec!["urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into()];
    r.comparison = Some("minimum".into());
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        75_011
    );
    r.comparison = Some("exact".into());
    assert_eq!(
        code(check(&r, &sp(), &app(), ENDPOINT, Signature::Absent, now())),
        0
    );
}

#[test]
fn name_id_formats_follow_the_request_then_the_configuration() {
    assert_eq!(name_id_format(None, None).ok(), Some(EMAIL));
    assert_eq!(
        name_id_format(None, Some(PERSISTENT)).ok(),
        Some(PERSISTENT)
    );
    assert_eq!(
        name_id_format(Some(TRANSIENT), Some(PERSISTENT)).ok(),
        Some(TRANSIENT)
    );
    assert_eq!(
        name_id_format(
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"),
            None
        )
        .err()
        .map(|e| e.code),
        Some(75_016)
    );
}

#[test]
fn persistent_name_ids_are_pairwise_and_stable() {
    let (u, s) = (user(), sp());
    let a = name_id(PERSISTENT, &u, &s, "x");
    assert_eq!(a, name_id(PERSISTENT, &u, &s, "y"));
    assert_ne!(a, u.id.to_string());
    let mut other = sp();
    other.id = ObjectId::from_random([8; 16]);
    assert_ne!(a, name_id(PERSISTENT, &u, &other, "x"));
    assert_eq!(name_id(TRANSIENT, &u, &s, "r1"), "_r1");
    assert_eq!(name_id(EMAIL, &u, &s, "r1"), "ada@mail.test");
}

#[test]
fn attributes_carry_entra_defaults_and_the_claims_mapping() {
    let mut s = sp();
    let attrs = attributes(&user(), &s, "https://sts.windows.net/t/", false);
    let get = |a: &[(String, Vec<String>)], k: &str| {
        a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    assert_eq!(
        get(&attrs, claim::NAME),
        Some(vec!["ada@t.test".to_string()])
    );
    assert_eq!(
        get(&attrs, claim::GIVEN_NAME),
        Some(vec!["Ada".to_string()])
    );
    assert_eq!(
        get(&attrs, claim::SURNAME),
        None,
        "an empty source is left out"
    );
    s.saml.claims = vec![
        ("jobtitle".into(), "jobTitle".into()),
        (claim::NAME.into(), "mail".into()),
        (claim::GIVEN_NAME.into(), String::new()),
    ];
    let attrs = attributes(&user(), &s, "https://sts.windows.net/t/", true);
    assert_eq!(get(&attrs, "jobtitle"), Some(vec!["Engineer".to_string()]));
    assert_eq!(
        get(&attrs, claim::NAME),
        Some(vec!["ada@mail.test".to_string()])
    );
    assert_eq!(get(&attrs, claim::GIVEN_NAME), None);
    assert_eq!(get(&attrs, claim::AMR).map(|v| v.len()), Some(2));
    assert!(check_claim_mapping("x y", "mail").is_err());
    assert!(check_claim_mapping("role", "passwordHash").is_err());
    assert!(check_claim_mapping("role", "department").is_ok());
}

#[test]
fn signing_certificate_follows_the_preferred_thumbprint_within_validity() {
    use crate::model::SamlSigningCertificate;
    let cert = |t: &str, start: i64, end: i64| SamlSigningCertificate {
        key_id: uuid::Uuid::nil(),
        display_name: "CN=x".into(),
        thumbprint: t.into(),
        cert_der: vec![],
        private_key_sealed: vec![],
        start: Timestamp::from_secs(start),
        end: Timestamp::from_secs(end),
    };
    let mut s = crate::model::SamlSettings {
        signing_certificates: vec![cert("AA", 0, 100), cert("BB", 0, 200)],
        ..Default::default()
    };
    let at = Timestamp::from_secs(50);
    assert_eq!(
        s.signing_certificate(at).map(|c| c.thumbprint.as_str()),
        Some("BB")
    );
    s.preferred_token_signing_key_thumbprint = Some("aa".into());
    assert_eq!(
        s.signing_certificate(at).map(|c| c.thumbprint.as_str()),
        Some("AA")
    );
    // Expired preferred: the newest valid one signs; the metadata drops the expired one.
    let later = Timestamp::from_secs(150);
    assert_eq!(
        s.signing_certificate(later).map(|c| c.thumbprint.as_str()),
        Some("BB")
    );
    assert_eq!(s.published_certificates(later).len(), 1);
    assert_eq!(s.published_certificates(at).len(), 2);
}

#[test]
fn logout_requests_need_a_signature_when_the_app_can_sign() {
    let r = LogoutRequest {
        id: "_lo1".into(),
        version: "2.0".into(),
        issue_instant: Some(now()),
        destination: Some(ENDPOINT.into()),
        issuer: Some("https://sp.example/metadata".into()),
        name_id: Some("ada@t.test".into()),
        not_on_or_after: None,
    };
    let mut s = sp();
    assert!(check_logout(&r, &s, ENDPOINT, Signature::Absent, now()).is_ok());
    s.saml.verification_certificates = vec![vec![1]];
    assert_eq!(
        check_logout(&r, &s, ENDPOINT, Signature::Absent, now())
            .err()
            .map(|e| e.code),
        Some(76_021)
    );
    assert!(check_logout(&r, &s, ENDPOINT, Signature::Verified, now()).is_ok());
    let mut late = r.clone();
    late.not_on_or_after = Some(now());
    assert!(check_logout(&late, &s, ENDPOINT, Signature::Verified, now()).is_err());
}
