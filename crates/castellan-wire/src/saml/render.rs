//! SAML output, written directly in exclusive canonical form (Exclusive XML Canonicalization
//! 1.0 §3: a namespace declaration on the element that first uses it, attributes in order,
//! `<a></a>` for empty elements, escaped text and attribute values, no insignificant
//! whitespace), so the enveloped signature's digest is over the very bytes sent.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::Timestamp;

use super::{
    BINDING_POST, BINDING_REDIRECT, ENVELOPED, EXC_C14N, NS_A, NS_DS, NS_MD, NS_P, RSA_SHA256,
    SHA256,
};

/// Signs octets with the app's key (RSA PKCS#1 v1.5, SHA-256).
pub type Sign<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, String>;

/// Escapes character data (C14N §2.3: `&`, `<`, `>`, CR).
pub fn esc_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\r' => o.push_str("&#xD;"),
            _ => o.push(c),
        }
    }
    o
}

/// Escapes an attribute value (C14N §2.3: `&`, `<`, `"`, TAB, LF, CR).
pub fn esc_attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '"' => o.push_str("&quot;"),
            '\t' => o.push_str("&#x9;"),
            '\n' => o.push_str("&#xA;"),
            '\r' => o.push_str("&#xD;"),
            _ => o.push(c),
        }
    }
    o
}

/// One element: `name`, an optional namespace declaration (`("", uri)` default, `(p, uri)`
/// prefixed), unprefixed attributes (sorted here), and already-canonical content.
fn el(name: &str, ns: Option<(&str, &str)>, attrs: &[(&str, &str)], content: &str) -> String {
    let mut o = format!("<{name}");
    if let Some((p, uri)) = ns {
        if p.is_empty() {
            o.push_str(&format!(" xmlns=\"{}\"", esc_attr(uri)));
        } else {
            o.push_str(&format!(" xmlns:{p}=\"{}\"", esc_attr(uri)));
        }
    }
    let mut a: Vec<&(&str, &str)> = attrs.iter().collect();
    a.sort_by(|x, y| x.0.cmp(y.0));
    for (k, v) in a {
        o.push_str(&format!(" {k}=\"{}\"", esc_attr(v)));
    }
    o.push('>');
    o.push_str(content);
    o.push_str(&format!("</{name}>"));
    o
}

/// `2026-01-01T00:00:00.000Z`, as Entra writes SAML instants.
pub fn instant(t: Timestamp) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t.millis())
        .map_or_else(String::new, |d| {
            d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
}

/// The enveloped signature over the element whose canonical bytes (without the signature) are
/// `signed` and whose `ID` is `id`; `cert_der` goes into `KeyInfo`.
pub fn signature(
    id: &str,
    signed: &str,
    cert_der: &[u8],
    sign: Sign<'_>,
) -> Result<String, String> {
    let digest = STANDARD.encode(castellan_core::secret::sha256(signed.as_bytes()));
    let inner = |ns: Option<(&str, &str)>| {
        el(
            "SignedInfo",
            ns,
            &[],
            &[
                el(
                    "CanonicalizationMethod",
                    None,
                    &[("Algorithm", EXC_C14N)],
                    "",
                ),
                el("SignatureMethod", None, &[("Algorithm", RSA_SHA256)], ""),
                el(
                    "Reference",
                    None,
                    &[("URI", &format!("#{id}"))],
                    &[
                        el(
                            "Transforms",
                            None,
                            &[],
                            &[
                                el("Transform", None, &[("Algorithm", ENVELOPED)], ""),
                                el("Transform", None, &[("Algorithm", EXC_C14N)], ""),
                            ]
                            .concat(),
                        ),
                        el("DigestMethod", None, &[("Algorithm", SHA256)], ""),
                        el("DigestValue", None, &[], &digest),
                    ]
                    .concat(),
                ),
            ]
            .concat(),
        )
    };
    // SignedInfo canonicalised as its own apex declares the dsig namespace; inside Signature
    // it inherits it.
    let value = STANDARD.encode(sign(inner(Some(("", NS_DS))).as_bytes())?);
    Ok(el(
        "Signature",
        Some(("", NS_DS)),
        &[],
        &[
            inner(None),
            el("SignatureValue", None, &[], &value),
            key_info(None, cert_der),
        ]
        .concat(),
    ))
}

fn key_info(ns: Option<(&str, &str)>, cert_der: &[u8]) -> String {
    el(
        "KeyInfo",
        ns,
        &[],
        &el(
            "X509Data",
            None,
            &[],
            &el("X509Certificate", None, &[], &STANDARD.encode(cert_der)),
        ),
    )
}

/// Inserts `sig` right after the first `</Issuer>` (schema order: Issuer, Signature, …).
fn insert_after_issuer(xml: &str, sig: &str) -> String {
    match xml.find("</Issuer>") {
        Some(i) => {
            let at = i + "</Issuer>".len();
            format!(
                "{}{sig}{}",
                xml.get(..at).unwrap_or(""),
                xml.get(at..).unwrap_or("")
            )
        }
        None => xml.to_string(),
    }
}

/// Signs `xml` (an element with `ID="id"` and an `Issuer` child) with an enveloped signature.
pub fn sign_enveloped(
    xml: &str,
    id: &str,
    cert_der: &[u8],
    sign: Sign<'_>,
) -> Result<String, String> {
    let sig = signature(id, xml, cert_der, sign)?;
    Ok(insert_after_issuer(xml, &sig))
}

/// What goes into an assertion.
#[derive(Clone, Debug)]
pub struct AssertionInput<'a> {
    /// The assertion's `ID`.
    pub id: &'a str,
    /// `https://sts.windows.net/{tid}/`.
    pub issuer: &'a str,
    /// Now.
    pub now: Timestamp,
    /// NameID format and value.
    pub name_id: (&'a str, &'a str),
    /// The request's ID (absent for IdP-initiated sign-on).
    pub in_response_to: Option<&'a str>,
    /// The reply URL.
    pub recipient: &'a str,
    /// `Conditions` (NotBefore, NotOnOrAfter).
    pub validity: (Timestamp, Timestamp),
    /// `Audience`.
    pub audience: &'a str,
    /// Attribute statement.
    pub attributes: &'a [(String, Vec<String>)],
    /// When the user authenticated.
    pub authn_instant: Timestamp,
    /// The session index (for single logout).
    pub session_index: &'a str,
    /// `AuthnContextClassRef`.
    pub authn_context: &'a str,
}

/// The `Assertion` element, unsigned (canonical).
pub fn assertion(a: &AssertionInput<'_>) -> String {
    let now = instant(a.now);
    let nooa = instant(a.validity.1);
    let mut scd: Vec<(&str, &str)> = vec![("NotOnOrAfter", &nooa), ("Recipient", a.recipient)];
    if let Some(r) = a.in_response_to {
        scd.push(("InResponseTo", r));
    }
    let subject = el(
        "Subject",
        None,
        &[],
        &[
            el(
                "NameID",
                None,
                &[("Format", a.name_id.0)],
                &esc_text(a.name_id.1),
            ),
            el(
                "SubjectConfirmation",
                None,
                &[("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")],
                &el("SubjectConfirmationData", None, &scd, ""),
            ),
        ]
        .concat(),
    );
    let (nb, na) = (instant(a.validity.0), instant(a.validity.1));
    let conditions = el(
        "Conditions",
        None,
        &[("NotBefore", &nb), ("NotOnOrAfter", &na)],
        &el(
            "AudienceRestriction",
            None,
            &[],
            &el("Audience", None, &[], &esc_text(a.audience)),
        ),
    );
    let attrs: String = a
        .attributes
        .iter()
        .map(|(name, values)| {
            el(
                "Attribute",
                None,
                &[("Name", name)],
                &values
                    .iter()
                    .map(|v| el("AttributeValue", None, &[], &esc_text(v)))
                    .collect::<String>(),
            )
        })
        .collect();
    let statement = if attrs.is_empty() {
        String::new()
    } else {
        el("AttributeStatement", None, &[], &attrs)
    };
    let ai = instant(a.authn_instant);
    let authn = el(
        "AuthnStatement",
        None,
        &[("AuthnInstant", &ai), ("SessionIndex", a.session_index)],
        &el(
            "AuthnContext",
            None,
            &[],
            &el("AuthnContextClassRef", None, &[], a.authn_context),
        ),
    );
    el(
        "Assertion",
        Some(("", NS_A)),
        &[("ID", a.id), ("IssueInstant", &now), ("Version", "2.0")],
        &[
            el("Issuer", None, &[], &esc_text(a.issuer)),
            subject,
            conditions,
            statement,
            authn,
        ]
        .concat(),
    )
}

/// A `samlp:Status`: Success, or a top-level code with a nested one and a message.
fn status(code: Option<(&str, &str, &str)>) -> String {
    match code {
        None => el(
            "samlp:Status",
            None,
            &[],
            &el(
                "samlp:StatusCode",
                None,
                &[("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")],
                "",
            ),
        ),
        Some((top, sub, msg)) => el(
            "samlp:Status",
            None,
            &[],
            &[
                el(
                    "samlp:StatusCode",
                    None,
                    &[("Value", top)],
                    &el("samlp:StatusCode", None, &[("Value", sub)], ""),
                ),
                el("samlp:StatusMessage", None, &[], &esc_text(msg)),
            ]
            .concat(),
        ),
    }
}

/// A `samlp:Response` envelope around `inner` (a signed assertion, or nothing on error).
pub fn response(
    id: &str,
    issuer: &str,
    now: Timestamp,
    destination: &str,
    in_response_to: Option<&str>,
    error: Option<(&str, &str, &str)>,
    inner: &str,
) -> String {
    let ii = instant(now);
    let mut attrs: Vec<(&str, &str)> = vec![
        ("Destination", destination),
        ("ID", id),
        ("IssueInstant", &ii),
        ("Version", "2.0"),
    ];
    if let Some(r) = in_response_to {
        attrs.push(("InResponseTo", r));
    }
    el(
        "samlp:Response",
        Some(("samlp", NS_P)),
        &attrs,
        &[
            el("Issuer", Some(("", NS_A)), &[], &esc_text(issuer)),
            status(error),
            inner.to_string(),
        ]
        .concat(),
    )
}

/// `urn:oasis:names:tc:SAML:2.0:status:Requester` / `RequestUnsupported`: an error response.
pub const REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// `urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported`.
pub const REQUEST_UNSUPPORTED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported";
/// `urn:oasis:names:tc:SAML:2.0:status:NoPassive`.
pub const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
/// `urn:oasis:names:tc:SAML:2.0:status:Responder`.
pub const RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";

/// A `samlp:LogoutResponse` (Success).
pub fn logout_response(
    id: &str,
    issuer: &str,
    now: Timestamp,
    destination: &str,
    in_response_to: &str,
) -> String {
    let ii = instant(now);
    el(
        "samlp:LogoutResponse",
        Some(("samlp", NS_P)),
        &[
            ("Destination", destination),
            ("ID", id),
            ("InResponseTo", in_response_to),
            ("IssueInstant", &ii),
            ("Version", "2.0"),
        ],
        &[
            el("Issuer", Some(("", NS_A)), &[], &esc_text(issuer)),
            status(None),
        ]
        .concat(),
    )
}

/// The app federation metadata (`EntityDescriptor` with an `IDPSSODescriptor`): the signing
/// certificates, single sign-on and logout on both bindings, the NameID formats. Unsigned;
/// sign it with [`sign_metadata`].
pub fn metadata(id: &str, entity_id: &str, endpoint: &str, certs: &[&[u8]]) -> String {
    let keys: String = certs
        .iter()
        .map(|c| {
            el(
                "KeyDescriptor",
                None,
                &[("use", "signing")],
                &key_info(Some(("", NS_DS)), c),
            )
        })
        .collect();
    let svc = |name: &str, b: &str| el(name, None, &[("Binding", b), ("Location", endpoint)], "");
    let formats: String = [
        castellan_core::flow::saml::EMAIL,
        castellan_core::flow::saml::PERSISTENT,
        castellan_core::flow::saml::TRANSIENT,
        castellan_core::flow::saml::UNSPECIFIED,
    ]
    .iter()
    .map(|f| el("NameIDFormat", None, &[], f))
    .collect();
    el(
        "EntityDescriptor",
        Some(("", NS_MD)),
        &[("ID", id), ("entityID", entity_id)],
        &el(
            "IDPSSODescriptor",
            None,
            &[("protocolSupportEnumeration", NS_P)],
            &[
                keys,
                svc("SingleLogoutService", BINDING_REDIRECT),
                svc("SingleLogoutService", BINDING_POST),
                formats,
                svc("SingleSignOnService", BINDING_REDIRECT),
                svc("SingleSignOnService", BINDING_POST),
            ]
            .concat(),
        ),
    )
}

/// Signs the metadata: the enveloped signature is the first child of `EntityDescriptor`.
pub fn sign_metadata(
    xml: &str,
    id: &str,
    cert_der: &[u8],
    sign: Sign<'_>,
) -> Result<String, String> {
    let sig = signature(id, xml, cert_der, sign)?;
    Ok(match xml.find("><IDPSSODescriptor") {
        Some(i) => format!(
            "{}>{sig}{}",
            xml.get(..i).unwrap_or(""),
            xml.get(i + 1..).unwrap_or("")
        ),
        None => xml.to_string(),
    })
}

/// The query string of an HTTP-Redirect message signed per Bindings §3.4.4.1:
/// `SAMLResponse=…&RelayState=…&SigAlg=…&Signature=…`.
pub fn redirect_query(
    param: &str,
    xml: &str,
    relay: Option<&str>,
    sign: Sign<'_>,
) -> Result<String, String> {
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut q = format!("{param}={}", enc(&super::encode_redirect(xml)));
    if let Some(r) = relay {
        q.push_str(&format!("&RelayState={}", enc(r)));
    }
    q.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
    let sig = STANDARD.encode(sign(q.as_bytes())?);
    q.push_str(&format!("&Signature={}", enc(&sig)));
    Ok(q)
}
