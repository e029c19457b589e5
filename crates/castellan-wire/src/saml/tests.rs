//! Parsing limits, the DTD refusal, canonical output and the enveloped-signature checks.

use super::*;
use castellan_core::Timestamp;

fn fake_sign(b: &[u8]) -> Result<Vec<u8>, String> {
    Ok(castellan_core::secret::sha256(b).to_vec())
}

const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2027-01-15T08:00:00Z" Destination="https://idp/t/saml2" AssertionConsumerServiceURL="https://sp/acs" ForceAuthn="true"><saml:Issuer>https://sp/meta</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>"#;

#[test]
fn an_authn_request_parses_both_bindings() {
    let (r, sig) = parse_authn_request(REQ).unwrap_or_else(|e| unreachable!("{e:?}"));
    assert_eq!(r.id, "_r1");
    assert_eq!(r.issuer.as_deref(), Some("https://sp/meta"));
    assert_eq!(r.acs_url.as_deref(), Some("https://sp/acs"));
    assert!(r.force_authn && !r.is_passive);
    assert_eq!(
        r.name_id_format.as_deref(),
        Some(castellan_core::flow::saml::PERSISTENT)
    );
    assert_eq!(r.issue_instant, parse_instant("2027-01-15T08:00:00.000Z"));
    assert!(r.issue_instant.is_some());
    assert_eq!(sig, Embedded::None);
    assert_eq!(
        decode_redirect(&encode_redirect(REQ)).ok().as_deref(),
        Some(REQ)
    );
    assert_eq!(decode_post(&encode_post(REQ)).ok().as_deref(), Some(REQ));
}

#[test]
fn a_doctype_is_refused_so_no_entity_is_ever_expanded_or_fetched() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0">&x;</samlp:AuthnRequest>"#;
    let laughs = r#"<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&c;</samlp:AuthnRequest>"#;
    for x in [xxe, laughs] {
        let e = parse_authn_request(x).err().map(|e| (e.code, e.message));
        assert_eq!(e.as_ref().map(|e| e.0), Some(75005));
        assert!(e.is_some_and(|e| e.1.contains("DOCTYPE")));
    }
}

#[test]
fn sizes_are_bounded_before_parsing_and_after_inflating() {
    let big = "A".repeat(MAX_MESSAGE * 2);
    assert_eq!(decode_post(&big).err().map(|e| e.code), Some(75001));
    // A DEFLATE bomb: small on the wire, huge inflated.
    let bomb = encode_redirect(&" ".repeat(MAX_MESSAGE * 8));
    assert!(bomb.len() < MAX_MESSAGE);
    assert_eq!(decode_redirect(&bomb).err().map(|e| e.code), Some(75001));
    assert_eq!(decode_redirect("!!!").err().map(|e| e.code), Some(75001));
    // Too many nodes.
    let many = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{NS_P}\">{}</samlp:AuthnRequest>",
        "<x/>".repeat(5000)
    );
    assert!(parse_authn_request(&many).is_err());
}

#[test]
fn duplicated_elements_and_foreign_roots_are_refused() {
    let two = REQ.replace(
        "</saml:Issuer>",
        "</saml:Issuer><saml:Issuer>https://evil</saml:Issuer>",
    );
    assert_eq!(parse_authn_request(&two).err().map(|e| e.code), Some(75005));
    let other = REQ.replace("AuthnRequest", "ArtifactResolve");
    assert_eq!(
        parse_authn_request(&other).err().map(|e| e.code),
        Some(75005)
    );
    let pi = format!("<?evil x?>{REQ}");
    assert!(parse_authn_request(&pi).is_err());
}

fn assertion_input<'a>(attrs: &'a [(String, Vec<String>)]) -> AssertionInput<'a> {
    AssertionInput {
        id: "_a1",
        issuer: "https://sts.windows.net/t/",
        now: Timestamp::from_secs(1_800_000_000),
        name_id: (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "a&b@x",
        ),
        in_response_to: Some("_r1"),
        recipient: "https://sp/acs",
        validity: (
            Timestamp::from_secs(1_799_999_700),
            Timestamp::from_secs(1_800_003_900),
        ),
        audience: "https://sp/meta",
        attributes: attrs,
        authn_instant: Timestamp::from_secs(1_800_000_000),
        session_index: "_a1",
        authn_context: "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    }
}

#[test]
fn emitted_xml_is_already_canonical() {
    let attrs = vec![("n".to_string(), vec!["<v>\"\r".to_string()])];
    let a = assertion(&assertion_input(&attrs));
    let signed = sign_enveloped(&a, "_a1", b"cert", &fake_sign).unwrap_or_default();
    let resp = response(
        "_resp",
        "https://sts.windows.net/t/",
        Timestamp::from_secs(1_800_000_000),
        "https://sp/acs",
        Some("_r1"),
        None,
        &signed,
    );
    let full = sign_enveloped(&resp, "_resp", b"cert", &fake_sign).unwrap_or_default();
    let doc = parse(&full).unwrap_or_else(|e| unreachable!("{e:?}"));
    // The whole document, and the assertion on its own, canonicalise to the bytes sent.
    assert_eq!(canonicalize(&full, doc.root_element(), None), full);
    let an = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Assertion");
    let an = an.unwrap_or_else(|| unreachable!());
    let range = an.range();
    assert_eq!(canonicalize(&full, an, None), full.get(range).unwrap_or(""));
    // The response's own enveloped signature checks out (digest; the RSA part is the server's).
    let checked = verify_enveloped(&full).unwrap_or_else(|e| unreachable!("{e:?}"));
    assert_eq!(
        checked.signature,
        fake_sign(&checked.signed_info).unwrap_or_default()
    );
    assert!(String::from_utf8_lossy(&checked.signed_info)
        .starts_with("<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
}

fn signed_logout() -> String {
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{NS_P}\" ID=\"_l1\" IssueInstant=\"2027-01-15T08:00:00Z\" Version=\"2.0\"><Issuer xmlns=\"{NS_A}\">https://sp/meta</Issuer><NameID xmlns=\"{NS_A}\">ada@t.test</NameID></samlp:LogoutRequest>"
    );
    sign_enveloped(&xml, "_l1", b"cert", &fake_sign).unwrap_or_default()
}

#[test]
fn a_signed_logout_request_verifies_and_any_change_breaks_it() {
    let good = signed_logout();
    assert!(verify_enveloped(&good).is_ok());
    let (req, emb) = parse_logout_request(&good).unwrap_or_else(|e| unreachable!("{e:?}"));
    assert_eq!(
        (req.name_id.as_deref(), emb),
        (Some("ada@t.test"), Embedded::Present)
    );
    let changed = good.replace("ada@t.test", "admin@t.test");
    assert_eq!(
        verify_enveloped(&changed).err().map(|e| e.code),
        Some(76021)
    );
}

#[test]
fn signature_wrapping_variants_are_refused() {
    let good = signed_logout();
    // 1. The signed original moved into an extension, an evil root with another ID.
    let evil_root = good
        .replacen("ID=\"_l1\"", "ID=\"_evil\"", 1)
        .replace("ada@t.test", "admin@t.test");
    assert!(verify_enveloped(&evil_root).is_err());
    // 2. Same ID on a second, wrapped element (the reference would be ambiguous).
    let dup = good.replace(
        "</samlp:LogoutRequest>",
        "<samlp:Extensions><samlp:LogoutRequest ID=\"_l1\"></samlp:LogoutRequest></samlp:Extensions></samlp:LogoutRequest>",
    );
    assert!(verify_enveloped(&dup).is_err());
    // 3. A reference to something other than the root.
    let other = good.replace("URI=\"#_l1\"", "URI=\"#_x\"");
    assert!(verify_enveloped(&other).is_err());
    // 4. Two signatures.
    let sig_start = good.find("<Signature").unwrap_or(0);
    let sig_end = good
        .find("</Signature>")
        .map_or(0, |i| i + "</Signature>".len());
    let sig = good.get(sig_start..sig_end).unwrap_or("").to_string();
    let twice = good.replacen(&sig, &format!("{sig}{sig}"), 1);
    assert!(verify_enveloped(&twice).is_err());
    // 5. A weak algorithm.
    let sha1 = good.replace(RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    assert!(verify_enveloped(&sha1).is_err());
    // 6. An extra XPath transform.
    let xpath = good.replace(
        "<Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></Transform>",
        "<Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"></Transform>",
    );
    assert!(verify_enveloped(&xpath).is_err());
    // 7. A comment injected into the NameID (text split: c14n without comments drops it, and the
    // value read is the first text node only) does not change what is signed and read together.
    let comment = good.replace("ada@t.test</NameID>", "ada@t.test<!---->.evil</NameID>");
    assert!(verify_enveloped(&comment).is_err());
    // The positive control.
    assert!(verify_enveloped(&good).is_ok());
}

#[test]
fn redirect_signature_octets_are_the_received_encoding() {
    let q = "SAMLRequest=abc%2B&RelayState=r%20s&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=AAAA";
    let (octets, alg, sig) = redirect_signed_octets(q).ok().flatten().unwrap_or_default();
    assert_eq!(octets, b"SAMLRequest=abc%2B&RelayState=r%20s&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256".to_vec());
    assert_eq!(alg, RSA_SHA256);
    assert_eq!(sig, vec![0, 0, 0]);
    assert_eq!(redirect_signed_octets("SAMLRequest=abc").ok(), Some(None));
    assert!(redirect_signed_octets("SAMLRequest=abc&Signature=AAAA").is_err());
    assert!(redirect_signed_octets("SAMLRequest=a&SAMLRequest=b&SigAlg=x&Signature=AAAA").is_err());
}

#[test]
fn metadata_is_signed_and_lists_every_certificate() {
    let xml = metadata(
        "_m",
        "https://sts.windows.net/t/",
        "https://idp/t/saml2",
        &[b"one", b"two"],
    );
    let signed = sign_metadata(&xml, "_m", b"one", &fake_sign).unwrap_or_default();
    assert_eq!(signed.matches("<KeyDescriptor use=\"signing\">").count(), 2);
    assert!(signed.starts_with("<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"_m\" entityID=\"https://sts.windows.net/t/\"><Signature"));
    assert!(verify_enveloped(&signed).is_ok());
}
