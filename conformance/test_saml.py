"""SAML 2.0 single sign-on with an independent service provider: pysaml2 (PyPI, pinned), which
checks every signature with the `xmlsec1` command (Debian package `xmlsec1`), reads Castellan's
app federation metadata and drives SP-initiated sign-in over the HTTP-Redirect and HTTP-POST
bindings (the login form completed by the test), signed AuthnRequests, IdP-initiated sign-on,
and single logout. `xmlsec1` also verifies the metadata and response signatures on its own."""
import base64
import datetime
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT

from browser import Browser, Page

XMLSEC = shutil.which("xmlsec1")


@pytest.fixture(scope="module", autouse=True)
def need_xmlsec1():
    # Never skip silently: pysaml2 cannot check a signature without it.
    assert XMLSEC, "xmlsec1 is missing: run scripts/test-deps.sh (apt-get install xmlsec1)"


def sp_keypair(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pysaml2 SP")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    kp, cp = os.path.join(directory, "sp.key"), os.path.join(directory, "sp.crt")
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return kp, cp, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


class Sp:
    """An enterprise application configured for SAML in Castellan, and pysaml2 as its SP."""

    def __init__(self, demo, graph, server, signed_requests=False, extra=None, signing_option="SignResponseAndAssertion"):
        self.demo, self.graph = demo, graph
        self.dir = tempfile.mkdtemp(prefix="castellan-saml-")
        tid = demo["tenant_id"]
        name = f"pysaml2-{uuid.uuid4().hex[:8]}"
        self.entity = f"api://{tid}/{name}"
        self.acs = f"https://{name}.sp.example/acs"
        self.slo = f"https://{name}.sp.example/slo"
        r = graph.post("/applications", {"displayName": name, "identifierUris": [self.entity], "web": {"redirectUris": [self.acs]}})
        assert r.status_code == 201, r.text
        self.app_id = r.json()["appId"]
        r = graph.post("/servicePrincipals", {"appId": self.app_id})
        assert r.status_code == 201, r.text
        self.sp_id = r.json()["id"]
        r = graph.post(f"/servicePrincipals/{self.sp_id}/addTokenSigningCertificate", {"displayName": "CN=pysaml2 test"})
        assert r.status_code == 200, r.text
        self.idp_cert_der = base64.b64decode(r.json()["key"])
        key, cert, cert_b64 = sp_keypair(self.dir)
        patch = {
            "preferredSingleSignOnMode": "saml",
            "logoutUrl": self.slo,
            "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": cert_b64}],
            "samlSingleSignOnSettings": {"relayState": "https://app.example/home", "castellanRequireSignedRequests": signed_requests,
                                         "castellanSigningOption": signing_option},
        }
        patch.update(extra or {})
        r = graph.patch(f"/servicePrincipals/{self.sp_id}", patch)
        assert r.status_code == 204, r.text
        self.origin = server.origin
        self.metadata_url = f"{server.origin}/{tid}/federationmetadata/2007-06/federationmetadata.xml?appid={self.app_id}"
        md = requests.get(self.metadata_url)
        assert md.status_code == 200, md.text
        self.metadata = md.text
        mdpath = os.path.join(self.dir, "idp.xml")
        with open(mdpath, "w") as f:
            f.write(md.text)
        self.idp_entity = f"https://sts.windows.net/{tid}/"
        conf = {
            "entityid": self.entity,
            "xmlsec_binary": XMLSEC,
            "metadata": {"local": [mdpath]},
            "key_file": key,
            "cert_file": cert,
            "allow_unknown_attributes": True,
            "service": {"sp": {
                "endpoints": {
                    "assertion_consumer_service": [(self.acs, BINDING_HTTP_POST)],
                    "single_logout_service": [(self.slo, BINDING_HTTP_REDIRECT)],
                },
                "allow_unsolicited": True,
                "authn_requests_signed": signed_requests,
                "logout_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": signing_option != "SignAssertion",
                "signing_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            }},
        }
        self.client = Saml2Client(config=SPConfig().load(conf))


def posted_response(r, acs):
    page = Page(r)
    assert r.status_code == 200 and page.forms and page.form["action"] == acs, r.text[:2000]
    return page.form["fields"]["SAMLResponse"], page.form["fields"].get("RelayState")


def login(b, r, upn, pw, base):
    page = Page(r)
    assert "password" in page.form["fields"] or "Sign in" in page.text, r.text[:2000]
    return b.submit(page, base, username=upn, password=pw)


def xmlsec_verify(xml, cert_der):
    with tempfile.TemporaryDirectory() as d:
        doc, cert = os.path.join(d, "doc.xml"), os.path.join(d, "cert.der")
        with open(doc, "w") as f:
            f.write(xml)
        with open(cert, "wb") as f:
            f.write(cert_der)
        p = subprocess.run([XMLSEC, "--verify", "--pubkey-cert-der", cert,
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", doc],
                           capture_output=True, text=True)
        return p.returncode == 0, p.stderr


def test_metadata_is_signed_and_verified_by_xmlsec1(demo, graph, server):
    sp = Sp(demo, graph, server)
    ok, err = xmlsec_verify(sp.metadata, sp.idp_cert_der)
    assert ok, err
    tampered = sp.metadata.replace("/saml2\"", "/evil\"", 1)
    assert not xmlsec_verify(tampered, sp.idp_cert_der)[0]


def test_sp_initiated_redirect_binding_with_pysaml2(demo, graph, server, new_user):
    sp = Sp(demo, graph, server)
    upn, pw, uid = new_user()
    req_id, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, relay_state="rs-1", binding=BINDING_HTTP_REDIRECT)
    url = dict(info["headers"])["Location"]
    assert url.startswith(f"{server.origin}/{demo['tenant_id']}/saml2?SAMLRequest="), url
    b = Browser()
    r = login(b, b.open(url), upn, pw, url)
    saml_response, relay = posted_response(r, sp.acs)
    assert relay == "rs-1"
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    assert resp is not None and resp.in_response_to == req_id
    assert resp.name_id.text == upn
    ava = resp.get_identity()
    assert ava["http://schemas.microsoft.com/identity/claims/objectidentifier"] == [uid]
    assert ava["http://schemas.microsoft.com/identity/claims/tenantid"] == [demo["tenant_id"]]
    name = ava.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name") or ava.get("name")
    assert name == [upn], sorted(ava)
    # xmlsec1 on its own agrees with pysaml2 about the response signature.
    xml = base64.b64decode(saml_response).decode()
    ok, err = xmlsec_verify(xml, sp.idp_cert_der)
    assert ok, err
    # The same response is not accepted twice by the SP (its InResponseTo is spent), and
    # Castellan refuses the same AuthnRequest again.
    r2 = Browser().open(url)
    assert "AADSTS75005" in r2.text, r2.text[:1000]


def test_sp_initiated_post_binding_with_persistent_name_id(demo, graph, server, new_user):
    sp = Sp(demo, graph, server)
    upn, pw, _ = new_user()
    dest = f"{server.origin}/{demo['tenant_id']}/saml2"
    req_id, req = sp.client.create_authn_request(dest, binding=BINDING_HTTP_POST, nameid_format=NAMEID_FORMAT_PERSISTENT)
    b = Browser()
    r = b.s.post(dest, data={"SAMLRequest": base64.b64encode(str(req).encode()).decode(), "RelayState": "post-rs"}, allow_redirects=False)
    r = login(b, r, upn, pw, dest)
    saml_response, relay = posted_response(r, sp.acs)
    assert relay == "post-rs"
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert resp.name_id.text != upn and len(resp.name_id.text) == 40
    # The browser's SSO session answers a second request with the same pairwise NameID.
    req_id2, req2 = sp.client.create_authn_request(dest, binding=BINDING_HTTP_POST, nameid_format=NAMEID_FORMAT_PERSISTENT)
    r = b.s.post(dest, data={"SAMLRequest": base64.b64encode(str(req2).encode()).decode()}, allow_redirects=False)
    saml_response, _ = posted_response(r, sp.acs)
    resp2 = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id2: "/"})
    assert resp2.name_id.text == resp.name_id.text


def test_signed_authn_requests_required_and_accepted_from_pysaml2(demo, graph, server, new_user):
    sp = Sp(demo, graph, server, signed_requests=True)
    upn, pw, _ = new_user()
    # pysaml2 signs the Redirect query string with its key, registered as the app's
    # verification certificate.
    req_id, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, binding=BINDING_HTTP_REDIRECT, sign=True,
                                                      sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    url = dict(info["headers"])["Location"]
    assert "Signature=" in url
    b = Browser()
    r = login(b, b.open(url), upn, pw, url)
    saml_response, _ = posted_response(r, sp.acs)
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    assert resp.name_id.text == upn
    # Unsigned: refused with AADSTS76021.
    _, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, binding=BINDING_HTTP_REDIRECT, sign=False)
    r = Browser().open(dict(info["headers"])["Location"])
    assert "AADSTS76021" in r.text, r.text[:1000]


def test_idp_initiated_sign_on_is_accepted_by_pysaml2(demo, graph, server, new_user):
    sp = Sp(demo, graph, server)
    upn, pw, _ = new_user()
    url = f"{server.origin}/{demo['tenant_id']}/saml2?appid={sp.app_id}"
    b = Browser()
    r = login(b, b.open(url), upn, pw, url)
    saml_response, relay = posted_response(r, sp.acs)
    assert relay == "https://app.example/home"
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST)
    assert resp.name_id.text == upn


def test_single_logout_from_pysaml2(demo, graph, server, new_user):
    sp = Sp(demo, graph, server)
    upn, pw, _ = new_user()
    req_id, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, binding=BINDING_HTTP_REDIRECT)
    url = dict(info["headers"])["Location"]
    b = Browser()
    r = login(b, b.open(url), upn, pw, url)
    saml_response, _ = posted_response(r, sp.acs)
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    # pysaml2 sends a signed LogoutRequest by the Redirect binding.
    out = sp.client.global_logout(resp.name_id, reason="test", sign=True,
                                  sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    (binding, http_info), = out.values()
    assert binding == BINDING_HTTP_REDIRECT
    logout_url = dict(http_info["headers"])["Location"]
    r = b.open(logout_url)
    assert r.status_code == 302, r.text[:1000]
    back = r.headers["Location"]
    assert back.startswith(sp.slo + "?SAMLResponse="), back
    from urllib.parse import urlparse, parse_qs
    q = parse_qs(urlparse(back).query)
    lr = sp.client.parse_logout_request_response(q["SAMLResponse"][0], BINDING_HTTP_REDIRECT)
    assert lr.status_ok() and lr.response.in_response_to
    # The session is over: the next sign-in asks for the password again.
    req_id, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, binding=BINDING_HTTP_REDIRECT)
    r = b.open(dict(info["headers"])["Location"])
    assert "password" in Page(r).form["fields"] or "Sign in" in Page(r).text


def test_signed_post_binding_request_from_pysaml2_is_verified_by_castellans_c14n(demo, graph, server, new_user):
    # pysaml2 signs the AuthnRequest XML itself (xmlsec1, enveloped signature, exclusive C14N):
    # Castellan canonicalises and checks it on its own.
    sp = Sp(demo, graph, server, signed_requests=True)
    upn, pw, _ = new_user()
    dest = f"{server.origin}/{demo['tenant_id']}/saml2"
    req_id, req = sp.client.create_authn_request(dest, binding=BINDING_HTTP_POST, sign=True,
                                                 sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                                                 digest_alg="http://www.w3.org/2001/04/xmlenc#sha256")
    signed = str(req)
    assert "Signature" in signed
    b = Browser()
    r = b.s.post(dest, data={"SAMLRequest": base64.b64encode(signed.encode()).decode()}, allow_redirects=False)
    r = login(b, r, upn, pw, dest)
    saml_response, _ = posted_response(r, sp.acs)
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    assert resp.name_id.text == upn
    # The same signed request with its ACS URL changed after signing is refused.
    req_id, req = sp.client.create_authn_request(dest, binding=BINDING_HTTP_POST, sign=True,
                                                 sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                                                 digest_alg="http://www.w3.org/2001/04/xmlenc#sha256")
    tampered = str(req).replace("ForceAuthn", "IsPassive") if "ForceAuthn" in str(req) else str(req).replace(f'ID="{req_id}"', f'ID="{req_id}" ForceAuthn="true"')
    r = Browser().s.post(dest, data={"SAMLRequest": base64.b64encode(tampered.encode()).decode()}, allow_redirects=False)
    assert "AADSTS76021" in r.text, r.text[:1000]


def test_entras_default_signs_the_assertion_only_and_pysaml2_accepts_it(demo, graph, server, new_user):
    sp = Sp(demo, graph, server, signing_option="SignAssertion")
    upn, pw, _ = new_user()
    req_id, info = sp.client.prepare_for_authenticate(entityid=sp.idp_entity, binding=BINDING_HTTP_REDIRECT)
    url = dict(info["headers"])["Location"]
    b = Browser()
    saml_response, _ = posted_response(login(b, b.open(url), upn, pw, url), sp.acs)
    xml = base64.b64decode(saml_response).decode()
    assert xml.count("<Signature xmlns") == 1 and xml.index("<Signature xmlns") > xml.index("<Assertion ")
    resp = sp.client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={req_id: "/"})
    assert resp.name_id.text == upn
    # A tampered assertion is refused by pysaml2 (xmlsec1 underneath).
    bad = base64.b64encode(xml.replace(upn, "admin@evil.example").encode()).decode()
    with pytest.raises(Exception):
        sp.client.parse_authn_request_response(bad, BINDING_HTTP_POST, outstanding={req_id: "/"})
