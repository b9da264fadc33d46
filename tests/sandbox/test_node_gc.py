"""A kernel that dies without saying goodbye leaves nothing running, and ``gc --node`` removes
the rest, on a daemon shared by many kernels' hosts (a cluster node's celld) — never anything
of a live kernel.

The dead kernel is a separate process killed with SIGKILL: no close, no watchdog. Its
workspace holder ends with the attach connection (and removes itself); its warm pool
container ends too; ``sweep_node`` then removes the stopped containers and the unused volume.
Both tests narrow ``sweep_node`` to their own kernel's label: the daemon is shared.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid

import pytest

from dockerkernel.sandbox import LABEL_KERNEL, LABEL_ROLE, Sandbox, sweep_node
from tests.support import our_objects, wait_until
from tests.support.sandbox import make_request

pytestmark = pytest.mark.images("bash")

DIES = textwrap.dedent("""
    import asyncio, os, uuid
    from dockerkernel.sandbox import Sandbox
    from tests.support.sandbox import make_request

    async def main():
        sandbox = Sandbox(uuid.uuid4().hex, pool_size=1, workspace_size=64 << 20)
        await sandbox.run(make_request("bash", "echo x > kept.txt"), lambda event: None)
        while not any(len(pool) and not pool.pending() for pool in sandbox._pools.values()):
            await asyncio.sleep(0.2)
        print(sandbox.kernel_id, flush=True)
        os.kill(os.getpid(), 9)

    asyncio.run(main())
""")


def running(client, kernel_id: str) -> list[str]:
    return [info["Labels"].get(LABEL_ROLE, "?") for info in
            client.api.containers(filters={"label": [f"{LABEL_KERNEL}={kernel_id}"]})]


def test_dead_kernel_leaves_nothing_running_and_gc_node_removes_the_rest(images, docker_client):
    done = subprocess.run([sys.executable, "-c", DIES], capture_output=True, text=True, timeout=120)
    kernel_id = done.stdout.strip()
    assert done.returncode == -9 and len(kernel_id) == 32, done.stderr[-2000:]
    containers, volumes = our_objects(docker_client, kernel_id)
    assert volumes, "the killed kernel had a workspace volume"
    # the holder and the pool container end with the kernel's connection
    assert wait_until(lambda: running(docker_client, kernel_id) == [], timeout=20), running(docker_client, kernel_id)
    removed = sweep_node(docker_client, grace=0, label=f"{LABEL_KERNEL}={kernel_id}")
    assert removed["volumes"] == 1
    assert our_objects(docker_client, kernel_id) == ([], [])


def test_gc_node_spares_a_live_kernel(loop, images, docker_client):
    sandbox = Sandbox(uuid.uuid4().hex, pool_size=1, workspace_size=64 * 1024 * 1024)
    try:
        first = loop.run_until_complete(asyncio.wait_for(sandbox.run(make_request("bash", "echo kept > f.txt"),
                                                                     lambda e: None), 120))
        assert first.exit_code == 0
        loop.run_until_complete(asyncio.sleep(2))  # the pool refilled, the used container removed
        label = f"{LABEL_KERNEL}={sandbox.kernel_id}"
        assert sorted(running(docker_client, sandbox.kernel_id)) == ["cell", "workspace"]
        assert sweep_node(docker_client, grace=0, label=label) == {"containers": 0, "volumes": 0}
        events = []
        loop.run_until_complete(asyncio.wait_for(sandbox.run(make_request("bash", "cat f.txt", count=2),
                                                             events.append), 120))
        assert b"".join(getattr(e, "data", b"") for e in events) == b"kept\n"
    finally:
        loop.run_until_complete(sandbox.close())
    assert our_objects(docker_client, sandbox.kernel_id) == ([], [])
