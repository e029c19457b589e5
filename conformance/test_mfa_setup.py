"""Authenticator-app registration at /{tenant}/mfa/setup, driven over plain HTTP like a browser
without JavaScript: sign in through the real pages (SSO session), open the setup page, read the
secret from the otpauth URI on it, compute the TOTP with the standard library (RFC 6238), confirm,
see the recovery codes once, and find the method through Graph. A wrong code is refused with an
alert; submitting the confirming code again is refused."""
import base64
import hashlib
import hmac
import re
import struct
import time
from html import unescape
from urllib.parse import parse_qs, urlparse

import msal
import requests

from browser import Browser, Page, sign_in


def totp(secret_b32, at=None, digits=6, period=30):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // period)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(n % 10**digits).zfill(digits)


def test_totp_matches_rfc6238_vector():
    # RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode().rstrip("=")
    assert totp(secret, at=59, digits=8) == "94287082"


def app_token_with(demo, graph, permission):
    """An app-only Graph token of a new app holding one Graph application permission."""
    app = graph.post("/applications", {"displayName": f"mfa-reader-{time.time_ns()}"}).json()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", {}).json()["secretText"]
    ms = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    role = next(r for r in ms["appRoles"] if r["value"] == permission)
    r = graph.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", {"principalId": sp["id"], "resourceId": ms["id"], "appRoleId": role["id"]})
    assert r.status_code == 201, r.text
    cca = msal.ConfidentialClientApplication(app["appId"], client_credential=secret, authority=demo["authority"], instance_discovery=False)
    t = cca.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in t, t
    return t["access_token"]


def test_register_authenticator_app_and_see_it_in_graph(demo, graph, new_user):
    upn, pw, uid = new_user()
    setup_url = f"{demo['authority']}/mfa/setup"

    # Without a session the page says so (no registration for anonymous visitors).
    anon = requests.get(setup_url, allow_redirects=False)
    assert anon.status_code == 401 and 'role="alert"' in anon.text, anon.text[:1000]

    # Sign in through the real pages: the SSO cookie is set for the tenant.
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    b = Browser()
    r = sign_in(b, flow["auth_uri"], upn, pw)
    assert r.status_code in (200, 302), r.text[:1500]

    # The setup page: inline-SVG QR code, no script, a strict CSP, labelled code field.
    r = b.open(setup_url)
    assert r.status_code == 200, r.text[:2000]
    assert "<script" not in r.text and "<svg" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert '<label for="code">' in r.text
    uri = unescape(re.search(r'id="otpauth" href="([^"]+)"', r.text).group(1))
    u = urlparse(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp"
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    assert q["algorithm"] == "SHA1" and q["digits"] == "6" and q["period"] == "30"
    secret = q["secret"]
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) >= 20
    page = Page(r)

    # A wrong code: the same registration is shown again with an alert.
    good = totp(secret)
    wrong = "000000" if good != "000000" else "111111"
    r = b.submit(page, setup_url, code=wrong)
    assert r.status_code == 200 and 'role="alert"' in r.text, r.text[:2000]
    assert secret in r.text
    page = Page(r)

    # The right code: registered; recovery codes shown once.
    r = b.submit(page, setup_url, code=totp(secret))
    assert r.status_code == 200, r.text[:2000]
    codes = re.findall(r"<li><code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code></li>", r.text)
    assert len(codes) == 10 and len(set(codes)) == 10, r.text[:2000]

    # Submitting the confirming code again is refused: the registration is no longer pending.
    again = b.submit(page, setup_url, code=totp(secret))
    assert again.status_code == 400 and 'role="alert"' in again.text, again.text[:2000]
    assert not re.findall(r'id="recovery-codes"', again.text)

    # With an app registered, the session alone cannot add another (that needs a verified sign-in).
    more = b.open(setup_url)
    assert more.status_code == 403 and 'role="alert"' in more.text and "already" in more.text, more.text[:2000]

    # Graph shows the method (never its secret) next to the password.
    reader = requests.Session()
    reader.headers["Authorization"] = f"Bearer {app_token_with(demo, graph, 'UserAuthenticationMethod.Read.All')}"
    m = reader.get(f"{demo['graph_url']}/users/{uid}/authentication/methods")
    assert m.status_code == 200, m.text
    types = sorted(x["@odata.type"] for x in m.json()["value"])
    assert types == ["#microsoft.graph.passwordAuthenticationMethod", "#microsoft.graph.softwareOathAuthenticationMethod"], m.text
    oath = reader.get(f"{demo['graph_url']}/users/{uid}/authentication/softwareOathMethods").json()["value"]
    assert len(oath) == 1 and oath[0]["secretKey"] is None and secret not in m.text

    # The registration is audited.
    audits = graph.get("/auditLogs/directoryAudits", params={"$top": "999"}).json()["value"]
    activities = {a["activityDisplayName"] for a in audits if uid in str(a)}
    assert {"User started security info registration", "User registered security info"} <= activities, activities

    # Reading is not deleting; an app with ReadWrite.All deletes.
    mid = oath[0]["id"]
    d = reader.delete(f"{demo['graph_url']}/users/{uid}/authentication/softwareOathMethods/{mid}")
    assert d.status_code == 403, d.text
    writer = {"Authorization": f"Bearer {app_token_with(demo, graph, 'UserAuthenticationMethod.ReadWrite.All')}"}
    d = requests.delete(f"{demo['graph_url']}/users/{uid}/authentication/softwareOathMethods/{mid}", headers=writer)
    assert d.status_code == 204, d.text
    left = reader.get(f"{demo['graph_url']}/users/{uid}/authentication/softwareOathMethods").json()["value"]
    assert left == []


def test_cli_resets_mfa_attempts_after_a_lockout(server, demo, graph, new_user):
    """Five wrong confirmation codes lock the user's second factor (AADSTS50053, 429 with
    Retry-After, even for the right code); `castellan user reset-mfa-attempts` run with a client
    holding UserAuthenticationMethod.ReadWrite.All lifts it, and the right code then confirms."""
    import os
    import subprocess
    upn, pw, uid = new_user()
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    b = Browser()
    sign_in(b, flow["auth_uri"], upn, pw)
    setup_url = f"{demo['authority']}/mfa/setup"
    r = b.open(setup_url)
    uri = unescape(re.search(r'id="otpauth" href="([^"]+)"', r.text).group(1))
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    page = Page(r)
    wrong = "000000" if totp(secret) != "000000" else "111111"
    for _ in range(5):
        r = b.submit(page, setup_url, code=wrong)
        assert r.status_code == 200 and 'role="alert"' in r.text, r.text[:1000]
        page = Page(r)
    locked = b.submit(page, setup_url, code=totp(secret))
    assert locked.status_code == 429 and "AADSTS50053" in locked.text, locked.text[:1000]
    assert int(locked.headers["Retry-After"]) >= 1

    # An administrator's client (app-only, UserAuthenticationMethod.ReadWrite.All) resets it.
    reg = graph.post("/applications", {"displayName": f"mfa-reset-{time.time_ns()}"}).json()
    sp = graph.post("/servicePrincipals", {"appId": reg["appId"]}).json()
    app_secret = graph.post(f"/applications/{reg['id']}/addPassword", {}).json()["secretText"]
    ms = graph.get("/servicePrincipals", params={"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    role = next(x for x in ms["appRoles"] if x["value"] == "UserAuthenticationMethod.ReadWrite.All")
    a = graph.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", {"principalId": sp["id"], "resourceId": ms["id"], "appRoleId": role["id"]})
    assert a.status_code == 201, a.text
    binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"),
               CASTELLAN_CLIENT_ID=reg["appId"], CASTELLAN_CLIENT_SECRET=app_secret)
    p = subprocess.run([binary, "user", "reset-mfa-attempts", upn], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "reset the MFA attempts" in p.stdout, p.stdout + p.stderr

    ok = b.submit(Page(locked), setup_url, code=totp(secret))
    assert ok.status_code == 200 and "recovery" in ok.text, ok.text[:1000]
    audits = graph.get("/auditLogs/directoryAudits", params={"$top": "999"}).json()["value"]
    assert any(x["activityDisplayName"] == "Reset MFA attempts" and uid in str(x) for x in audits)
