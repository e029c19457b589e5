"""Starts a real `castellan serve --demo` for the suite and hands tests its demo.json."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests

# In the suite server's --leaked-passwords list (test_identity_protection.py).
LEAKED_PASSWORD = "Leaked-Conf-Passw0rd!1"

BIN = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_test_pki(directory, names=("localhost", "127.0.0.1")):
    """A private CA and a server certificate for `names`, written as PEM files under `directory`.

    Used for the local OIDC issuer of the workload-identity tests: the CA goes into the server's
    CASTELLAN_EXTRA_CA_FILE before it starts, so Castellan trusts the issuer's https endpoints.
    Returns a dict with ca, cert and key paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Castellan conformance issuer CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    os.makedirs(directory, exist_ok=True)
    paths = {k: os.path.join(directory, f"{k}.pem") for k in ("ca", "cert", "key")}
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class Server:
    def __init__(self, database_url=None, extra_ca_file=None, host="127.0.0.1", port=None, extra_args=()):
        if not os.path.exists(BIN):
            raise RuntimeError(f"castellan binary not found at {BIN}: build it with `cargo build -p castellan-cli`")
        self.dir = tempfile.mkdtemp(prefix="castellan-conformance-")
        self.port = port or _free_port()
        # Graph on a port of its own, as `serve` does by default (the listen port + 1, which a
        # free port's neighbour need not be): the Azure CLI tells Graph from ARM by URL.
        self.graph_port = _free_port()
        args = [BIN, "serve", "--demo", "--data-dir", self.dir, "--listen", f"{host}:{self.port}",
                "--graph-port", str(self.graph_port)]
        # Identity Protection inputs (test_identity_protection.py): the loopback peer is a
        # trusted proxy, so a test picks its client address with X-Forwarded-For (requests
        # without the header keep 127.0.0.1); the repo's tiny GeoIP database places 10.1/16 in
        # Wellington and 10.2/16 in Berlin; 10.66/16 is an "anonymizer" range.
        anon = os.path.join(self.dir, "anonymizers.txt")
        with open(anon, "w") as f:
            f.write("# test anonymizer range\n10.66.0.0/16\n")
        geoip = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "castellan-server",
                             "tests", "data", "geoip-test.mmdb")
        leaked = os.path.join(self.dir, "leaked-sha1.txt")
        with open(leaked, "w") as f:
            import hashlib
            f.write(hashlib.sha1(LEAKED_PASSWORD.encode()).hexdigest().upper() + ":3\n")
        args += ["--trusted-proxy", "127.0.0.1/32", "--geoip-db", geoip, "--anonymous-ip-list", anon,
                 "--leaked-passwords", leaked]
        if database_url:
            args += ["--database-url", database_url]
        args += list(extra_args)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        # Development-only: PIM activations as short as 5 s, so test_pim.py can watch one expire
        # (production keeps Entra's PT5M minimum).
        env = dict(os.environ, CASTELLAN_LOG="info", CASTELLAN_PIM_MIN_DURATION_SECS="5")
        if extra_ca_file:
            env["CASTELLAN_EXTRA_CA_FILE"] = extra_ca_file
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.origin = f"https://{host}" if self.port == 443 else f"https://{host}:{self.port}"
        self.ca = os.path.join(self.dir, "tls", "ca.pem")
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"castellan exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if os.path.exists(self.ca) and requests.get(f"{self.origin}/readyz", verify=self.ca, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"castellan did not become ready in 120 s:\n{self.logs()}")
            time.sleep(0.2)
        with open(os.path.join(self.dir, "demo.json")) as f:
            self.demo = json.load(f)

    def logs(self):
        self.log.flush()
        with open(os.path.join(self.dir, "server.log")) as f:
            return f.read()[-5000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def issuer_pki():
    """The TLS material of the local OIDC issuer (test_workload_identity.py), made before the
    server starts so the server can trust its CA through CASTELLAN_EXTRA_CA_FILE."""
    d = tempfile.mkdtemp(prefix="castellan-issuer-pki-")
    yield make_test_pki(d)
    shutil.rmtree(d, ignore_errors=True)


# The suite server's SMTP relay (B2B invitation messages and passcodes): a real SMTP server
# (aiosmtpd) that test_invitations.py's `smtp` fixture runs on this port. Nothing else sends
# mail, so other tests never need it running.
SMTP_PORT = _free_port()


@pytest.fixture(scope="session")
def server(issuer_pki):
    s = Server(extra_ca_file=issuer_pki["ca"],
               extra_args=["--smtp-relay", f"127.0.0.1:{SMTP_PORT}", "--smtp-from", "invites@castellan.test"])
    # Every stack trusts the generated CA through its usual variable.
    os.environ["REQUESTS_CA_BUNDLE"] = s.ca
    os.environ["SSL_CERT_FILE"] = s.ca
    yield s
    s.stop()


@pytest.fixture(scope="session")
def demo(server):
    return server.demo


@pytest.fixture(scope="session")
def admin_token(demo):
    """An app-only Graph token of the demo web app (it holds Directory.ReadWrite.All etc.)."""
    import msal
    app = msal.ConfidentialClientApplication(
        demo["confidential_client"]["app_id"],
        client_credential=demo["confidential_client"]["secret"],
        authority=demo["authority"],
        instance_discovery=False,
    )
    r = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in r, r
    return r["access_token"]


class Graph:
    def __init__(self, demo, token):
        self.base = demo["graph_url"]
        self.h = {"Authorization": f"Bearer {token}"}

    def get(self, path, **kw):
        return requests.get(self.base + path, headers=self.h, **kw)

    def post(self, path, body):
        return requests.post(self.base + path, headers=self.h, json=body)

    def patch(self, path, body):
        return requests.patch(self.base + path, headers=self.h, json=body)

    def delete(self, path):
        return requests.delete(self.base + path, headers=self.h)


@pytest.fixture(scope="session")
def graph(demo, admin_token):
    return Graph(demo, admin_token)


_counter = [0]


@pytest.fixture
def new_user(demo, graph):
    """Creates a fresh user; returns (upn, password, id). `force_change` asks for 50055."""
    def make(force_change=False, enabled=True):
        _counter[0] += 1
        alias = f"conf{int(time.time() * 1000) % 10**9}{_counter[0]}"
        domain = demo["user"]["upn"].split("@")[1]
        pw = f"Conf-{alias}-Pw1!"
        r = graph.post("/users", {
            "accountEnabled": enabled,
            "displayName": f"Conformance {alias}",
            "mailNickname": alias,
            "userPrincipalName": f"{alias}@{domain}",
            "passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": force_change},
        })
        assert r.status_code == 201, r.text
        return f"{alias}@{domain}", pw, r.json()["id"]
    return make


@pytest.fixture
def sign_ins(graph):
    """Waits for the sign-in log to hold records matching an OData filter (the writer batches)."""
    def wait(flt, count=1, timeout=10):
        deadline = time.time() + timeout
        while True:
            r = graph.get("/auditLogs/signIns", params={"$filter": flt})
            assert r.status_code == 200, r.text
            items = r.json()["value"]
            if len(items) >= count or time.time() > deadline:
                return items
            time.sleep(0.2)
    return wait
