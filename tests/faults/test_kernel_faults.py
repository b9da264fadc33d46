"""Faults on the Jupyter side: the kernel is SIGKILLed mid-cell; the frontend disconnects
mid-cell; the disk holding the workspace is full."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from dockerkernel.cli import main as cli_main
from tests.adversarial.helpers import (
    assert_container_gone,
    assert_kernel_objects_gone,
    cell_containers,
    kernel_args,
    kernel_settled,
    processes_of,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def running_cell_with(docker_client, kernel_id: str, needle: str, timeout: float = 30) -> str:
    """The id of the kernel's cell container whose processes include ``needle``."""

    def find():
        for info in cell_containers(docker_client, kernel_id):
            try:
                procs = docker_client.api.top(info["Id"])["Processes"] or []
            except Exception:  # noqa: BLE001  (it may be going away)
                continue
            if any(needle in " ".join(p) for p in procs):
                return info["Id"]
        return ""

    found = wait_for(find, timeout)
    assert found, f"no cell container of {kernel_id[:12]} runs {needle!r}"
    return found


@pytest.mark.parametrize("cleaner", ["watchdog", "gc", "next-kernel-start", "gc-before-reaping"])
def test_kernel_sigkilled_mid_cell(kernel_factory, docker_client, cleaner):
    """SIGKILL the kernel while its cell runs: its watchdog removes everything; without the
    watchdog, `dockerkernel gc` or the next kernel's start-up sweep does. No container (running
    cell, pool, holder), volume, mount or process of it remains.

    gc-before-reaping: gc runs while the dead kernel is still a zombie (its parent — a hung or
    slow Jupyter server — has not reaped it yet). A zombie is dead: gc must clean up too."""
    extra = [] if cleaner == "watchdog" else ["--DockerKernel.watchdog=False"]
    kernel = kernel_factory("docker-bash", *kernel_args(*extra))
    assert kernel.run("echo warm").stream() == "warm\n"
    kernel_id = kernel.kernel_id()
    volume = f"dockerkernel-ws-{kernel_id[:24]}"
    kernel.kc.execute("sleep 600")
    cell = running_cell_with(docker_client, kernel_id, "sleep 600")
    os.kill(kernel.pid(), signal.SIGKILL)
    stat = f"/proc/{kernel.pid()}/stat"
    wait_for(lambda: not os.path.exists(stat) or open(stat).read().split()[2] == "Z", 10)
    if cleaner != "gc-before-reaping":
        kernel.km.provisioner.process.wait(timeout=10)  # what a live Jupyter server does at once

    if cleaner == "watchdog":
        assert_kernel_objects_gone(docker_client, kernel_id, volume, timeout=60)
    else:
        # no watchdog of this kernel exists (other kernels' start-up sweeps on this shared machine
        # may clean up before we do: that is the same code path as the next kernel start)
        pgrep = ["pgrep", "-f", f"dockerkernel.watchdog .*{kernel_id}"]
        watchdogs = subprocess.run(pgrep, capture_output=True, text=True).stdout
        assert not watchdogs.strip(), f"test setup: a watchdog runs although it was switched off: {watchdogs}"
        if cleaner.startswith("gc"):
            assert cli_main(["gc"]) == 0
        else:
            successor = kernel_factory("docker-bash", *kernel_args())
            assert successor.run("echo successor").stream() == "successor\n"
        assert_kernel_objects_gone(docker_client, kernel_id, volume, timeout=20)
    assert_container_gone(docker_client, cell)
    assert processes_of(cell) == []


def test_frontend_disconnects_mid_cell(kernel_factory, docker_client):
    """The client goes away while `sleep 5` runs under %timeout 3: the kernel still ends the cell
    by its limit (the container is killed, not left to finish), nothing leaks, and a new client
    gets a working kernel."""
    kernel = kernel_factory("docker-bash", *kernel_args())
    assert kernel.run("%timeout 3").status == "ok"
    kernel_id = kernel.kernel_id()
    since = int(time.time()) - 1
    kernel.kc.execute("echo started; sleep 5; echo finished")
    cell = running_cell_with(docker_client, kernel_id, "sleep 5")
    kernel.kc.stop_channels()

    assert_container_gone(docker_client, cell, timeout=30)
    events = docker_client.api.events(since=since, until=int(time.time()) + 1, decode=True,
                                      filters={"container": cell, "event": "die"})
    codes = [e["Actor"]["Attributes"].get("exitCode") for e in events]
    # killed by the kernel at 3 s (137 = SIGKILL), not a natural exit at 5 s (0)
    assert codes == ["137"], codes

    client = kernel.km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        collected = []
        reply = client.execute_interactive("echo fine", timeout=60, output_hook=collected.append)
        assert reply["content"]["status"] == "ok"
        assert "".join(m["content"].get("text", "") for m in collected if m["msg_type"] == "stream") == "fine\n"
    finally:
        client.stop_channels()
    kernel_settled(docker_client, kernel_id)
    kernel.km.shutdown_kernel(now=False)
    assert_kernel_objects_gone(docker_client, kernel_id)


@pytest.mark.parametrize("lang", ["bash", "python"])
def test_workspace_disk_full(kernel_factory, docker_client, lang):
    """The workspace's disk is full (a 16 MiB workspace): the cell gets ENOSPC as its own error;
    the next cell runs normally (Python: its variables simply may not be saved); deleting frees it."""
    kernel = kernel_factory(f"docker-{lang}", *kernel_args("--DockerKernel.workspace_size=16m"))
    fill = {
        "bash": "head -c 64M /dev/zero > /workspace/big",
        "python": (
            "data = b'0' * (1 << 20)\nwith open('/workspace/big', 'wb') as fh:\n    for _ in range(64):\n"
            "        fh.write(data)"
        ),
    }[lang]
    full = kernel.run(fill)
    assert full.status == "error", full.reply
    assert "No space left on device" in (full.stream("stderr") + str(full.reply["content"])), full.reply
    nxt = kernel.run({"bash": "echo fine", "python": "x = 1\nprint('fine')"}[lang])
    assert nxt.status == "ok" and nxt.stream() == "fine\n", (nxt.reply, nxt.stream("stderr"))
    freed = kernel.run({"bash": "rm /workspace/big && echo freed > /workspace/small && cat /workspace/small",
                        "python": "import os\nos.remove('/workspace/big')\nprint('freed')"}[lang])
    assert freed.status == "ok" and freed.stream() == "freed\n", freed.reply
    if lang == "python":
        kept = kernel.run("y = 41\nprint('set')")
        assert kept.status == "ok"
        assert kernel.run("print(y + 1)").stream() == "42\n"
    kernel_id = kernel.kernel_id()
    kernel_settled(docker_client, kernel_id)
    kernel.shutdown()
    assert_kernel_objects_gone(docker_client, kernel_id)
