//! Exclusive XML Canonicalization 1.0 (without comments) over a parsed `roxmltree` element,
//! and the checks of an incoming enveloped signature (XML-Signature Core §3.2, restricted to
//! what SAML needs): one `ds:Signature` child of the root, one `Reference` to the root's own
//! `ID`, exactly the enveloped-signature and exc-c14n transforms, SHA-256 and RSA-SHA256 only.
//! Anything else is refused, so a signature can never cover a part other than the root
//! element that is read (XML signature wrapping).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::error::{AadstsError, Code};
use roxmltree::{Node, NodeId};

use super::render::{esc_attr, esc_text};
use super::{ENVELOPED, EXC_C14N, NS_DS, RSA_SHA256, SHA256};

fn bad(detail: &str) -> AadstsError {
    Code::SamlBadSignature.aadsts(&[("detail", &detail)])
}

/// The prefix an element or attribute was written with, read from the source text.
fn prefix_at(src: &str, start: usize) -> Option<&str> {
    let rest = src.get(start..)?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/' || c == '=')
        .unwrap_or(rest.len());
    let qname = rest.get(..end)?;
    qname.split_once(':').map(|(p, _)| p)
}

fn element_prefix<'i>(src: &'i str, n: &Node<'_, 'i>) -> Option<&'i str> {
    // The element's range starts at '<'.
    prefix_at(src, n.range().start + 1)
}

fn ns_uri<'a>(n: &Node<'a, '_>, prefix: Option<&str>) -> &'a str {
    n.namespaces()
        .find(|ns| ns.name() == prefix)
        .map_or("", |ns| ns.uri())
}

/// The canonical form of `apex` (and its subtree), leaving out the subtree `exclude`.
pub fn canonicalize(src: &str, apex: Node<'_, '_>, exclude: Option<NodeId>) -> String {
    let mut out = String::new();
    render(src, apex, exclude, &[], &mut out);
    out
}

fn render(
    src: &str,
    n: Node<'_, '_>,
    exclude: Option<NodeId>,
    rendered: &[(String, String)],
    out: &mut String,
) {
    if Some(n.id()) == exclude {
        return;
    }
    if n.is_text() {
        out.push_str(&esc_text(n.text().unwrap_or("")));
        return;
    }
    if !n.is_element() {
        return;
    }
    let prefix = element_prefix(src, &n);
    let qname = match prefix {
        Some(p) => format!("{p}:{}", n.tag_name().name()),
        None => n.tag_name().name().to_string(),
    };
    // Visibly utilised prefixes: the element's and its prefixed attributes'.
    let mut used: Vec<Option<&str>> = vec![prefix];
    let mut attrs: Vec<(String, String, String)> = Vec::new();
    for a in n.attributes() {
        let ap = prefix_at(src, a.range_qname().start);
        if ap == Some("xml") {
            attrs.push((
                "http://www.w3.org/XML/1998/namespace".into(),
                format!("xml:{}", a.name()),
                a.value().into(),
            ));
            continue;
        }
        if let Some(p) = ap {
            used.push(Some(p));
            attrs.push((
                a.namespace().unwrap_or("").into(),
                format!("{p}:{}", a.name()),
                a.value().into(),
            ));
        } else {
            attrs.push((String::new(), a.name().into(), a.value().into()));
        }
    }
    let mut decls: Vec<(String, String)> = Vec::new();
    for p in used {
        let key = p.unwrap_or("").to_string();
        if decls.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let uri = ns_uri(&n, p).to_string();
        let above = rendered
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        let need = match above {
            Some(v) => v != uri,
            None => !(key.is_empty() && uri.is_empty()),
        };
        if need {
            decls.push((key, uri));
        }
    }
    decls.sort();
    attrs.sort_by(|a, b| (a.0.as_str(), local(&a.1)).cmp(&(b.0.as_str(), local(&b.1))));
    out.push('<');
    out.push_str(&qname);
    for (k, v) in &decls {
        if k.is_empty() {
            out.push_str(&format!(" xmlns=\"{}\"", esc_attr(v)));
        } else {
            out.push_str(&format!(" xmlns:{k}=\"{}\"", esc_attr(v)));
        }
    }
    for (_, name, v) in &attrs {
        out.push_str(&format!(" {name}=\"{}\"", esc_attr(v)));
    }
    out.push('>');
    let mut scope: Vec<(String, String)> = rendered.to_vec();
    scope.extend(decls);
    for c in n.children() {
        render(src, c, exclude, &scope, out);
    }
    out.push_str(&format!("</{qname}>"));
}

fn local(q: &str) -> &str {
    q.split_once(':').map_or(q, |(_, l)| l)
}

/// A checked enveloped signature: verify `signature` over `signed_info` with the signer's
/// public key (RSA PKCS#1 v1.5 SHA-256); the root's digest already matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopedSignature {
    /// The canonical `SignedInfo` octets.
    pub signed_info: Vec<u8>,
    /// The decoded `SignatureValue`.
    pub signature: Vec<u8>,
}

fn ds<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Result<Node<'a, 'i>, AadstsError> {
    let mut it = n.children().filter(|c| {
        c.is_element() && c.tag_name().namespace() == Some(NS_DS) && c.tag_name().name() == name
    });
    let first = it
        .next()
        .ok_or_else(|| bad(&format!("ds:{name} is missing")))?;
    if it.next().is_some() {
        return Err(bad(&format!("more than one ds:{name}")));
    }
    Ok(first)
}

fn algorithm<'a>(n: Node<'a, '_>) -> &'a str {
    n.attribute("Algorithm").unwrap_or("")
}

/// Checks the enveloped signature of the document's root element (`xml` is the parsed text):
/// the structure and algorithms, that the one `Reference` is to the root's `ID` (and that no
/// other element carries that `ID`), and the digest of the root without the signature.
/// Returns what the caller verifies with the certificate.
pub fn verify_enveloped(xml: &str) -> Result<EnvelopedSignature, AadstsError> {
    let doc = super::parse(xml)?;
    let root = doc.root_element();
    let sig = ds(root, "Signature")?;
    let id = root
        .attribute("ID")
        .ok_or_else(|| bad("the signed element has no ID"))?;
    if doc
        .descendants()
        .filter(|n| n.is_element() && n.id() != root.id())
        .any(|n| {
            n.attributes()
                .any(|a| a.name().eq_ignore_ascii_case("id") && a.value() == id)
        })
    {
        return Err(bad("another element carries the signed ID"));
    }
    let si = ds(sig, "SignedInfo")?;
    if algorithm(ds(si, "CanonicalizationMethod")?) != EXC_C14N {
        return Err(bad("CanonicalizationMethod must be exclusive C14N"));
    }
    if algorithm(ds(si, "SignatureMethod")?) != RSA_SHA256 {
        return Err(bad("SignatureMethod must be RSA-SHA256"));
    }
    let reference = ds(si, "Reference")?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(bad(
            "the Reference must point at the signed element's own ID",
        ));
    }
    let transforms: Vec<&str> = ds(reference, "Transforms")?
        .children()
        .filter(|c| c.is_element())
        .map(|t| {
            if t.children().any(|c| c.is_element()) {
                "" // InclusiveNamespaces and friends are not supported.
            } else {
                algorithm(t)
            }
        })
        .collect();
    if transforms != [ENVELOPED, EXC_C14N] && transforms != [ENVELOPED] {
        return Err(bad(
            "the transforms must be enveloped-signature and exclusive C14N",
        ));
    }
    if algorithm(ds(reference, "DigestMethod")?) != SHA256 {
        return Err(bad("DigestMethod must be SHA-256"));
    }
    let want: String = ds(reference, "DigestValue")?
        .text()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let canonical = canonicalize(xml, root, Some(sig.id()));
    let got = STANDARD.encode(castellan_core::secret::sha256(canonical.as_bytes()));
    if got != want {
        return Err(bad("the digest does not match the signed element"));
    }
    let value: String = ds(sig, "SignatureValue")?
        .text()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let signature = STANDARD
        .decode(value.as_bytes())
        .map_err(|_| bad("SignatureValue is not base64"))?;
    Ok(EnvelopedSignature {
        signed_info: canonicalize(xml, si, None).into_bytes(),
        signature,
    })
}
