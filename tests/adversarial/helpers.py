"""Helpers of the adversarial and fault suites: run a cell through the real Sandbox, then prove
that nothing of it remains (container, processes, mounts) and that the next cell is normal.

The runtime under test comes from ``DOCKERKERNEL_TEST_RUNTIME`` ("" = the daemon's default,
runc; "runsc" = gVisor), so the same suite runs under both.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import time
import uuid

import docker

from dockerkernel.cells import build_request
from dockerkernel.languages import get_language
from dockerkernel.magics import SessionSettings
from dockerkernel.sandbox import LABEL_KERNEL, LABEL_ROLE, CellRequest, Limits, Sandbox
from tests.support import wait_until
from tests.support.sandbox import Ran, container_exists

# the adversarial suites say wait_for: the one helper of tests.support
wait_for = wait_until

MiB = 1 << 20
KiB = 1 << 10

RUNTIME = os.environ.get("DOCKERKERNEL_TEST_RUNTIME", "").strip()
# the languages every applicable attack is tried in (C: statements are wrapped in main)
LANGS = ("python", "bash", "c")

# a cell that must work after every attack, per language: prints its token
NORMAL = {
    "python": "print({token!r})",
    "bash": "echo {token}",
    "c": 'printf("%s\\n", "{token}");',
    "javascript": "console.log({token!r})",
}


def kernel_args(*extra: str) -> list[str]:
    """Extra kernel arguments that select the runtime under test."""
    return ([f"--DockerKernel.runtime={RUNTIME}"] if RUNTIME else []) + list(extra)


def limits(**overrides) -> Limits:
    """Default limits (the product's), with the runtime under test and ``overrides``."""
    overrides.setdefault("runtime", RUNTIME)
    return Limits(**overrides)


def cell_request(lang: str, code: str, count: int = 1, **limit_overrides) -> CellRequest:
    """A CellRequest built by the kernel's own builder (wrapper, compile, run), with these limits."""
    language = get_language(lang)
    # each attack is its own program: a shell function one attack leaves (`:` of a fork bomb
    # whose launcher exits) must not become the next attack's `:`. State across cells,
    # including a hostile state file and a full /tmp, is tested in tests/kernel/test_state_*.py
    settings = SessionSettings(language, base_limits=limits(**limit_overrides), keep_state=False)
    return build_request(language, code, settings, count)


def processes_of(container_id: str) -> list[int]:
    """Host pids whose cgroup belongs to the container (works for runc and nested daemons)."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cgroup"):
        try:
            with open(path) as fh:
                if container_id in fh.read():
                    found.append(int(path.split("/")[2]))
        except OSError:
            continue
    return found


def mounts_of(needle: str) -> list[str]:
    """Lines of the host's mount table that mention ``needle`` (a container id, a volume)."""
    try:
        with open("/proc/self/mountinfo") as fh:
            return [line.strip() for line in fh if needle in line]
    except OSError:
        return []


def assert_container_gone(client: docker.DockerClient, container_id: str, timeout: float = 30) -> None:
    """The cell's container, its processes and its mounts are all gone."""
    assert container_id, "the outcome names no container"
    gone = wait_for(lambda: not container_exists(client, container_id), timeout)
    assert gone, f"container {container_id[:12]} of the cell still exists"
    procs = wait_for(lambda: not processes_of(container_id), 10)
    assert procs, f"processes of container {container_id[:12]} remain on the host: {processes_of(container_id)}"
    assert not mounts_of(container_id), f"mounts of {container_id[:12]} remain: {mounts_of(container_id)}"


def objects_of(client: docker.DockerClient, kernel_id: str) -> tuple[list, list]:
    """Containers and volumes of one kernel id."""
    label = f"{LABEL_KERNEL}={kernel_id}"
    containers = client.api.containers(all=True, filters={"label": [label]})
    volumes = client.api.volumes(filters={"label": label}).get("Volumes") or []
    return containers, volumes


def assert_kernel_objects_gone(client: docker.DockerClient, kernel_id: str, volume: str = "", timeout: float = 30) -> None:
    """Nothing labelled with ``kernel_id`` remains, nor a mount of its volume."""
    assert kernel_id
    ok = wait_for(lambda: objects_of(client, kernel_id) == ([], []), timeout)
    containers, volumes = objects_of(client, kernel_id)
    assert ok, f"left behind: containers={[c['Id'][:12] for c in containers]} volumes={[v['Name'] for v in volumes]}"
    if volume:
        assert not mounts_of(volume), f"the workspace volume is still mounted: {mounts_of(volume)}"


class Cells:
    """A real Sandbox (with a pool) driven synchronously from tests."""

    def __init__(self, client: docker.DockerClient, pool_size: int = 1, workspace_size: int = 64 * MiB, **kwargs):
        """A sandbox of a new kernel id, with its own event loop."""
        self.client = client
        self.loop = asyncio.new_event_loop()
        self.kernel_id = uuid.uuid4().hex
        self.sandbox = Sandbox(self.kernel_id, client=client, pool_size=pool_size, workspace_size=workspace_size, **kwargs)
        self.count = 0

    def run(self, lang: str, code: str, *, hang_bound: float | None = None, **limit_overrides) -> Ran:
        """Run one cell; fails (instead of hanging) when it takes longer than ``hang_bound``."""
        self.count += 1
        request = cell_request(lang, code, self.count, **limit_overrides)
        events: list = []
        seen: dict = {}

        def on_event(event):
            current = self.sandbox._current  # the tokens of this cell, to prove they never leak
            if current is not None and "nonce" not in seen:
                seen.update(nonce=current.nonce, end_token=current.end_token)
            events.append(event)

        bound = hang_bound if hang_bound is not None else request.limits.timeout + 60
        started = time.monotonic()

        async def go():
            task = asyncio.ensure_future(self.sandbox.run(request, on_event))
            await asyncio.sleep(0)
            # the tokens are set as soon as the cell is current
            while not task.done() and self.sandbox._current is None:
                await asyncio.sleep(0.005)
            if self.sandbox._current is not None and "nonce" not in seen:
                seen.update(nonce=self.sandbox._current.nonce, end_token=self.sandbox._current.end_token)
            return await asyncio.wait_for(task, bound)

        outcome = self.loop.run_until_complete(go())
        return Ran(outcome, events, time.monotonic() - started, seen.get("end_token", ""), seen.get("nonce", ""))

    def normal(self, lang: str, **limit_overrides) -> Ran:
        """Run the language's normal cell and check it worked."""
        token = f"NEXT-{uuid.uuid4().hex[:10]}"
        ran = self.run(lang, NORMAL[lang].format(token=token), hang_bound=90, **limit_overrides)
        assert ran.reason == "ok", f"the next {lang} cell did not run normally: {ran.describe()}"
        assert ran.text().strip() == token, f"the next {lang} cell printed {ran.out()!r}, expected {token!r}"
        return ran

    def aftermath(self, ran: Ran, lang: str) -> None:
        """After an attack: its container, processes and mounts are gone, the next cell is normal."""
        assert_container_gone(self.client, ran.outcome.container_id)
        after = self.normal(lang)
        assert_container_gone(self.client, after.outcome.container_id)

    def write_file(self, path: str, data: bytes) -> None:
        """%%file's code path (put_archive into the workspace holder)."""
        self.loop.run_until_complete(self.sandbox.write_file(path, data))

    def close(self) -> None:
        """Shut the sandbox down and prove that nothing of it remains."""
        try:
            self.loop.run_until_complete(self.sandbox.close())
        finally:
            self.loop.close()
        assert_kernel_objects_gone(self.client, self.kernel_id, self.sandbox.volume)


def hex_tokens(data: bytes | str) -> set[str]:
    """Every 32-hex-digit string in ``data``."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    return set(re.findall(r"[0-9a-f]{32}", data))


def cell_containers(client: docker.DockerClient, kernel_id: str) -> list[dict]:
    """The kernel's cell containers (pool and running), not the workspace holder."""
    return [
        c for c in client.api.containers(all=True, filters={"label": [f"{LABEL_KERNEL}={kernel_id}"]})
        if (c.get("Labels") or {}).get(LABEL_ROLE) == "cell"
    ]


def kernel_settled(client: docker.DockerClient, kernel_id: str, pool_size: int = 2, timeout: float = 30) -> None:
    """After a kernel's cell: only fresh pool containers (≤ pool size, all running) and the holder remain."""

    def ok():
        cells = cell_containers(client, kernel_id)
        return len(cells) <= pool_size and all(c["State"] == "running" for c in cells)

    settled = wait_for(ok, timeout)
    cells = cell_containers(client, kernel_id)
    assert settled, f"leftover cell containers: {[(c['Id'][:12], c['State'], c['Status']) for c in cells]}"
    for info in cells:
        for pid in processes_of(info["Id"]):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # a pool container holds only its init, the runner and a warm interpreter (under gVisor
            # the host sees only the sandbox's own processes: runsc-sandbox, runsc-gofer)
            assert re.search(r"docker-init|runner\.py|pyboot\.py|boot\.js|bashboot\.sh|rubyboot\.rb|runsc|^\s*$", cmd), (
                f"unexpected process in pool container {info['Id'][:12]}: {cmd}")
