//! SAML 2.0 single sign-on and logout at `/{tenant}/saml2` over HTTPS: SP-initiated Redirect
//! and POST, IdP-initiated, the SSO session, user assignment, signed requests, replay, reply
//! URL / destination / issuer checks, metadata and certificate rollover, single logout. The
//! signatures Castellan emits are verified by the `xmlsec1` command (Debian package `xmlsec1`,
//! installed by scripts/test-deps.sh): the test fails, naming the fix, when it is missing.

use std::process::Command;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_wire::saml as wire;
use serde_json::{json, Value};

use crate::security::mfa_guessing::{Browser, Page};
use crate::{alias, shared, G};

const PW: &str = "Test-Passw0rd!";

pub(crate) struct App {
    pub app_id: String,
    pub sp_id: String,
    pub entity: String,
    pub acs: String,
    pub cert_der: Vec<u8>,
    pub upn: String,
    pub user_id: String,
}

fn tenant() -> String {
    shared().demo["tenant_id"].as_str().unwrap().to_string()
}

fn endpoint() -> String {
    format!("{}/{}/saml2", shared().origin, tenant())
}

pub(crate) async fn saml_app(extra: Value) -> App {
    let g = G::demo().await;
    let name = alias("saml");
    let entity = format!("api://{}/{name}", tenant());
    let acs = format!("https://{name}.sp.example/acs");
    let (st, app) = g
        .post(
            "/applications",
            json!({"displayName": name, "identifierUris": [entity], "web": {"redirectUris": [acs]}}),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_string();
    let (st, sp) = g.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_eq!(st, 201, "{sp}");
    let sp_id = sp["id"].as_str().unwrap().to_string();
    let (st, cert) = g
        .post(
            &format!("/servicePrincipals/{sp_id}/addTokenSigningCertificate"),
            json!({"displayName": "CN=castellan-test"}),
        )
        .await;
    assert_eq!(st, 200, "{cert}");
    let cert_der = STANDARD.decode(cert["key"].as_str().unwrap()).unwrap();
    let mut patch = json!({"preferredSingleSignOnMode": "saml"});
    for (k, v) in extra.as_object().unwrap() {
        patch[k] = v.clone();
    }
    let (st, v) = g.patch(&format!("/servicePrincipals/{sp_id}"), patch).await;
    assert_eq!(st, 204, "{v}");
    let user = g.create_user(&alias("samluser")).await;
    App {
        app_id,
        sp_id,
        entity,
        acs,
        cert_der,
        upn: user["userPrincipalName"].as_str().unwrap().to_string(),
        user_id: user["id"].as_str().unwrap().to_string(),
    }
}

pub(crate) fn authn_request(app: &App, id: &str, extra_attrs: &str, inner: &str) -> String {
    let now = wire::instant(castellan_server::state::now());
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" {extra_attrs}><saml:Issuer>{}</saml:Issuer>{inner}</samlp:AuthnRequest>",
        endpoint(),
        app.acs,
        app.entity
    )
}

fn fresh() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}

fn redirect_url(xml: &str, relay: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", &wire::encode_redirect(xml));
    if let Some(r) = relay {
        q.append_pair("RelayState", r);
    }
    format!("{}?{}", endpoint(), q.finish())
}

/// Signs the query string per the Redirect binding with `key`.
fn signed_redirect_url(xml: &str, key: &aws_lc_rs::rsa::KeyPair) -> String {
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut q = format!("SAMLRequest={}", enc(&wire::encode_redirect(xml)));
    q.push_str(&format!("&SigAlg={}", enc(wire::RSA_SHA256)));
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        q.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!(
        "{}?{q}&Signature={}",
        endpoint(),
        enc(&STANDARD.encode(sig))
    )
}

/// An RSA key and a self-signed certificate for the app's side.
fn sp_key() -> (aws_lc_rs::rsa::KeyPair, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let rc = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_ref().to_vec().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sp.example".into()])
        .unwrap()
        .self_signed(&rc)
        .unwrap();
    (pair, cert.der().to_vec())
}

/// The `SAMLResponse` and `RelayState` the page posts to the reply URL.
fn posted(page: &Page, acs: &str) -> (String, Option<String>) {
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, fields) = page.form();
    assert_eq!(action, acs, "{}", page.body);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let xml = String::from_utf8(STANDARD.decode(get("SAMLResponse").unwrap()).unwrap()).unwrap();
    (xml, get("RelayState"))
}

async fn login(b: &Browser, page: Page, upn: &str) -> Page {
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    b.submit(&page, &[("username", upn), ("password", PW)])
        .await
}

/// Verifies `xml`'s first signature with `xmlsec1` and the certificate.
pub(crate) fn xmlsec_verify(xml: &str, cert_der: &[u8]) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("castellan-xmlsec-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (doc, cert) = (dir.join("doc.xml"), dir.join("cert.der"));
    std::fs::write(&doc, xml).unwrap();
    std::fs::write(&cert, cert_der).unwrap();
    let out = Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-der"])
        .arg(&cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&doc)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmlsec1 is needed to verify Castellan's SAML signatures independently ({e}): run scripts/test-deps.sh or apt-get install xmlsec1")
        });
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The assertion on its own (it declares its namespace, so it stands alone).
fn assertion_of(xml: &str) -> String {
    let start = xml.find("<Assertion ").unwrap();
    let end = xml.find("</Assertion>").unwrap() + "</Assertion>".len();
    xml[start..end].to_string()
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let s = xml
        .find(open)
        .unwrap_or_else(|| panic!("{open} not in {xml}"))
        + open.len();
    let e = xml[s..].find(close).unwrap() + s;
    &xml[s..e]
}

#[tokio::test(flavor = "multi_thread")]
async fn sp_initiated_redirect_sign_in_posts_a_signed_response_that_xmlsec1_verifies() {
    let app = saml_app(json!({"samlSingleSignOnSettings": {
        "castellanSigningOption": "SignResponseAndAssertion",
        "castellanClaims": [{"name": "jobtitle", "source": "displayName"}]}}))
    .await;
    let b = Browser::new();
    let id = fresh();
    let page = b
        .get(&redirect_url(
            &authn_request(&app, &id, "", ""),
            Some("relay-1"),
        ))
        .await;
    let done = login(&b, page, &app.upn).await;
    let (xml, relay) = posted(&done, &app.acs);
    assert_eq!(relay.as_deref(), Some("relay-1"));
    assert!(xml.contains(&format!("InResponseTo=\"{id}\"")), "{xml}");
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"));
    assert_eq!(between(&xml, "<Audience>", "</Audience>"), app.entity);
    assert!(xml.contains(&format!("Recipient=\"{}\"", app.acs)));
    assert_eq!(
        between(
            &xml,
            "<Issuer xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\">",
            "</Issuer>"
        ),
        format!("https://sts.windows.net/{}/", tenant())
    );
    assert!(
        xml.contains(&format!(
            "<NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{}</NameID>",
            app.upn
        )),
        "{xml}"
    );
    assert!(xml.contains(&format!("<Attribute Name=\"http://schemas.microsoft.com/identity/claims/objectidentifier\"><AttributeValue>{}</AttributeValue>", app.user_id)));
    assert!(
        xml.contains("<Attribute Name=\"jobtitle\"><AttributeValue>"),
        "the claims mapping adds its claim"
    );
    // Both signatures verify with xmlsec1 and the certificate addTokenSigningCertificate returned.
    xmlsec_verify(&xml, &app.cert_der).unwrap();
    xmlsec_verify(&assertion_of(&xml), &app.cert_der).unwrap();
    // Tampering breaks them (the negative control of the verifier itself).
    let tampered = xml.replace(&app.upn, "admin@evil.example");
    assert!(xmlsec_verify(&assertion_of(&tampered), &app.cert_der).is_err());
    // The sign-in is in the sign-in log, as a SAML sign-in to the app.
    let g = G::demo().await;
    let mut found = Value::Null;
    for _ in 0..100 {
        let logs = g
            .all(&format!(
                "/auditLogs/signIns?$filter=userId eq '{}'",
                app.user_id
            ))
            .await;
        if let Some(r) = logs.into_iter().find(|r| r["appId"] == json!(app.app_id)) {
            found = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found["status"]["errorCode"], 0, "{found}");

    // The SSO session answers the next request (POST binding, persistent NameID) without a page.
    let xml2 = authn_request(
        &app,
        &fresh(),
        "",
        "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\"/>",
    );
    let page = b
        .post(
            &endpoint(),
            &[("SAMLRequest".into(), wire::encode_post(&xml2))],
        )
        .await;
    let (resp2, _) = posted(&page, &app.acs);
    let name_id = between(&resp2, "nameid-format:persistent\">", "</NameID>").to_string();
    assert_ne!(name_id, app.user_id);
    assert_eq!(name_id.len(), 40);
    xmlsec_verify(&resp2, &app.cert_der).unwrap();
    // ForceAuthn asks for the password again despite the session.
    let forced = authn_request(&app, &fresh(), "ForceAuthn=\"true\"", "");
    let page = b.get(&redirect_url(&forced, None)).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn idp_initiated_sign_on_uses_the_first_reply_url_and_the_relay_state() {
    let app =
        saml_app(json!({"samlSingleSignOnSettings": {"relayState": "https://app/home"}})).await;
    let b = Browser::new();
    let page = b.get(&format!("{}?appid={}", endpoint(), app.app_id)).await;
    let done = login(&b, page, &app.upn).await;
    let (xml, relay) = posted(&done, &app.acs);
    assert_eq!(relay.as_deref(), Some("https://app/home"));
    assert!(!xml.contains("InResponseTo"), "{xml}");
    assert_eq!(between(&xml, "<Audience>", "</Audience>"), app.entity);
    xmlsec_verify(&xml, &app.cert_der).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_entra_errors_and_no_sign_in() {
    let app = saml_app(json!({})).await;
    let b = Browser::new();
    let code = |p: &Page| p.aadsts();
    // A replayed request ID: the second use is refused.
    let xml = authn_request(&app, &fresh(), "", "");
    let first = b.get(&redirect_url(&xml, None)).await;
    assert!(first.body.contains("name=\"password\""), "{}", first.body);
    assert_eq!(code(&b.get(&redirect_url(&xml, None)).await), Some(75005));
    // Reply URL not registered (prefix, other host), destination, issuer, ID.
    let bad_acs =
        authn_request(&app, &fresh(), "", "").replace(&app.acs, &format!("{}/x", app.acs));
    assert_eq!(
        code(&b.get(&redirect_url(&bad_acs, None)).await),
        Some(50011)
    );
    let evil_acs =
        authn_request(&app, &fresh(), "", "").replace(&app.acs, "https://evil.example/acs");
    assert_eq!(
        code(&b.get(&redirect_url(&evil_acs, None)).await),
        Some(50011)
    );
    let bad_dest =
        authn_request(&app, &fresh(), "", "").replace(&endpoint(), "https://other.example/saml2");
    assert_eq!(
        code(&b.get(&redirect_url(&bad_dest, None)).await),
        Some(75008)
    );
    let bad_issuer =
        authn_request(&app, &fresh(), "", "").replace(&app.entity, "https://unknown.example");
    assert_eq!(
        code(&b.get(&redirect_url(&bad_issuer, None)).await),
        Some(700016)
    );
    let bad_id = authn_request(&app, "1digit", "", "");
    assert_eq!(
        code(&b.get(&redirect_url(&bad_id, None)).await),
        Some(7500529)
    );
    let bad_format = authn_request(
        &app,
        &fresh(),
        "",
        "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos\"/>",
    );
    assert_eq!(
        code(&b.get(&redirect_url(&bad_format, None)).await),
        Some(75016)
    );
    // XXE and entity expansion: any DOCTYPE is refused before anything is read.
    let xxe = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        authn_request(&app, &fresh(), "", "").replace("</saml:Issuer>", "&x;</saml:Issuer>")
    );
    let p = b.get(&redirect_url(&xxe, None)).await;
    assert_eq!(code(&p), Some(75005));
    assert!(!p.body.contains("root:"), "no file content");
    // Size limits before parsing; no SAMLRequest at all.
    let p = b
        .post(&endpoint(), &[("SAMLRequest".into(), "A".repeat(200_000))])
        .await;
    assert!(p.status == 400 || p.status == 413, "{}", p.status);
    let p = b
        .post(&endpoint(), &[("SAMLRequest".into(), "A".repeat(60_000))])
        .await;
    assert_eq!(
        p.aadsts(),
        Some(75001),
        "too large once decoded, refused before parsing"
    );
    assert_eq!(code(&b.get(&endpoint()).await), Some(750054));
    // The positive control: a fresh, good request reaches the login page.
    let ok = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    assert!(ok.body.contains("name=\"password\""), "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_requests_are_required_when_configured_and_checked_with_the_registered_certificate()
{
    let (key, cert) = sp_key();
    let (other, _) = sp_key();
    let app = saml_app(json!({
        "samlSingleSignOnSettings": {"castellanRequireSignedRequests": true},
        "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&cert)}],
    }))
    .await;
    let b = Browser::new();
    let unsigned = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    assert_eq!(unsigned.aadsts(), Some(76021));
    let wrong = b
        .get(&signed_redirect_url(
            &authn_request(&app, &fresh(), "", ""),
            &other,
        ))
        .await;
    assert_eq!(wrong.aadsts(), Some(76021));
    // A signature over other octets (the request swapped after signing) fails too.
    let good_url = signed_redirect_url(&authn_request(&app, &fresh(), "", ""), &key);
    let swapped_req =
        wire::encode_redirect(&authn_request(&app, &fresh(), "ForceAuthn=\"true\"", ""));
    let q = good_url.split_once('?').unwrap().1;
    let rest = q.split_once('&').unwrap().1;
    let swapped = format!(
        "{}?SAMLRequest={}&{rest}",
        endpoint(),
        url::form_urlencoded::byte_serialize(swapped_req.as_bytes()).collect::<String>()
    );
    assert_eq!(b.get(&swapped).await.aadsts(), Some(76021));
    // The positive control: signed with the registered key.
    let ok = b.get(&good_url).await;
    assert!(ok.body.contains("name=\"password\""), "{}", ok.body);
    let done = login(&b, ok, &app.upn).await;
    posted(&done, &app.acs);
}

#[tokio::test(flavor = "multi_thread")]
async fn user_assignment_and_a_blocked_account_are_enforced_for_saml() {
    let app = saml_app(json!({"appRoleAssignmentRequired": true})).await;
    let b = Browser::new();
    let page = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    let done = login(&b, page, &app.upn).await;
    let (xml, _) = posted(&done, &app.acs);
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:Requester"),
        "{xml}"
    );
    assert!(xml.contains("AADSTS50105"), "{xml}");
    assert!(!xml.contains("<Assertion"), "no assertion on a refusal");
    // Positive control: once assigned (default access role), the same user signs in.
    let g = G::demo().await;
    let (st, v) = g
        .post(
            &format!("/servicePrincipals/{}/appRoleAssignedTo", app.sp_id),
            json!({"principalId": app.user_id, "resourceId": app.sp_id, "appRoleId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let page = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    let (xml, _) = posted(&page, &app.acs);
    assert!(xml.contains("status:Success"), "{xml}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_is_signed_and_a_new_certificate_is_published_before_it_signs() {
    let app = saml_app(json!({})).await;
    let url = format!(
        "{}/{}/federationmetadata/2007-06/federationmetadata.xml?appid={}",
        shared().origin,
        tenant(),
        app.app_id
    );
    let b = Browser::new();
    let md = b.get(&url).await;
    assert_eq!(md.status, 200, "{}", md.body);
    assert!(md.body.contains(&format!(
        "entityID=\"https://sts.windows.net/{}/\"",
        tenant()
    )));
    assert!(md.body.contains(&format!("<SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{}\">", endpoint())));
    xmlsec_verify(&md.body, &app.cert_der).unwrap();
    // Rollover: a second certificate is published at once, signs only once preferred.
    let g = G::demo().await;
    let (_, c2) = g
        .post(
            &format!(
                "/servicePrincipals/{}/addTokenSigningCertificate",
                app.sp_id
            ),
            json!({"displayName": "CN=next"}),
        )
        .await;
    let cert2 = STANDARD.decode(c2["key"].as_str().unwrap()).unwrap();
    let md = b.get(&url).await;
    assert_eq!(
        md.body.matches("<KeyDescriptor use=\"signing\">").count(),
        2
    );
    xmlsec_verify(&md.body, &app.cert_der).unwrap();
    let bad = g
        .patch(
            &format!("/servicePrincipals/{}", app.sp_id),
            json!({"preferredTokenSigningKeyThumbprint": "00FF"}),
        )
        .await;
    assert_eq!(bad.0, 400, "{}", bad.1);
    let (st, _) = g
        .patch(
            &format!("/servicePrincipals/{}", app.sp_id),
            json!({"preferredTokenSigningKeyThumbprint": c2["thumbprint"]}),
        )
        .await;
    assert_eq!(st, 204);
    let (_, sp) = g.get(&format!("/servicePrincipals/{}", app.sp_id)).await;
    assert_eq!(sp["preferredTokenSigningKeyThumbprint"], c2["thumbprint"]);
    assert_eq!(sp["preferredSingleSignOnMode"], "saml");
    let page = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    let done = login(&b, page, &app.upn).await;
    let (xml, _) = posted(&done, &app.acs);
    xmlsec_verify(&xml, &cert2).unwrap();
    assert!(xmlsec_verify(&xml, &app.cert_der).is_err());
    // Bad Graph input changes nothing.
    let (st, v) = g
        .patch(
            &format!("/servicePrincipals/{}", app.sp_id),
            json!({"preferredSingleSignOnMode": "kerberos"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = g
        .post(
            &format!(
                "/servicePrincipals/{}/addTokenSigningCertificate",
                app.sp_id
            ),
            json!({"displayName": "nocn"}),
        )
        .await;
    assert_eq!(st, 400);
    let (_, sp) = g.get(&format!("/servicePrincipals/{}", app.sp_id)).await;
    assert_eq!(sp["preferredSingleSignOnMode"], "saml");
}

#[tokio::test(flavor = "multi_thread")]
async fn single_logout_checks_the_request_signature_and_signs_its_response() {
    let (key, cert) = sp_key();
    let app = saml_app(json!({
        "logoutUrl": "https://sp.example/slo",
        "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&cert)}],
    }))
    .await;
    let b = Browser::new();
    let page = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    posted(&login(&b, page, &app.upn).await, &app.acs);
    let now = wire::instant(castellan_server::state::now());
    let logout = |id: &str| {
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{}\"><Issuer xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\">{}</Issuer><NameID xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\">{}</NameID></samlp:LogoutRequest>",
            endpoint(),
            app.entity,
            app.upn
        )
    };
    // Unsigned, while the app has a verification certificate: refused, the session stays.
    let unsigned = b.get(&redirect_url(&logout(&fresh()), None)).await;
    assert_eq!(unsigned.aadsts(), Some(76021));
    let still = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    posted(&still, &app.acs);
    // Signed (Redirect): a signed LogoutResponse goes back by redirect; the session ends.
    let id = fresh();
    let r = b.get(&signed_redirect_url(&logout(&id), &key)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let loc = r.location.unwrap();
    assert!(
        loc.starts_with("https://sp.example/slo?SAMLResponse="),
        "{loc}"
    );
    let q = loc.split_once('?').unwrap().1;
    let (octets, alg, sig) = wire::redirect_signed_octets(q).unwrap().unwrap();
    assert_eq!(alg, wire::RSA_SHA256);
    let der = rustls::pki_types::CertificateDer::from(app.cert_der.clone());
    let ee = webpki::EndEntityCert::try_from(&der).unwrap();
    ee.verify_signature(webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256, &octets, &sig)
        .unwrap();
    let resp: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    let xml = wire::decode_redirect(&resp[0].1).unwrap();
    assert!(xml.contains(&format!("InResponseTo=\"{id}\"")), "{xml}");
    let after = b
        .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
        .await;
    assert!(
        after.body.contains("name=\"password\""),
        "signed out: {}",
        after.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_access_and_mfa_apply_to_saml_sign_ins() {
    let blocked = saml_app(json!({})).await;
    let g = G::demo().await;
    // A policy that blocks this user at this SAML app, and one that requires MFA at another.
    let mfa_app = saml_app(json!({})).await;
    let (st, p1) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("saml-block"), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [blocked.user_id]},
                                  "applications": {"includeApplications": [blocked.app_id]},
                                  "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p1}");
    let (st, p2) = g
        .post(
            "/identity/conditionalAccess/policies",
            json!({"displayName": alias("saml-mfa"), "state": "enabled",
                   "conditions": {"users": {"includeUsers": [mfa_app.user_id]},
                                  "applications": {"includeApplications": [mfa_app.app_id]},
                                  "clientAppTypes": ["all"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
        )
        .await;
    assert_eq!(st, 201, "{p2}");
    let b = Browser::new();
    let page = b
        .get(&redirect_url(
            &authn_request(&blocked, &fresh(), "", ""),
            None,
        ))
        .await;
    let (xml, _) = posted(&login(&b, page, &blocked.upn).await, &blocked.acs);
    assert!(xml.contains("AADSTS53003"), "{xml}");
    assert!(!xml.contains("<Assertion"));
    // The blocked sign-in is logged with the policy's failure.
    let mut logged = false;
    for _ in 0..100 {
        let logs = g
            .all(&format!(
                "/auditLogs/signIns?$filter=userId eq '{}'",
                blocked.user_id
            ))
            .await;
        if logs.iter().any(|r| r["status"]["errorCode"] == 53003) {
            logged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(logged, "the refused SAML sign-in is in the sign-in log");
    // MFA required and no method registered: the registration interrupt, no response yet.
    let b2 = Browser::new();
    let page = b2
        .get(&redirect_url(
            &authn_request(&mfa_app, &fresh(), "", ""),
            None,
        ))
        .await;
    let next = login(&b2, page, &mfa_app.upn).await;
    assert!(!next.body.contains("SAMLResponse"), "{}", next.body);
    assert!(next.body.contains("/mfa/setup"), "{}", next.body);
    // Positive control: the MFA app's policy does not touch the blocked user's other apps.
    let other = saml_app(json!({})).await;
    let page = b
        .get(&redirect_url(
            &authn_request(&other, &fresh(), "", ""),
            None,
        ))
        .await;
    let done = if page.body.contains("name=\"password\"") {
        login(&b, page, &other.upn).await
    } else {
        page
    };
    let (xml, _) = posted(&done, &other.acs);
    assert!(xml.contains("status:Success"), "{xml}");
    for p in [p1, p2] {
        g.delete(&format!(
            "/identity/conditionalAccess/policies/{}",
            p["id"].as_str().unwrap()
        ))
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signing_option_decides_what_is_signed() {
    for (option, assertion_signed, response_signed) in [
        (None, true, false),
        (Some("SignResponse"), false, true),
        (Some("SignResponseAndAssertion"), true, true),
    ] {
        let extra = match option {
            Some(o) => json!({"samlSingleSignOnSettings": {"castellanSigningOption": o}}),
            None => json!({}),
        };
        let app = saml_app(extra).await;
        let b = Browser::new();
        let page = b
            .get(&redirect_url(&authn_request(&app, &fresh(), "", ""), None))
            .await;
        let (xml, _) = posted(&login(&b, page, &app.upn).await, &app.acs);
        let a = assertion_of(&xml);
        assert_eq!(
            a.contains("<Signature"),
            assertion_signed,
            "{option:?}: {xml}"
        );
        assert_eq!(
            xml.matches("<Signature xmlns").count(),
            usize::from(assertion_signed) + usize::from(response_signed),
            "{option:?}"
        );
        // Whatever is signed verifies with xmlsec1.
        xmlsec_verify(&xml, &app.cert_der).unwrap();
        if assertion_signed {
            xmlsec_verify(&a, &app.cert_der).unwrap();
        }
    }
    let app = saml_app(json!({})).await;
    let (st, v) = G::demo()
        .await
        .patch(
            &format!("/servicePrincipals/{}", app.sp_id),
            json!({"samlSingleSignOnSettings": {"castellanSigningOption": "SignNothing"}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
}
