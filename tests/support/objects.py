"""Finding the daemon objects of kernels and sandboxes started by tests, and waiting for things."""

from __future__ import annotations

import os
import time
import uuid

import docker
import pytest

from dockerkernel.languages import LANGUAGES
from dockerkernel.sandbox import LABEL_KERNEL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def unique_id() -> str:
    """A random hex id for sandboxes created directly by tests."""
    return uuid.uuid4().hex
