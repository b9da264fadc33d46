"""The README's first command, exactly as written, on a clean clone with no variables: JupyterLab answers.

No ``DOCKERKERNEL_*``/``JUPYTER_*``/``COMPOSE_*`` variable is passed and the clone has no file
an earlier run left (a copied CA bundle, a venv): what a newcomer gets. Behind a
TLS-inspecting proxy this passes only if ``dind/up.sh`` trusts the host's CA bundle by itself.
It uses the README's defaults (project ``dockerkernel``, port 8888), so no other stack of that
project may run on this machine meanwhile; it takes the stack down (``dind/down.sh -v``) after.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request

import pytest

from .conftest import ARTIFACTS, ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(3600)]

# what the host's shell passes on: the network (proxies) and the basics, nothing of ours
KEPT = ("PATH", "HOME", "USER", "LANG", "TERM", "http_proxy", "https_proxy", "no_proxy",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def readme_first_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL).group(1)
    return block.splitlines()[0].split("#", 1)[0].strip()


def test_readme_first_command_brings_jupyterlab_up_on_a_clean_clone(tmp_path):
    command = readme_first_command()
    assert command == "dind/up.sh"
    clone = tmp_path / "dockerkernel"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(clone)], check=True, timeout=300)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", head.stdout.strip()], check=True, timeout=300)
    env = {key: os.environ[key] for key in KEPT if key in os.environ}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "readme-first-command.log"
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(command, shell=True, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=3600)
        output = log_path.read_text(errors="replace")
        assert proc.returncode == 0, "dind/up.sh failed; last lines:\n" + "\n".join(output.splitlines()[-60:])
        found = re.search(r"JupyterLab:\s+(http://127\.0\.0\.1:8888)/lab\?token=([0-9a-f]+)", output)
        assert found, "dind/up.sh printed no JupyterLab URL with a token"
        with urllib.request.urlopen(f"{found.group(1)}/api/status?token={found.group(2)}", timeout=30) as reply:
            assert reply.status == 200
        with urllib.request.urlopen(f"{found.group(1)}/api/kernelspecs?token={found.group(2)}", timeout=30) as reply:
            assert b"docker-python" in reply.read()
    finally:
        subprocess.run(["bash", "dind/down.sh", "-v"], cwd=clone, env=env, capture_output=True, timeout=600)
