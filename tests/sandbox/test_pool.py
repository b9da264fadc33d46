"""The warm pool against the real Docker daemon: pre-started, single-use cell containers."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import docker
import pytest

from dockerkernel.languages import IMAGE_PREFIX
from dockerkernel.sandbox import LABEL_KERNEL, LABEL_ROLE, Output, Sandbox
from tests.support import objects_of_this_process, our_objects, wait_until
from tests.support.sandbox import make_request

pytestmark = [pytest.mark.docker, pytest.mark.images("python", "javascript", "bash")]

MiB = 1 << 20


mine = objects_of_this_process


@pytest.fixture
def make_sandbox(loop, images):
    """Sandboxes for one test, closed after it."""
    made: list[Sandbox] = []

    def make(pool_size: int = 2) -> Sandbox:
        sandbox = Sandbox(uuid.uuid4().hex, pool_size=pool_size, workspace_size=64 * MiB)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        if not sandbox.closed:
            loop.run_until_complete(sandbox.close())


def run(loop, sandbox, lang, source, image=None, **limits):
    """Run one cell; (outcome, stdout bytes)."""
    out: list[bytes] = []

    def on_event(event):
        if isinstance(event, Output) and event.stream == "stdout":
            out.append(event.data)

    outcome = loop.run_until_complete(
        asyncio.wait_for(sandbox.run(make_request(lang, source, image, **limits), on_event), 120)
    )
    return outcome, b"".join(out)


def ready_ids(client, sandbox) -> set[str]:
    """Running cell containers of this sandbox that no cell has taken yet (the pool)."""
    found = client.api.containers(
        filters={"label": [f"{LABEL_KERNEL}={sandbox.kernel_id}", f"{LABEL_ROLE}=cell"], "status": "running"}
    )
    return {c["Id"] for c in found}


def wait_for_pool(loop, client, sandbox, size: int) -> set[str]:
    """Let the event loop run until ``size`` pool containers are up; their ids."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        loop.run_until_complete(asyncio.sleep(0.2))
        ids = ready_ids(client, sandbox)
        if len(ids) >= size and sum(len(p) for p in sandbox._pools.values()) >= size:
            return ids
    pytest.fail(f"the pool did not reach {size} containers: {ready_ids(client, sandbox)}")


def exists(client, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
        return True
    except docker.errors.NotFound:
        return False


# ---- single use ------------------------------------------------------------------------------


def test_each_cell_gets_its_own_container_never_reused(loop, make_sandbox, docker_client):
    sandbox = make_sandbox(2)
    used: list[str] = []
    for i in range(6):
        outcome, out = run(loop, sandbox, "python", "import socket\nprint(socket.gethostname())")
        assert outcome.reason == "ok"
        assert out.decode().strip() == outcome.container_id[:12]  # it really ran in that container
        used.append(outcome.container_id)
        if i % 2:
            loop.run_until_complete(asyncio.sleep(0.5))
    assert len(set(used)) == len(used)
    # a used container is removed, never put back
    assert wait_until(lambda: not any(exists(docker_client, c) for c in used), timeout=30)
    assert not set(used) & ready_ids(docker_client, sandbox)


@pytest.mark.parametrize(
    "lang,source", [("python", "print('p')"), ("bash", "echo p"), ("javascript", "console.log('p')")]
)
def test_pool_refills_and_cells_take_prestarted_containers(loop, make_sandbox, docker_client, lang, source):
    sandbox = make_sandbox(2)
    first, _ = run(loop, sandbox, lang, source)
    assert first.reason == "ok"
    for _ in range(3):
        pool = wait_for_pool(loop, docker_client, sandbox, 2)
        assert first.container_id not in pool
        outcome, out = run(loop, sandbox, lang, source)
        assert outcome.reason == "ok" and out == b"p\n"
        assert outcome.container_id in pool  # taken from the pool, not created for the cell


@pytest.mark.parametrize("lang", ["python", "bash"])
def test_from_pool_flag_says_whether_the_container_came_from_the_pool(loop, make_sandbox, docker_client, lang):
    source = "print(1)" if lang == "python" else "echo 1"
    cold = make_sandbox(0)
    outcome, _ = run(loop, cold, lang, source)
    assert outcome.reason == "ok"
    pooled = make_sandbox(2)
    run(loop, pooled, lang, source)
    pool = wait_for_pool(loop, docker_client, pooled, 2)
    warm, _ = run(loop, pooled, lang, source)
    assert warm.container_id in pool
    assert (outcome.from_pool, warm.from_pool) == (False, True)
    # `warm` says the interpreter was loaded before the cell: Python's is, and (issue 13) Bash's
    # shell too, which restores the previous cells' state
    assert warm.warm is True


# ---- retirement on config change ---------------------------------------------------------------


def test_changing_limits_retires_the_pool(loop, make_sandbox, docker_client):
    sandbox = make_sandbox(2)
    run(loop, sandbox, "python", "pass")
    old = wait_for_pool(loop, docker_client, sandbox, 2)
    # timeout and output are enforced by the kernel: same containers, no retirement
    same, _ = run(loop, sandbox, "python", "pass", timeout=11, output=MiB // 2)
    assert same.container_id in old
    old = wait_for_pool(loop, docker_client, sandbox, 2)
    code = "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip())"
    changed, out = run(loop, sandbox, "python", code, memory=256 * MiB)
    assert changed.reason == "ok"
    assert changed.container_id not in old
    assert int(out) == 256 * MiB
    loop.run_until_complete(asyncio.sleep(0.2))
    assert wait_until(lambda: not any(exists(docker_client, c) for c in old), timeout=30), "old pool not retired"
    new = wait_for_pool(loop, docker_client, sandbox, 2)
    assert not new & old
    for container_id in new:
        assert docker_client.api.inspect_container(container_id)["HostConfig"]["Memory"] == 256 * MiB


def test_changing_the_image_retires_the_pool(loop, make_sandbox, docker_client, images):
    tag = f"dktest-{secrets.token_hex(4)}"
    docker_client.api.tag(images["bash"], f"{IMAGE_PREFIX}bash", tag)
    try:
        sandbox = make_sandbox(2)
        run(loop, sandbox, "bash", "echo x")
        old = wait_for_pool(loop, docker_client, sandbox, 2)
        outcome, out = run(loop, sandbox, "bash", "echo y", image=f"{IMAGE_PREFIX}bash:{tag}")
        assert outcome.reason == "ok" and out == b"y\n"
        assert outcome.container_id not in old
        loop.run_until_complete(asyncio.sleep(0.2))
        assert wait_until(lambda: not any(exists(docker_client, c) for c in old), timeout=30), "old pool not retired"
        new = wait_for_pool(loop, docker_client, sandbox, 2)
        for container_id in new:
            assert docker_client.api.inspect_container(container_id)["Config"]["Image"] == f"{IMAGE_PREFIX}bash:{tag}"
        loop.run_until_complete(sandbox.close())
    finally:
        docker_client.api.remove_image(f"{IMAGE_PREFIX}bash:{tag}")  # only the tag


# ---- isolation between cells -------------------------------------------------------------------


PROBES = {
    "bash": (
        # wait until the background child has exec'd sleep, or the probe may still see "bash"
        "echo secret > /tmp/marker\nsleep 1000 &\n"
        "until tr '\\0' ' ' < /proc/$!/cmdline | grep -q 'sleep 1000'; do :; done\n",
        "if [ -e /tmp/marker ]; then echo marker=yes; else echo marker=no; fi\n"
        "n=0; for p in /proc/[0-9]*; do\n"
        "  if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'sleep 1000'; then n=$((n+1)); fi\n"
        "done\n"
        "echo sleepers=$n\n",
    ),
    "python": (
        "import subprocess\nopen('/tmp/marker', 'w').write('secret')\nsubprocess.Popen(['sleep', '1000'])\n",
        "import glob, os\n"
        "print('marker=' + ('yes' if os.path.exists('/tmp/marker') else 'no'))\n"
        "n = 0\n"
        "for path in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        n += open(path, 'rb').read().replace(b'\\0', b' ').startswith(b'sleep 1000')\n"
        "    except OSError:\n"
        "        pass\n"
        "print(f'sleepers={n}')\n",
    ),
}


@pytest.mark.parametrize("lang", ["bash", "python"])
def test_a_cell_never_sees_another_cells_tmp_or_processes(loop, make_sandbox, docker_client, lang):
    sandbox = make_sandbox(2)
    start, probe = PROBES[lang]
    run(loop, sandbox, lang, "true" if lang == "bash" else "pass")
    wait_for_pool(loop, docker_client, sandbox, 2)
    first, out = run(loop, sandbox, lang, start + probe)
    assert first.reason == "ok"
    assert out.split() == [b"marker=yes", b"sleepers=1"]  # the probe does see its own cell's leftovers
    second, out = run(loop, sandbox, lang, probe)
    assert second.reason == "ok"
    assert second.container_id != first.container_id
    assert out.split() == [b"marker=no", b"sleepers=0"]


# ---- cleanup -----------------------------------------------------------------------------------


def assert_nothing_of(client, kernel_id, loop):
    assert our_objects(client, kernel_id) == ([], [])
    loop.run_until_complete(asyncio.sleep(3))  # a container still being created must not appear later
    assert our_objects(client, kernel_id) == ([], [])


def test_close_right_after_warm_up_leaves_nothing(loop, make_sandbox, docker_client):
    sandbox = make_sandbox(2)

    async def scenario():
        sandbox.warm_up(make_request("python", ""))
        await asyncio.sleep(0.05)  # creations are in flight
        await sandbox.close()

    loop.run_until_complete(scenario())
    assert_nothing_of(docker_client, sandbox.kernel_id, loop)


def test_close_right_after_a_cell_leaves_nothing(loop, make_sandbox, docker_client):
    sandbox = make_sandbox(2)
    outcome, _ = run(loop, sandbox, "bash", "echo x > f; echo done")
    assert outcome.reason == "ok"
    loop.run_until_complete(sandbox.close())  # the refill and the used container's removal are in flight
    assert_nothing_of(docker_client, sandbox.kernel_id, loop)


def test_close_after_a_config_change_leaves_nothing(loop, make_sandbox, docker_client):
    sandbox = make_sandbox(2)
    run(loop, sandbox, "python", "pass")
    wait_for_pool(loop, docker_client, sandbox, 2)
    run(loop, sandbox, "python", "pass", memory=300 * MiB)  # retires the old pool, starts a new one
    run(loop, sandbox, "bash", "true")  # and a pool for a second language
    loop.run_until_complete(sandbox.close())
    assert_nothing_of(docker_client, sandbox.kernel_id, loop)


# ---- dead pool containers ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill", "remove"])
def test_a_dead_pool_container_is_not_handed_to_a_cell(loop, make_sandbox, docker_client, how):
    sandbox = make_sandbox(2)
    run(loop, sandbox, "python", "pass")
    pool = wait_for_pool(loop, docker_client, sandbox, 2)
    for container_id in pool:
        try:
            if how == "kill":
                docker_client.api.kill(container_id)
            else:
                docker_client.api.remove_container(container_id, force=True)
        except docker.errors.APIError as exc:
            # the first cell's own container may still be listed (its runner lingers) while
            # the sandbox removes it: 409/404 then, and it is dead all the same
            assert exc.status_code in (404, 409), exc

    def all_dead():
        for container_id in pool:
            try:
                if docker_client.api.inspect_container(container_id)["State"]["Running"]:
                    return False
            except docker.errors.NotFound:
                pass
        return True

    assert wait_until(all_dead, timeout=20)
    loop.run_until_complete(asyncio.sleep(0.5))
    outcome, out = run(loop, sandbox, "python", "print('survived')")
    assert outcome.reason == "ok", outcome
    assert out == b"survived\n"
    assert outcome.container_id not in pool
    # the dead ones are cleaned up, not left as exited containers
    assert wait_until(lambda: not any(exists(docker_client, c) for c in pool), timeout=30)
