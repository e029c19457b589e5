"""Device code flow through MSAL Python, with the person's side (/devicelogin) completed in a
second thread over plain HTTP."""
import threading
import time

import msal
import pytest

from browser import Browser, Page


def complete_on_device_page(demo, user_code, upn, password, decline=False, delay=1.0):
    time.sleep(delay)
    b = Browser()
    r = b.open(f"{demo['origin']}/devicelogin")
    assert r.status_code == 200
    r = b.submit(Page(r), demo["origin"] + "/devicelogin", code=user_code.lower())
    page = Page(r)
    assert "password" in page.form["fields"], r.text[:1000]
    if decline:
        return b.submit(page, demo["origin"] + "/devicelogin", decline="1", username=None, password=None)
    return b.submit(page, demo["origin"] + "/devicelogin", username=upn, password=password)


def test_device_flow_signs_in_through_the_device_login_page(demo, sign_ins):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert "user_code" in flow, flow
    assert flow["verification_uri"] == f"{demo['origin']}/devicelogin" and flow["interval"] == 5
    assert flow["user_code"] in flow["message"]
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", complete_on_device_page(demo, flow["user_code"], demo["user"]["upn"], demo["user"]["password"])))
    t.start()
    result = app.acquire_token_by_device_flow(flow)
    t.join()
    assert "You have signed in to" in out["r"].text
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == demo["user"]["upn"]
    # The code is single-use: a second redemption is refused.
    flow["expires_at"] = time.time() + 30
    again = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert again.get("error") in ("invalid_grant", "authorization_pending") and again.get("error") != "authorization_pending", again


def test_declined_device_flow_is_authorization_declined(demo):
    app = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"], instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", complete_on_device_page(demo, flow["user_code"], None, None, decline=True)))
    t.start()
    result = app.acquire_token_by_device_flow(flow)
    t.join()
    assert result.get("error") == "authorization_declined", result


def test_polling_errors_pending_slow_down_and_bad_code(demo):
    import requests
    cid = demo["public_client"]["app_id"]
    start = requests.post(f"{demo['authority']}/oauth2/v2.0/devicecode", data={"client_id": cid, "scope": "User.Read"}).json()
    poll = lambda code: requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={"client_id": cid, "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": code}).json()
    first = poll(start["device_code"])
    assert first["error"] == "authorization_pending" and 70016 in first["error_codes"]
    assert poll(start["device_code"])["error"] == "slow_down"
    bad = poll("not-a-device-code")
    assert bad["error"] == "bad_verification_code" and 70018 in bad["error_codes"]


def test_unknown_user_code_on_the_page(demo):
    b = Browser()
    r = b.open(f"{demo['origin']}/devicelogin")
    r = b.submit(Page(r), demo["origin"] + "/devicelogin", code="ZZZZZZZZZ")
    assert "AADSTS90119" in " ".join(Page(r).errors)


def test_confidential_only_app_cannot_start_a_device_flow(demo):
    import requests
    r = requests.post(f"{demo['authority']}/oauth2/v2.0/devicecode", data={"client_id": demo["confidential_client"]["app_id"], "scope": "User.Read"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
