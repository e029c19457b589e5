"""Two Castellan servers' local CAs in one trust bundle, in either order: a client verifies
each server (every Castellan CA has the same subject name, so the leaf names its issuer by key —
the authority key identifier — and OpenSSL picks the right CA instead of the first by name)."""
import os
import tempfile

import requests

from conftest import Server


def test_a_bundle_of_two_castellan_cas_verifies_both_servers_in_either_order():
    a, b = Server(), Server()
    try:
        d = tempfile.mkdtemp(prefix="castellan-bundle-")
        for order in ((a, b), (b, a)):
            bundle = os.path.join(d, "bundle-" + "-".join(str(s.port) for s in order) + ".pem")
            with open(bundle, "w") as out:
                for s in order:
                    with open(s.ca) as f:
                        out.write(f.read() + "\n")
            for s in (a, b):
                r = requests.get(f"{s.origin}/healthz", verify=bundle, timeout=10)
                assert r.status_code == 200, (order, s.origin)
    finally:
        a.stop()
        b.stop()
