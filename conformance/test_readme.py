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
