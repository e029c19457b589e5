//! `microsoft.graph.domain` and its DNS records (`domainDnsTxtRecord`, `domainDnsMxRecord`):
//! rendering the tenant's domains and parsing create / PATCH bodies. The records' shapes are
//! Graph's "domainDnsRecord resource type" and its derived types.

use castellan_core::domains::{self as rules, MX_PREFERENCE, RECORD_TTL};
use castellan_core::model::{Domain, Tenant};
use castellan_core::ops::domains::DomainInput;
use serde_json::{json, Value};

use super::{bool_field, check_object, str_field, strings_field};
use crate::errors::GraphError;

/// Properties clients may set (`id` on creation only).
pub const WRITABLE: &[&str] = &["id", "isDefault", "supportedServices"];
/// Read-only properties.
pub const READ_ONLY: &[&str] = &[
    "authenticationType",
    "availabilityStatus",
    "isAdminManaged",
    "isInitial",
    "isRoot",
    "isVerified",
    "manufacturer",
    "model",
    "passwordNotificationWindowInDays",
    "passwordValidityPeriodInDays",
    "state",
];
/// Every rendered property.
pub const PROPERTIES: &[&str] = &[
    "id",
    "authenticationType",
    "availabilityStatus",
    "isAdminManaged",
    "isDefault",
    "isInitial",
    "isRoot",
    "isVerified",
    "passwordNotificationWindowInDays",
    "passwordValidityPeriodInDays",
    "supportedServices",
    "state",
];

/// Graph's value of `passwordValidityPeriodInDays` when passwords never expire.
const NEVER_EXPIRES: i64 = 2_147_483_647;

/// Renders a domain of `tenant`. `isRoot` is false for a subdomain of another of the tenant's
/// verified domains; authentication is always `Managed` (Castellan does not federate domains).
pub fn render(d: &Domain, tenant: &Tenant) -> Value {
    let is_root = !tenant
        .domains
        .iter()
        .any(|o| o.is_verified && o.name != d.name && rules::is_under(&d.name, &o.name));
    json!({
        "id": d.name,
        "authenticationType": "Managed",
        "availabilityStatus": null,
        "isAdminManaged": true,
        "isDefault": d.is_default,
        "isInitial": d.is_initial,
        "isRoot": is_root,
        "isVerified": d.is_verified,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": NEVER_EXPIRES,
        "supportedServices": d.supported_services,
        "state": null,
    })
}

/// A stable record id: the verification code and the record kind in GUID form.
fn record_id(d: &Domain, kind: u128) -> String {
    let code: u128 = d.verification_code.parse().unwrap_or(0);
    uuid::Uuid::from_u128((kind << 96) | code).to_string()
}

/// `GET /domains/{id}/verificationDnsRecords`: the TXT record, then the MX record (either one
/// verifies the domain). The initial domain has none.
pub fn verification_records(d: &Domain) -> Vec<Value> {
    if d.verification_code.is_empty() {
        return Vec::new();
    }
    vec![
        json!({
            "@odata.type": "#microsoft.graph.domainDnsTxtRecord",
            "id": record_id(d, 1),
            "isOptional": false,
            "label": d.name,
            "recordType": "Txt",
            "supportedService": "Email",
            "ttl": RECORD_TTL,
            "text": rules::txt_text(d),
        }),
        json!({
            "@odata.type": "#microsoft.graph.domainDnsMxRecord",
            "id": record_id(d, 2),
            "isOptional": false,
            "label": d.name,
            "recordType": "Mx",
            "supportedService": "Email",
            "ttl": RECORD_TTL,
            "mailExchange": rules::mx_exchange(d),
            "preference": MX_PREFERENCE,
        }),
    ]
}

/// Properties of DNS records, for OData over the record lists.
pub const RECORD_PROPERTIES: &[&str] = &[
    "id",
    "isOptional",
    "label",
    "recordType",
    "supportedService",
    "ttl",
    "text",
    "mailExchange",
    "preference",
];

/// Parses a create or PATCH body.
pub fn parse(body: &Value) -> Result<DomainInput, GraphError> {
    let o = check_object(body, "domain", WRITABLE, READ_ONLY)?;
    Ok(DomainInput {
        id: str_field(o, "id")?,
        is_default: bool_field(o, "isDefault")?,
        supported_services: strings_field(o, "supportedServices")?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use castellan_core::ops::Field;

    fn tenant() -> Tenant {
        Tenant {
            id: castellan_core::TenantId::from_random([4; 16]),
            display_name: "Contoso".into(),
            domains: vec![
                Domain {
                    name: "contoso.onmicrosoft.test".into(),
                    is_initial: true,
                    is_default: true,
                    is_verified: true,
                    ..Domain::default()
                },
                Domain {
                    name: "pending.example".into(),
                    ..Domain::default()
                },
            ],
            license: castellan_core::model::LicenseTier::P2,
            settings: Default::default(),
            created: castellan_core::Timestamp(0),
        }
    }

    #[test]
    fn domains_render_in_graphs_shape() {
        let mut t = tenant();
        t.domains.push(Domain {
            name: "contoso.com".into(),
            is_verified: true,
            verification_code: "01234567".into(),
            ..Domain::default()
        });
        t.domains.push(Domain {
            name: "eu.contoso.com".into(),
            verification_code: "76543210".into(),
            ..Domain::default()
        });
        let initial = render(&t.domains[0], &t);
        assert_eq!(initial["id"], t.initial_domain());
        assert_eq!(initial["isInitial"], true);
        assert_eq!(initial["isDefault"], true);
        assert_eq!(initial["authenticationType"], "Managed");
        let sub = render(&t.domains[3], &t);
        assert_eq!(sub["isRoot"], false, "a subdomain of a verified domain");
        assert_eq!(sub["isVerified"], false);
        assert_eq!(render(&t.domains[2], &t)["isRoot"], true);
        for p in PROPERTIES {
            assert!(sub.get(*p).is_some(), "{p}");
        }
    }

    #[test]
    fn verification_records_are_a_txt_and_an_mx_record() {
        let d = Domain {
            name: "contoso.com".into(),
            verification_code: "01234567".into(),
            ..Domain::default()
        };
        let r = verification_records(&d);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["@odata.type"], "#microsoft.graph.domainDnsTxtRecord");
        assert_eq!(r[0]["text"], "MS=ms01234567");
        assert_eq!(r[0]["ttl"], 3600);
        assert_eq!(r[0]["label"], "contoso.com");
        assert_eq!(r[0]["recordType"], "Txt");
        assert_eq!(r[0]["isOptional"], false);
        assert_eq!(r[0]["supportedService"], "Email");
        assert_eq!(r[1]["@odata.type"], "#microsoft.graph.domainDnsMxRecord");
        assert_eq!(r[1]["mailExchange"], "ms01234567.msv1.invalid");
        assert_eq!(r[1]["preference"], 32767);
        assert_ne!(r[0]["id"], r[1]["id"]);
        assert_eq!(verification_records(&d)[0]["id"], r[0]["id"], "stable ids");
        assert!(verification_records(&Domain::default()).is_empty());
    }

    #[test]
    fn bodies_take_writable_properties_only() {
        let i =
            parse(&json!({"id": "contoso.com", "@odata.type": "#microsoft.graph.domain"})).unwrap();
        assert_eq!(i.id, Field::Value("contoso.com".into()));
        let i = parse(&json!({"isDefault": true, "supportedServices": ["Email"]})).unwrap();
        assert_eq!(i.is_default, Field::Value(true));
        assert_eq!(i.supported_services, Field::Value(vec!["Email".into()]));
        let e = parse(&json!({"isVerified": true})).unwrap_err();
        assert!(e.message.contains("read-only"), "{}", e.message);
        let e = parse(&json!({"color": "red"})).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert!(parse(&json!({"isDefault": "yes"})).is_err());
        assert!(parse(&json!(["x"])).is_err());
    }
}
