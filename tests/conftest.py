"""Fixtures of every tier: a real Docker daemon, the language images, kernels through jupyter_client.

Nothing here skips: a test that needs the daemon or an image fails loudly with the command
that fixes it (CI must never turn green by skipping). Helpers live in ``tests.support``;
tiers are folders, each with its marker (``pytest -m unit`` needs no daemon).
"""

from __future__ import annotations

import os
from pathlib import Path

import docker
import pytest

from dockerkernel.languages import LANGUAGES
from tests.support import KernelHandle, leftovers_of_kernels, require_images, wait_until

TIERS = ("unit", "sandbox", "kernel", "notebooks", "e2e", "adversarial", "faults", "scaleout")
TESTS = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    """The scale-out tier (three nested Swarm nodes, minutes) runs only when named:
    ``pytest tests/scaleout`` (.ci/run runs it as a bounded report after the suite)."""
    if collection_path.name == "scaleout" and collection_path.parent == TESTS:
        return not any("scaleout" in str(arg) for arg in config.args)
    return None


def pytest_collection_modifyitems(config, items):
    """Mark each test with its tier (the folder it is in)."""
    for item in items:
        try:
            tier = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


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


@pytest.fixture(scope="session")
def all_images(docker_client):
    """Every language image, by language; fails with the build command when one is missing."""
    return require_images(docker_client, LANGUAGES)


@pytest.fixture(scope="module")
def images(request, docker_client):
    """The images a module needs: ``pytestmark = pytest.mark.images("python", "bash")``, else all."""
    marker = request.node.get_closest_marker("images")
    return require_images(docker_client, marker.args if marker else LANGUAGES)


@pytest.fixture(scope="module")
def module_kernels(request, docker_client):
    """Start kernels shared by a module: ``module_kernels("docker-bash", "--DockerKernel.x=y")``.

    One kernel per (name, arguments), started on first use and shut down after the module;
    then no container or volume of any of them may remain (the leftover check of every tier).
    """
    marker = request.node.get_closest_marker("images")
    require_images(docker_client, marker.args if marker else LANGUAGES)
    started: dict[tuple, KernelHandle] = {}

    def start(name: str = "docker-python", *extra: str) -> KernelHandle:
        key = (name, *extra)
        if key not in started:
            started[key] = KernelHandle(name, list(extra) or None)
            pids.append(started[key].pid())
        return started[key]

    pids: list[int] = []
    yield start
    for handle in started.values():
        try:
            pids.append(handle.pid())  # a restarted kernel has a new process
            handle.shutdown()
        except Exception:  # noqa: BLE001
            pass
    assert wait_until(lambda: not leftovers_of_kernels(pids), timeout=30), leftovers_of_kernels(pids)


@pytest.fixture
def kernel_factory(request, docker_client):
    """Start kernels by name for one test; all are shut down after it, leaving nothing behind."""
    marker = request.node.get_closest_marker("images")
    require_images(docker_client, marker.args if marker else LANGUAGES)
    started: list[KernelHandle] = []
    pids: list[int] = []

    def factory(kernel_name: str = "docker-python", *extra_args: str) -> KernelHandle:
        handle = KernelHandle(kernel_name, list(extra_args) or None)
        started.append(handle)
        pids.append(handle.pid())
        return handle

    yield factory
    for handle in started:
        try:
            pids.append(handle.pid())  # a restarted kernel has a new process
            handle.shutdown()
        except Exception:  # noqa: BLE001
            pass
    assert wait_until(lambda: not leftovers_of_kernels(pids), timeout=30), leftovers_of_kernels(pids)


@pytest.fixture(scope="module")
def python_kernel(module_kernels):
    """One docker-python kernel shared by a module's tests."""
    return module_kernels("docker-python")
