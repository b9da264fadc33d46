"""End-to-end fixtures: the compose stack (nested daemon + JupyterLab) brought up by dind/up.sh.

The stack runs as compose project ``dockerkernel-e2e`` (env DOCKERKERNEL_E2E_PROJECT) on free
127.0.0.1 ports, so it never collides with a developer's own stack (project dockerkernel).
By default it is built from nothing: the stack images from debian:bookworm-slim, the language
images inside the nested daemon. DOCKERKERNEL_PRELOAD=1 loads the host daemon's language
images into the nested daemon instead (faster; the build-inside path is then not exercised).
DOCKERKERNEL_E2E_LANGUAGES picks the languages built inside (default: python javascript bash ruby c java;
the last three for the stdin rows of the browser test).
Logs and screenshots go to $CI_ARTIFACTS/e2e (default test-artifacts/e2e).
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("DOCKERKERNEL_E2E_PROJECT", "dockerkernel-e2e")
LANGUAGES = os.environ.get("DOCKERKERNEL_E2E_LANGUAGES", "python javascript bash ruby c java")
ARTIFACTS = Path(os.environ.get("CI_ARTIFACTS") or ROOT / "test-artifacts") / "e2e"
LABEL_PROJECT = "com.docker.compose.project"


def pytest_configure(config):
    """Register the e2e marker (setup.cfg runs with --strict-markers)."""
    config.addinivalue_line("markers", "e2e: end-to-end: the compose stack, a browser, the nested daemon")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project_objects(client: docker.DockerClient, project: str = PROJECT) -> dict[str, list[str]]:
    """Containers, volumes and networks of a compose project on a daemon (by label and name)."""
    # The low-level list calls only: the high-level ones inspect every object, which races
    # with other tests removing their containers at the same time (404 in the middle).
    prefix = f"{project}_"
    api = client.api
    containers = {name.lstrip("/") for c in api.containers(all=True) for name in c.get("Names") or []
                  if name.lstrip("/").startswith(prefix) or (c.get("Labels") or {}).get(LABEL_PROJECT) == project}
    volumes = {v["Name"] for v in (api.volumes().get("Volumes") or [])
               if v["Name"].startswith(prefix) or (v.get("Labels") or {}).get(LABEL_PROJECT) == project}
    networks = {n["Name"] for n in api.networks()
                if n["Name"].startswith(prefix) or (n.get("Labels") or {}).get(LABEL_PROJECT) == project}
    return {"containers": sorted(containers), "volumes": sorted(volumes), "networks": sorted(networks)}


@dataclasses.dataclass
class Stack:
    """A running compose stack and how to reach it."""

    project: str
    jupyter_port: int
    docker_port: int
    token: str
    certs: Path  # client certificates copied out of the certs volume
    jupyter_id: str
    docker_id: str
    up_log: str
    up_seconds: float
    env: dict  # the environment dind/up.sh and dind/down.sh ran with
    down_done: bool = False

    @property
    def url(self) -> str:
        """JupyterLab's base URL on the host."""
        return f"http://127.0.0.1:{self.jupyter_port}"

    @property
    def docker_host(self) -> str:
        """The nested daemon as seen from the host."""
        return f"tcp://127.0.0.1:{self.docker_port}"

    def tls_env(self, cert_path: Path | str | None = None) -> dict:
        """DOCKER_* variables that point a client on the host at the nested daemon."""
        return {
            "DOCKER_HOST": self.docker_host,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(cert_path or self.certs),
        }

    def nested_client(self) -> docker.DockerClient:
        """A Docker client for the nested daemon (mutual TLS with the copied certificates)."""
        from dockerkernel.sandbox import connection

        endpoint = connection.Endpoint(self.docker_host, str(self.certs), True, "e2e")
        return connection.docker_client(timeout=60, endpoint=endpoint)

    def exec_jupyter(self, *cmd: str, input: str | None = None, timeout: float = 600,
                     workdir: str = "/home/jupyter/notebooks") -> subprocess.CompletedProcess:
        """Run a command in the jupyter container (as its non-root user)."""
        args = ["docker", "exec", *(["-i"] if input is not None else []), "-w", workdir, self.jupyter_id, *cmd]
        return subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)

    def down(self, *extra: str) -> subprocess.CompletedProcess:
        """dind/down.sh for this project (extra args, e.g. -v)."""
        proc = subprocess.run(
            ["bash", "dind/down.sh", *extra], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=300,
        )
        self.down_done = True
        return proc


def _container_id(client: docker.DockerClient, service: str) -> str:
    found = client.containers.list(
        filters={"label": [f"{LABEL_PROJECT}={PROJECT}", f"com.docker.compose.service={service}"]}
    )
    assert found, f"no running {service} container of project {PROJECT}"
    return found[0].id


@pytest.fixture(scope="module")
def host_client() -> docker.DockerClient:
    """The host's own daemon (where cells must NOT run)."""
    return docker.from_env(timeout=120)


@pytest.fixture(scope="module")
def stack(host_client, tmp_path_factory) -> Stack:
    """dind/up.sh for project dockerkernel-e2e; dind/down.sh -v afterwards (unless a test did)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        COMPOSE_PROJECT_NAME=PROJECT,
        JUPYTER_PORT=str(free_port()),
        DOCKERKERNEL_DOCKER_PORT=str(free_port()),
        DOCKERKERNEL_LANGUAGES=LANGUAGES,
    )
    env.pop("JUPYTER_TOKEN", None)
    # Leftovers of an interrupted earlier run would be reused silently: start clean.
    subprocess.run(["bash", "dind/down.sh", "-v"], cwd=ROOT, env=env, capture_output=True, timeout=300)

    log_path = ARTIFACTS / "up.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.run(["bash", "dind/up.sh"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, timeout=3600)
    up_seconds = time.monotonic() - started
    up_log = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        subprocess.run(["bash", "dind/down.sh", "-v"], cwd=ROOT, env=env, capture_output=True, timeout=300)
        pytest.fail(f"dind/up.sh failed (exit {proc.returncode}); last lines:\n" + "\n".join(up_log.splitlines()[-60:]))
    print(f"\ne2e: dind/up.sh took {up_seconds:.0f} s", file=sys.stderr)
    match = re.search(r"JupyterLab:\s+(http://127\.0\.0\.1:\d+)/lab\?token=([0-9a-f]+)", up_log)
    assert match, "dind/up.sh printed no JupyterLab URL with a token"

    docker_id = _container_id(host_client, "docker")
    certs = tmp_path_factory.mktemp("nested-certs") / "client"
    subprocess.run(["docker", "cp", f"{docker_id}:/certs/client", str(certs)], check=True, timeout=60)
    st = Stack(
        project=PROJECT,
        jupyter_port=int(env["JUPYTER_PORT"]),
        docker_port=int(env["DOCKERKERNEL_DOCKER_PORT"]),
        token=match.group(2),
        certs=certs,
        jupyter_id=_container_id(host_client, "jupyter"),
        docker_id=docker_id,
        up_log=up_log,
        up_seconds=up_seconds,
        env=env,
    )
    assert match.group(1) == st.url
    try:
        yield st
    finally:
        for service, cid in (("docker", st.docker_id), ("jupyter", st.jupyter_id)):
            logs = subprocess.run(["docker", "logs", cid], capture_output=True, text=True)
            (ARTIFACTS / f"{service}.log").write_text(logs.stdout + logs.stderr)
        if not st.down_done:
            st.down("-v")
