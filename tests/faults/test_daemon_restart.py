"""The Docker daemon stops and comes back, while a cell runs and between cells: clear errors,
then recovery without restarting the kernel, and nothing left behind at shutdown.

These stop the host's daemon: they wait until no other pytest runs (see conftest.py)."""

from __future__ import annotations

import time

import pytest

from tests.adversarial.helpers import assert_kernel_objects_gone, cell_containers, kernel_args, kernel_settled

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.daemon_restart]

CLEAR = ("ContainerLost", "DaemonUnavailable")


def reply_of(kernel, msg_id: str, timeout: float) -> dict:
    """The execute_reply of ``msg_id`` (shell channel)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = kernel.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def test_daemon_stops_while_a_cell_runs(kernel_factory, docker_client, daemon_control):
    """The running cell ends with a clear error (ContainerLost or DaemonUnavailable), a cell while
    the daemon is down says DaemonUnavailable, and once it is back the next cells run normally."""
    kernel = kernel_factory("docker-python", *kernel_args())
    assert kernel.run("print('warm')").stream() == "warm\n"
    kernel_id = kernel.kernel_id()
    msg_id = kernel.kc.execute("import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('never')")
    time.sleep(2)  # the cell is running (sleeping) now
    daemon_control.stop()
    content = reply_of(kernel, msg_id, 90)
    assert content["status"] == "error" and content["ename"] in CLEAR, content

    down = kernel.run("print('while down')", timeout=120)
    assert down.status == "error" and down.ename == "DaemonUnavailable", down.reply
    assert "dockerd" in down.reply["content"]["evalue"].lower() or "daemon" in down.reply["content"]["evalue"].lower()

    daemon_control.start()
    back = kernel.run("print('back')", timeout=120)
    assert back.status == "ok" and back.stream() == "back\n", (back.reply, back.stream("stderr"))
    again = kernel.run("x = 2\nprint(x * 21)")
    assert again.status == "ok" and again.stream() == "42\n"
    time.sleep(3)  # background removals settle
    dead = [(c["Id"][:12], c["Status"]) for c in cell_containers(docker_client, kernel_id) if c["State"] != "running"]
    kernel.shutdown()
    assert_kernel_objects_gone(docker_client, kernel_id)
    assert not dead, (
        "after the daemon came back, the containers that died with it (the interrupted cell, the pool) "
        f"stay behind while the kernel lives (removed only at shutdown): {dead}"
    )


def test_daemon_restarts_between_cells(kernel_factory, docker_client, daemon_control):
    """Between cells: the pool's containers died with the daemon; the next cell after the restart
    runs normally (a fresh container), bash and C alike, and the workspace is usable."""
    kernel = kernel_factory("docker-polyglot", *kernel_args("--DockerKernel.polyglot_default=bash"))
    assert kernel.run("echo before > /workspace/f && echo ok").stream() == "ok\n"
    kernel_id = kernel.kernel_id()
    daemon_control.stop()
    daemon_control.start()
    first = kernel.run("echo after", timeout=120)
    assert first.status == "ok" and first.stream() == "after\n", (first.reply, first.stream("stderr"))
    c_cell = kernel.run('%%c\nprintf("c works\\n");', timeout=120)
    assert c_cell.status == "ok" and c_cell.stream() == "c works\n", (c_cell.reply, c_cell.stream("stderr"))
    ws = kernel.run("echo new > /workspace/g && cat /workspace/g")
    assert ws.status == "ok" and ws.stream() == "new\n", ws.reply
    kernel_settled(docker_client, kernel_id, pool_size=4)
    kernel.shutdown()
    assert_kernel_objects_gone(docker_client, kernel_id)
