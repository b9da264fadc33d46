"""Fixtures of the kernel tier: one shared kernel per language and module (``module_kernels``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def py(module_kernels):
    """The module's docker-python kernel."""
    return module_kernels("docker-python")


@pytest.fixture(scope="module")
def bash(module_kernels):
    """The module's docker-bash kernel."""
    return module_kernels("docker-bash")


@pytest.fixture(scope="module")
def js(module_kernels):
    """The module's docker-javascript kernel."""
    return module_kernels("docker-javascript")


@pytest.fixture(scope="module")
def c_kernel(module_kernels):
    """The module's docker-c kernel."""
    return module_kernels("docker-c")


@pytest.fixture
def kernels(kernel_factory):
    """Kernels of one test (their own settings); nothing of them may be left after it."""
    return kernel_factory
