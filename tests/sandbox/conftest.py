"""Fixtures of the sandbox tier: Sandbox objects driven from this test process."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import objects_of_this_process, wait_until


@pytest.fixture(scope="module", autouse=True)
def nothing_left_after_module(docker_client):
    """After each module no container or volume this test process created may remain."""
    yield
    left = wait_until(lambda: objects_of_this_process(docker_client) == ([], []), timeout=15)
    assert left, f"left behind: {objects_of_this_process(docker_client)}"


@pytest.fixture(scope="module")
def loop():
    """An event loop shared by a module's sandboxes."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
