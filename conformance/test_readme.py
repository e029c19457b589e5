"""README walkthroughs run exactly as written (the shell blocks, against the suite's server)."""
import os
import re
import subprocess
import sys
import tempfile

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def section_block(title):
    text = open(README).read()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    m = re.search(r"```sh\n(.*?)```", text[start:end if end > 0 else None], re.S)
    assert m, f"no sh block under '{title}'"
    return m.group(1)


def run_as_written(server, script):
    """Runs a README block in a directory where castellan-data is the server's data dir and
    `castellan` / `python3` are the built binary and the suite's Python."""
    with tempfile.TemporaryDirectory() as d:
        os.symlink(server.dir, os.path.join(d, "castellan-data"))
        bindir = os.path.join(d, "bin")
        os.mkdir(bindir)
        binary = os.environ.get("CASTELLAN_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "castellan")
        os.symlink(os.path.abspath(binary), os.path.join(bindir, "castellan"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "AZURE_", "CASTELLAN_"))}
        # The suite's venv first, so `python3` has azure-identity and requests.
        env["PATH"] = os.pathsep.join([bindir, os.path.dirname(sys.executable), env["PATH"]])
        p = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=d, env=env, capture_output=True, text=True, timeout=300)
        return p


def test_protect_a_resource_walkthrough(server):
    p = run_as_written(server, section_block("Protect a resource"))
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "Hello from Castellan's sample blob store." in out
    assert "NotAllowed:" in out and "(not allowed, as expected)" in out
    assert "Allowed: " in out and "Storage Blob Data Reader" in out
    assert "True" in out  # the IMDS token
    assert "name,roleName,roleDefinitionId" in out


def test_devices_walkthrough(server):
    p = run_as_written(server, section_block("Devices and compliant-device policies"))
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "device " in out and "isCompliant = true" in out and "LAPTOP-7" in out, out
    assert "token_type: Bearer" in out, out


def test_require_mfa_outside_the_office_walkthrough(server, graph):
    p = run_as_written(server, section_block("Require MFA outside the office"))
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    # What-If: the office IP is excluded (trusted location), elsewhere MFA would be asked for.
    def ours(text):
        """The walkthrough policy's row(s), not the demo's report-only example."""
        return [l for l in text.splitlines() if l.startswith("Require MFA outside the office ") and "example" not in l]
    runs = out.split("outcome: ")
    office, outside, enforced = runs[1], runs[2], runs[3]
    assert office.startswith("allow") and outside.startswith("allow"), out
    assert "reportOnlyNotApplied" in ours(office)[0] and "trusted location" in ours(office)[0], out
    assert "reportOnlyInterrupted" in ours(outside)[0], out
    assert enforced.startswith("requireControls") and "failure" in ours(enforced)[0], out
    # The report-only sign-in succeeded and its log entry shows the report-only result.
    lines = out.splitlines()
    assert lines.count("signed in") == 2, out  # before enabling, and after turning it off
    log = out[out.index("\nsigned in"):]
    assert "errorCode 0, conditionalAccessStatus notApplied" in log, out
    assert "reportOnlyInterrupted" in ours(log)[0], out
    # Replay found Alex's sign-in(s) from outside the office.
    assert "would be challenged: " in out and "(exit status 3: someone would be affected)" in out, out
    replay = out[out.index("would be challenged: "):]
    assert server.demo["user"]["upn"] in replay and "mfa" in replay, out
    # Enabled: the next sign-in is refused with 50079 (no authenticator app) and What-If agrees.
    assert "refused: AADSTS50079" in out, out
    assert "outcome: requireControls" in out and "(exit status 3: MFA required)" in out, out
    assert "deleted " in out
    # Nothing is left behind.
    names = [x["displayName"] for x in graph.get("/identity/conditionalAccess/policies").json()["value"]]
    assert "Require MFA outside the office" not in names
