//! Use-case tests of external identity providers over the memory store (the document format
//! is the wire layer's; here a tiny stand-in: `issuer|client|sealed|name|domain,domain`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::external_idp::{default_metadata_url, ClaimsMapping, DEFAULT_SCOPE, RESPONSE_TYPE};
use crate::ops::testing::{env, store_with_tenant, Seeded};
use crate::store::memory::block_on;
use crate::store::{AuditQuery, AuditStore, PolicyStore};

fn parse(d: &PolicyDocument) -> Result<OidcProvider, String> {
    let f: Vec<&str> = d.document.split('|').collect();
    let [iss, client, sealed, name, domains] = f.as_slice() else {
        return Err("bad test document".into());
    };
    Ok(OidcProvider {
        id: d.id,
        tenant_id: d.tenant_id,
        display_name: (*name).into(),
        client_id: (*client).into(),
        client_secret_sealed: (*sealed).into(),
        issuer: (*iss).into(),
        metadata_url: default_metadata_url(iss),
        scope: DEFAULT_SCOPE.into(),
        response_type: RESPONSE_TYPE.into(),
        claims: ClaimsMapping::default(),
        domains: domains.split(',').map(str::to_string).collect(),
    })
}

fn doc(p: &OidcProvider) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        p.issuer,
        p.client_id,
        p.client_secret_sealed,
        p.display_name,
        p.domains.join(",")
    )
}

fn provider(t: &Tenant, n: u8, domain: &str) -> OidcProvider {
    OidcProvider {
        id: ObjectId::from_random([n; 16]),
        tenant_id: t.id,
        display_name: format!("OP {n}"),
        client_id: "cid".into(),
        client_secret_sealed: "c2VhbGVk".into(),
        issuer: "https://op.example".into(),
        metadata_url: default_metadata_url("https://op.example"),
        scope: DEFAULT_SCOPE.into(),
        response_type: RESPONSE_TYPE.into(),
        claims: ClaimsMapping::default(),
        domains: vec![domain.into()],
    }
}

fn stored(store: &crate::store::memory::MemoryStore, t: &Tenant) -> usize {
    block_on(store.policy_documents(t.id, PolicyDocumentKind::IdentityProvider))
        .unwrap()
        .len()
}

#[test]
fn put_stores_with_an_audit_and_bad_input_changes_nothing() {
    let (store, t) = store_with_tenant(5);
    let mut ent = Seeded(5);
    let mut e = env(&store, &mut ent);
    let p = provider(&t, 1, "fabrikam.example");
    block_on(put(&mut e, &t, &p, doc(&p), parse)).unwrap();
    assert_eq!(stored(&store, &t), 1);
    assert_eq!(
        block_on(providers(&store, &t, parse)).unwrap(),
        vec![p.clone()]
    );
    let audits = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    assert!(audits.iter().any(|a| a.activity == "Add identity provider"));

    // each refusal: 400 naming the cause, nothing more stored
    let mut no_secret = provider(&t, 2, "contoso.example");
    no_secret.client_secret_sealed.clear();
    let same_domain = provider(&t, 3, "fabrikam.example");
    let mut same_name = provider(&t, 4, "northwind.example");
    same_name.display_name = "op 1".into();
    let mut bad_issuer = provider(&t, 5, "tailspin.example");
    bad_issuer.issuer = "http://op.example".into();
    for (bad, needle) in [
        (no_secret, "clientSecret"),
        (same_domain, "served already"),
        (same_name, "exists already"),
        (bad_issuer, "issuer"),
    ] {
        let err = block_on(put(&mut e, &t, &bad, doc(&bad), parse)).unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    assert_eq!(stored(&store, &t), 1);

    // an update keeps the creation time and names what changed
    let mut moved = p.clone();
    moved.domains = vec!["fabrikam.example".into(), "fabrikam.test".into()];
    block_on(put(&mut e, &t, &moved, doc(&moved), parse)).unwrap();
    let audits = block_on(store.audit_records(t.id, &AuditQuery::default())).unwrap();
    assert!(audits
        .iter()
        .any(|a| a.activity == "Update identity provider"));
    block_on(delete(&mut e, &t, p.id)).unwrap();
    assert_eq!(stored(&store, &t), 0);
    assert!(block_on(delete(&mut e, &t, p.id)).is_err());
}
