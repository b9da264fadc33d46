"""Fixtures of the adversarial suite: a real Sandbox per module, the images it needs, the runtime.

``DOCKERKERNEL_TEST_RUNTIME=runsc`` runs the whole suite under gVisor (see helpers.RUNTIME).
"""

from __future__ import annotations

import time

import docker
import pytest

from dockerkernel.languages import get_language

from .helpers import RUNTIME, Cells

NEEDED = ("python", "bash", "c", "javascript")


def pytest_configure(config):
    """Markers of this suite (the run uses --strict-markers)."""
    config.addinivalue_line("markers", "adversarial: an attack on the sandbox; asserts the safe outcome")


def pytest_report_header(config):
    """Say which OCI runtime the attacks ran under."""
    return f"dockerkernel adversarial runtime: {RUNTIME or 'daemon default (runc)'}"


@pytest.fixture(scope="session")
def images(docker_client):
    """The images these suites use; waits (another engineer may be re-tagging), then fails, never skips."""
    wanted = {name: get_language(name).image for name in NEEDED}
    deadline = time.monotonic() + 180
    while True:
        missing = []
        for name, image in wanted.items():
            try:
                docker_client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(name)
        if not missing:
            return wanted
        if time.monotonic() > deadline:
            pytest.fail(f"images missing: {missing}; run: dockerkernel images build {' '.join(missing)}", pytrace=False)
        time.sleep(5)


@pytest.fixture(scope="module")
def cells(docker_client, images):
    """A sandbox (pool of one, 64 MiB workspace) shared by a module; proves at the end nothing is left."""
    sandbox = Cells(docker_client, pool_size=1)
    yield sandbox
    sandbox.close()
