"""Shared fixtures: a real Docker daemon, the language images, kernels through jupyter_client.

Nothing here skips: a test that needs the daemon or an image fails loudly with the command
that fixes it (CI must never turn green by skipping).
"""

from __future__ import annotations

import os
import queue
import time
import uuid
from dataclasses import dataclass, field

import docker
import pytest
from jupyter_client.manager import start_new_kernel

from dockerkernel.languages import LANGUAGES
from dockerkernel.sandbox import LABEL_KERNEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def installed_kernelspecs(tmp_path_factory):
    """Install this checkout's kernelspecs into a private prefix the tests' Jupyter looks in."""
    from dockerkernel.cli import main as cli_main

    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    assert cli_main(["install", "--prefix", str(prefix)]) == 0
    data_dir = prefix / "share" / "jupyter"
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(data_dir), os.environ.get("JUPYTER_PATH")]))
    return data_dir


@pytest.fixture(scope="session")
def docker_client():
    """The real daemon; fails (never skips) when it does not answer."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker daemon answers ({exc}); run: bash scripts/ensure-docker.sh", pytrace=False)
    return client


def require_images(client, names) -> dict:
    """The images of these languages, by name; fails (never skips) with the build command."""
    wanted = {name: LANGUAGES[name].image for name in names}
    missing = []
    for name, image in wanted.items():
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(name)
    if missing:
        pytest.fail(f"images missing: {missing}; run: dockerkernel images build {' '.join(missing)}", pytrace=False)
    return wanted


@pytest.fixture(scope="session")
def images(docker_client):
    """Every language image must be built; fails with the build command otherwise."""
    return require_images(docker_client, LANGUAGES)


def objects_of_pid(client, pid: int) -> tuple[list, list]:
    """Containers and volumes of the kernel process ``pid`` (Sandbox labels them with it)."""
    label = [LABEL_KERNEL, f"dockerkernel.pid={pid}"]
    containers = client.api.containers(all=True, filters={"label": label})
    volumes = client.api.volumes(filters={"label": label}).get("Volumes") or []
    return containers, volumes


def objects_of_this_process(client) -> tuple[list, list]:
    """Containers and volumes created by this test process."""
    return objects_of_pid(client, os.getpid())


def leftovers_of_kernels(pids) -> list[str]:
    """Ids of the containers and names of the volumes that the kernel processes ``pids`` left."""
    client = docker.from_env()
    found = []
    for pid in pids:
        containers, volumes = objects_of_pid(client, pid)
        found += [c["Id"][:12] for c in containers] + [v["Name"] for v in volumes]
    return found


def our_objects(client, kernel_id: str | None = None) -> tuple[list, list]:
    """Containers and volumes carrying our labels (optionally of one kernel)."""
    label = f"{LABEL_KERNEL}={kernel_id}" if kernel_id else LABEL_KERNEL
    containers = client.api.containers(all=True, filters={"label": [label]})
    volumes = client.api.volumes(filters={"label": label}).get("Volumes") or []
    return containers, volumes


def wait_until(predicate, timeout: float = 30, interval: float = 0.2):
    """Poll ``predicate`` until it is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@dataclass
class CellResult:
    """What one execute_request produced."""

    reply: dict
    messages: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """ok or error."""
        return self.reply["content"]["status"]

    @property
    def ename(self) -> str | None:
        """The error name, if any."""
        return self.reply["content"].get("ename")

    def stream(self, name: str = "stdout") -> str:
        """All text of one stream."""
        return "".join(m["content"]["text"] for m in self.messages if m["msg_type"] == "stream" and m["content"]["name"] == name)

    def of_type(self, msg_type: str) -> list:
        """The iopub messages of one type."""
        return [m for m in self.messages if m["msg_type"] == msg_type]


class KernelHandle:
    """A running kernel (manager + blocking client) with a convenient ``run``."""

    def __init__(self, kernel_name: str, extra_args: list[str] | None = None):
        """Start ``kernel_name`` (extra ``--DockerKernel.x=y`` arguments allowed)."""
        kwargs = {"extra_arguments": extra_args} if extra_args else {}
        self.km, self.kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=120, **kwargs)
        self.kernel_name = kernel_name

    def run(self, code: str, timeout: float = 120, stdin_hook=None, allow_stdin: bool = False) -> CellResult:
        """Execute ``code``; collect its iopub messages until idle."""
        messages: list = []
        reply = self.kc.execute_interactive(
            code, timeout=timeout, output_hook=messages.append, allow_stdin=allow_stdin or stdin_hook is not None,
            stdin_hook=stdin_hook,
        )
        return CellResult(reply, [m for m in messages if m["msg_type"] not in ("status", "execute_input")])

    def kernel_id(self) -> str:
        """The dockerkernel id of this kernel (read from the labels of its objects)."""
        pid = str(self.km.provisioner.process.pid)
        client = docker.from_env()
        for info in client.api.containers(all=True, filters={"label": [f"dockerkernel.pid={pid}"]}):
            return info["Labels"][LABEL_KERNEL]
        return ""

    def pid(self) -> int:
        """The kernel process id."""
        return self.km.provisioner.process.pid

    def shutdown(self) -> None:
        """Shut the kernel down the normal way."""
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


@pytest.fixture
def kernel_factory(images):
    """Start kernels by name; all are shut down after the test."""
    started: list[KernelHandle] = []

    def factory(kernel_name: str = "docker-python", *extra_args: str) -> KernelHandle:
        handle = KernelHandle(kernel_name, list(extra_args) or None)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        try:
            handle.shutdown()
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture(scope="module")
def python_kernel(images):
    """One docker-python kernel shared by a module's tests."""
    handle = KernelHandle("docker-python")
    yield handle
    handle.shutdown()


def unique_id() -> str:
    """A random hex id for sandboxes created directly by tests."""
    return uuid.uuid4().hex


__all__ = ["CellResult", "KernelHandle", "our_objects", "wait_until", "unique_id", "ROOT", "queue"]
