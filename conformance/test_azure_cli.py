"""The real Azure CLI (azure-cli from PyPI, pinned in requirements-azcli.txt, its own venv) against
`castellan serve --demo`, configured exactly as the README's "Use it with the Azure CLI and the
SDKs" says: trust the CA with REQUESTS_CA_BUNDLE, turn MSAL's instance discovery off, register
the cloud with one flag (`--endpoint-resource-manager <origin>`, the rest comes from
`/metadata/endpoints`), `az cloud set`, then `az login`.

Each test gets its own AZURE_CONFIG_DIR. The test marked xfail(strict=True) is a known limit,
explained in its reason (and in the README)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests

from browser import Browser, Page, sign_in

AZ = os.environ.get("CASTELLAN_AZ") or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venv-az", "bin", "az")



class Az:
    """`az` in a config dir of its own, trusting the server's CA."""

    def __init__(self, demo):
        self.demo = demo
        self.dir = tempfile.mkdtemp(prefix="castellan-az-")
        self.env = dict(os.environ, AZURE_CONFIG_DIR=self.dir, REQUESTS_CA_BUNDLE=demo["ca_file"],
                        AZURE_CORE_COLLECT_TELEMETRY="0", AZURE_CORE_NO_COLOR="1", AZURE_CORE_ONLY_SHOW_ERRORS="1")
        # The CLI's interactive login opens a browser through Python's webbrowser module, which
        # honours $BROWSER: this script writes the URL to a file for the test to sign in with.
        self.url_file = os.path.join(self.dir, "browser-url.txt")
        script = os.path.join(self.dir, "browser.py")
        with open(script, "w") as f:
            f.write(f"import sys\nopen({self.url_file!r}, 'w').write(sys.argv[1])\n")
        self.env["BROWSER"] = f"{sys.executable} {script} %s"

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run([AZ, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"az {' '.join(args)} exited {p.returncode}:\n{p.stderr[-3000:]}\n{p.stdout[-2000:]}"
        return p

    def json(self, *args, **kw):
        p = self.run(*args, "-o", "json", **kw)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def register(self):
        self.run("config", "set", "core.instance_discovery=false")
        self.run("cloud", "register", "-n", "Castellan", "--endpoint-resource-manager", self.demo["origin"])
        self.run("cloud", "set", "-n", "Castellan")

    def login_sp(self, app_id=None, secret=None, tenant=None):
        c = self.demo["confidential_client"]
        return self.json("login", "--service-principal", "-u", app_id or c["app_id"],
                         f"--password={secret or c['secret']}", "--tenant", tenant or self.demo["tenant_id"])

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def az(demo):
    # Never skipped: a missing Azure CLI fails loudly (conformance/run.sh installs it).
    assert os.path.exists(AZ), f"the Azure CLI is not at {AZ}: run the suite with conformance/run.sh, which installs it"
    a = Az(demo)
    a.register()
    yield a
    a.close()


@pytest.fixture
def az_sp(az):
    az.login_sp()
    return az


def test_cloud_register_with_one_flag_reads_metadata_endpoints(az, demo):
    cloud = az.json("cloud", "show", "-n", "Castellan")
    e = cloud["endpoints"]
    assert e["activeDirectory"] == demo["origin"]
    assert e["microsoftGraphResourceId"] == demo["graph_resource"]
    assert e["activeDirectoryResourceId"] == "https://management.core.windows.net/"
    assert e["resourceManager"].rstrip("/") == demo["origin"]
    assert cloud["isActive"] is True


def test_service_principal_login_and_tokens_for_arm_and_graph(az_sp, demo):
    account = az_sp.json("account", "show")
    assert account["tenantId"] == demo["tenant_id"]
    assert account["user"] == {"name": demo["confidential_client"]["app_id"], "type": "servicePrincipal"}
    graph = az_sp.json("account", "get-access-token", "--resource-type", "ms-graph")
    arm = az_sp.json("account", "get-access-token")
    import jwt
    g = jwt.decode(graph["accessToken"], options={"verify_signature": False})
    a = jwt.decode(arm["accessToken"], options={"verify_signature": False})
    # v1 tokens, as Entra issues for Microsoft's resources: aud is the resource as the CLI
    # asked for it (its ARM resource keeps the trailing slash), issuer {authority}/, appid.
    assert g["aud"] == "https://graph.microsoft.com" and g["ver"] == "1.0"
    assert a["aud"] == "https://management.core.windows.net/" and a["ver"] == "1.0"
    assert a["iss"] == f"{demo['authority']}/" and a["appid"] == demo["confidential_client"]["app_id"]
    assert "Directory.ReadWrite.All" in g["roles"]
    # The Graph token works against the Graph base the cloud announces.
    me = requests.get(f"{demo['graph_url']}/users?$top=1", headers={"Authorization": f"Bearer {graph['accessToken']}"})
    assert me.status_code == 200, me.text


def test_az_rest_against_graph_with_its_resource(az_sp, demo):
    users = az_sp.json("rest", "--method", "get", "--url", f"{demo['graph_url']}/users?$top=2",
                       "--resource", demo["graph_resource"])
    assert len(users["value"]) == 2
    me = az_sp.json("rest", "--method", "get", "--url", f"{demo['graph_url']}/organization",
                    "--resource", demo["graph_resource"])
    assert me["value"][0]["id"] == demo["tenant_id"]


def test_az_rest_against_graph_without_resource(az_sp, demo):
    """az rest picks the token resource by URL prefix (ARM's endpoint first, then the cloud's
    other endpoints): Graph on its own port (`--graph-port`, announced by /metadata/endpoints)
    is not under ARM's prefix, so the CLI asks for a Graph token."""
    assert not demo["graph_url"].startswith(demo["origin"] + "/"), demo["graph_url"]
    page = az_sp.json("rest", "--method", "get", "--url", f"{demo['graph_url']}/users?$top=1")
    assert page["value"] and "userPrincipalName" in page["value"][0], page


def test_az_rest_against_arm(az_sp, demo):
    sub = az_sp.json("rest", "--method", "get", "--url",
                     f"{demo['origin']}/subscriptions/{demo['subscription_id']}?api-version=2022-12-01")
    assert sub["subscriptionId"] == demo["subscription_id"]


def test_ad_user_create_list_show(az_sp, demo):
    alias = f"azcli{uuid.uuid4().hex[:8]}"
    upn = f"{alias}@{demo['domain']}"
    created = az_sp.json("ad", "user", "create", "--display-name", f"Az CLI {alias}", "--user-principal-name", upn,
                         "--password=Az-Cli-Passw0rd!1", "--force-change-password-next-sign-in", "false")
    assert created["userPrincipalName"] == upn
    shown = az_sp.json("ad", "user", "show", "--id", upn)
    assert shown["id"] == created["id"]
    listed = az_sp.json("ad", "user", "list", "--filter", f"userPrincipalName eq '{upn}'")
    assert [u["id"] for u in listed] == [created["id"]]
    az_sp.run("ad", "user", "delete", "--id", created["id"])


def _device_login(az, demo, upn, password, extra=()):
    """`az login --use-device-code`, the device page completed by the test in a second thread."""
    p = subprocess.Popen([AZ, "login", "--use-device-code", "--tenant", demo["tenant_id"], "-o", "json", *extra],
                         env=az.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code = None
    deadline = time.time() + 60
    stderr = []
    while time.time() < deadline and code is None:
        line = p.stderr.readline()
        if not line:
            break
        stderr.append(line)
        m = re.search(r"enter the code (\S+)", line)
        if m:
            code = m.group(1)
            assert f"{demo['origin']}/devicelogin" in line, line
    assert code, "".join(stderr)
    b = Browser()
    r = b.open(f"{demo['origin']}/devicelogin")
    r = b.submit(Page(r), demo["origin"] + "/devicelogin", code=code)
    page = Page(r)
    assert "Microsoft Azure CLI" in r.text, r.text[:2000]
    r = b.submit(page, demo["origin"] + "/devicelogin", username=upn, password=password)
    assert "You have signed in to" in r.text, r.text[:2000]
    out, err = p.communicate(timeout=90)
    assert p.returncode == 0, "".join(stderr) + err
    return json.loads(out)


def test_device_code_login_as_a_user(az, demo):
    accounts = _device_login(az, demo, demo["user"]["upn"], demo["user"]["password"], extra=("--allow-no-subscriptions",))
    assert accounts[0]["tenantId"] == demo["tenant_id"]
    assert accounts[0]["user"] == {"name": demo["user"]["upn"], "type": "user"}
    graph = az.json("account", "get-access-token", "--resource-type", "ms-graph")
    import jwt
    claims = jwt.decode(graph["accessToken"], options={"verify_signature": False})
    assert claims["appid"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46" and claims["ver"] == "1.0"
    assert claims["upn"] == claims["unique_name"] == demo["user"]["upn"]
    me = az.json("ad", "signed-in-user", "show")
    assert me["userPrincipalName"] == demo["user"]["upn"]
    # ARM for the user: a token for the CLI's ARM resource.
    arm = az.json("account", "get-access-token")
    assert arm["tenant"] == demo["tenant_id"]


def test_browser_login_through_the_loopback_redirect(az, demo):
    """`az login` (interactive): MSAL listens on http://localhost:<port>, the sign-in page
    redirects there with the code."""
    p = subprocess.Popen([AZ, "login", "--tenant", demo["tenant_id"], "--allow-no-subscriptions", "-o", "json"],
                         env=az.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not os.path.exists(az.url_file) and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert os.path.exists(az.url_file), p.stderr.read() if p.poll() is not None else "no browser opened"
    time.sleep(0.2)
    auth_uri = open(az.url_file).read().strip()
    assert auth_uri.startswith(f"{demo['origin']}/{demo['tenant_id']}/oauth2/v2.0/authorize?"), auth_uri
    r = sign_in(Browser(), auth_uri, demo["user"]["upn"], demo["user"]["password"])
    # MSAL asks for response_mode=form_post: the page posts the code to the loopback listener.
    assert r.status_code == 200, r.text[:2000]
    form = Page(r).form
    assert form["action"].startswith("http://localhost:"), form
    done = requests.post(form["action"], data=dict(form["fields"]), timeout=30, proxies={"http": None, "https": None})
    assert done.status_code == 200
    out, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    assert json.loads(out)[0]["user"]["name"] == demo["user"]["upn"]


def test_code_flow_as_the_azure_cli_for_the_graph_base_and_a_slash_redirect(demo):
    """What `az login` does, through MSAL Python directly: the CLI's client id, a loopback
    redirect on any port, Graph named by its base URL (`{graph_resource}/.default`), no consent
    page; the code is redeemed with `http://localhost:PORT/` although the authorize request said
    `http://localhost:PORT` (the same URL by RFC 3986, as openid-client sends it)."""
    import msal
    from browser import redirect_params
    app = msal.PublicClientApplication("04b07795-8ddb-461a-bbee-02f9e1bf7b46", authority=demo["authority"],
                                       instance_discovery=False)
    flow = app.initiate_auth_code_flow([f"{demo['graph_resource']}/.default"], redirect_uri="http://localhost:53123")
    r = sign_in(Browser(), flow["auth_uri"], demo["user"]["upn"], demo["user"]["password"])
    assert r.status_code == 302, r.text[:2000]
    params = redirect_params(r)
    assert "code" in params, params
    t = requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "code": params["code"], "redirect_uri": "http://localhost:53123/", "code_verifier": flow["code_verifier"],
        "scope": f"{demo['graph_resource']}/.default"}).json()
    assert "access_token" in t, t
    me = requests.get(f"{demo['graph_url']}/me", headers={"Authorization": f"Bearer {t['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == demo["user"]["upn"], me.text


@pytest.mark.xfail(strict=True, reason="MSAL Python drops the authority's port for /common/userrealm, so "
                   "az login -u/-p works only when Castellan listens on 443 (README); the suite's port is not 443 "
                   "(test_username_password_login_on_port_443 is the positive control)")
def test_username_password_login(az, demo):
    az.json("login", "-u", demo["user"]["upn"], f"--password={demo['user']['password']}",
            "--tenant", demo["tenant_id"], "--allow-no-subscriptions", timeout=60)


@pytest.fixture(scope="module")
def server_on_443():
    """A second server on 127.0.0.2:443 (loopback), where the authority has no port, as the
    README's limit says `az login -u/-p` needs. Binding 443 needs root or CAP_NET_BIND_SERVICE:
    without it the test fails, naming why (never skipped)."""
    import socket
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.2", 443))
    except OSError as e:
        pytest.fail(f"cannot bind 127.0.0.2:443 ({e}): run the suite as root or grant CAP_NET_BIND_SERVICE")
    from conftest import Server
    s = Server(host="127.0.0.2", port=443)
    yield s
    s.stop()


def test_username_password_login_on_port_443(server_on_443):
    """`az login -u/-p` with the authority on port 443: MSAL's user-realm lookup reaches
    Castellan's `/common/userrealm/…` (a managed account), then ROPC with the CLI's client id."""
    demo = server_on_443.demo
    assert demo["origin"] == "https://127.0.0.2", demo["origin"]
    a = Az(demo)
    try:
        a.register()
        a.json("login", "-u", demo["user"]["upn"], f"--password={demo['user']['password']}",
               "--tenant", demo["tenant_id"], "--allow-no-subscriptions", timeout=60)
        account = a.json("account", "show")
        assert account["user"] == {"name": demo["user"]["upn"], "type": "user"}, account
        tok = a.json("account", "get-access-token", "--resource-type", "ms-graph")
        import jwt
        claims = jwt.decode(tok["accessToken"], options={"verify_signature": False})
        assert claims["upn"] == demo["user"]["upn"] and claims["aud"] == "https://graph.microsoft.com", claims
        # A wrong password is refused with the AADSTS error, and nothing is signed in.
        b = Az(demo)
        try:
            b.register()
            p = b.run("login", "-u", demo["user"]["upn"], "--password=not-the-password",
                      "--tenant", demo["tenant_id"], "--allow-no-subscriptions", check=False, timeout=60)
            assert p.returncode != 0 and "AADSTS50126" in p.stderr, p.stderr[-2000:]
        finally:
            b.close()
    finally:
        a.close()


def test_conditional_access_applies_to_the_azure_cli(demo, graph, new_user):
    """Conditional Access applies to the first-party clients as to any client: a policy blocking
    a user from every cloud app stops the Azure CLI's sign-in too (what `az login -u/-p` sends,
    ROPC with the CLI's client id, and the device-code flow `az login --use-device-code` uses)."""
    upn, pw, uid = new_user()
    cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    ok = requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
        "grant_type": "password", "client_id": cli, "username": upn, "password": pw,
        "scope": f"{demo['graph_resource']}/.default offline_access openid profile"}).json()
    assert "access_token" in ok, ok
    policy = graph.post("/identity/conditionalAccess/policies", {
        "displayName": f"Block {uid}", "state": "enabled",
        "conditions": {"users": {"includeUsers": [uid]}, "applications": {"includeApplications": ["All"]},
                       "clientAppTypes": ["all"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    assert policy.status_code == 201, policy.text
    try:
        r = requests.post(f"{demo['authority']}/oauth2/v2.0/token", data={
            "grant_type": "password", "client_id": cli, "username": upn, "password": pw,
            "scope": "https://management.core.windows.net//.default offline_access openid profile"}).json()
        assert "access_token" not in r and 53003 in r.get("error_codes", []), r
    finally:
        graph.delete(f"/identity/conditionalAccess/policies/{policy.json()['id']}")


# ---- Commands that need ARM and Graph endpoints added by the other parts of issue 15 ----

def test_create_for_rbac_at_a_resource_group_then_login_as_it(az_sp, demo):
    rg = demo["resource_group_scope"]
    sp = az_sp.json("ad", "sp", "create-for-rbac", "-n", f"azcli-ci-{uuid.uuid4().hex[:6]}", "--role", "Reader", "--scopes", rg)
    other = Az(demo)
    try:
        other.register()
        accounts = other.login_sp(sp["appId"], sp["password"], sp["tenant"])
        assert [a["id"] for a in accounts] == [demo["subscription_id"]]
        groups = other.json("group", "list")
        assert [g["name"] for g in groups] == [demo["resource_group"]]
    finally:
        other.close()


def test_role_assignment_create_list_delete_reader(az_sp, demo):
    user = demo["user"]["upn"]
    rg = demo["resource_group_scope"]
    az_sp.json("role", "assignment", "create", "--assignee", user, "--role", "Reader", "--scope", rg)
    listed = az_sp.json("role", "assignment", "list", "--assignee", user, "--role", "Reader", "--scope", rg)
    assert len(listed) == 1
    az_sp.json("role", "assignment", "create", "--assignee", user, "--role", "Reader", "--scope", rg)
    az_sp.run("role", "assignment", "delete", "--assignee", user, "--role", "Reader", "--scope", rg)
    assert az_sp.json("role", "assignment", "list", "--assignee", user, "--role", "Reader", "--scope", rg) == []


def test_group_exists(az_sp, demo):
    assert az_sp.run("group", "exists", "-n", demo["resource_group"]).stdout.strip() == "true"
    assert az_sp.run("group", "exists", "-n", "no-such-group").stdout.strip() == "false"


def test_group_list(az_sp, demo):
    groups = az_sp.json("group", "list")
    assert demo["resource_group"] in [g["name"] for g in groups]


def test_account_list_locations(az_sp):
    locations = az_sp.json("account", "list-locations")
    assert locations and all("name" in l for l in locations)
