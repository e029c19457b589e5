"""Custom domains through the stock Python Graph SDK (msgraph-sdk), verified against a real DNS
server: a local dnsmasq (Debian's dnsmasq-base) answers TXT lookups for the test domain and a
Castellan of this module's own asks it (`castellan serve --dns-resolver 127.0.0.1:<port>`).

Covers: adding a domain, its verification records (TXT `MS=ms<8 digits>` and MX), verifying
before the TXT record exists (Graph's 400 naming what was looked up and found, nothing
changed) and after, a user on the domain refused before verification and created after,
setting the default domain, deleting a domain refused while a user (and then the deleted user
in the recycle bin) uses it and allowed once it is gone, another tenant unable to verify a
name verified here (and able once it is deleted here), and a member without a role refused
with 403 while administrators (delegated and app-only) may write."""
import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid

import msal
import msal.authority
import pytest
import requests
from azure.core.credentials import AccessToken
from kiota_abstractions.api_error import APIError
from msgraph import GraphServiceClient
from msgraph.generated.models.domain import Domain
from msgraph.generated.models.domain_dns_mx_record import DomainDnsMxRecord
from msgraph.generated.models.domain_dns_txt_record import DomainDnsTxtRecord
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User

from conftest import Server, _free_port
from test_graph_sdk import SCOPES, _credential

msal.authority.Authority._domains_without_user_realm_discovery.add("127.0.0.1")

# Microsoft's Azure CLI: a first-party public client every tenant has, pre-authorised on Graph
# (its delegated tokens carry Directory.AccessAsUser.All).
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
LOOP = asyncio.new_event_loop()


def _run(coro):
    return LOOP.run_until_complete(coro)


class Dns:
    """A dnsmasq on 127.0.0.1:<port>, authoritative (`--local`) for the given zones, answering
    only the TXT records it was (re)started with."""

    def __init__(self, zones):
        self.port = _free_port()
        self.zones = zones
        self.proc = None
        self.restart([])

    def restart(self, txt_records):
        self.stop()
        args = [DNSMASQ, "--keep-in-foreground", f"--port={self.port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
                "--log-facility=-"]
        args += [f"--local=/{z}/" for z in self.zones]
        args += [f"--txt-record={name},{text}" for name, text in txt_records]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited with {self.proc.returncode}: {args}")
            if time.time() > deadline:
                raise RuntimeError("dnsmasq did not answer within 10 s")
            time.sleep(0.05)

    def _answers(self):
        """Whether the server answers a query (any answer) on its port."""
        q = uuid.uuid4().bytes[:2] + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        for label in self.zones[0].split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\x00\x00\x10\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return len(s.recv(512)) > 0
            except OSError:
                return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class StaticToken:
    """An azure-core credential that hands the Graph SDK one delegated token."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kw):
        return AccessToken(self.token, int(time.time()) + 3000)


DOMAIN = f"conf{uuid.uuid4().hex[:8]}.example"


@pytest.fixture(scope="module")
def dns():
    if not os.path.exists(DNSMASQ):
        pytest.fail("dnsmasq is missing: install Debian's dnsmasq-base (scripts/test-deps.sh does)")
    d = Dns([DOMAIN])
    yield d
    d.stop()


@pytest.fixture(scope="module")
def srv(dns):
    s = Server(extra_args=["--dns-resolver", f"127.0.0.1:{dns.port}"])
    # Trust this server's CA too (besides the suite server's, when it runs), then put back.
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    bundle = os.path.join(s.dir, "ca-bundle.pem")
    with open(bundle, "w") as out:
        for path in {saved["REQUESTS_CA_BUNDLE"], s.ca} - {None}:
            with open(path) as f:
                out.write(f.read() + "\n")
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = bundle
    yield s
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    s.stop()


def _delegated(demo_authority, upn, pw):
    app = msal.PublicClientApplication(AZURE_CLI, authority=demo_authority, instance_discovery=False)
    r = app.acquire_token_by_username_password(upn, pw, scopes=SCOPES)
    assert "access_token" in r, r
    return r["access_token"]


def _client_with(demo, token):
    c = GraphServiceClient(credentials=StaticToken(token), scopes=SCOPES)
    c.request_adapter.base_url = demo["graph_url"]
    return c


def _app_client(demo):
    c = GraphServiceClient(credentials=_credential(demo), scopes=SCOPES)
    c.request_adapter.base_url = demo["graph_url"]
    return c


def _error(coro):
    with pytest.raises(APIError) as e:
        _run(coro)
    return e.value


def _message(err):
    return err.error.message if getattr(err, "error", None) else str(err)


def _new_user(client, upn):
    return client.users.post(User(
        account_enabled=True, display_name="Domain user", mail_nickname=upn.split("@")[0],
        user_principal_name=upn, password_profile=PasswordProfile(password="Domain-Passw0rd!"),
    ))


def test_add_verify_use_default_and_delete_a_custom_domain(srv, dns):
    demo = srv.demo
    admin = _client_with(demo, _delegated(demo["authority"], demo["admin"]["upn"], demo["admin"]["password"]))
    fab = demo["second_tenant"]
    fab_admin = _client_with(demo, _delegated(fab["authority"], fab["admin"]["upn"], fab["admin"]["password"]))

    # Add it here, and (unverified names may be added by several tenants) in Fabrikam.
    d = _run(admin.domains.post(Domain(id=DOMAIN.upper())))
    assert d.id == DOMAIN and d.is_verified is False and d.is_default is False
    assert d.authentication_type == "Managed" and d.supported_services == []
    fd = _run(fab_admin.domains.post(Domain(id=DOMAIN)))
    assert fd.id == DOMAIN and fd.is_verified is False
    listed = _run(admin.domains.get()).value
    assert {x.id for x in listed} >= {DOMAIN, demo["domain"]}
    assert next(x for x in listed if x.id == demo["domain"]).is_initial

    # The verification records: Graph's domainDnsTxtRecord and domainDnsMxRecord.
    records = _run(admin.domains.by_domain_id(DOMAIN).verification_dns_records.get()).value
    txt = next(r for r in records if isinstance(r, DomainDnsTxtRecord))
    mx = next(r for r in records if isinstance(r, DomainDnsMxRecord))
    assert txt.text.startswith("MS=ms") and len(txt.text) == 13 and txt.text[5:].isdigit(), txt.text
    assert txt.ttl == 3600 and txt.label == DOMAIN and txt.record_type == "Txt"
    assert txt.is_optional is False and txt.supported_service == "Email"
    assert mx.mail_exchange == f"ms{txt.text[5:]}.msv1.invalid" and mx.preference == 32767
    again = _run(admin.domains.by_domain_id(DOMAIN).verification_dns_records.get()).value
    assert next(r for r in again if isinstance(r, DomainDnsTxtRecord)).text == txt.text, "the code is stable"
    fab_txt = next(r for r in _run(fab_admin.domains.by_domain_id(DOMAIN).verification_dns_records.get()).value
                   if isinstance(r, DomainDnsTxtRecord)).text
    assert fab_txt != txt.text, "each tenant proves control with its own code"
    assert _run(admin.domains.by_domain_id(DOMAIN).service_configuration_records.get()).value == []

    # A user on the unverified domain: 400 saying to verify it first.
    upn = f"dana@{DOMAIN}"
    e = _error(_new_user(admin, upn))
    assert e.response_status_code == 400 and "verify it first" in _message(e), _message(e)

    # Verify before the TXT record exists: 400 naming the lookup and its result; nothing changes.
    e = _error(admin.domains.by_domain_id(DOMAIN).verify.post())
    m = _message(e)
    assert e.response_status_code == 400, m
    assert f"127.0.0.1:{dns.port}" in m and "no TXT record" in m and txt.text in m, m
    assert _run(admin.domains.by_domain_id(DOMAIN).get()).is_verified is False

    # The record appears in DNS (both tenants' records: only one tenant may verify the name).
    dns.restart([(DOMAIN, txt.text), (DOMAIN, fab_txt)])
    v = _run(admin.domains.by_domain_id(DOMAIN).verify.post())
    assert v.id == DOMAIN and v.is_verified is True and v.authentication_type == "Managed"
    assert _run(admin.domains.by_domain_id(DOMAIN).get()).is_verified is True
    e = _error(fab_admin.domains.by_domain_id(DOMAIN).verify.post())
    assert e.response_status_code == 400 and "already verified in another tenant" in _message(e), _message(e)
    assert _run(fab_admin.domains.by_domain_id(DOMAIN).get()).is_verified is False

    # Now the user can be created, and signs in with the new UPN.
    user = _run(_new_user(admin, upn))
    assert user.user_principal_name == upn
    pub = msal.PublicClientApplication(demo["public_client"]["app_id"], authority=demo["authority"],
                                       instance_discovery=False)
    assert "access_token" in pub.acquire_token_by_username_password(upn, "Domain-Passw0rd!", scopes=["User.Read"])

    # The default domain: one verified domain; the default cannot be deleted.
    _run(admin.domains.by_domain_id(DOMAIN).patch(Domain(is_default=True, supported_services=["Email"])))
    now = {x.id: x for x in _run(admin.domains.get()).value}
    assert now[DOMAIN].is_default is True and now[demo["domain"]].is_default is False
    assert now[DOMAIN].supported_services == ["Email"]
    e = _error(admin.domains.by_domain_id(DOMAIN).delete())
    assert e.response_status_code == 400 and "default" in _message(e), _message(e)
    _run(admin.domains.by_domain_id(demo["domain"]).patch(Domain(is_default=True)))

    # Deleting it while the user uses it: refused, naming the user; then the deleted user in
    # the recycle bin; gone for good, the domain can be deleted.
    e = _error(admin.domains.by_domain_id(DOMAIN).delete())
    assert e.response_status_code == 400 and upn in _message(e), _message(e)
    _run(admin.users.by_user_id(user.id).delete())
    e = _error(admin.domains.by_domain_id(DOMAIN).delete())
    assert e.response_status_code == 400 and "recycle bin" in _message(e), _message(e)
    _run(admin.directory.deleted_items.by_directory_object_id(user.id).delete())
    _run(admin.domains.by_domain_id(DOMAIN).delete())
    e = _error(admin.domains.by_domain_id(DOMAIN).get())
    assert e.response_status_code == 404

    # Freed here, Fabrikam verifies it with its own record.
    fv = _run(fab_admin.domains.by_domain_id(DOMAIN).verify.post())
    assert fv.is_verified is True
    _run(fab_admin.domains.by_domain_id(DOMAIN).delete())

    # The audit log has each write.
    r = requests.get(f"{demo['graph_url']}/auditLogs/directoryAudits", params={"$top": "999"},
                     headers={"Authorization": f"Bearer {_app_token(demo)}"})
    assert r.status_code == 200, r.text
    acts = {a["activityDisplayName"] for a in r.json()["value"] if DOMAIN in str(a)}
    assert {"Add unverified domain", "Verify domain", "Update domain", "Remove verified domain"} <= acts, acts


def _app_token(demo):
    app = msal.ConfidentialClientApplication(demo["confidential_client"]["app_id"],
                                             client_credential=demo["confidential_client"]["secret"],
                                             authority=demo["authority"], instance_discovery=False)
    return app.acquire_token_for_client(scopes=SCOPES)["access_token"]


def test_a_member_without_a_role_reads_domains_but_cannot_add_one(srv):
    demo = srv.demo
    member = _client_with(demo, _delegated(demo["authority"], demo["user"]["upn"], demo["user"]["password"]))
    assert demo["domain"] in {d.id for d in _run(member.domains.get()).value}
    name = f"member{uuid.uuid4().hex[:8]}.example"
    e = _error(member.domains.post(Domain(id=name)))
    assert e.response_status_code == 403, _message(e)
    assert "domains/allProperties/allTasks" in _message(e), _message(e)
    # Positive controls: the Global Administrator (delegated) and the app with
    # Domain.ReadWrite.All (app-only) may add it.
    admin = _client_with(demo, _delegated(demo["authority"], demo["admin"]["upn"], demo["admin"]["password"]))
    assert _run(admin.domains.post(Domain(id=name))).id == name
    app = _app_client(demo)
    other = f"app{uuid.uuid4().hex[:8]}.example"
    assert _run(app.domains.post(Domain(id=other))).id == other
    names = {d.id for d in _run(member.domains.get()).value}
    assert {name, other} <= names
    _run(admin.domains.by_domain_id(name).delete())
    _run(app.domains.by_domain_id(other).delete())


def _castellan(server, *args):
    import conftest
    env = dict(os.environ, CASTELLAN_DEMO_FILE=os.path.join(server.dir, "demo.json"))
    return subprocess.run([conftest.BIN, *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_cli_adds_prints_the_record_verifies_and_deletes(srv, dns):
    name = f"cli{uuid.uuid4().hex[:8]}.example"
    dns.zones.append(name)
    dns.restart([])
    p = _castellan(srv, "domain", "add", name)
    assert p.returncode == 0, p.stderr
    p = _castellan(srv, "domain", "records", name)
    assert p.returncode == 0, p.stderr
    txt_line = next(line for line in p.stdout.splitlines() if " IN TXT " in line)
    assert txt_line.startswith(f"{name}. 3600 IN TXT \"MS=ms"), p.stdout
    assert f"{name}. 3600 IN MX 32767 ms" in p.stdout, p.stdout
    text = txt_line.split('"')[1]
    p = _castellan(srv, "domain", "verify", name)
    assert p.returncode != 0 and "no TXT record" in (p.stdout + p.stderr), p.stdout + p.stderr
    dns.restart([(name, text)])
    p = _castellan(srv, "domain", "verify", name)
    assert p.returncode == 0, p.stderr
    p = _castellan(srv, "domain", "list")
    assert p.returncode == 0 and name in p.stdout, p.stdout + p.stderr
    p = _castellan(srv, "domain", "delete", name)
    assert p.returncode == 0, p.stderr
