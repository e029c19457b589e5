"""Devices and device proof with the real clients: a device registered with `castellan device
register` (its EC P-256 key written 0600), a Conditional Access policy requiring a compliant
device, MSAL Python's ROPC (the device assertion header added by the `http_client` MSAL
accepts) and authorization-code flows (pages over HTTP with the header) answered with
AADSTS53000 until the device is compliant, bad assertions refused, and the sign-in log's
deviceDetail."""
import json
import os
import subprocess
import uuid

import msal
import requests

from browser import Browser, Page, redirect_params, sign_in
from test_conditional_access import policies, user_policy  # noqa: F401 (fixture)

HEADER = "x-castellan-device-assertion"
BIN = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")


def castellan(server, *args):
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)


def register(server, tmp_path, owner_upn, os_name="Windows"):
    key = tmp_path / f"device-{uuid.uuid4().hex[:8]}.pem"
    p = castellan(server, "device", "register", "--name", f"DEV-{uuid.uuid4().hex[:6]}", "--os", os_name,
                  "--trust-type", "AzureAd", "--owner", owner_upn, "--key-out", str(key))
    assert p.returncode == 0, p.stdout + p.stderr
    info = json.loads(p.stdout)
    assert info["isCompliant"] is False
    assert os.stat(key).st_mode & 0o777 == 0o600, oct(os.stat(key).st_mode)
    return info, key


def assertion(server, demo, key, device_id):
    p = castellan(server, "device", "assertion", "--key", str(key), "--device-id", device_id,
                  "--audience", f"{demo['authority']}/v2.0")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


class DeviceSession(requests.Session):
    """The HTTP client handed to MSAL (its documented `http_client` parameter): every token
    request carries the assertion `make()` returns."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def request(self, method, url, *args, **kwargs):
        if "/oauth2/v2.0/token" in url:
            kwargs["headers"] = dict(kwargs.get("headers") or {}, **{HEADER: self.make()})
        return super().request(method, url, *args, **kwargs)


def ropc(demo, upn, pw, make=None):
    kw = {"http_client": DeviceSession(make)} if make else {}
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"],
                                       instance_discovery=False, **kw)
    return app.acquire_token_by_username_password(upn, pw, scopes=["User.Read"])


def test_compliant_device_policy_in_ropc(server, demo, graph, new_user, policies, sign_ins, tmp_path):  # noqa: F811
    upn, pw, uid = new_user()
    p = policies(user_policy("Require compliant device (ROPC)", uid, ["compliantDevice"])).json()
    # No device at all: 53000.
    r = ropc(demo, upn, pw)
    assert "access_token" not in r and 53000 in r.get("error_codes", []), r
    # A registered device that is not compliant: 53000.
    info, key = register(server, tmp_path, upn)
    dev_id, oid = info["deviceId"], info["id"]
    fresh = lambda: assertion(server, demo, key, dev_id)  # noqa: E731
    r = ropc(demo, upn, pw, fresh)
    assert "access_token" not in r and 53000 in r.get("error_codes", []), r
    # The MDM reports compliance (Graph PATCH): a token.
    assert graph.patch(f"/devices/{oid}", {"isCompliant": True}).status_code == 204
    r = ropc(demo, upn, pw, fresh)
    assert "access_token" in r, r
    # Without the device the same user still gets 53000.
    assert 53000 in ropc(demo, upn, pw).get("error_codes", [])
    # A replayed assertion and a garbled one are refused, not treated as "no device".
    once = fresh()
    assert "access_token" in ropc(demo, upn, pw, lambda: once)
    replay = ropc(demo, upn, pw, lambda: once)
    assert 50155 in replay.get("error_codes", []) and "already used" in replay["error_description"], replay
    garbled = ropc(demo, upn, pw, lambda: "not-a-jwt")
    assert 50155 in garbled.get("error_codes", []), garbled
    # The CLI turns compliance off again: 53000.
    c = castellan(server, "device", "set-compliant", oid, "false")
    assert c.returncode == 0, c.stderr
    assert 53000 in ropc(demo, upn, pw, fresh).get("error_codes", [])
    listed = castellan(server, "device", "list")
    assert listed.returncode == 0 and dev_id in listed.stdout, listed.stdout + listed.stderr
    # The sign-in log: the device, its compliance, and the policy's result.
    ok = sign_ins(f"userId eq '{uid}' and status/errorCode eq 0", count=2)
    assert ok and all(rec["deviceDetail"]["deviceId"] == dev_id and rec["deviceDetail"]["isCompliant"] for rec in ok), ok
    assert ok[0]["deviceDetail"]["trustType"] == "AzureAd" and ok[0]["deviceDetail"]["operatingSystem"] == "Windows"
    mine = [a for a in ok[0]["appliedConditionalAccessPolicies"] if a["id"] == p["id"]]
    assert mine and mine[0]["result"] == "success" and mine[0]["enforcedGrantControls"] == ["compliantDevice"], ok[0]
    refused = sign_ins(f"userId eq '{uid}' and status/errorCode eq 53000", count=4)
    with_device = [rec for rec in refused if rec["deviceDetail"]["deviceId"] == dev_id]
    assert with_device and not with_device[0]["deviceDetail"]["isCompliant"], refused
    assert any(rec["deviceDetail"]["deviceId"] == "" for rec in refused), "the sign-in without a device is logged without one"
    failed = [a for a in with_device[0]["appliedConditionalAccessPolicies"] if a["id"] == p["id"]]
    assert failed and failed[0]["result"] == "failure", with_device[0]
    device = graph.get(f"/devices/{oid}").json()
    assert device["approximateLastSignInDateTime"], device
    owners = graph.get(f"/devices/{oid}/registeredOwners").json()["value"]
    assert [o["id"] for o in owners] == [uid]
    # The CLI never overwrites a key file.
    again = castellan(server, "device", "register", "--name", "x", "--os", "Windows", "--key-out", str(key))
    assert again.returncode != 0 and "must not exist" in again.stderr, again.stderr


def test_compliant_device_policy_in_auth_code(server, demo, graph, new_user, policies, sign_ins, tmp_path):  # noqa: F811
    upn, pw, uid = new_user()
    policies(user_policy("Require compliant device (browser)", uid, ["compliantDevice"]))
    info, key = register(server, tmp_path, upn, os_name="MacOS")
    dev_id, oid = info["deviceId"], info["id"]
    cc = demo["confidential_client"]
    app = msal.ConfidentialClientApplication(cc["app_id"], client_credential=cc["secret"], authority=demo["authority"], instance_discovery=False)

    def browser_sign_in():
        flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
        b = Browser(headers_fn=lambda: {HEADER: assertion(server, demo, key, dev_id)})
        params = redirect_params(sign_in(b, flow["auth_uri"], upn, pw))
        return flow, params

    # A registered but non-compliant device: the refusal comes back to the app's redirect.
    flow, params = browser_sign_in()
    assert "AADSTS53000" in params.get("error_description", ""), params
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" not in result and "53000" in result.get("error_description", ""), result
    # Compliant: a code, redeemed by MSAL.
    assert graph.patch(f"/devices/{oid}", {"isCompliant": True}).status_code == 204
    flow, params = browser_sign_in()
    assert "code" in params, params
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    # A garbled assertion is refused at /authorize too (not read as "no device").
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    params = redirect_params(sign_in(Browser(headers_fn=lambda: {HEADER: "not-a-jwt"}), flow["auth_uri"], upn, pw))
    assert "AADSTS50155" in params.get("error_description", ""), params
    # A browser without the device still gets 53000.
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=cc["redirect_uri"])
    params = redirect_params(sign_in(Browser(), flow["auth_uri"], upn, pw))
    assert "AADSTS53000" in params.get("error_description", ""), params
    # The interactive sign-in (at /authorize) carries the device; the code's redemption
    # inherits its decision.
    recs = [r for r in sign_ins(f"userId eq '{uid}' and status/errorCode eq 0", count=2) if r["isInteractive"]]
    assert recs and recs[0]["deviceDetail"]["deviceId"] == dev_id and recs[0]["deviceDetail"]["operatingSystem"] == "MacOS", recs
    assert recs[0]["conditionalAccessStatus"] == "success"
    refused = [r for r in sign_ins(f"userId eq '{uid}' and status/errorCode eq 53000", count=2) if r["deviceDetail"]["deviceId"] == dev_id]
    assert refused and not refused[0]["deviceDetail"]["isCompliant"], refused


def test_a_device_of_another_tenant_is_unknown_here(server, demo, graph, tmp_path):
    """A device registered in the demo tenant cannot prove itself at Fabrikam's token endpoint,
    even with an assertion addressed to Fabrikam: devices are looked up in the sign-in's tenant."""
    fab = demo["second_tenant"]
    # A new multi-tenant app (so the shared demo apps' state in Fabrikam is left alone), given
    # its service principal and the user's consent in Fabrikam through the consent page.
    redirect = "https://localhost:44399/device-test"
    made = graph.post("/applications", {"displayName": f"Device test {uuid.uuid4().hex[:6]}", "signInAudience": "AzureADMultipleOrgs",
                                        "web": {"redirectUris": [redirect]}})
    assert made.status_code == 201, made.text
    app_id = made.json()["appId"]
    secret = graph.post(f"/applications/{made.json()['id']}/addPassword", {"passwordCredential": {"displayName": "t"}}).json()["secretText"]
    app = msal.ConfidentialClientApplication(app_id, client_credential=secret, authority=f"{demo['origin']}/organizations", instance_discovery=False)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect)
    b = Browser()
    r = sign_in(b, flow["auth_uri"], fab["user"]["upn"], fab["user"]["password"])
    assert "Permissions requested" in r.text, r.text[:500]
    r = b.submit(Page(r), flow["auth_uri"], decision="accept")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, redirect_params(r))
    info, key = register(server, tmp_path, demo["user"]["upn"])
    to_fabrikam = lambda: subprocess.run(  # noqa: E731
        [BIN, "device", "assertion", "--key", str(key), "--device-id", info["deviceId"], "--audience", f"{fab['authority']}/v2.0"],
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    fab_app = msal.ConfidentialClientApplication(app_id, client_credential=secret, authority=fab["authority"],
                                                 instance_discovery=False, http_client=DeviceSession(to_fabrikam))
    r = fab_app.acquire_token_by_username_password(fab["user"]["upn"], fab["user"]["password"], scopes=["User.Read"])
    assert "access_token" not in r and 700003 in r.get("error_codes", []), r
    # Without the device the same sign-in works, so the refusal was the device's.
    plain = msal.ConfidentialClientApplication(app_id, client_credential=secret, authority=fab["authority"], instance_discovery=False)
    assert "access_token" in plain.acquire_token_by_username_password(fab["user"]["upn"], fab["user"]["password"], scopes=["User.Read"])
