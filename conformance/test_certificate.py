"""Certificate client credentials: a certificate uploaded through Graph (keyCredentials), then
MSAL Python signing client assertions with it — RS256 + x5t (SHA-1 thumbprint) and PS256 +
x5t#S256 (from the public certificate) — for client credentials and auth code redemption.
Forged, expired, mis-addressed and jti-reusing assertions are refused."""
import base64
import datetime
import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def make_cert(cn="castellan-conformance"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    der = cert.public_bytes(serialization.Encoding.DER)
    return pem_key, pem_cert, der, cert.fingerprint(hashes.SHA1()).hex()


@pytest.fixture(scope="module")
def cert_app(demo, graph):
    """A new confidential app with a certificate and the demo app's redirect, plus its SP."""
    pem_key, pem_cert, der, sha1 = make_cert()
    r = graph.post("/applications", {"displayName": "Conformance cert app", "web": {"redirectUris": ["https://localhost:44399/cb"]}})
    assert r.status_code == 201, r.text
    app = r.json()
    bad = graph.patch(f"/applications/{app['id']}", {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(b"not a certificate").decode()}]})
    assert bad.status_code == 400 and "X.509" in bad.json()["error"]["message"]
    ok = graph.patch(f"/applications/{app['id']}", {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode(), "displayName": "CN=castellan-conformance"}]})
    assert ok.status_code == 204, ok.text
    got = graph.get(f"/applications/{app['id']}").json()["keyCredentials"]
    assert len(got) == 1 and base64.b64decode(got[0]["customKeyIdentifier"]).hex() == sha1 and got[0]["key"] is None
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    assert sp.status_code == 201, sp.text
    return {"app_id": app["appId"], "key": pem_key, "cert": pem_cert, "sha1": sha1}


def cca(demo, cert_app, credential):
    return msal.ConfidentialClientApplication(cert_app["app_id"], client_credential=credential, authority=demo["authority"], instance_discovery=False)


def test_rs256_x5t_assertion_gets_an_app_token(demo, cert_app):
    app = cca(demo, cert_app, {"private_key": cert_app["key"], "thumbprint": cert_app["sha1"]})
    r = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in r, r.get("error_description")
    claims = jwt.decode(r["access_token"], options={"verify_signature": False})
    # A Graph token, so v1 (as from Entra): the client is appid; a certificate is appidacr 2.
    assert claims["appid"] == cert_app["app_id"] and claims["appidacr"] == "2" and claims["ver"] == "1.0"


def test_ps256_x5t_s256_assertion_and_reuse_of_the_same_assertion(demo, cert_app):
    app = cca(demo, cert_app, {"private_key": cert_app["key"], "public_certificate": cert_app["cert"]})
    r1 = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in r1, r1.get("error_description")
    # MSAL reuses its cached assertion for the next request (as Entra allows).
    r2 = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"], claims_challenge='{"access_token":{"xms_cc":{"values":["cp1"]}}}')
    assert "access_token" in r2, r2


def signed(cert_app, demo, **over):
    now = int(time.time())
    claims = {"aud": f"{demo['authority']}/oauth2/v2.0/token", "iss": cert_app["app_id"], "sub": cert_app["app_id"],
              "jti": str(uuid.uuid4()), "nbf": now, "exp": now + 600, "iat": now}
    claims.update(over.pop("claims", {}))
    x5t = base64.urlsafe_b64encode(bytes.fromhex(cert_app["sha1"])).decode().rstrip("=")
    key = over.pop("key", cert_app["key"])
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t})


def post(demo, cert_app, assertion):
    return requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": cert_app["app_id"], "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion})


def test_bad_assertions_are_refused(demo, cert_app):
    other_key, _, _, _ = make_cert("attacker")
    cases = {
        "forged signature": (signed(cert_app, demo, key=other_key), 700027),
        "expired": (signed(cert_app, demo, claims={"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 4000}), 700024),
        "wrong audience": (signed(cert_app, demo, claims={"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"}), 700027),
        "sub differs": (signed(cert_app, demo, claims={"sub": "someone-else"}), 50048),
        "too long-lived": (signed(cert_app, demo, claims={"exp": int(time.time()) + 7200}), 700024),
    }
    for name, (assertion, code) in cases.items():
        r = post(demo, cert_app, assertion)
        assert r.status_code == 401 and code in r.json()["error_codes"], (name, r.text)
    good = signed(cert_app, demo)
    assert post(demo, cert_app, good).status_code == 200
    # The same jti in a different assertion is refused.
    jti = jwt.decode(good, options={"verify_signature": False})["jti"]
    r = post(demo, cert_app, signed(cert_app, demo, claims={"jti": jti, "exp": int(time.time()) + 500}))
    assert r.status_code == 401 and "jti" in r.json()["error_description"], r.text
