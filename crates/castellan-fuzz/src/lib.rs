//! Fuzz entry points: one `fuzz_<target>(data: &[u8])` per parser of untrusted input, called by
//! the cargo-fuzz targets in `fuzz/fuzz_targets/` (nightly, libFuzzer) and by the stable replay
//! test `tests/replay.rs` (every file of `fuzz/corpus/<target>/` plus a bounded, seeded
//! mutation run), so both exercise exactly the same code.
//!
//! Each entry point feeds the bytes to the same functions the server calls on a request and
//! then checks what must hold for any input: no panic, no stack overflow, and for parsers that
//! accept something, the invariants listed per target (e.g. a parsed Conditional Access policy
//! renders and parses back to itself). A violated invariant panics, which both harnesses report.
//!
//! Invariant of this crate: it only calls core and wire; it never reaches the store, HTTP or the
//! clock.

use castellan_core::abac;
use castellan_core::azure_rbac;
use castellan_core::flow::scope;
use castellan_core::ObjectId;
use castellan_wire::form::Form;
use castellan_wire::graph::conditional_access as ca;
use castellan_wire::{federation, jwt, odata};
use serde_json::{json, Value};

/// Every target's name, as used for `fuzz/corpus/<name>/` and `cargo fuzz run <name>`.
pub const TARGETS: &[&str] = &[
    "jwt",
    "odata_filter",
    "abac",
    "form",
    "arm_id",
    "ca_policy",
    "saml",
    "dynamic_rule",
    "domain",
    "arm_pim",
    "license",
    "group_pim",
    "invitation",
];

/// Runs the target named `name` (one of [`TARGETS`]) on `data`; `false` if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "jwt" => fuzz_jwt(data),
        "odata_filter" => fuzz_odata_filter(data),
        "abac" => fuzz_abac(data),
        "form" => fuzz_form(data),
        "arm_id" => fuzz_arm_id(data),
        "ca_policy" => fuzz_ca_policy(data),
        "saml" => fuzz_saml(data),
        "dynamic_rule" => fuzz_dynamic_rule(data),
        "domain" => fuzz_domain(data),
        "arm_pim" => fuzz_arm_pim(data),
        "license" => fuzz_license(data),
        "group_pim" => fuzz_group_pim(data),
        "invitation" => fuzz_invitation(data),
        _ => return false,
    }
    true
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// JWTs before any signature check: `wire::jwt::split` (client assertions, device proofs),
/// `check_size` (bearer and on-behalf-of tokens, before jsonwebtoken), and the federated
/// assertion parser with `peek_issuer`.
pub fn fuzz_jwt(data: &[u8]) {
    let t = text(data);
    let sized = jwt::check_size(&t).is_ok();
    if let Ok(j) = jwt::split(&t) {
        assert!(sized, "split accepted a token check_size refuses");
        assert!(t.len() <= jwt::MAX_JWT_LEN);
        assert!(j.header.is_object() && j.payload.is_object());
        assert!(t.starts_with(j.signing_input));
    }
    match federation::parse_unverified(&t) {
        Ok(u) => {
            assert!(t.trim().len() <= federation::MAX_ASSERTION_LEN);
            assert!(!u.signature.is_empty());
        }
        Err(e) => assert_eq!(e.code, 50027),
    }
    let _ = federation::peek_issuer(&t);
    // An external OpenID Provider's ID token (B2B guests), before its signature is checked.
    let m = castellan_core::external_idp::ClaimsMapping::default();
    if let Ok((_, _, _, input, sig)) =
        castellan_wire::graph::identity_providers::parse_id_token(&t, &m)
    {
        assert!(t.trim().len() <= jwt::MAX_JWT_LEN);
        assert!(!sig.is_empty());
        assert!(t.trim().starts_with(input));
    }
}

/// OData `$filter`: `parse_filter`, the query-option parser with it, and evaluation of an
/// accepted filter over a small entity.
pub fn fuzz_odata_filter(data: &[u8]) {
    let t = text(data);
    if let Ok(f) = odata::parse_filter(&t) {
        assert!(t.chars().count() <= odata::MAX_FILTER_LEN);
        let entity = json!({
            "id": "7d7f1c1e-0000-0000-0000-000000000001",
            "displayName": "Ada", "accountEnabled": true, "age": 36,
            "createdDateTime": "2024-01-01T00:00:00Z",
            "identities": [{"issuer": "x", "issuerAssignedId": "y"}],
            "proxyAddresses": ["SMTP:a@b"], "manager": null,
        });
        let _ = odata::eval(&f, &entity);
    }
    let spec = odata::EntitySpec::new(
        "microsoft.graph.user",
        &[
            "id",
            "displayName",
            "accountEnabled",
            "age",
            "createdDateTime",
            "identities",
            "proxyAddresses",
        ],
        &["displayName", "createdDateTime"],
        "id",
    );
    let pairs = vec![("$filter".to_string(), t.into_owned())];
    if let Ok(q) = odata::Query::parse(&pairs, &spec) {
        let items = vec![json!({"id": "1", "displayName": "a"}), json!({"id": "2"})];
        let _ = odata::apply(&q, items);
    }
}

/// ABAC role-assignment conditions: `abac::parse`, then evaluation of an accepted condition
/// against a blob read (the evaluator is bounded by what the parser accepts).
pub fn fuzz_abac(data: &[u8]) {
    let t = text(data);
    match abac::parse(&t) {
        Ok(c) => {
            assert!(t.len() <= abac::MAX_CONDITION_LEN);
            let a = abac::Attributes {
                action: "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
                    .into(),
                sub_operation: None,
                values: abac::storage_attributes(
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/docs/blobs/x/y.txt",
                ),
            };
            let _ = abac::evaluate(&c, &a);
        }
        Err(e) => assert!(e.at <= t.chars().count()),
    }
}

/// Dynamic membership rules: `dynamic_rule::parse` (3,072 characters, regex size bound), then an
/// accepted rule evaluates over a fixed user and its explanation agrees with its result; a
/// refusal names a position inside the rule (or just past it).
pub fn fuzz_dynamic_rule(data: &[u8]) {
    use castellan_core::dynamic_rule::{parse, UserFacts, MAX_RULE_CHARS};
    use castellan_core::model::{User, UserType};
    use castellan_core::{TenantId, Timestamp};
    let t = text(data);
    match parse(&t) {
        Ok(rule) => {
            assert!(t.chars().count() <= MAX_RULE_CHARS);
            let u = User {
                id: ObjectId::from_random([1; 16]),
                tenant_id: TenantId::from_random([2; 16]),
                display_name: "Fuzz".into(),
                user_principal_name: "f@x.test".into(),
                mail_nickname: Some("f".into()),
                mail: Some("f@x.test".into()),
                given_name: None,
                surname: None,
                job_title: Some("SDE".into()),
                department: Some("Sales".into()),
                office_location: None,
                company_name: None,
                employee_id: None,
                account_enabled: true,
                user_type: UserType::Member,
                created: Timestamp(0),
                password_hash: None,
                force_change_password_next_sign_in: false,
                manager_id: None,
                other_mails: vec!["a@b.test".into()],
                usage_location: None,
                external: None,
            };
            let of = [ObjectId::from_random([3; 16])];
            let s = UserFacts {
                user: &u,
                member_of: &of,
            };
            assert_eq!(
                rule.matches(&s, Timestamp(0)),
                rule.explain(&s, Timestamp(0)).result
            );
        }
        Err(e) => {
            assert!(e.position >= 1 && e.position <= t.chars().count().max(MAX_RULE_CHARS) + 1);
            assert!(!e.message().is_empty());
        }
    }
}

/// Token-endpoint forms: `Form::parse` (pairs, names, values bounded; repeated OAuth
/// parameters refused), then the scope parsers on an accepted `scope`.
pub fn fuzz_form(data: &[u8]) {
    match Form::parse(data) {
        Ok(f) => {
            if let Some(s) = f.get("scope") {
                assert!(s.len() <= castellan_wire::form::MAX_FORM_VALUE_LEN);
                let _ = scope::parse_delegated(s);
                let _ = scope::parse_default_scope(s);
            }
        }
        Err(e) => assert_eq!(e.code, 90014),
    }
}

/// ARM resource ids and scopes: the size check, `ops::arm::parse_id`, and the ancestry walk on
/// a scope within bounds.
pub fn fuzz_arm_id(data: &[u8]) {
    let t = text(data);
    let bounded = azure_rbac::check_scope_bounds(&t).is_ok();
    if castellan_core::ops::arm::parse_id(&t).is_ok() {
        assert!(bounded, "parse_id accepted an id beyond the scope bounds");
    }
    if bounded {
        let chain = azure_rbac::ancestors(&t, &["mg1".to_string()]);
        assert_eq!(chain.last().map(String::as_str), Some("/"));
        let _ = azure_rbac::normalise_scope(&t);
    }
}

/// Conditional Access documents: JSON (serde_json's recursion limit), `parse_policy`,
/// core's `validate`, a render/parse round trip, `parse_named_location`, and `merge` of the
/// document over itself.
pub fn fuzz_ca_policy(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let id = ObjectId::from_random([7; 16]);
    if let Ok(p) = ca::parse_policy(&v, id) {
        let _ = castellan_core::policy::validate(&p);
        let rendered = ca::render_policy(&p, "t", "t");
        match ca::parse_policy(&rendered, id) {
            Ok(again) => assert_eq!(p, again, "a rendered policy parses back to itself"),
            Err(e) => panic!("a rendered policy does not parse back: {}", e.message),
        }
    }
    let _ = ca::parse_named_location(&v, id);
    let mut base = v.clone();
    ca::merge(&mut base, &v);
}

/// SAML messages as `/saml2` reads them: both bindings' decoding (bounded base64 and DEFLATE),
/// the DTD-refusing parser, the AuthnRequest/LogoutRequest/LogoutResponse readers, exclusive
/// C14N and the enveloped-signature checks, and the Redirect signature octets. Invariants: no
/// DOCTYPE is ever accepted; anything accepted was within the size bound.
pub fn fuzz_saml(data: &[u8]) {
    use castellan_wire::saml;
    let t = text(data);
    for xml in [
        Some(t.to_string()),
        saml::decode_post(&t).ok(),
        saml::decode_redirect(&t).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let parsed = saml::parse(&xml).is_ok();
        if parsed {
            assert!(xml.len() <= saml::MAX_MESSAGE);
            assert!(!xml.contains("<!DOCTYPE"), "a DOCTYPE was accepted");
        }
        let _ = saml::message_kind(&xml);
        if let Ok((r, _)) = saml::parse_authn_request(&xml) {
            assert!(parsed);
            let _ = castellan_core::flow::saml::valid_id(&r.id);
        }
        let _ = saml::parse_logout_request(&xml);
        let _ = saml::parse_logout_response(&xml);
        if let Ok(sig) = saml::verify_enveloped(&xml) {
            assert!(parsed && !sig.signed_info.is_empty());
        }
    }
    let _ = saml::redirect_signed_octets(&t);
}

/// The tenant custom-domain names are checked against (initial domain under `onmicrosoft.test`).
fn domain_tenant() -> castellan_core::model::Tenant {
    use castellan_core::model::{Domain, LicenseTier, Tenant};
    Tenant {
        id: castellan_core::TenantId::from_random([3; 16]),
        display_name: "fuzz".into(),
        domains: vec![Domain {
            name: "fuzz.onmicrosoft.test".into(),
            is_initial: true,
            is_default: true,
            is_verified: true,
            ..Domain::default()
        }],
        license: LicenseTier::P2,
        settings: Default::default(),
        created: castellan_core::Timestamp(0),
    }
}

fn check_domain_name(raw: &str, t: &castellan_core::model::Tenant) {
    use castellan_core::domains::normalize_name;
    if let Ok(n) = normalize_name(raw, t) {
        assert!(n.len() <= 253, "an accepted name is within 253 characters");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
            "an accepted name is lowercase LDH: {n:?}"
        );
        assert_eq!(
            normalize_name(&n, t).as_deref(),
            Ok(n.as_str()),
            "normalising twice changes nothing"
        );
    }
}

/// Custom domains: a `POST`/`PATCH /domains` body (`wire::graph::domains::parse`), the name rule
/// `core::domains::normalize_name` (on the raw bytes and on the body's `id`) and
/// `parse_services`. Invariants: an accepted name is at most 253 characters of lowercase
/// letters, digits, hyphens and dots, and normalising it again changes nothing; parsed services
/// are Graph's, each once.
pub fn fuzz_domain(data: &[u8]) {
    use castellan_core::domains::{parse_services, SUPPORTED_SERVICES};
    let t = domain_tenant();
    check_domain_name(&text(data), &t);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(input) = castellan_wire::graph::domains::parse(&v) {
        if let Some(id) = input.id.value() {
            check_domain_name(id, &t);
        }
        if let Some(Ok(out)) = input.supported_services.value().map(|s| parse_services(s)) {
            assert!(out.len() <= SUPPORTED_SERVICES.len());
            assert!(out.iter().all(|o| SUPPORTED_SERVICES.contains(&o.as_str())));
        }
    }
}

/// Graph PIM bodies: `wire::graph::group_pim::parse_request` and `wire::graph::pim::parse_request`
/// (both levels), `parse_review`, and a rule PATCH over a group's default policy, whose result
/// must still render (as a group policy) and keep an activation maximum above zero.
pub fn fuzz_group_pim(data: &[u8]) {
    use castellan_core::pim::{Level, RolePolicy, GROUP_MEMBER, GROUP_OWNER};
    use castellan_wire::graph::{group_pim as gp, pim as dp};
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for level in [Level::Eligibility, Level::Assignment] {
        if let Ok(r) = gp::parse_request(level, &v) {
            assert!(
                [GROUP_MEMBER.to_string(), GROUP_OWNER.to_string()].contains(&r.role_definition_id),
                "an accepted group request is for member or owner"
            );
            assert!(!r.directory_scope_id.trim().is_empty(), "it names a group");
            assert!(!r.principal_id.trim().is_empty(), "and a principal");
        }
        let _ = dp::parse_request(level, &v);
    }
    let _ = dp::parse_review(&v);
    let tenant = castellan_core::TenantId::from_uuid(ObjectId::from_random([1; 16]).uuid());
    let mut p = RolePolicy::group_default_for(tenant, ObjectId::from_random([2; 16]), GROUP_MEMBER);
    if let Some(rule) = v.get("id").and_then(Value::as_str) {
        if dp::patch_rule(&mut p, rule, &v).is_ok() {
            assert!(
                p.activation_max_secs > 0,
                "a patched policy keeps a positive maximum"
            );
            let r = gp::render_policy(&p, true);
            assert_eq!(r["scopeType"], "Group");
        }
    }
}

/// ARM PIM bodies and filters: `wire::arm_pim::parse_request` (both levels), `parse_filter`,
/// `parse_role_filter`, and a policy PATCH (`patch_policy`) over Azure's default policy, whose
/// result must still render and keep an activation maximum above zero.
pub fn fuzz_arm_pim(data: &[u8]) {
    use castellan_core::pim::{Level, RolePolicy};
    use castellan_wire::arm_pim as ap;
    let t = text(data);
    let _ = ap::parse_filter(&t);
    let _ = ap::parse_role_filter(&t);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for level in [Level::Eligibility, Level::Assignment] {
        if let Ok(r) = ap::parse_request(level, &v) {
            assert!(
                !r.principal_id.trim().is_empty(),
                "an accepted request names a principal"
            );
            assert!(
                !r.role_definition_id.trim().is_empty(),
                "an accepted request names a role"
            );
        }
    }
    let tenant = castellan_core::TenantId::from_uuid(ObjectId::from_random([1; 16]).uuid());
    let mut p = RolePolicy::azure_default_for(
        tenant,
        ObjectId::from_random([2; 16]).uuid(),
        "/subscriptions/s",
    );
    if ap::patch_policy(&mut p, &v).is_ok() {
        assert!(
            p.activation_max_secs > 0,
            "a patched policy keeps a positive maximum"
        );
        let _ = ap::render_policy(&p, None);
    }
}

/// Licences: an `assignLicense` body (`wire::graph::licenses::parse_assign`) and a
/// `usageLocation` (`core::licenses::validate_usage_location`). Invariants: an accepted body
/// holds at most 100 entries per list, every id a canonical lowercase GUID; an accepted usage
/// location is two upper-case ASCII letters and validating it again gives itself.
pub fn fuzz_license(data: &[u8]) {
    use castellan_core::licenses::validate_usage_location;
    if let Ok(l) = validate_usage_location(&text(data)) {
        assert!(
            l.len() == 2 && l.chars().all(|c| c.is_ascii_uppercase()),
            "{l}"
        );
        assert_eq!(validate_usage_location(&l).as_deref(), Ok(l.as_str()));
    }
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok((add, remove)) = castellan_wire::graph::licenses::parse_assign(&v) {
        assert!(add.len() <= 100 && remove.len() <= 100);
        let canonical = |s: &str| {
            s.len() == 36
                && s.char_indices().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_digit() || ('a'..='f').contains(&c)
                    }
                })
        };
        for a in &add {
            assert!(canonical(&a.sku_id), "{}", a.sku_id);
            assert!(a.disabled_plans.len() <= 100);
            assert!(a.disabled_plans.iter().all(|p| canonical(p)));
        }
        assert!(remove.iter().all(|r| canonical(r)));
    }
}

/// B2B invitations: a `POST /invitations` body (`wire::graph::invitations::parse`), an invited
/// address (`core::invitations::normalise_email`) and an SMTP relay's reply
/// (`wire::mail::parse_reply`). Invariants: an accepted address is lower case, has one `@` and
/// normalises to itself, and its guest UPN holds exactly one `@`; an accepted reply has a 2xx–5xx
/// code and at most `MAX_REPLY_LINES` lines.
pub fn fuzz_invitation(data: &[u8]) {
    use castellan_core::invitations::{guest_upn, normalise_email};
    let t = text(data);
    if let Ok(e) = normalise_email("p", &t) {
        assert_eq!(e, e.to_lowercase());
        assert_eq!(e.matches('@').count(), 1, "{e}");
        assert_eq!(normalise_email("p", &e).as_deref(), Ok(e.as_str()));
        assert_eq!(guest_upn(&e, "t.test").matches('@').count(), 1);
    }
    if let Ok(r) = castellan_wire::mail::parse_reply(data) {
        assert!((200..600).contains(&r.code));
        assert!(r.lines.len() <= castellan_wire::mail::MAX_REPLY_LINES);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        if let Ok(r) = castellan_wire::graph::invitations::parse(&v) {
            let _ = castellan_core::invitations::check_request(&r);
        }
        // An external identity provider's Graph body: what parses renders and parses back.
        let id = castellan_core::ObjectId::from_random([1; 16]);
        let tid = castellan_core::TenantId::from_random([2; 16]);
        if let Ok((p, _)) = castellan_wire::graph::identity_providers::parse(&v, id, tid) {
            let mut view = castellan_wire::graph::identity_providers::render(&p);
            if let Some(o) = view.as_object_mut() {
                o.remove("clientSecret");
                o.remove("id");
            }
            let again = castellan_wire::graph::identity_providers::parse(&view, id, tid);
            assert_eq!(again.map(|(q, _)| q).ok(), Some(p));
        }
    }
    // An external OpenID Provider's discovery document.
    let _ = castellan_wire::graph::identity_providers::parse_op_metadata(data);
}
