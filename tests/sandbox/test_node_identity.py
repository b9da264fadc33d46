"""Which daemon ran a cell: its ``docker info`` Name and ID in the outcome, and in ImageMissing.

On a cluster every node has its own cell daemon, so this is how a cell's provenance (and an
error about a missing image) names the node. Here the node is the test daemon itself.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from dockerkernel.errors import ImageMissing
from dockerkernel.kernel.replies import provenance
from dockerkernel.languages import IMAGE_PREFIX, get_language
from dockerkernel.sandbox import CellRequest, Limits, Sandbox
from tests.support import our_objects
from tests.support.sandbox import make_request

pytestmark = pytest.mark.images("bash")

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon(docker_client):
    info = docker_client.info()
    assert info["Name"] and info["ID"]
    return {"name": info["Name"], "id": info["ID"]}


@pytest.mark.parametrize("pool_size", [0, 1], ids=["cold", "pooled"])
def test_outcome_and_provenance_name_the_daemon(loop, images, docker_client, daemon, pool_size):
    sandbox = Sandbox(uuid.uuid4().hex, pool_size=pool_size, workspace_size=64 * MiB)
    try:
        for count in (1, 2):  # the second cell of the pooled sandbox comes from the pool
            request = make_request("bash", "echo hi", count=count)
            outcome = loop.run_until_complete(asyncio.wait_for(sandbox.run(request, lambda e: None), 120))
            assert outcome.daemon == daemon
            assert provenance(request, outcome, 0.0)["daemon"] == daemon
        if pool_size:
            assert outcome.from_pool
    finally:
        loop.run_until_complete(sandbox.close())
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])


def test_image_missing_names_the_node(loop, images, docker_client, daemon):
    sandbox = Sandbox(uuid.uuid4().hex, pool_size=0, workspace_size=64 * MiB)
    request = CellRequest(get_language("bash"), b"echo 1", f"{IMAGE_PREFIX}nosuchlang:latest", Limits(timeout=10))
    try:
        with pytest.raises(ImageMissing) as info:
            loop.run_until_complete(asyncio.wait_for(sandbox.run(request, lambda e: None), 60))
        message = str(info.value)
        assert f"is not on the Docker daemon of node {daemon['name']}" in message
        assert f"dockerkernel images sync nosuchlang --host tcp://{daemon['name']}:2376" in message
    finally:
        loop.run_until_complete(sandbox.close())
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])
