//! SAML 2.0 bytes (OASIS SAML 2.0 Core, Bindings §3.4 HTTP-Redirect and §3.5 HTTP-POST,
//! Metadata; W3C XML-Signature with Exclusive XML Canonicalization 1.0).
//!
//! Untrusted input is bounded before it is parsed ([`MAX_MESSAGE`] bytes of base64 and of
//! inflated XML) and read with `roxmltree`, which refuses any DOCTYPE: no entity expansion and
//! no external entities can be reached. Output is emitted already in exclusive canonical form
//! (namespace declarations where first used, attributes sorted, no whitespace between
//! elements, start and end tags), so the digest covers exactly the bytes that are sent.
//! Incoming enveloped signatures are checked by [`verify_enveloped`], which canonicalises the
//! root element itself and accepts only a signature over the whole root (signature wrapping
//! cannot move the signed part away from the part that is read).

mod c14n;
mod render;

pub use c14n::{canonicalize, verify_enveloped, EnvelopedSignature};
pub use render::*;

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::error::{AadstsError, Code};
use castellan_core::flow::saml::{AuthnRequest, LogoutRequest};
use castellan_core::Timestamp;

/// The largest message accepted: base64 text, and the XML after inflating.
pub const MAX_MESSAGE: usize = 24 * 1024;
/// The most XML nodes a message may have.
const MAX_NODES: u32 = 4096;

/// The SAML 2.0 protocol namespace.
pub const NS_P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 assertion namespace.
pub const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The SAML 2.0 metadata namespace.
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML-Signature.
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive XML Canonicalization 1.0 (without comments).
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// RSA-SHA256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// SHA-256 digest.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The enveloped-signature transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// HTTP-POST binding.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

fn binding(detail: &str) -> AadstsError {
    Code::SamlBinding.aadsts(&[("detail", &detail), ("limit", &MAX_MESSAGE)])
}

fn invalid(detail: &str) -> AadstsError {
    Code::SamlInvalidRequest.aadsts(&[("detail", &detail)])
}

fn unbase64(b64: &str) -> Result<Vec<u8>, AadstsError> {
    if b64.len() > MAX_MESSAGE * 4 / 3 + 4 {
        return Err(binding("the message is too large"));
    }
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(clean.as_bytes())
        .map_err(|_| binding("the message is not valid base64"))
}

fn utf8(bytes: Vec<u8>) -> Result<String, AadstsError> {
    String::from_utf8(bytes).map_err(|_| binding("the message is not UTF-8"))
}

/// Decodes an HTTP-Redirect message: base64, then raw DEFLATE (RFC 1951), inflated at most to
/// [`MAX_MESSAGE`] bytes (a "zip bomb" stops there).
pub fn decode_redirect(b64: &str) -> Result<String, AadstsError> {
    let raw = unbase64(b64)?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .take(MAX_MESSAGE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| binding("the message is not DEFLATE-compressed"))?;
    if out.len() > MAX_MESSAGE {
        return Err(binding("the inflated message is too large"));
    }
    utf8(out)
}

/// Decodes an HTTP-POST message (base64 only).
pub fn decode_post(b64: &str) -> Result<String, AadstsError> {
    let raw = unbase64(b64)?;
    if raw.len() > MAX_MESSAGE {
        return Err(binding("the message is too large"));
    }
    utf8(raw)
}

/// Encodes a message for the HTTP-Redirect binding: raw DEFLATE, then base64.
pub fn encode_redirect(xml: &str) -> String {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(xml.as_bytes());
    STANDARD.encode(e.finish().unwrap_or_default())
}

/// Encodes a message for the HTTP-POST binding.
pub fn encode_post(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// Parses untrusted XML: bounded, no DTD (a DOCTYPE is refused), no processing instructions
/// other than the XML declaration.
pub fn parse(xml: &str) -> Result<roxmltree::Document<'_>, AadstsError> {
    if xml.len() > MAX_MESSAGE {
        return Err(binding("the message is too large"));
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        entity_resolver: None,
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => {
            invalid("a DOCTYPE (DTD) is not allowed in a SAML message")
        }
        _ => invalid("the message is not well-formed XML"),
    })?;
    if doc.descendants().any(|n| n.is_pi()) {
        return Err(invalid("processing instructions are not allowed"));
    }
    Ok(doc)
}

/// An `xs:dateTime` (UTC or with an offset).
pub fn parse_instant(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| Timestamp(d.timestamp_millis()))
}

fn is(n: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

/// The one child element `ns:name` of `n` (two are refused: a second Issuer or Subject is a
/// wrapping attempt).
fn only_child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Result<Option<roxmltree::Node<'a, 'i>>, AadstsError> {
    let mut it = n.children().filter(|c| is(c, ns, name));
    let first = it.next();
    if it.next().is_some() {
        return Err(invalid(&format!("more than one {name} element")));
    }
    Ok(first)
}

fn text_of(n: Option<roxmltree::Node<'_, '_>>) -> Option<String> {
    n.map(|n| n.text().unwrap_or("").trim().to_string())
}

/// What a parsed message says about its embedded XML signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embedded {
    /// No `ds:Signature` child.
    None,
    /// A `ds:Signature` child of the root (check it with [`verify_enveloped`]).
    Present,
}

fn embedded(root: roxmltree::Node<'_, '_>) -> Result<Embedded, AadstsError> {
    Ok(match only_child(root, NS_DS, "Signature")? {
        Some(_) => Embedded::Present,
        None => Embedded::None,
    })
}

/// Parses a `samlp:AuthnRequest`.
pub fn parse_authn_request(xml: &str) -> Result<(AuthnRequest, Embedded), AadstsError> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if !is(&root, NS_P, "AuthnRequest") {
        return Err(invalid("the message is not a samlp:AuthnRequest"));
    }
    let attr = |k: &str| root.attribute(k).map(str::to_string);
    let flag = |k: &str| matches!(root.attribute(k), Some("true" | "1"));
    let policy = only_child(root, NS_P, "NameIDPolicy")?;
    let ctx = only_child(root, NS_P, "RequestedAuthnContext")?;
    let req = AuthnRequest {
        id: attr("ID").unwrap_or_default(),
        version: attr("Version").unwrap_or_default(),
        issue_instant: root.attribute("IssueInstant").and_then(parse_instant),
        destination: attr("Destination"),
        issuer: text_of(only_child(root, NS_A, "Issuer")?),
        acs_url: attr("AssertionConsumerServiceURL"),
        protocol_binding: attr("ProtocolBinding"),
        name_id_format: policy
            .and_then(|p| p.attribute("Format"))
            .map(str::to_string),
        force_authn: flag("ForceAuthn"),
        is_passive: flag("IsPassive"),
        has_subject: only_child(root, NS_A, "Subject")?.is_some(),
        authn_context: ctx
            .map(|c| {
                c.children()
                    .filter(|x| is(x, NS_A, "AuthnContextClassRef"))
                    .map(|x| x.text().unwrap_or("").trim().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        comparison: ctx
            .and_then(|c| c.attribute("Comparison"))
            .map(str::to_string),
    };
    Ok((req, embedded(root)?))
}

/// Parses a `samlp:LogoutRequest`.
pub fn parse_logout_request(xml: &str) -> Result<(LogoutRequest, Embedded), AadstsError> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if !is(&root, NS_P, "LogoutRequest") {
        return Err(invalid("the message is not a samlp:LogoutRequest"));
    }
    let attr = |k: &str| root.attribute(k).map(str::to_string);
    let req = LogoutRequest {
        id: attr("ID").unwrap_or_default(),
        version: attr("Version").unwrap_or_default(),
        issue_instant: root.attribute("IssueInstant").and_then(parse_instant),
        destination: attr("Destination"),
        issuer: text_of(only_child(root, NS_A, "Issuer")?),
        name_id: text_of(only_child(root, NS_A, "NameID")?),
        not_on_or_after: root.attribute("NotOnOrAfter").and_then(parse_instant),
    };
    Ok((req, embedded(root)?))
}

/// The root element's name (`AuthnRequest`, `LogoutRequest`, `LogoutResponse`), to route a
/// message on `/saml2`.
pub fn message_kind(xml: &str) -> Result<String, AadstsError> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_P) {
        return Err(invalid(
            "the message is not in the SAML 2.0 protocol namespace",
        ));
    }
    Ok(root.tag_name().name().to_string())
}

/// A parsed `samlp:LogoutResponse` (the app's answer to a logout Castellan started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    /// `InResponseTo`.
    pub in_response_to: Option<String>,
    /// `Issuer`.
    pub issuer: Option<String>,
    /// The top-level status is Success.
    pub success: bool,
}

/// Parses a `samlp:LogoutResponse`.
pub fn parse_logout_response(xml: &str) -> Result<(LogoutResponse, Embedded), AadstsError> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if !is(&root, NS_P, "LogoutResponse") {
        return Err(invalid("the message is not a samlp:LogoutResponse"));
    }
    let status = only_child(root, NS_P, "Status")?
        .and_then(|s| s.children().find(|c| is(c, NS_P, "StatusCode")))
        .and_then(|c| c.attribute("Value"));
    Ok((
        LogoutResponse {
            in_response_to: root.attribute("InResponseTo").map(str::to_string),
            issuer: text_of(only_child(root, NS_A, "Issuer")?),
            success: status == Some("urn:oasis:names:tc:SAML:2.0:status:Success"),
        },
        embedded(root)?,
    ))
}

/// A Redirect-binding signature: (signed octets, `SigAlg`, decoded `Signature`).
pub type RedirectSignature = (Vec<u8>, String, Vec<u8>);

/// The octets an HTTP-Redirect signature covers (Bindings §3.4.4.1): `SAMLRequest=…` (or
/// `SAMLResponse=…`), `&RelayState=…` if present, `&SigAlg=…`, each exactly as URL-encoded in
/// the received query string. Returns (octets, SigAlg decoded, Signature decoded); `None` when
/// the query carries no `Signature`.
pub fn redirect_signed_octets(raw_query: &str) -> Result<Option<RedirectSignature>, AadstsError> {
    let mut parts: [Option<&str>; 4] = [None; 4];
    for pair in raw_query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match k {
            "SAMLRequest" | "SAMLResponse" => 0,
            "RelayState" => 1,
            "SigAlg" => 2,
            "Signature" => 3,
            _ => continue,
        };
        let Some(s) = parts.get_mut(slot) else {
            continue;
        };
        if s.is_some() {
            return Err(invalid(&format!("the query repeats {k}")));
        }
        *s = Some(pair);
        let _ = v;
    }
    let [Some(msg), relay, Some(alg), Some(sig)] = parts else {
        return match parts {
            [_, _, None, None] => Ok(None),
            _ => Err(invalid(
                "a signed Redirect message needs SAMLRequest, SigAlg and Signature",
            )),
        };
    };
    let mut octets = msg.to_string();
    if let Some(r) = relay {
        octets.push('&');
        octets.push_str(r);
    }
    octets.push('&');
    octets.push_str(alg);
    let decode = |p: &str| {
        let v = p.split_once('=').map_or("", |(_, v)| v);
        form_urlencoded::parse(format!("x={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let alg = decode(alg);
    let sig = unbase64(&decode(sig))?;
    Ok(Some((octets.into_bytes(), alg, sig)))
}

#[cfg(test)]
mod tests;
